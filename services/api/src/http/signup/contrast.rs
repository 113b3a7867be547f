//! Colours for text on the link's theme colour that stay readable: WCAG 2's contrast ratio of at
//! least 4.5:1 for normal text (<https://www.w3.org/TR/WCAG21/#contrast-minimum>).

/// The contrast WCAG asks of normal text.
pub const MINIMUM: f64 = 4.5;

/// The page's own text colour, used where the theme colour is too light to be text on white.
pub const DARK_TEXT: &str = "#1f2328";

/// Text on a background of `colour`: white, or black when the colour is light. One of the two
/// always reaches 4.58:1, whatever the colour.
pub fn text_on(colour: &str) -> &'static str {
    let background = luminance(colour);
    if ratio(1.0, background) >= ratio(background, 0.0) {
        "#ffffff"
    } else {
        "#000000"
    }
}

/// `colour` as text on the white card, or [`DARK_TEXT`] when it would be too faint there.
pub fn ink_on_white(colour: &str) -> &str {
    if ratio(1.0, luminance(colour)) >= MINIMUM {
        colour
    } else {
        DARK_TEXT
    }
}

/// The contrast between two relative luminances, lighter first or not.
pub fn ratio(a: f64, b: f64) -> f64 {
    let (light, dark) = if a > b { (a, b) } else { (b, a) };
    (light + 0.05) / (dark + 0.05)
}

/// WCAG's relative luminance of `#rgb` or `#rrggbb` (0 black, 1 white); anything else is read as
/// black, which only makes the text white.
pub fn luminance(colour: &str) -> f64 {
    let digits = colour.trim_start_matches('#');
    let channels: Vec<u8> = match digits.len() {
        3 => digits
            .chars()
            .filter_map(|c| c.to_digit(16).map(|d| (d * 17) as u8))
            .collect(),
        6 => (0..3)
            .filter_map(|i| u8::from_str_radix(digits.get(2 * i..2 * i + 2)?, 16).ok())
            .collect(),
        _ => Vec::new(),
    };
    let [r, g, b] = channels[..] else { return 0.0 };
    let linear = |channel: u8| {
        let c = f64::from(channel) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contrast(a: &str, b: &str) -> f64 {
        ratio(luminance(a), luminance(b))
    }

    #[test]
    fn black_on_white_is_21_to_1() {
        assert!((contrast("#000", "#ffffff") - 21.0).abs() < 1e-9);
    }

    #[test]
    fn text_on_any_colour_reaches_the_minimum() {
        for r in (0..=255).step_by(15) {
            for g in (0..=255).step_by(15) {
                for b in (0..=255).step_by(15) {
                    let colour = format!("#{r:02x}{g:02x}{b:02x}");
                    let text = text_on(&colour);
                    assert!(contrast(text, &colour) >= MINIMUM, "{text} on {colour}");
                    let ink = ink_on_white(&colour);
                    assert!(contrast(ink, "#ffffff") >= MINIMUM, "{ink} on white for {colour}");
                }
            }
        }
    }

    #[test]
    fn light_colours_get_dark_text_and_dark_ones_white() {
        assert_eq!(text_on("#ffeb3b"), "#000000");
        assert_eq!(text_on("#f5f5f5"), "#000000");
        assert_eq!(text_on("#0866ff"), "#ffffff");
        assert_eq!(text_on("#123"), "#ffffff");
        assert_eq!(ink_on_white("#ffeb3b"), DARK_TEXT);
        assert_eq!(ink_on_white("#0866ff"), "#0866ff");
    }
}

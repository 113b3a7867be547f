//! The hosted page as a person sees it in headless Chromium, in each language: who asks, what
//! will be shared, and a button whose text reads against the theme colour. Screenshots are kept
//! in `target/browser-screenshots/hosted-page-<language>.png`.

use gangway_e2e::hosted_signup::{Signup, WAIT};
use gangway_e2e::signup::SignupWorld;
use serde_json::json;

/// WCAG 2's relative luminance of a computed `rgb(r, g, b)` colour.
fn luminance(rgb: &str) -> f64 {
    let channels: Vec<f64> = rgb
        .trim_start_matches("rgba(")
        .trim_start_matches("rgb(")
        .trim_end_matches(')')
        .split(',')
        .take(3)
        .map(|c| c.trim().parse::<f64>().expect("a colour channel") / 255.0)
        .map(|c| {
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        })
        .collect();
    0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]
}

fn contrast(a: &str, b: &str) -> f64 {
    let (a, b) = (luminance(a), luminance(b));
    (a.max(b) + 0.05) / (a.min(b) + 0.05)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_names_the_company_in_every_language_and_its_button_stays_readable() -> anyhow::Result<()> {
    let world = SignupWorld::new().await;
    let signup = Signup::start(&world).await?;
    let cases = [
        (
            "en",
            "#0b57d0",
            "Acme SaaS asks you to connect your WhatsApp Business number",
            "What will be shared",
        ),
        (
            "es",
            "#ffd60a",
            "Acme SaaS te pide conectar tu número de WhatsApp Business",
            "Qué se compartirá",
        ),
        (
            "pt",
            "#7fdbca",
            "Acme SaaS pede que você conecte seu número do WhatsApp Business",
            "O que será compartilhado",
        ),
    ];
    for (language, colour, heading, shared) in cases {
        let link = signup
            .link(json!({
                "language": language,
                "theme": { "companyName": "Acme SaaS", "primaryColor": colour }
            }))
            .await;
        signup.browser.goto(&signup.hosted_url(&link)).await?;
        signup.browser.wait_for("#continue:enabled", WAIT).await?;
        assert_eq!(signup.browser.text("h1").await?, heading);
        assert!(signup.browser.text("#intro").await?.contains("Acme SaaS"));
        let page = signup.browser.text("main").await?;
        assert!(page.contains(shared), "{language}: {page}");

        let text = signup.browser.style("#continue", "color").await?;
        let background = signup.browser.style("#continue", "background-color").await?;
        let ratio = contrast(&text, &background);
        assert!(ratio >= 4.5, "{language}: {text} on {background} is {ratio:.2}:1");
        let secondary = signup.browser.style("#continue-coexistence", "color").await?;
        let ratio = contrast(&secondary, "rgb(255, 255, 255)");
        assert!(ratio >= 4.5, "{language}: {secondary} on white is {ratio:.2}:1");

        let saved = signup
            .browser
            .save_screenshot(&format!("hosted-page-{language}"))
            .await?;
        assert!(std::fs::metadata(&saved)?.len() > 10_000, "{}", saved.display());
    }
    signup.browser.close().await
}

//! Progress bars for long work. They draw on stderr, and only on a terminal, so piped output
//! and logs stay clean.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting `unit` (e.g. `events`) towards `len` (which may grow later).
pub fn bar(len: u64, unit: &str) -> ProgressBar {
    let template = format!("{{bar:40}} {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}})");
    let style = ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(len).with_style(style)
}

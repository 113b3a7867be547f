//! Checking deliveries with the Standard Webhooks reference library for Python (PyPI
//! `standardwebhooks`, pinned in tests/support/python-requirements.txt): an implementation that
//! is not ours. See [`crate::python_tools`] for how it is installed.

use gangway_webhook_signing::WebhookHeaders;
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const SUPPORT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/support");

/// How a receiver holds its secret when handing it to the library.
pub enum ReceiverSecret<'a> {
    /// `Webhook("whsec_...")`.
    Whsec(&'a str),
    /// `Webhook(secret.encode())`, for a secret that is not in the `whsec_` form.
    Bytes(&'a str),
}

/// The reference library's verdict on one delivery: `Ok` when accepted, `Err(reason)` when
/// rejected. Panics when the verifier itself fails.
pub fn reference_verdict(
    target_tmpdir: &str,
    secret: ReceiverSecret<'_>,
    headers: &WebhookHeaders,
    body: &str,
) -> Result<(), String> {
    let library = crate::python_tools::installed(target_tmpdir);
    let (whsec, raw) = match secret {
        ReceiverSecret::Whsec(secret) => (Some(secret), None),
        ReceiverSecret::Bytes(secret) => (None, Some(secret)),
    };
    let header_map: serde_json::Map<String, Value> = headers
        .pairs()
        .into_iter()
        .map(|(name, value)| (name.to_owned(), json!(value)))
        .collect();
    let request = json!({ "secret": whsec, "raw_secret": raw, "body": body, "headers": header_map });

    let mut child = Command::new("python3")
        .arg(Path::new(SUPPORT).join("verify_standard_webhooks.py"))
        .env("PYTHONPATH", library)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python3");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(request.to_string().as_bytes())
        .expect("write the delivery to the verifier");
    let output = child.wait_with_output().expect("wait for the verifier");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|_| {
        panic!(
            "the verifier failed ({}): {}{}",
            output.status,
            stdout,
            String::from_utf8_lossy(&output.stderr)
        )
    });

    // The verdict must come from the library installed from the registry, not one found elsewhere.
    let module = report["module"].as_str().expect("module path");
    assert!(
        Path::new(module).starts_with(library),
        "verified by {module}, not the installed library"
    );
    assert_eq!(report["library"], "standardwebhooks 1.1.0");

    match (output.status.code(), report["verdict"].as_str()) {
        (Some(0), Some("accepted")) => Ok(()),
        (Some(3), Some("rejected")) => Err(report["reason"].as_str().unwrap_or_default().to_owned()),
        _ => panic!("unexpected verifier result ({}): {report}", output.status),
    }
}

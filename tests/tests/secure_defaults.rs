//! A binary started with no settings is safe to expose: outside development the api and the
//! dispatcher refuse to start on missing or development settings, with exit status 2 and a
//! message that says what to set (and never shows key material).

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
const ADMIN_TOKEN: &str = "an-admin-token-with-at-least-32-characters";

/// Runs a binary with only `vars` set (no GANGWAY_* from the test's own environment) and waits for
/// it to exit; a binary that keeps running past the deadline fails the test.
fn run(binary: &str, vars: &[(&str, &str)]) -> Output {
    let mut child = Command::new(gangway_testkit::binary(binary))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(vars.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the binary");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if child.try_wait().expect("waiting").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{binary} {vars:?} kept running: it should refuse to start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[track_caller]
fn refused(output: &Output, mentions: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for mention in mentions {
        assert!(stderr.contains(mention), "'{mention}' not in: {stderr}");
    }
    assert!(!stderr.contains(&KEY[..12]), "key material shown: {stderr}");
    stderr
}

fn production_api(overrides: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut vars = vec![
        ("GANGWAY_ADMIN_TOKEN", ADMIN_TOKEN),
        (
            "GANGWAY_ENCRYPTION_KEYS",
            "k1:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
        ),
        ("GANGWAY_ENCRYPTION_KEY_ID", "k1"),
        ("GANGWAY_META_APP_ID", "1234"),
        ("GANGWAY_META_APP_SECRET", "app-secret"),
        ("GANGWAY_META_CONFIG_ID", "config"),
        // Unreachable on purpose: a binary that passed its checks fails later, with status 1.
        ("GANGWAY_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"),
        ("GANGWAY_DATABASE_ACQUIRE_TIMEOUT_MS", "200"),
    ];
    for (name, value) in overrides {
        vars.retain(|(n, _)| n != name);
        vars.push((name, value));
    }
    vars
}

#[test]
fn the_api_with_no_settings_refuses_to_start_and_says_what_to_set() {
    let stderr = refused(
        &run("gangway-api", &[]),
        &[
            "GANGWAY_ADMIN_TOKEN",
            "GANGWAY_ENCRYPTION_KEYS",
            "GANGWAY_META_APP_ID",
            "GANGWAY_ENVIRONMENT=development",
        ],
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}

#[test]
fn the_api_refuses_development_conveniences_outside_development() {
    refused(
        &run(
            "gangway-api",
            &production_api(&[("GANGWAY_ADMIN_TOKEN", "dev-admin-token")]),
        ),
        &["GANGWAY_ADMIN_TOKEN", "32 characters"],
    );
    refused(
        &run(
            "gangway-api",
            &production_api(&[("GANGWAY_ADMIN_TOKEN", "short-but-not-the-dev-one")]),
        ),
        &["32 characters"],
    );
    refused(
        &run(
            "gangway-api",
            &production_api(&[("GANGWAY_WEBHOOK_ALLOW_HTTP", "true")]),
        ),
        &["GANGWAY_WEBHOOK_ALLOW_HTTP"],
    );
    // With every production setting, it gets past its checks (and fails later, on the database).
    let started = run("gangway-api", &production_api(&[]));
    assert_ne!(
        started.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
}

#[test]
fn malformed_keys_are_refused_without_showing_them() {
    for keys in [KEY.to_owned(), format!("k1:{KEY},{KEY}"), format!("{KEY}:{KEY}")] {
        let keys: &'static str = Box::leak(keys.into_boxed_str());
        refused(
            &run(
                "gangway-api",
                &production_api(&[("GANGWAY_ENCRYPTION_KEYS", keys)]),
            ),
            &["GANGWAY_ENCRYPTION_KEYS"],
        );
        refused(
            &run(
                "gangway-dispatcher",
                &[
                    ("GANGWAY_ENCRYPTION_KEYS", keys),
                    ("GANGWAY_ENCRYPTION_KEY_ID", "k1"),
                ],
            ),
            &["GANGWAY_ENCRYPTION_KEYS"],
        );
    }
}

#[test]
fn the_dispatcher_with_no_settings_refuses_to_start() {
    refused(
        &run("gangway-dispatcher", &[]),
        &["GANGWAY_ENCRYPTION_KEYS", "GANGWAY_ENVIRONMENT=development"],
    );
    refused(
        &run(
            "gangway-dispatcher",
            &[
                (
                    "GANGWAY_ENCRYPTION_KEYS",
                    "k1:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
                ),
                ("GANGWAY_ENCRYPTION_KEY_ID", "k1"),
                ("GANGWAY_WEBHOOK_ALLOW_HTTP", "true"),
            ],
        ),
        &["GANGWAY_WEBHOOK_ALLOW_HTTP"],
    );
}

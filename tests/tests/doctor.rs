//! `gangway doctor` against a running api and its meta sandbox: every item passes on a working
//! deployment, and each fails, with its fix, when the sandbox (as the app's owner could in Meta's
//! App Dashboard) or the settings break it. Judged from what the command prints.

use clap::Args;
use gangway_e2e::signup::SignupWorld;
use gangway_e2e::{wait_until, ADMIN_TOKEN};
use gangway_testkit::TestEnv;
use serde_json::{json, Value};
use sqlx::Connection;
use std::process::Command;
use std::time::Duration;

/// The sandbox's app (services/meta-sandbox defaults).
const APP_ID: &str = "1234567890";
const APP_SECRET: &str = "sandbox-app-secret";
const VERIFY_TOKEN: &str = "sandbox-verify-token";
const FIELDS: [&str; 4] = [
    "account_update",
    "messages",
    "phone_number_name_update",
    "phone_number_quality_update",
];

/// Settings for the doctor as a deployment with a real Meta app would have them, with Graph at
/// the sandbox and the api at `world`'s address.
fn deployment(world: &SignupWorld) -> Vec<(String, String)> {
    let mut env = world.env.process_env();
    env.extend(
        [
            ("GANGWAY_PUBLIC_URL", world.api.base_url.as_str()),
            ("GANGWAY_META_APP_ID", APP_ID),
            ("GANGWAY_META_APP_SECRET", APP_SECRET),
            ("GANGWAY_META_CONFIG_ID", "es-config-1"),
            ("GANGWAY_META_GRAPH_URL", world.sandbox.base_url.as_str()),
            ("GANGWAY_META_WEBHOOK_VERIFY_TOKEN", VERIFY_TOKEN),
            ("GANGWAY_ADMIN_TOKEN", ADMIN_TOKEN),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    env
}

fn with(mut env: Vec<(String, String)>, changes: &[(&str, &str)]) -> Vec<(String, String)> {
    for (name, value) in changes {
        env.retain(|(k, _)| k != name);
        env.push((name.to_string(), value.to_string()));
    }
    env
}

/// `gangway doctor --json`: its exit status and report.
fn doctor(env: &[(String, String)]) -> (i32, Value) {
    let output = Command::new(gangway_testkit::binary("gangway"))
        .args(["doctor", "--json"])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("running gangway doctor");
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json printed no JSON ({e}): {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap_or(-1), report)
}

fn item<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["id"] == id))
        .unwrap_or_else(|| panic!("no item {id} in {report:#}"))
}

#[track_caller]
fn assert_verdict(report: &Value, id: &str, verdict: &str) {
    assert_eq!(item(report, id)["verdict"], verdict, "{id}: {report:#}");
}

/// The item failed, and its fix mentions `fix`.
#[track_caller]
fn assert_fails_with(report: &Value, id: &str, detail: &str, fix: &str) {
    let item = item(report, id);
    assert_eq!(item["verdict"], "failed", "{id}: {report:#}");
    let (found, hint) = (
        item["detail"].as_str().unwrap_or(""),
        item["hint"].as_str().unwrap_or(""),
    );
    assert!(found.contains(detail), "{id} detail lacks {detail:?}: {item:#}");
    assert!(hint.contains(fix), "{id} fix lacks {fix:?}: {item:#}");
}

async fn world() -> SignupWorld {
    let world = SignupWorld::new().await;
    // The processes' consumers, as the projector and the dispatcher create them.
    let bus = world.env.bus().await;
    bus.projector_consumer("projector")
        .await
        .expect("projector consumer");
    bus.dispatcher_consumer("dispatcher")
        .await
        .expect("dispatcher consumer");
    bus.dispatcher_message_consumer("dispatcher")
        .await
        .expect("dispatcher message consumer");
    // The app's webhooks, as its owner set them up: at this api, every field.
    let callback = world.api.url("/meta/webhooks");
    set_subscription(&world, json!({ "callback_url": callback, "fields": FIELDS })).await;
    world
}

async fn set_subscription(world: &SignupWorld, subscription: Value) {
    let response = world
        .sandbox
        .http
        .put(
            world
                .sandbox
                .url("/sandbox/app/subscriptions/whatsapp_business_account"),
        )
        .json(&subscription)
        .send()
        .await
        .expect("sandbox");
    assert_eq!(response.status(), 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_meta_app_its_webhook_subscription_and_our_callback_pass_and_each_fails_with_its_fix() {
    let world = world().await;
    let env = deployment(&world);
    let (_, report) = doctor(&env);
    for id in [
        "meta-app",
        "meta-webhook-subscription",
        "meta-webhook-verification",
    ] {
        assert_verdict(&report, id, "passed");
    }
    for id in ["embedded-signup-config", "sdk-domains"] {
        assert_verdict(&report, id, "not_checkable");
    }
    assert!(item(&report, "sdk-domains")["hint"]
        .as_str()
        .unwrap()
        .contains(&world.api.base_url));

    // The app secret reset in the App Dashboard: the old one stops working.
    let (status, _) = world
        .sandbox
        .post("/sandbox/app/secret", json!({ "secret": "a-new-secret" }))
        .await;
    assert_eq!(status, 204);
    let (code, report) = doctor(&env);
    assert_eq!(code, 1);
    assert_fails_with(
        &report,
        "meta-app",
        "Error validating client secret",
        "GANGWAY_META_APP_SECRET",
    );
    assert_verdict(&report, "meta-webhook-subscription", "not_checkable");
    let env = with(env, &[("GANGWAY_META_APP_SECRET", "a-new-secret")]);
    assert_verdict(&doctor(&env).1, "meta-app", "passed");
    let wrong_app = with(env.clone(), &[("GANGWAY_META_APP_ID", "999")]);
    assert_fails_with(
        &doctor(&wrong_app).1,
        "meta-app",
        "Invalid application ID",
        "GANGWAY_META_APP_ID",
    );

    // The subscription: a field missing, another callback URL, none at all.
    let callback = world.api.url("/meta/webhooks");
    set_subscription(
        &world,
        json!({ "callback_url": callback, "fields": ["account_update", "phone_number_name_update"] }),
    )
    .await;
    let report = doctor(&env).1;
    assert_fails_with(
        &report,
        "meta-webhook-subscription",
        "fields not subscribed: messages, phone_number_quality_update",
        "subscribe to the fields",
    );
    set_subscription(
        &world,
        json!({ "callback_url": "https://old.example.com/hook", "fields": FIELDS }),
    )
    .await;
    assert_fails_with(
        &doctor(&env).1,
        "meta-webhook-subscription",
        "its callback URL is https://old.example.com/hook",
        &callback,
    );
    let removed = world
        .sandbox
        .http
        .delete(
            world
                .sandbox
                .url("/sandbox/app/subscriptions/whatsapp_business_account"),
        )
        .send()
        .await
        .expect("sandbox");
    assert_eq!(removed.status(), 204);
    assert_fails_with(
        &doctor(&env).1,
        "meta-webhook-subscription",
        "no whatsapp_business_account webhook subscription",
        "WhatsApp > Configuration > Webhook",
    );

    // Subscribing through the Graph API as the guide shows: Meta (here the sandbox) verifies our
    // callback with the verify token first, so a wrong token is refused and the right one saved.
    let subscribe = |verify_token: &str| {
        let form = [
            ("object", "whatsapp_business_account"),
            ("callback_url", callback.as_str()),
            (
                "fields",
                "account_update,messages,phone_number_name_update,phone_number_quality_update",
            ),
            ("verify_token", verify_token),
            ("access_token", "1234567890|a-new-secret"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        world
            .sandbox
            .http
            .post(world.sandbox.url(&format!("/v25.0/{APP_ID}/subscriptions")))
            .form(&form)
            .send()
    };
    let refused = subscribe("not-the-token").await.expect("graph");
    assert_eq!(refused.status(), 400);
    let error: Value = refused.json().await.expect("json");
    assert_eq!(error["error"]["code"], 2200, "{error}");
    let saved = subscribe(VERIFY_TOKEN).await.expect("graph");
    assert_eq!(saved.status(), 200);
    assert_eq!(
        saved.json::<Value>().await.expect("json"),
        json!({ "success": true })
    );
    assert_verdict(&doctor(&env).1, "meta-webhook-subscription", "passed");

    // Our callback with another verify token than the running api's, or with none.
    let other_token = with(
        env.clone(),
        &[("GANGWAY_META_WEBHOOK_VERIFY_TOKEN", "another-token")],
    );
    assert_fails_with(
        &doctor(&other_token).1,
        "meta-webhook-verification",
        "refused the verify token (403)",
        "GANGWAY_META_WEBHOOK_VERIFY_TOKEN",
    );
    let no_token: Vec<_> = env
        .iter()
        .filter(|(k, _)| k != "GANGWAY_META_WEBHOOK_VERIFY_TOKEN")
        .cloned()
        .collect();
    assert_fails_with(
        &doctor(&no_token).1,
        "meta-webhook-verification",
        "is not set",
        "WhatsApp > Configuration > Webhook",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_settings_keys_and_the_public_url_pass_when_set_and_fail_with_their_fix() {
    let world = world().await;
    // A webhook endpoint: its secret is sealed under the development key.
    let (status, created) = world
        .api
        .call(
            reqwest::Method::POST,
            "/v1/webhooks",
            &world.key,
            Some(json!({ "url": "https://receiver.example.com/hooks", "events": ["phone_number.connected"], "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let development = deployment(&world);

    let report = doctor(&development).1;
    assert_fails_with(
        &report,
        "environment",
        "development",
        "GANGWAY_ENVIRONMENT=production",
    );
    assert_fails_with(
        &report,
        "production-settings",
        "1 setting(s)",
        "GANGWAY_ENCRYPTION_KEYS is not set",
    );
    assert_verdict(&report, "encryption-keys", "passed");
    assert!(item(&report, "encryption-keys")["detail"]
        .as_str()
        .unwrap()
        .contains("1 secrets"));
    assert_fails_with(&report, "public-url", "need https", "GANGWAY_PUBLIC_URL=https://");

    // Keys that do not hold the one the stored secret was sealed under.
    let other_key = with(
        development.clone(),
        &[
            (
                "GANGWAY_ENCRYPTION_KEYS",
                "k2:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            ),
            ("GANGWAY_ENCRYPTION_KEY_ID", "k2"),
        ],
    );
    assert_fails_with(
        &doctor(&other_key).1,
        "encryption-keys",
        "1 secret(s) under",
        "GANGWAY_ENCRYPTION_KEYS must hold every key id",
    );
    let malformed = with(
        development.clone(),
        &[
            ("GANGWAY_ENCRYPTION_KEYS", "k2:short"),
            ("GANGWAY_ENCRYPTION_KEY_ID", "k2"),
        ],
    );
    assert_fails_with(
        &doctor(&malformed).1,
        "encryption-keys",
        "",
        "openssl rand -base64 32",
    );

    // Production, every setting present.
    let production = with(
        other_key,
        &[
            ("GANGWAY_ENVIRONMENT", "production"),
            ("GANGWAY_PUBLIC_URL", "https://onboard.example.com"),
        ],
    );
    let report = doctor(&production).1;
    for id in ["environment", "production-settings", "public-url"] {
        assert_verdict(&report, id, "passed");
    }
    let short_admin = with(production.clone(), &[("GANGWAY_ADMIN_TOKEN", "too-short")]);
    assert_fails_with(
        &doctor(&short_admin).1,
        "production-settings",
        "1 setting(s)",
        "GANGWAY_ADMIN_TOKEN must be at least 32 characters",
    );
    let loopback = with(production, &[("GANGWAY_PUBLIC_URL", "https://127.0.0.1:8443")]);
    assert_fails_with(
        &doctor(&loopback).1,
        "public-url",
        "Meta cannot reach",
        "GANGWAY_PUBLIC_URL",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_nats_and_the_relay_pass_when_running_and_fail_with_their_fix() {
    let world = world().await;
    let env = deployment(&world);
    let report = doctor(&env).1;
    for id in ["postgres", "nats-events", "nats-messages", "relay"] {
        assert_verdict(&report, id, "passed");
    }

    let no_database = with(
        env.clone(),
        &[(
            "GANGWAY_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/gangway_doctor_missing",
        )],
    );
    let report = doctor(&no_database).1;
    assert_fails_with(
        &report,
        "postgres",
        "cannot connect to Postgres",
        "GANGWAY_DATABASE_URL",
    );
    assert_verdict(&report, "relay", "not_checkable");

    let no_stream = with(env.clone(), &[("GANGWAY_NATS_STREAM", "DOCTOR_NO_SUCH_STREAM")]);
    assert_fails_with(
        &doctor(&no_stream).1,
        "nats-events",
        "DOCTOR_NO_SUCH_STREAM",
        "start the api once",
    );
    let other_consumer = with(env.clone(), &[("GANGWAY_PROJECTOR_CONSUMER", "projector-b")]);
    assert_fails_with(
        &doctor(&other_consumer).1,
        "nats-events",
        "projector-b (created by the projector)",
        "start those processes",
    );
    let no_message_stream = with(
        env.clone(),
        &[("GANGWAY_NATS_MESSAGE_STREAM", "DOCTOR_NO_SUCH_MESSAGES")],
    );
    assert_fails_with(
        &doctor(&no_message_stream).1,
        "nats-messages",
        "DOCTOR_NO_SUCH_MESSAGES",
        "start the api once",
    );
    let no_nats = with(env.clone(), &[("GANGWAY_NATS_URL", "nats://127.0.0.1:1")]);
    assert_fails_with(
        &doctor(&no_nats).1,
        "nats",
        "cannot connect to NATS",
        "GANGWAY_NATS_URL",
    );

    // A transaction left open in the cluster while the api commits an event: publishing waits.
    let mut long = sqlx::PgConnection::connect(&world.env.database_url)
        .await
        .expect("connect");
    sqlx::query("BEGIN").execute(&mut long).await.expect("begin");
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut long)
        .await
        .expect("an xid");
    world.link(json!({ "externalId": "held-back" })).await;
    let impatient = with(env.clone(), &[("GANGWAY_RELAY_STALL_WARN_SECONDS", "1")]);
    wait_until(
        "the doctor to see publishing held back",
        Duration::from_secs(30),
        || async { item(&doctor(&impatient).1, "relay")["verdict"] == "failed" },
    )
    .await;
    assert_fails_with(
        &doctor(&impatient).1,
        "relay",
        "publishing held back",
        "end that transaction",
    );
    sqlx::query("ROLLBACK")
        .execute(&mut long)
        .await
        .expect("rollback");
    wait_until("the relay to publish again", Duration::from_secs(30), || async {
        item(&doctor(&impatient).1, "relay")["verdict"] == "passed"
    })
    .await;

    // A database no api runs on: nothing leads the relay.
    let idle = TestEnv::new().await;
    let unled = with(env, &[("GANGWAY_DATABASE_URL", idle.database_url.as_str())]);
    assert_fails_with(
        &doctor(&unled).1,
        "relay",
        "no api process leads the relay",
        "GANGWAY_RELAY_ENABLED",
    );
}

/// Every setting an api `--help` lists, by environment variable: its default values joined.
fn api_settings() -> Vec<(String, String)> {
    settings_of(gangway_api::config::ApiConfig::augment_args(clap::Command::new(
        "api",
    )))
}

fn settings_of(command: clap::Command) -> Vec<(String, String)> {
    command
        .get_arguments()
        .filter_map(|arg| {
            let env = arg.get_env()?.to_string_lossy().into_owned();
            let default: Vec<_> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy())
                .collect();
            Some((env, default.join(",")))
        })
        .collect()
}

#[test]
fn the_doctor_reads_the_api_settings_it_checks_with_the_api_defaults() {
    let api = api_settings();
    let doctor = settings_of(gangway_cli::doctor::DoctorArgs::augment_args(clap::Command::new(
        "doctor",
    )));
    let consumers = ["GANGWAY_PROJECTOR_CONSUMER", "GANGWAY_DISPATCHER_CONSUMER"];
    assert!(doctor.len() > 10, "{doctor:?}");
    for (env, default) in doctor
        .iter()
        .filter(|(env, _)| !consumers.contains(&env.as_str()))
    {
        let in_api = api
            .iter()
            .find(|(name, _)| name == env)
            .unwrap_or_else(|| panic!("the doctor reads {env}, which the api does not"));
        assert_eq!(&in_api.1, default, "the default of {env}");
    }
}

#[test]
fn the_going_live_guide_names_real_settings_with_their_defaults() {
    let guide = include_str!("../../docs/going-live.md");
    let table = guide
        .split("## The settings")
        .nth(1)
        .expect("the guide's settings table");
    let rows: Vec<(String, String)> = table
        .lines()
        .filter(|line| line.starts_with("| `GANGWAY_"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            (cells[1].trim_matches('`').to_owned(), cells[2].to_owned())
        })
        .collect();
    let api = api_settings();
    for (name, default) in &rows {
        let (_, code) = api
            .iter()
            .find(|(env, _)| env == name)
            .unwrap_or_else(|| panic!("the guide names {name}, which the api does not read"));
        let expected = if code.is_empty() {
            "*(empty)*".to_owned()
        } else {
            format!("`{code}`")
        };
        assert_eq!(default, &expected, "the guide's default for {name}");
    }
    for needed in [
        "GANGWAY_META_APP_ID",
        "GANGWAY_META_APP_SECRET",
        "GANGWAY_META_CONFIG_ID",
        "GANGWAY_META_WEBHOOK_VERIFY_TOKEN",
        "GANGWAY_PUBLIC_URL",
        "GANGWAY_ENVIRONMENT",
        "GANGWAY_ADMIN_TOKEN",
        "GANGWAY_ENCRYPTION_KEYS",
        "GANGWAY_ENCRYPTION_KEY_ID",
        "GANGWAY_METRICS_TOKEN",
    ] {
        assert!(
            rows.iter().any(|(name, _)| name == needed),
            "the guide's table lacks {needed}"
        );
    }
}

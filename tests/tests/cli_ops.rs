//! The `gangway` operations commands against real Postgres, NATS and running processes: replay
//! compare, republish, redeliver, tail filters, key rotation under load, and the support views.

use base64::Engine;
use gangway_api::config::ApiConfig;
use gangway_domain::{OrganizationId, SecretRef};
use gangway_e2e::dispatch::{create_endpoint, dispatcher_config, expired_links, spawn_dispatcher, Receiver};
use gangway_e2e::signup::{SignupWorld, BAKERY_WABA};
use gangway_e2e::{
    api_config, read_stream, spawn_projector, stream_message_count, wait_for_projection, wait_until, TestApi,
};
use gangway_testkit::TestEnv;
use gangway_vault::{Keyring, Vault};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// What a `gangway` run printed and how it ended.
#[derive(Debug)]
struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

/// Runs `gangway <args>` with `env` and these extra variables, killed if it runs past a minute.
fn gangway_with(vars: &[(String, String)], args: &[&str]) -> Run {
    let mut child = Command::new(gangway_testkit::binary("gangway"))
        .args(args)
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running gangway");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("waiting for gangway").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("gangway {args:?} ran for more than a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("gangway output");
    Run {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn gangway(env: &TestEnv, args: &[&str]) -> Run {
    gangway_with(&env.process_env(), args)
}

/// `gangway` in a blocking task, so the test's runtime keeps serving the processes it runs.
async fn gangway_async(vars: Vec<(String, String)>, args: Vec<String>) -> Run {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        gangway_with(&vars, &args)
    })
    .await
    .expect("gangway task")
}

fn succeeded(run: &Run) -> &str {
    assert_eq!(run.status, 0, "{run:#?}");
    &run.stdout
}

// ---------------------------------------------------------------------------------------------
// replay --compare

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_compare_reports_tampered_rows_changes_nothing_and_is_clean_after_replay() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Compared").await;
    let (_, first) = api.create_link(&key, json!({"externalId": "c-1"})).await;
    let (_, second) = api.create_link(&key, json!({"externalId": "c-2"})).await;
    let _projector = spawn_projector(&env, bus.clone());
    wait_for_projection(&env, &bus).await;
    let (first, second) = (
        first["data"]["id"].as_str().unwrap().parse::<Uuid>().unwrap(),
        second["data"]["id"].as_str().unwrap().parse::<Uuid>().unwrap(),
    );

    let clean = gangway(&env, &["replay", "--compare"]);
    assert!(
        succeeded(&clean).contains("read models match the event store"),
        "{clean:#?}"
    );

    sqlx::query(
        "UPDATE rm_onboarding_links SET status = 'completed', \
             document = jsonb_set(document, '{status}', '\"completed\"') WHERE id = $1",
    )
    .bind(first)
    .execute(&env.pool)
    .await
    .unwrap();
    sqlx::query("DELETE FROM rm_onboarding_links WHERE id = $1")
        .bind(second)
        .execute(&env.pool)
        .await
        .unwrap();
    let snapshot = gangway_projections::snapshot(&env.pool).await.unwrap();

    let differs = gangway(&env, &["replay", "--compare"]);
    assert_eq!(differs.status, 1, "differences exit with status 1: {differs:#?}");
    let out = &differs.stdout;
    assert!(
        out.contains("rm_onboarding_links: 1 changed, 1 missing from the live read model"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{first} changed: document.status, status (live version 1, rebuilt 1)"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("{second} missing from the live read model")),
        "{out}"
    );
    assert!(out.contains("in 2 rows"), "{out}");
    // The same report for scripts.
    let json_run = gangway(&env, &["replay", "--compare", "--json"]);
    assert_eq!(json_run.status, 1, "{json_run:#?}");
    let report: serde_json::Value = serde_json::from_str(&json_run.stdout).expect("one JSON object");
    assert_eq!(report["matches"], false);
    assert_eq!(report["differingRows"], 2);
    assert_eq!(
        report["tables"]["rm_onboarding_links"],
        json!({"changed": 1, "missing": 1})
    );
    let changed = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "changed")
        .expect("the changed row");
    assert_eq!(changed["id"], first.to_string());
    assert_eq!(changed["fields"], json!(["document.status", "status"]));
    assert_eq!(
        (
            changed["liveVersion"].as_i64(),
            changed["rebuiltVersion"].as_i64()
        ),
        (Some(1), Some(1))
    );
    let misuse = gangway(&env, &["replay", "--json"]);
    assert_eq!(misuse.status, 2, "--json needs --compare: {misuse:#?}");
    assert_eq!(
        gangway_projections::snapshot(&env.pool).await.unwrap(),
        snapshot,
        "a comparison changes no live read model"
    );

    succeeded(&gangway(&env, &["replay"]));
    let repaired = gangway(&env, &["replay", "--compare"]);
    assert!(
        succeeded(&repaired).contains("read models match"),
        "{repaired:#?}"
    );
    let repaired: serde_json::Value =
        serde_json::from_str(succeeded(&gangway(&env, &["replay", "--compare", "--json"]))).unwrap();
    assert_eq!(
        (repaired["matches"].as_bool(), repaired["differingRows"].as_i64()),
        (Some(true), Some(0))
    );
    api.stop().await;
}

// ---------------------------------------------------------------------------------------------
// republish

/// The store's event ids in commit order, with their positions.
async fn stored_events(env: &TestEnv) -> Vec<(i64, Uuid)> {
    sqlx::query_as("SELECT position, event_id FROM events ORDER BY transaction_id, position")
        .fetch_all(&env.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn republish_puts_stored_events_on_a_fresh_stream_once_and_honours_the_range() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (_, key) = api.create_org("Republished").await;
    for n in 0..3 {
        let (status, _) = api
            .create_link(&key, json!({"externalId": format!("r-{n}")}))
            .await;
        assert_eq!(status, 201);
    }
    api.stop().await;
    let stored = stored_events(&env).await;
    assert!(stored.len() >= 5, "{stored:?}");

    // A fresh stream, as after losing JetStream's data.
    let fresh = TestEnv::new().await;
    let fresh_bus = fresh.bus().await;
    let vars = env.process_env_on(&fresh.names);
    let out = succeeded(&gangway_with(&vars, &["republish", "--from", "1"])).to_owned();
    assert!(
        out.contains(&format!("republished {} events", stored.len())),
        "{out}"
    );
    assert!(
        out.contains(&format!("{} stored, 0 dropped", stored.len())),
        "{out}"
    );
    let on_stream_ids: Vec<Uuid> = read_stream(&fresh_bus)
        .await
        .unwrap()
        .iter()
        .map(|(_, e)| e.event_id)
        .collect();
    let stored_ids: Vec<Uuid> = stored.iter().map(|(_, id)| *id).collect();
    assert_eq!(on_stream_ids, stored_ids, "every event, in commit order");

    // Again: JetStream drops every one as a duplicate (Nats-Msg-Id = event id).
    let again = succeeded(&gangway_with(&vars, &["republish", "--from", "1"])).to_owned();
    assert!(
        again.contains(&format!("0 stored, {} dropped", stored.len())),
        "{again}"
    );
    assert_eq!(stream_message_count(&fresh_bus).await, stored.len() as u64);

    // A range: exactly the events at those positions.
    let ranged = TestEnv::new().await;
    let ranged_bus = ranged.bus().await;
    let (from, to) = (stored[2].0.min(stored[4].0), stored[2].0.max(stored[4].0));
    let vars = env.process_env_on(&ranged.names);
    succeeded(&gangway_with(
        &vars,
        &["republish", "--from", &from.to_string(), "--to", &to.to_string()],
    ));
    let got: BTreeSet<Uuid> = read_stream(&ranged_bus)
        .await
        .unwrap()
        .iter()
        .map(|(_, e)| e.event_id)
        .collect();
    let expected: BTreeSet<Uuid> = stored
        .iter()
        .filter(|(p, _)| (from..=to).contains(p))
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(got, expected);

    let backwards = gangway(&env, &["republish", "--from", "5", "--to", "2"]);
    assert_eq!(backwards.status, 2);
    assert!(
        backwards.stderr.contains("--to 2 is before --from 5"),
        "{backwards:#?}"
    );
    let negative = gangway(&env, &["republish", "--from", "-1"]);
    assert_eq!(negative.status, 2);
    assert!(negative.stderr.contains("--from"), "{negative:#?}");
}

// ---------------------------------------------------------------------------------------------
// redeliver

async fn message_statuses(env: &TestEnv) -> Vec<(Uuid, String)> {
    sqlx::query_as("SELECT endpoint_id, status FROM webhook_messages ORDER BY id")
        .fetch_all(&env.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeliver_sends_matching_messages_again_under_the_same_webhook_id() {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let receiver = Receiver::start().await;
    let _dispatcher = spawn_dispatcher(dispatcher_config(&env)).await;
    let (org, _) = api.create_org("Redelivered").await;
    let org = OrganizationId::from_uuid(org.parse().unwrap());
    let types = ["onboarding_link.expired"];
    let a = create_endpoint(
        &api,
        org,
        &receiver.url("/a"),
        &types,
        None,
        "a-secret-of-sixteen+",
    )
    .await;
    let _b = create_endpoint(
        &api,
        org,
        &receiver.url("/b"),
        &types,
        None,
        "b-secret-of-sixteen+",
    )
    .await;
    expired_links(&api, org, 2).await;
    let all_delivered = || async {
        let statuses = message_statuses(&env).await;
        statuses.len() == 4 && statuses.iter().all(|(_, s)| s == "delivered")
    };
    wait_until("4 deliveries", Duration::from_secs(20), all_delivered).await;
    let first: BTreeSet<String> = receiver
        .received_at("/a")
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert_eq!(first.len(), 2);

    // Filters that match nothing change nothing.
    let org_s = org.to_string();
    let other_type = gangway(
        &env,
        &[
            "redeliver",
            "--since",
            "1h",
            "--event-type",
            "phone_number.connected",
        ],
    );
    assert!(
        succeeded(&other_type).starts_with("0 webhook messages queued"),
        "{other_type:#?}"
    );
    let dry = gangway(
        &env,
        &["redeliver", "--since", "1h", "--org", &org_s, "--dry-run"],
    );
    assert!(
        succeeded(&dry).starts_with("4 webhook messages match; nothing changed"),
        "{dry:#?}"
    );
    let old = gangway(&env, &["redeliver", "--since", "2h", "--until", "1h"]);
    assert!(
        succeeded(&old).starts_with("0 webhook messages queued"),
        "{old:#?}"
    );

    let run = gangway(
        &env,
        &[
            "redeliver",
            "--since",
            "1h",
            "--org",
            &org_s,
            "--endpoint",
            &a.to_string(),
            "--event-type",
            "onboarding_link.expired",
        ],
    );
    assert!(
        succeeded(&run).starts_with(
            "2 webhook messages queued for delivery with their original webhook-id: 2 had been delivered"
        ),
        "{run:#?}"
    );
    wait_until("endpoint a gets both again", Duration::from_secs(20), || async {
        receiver.received_at("/a").len() == 4
    })
    .await;
    wait_until(
        "every message delivered again",
        Duration::from_secs(20),
        all_delivered,
    )
    .await;
    let again: Vec<String> = receiver.received_at("/a")[2..]
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert_eq!(
        again.iter().cloned().collect::<BTreeSet<_>>(),
        first,
        "same webhook-ids"
    );
    assert_eq!(
        receiver.received_at("/b").len(),
        2,
        "the other endpoint is not re-sent"
    );

    // Mistakes name the argument and change nothing.
    for (args, needle) in [
        (vec!["redeliver", "--since", "yesterday"], "--since"),
        (vec!["redeliver", "--since", "1h", "--until", "2h"], "--until"),
        (
            vec!["redeliver", "--since", "1h", "--event-type", "link.nope"],
            "--event-type 'link.nope'",
        ),
        (
            vec!["redeliver", "--since", "1h", "--endpoint", "nope"],
            "--endpoint",
        ),
        (
            vec!["redeliver", "--since", "1h", "--org", &Uuid::now_v7().to_string()],
            "--org",
        ),
        (vec!["redeliver"], "--since"),
    ] {
        let run = gangway(&env, &args);
        assert_eq!(run.status, 2, "{args:?}: {run:#?}");
        assert!(run.stderr.contains(needle), "{args:?}: {run:#?}");
    }
    assert_eq!(receiver.received().len(), 6);
    api.stop().await;
}

// ---------------------------------------------------------------------------------------------
// tail

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_filters_by_organization_stream_and_type() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let api = TestApi::spawn(&env).await;
    let (org_a, key_a) = api.create_org("Tail A").await;
    let (_, link_a) = api.create_link(&key_a, json!({})).await;
    let (_, link_a2) = api.create_link(&key_a, json!({})).await;
    let (org_b, key_b) = api.create_org("Tail B").await;
    let (_, link_b) = api.create_link(&key_b, json!({})).await;
    let store_count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    wait_until("the events on JetStream", Duration::from_secs(10), || async {
        stream_message_count(&bus).await as i64 >= store_count
    })
    .await;
    let tail = |args: &[&str]| -> Vec<Value> {
        let mut all = vec!["tail", "--all"];
        all.extend_from_slice(args);
        let run = gangway(&env, &all);
        succeeded(&run)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };

    let by_org = tail(&["--org", &org_b, "--type", "onboarding_link.", "--limit", "1"]);
    assert_eq!(by_org[0]["streamId"], link_b["data"]["id"]);
    let org_events = tail(&["--org", &org_b, "--limit", "2"]);
    assert!(org_events.iter().all(|e| e["organizationId"] == org_b.as_str()));
    assert_eq!(org_events[0]["eventType"], "organization.created");

    let link_a2_id = link_a2["data"]["id"].as_str().unwrap();
    let by_stream = tail(&["--stream", link_a2_id, "--limit", "1"]);
    assert_eq!(by_stream[0]["streamId"], link_a2_id);
    assert_eq!(by_stream[0]["organizationId"], org_a.as_str());
    let both = tail(&[
        "--org",
        &org_a,
        "--stream",
        link_a["data"]["id"].as_str().unwrap(),
        "--limit",
        "1",
    ]);
    assert_eq!(both[0]["streamId"], link_a["data"]["id"]);

    let bad = gangway(&env, &["tail", "--org", "acme"]);
    assert_eq!(bad.status, 2);
    assert!(bad.stderr.contains("--org"), "{bad:#?}");
    api.stop().await;
}

// ---------------------------------------------------------------------------------------------
// link show / phone show

/// A finished signup with a link webhook, on a number new in the sandbox; returns (link, phone).
async fn signup(world: &SignupWorld, hook: &str) -> (String, String) {
    let link = world
        .link(json!({
            "phoneProvisioning": {"enabled": true, "countries": ["BR"]},
            "webhookUrl": hook,
            "webhookSecret": LINK_WEBHOOK_SECRET,
            "webhookEvents": ["phone_number.connected"],
        }))
        .await;
    let (_, landing) = world.finish_with_new_number(&link, BAKERY_WABA, "BR").await;
    assert_eq!(
        landing.params.get("status").map(String::as_str),
        Some("success"),
        "{landing:?}"
    );
    (link, landing.params["phone_number_id"].clone())
}

const LINK_WEBHOOK_SECRET: &str = "link-webhook-secret-never-printed";

async fn world_org(world: &SignupWorld) -> OrganizationId {
    let id: Uuid = sqlx::query_scalar("SELECT DISTINCT organization_id FROM api_keys")
        .fetch_one(world.api.state.pool())
        .await
        .unwrap();
    OrganizationId::from_uuid(id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_and_phone_show_print_state_and_history_but_no_secret() {
    let world = SignupWorld::new().await;
    let receiver = Receiver::start().await;
    let (link, phone) = signup(&world, &receiver.url("/hooks")).await;
    let bus = world.env.bus().await;
    let _projector = spawn_projector(&world.env, bus.clone());
    wait_for_projection(&world.env, &bus).await;

    let shown_link = succeeded(&gangway(&world.env, &["link", "show", &link])).to_owned();
    let value: Value = serde_json::from_str(&shown_link).unwrap();
    assert_eq!(value["id"], link.as_str());
    assert_eq!(value["kind"], "onboarding_link");
    assert_eq!(value["status"], "completed");
    assert_eq!(
        value["state"]["completion"]["phoneId"],
        phone.as_str(),
        "{value:#}"
    );
    let types: Vec<&str> = value["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "onboarding_link.created",
            "onboarding_link.opened",
            "onboarding_link.callback_received",
            "onboarding_link.token_exchanged",
            "onboarding_link.completed"
        ]
    );
    assert_eq!(value["readModel"]["matchesStream"], true, "{value:#}");

    let shown_phone = succeeded(&gangway(&world.env, &["phone", "show", &phone])).to_owned();
    let value: Value = serde_json::from_str(&shown_phone).unwrap();
    assert_eq!(value["kind"], "phone_number");
    assert_eq!(value["status"], "connected");
    assert_eq!(value["events"][0]["type"], "phone_number.created");
    assert_eq!(value["readModel"]["matchesStream"], true, "{value:#}");
    let token_ref: SecretRef = serde_json::from_value(value["state"]["tokenRef"].clone()).unwrap();

    // The secrets behind the references never appear.
    let org = world_org(&world).await;
    let vault = &world.api.state.app.vault;
    let token = vault
        .reveal(world.api.state.pool(), org, token_ref)
        .await
        .unwrap();
    for shown in [&shown_link, &shown_phone] {
        assert!(!shown.contains(&token), "the token is printed");
        assert!(
            !shown.contains(LINK_WEBHOOK_SECRET),
            "the webhook secret is printed"
        );
    }
    assert!(shown_link.contains("tokenRef") && shown_phone.contains("tokenRef"));

    let wrong_kind = gangway(&world.env, &["phone", "show", &link]);
    assert_eq!(wrong_kind.status, 2);
    assert!(
        wrong_kind.stderr.contains("is not a phone number"),
        "{wrong_kind:#?}"
    );
    let unknown = gangway(&world.env, &["link", "show", &Uuid::now_v7().to_string()]);
    assert_eq!(unknown.status, 2);
    assert!(unknown.stderr.contains("no onboarding link"), "{unknown:#?}");
    let malformed = gangway(&world.env, &["link", "show", "abc"]);
    assert_eq!(malformed.status, 2);
    assert!(malformed.stderr.contains("<ID>"), "{malformed:#?}");
}

// ---------------------------------------------------------------------------------------------
// rotate-key

fn key(byte: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

/// The world's api configuration with these encryption keys.
fn keyed_config(world: &SignupWorld, keys: &str, active: &str) -> ApiConfig {
    let mut config = api_config(&world.env);
    config.meta.sandbox_url = world.sandbox.base_url.clone();
    config.webhook_allow_private = true;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    config.api_addr = ([127, 0, 0, 1], port).into();
    config.public_url = format!("http://127.0.0.1:{port}");
    config.encryption_keys = keys.parse().unwrap();
    config.encryption_key_id = active.into();
    config
}

/// Replaces the world's api with one running on these keys (a rolling restart).
async fn roll_api(world: &mut SignupWorld, keys: &str, active: &str) {
    let next = TestApi::spawn_with(keyed_config(world, keys, active)).await;
    let previous = std::mem::replace(&mut world.api, next);
    previous.stop().await;
}

fn key_vars(env: &TestEnv, keys: &str, active: &str) -> Vec<(String, String)> {
    let mut vars = env.process_env();
    vars.push(("GANGWAY_ENCRYPTION_KEYS".into(), keys.into()));
    vars.push(("GANGWAY_ENCRYPTION_KEY_ID".into(), active.into()));
    vars
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_key_while_signups_and_deliveries_run_leaves_every_secret_under_the_new_key() {
    let (old, new) = (format!("old:{}", key(1)), format!("new:{}", key(2)));
    let both = format!("{old},{new}");
    let mut world = SignupWorld::new().await;
    let receiver = Receiver::start().await;
    let org = world_org(&world).await;

    // Before: everything sealed under the old key.
    roll_api(&mut world, &old, "old").await;
    for n in 0..2 {
        signup(&world, &receiver.url(&format!("/before/{n}"))).await;
    }
    create_endpoint(
        &world.api,
        org,
        &receiver.url("/expired"),
        &["onboarding_link.expired"],
        None,
        "expired-endpoint-secret",
    )
    .await;
    let state = &world.api.state.app;
    for n in 0..300 {
        state
            .vault
            .store(state.pool(), org, "webhook_secret", &format!("filler-secret-{n}"))
            .await
            .unwrap();
    }

    // The procedure: the new key is added and made active everywhere, then rotate-key runs while
    // signups and deliveries go on.
    roll_api(&mut world, &both, "new").await;
    let under_old: i64 = sqlx::query_scalar("SELECT count(*) FROM vault_secrets WHERE key_id = 'old'")
        .fetch_one(&world.env.pool)
        .await
        .unwrap();
    let mut dispatcher = dispatcher_config(&world.env);
    dispatcher.encryption_keys = both.parse().unwrap();
    dispatcher.encryption_key_id = "new".into();
    let _dispatcher = spawn_dispatcher(dispatcher).await;
    let rotation = tokio::spawn(gangway_async(
        key_vars(&world.env, &both, "new"),
        ["rotate-key", "--batch-size", "5"].map(String::from).to_vec(),
    ));
    // Signups and deliveries go on for as long as the rotation runs.
    let mut during = 0;
    while during < 2 || !rotation.is_finished() {
        signup(&world, &receiver.url(&format!("/during/{during}"))).await;
        expired_links(&world.api, org, 5).await;
        during += 1;
    }
    let rotation = rotation.await.unwrap();
    let out = succeeded(&rotation);
    assert!(out.contains(" left under old key ids"), "{out}");
    assert!(out.contains("0 left under old key ids"), "{out}");
    assert!(out.contains("no secret is sealed under old any more"), "{out}");
    assert!(
        out.starts_with(&format!("{under_old} secrets re-encrypted, 0 left")),
        "{out}"
    );

    // Nothing failed: every signup connected (asserted in `signup`), every webhook arrived.
    // Each signup's endpoint gets its own number's `phone_number.connected` and those of the
    // signups after it (same organization and WABA); the expiry endpoint one per expired link.
    let signups = 2 + during;
    let expected = signups * (signups + 1) / 2 + 5 * during;
    let pool = world.env.pool.clone();
    wait_until("every webhook delivered", Duration::from_secs(30), || async {
        let (total, delivered): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE status = 'delivered') FROM webhook_messages",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        total == expected && delivered == total && receiver.received().len() as i64 == expected
    })
    .await;
    let errors: Vec<(Option<i32>, Option<String>)> =
        sqlx::query_as("SELECT status_code, error FROM webhook_attempts WHERE error IS NOT NULL")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(errors.is_empty(), "no attempt failed: {errors:?}");

    // The old key can go: every secret opens with a keyring holding only the new one.
    let only_new = Vault::new(Keyring::parse(&new, "new").unwrap());
    let secrets: Vec<(Uuid, Uuid)> = sqlx::query_as("SELECT id, organization_id FROM vault_secrets")
        .fetch_all(&pool)
        .await
        .unwrap();
    let purposes: Vec<(String, i64)> =
        sqlx::query_as("SELECT purpose, count(*) FROM vault_secrets GROUP BY 1")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(secrets.len() as i64 >= 300 + (2 + during) * 3, "{purposes:?}");
    for (id, organization) in secrets {
        only_new
            .reveal(
                &pool,
                OrganizationId::from_uuid(organization),
                SecretRef::from_uuid(id),
            )
            .await
            .unwrap_or_else(|e| panic!("secret {id}: {e}"));
    }

    // Again: nothing left to do.
    let again = gangway_with(&key_vars(&world.env, &new, "new"), &["rotate-key"]);
    assert!(
        succeeded(&again).starts_with("0 secrets re-encrypted, 0 left under old key ids"),
        "{again:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_key_reports_secrets_under_a_key_it_does_not_hold() {
    let env = TestEnv::new().await;
    let org = OrganizationId::new();
    let lost = Vault::new(Keyring::parse(&format!("lost:{}", key(3)), "lost").unwrap());
    let current = Vault::new(Keyring::parse(&format!("current:{}", key(4)), "current").unwrap());
    let unreachable = lost
        .store(&env.pool, org, "webhook_secret", "sealed-by-a-lost-key")
        .await
        .unwrap();
    current
        .store(&env.pool, org, "webhook_secret", "already-current")
        .await
        .unwrap();

    let run = gangway_with(
        &key_vars(&env, &format!("current:{}", key(4)), "current"),
        &["rotate-key"],
    );
    assert_eq!(run.status, 1, "{run:#?}");
    assert!(
        run.stdout
            .starts_with("0 secrets re-encrypted, 1 left under old key ids"),
        "{run:#?}"
    );
    assert!(run.stdout.contains("key id 'lost': 1 secrets"), "{run:#?}");
    assert!(run.stdout.contains(&unreachable.to_string()), "{run:#?}");
    assert!(!run.stdout.contains("sealed-by-a-lost-key") && !run.stdout.contains("already-current"));

    let misconfigured = gangway_with(
        &key_vars(&env, &format!("current:{}", key(4)), "nope"),
        &["rotate-key"],
    );
    assert_eq!(misconfigured.status, 2);
    assert!(
        misconfigured.stderr.contains("GANGWAY_ENCRYPTION_KEY_ID"),
        "{misconfigured:#?}"
    );
    assert!(!misconfigured.stderr.contains(&key(4)), "keys are never printed");
    let help = gangway_with(
        &key_vars(&env, &format!("current:{}", key(4)), "current"),
        &["rotate-key", "--help"],
    );
    assert!(succeeded(&help).contains("--encryption-keys"));
    assert!(!help.stdout.contains(&key(4)), "not even in --help");
}

//! `gangway status` against a running api (with its relay) and projector: who leads and how far
//! everything is; and a long transaction elsewhere in the cluster holding publishing back is
//! named, in the status, the api's metrics and its exit status. Real Postgres and NATS.

use gangway_e2e::{api_config, spawn_projector, stream_message_count, wait_until, TestApi};
use gangway_testkit::TestEnv;
use serde_json::{json, Value};
use sqlx::Connection;
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// `gangway status --json`: its exit status and report.
fn status(env: &TestEnv) -> (i32, Value) {
    let output = Command::new(gangway_testkit::binary("gangway"))
        .args(["status", "--json"])
        .envs(env.process_env())
        .env("GANGWAY_RELAY_STALL_WARN_SECONDS", "1")
        .output()
        .expect("running gangway status");
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "status --json printed no JSON ({e}): {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap_or(-1), report)
}

fn caught_up(report: &Value) -> bool {
    report["relay"]["unpublishedEvents"] == 0
        && report["projections"].as_array().is_some_and(|p| {
            p.iter()
                .any(|p| p["name"] == "projector" && p["eventsBehind"] == 0)
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_who_leads_how_far_everything_is_and_what_holds_publishing_back() {
    let env = TestEnv::new().await;
    let mut config = api_config(&env);
    config.relay_stall_warn_seconds = 1;
    let api = TestApi::spawn_with(config).await;
    let _projector = spawn_projector(&env, env.bus().await).drop_guard();
    let (_, key) = api.create_org("Status").await;
    for n in 0..3 {
        let (code, _) = api
            .create_link(&key, json!({ "externalId": format!("cus_{n}") }))
            .await;
        assert_eq!(code, 201);
    }
    wait_until("status to show everything caught up", WAIT, || async {
        caught_up(&status(&env).1)
    })
    .await;
    let (code, report) = status(&env);
    assert_eq!(code, 0, "{report:#}");
    assert!(report["relay"]["leader"]["pid"].as_i64().is_some(), "{report:#}");
    let latest = report["relay"]["latestPosition"].as_i64().expect("latest");
    assert_eq!(report["relay"]["checkpointPosition"], latest);
    assert!(report["relay"]["heldBackSeconds"].is_null());
    assert_eq!(
        report["webhookQueue"],
        json!({ "due": 0, "scheduled": 0, "inFlight": 0 })
    );
    assert_eq!(report["deadLetters"], json!({}));

    // A transaction left open elsewhere in the cluster: later commits wait behind it.
    let mut long = sqlx::PgConnection::connect(&env.database_url)
        .await
        .expect("connect");
    sqlx::query("BEGIN").execute(&mut long).await.expect("begin");
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut long)
        .await
        .expect("pid");
    sqlx::query("SELECT pg_current_xact_id(), 'held open by the status test'")
        .execute(&mut long)
        .await
        .expect("an xid");
    let bus = env.bus().await;
    let published = stream_message_count(&bus).await;
    let (code, _) = api.create_link(&key, json!({ "externalId": "cus_held" })).await;
    assert_eq!(code, 201);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (code, report) = status(&env);
    assert_eq!(code, 1, "held back needs attention: {report:#}");
    let relay = &report["relay"];
    assert!(
        relay["heldBackSeconds"].as_f64().expect("held back") >= 1.5,
        "{relay:#}"
    );
    assert_eq!(relay["blocker"]["pid"], pid, "{relay:#}");
    let query = relay["blocker"]["query"].as_str().unwrap_or_default();
    assert!(query.contains("held open by the status test"), "{relay:#}");
    assert!(
        relay["unpublishedEvents"].as_i64() > Some(0),
        "the new link's events wait: {relay:#}"
    );
    assert_eq!(
        stream_message_count(&bus).await,
        published,
        "nothing was published past it"
    );
    let metrics = reqwest::get(api.url("/metrics")).await.expect("metrics");
    let metrics = metrics.text().await.expect("metrics text");
    let held: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("gangway_relay_held_back_seconds "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the held-back gauge");
    assert!(held >= 1.0, "{held}");

    sqlx::query("COMMIT").execute(&mut long).await.expect("commit");
    wait_until("publishing to go on", WAIT, || async {
        let (code, report) = status(&env);
        code == 0 && caught_up(&report)
    })
    .await;

    // A replay reports its progress where status finds it.
    gangway_e2e::run_cli(&env, &["replay"]);
    let (_, report) = status(&env);
    let replay = &report["replay"];
    assert_eq!(replay["finished"], true, "{replay:#}");
    assert!(replay["applied"].as_i64() > Some(0), "{replay:#}");
    assert_eq!(replay["applied"], replay["total"]);
}

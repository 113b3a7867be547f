//! `make bench` (phase `messages`): inbound WhatsApp messages through `/meta/webhooks` at a fixed
//! rate, open loop (each notification is timed from when it was due, not from when it was
//! sent), to a webhook endpoint subscribed to `message.received`. Prints how many arrived, the
//! due → received latency, and how much the event store grew. Asserts nothing.
//!
//! The api runs in this process with the shipped defaults (as tests run it); the dispatcher is
//! the release binary with its defaults (only loopback http receivers allowed).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Router;
use gangway_e2e::bench::ms;
use gangway_e2e::bench_setting;
use gangway_e2e::meta_traffic::connect;
use gangway_e2e::signup::{SignupWorld, COFFEE_PHONE, COFFEE_WABA};
use gangway_e2e::wait_until;
use hdrhistogram::Histogram;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::process::Command;

/// When each message's webhook arrived, by Meta's message id.
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

async fn arrive(State(arrivals): State<Arrivals>, body: Bytes) -> StatusCode {
    let now = Instant::now();
    let id = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| Some(v["data"]["message"]["id"].as_str()?.to_owned()));
    if let Some(id) = id {
        arrivals.lock().expect("lock").entry(id).or_insert(now);
    }
    StatusCode::OK
}

async fn sink() -> anyhow::Result<(String, Arrivals)> {
    let arrivals = Arrivals::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://127.0.0.1:{}/messages", listener.local_addr()?.port());
    let app = Router::new().fallback(arrive).with_state(arrivals.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, arrivals))
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// One inbound text message, as Meta notifies it.
fn notification(n: u64) -> Vec<u8> {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": COFFEE_WABA, "time": 1_900_000_000u64 + n, "changes": [{
            "field": "messages",
            "value": {
                "messaging_product": "whatsapp",
                "metadata": { "display_phone_number": "15550783881", "phone_number_id": COFFEE_PHONE },
                "contacts": [{ "profile": { "name": "Bench Customer" }, "wa_id": "16315551181" }],
                "messages": [{ "from": "16315551181", "id": format!("wamid.BENCH{n}"),
                               "timestamp": "1900000000", "type": "text",
                               "text": { "body": format!("message {n}") } }]
            }
        }]}]
    })
    .to_string()
    .into_bytes()
}

async fn stored_events(world: &SignupWorld) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&world.env.pool)
        .await?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rate: u64 = bench_setting("BENCH_MESSAGE_RATE", 1_000);
    let seconds: u64 = bench_setting("BENCH_MESSAGE_SECONDS", 600);
    println!("Gangway inbound message relay benchmark\n");

    let world = SignupWorld::new().await;
    let (url, arrivals) = sink().await?;
    let body = json!({ "url": url, "events": ["message.received"] });
    let (status, created) = world
        .api
        .call(reqwest::Method::POST, "/v1/webhooks", &world.key, Some(body))
        .await;
    anyhow::ensure!(status == 201, "creating the endpoint: {created}");
    connect(&world, "cus_bench").await;
    let mut dispatcher_env = world.env.process_env();
    dispatcher_env.retain(|(k, _)| k != "GANGWAY_LOG");
    dispatcher_env.extend([
        ("GANGWAY_LOG".to_owned(), "error".to_owned()),
        ("GANGWAY_WEBHOOK_ALLOW_HTTP".to_owned(), "true".to_owned()),
        ("GANGWAY_WEBHOOK_ALLOW_PRIVATE".to_owned(), "true".to_owned()),
    ]);
    let mut dispatcher = Command::new(gangway_testkit::binary("gangway-dispatcher"))
        .envs(dispatcher_env)
        .kill_on_drop(true)
        .spawn()?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stored_before = stored_events(&world).await?;

    let secret = world.api.state.meta.graph.app_secret.clone();
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    let endpoint = world.api.url("/meta/webhooks");
    let total = rate * seconds;
    let refused = Arc::new(AtomicU64::new(0));
    let start = Instant::now() + Duration::from_millis(100);
    let mut due = Vec::with_capacity(total as usize);
    let mut sending = Vec::with_capacity(total as usize);
    for n in 0..total {
        let at = start + Duration::from_secs_f64(n as f64 / rate as f64);
        due.push(at);
        tokio::time::sleep_until(at.into()).await;
        let body = notification(n);
        let request = http
            .post(&endpoint)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sign(&secret, &body))
            .body(body);
        let refused = refused.clone();
        sending.push(tokio::spawn(async move {
            match request.send().await {
                Ok(answer) if answer.status().is_success() => {}
                _ => {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let sent_in = start.elapsed();
    for task in sending {
        let _ = task.await;
    }
    let all_in = start.elapsed();
    let delivered = || arrivals.lock().expect("lock").len() as u64;
    let wait = Duration::from_secs(120);
    let complete = tokio::time::timeout(
        wait,
        wait_until("every message delivered", wait, || async { delivered() >= total }),
    )
    .await
    .is_ok();
    let stored_after = stored_events(&world).await?;
    let _ = dispatcher.kill().await;

    let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let arrivals = arrivals.lock().expect("lock").clone();
    for (n, at) in due.iter().enumerate() {
        if let Some(received) = arrivals.get(&format!("wamid.BENCH{n}")) {
            let micros = received.saturating_duration_since(*at).as_micros().max(1) as u64;
            latency.saturating_record(micros);
        }
    }
    println!(
        "{total} messages at {rate}/s for {seconds} s (last sent at {:.1} s, last answered at {:.1} s)",
        sent_in.as_secs_f64(),
        all_in.as_secs_f64()
    );
    println!(
        "  answered 200: {}, refused or failed: {}",
        total - refused.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed)
    );
    println!(
        "  delivered to the endpoint: {} of {total}{}",
        arrivals.len(),
        if complete { "" } else { " (gave up waiting)" }
    );
    println!(
        "  due → webhook received: p50 {:.1} ms  p99 {:.1} ms  p99.9 {:.1} ms  max {:.1} ms",
        ms(latency.value_at_quantile(0.5)),
        ms(latency.value_at_quantile(0.99)),
        ms(latency.value_at_quantile(0.999)),
        ms(latency.max())
    );
    println!(
        "  event store: {stored_before} events before, {stored_after} after ({} added by message traffic)",
        stored_after - stored_before
    );
    let p99 = ms(latency.value_at_quantile(0.99));
    println!("\n| measure | result | target |");
    println!("| --- | --- | --- |");
    println!("| delivered of {total} at {rate}/s | {} | all |", arrivals.len());
    println!("| due → received p99 | {p99:.1} ms | < 1,000 ms |");
    println!(
        "| event store growth | {} events | 0 |",
        stored_after - stored_before
    );
    Ok(())
}

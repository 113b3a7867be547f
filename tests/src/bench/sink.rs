//! The webhook sink: an axum server on loopback that answers 200 at once and counts what arrives,
//! and the load generator that measures its raw request rate (the baseline).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::Router;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::DropGuard;
use uuid::Uuid;

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    /// Nanoseconds after `Sink::epoch` of the first and last request; 0 = none yet.
    first: AtomicU64,
    last: AtomicU64,
    /// Whether to note when each link's webhook arrived (the latency phase only, so the
    /// baseline and throughput phases do the same cheap work per request).
    record_links: AtomicBool,
    links: Mutex<HashMap<Uuid, Instant>>,
    /// Distinct `webhook-id`s: a message sent twice (at-least-once) is one delivery.
    ids: Mutex<HashSet<String>>,
}

struct SinkState {
    epoch: Instant,
    counters: Counters,
}

async fn receive(State(state): State<Arc<SinkState>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let now = Instant::now();
    let counters = &state.counters;
    let at = (now - state.epoch).as_nanos() as u64;
    let _ = counters
        .first
        .compare_exchange(0, at, Ordering::Relaxed, Ordering::Relaxed);
    counters.last.fetch_max(at, Ordering::Relaxed);
    counters.requests.fetch_add(1, Ordering::Relaxed);
    if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
        counters.ids.lock().expect("lock").insert(id.to_owned());
    }
    if counters.record_links.load(Ordering::Relaxed) {
        let link = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["data"]["onboardingLinkId"].as_str()?.parse().ok());
        if let Some(link) = link {
            counters.links.lock().expect("lock").entry(link).or_insert(now);
        }
    }
    StatusCode::OK
}

/// Counts requests on every path of one loopback port; stopped when dropped.
pub struct Sink {
    pub base_url: String,
    state: Arc<SinkState>,
    _stop: DropGuard,
}

impl Sink {
    pub async fn start() -> anyhow::Result<Self> {
        let state = Arc::new(SinkState {
            epoch: Instant::now(),
            counters: Counters::default(),
        });
        let app = Router::new().fallback(receive).with_state(state.clone());
        let (base_url, stop) = crate::serve_on_loopback(app).await?;
        Ok(Self {
            base_url,
            state,
            _stop: stop,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Forgets every request so far.
    pub fn reset(&self) {
        let c = &self.state.counters;
        c.requests.store(0, Ordering::Relaxed);
        c.first.store(0, Ordering::Relaxed);
        c.last.store(0, Ordering::Relaxed);
        c.links.lock().expect("lock").clear();
        c.ids.lock().expect("lock").clear();
    }

    /// Distinct `webhook-id`s received since the last reset.
    pub fn distinct(&self) -> u64 {
        self.state.counters.ids.lock().expect("lock").len() as u64
    }

    pub fn requests(&self) -> u64 {
        self.state.counters.requests.load(Ordering::Relaxed)
    }

    /// When the last request since the last reset arrived.
    pub fn last_request(&self) -> Option<Instant> {
        let last = self.state.counters.last.load(Ordering::Relaxed);
        (last > 0).then(|| self.state.epoch + Duration::from_nanos(last))
    }

    /// From the first to the last request since the last reset.
    pub fn span(&self) -> Duration {
        let c = &self.state.counters;
        let (first, last) = (c.first.load(Ordering::Relaxed), c.last.load(Ordering::Relaxed));
        Duration::from_nanos(last.saturating_sub(first))
    }

    pub fn record_links(&self, on: bool) {
        self.state.counters.record_links.store(on, Ordering::Relaxed);
    }

    /// When each link's first webhook arrived (while recording).
    pub fn link_arrivals(&self) -> HashMap<Uuid, Instant> {
        self.state.counters.links.lock().expect("lock").clone()
    }
}

/// A webhook as the dispatcher sends it: an `onboarding_link.completed` body (the largest of the
/// catalog's link events) with the Standard Webhooks and CloudEvents headers.
fn typical_webhook() -> (HeaderMap, String) {
    let body = serde_json::json!({
        "event": "onboarding_link.completed",
        "timestamp": "2026-11-28T10:00:00.000Z",
        "organizationId": Uuid::now_v7(),
        "data": {
            "onboardingLinkId": Uuid::now_v7(), "externalId": "customer-4711",
            "phoneNumberId": Uuid::now_v7(), "phoneNumber": "+4915112345678",
            "wabaId": Uuid::now_v7(), "metaWabaId": "102290129340398", "isPhoneRegistered": true
        }
    })
    .to_string();
    let id = format!("msg_{}", Uuid::now_v7().simple());
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("webhook-id", id.as_str()),
        ("webhook-timestamp", "1795860000"),
        (
            "webhook-signature",
            "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
        ),
        ("ce-specversion", "1.0"),
        ("ce-id", id.as_str()),
        ("ce-type", "onboarding_link.completed"),
        (
            "ce-source",
            "/gangway/organizations/0190f5c2-8a4e-7c1b-9a0e-3d2f1b6c7a88",
        ),
        ("ce-time", "2026-11-28T10:00:00.000Z"),
        ("content-type", "application/json"),
        ("user-agent", "Gangway-Webhooks/1"),
    ] {
        headers.insert(name, HeaderValue::from_str(value).expect("header value"));
    }
    (headers, body)
}

/// Requests/s the sink answers to `connections` keep-alive connections POSTing typical webhooks
/// over `paths` for `seconds`: what this machine allows a webhook sender at best.
pub async fn baseline(
    sink: &Sink,
    paths: &[String],
    connections: usize,
    seconds: u64,
) -> anyhow::Result<f64> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()?;
    let (headers, body) = typical_webhook();
    let stop = Arc::new(AtomicBool::new(false));
    sink.reset();
    let mut tasks = Vec::new();
    for worker in 0..connections {
        let url = sink.url(&paths[worker % paths.len()]);
        let (http, headers, body, stop) = (http.clone(), headers.clone(), body.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let response = http
                    .post(&url)
                    .headers(headers.clone())
                    .body(body.clone())
                    .send()
                    .await?;
                anyhow::ensure!(
                    response.status() == 200,
                    "the sink answered {}",
                    response.status()
                );
                response.bytes().await?;
            }
            anyhow::Ok(())
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await??;
    }
    let rate = sink.requests() as f64 / sink.span().as_secs_f64();
    sink.reset();
    Ok(rate)
}

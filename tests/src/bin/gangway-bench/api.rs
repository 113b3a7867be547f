//! `POST /v1/onboarding-links` with the body an integrator sends (name, external id, redirect,
//! theme, and a webhook whose secret is sealed in the vault), against the whole system on this
//! machine: the release api (with its relay), projector and dispatcher as processes with their
//! defaults. Closed loop for the throughput, open loop for the latency; then closed loop again for
//! links to returning customers (each has a pending link, which the new one revokes). The
//! throughputs are also given against pgbench's single-row INSERT measured in the same run, since
//! this machine kind's speed swings from hour to hour.

use crate::{pgbench_tps, Script, WRITERS};
use anyhow::{bail, Context};
use gangway_e2e::bench::cpu::CpuTimes;
use gangway_e2e::bench::services::{Api, Service};
use gangway_e2e::bench::{histogram, open_loop, quantiles};
use gangway_testkit::TestEnv;
use hdrhistogram::Histogram;
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Organizations the load is spread over, each with its own API key: the default rate limit
/// (100 requests/s per key and process) stays in force, as a deployment serving many
/// integrators has it, and no key comes near it.
const ORGANIZATIONS: usize = 64;

/// Customers the returning-customer load cycles through, spread over the organizations.
const RETURNING: u64 = 1_000;

/// Whom a link is for.
#[derive(Clone, Copy)]
enum Customers {
    /// A new customer per link.
    New,
    /// One of [`RETURNING`] customers that already have a link.
    Returning,
}

/// The whole system, and the keys of its organizations.
struct System {
    api: Api,
    keys: Vec<String>,
    _projector: Service,
    _dispatcher: Service,
}

impl System {
    async fn start(env: &TestEnv) -> anyhow::Result<Self> {
        let api = Api::start(env, None).await?;
        let mut keys = Vec::with_capacity(ORGANIZATIONS);
        for n in 0..ORGANIZATIONS {
            keys.push(api.organization(&format!("integrator {n}")).await?.1);
        }
        Ok(Self {
            _projector: Service::start("gangway-projector", env.process_env())?,
            _dispatcher: Service::start("gangway-dispatcher", env.process_env())?,
            api,
            keys,
        })
    }

    async fn create_link(&self, n: u64) -> anyhow::Result<()> {
        self.create_link_for(n, Customers::New).await
    }

    async fn create_link_for(&self, n: u64, customers: Customers) -> anyhow::Result<()> {
        let (n, customer) = match customers {
            Customers::New => (n, format!("customer-{n}")),
            Customers::Returning => (n % RETURNING, format!("returning-{}", n % RETURNING)),
        };
        let key = &self.keys[n as usize % self.keys.len()];
        let response = self
            .api
            .http
            .post(format!("{}/v1/onboarding-links", self.api.base_url))
            .bearer_auth(key)
            .json(&json!({
                "name": format!("Customer {n}"),
                "externalId": customer,
                "redirectUrl": "https://app.example.com/whatsapp/done",
                "theme": {
                    "primaryColor": "#1A73E8",
                    "logoUrl": "https://cdn.example.com/logo.png",
                    "companyName": "Example SaaS"
                },
                "webhookUrl": "https://hooks.example.com/whatsapp",
                "webhookSecret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "webhookEvents": ["phone_number.connected", "whatsapp.phone_number.created"]
            }))
            .send()
            .await?;
        let status = response.status();
        response.bytes().await?;
        if status != 201 {
            bail!("create link answered {status}");
        }
        Ok(())
    }
}

/// Runs both loads on one system and prints their numbers.
pub async fn create_links(seconds: u64, connections: usize, rate: u64) -> anyhow::Result<()> {
    let env = TestEnv::new().await;
    let system = Arc::new(System::start(&env).await?);
    // Warm up the connections and the statement caches.
    for n in 0..200 {
        system.create_link(u64::MAX - n).await?;
    }
    let baseline = pgbench_tps(seconds, Script::PlainInsert).await?;
    println!("pgbench single-row INSERT, {WRITERS} clients, this run: {baseline:>6.0} tx/s (baseline)");

    let latency = measured_closed_loop(
        &system,
        (seconds, baseline),
        connections,
        Customers::New,
        "POST /v1/onboarding-links",
        "  (target ≥ 2,000 req/s)",
    )
    .await?;

    let offset = latency.len() + 1_000;
    let load = system.clone();
    let open = open_loop::run(rate, seconds, connections, move |n| {
        let load = load.clone();
        async move { load.create_link(offset + n).await }
    })
    .await;
    println!(
        "POST /v1/onboarding-links, open loop at {rate}/s, {connections} connections: {}  (target p99 < 15 ms); {} of {} failed; last sent {:.1} ms behind its schedule",
        quantiles(&open.latency),
        open.failed,
        open.sent,
        open.behind.as_secs_f64() * 1e3
    );

    for n in 0..RETURNING {
        system.create_link_for(n, Customers::Returning).await?;
    }
    let what = format!(
        "POST /v1/onboarding-links for {RETURNING} returning customers (each new link revokes the last)"
    );
    measured_closed_loop(
        &system,
        (seconds, baseline),
        connections,
        Customers::Returning,
        &what,
        "",
    )
    .await?;
    Ok(())
}

/// The closed loop with the CPU every process used and its rate against `baseline` (tx/s),
/// printed; its latencies.
async fn measured_closed_loop(
    system: &Arc<System>,
    (seconds, baseline): (u64, f64),
    connections: usize,
    customers: Customers,
    what: &str,
    target: &str,
) -> anyhow::Result<Histogram<u64>> {
    let cpu = CpuTimes::now();
    let (rps, latency) = closed_loop(system, seconds, connections, customers).await?;
    let used = CpuTimes::now().since(&cpu);
    println!(
        "{what}, closed loop, {connections} connections: {rps:>6.0} req/s = {:.0} % of the baseline  {}{target}",
        100.0 * rps / baseline,
        quantiles(&latency)
    );
    let per_request = used.total().as_secs_f64() * 1e6 / latency.len() as f64;
    println!("  CPU: {} = {per_request:.0} µs per link", used.describe());
    Ok(latency)
}

async fn closed_loop(
    system: &Arc<System>,
    seconds: u64,
    connections: usize,
    customers: Customers,
) -> anyhow::Result<(f64, Histogram<u64>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (system, stop, next) = (system.clone(), stop.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut latency = histogram();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                system
                    .create_link_for(next.fetch_add(1, Ordering::Relaxed), customers)
                    .await?;
                latency.saturating_record(started.elapsed().as_micros().max(1) as u64);
            }
            anyhow::Ok(latency)
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = histogram();
    for task in tasks {
        all.add(task.await?.context("closed-loop worker")?)?;
    }
    Ok((all.len() as f64 / started.elapsed().as_secs_f64(), all))
}

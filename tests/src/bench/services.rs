//! The release api (with its relay) and dispatcher as child processes, their memory, and the
//! organization and endpoints a phase delivers to, made through the api as a customer would.

use crate::wait_until;
use anyhow::Context;
use gangway_domain::OrganizationId;
use gangway_testkit::TestEnv;
use serde_json::json;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

const ADMIN_TOKEN: &str = "bench-admin";

/// A Gangway binary as a child process, killed when dropped.
pub struct Service {
    name: &'static str,
    env: Vec<(String, String)>,
    child: Child,
}

impl Service {
    pub fn start(name: &'static str, mut env: Vec<(String, String)>) -> anyhow::Result<Self> {
        // Their start-up warnings (development keys, no Meta app) would interleave with the numbers.
        env.retain(|(k, _)| k != "GANGWAY_LOG");
        env.push(("GANGWAY_LOG".into(), "error".into()));
        let child = spawn(name, &env)?;
        Ok(Self { name, env, child })
    }

    /// SIGKILL; [`Service::start_again`] brings it back with the same settings.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        Ok(self.child.kill().await?)
    }

    pub fn start_again(&mut self) -> anyhow::Result<()> {
        self.child = spawn(self.name, &self.env)?;
        Ok(())
    }

    /// Resident memory now, from /proc/<pid>/status, in MiB.
    pub fn rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()?)).ok()?;
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib / 1024.0)
    }
}

fn spawn(name: &str, env: &[(String, String)]) -> anyhow::Result<Child> {
    Command::new(gangway_testkit::binary(name))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {name}"))
}

/// How the processes are set: the shipped defaults (what users get), or polls shortened to
/// compare against them. Either way endpoints may be `http://` and on loopback, since the
/// benchmark's sink is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tuning {
    Defaults,
    /// The relay polls every 1 ms (default 10) and the dispatcher every 20 ms (default 200).
    ShortPolls,
}

impl Tuning {
    pub fn relay_poll_ms(self) -> Option<u64> {
        match self {
            Self::Defaults => None,
            Self::ShortPolls => Some(1),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::Defaults => "shipped defaults",
            Self::ShortPolls => "short polls (relay 1 ms, dispatcher 20 ms)",
        }
    }
}

/// The api with its relay, accepting http:// and loopback endpoint URLs; `relay_poll_ms` is how
/// often its relay looks for events appended by other processes (when no wake-up came).
pub struct Api {
    pub process: Service,
    pub base_url: String,
    pub http: reqwest::Client,
}

impl Api {
    pub async fn start(env: &TestEnv, relay_poll_ms: Option<u64>) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut vars = env.process_env();
        vars.extend(
            [
                ("GANGWAY_API_ADDR", format!("127.0.0.1:{port}")),
                ("GANGWAY_ADMIN_TOKEN", ADMIN_TOKEN.into()),
                ("GANGWAY_WEBHOOK_ALLOW_HTTP", "true".into()),
                ("GANGWAY_WEBHOOK_ALLOW_PRIVATE", "true".into()),
                // The benchmark's links expire by its own appends, not by the sweep.
                ("GANGWAY_EXPIRY_SWEEP_SECONDS", "0".into()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        if let Some(ms) = relay_poll_ms {
            vars.push(("GANGWAY_RELAY_POLL_MS".into(), ms.to_string()));
        }
        let api = Self {
            process: Service::start("gangway-api", vars)?,
            base_url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        wait_until("the api to be ready", Duration::from_secs(30), || {
            let request = api.http.get(format!("{}/readyz", api.base_url)).send();
            async move { request.await.is_ok_and(|r| r.status().is_success()) }
        })
        .await;
        Ok(api)
    }

    /// A new organization and its API key.
    pub async fn organization(&self, name: &str) -> anyhow::Result<(OrganizationId, String)> {
        let body: serde_json::Value = self
            .http
            .post(format!("{}/admin/organizations", self.base_url))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "name": name }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let id = body["data"]["id"].as_str().context("organization id")?.parse()?;
        let key = body["data"]["apiKey"].as_str().context("api key")?.to_owned();
        Ok((OrganizationId::from_uuid(id), key))
    }

    /// `POST /v1/webhooks`: an endpoint for expired links at `url`.
    pub async fn endpoint(&self, key: &str, url: &str) -> anyhow::Result<()> {
        self.http
            .post(format!("{}/v1/webhooks", self.base_url))
            .bearer_auth(key)
            .json(&json!({
                "url": url,
                "events": ["onboarding_link.expired"],
                "secret": "bench-webhook-secret-of-some-length"
            }))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
}

/// The dispatcher (http and loopback endpoints allowed), started once `endpoints` endpoints are
/// in the store, and returned when it has taken all of them in.
pub async fn start_dispatcher(env: &TestEnv, endpoints: i64, tuning: Tuning) -> anyhow::Result<Service> {
    let mut vars = env.process_env();
    vars.extend(
        [
            ("GANGWAY_WEBHOOK_ALLOW_HTTP", "true"),
            ("GANGWAY_WEBHOOK_ALLOW_PRIVATE", "true"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    if tuning == Tuning::ShortPolls {
        vars.push(("GANGWAY_DISPATCH_POLL_MS".into(), "20".into()));
    }
    let dispatcher = Service::start("gangway-dispatcher", vars)?;
    wait_for_endpoints(env, endpoints).await;
    Ok(dispatcher)
}

pub async fn wait_for_endpoints(env: &TestEnv, endpoints: i64) {
    wait_until(
        "the dispatcher to take in the endpoints",
        Duration::from_secs(30),
        || async {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM dispatch_endpoints WHERE enabled")
                .fetch_one(&env.pool)
                .await
                .is_ok_and(|n| n >= endpoints)
        },
    )
    .await;
}

/// The most resident memory of `service` over `period`, sampled every 100 ms.
pub async fn max_rss(service: &Service, period: Duration) -> f64 {
    let mut max: f64 = 0.0;
    let deadline = tokio::time::Instant::now() + period;
    while tokio::time::Instant::now() < deadline {
        max = max.max(service.rss_mib().unwrap_or(0.0));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    max
}

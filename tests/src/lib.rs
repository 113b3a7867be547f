//! Helpers for the end-to-end tests: the api in-process on port 0, the real binaries as child
//! processes, JetStream readers and condition waits with deadlines.

pub mod bench;
pub mod browser;
pub mod cluster;
pub mod console;
pub mod contract;
pub mod dispatch;
pub mod hosted_signup;
pub mod load;
pub mod meta_traffic;
pub mod private_servers;
pub mod python_tools;
pub mod signup;
pub mod standard_webhooks;

use anyhow::Context;
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use futures::StreamExt;
use gangway_api::config::ApiConfig;
use gangway_api::Application;
use gangway_bus::{decode_event, Bus};
use gangway_event_store::RecordedEvent;
use gangway_testkit::TestEnv;
use serde_json::{json, Value};
use std::future::Future;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub const ADMIN_TOKEN: &str = "test-admin-token-of-at-least-32-characters";

/// Polls `condition` until it holds or `timeout` passes; panics with `what` on timeout.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !condition().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Serves `app` on a free loopback port until the returned guard is dropped; returns its base URL.
pub async fn serve_on_loopback(app: axum::Router) -> anyhow::Result<(String, tokio_util::sync::DropGuard)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base_url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
    });
    Ok((base_url, cancel.drop_guard()))
}

/// A benchmark setting: the environment variable `name` if it is set and parses, else `default`.
pub fn bench_setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Api configuration for a test: its own database and stream, port 0, a known admin token.
pub fn api_config(env: &TestEnv) -> ApiConfig {
    let mut config: ApiConfig = gangway_config::from_env().expect("api configuration");
    config.infra.database_url = env.database_url.clone();
    config.infra.nats_url = env.nats_url.clone();
    config.infra.nats_stream = env.names.stream.clone();
    config.infra.nats_subject_prefix = env.names.subject_prefix.clone();
    config.infra.nats_message_stream = env.names.message_stream.clone();
    config.infra.nats_message_subject_prefix = env.names.message_subject_prefix.clone();
    config.infra.database_max_connections = 10;
    config.api_addr = "127.0.0.1:0".parse().expect("socket address");
    config.admin_token = ADMIN_TOKEN.parse().expect("token");
    config.environment = gangway_config::Environment::Development;
    // Tests drive one key hard and refresh health on demand; those limits have tests of their own.
    config.rate_limit_per_second = 0;
    config.health_refresh_seconds = 0;
    // Tests that want the health monitor turn it on; elsewhere it would add events to phones.
    config.health_check_seconds = 0;
    config
}

/// [`api_config`] in production mode, with the settings production requires (an encryption key,
/// a Meta app) filled with test values.
pub fn production_api_config(env: &TestEnv) -> ApiConfig {
    let mut config = api_config(env);
    config.environment = gangway_config::Environment::Production;
    config.encryption_keys = "k1:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="
        .parse()
        .expect("a key ring");
    config.encryption_key_id = "k1".into();
    config.meta.app_id = "1234".into();
    config.meta.app_secret = "app-secret".parse().expect("a secret");
    config.meta.config_id = "config".into();
    config
}

/// The real api (router, relay and all) serving on a free loopback port.
pub struct TestApi {
    pub base_url: String,
    /// The running api's state, for calling its step functions directly.
    pub state: gangway_api::state::AppState,
    pub http: reqwest::Client,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestApi {
    pub async fn spawn(env: &TestEnv) -> Self {
        Self::spawn_with(api_config(env)).await
    }

    pub async fn spawn_with(config: ApiConfig) -> Self {
        let app = Application::build(config).await.expect("building the api");
        let base_url = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(app.run(cancel.clone()));
        Self {
            base_url,
            state,
            http: reqwest::Client::new(),
            cancel,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Creates an organization through the admin API; returns (id, API key).
    pub async fn create_org(&self, name: &str) -> (String, String) {
        let response = self
            .http
            .post(self.url("/admin/organizations"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "name": name }))
            .send()
            .await
            .expect("admin request");
        assert_eq!(response.status(), 201, "creating an organization");
        let body: Value = response.json().await.expect("json");
        (
            body["data"]["id"].as_str().expect("id").to_owned(),
            body["data"]["apiKey"].as_str().expect("apiKey").to_owned(),
        )
    }

    /// `GET path` without credentials, as JSON (`/openapi.json`, `/healthz`).
    pub async fn public_json(&self, path: &str) -> Value {
        let response = self.http.get(self.url(path)).send().await.expect("api request");
        response.json().await.expect("a JSON body")
    }

    /// Sends a request with an API key and returns (status, JSON body or Null).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("api request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `POST /v1/onboarding-links` with `body`.
    pub async fn create_link(&self, key: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, "/v1/onboarding-links", key, Some(body))
            .await
    }

    /// `GET /v1/onboarding-links/{id}`.
    pub async fn get_link(&self, key: &str, id: &str) -> (u16, Value) {
        self.call(
            reqwest::Method::GET,
            &format!("/v1/onboarding-links/{id}"),
            key,
            None,
        )
        .await
    }

    /// `GET /v1/onboarding-links/{id}/events`.
    pub async fn link_events(&self, key: &str, id: &str) -> (u16, Value) {
        self.call(
            reqwest::Method::GET,
            &format!("/v1/onboarding-links/{id}/events"),
            key,
            None,
        )
        .await
    }

    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.task.await;
    }
}

/// A Gangway binary running as a child process, killed with SIGKILL when dropped.
pub struct ChildProcess {
    name: String,
    env: Vec<(String, String)>,
    child: Child,
}

impl ChildProcess {
    pub fn start(name: &str, env: Vec<(String, String)>) -> Self {
        let child = Self::spawn(name, &env);
        Self {
            name: name.to_owned(),
            env,
            child,
        }
    }

    fn spawn(name: &str, env: &[(String, String)]) -> Child {
        Command::new(gangway_testkit::binary(name))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown hooks, no final checkpoint.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn restart(&mut self) {
        self.kill();
        self.child = Self::spawn(&self.name, &self.env);
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How many messages the events stream holds.
pub async fn stream_message_count(bus: &Bus) -> u64 {
    match bus.ensure_stream().await {
        Ok(mut stream) => stream.info().await.map(|i| i.state.messages).unwrap_or(0),
        Err(_) => 0,
    }
}

/// Every event in the stream, in stream order, read with a throw-away consumer.
pub async fn read_stream(bus: &Bus) -> anyhow::Result<Vec<(u64, RecordedEvent)>> {
    let total = stream_message_count(bus).await;
    let stream = bus.ensure_stream().await?;
    let consumer = stream
        .create_consumer(pull::Config {
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::None,
            inactive_threshold: Duration::from_secs(60),
            ..Default::default()
        })
        .await
        .context("creating a reader consumer")?;
    let mut events = Vec::with_capacity(total as usize);
    while (events.len() as u64) < total {
        let mut batch = consumer
            .fetch()
            .max_messages(1_000)
            .expires(Duration::from_secs(2))
            .messages()
            .await
            .context("fetching")?;
        let before = events.len();
        while let Some(message) = batch.next().await {
            let message = message.map_err(|e| anyhow::anyhow!("{e}"))?;
            let sequence = message
                .info()
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .stream_sequence;
            events.push((sequence, decode_event(&message.payload)?));
        }
        anyhow::ensure!(events.len() > before, "stream reader made no progress");
    }
    Ok(events)
}

/// Runs the projector in this process until the returned token is cancelled.
pub fn spawn_projector(env: &TestEnv, bus: Bus) -> CancellationToken {
    let cancel = CancellationToken::new();
    let projector = gangway_projector::Projector::new(env.pool.clone(), "projector");
    tokio::spawn({
        let cancel = cancel.clone();
        async move { projector.run(&bus, cancel).await }
    });
    cancel
}

/// Waits until every event in the store is on the stream and the projector's durable consumer
/// has nothing pending or unacknowledged.
pub async fn wait_for_projection(env: &TestEnv, bus: &Bus) {
    let pool = env.pool.clone();
    wait_until("the projector to catch up", Duration::from_secs(60), || {
        let pool = pool.clone();
        async move {
            let store_count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
                .fetch_one(&pool)
                .await
                .unwrap_or(-1);
            if stream_message_count(bus).await as i64 != store_count {
                return false;
            }
            let Ok(mut consumer) = bus.projector_consumer("projector").await else {
                return false;
            };
            match consumer.info().await {
                Ok(info) => info.num_pending == 0 && info.num_ack_pending == 0,
                Err(_) => false,
            }
        }
    })
    .await;
}

/// Runs `gangway <args>` against a test environment and returns its standard output.
pub fn run_cli(env: &TestEnv, args: &[&str]) -> String {
    let output = Command::new(gangway_testkit::binary("gangway"))
        .args(args)
        .envs(env.process_env())
        .output()
        .expect("running gangway");
    assert!(
        output.status.success(),
        "gangway {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The meta sandbox serving on a free loopback port in this process, stopped when dropped.
pub struct TestSandbox {
    pub base_url: String,
    pub config: gangway_meta_sandbox::SandboxConfig,
    pub http: reqwest::Client,
    _stop: tokio_util::sync::DropGuard,
}

impl TestSandbox {
    pub async fn spawn() -> Self {
        Self::spawn_with(Self::config()).await
    }

    /// The sandbox's settings from the environment, on a free port.
    pub fn config() -> gangway_meta_sandbox::SandboxConfig {
        let mut config: gangway_meta_sandbox::SandboxConfig =
            gangway_config::from_env().expect("sandbox configuration");
        config.addr = "127.0.0.1:0".parse().expect("socket address");
        config
    }

    pub async fn spawn_with(config: gangway_meta_sandbox::SandboxConfig) -> Self {
        let server = gangway_meta_sandbox::SandboxServer::build(config.clone())
            .await
            .expect("building the sandbox");
        let base_url = format!("http://127.0.0.1:{}", server.port());
        let cancel = CancellationToken::new();
        tokio::spawn(server.run(cancel.clone()));
        Self {
            base_url,
            config,
            http: reqwest::Client::new(),
            _stop: cancel.drop_guard(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// `POST` a JSON body to a sandbox path; returns (status, JSON body or Null).
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("sandbox request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

//! Webhook delivery in tests: a receiver on loopback that records what arrives and answers as
//! told, the dispatcher in-process with a compressed retry schedule, and endpoints.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use gangway_dispatcher::config::DispatcherConfig;
use gangway_dispatcher::Dispatcher;
use gangway_domain::catalog::EventType;
use gangway_domain::link::{LinkCreated, LinkEvent};
use gangway_domain::values::HttpUrl;
use gangway_domain::webhook::{EndpointCreated, EndpointEvent};
use gangway_domain::{EndpointId, LinkId, OrganizationId, WabaId};
use gangway_event_store::{EventMetadata, EventStore, ExpectedVersion, NewEvent, StreamAppend, StreamRef};
use gangway_testkit::TestEnv;
use serde_json::json;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }
}

#[derive(Default)]
struct ReceiverState {
    received: Vec<Received>,
    /// Statuses to answer with, in order; 200 once empty.
    script: VecDeque<u16>,
    /// Hold every request this long before answering.
    delay: Duration,
}

/// An HTTP receiver on 127.0.0.1; each path is an endpoint.
#[derive(Clone)]
pub struct Receiver {
    pub base_url: String,
    state: Arc<Mutex<ReceiverState>>,
    _stop: Arc<tokio_util::sync::DropGuard>,
}

async fn receive(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let (status, delay) = {
        let mut state = state.lock().unwrap();
        state.received.push(Received {
            path: uri.path().to_owned(),
            headers,
            body,
        });
        (state.script.pop_front().unwrap_or(200), state.delay)
    };
    tokio::time::sleep(delay).await;
    StatusCode::from_u16(status).unwrap_or(StatusCode::OK)
}

impl Receiver {
    pub async fn start() -> Self {
        Self::start_with(Vec::new(), Duration::ZERO).await
    }

    /// Answers `script` in order (then 200), each after `delay`.
    pub async fn start_with(script: Vec<u16>, delay: Duration) -> Self {
        let state = Arc::new(Mutex::new(ReceiverState {
            received: Vec::new(),
            script: script.into(),
            delay,
        }));
        let app = Router::new().fallback(post(receive)).with_state(state.clone());
        let (base_url, stop) = crate::serve_on_loopback(app).await.expect("bind receiver");
        Self {
            base_url,
            state,
            _stop: Arc::new(stop),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Everything received so far; the body of each of our webhooks (signed with a
    /// `webhook-id`, unlike the meta sandbox's notifications) must match the contract (see
    /// [`crate::contract`]), or the test fails here.
    pub fn received(&self) -> Vec<Received> {
        let received = self.state.lock().unwrap().received.clone();
        for request in received.iter().filter(|r| r.headers.contains_key("webhook-id")) {
            if let Err(problem) = crate::contract::check_webhook_body(&request.body) {
                panic!("a webhook body breaks the contract: {problem}");
            }
        }
        received
    }

    pub fn received_at(&self, path: &str) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.path == path).collect()
    }

    /// How many distinct `webhook-id`s arrived at `path` (without copying what arrived).
    pub fn distinct_ids_at(&self, path: &str) -> usize {
        let state = self.state.lock().unwrap();
        state
            .received
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.header("webhook-id"))
            .collect::<std::collections::HashSet<_>>()
            .len()
    }
}

/// Dispatcher settings for tests: loopback and http allowed, retries in tens of milliseconds.
pub fn dispatcher_config(env: &TestEnv) -> DispatcherConfig {
    let mut config: DispatcherConfig = gangway_config::from_env().expect("dispatcher configuration");
    config.infra.database_url = env.database_url.clone();
    config.infra.nats_url = env.nats_url.clone();
    config.infra.nats_stream = env.names.stream.clone();
    config.infra.nats_subject_prefix = env.names.subject_prefix.clone();
    config.infra.nats_message_stream = env.names.message_stream.clone();
    config.infra.nats_message_subject_prefix = env.names.message_subject_prefix.clone();
    config.infra.database_max_connections = 10;
    config.environment = gangway_config::Environment::Development;
    config.allow_http = Some(true);
    config.allow_private = true;
    config.retry_initial_ms = 50;
    config.retry_multiplier = 2.0;
    config.retry_max_ms = 400;
    config.attempt_timeout_ms = 2_000;
    config.poll_ms = 20;
    config.circuit_open_ms = 300;
    config
}

/// The same settings as environment variables, for the dispatcher binary.
pub fn dispatcher_env(env: &TestEnv) -> Vec<(String, String)> {
    let mut vars = env.process_env();
    vars.extend(
        [
            ("GANGWAY_WEBHOOK_ALLOW_HTTP", "true"),
            ("GANGWAY_WEBHOOK_ALLOW_PRIVATE", "true"),
            ("GANGWAY_DISPATCH_RETRY_INITIAL_MS", "50"),
            ("GANGWAY_DISPATCH_RETRY_MULTIPLIER", "2"),
            ("GANGWAY_DISPATCH_RETRY_MAX_MS", "400"),
            ("GANGWAY_DISPATCH_POLL_MS", "20"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    vars
}

/// Waits until the dispatcher (durable consumer `consumer`, "dispatcher" unless a test renamed
/// it) has done everything it will do with what happened so far: every event of the store is on
/// the stream, both of its consumers (events and relayed messages) have nothing left to deliver
/// or acknowledge, so every webhook message is recorded, and no recorded message is still
/// pending, so every attempt has been answered. The receiver keeps a request before it answers,
/// so after this it has every delivery it will get: a test that counts what did *not* arrive
/// waits for this first, instead of sleeping.
pub async fn wait_for_dispatcher(env: &TestEnv, consumer: &str) {
    wait_for_dispatcher_within(env, consumer, Duration::from_secs(30)).await
}

/// [`wait_for_dispatcher`], for as long as `timeout`.
pub async fn wait_for_dispatcher_within(env: &TestEnv, consumer: &str, timeout: Duration) {
    let bus = env.bus().await;
    let settled = || async {
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&env.pool)
            .await
            .unwrap_or(-1);
        if crate::stream_message_count(&bus).await as i64 != stored {
            return false;
        }
        for caught_up in [
            bus.dispatcher_consumer(consumer).await,
            bus.dispatcher_message_consumer(consumer).await,
        ] {
            let Ok(mut caught_up) = caught_up else {
                return false;
            };
            match caught_up.info().await {
                Ok(info) if info.num_pending == 0 && info.num_ack_pending == 0 => {}
                _ => return false,
            }
        }
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM webhook_messages WHERE status = 'pending'")
                .fetch_one(&env.pool)
                .await
                .unwrap_or(-1);
        pending == 0
    };
    crate::wait_until("the dispatcher to finish its work", timeout, settled).await;
}

/// Runs a dispatcher in this process until the returned token is cancelled or dropped.
pub async fn spawn_dispatcher(config: DispatcherConfig) -> tokio_util::sync::DropGuard {
    let dispatcher = Dispatcher::build(config).await.expect("building the dispatcher");
    let cancel = CancellationToken::new();
    tokio::spawn(dispatcher.run(cancel.clone()));
    cancel.drop_guard()
}

/// Registers an endpoint for `org` by appending its creation, as the endpoints API does; the
/// secret goes to the vault.
pub async fn create_endpoint(
    api: &crate::TestApi,
    org: OrganizationId,
    url: &str,
    event_types: &[&str],
    waba: Option<WabaId>,
    secret: &str,
) -> EndpointId {
    let state = &api.state.app;
    let secret_ref = state
        .vault
        .store(state.pool(), org, "webhook_secret", secret)
        .await
        .expect("vault");
    let id = EndpointId::new();
    let created = EndpointEvent::Created(Box::new(EndpointCreated {
        url: HttpUrl::parse(url).expect("url"),
        event_types: event_types
            .iter()
            .map(|t| EventType::parse(t).expect("a catalog event type"))
            .collect(),
        description: None,
        waba_id: waba,
        secret_ref,
        registered_by_link: None,
    }));
    let meta = EventMetadata {
        organization_id: org,
        causation_id: None,
        correlation_id: Uuid::now_v7(),
        occurred_at: gangway_app::now(),
    };
    state
        .store
        .append(
            &StreamRef::of::<EndpointEvent>(id.as_uuid()),
            ExpectedVersion::NoStream,
            vec![NewEvent::from_domain(&created, meta).expect("event")],
        )
        .await
        .expect("append endpoint");
    id
}

/// `count` links that were created and expired: one `onboarding_link.expired` webhook each.
pub async fn expired_links(api: &crate::TestApi, org: OrganizationId, count: usize) {
    let links: Vec<LinkId> = (0..count).map(|_| LinkId::new()).collect();
    for chunk in links.chunks(100) {
        append_expired_links(&api.state.app.store, org, chunk)
            .await
            .expect("appending expired links");
    }
}

/// Appends, in one transaction, the creation and expiry of each of `links`, as the api's expiry
/// sweep would: one `onboarding_link.expired` webhook each per subscribed endpoint. The relay
/// of whichever process polls this database publishes them.
pub async fn append_expired_links(
    store: &EventStore,
    org: OrganizationId,
    links: &[LinkId],
) -> anyhow::Result<()> {
    let expired = LinkEvent::Expired {
        customer: Some(Default::default()),
    };
    append_links(store, org, links, None, expired).await
}

/// Appends the creation of each of `links` (with `external_id`), then `last`.
pub async fn append_links(
    store: &EventStore,
    org: OrganizationId,
    links: &[LinkId],
    external_id: Option<&str>,
    last: LinkEvent,
) -> anyhow::Result<()> {
    let spec: LinkCreated = serde_json::from_value(json!({
        "customerId": null, "name": null, "externalId": external_id, "redirectUrl": null,
        "successRedirectUrl": null, "failureRedirectUrl": null,
        "expiresAt": chrono::Utc::now(), "allowedConnectionTypes": ["dedicated"],
        "theme": {}, "language": "en", "phoneProvisioning": {"enabled": false, "countries": []},
        "reconnectPhoneNumberId": null, "metadata": {}, "webhook": null
    }))?;
    let meta = EventMetadata {
        organization_id: org,
        causation_id: None,
        correlation_id: Uuid::now_v7(),
        occurred_at: gangway_app::now(),
    };
    let mut appends = Vec::with_capacity(links.len());
    for link in links {
        appends.push(StreamAppend {
            stream: StreamRef::of::<LinkEvent>(link.as_uuid()),
            expected: ExpectedVersion::NoStream,
            events: vec![
                NewEvent::from_domain(&LinkEvent::Created(Box::new(spec.clone())), meta.clone())?,
                NewEvent::from_domain(&last, meta.clone())?,
            ],
        });
    }
    // New streams only: one statement, as a single-stream command or the expiry sweep appends.
    store.append_new_streams(appends).await?;
    Ok(())
}

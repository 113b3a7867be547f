//! A whole deployment as real processes: `replicas` of each of api (with its relay), projector
//! and dispatcher, on a private JetStream server, with the meta sandbox in-process and a webhook
//! receiver. Tests kill, restart and compare it.

use crate::dispatch::Receiver;
use crate::load::{Onboarded, Tenant};
use crate::private_servers::PrivateNats;
use crate::{ChildProcess, TestSandbox, ADMIN_TOKEN};
use futures::StreamExt;
use gangway_testkit::TestEnv;
use gangway_webhook_signing::{verify_at, SigningKey, WebhookHeaders, DEFAULT_TOLERANCE};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Cluster {
    pub env: TestEnv,
    pub sandbox: TestSandbox,
    pub receiver: Receiver,
    /// Base URLs of the api replicas, in the order of their processes.
    pub api_urls: Vec<String>,
    processes: Mutex<Processes>,
    /// For asking the api what the clients' links became.
    http: reqwest::Client,
}

/// The processes a test kills and restarts while load runs through the cluster.
struct Processes {
    nats: PrivateNats,
    apis: Vec<ChildProcess>,
    projectors: Vec<ChildProcess>,
    dispatchers: Vec<ChildProcess>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Api,
    Projector,
    Dispatcher,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Cluster {
    pub async fn start(replicas: usize) -> Self {
        let nats = PrivateNats::start();
        let mut env = TestEnv::new().await;
        env.nats_url = nats.url();
        let sandbox = TestSandbox::spawn().await;
        let receiver = Receiver::start().await;
        let mut base = env.process_env();
        base.extend(vars(&[
            ("GANGWAY_ADMIN_TOKEN", ADMIN_TOKEN),
            ("GANGWAY_META_SANDBOX_URL", &sandbox.base_url),
            ("GANGWAY_WEBHOOK_ALLOW_HTTP", "true"),
            ("GANGWAY_WEBHOOK_ALLOW_PRIVATE", "true"),
            ("GANGWAY_HEALTH_CHECK_SECONDS", "0"),
        ]));
        // The dispatcher keeps its shipped retry, circuit breaker and poll settings. The
        // receiver always answers 200 at once, so an attempt fails only when its dispatcher dies
        // under it (the message is sent again when its lease, the 15 s attempt timeout plus 5 s,
        // runs out) or a stalled machine lets it time out; the default schedule tries again after
        // about 5, 20 and 80 s and gives up only after about a day, and the breaker parks an
        // endpoint for 30 s: all well inside the time `settle_and_verify` allows.
        let mut api_urls = Vec::new();
        let mut apis = Vec::new();
        for _ in 0..replicas {
            let port = free_port();
            let url = format!("http://127.0.0.1:{port}");
            let mut env = base.clone();
            env.extend(vars(&[
                ("GANGWAY_API_ADDR", &format!("127.0.0.1:{port}")),
                ("GANGWAY_PUBLIC_URL", &url),
            ]));
            apis.push(ChildProcess::start("gangway-api", env));
            api_urls.push(url);
        }
        let projectors = (0..replicas)
            .map(|_| ChildProcess::start("gangway-projector", base.clone()))
            .collect();
        let dispatchers = (0..replicas)
            .map(|_| ChildProcess::start("gangway-dispatcher", base.clone()))
            .collect();
        let cluster = Self {
            env,
            sandbox,
            receiver,
            api_urls,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("http client"),
            processes: Mutex::new(Processes {
                nats,
                apis,
                projectors,
                dispatchers,
            }),
        };
        cluster.wait_for_apis().await;
        cluster
    }

    /// Until every api replica answers `/readyz`.
    pub async fn wait_for_apis(&self) {
        let http = reqwest::Client::new();
        for url in &self.api_urls {
            crate::wait_until("the api to be ready", Duration::from_secs(60), || async {
                http.get(format!("{url}/readyz"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            })
            .await;
        }
    }

    /// SIGKILLs replica `index` of `role` and starts it again.
    pub fn restart(&self, role: Role, index: usize) {
        let mut processes = self.processes.lock().expect("processes");
        let replicas = match role {
            Role::Api => &mut processes.apis,
            Role::Projector => &mut processes.projectors,
            Role::Dispatcher => &mut processes.dispatchers,
        };
        replicas[index].restart();
    }

    /// SIGKILLs replica `index` of `role` for good.
    pub fn kill(&self, role: Role, index: usize) {
        let mut processes = self.processes.lock().expect("processes");
        match role {
            Role::Api => processes.apis[index].kill(),
            Role::Projector => processes.projectors[index].kill(),
            Role::Dispatcher => processes.dispatchers[index].kill(),
        }
    }

    /// Restarts the NATS server with its data: the processes must reconnect by themselves.
    pub async fn restart_nats(&self, down_for: Duration) {
        self.processes.lock().expect("processes").nats.stop();
        tokio::time::sleep(down_for).await;
        self.processes.lock().expect("processes").nats.spawn();
    }
}

/// What a run left behind, once everything has settled.
#[derive(Debug)]
pub struct Settled {
    pub events: usize,
    /// Links the api reports completed, of those the clients created.
    pub completed_links: usize,
    /// Distinct webhook messages the completions must produce.
    pub webhooks_expected: usize,
    /// Requests the receiver got.
    pub deliveries: usize,
    /// Deliveries beyond the first of a message (allowed: at least once).
    pub duplicate_deliveries: usize,
    /// Phones the api lists as connected.
    pub connected_phones: usize,
}

/// Which webhook a body is, as `(kind, onboarding link)`: a link's completion, or the connection
/// of its number (`phone_number.connected` the first time a number completes a link,
/// `phone_number.reconnected` after that).
fn message_key(body: &Value) -> (String, String) {
    let event = body["event"].as_str().unwrap_or_default();
    let kind = match event {
        "phone_number.connected" | "phone_number.reconnected" => "phone_number",
        other => other,
    };
    let link = body["data"]["onboardingLinkId"].as_str().unwrap_or_default();
    (kind.to_owned(), link.to_owned())
}

impl Cluster {
    /// `GET path` with `key` from the first api replica that answers (one may be down); panics
    /// on an answer other than 200 or 503.
    pub async fn get(&self, key: &str, path: &str) -> Value {
        for _round in 0..100 {
            for url in &self.api_urls {
                let Ok(response) = self
                    .http
                    .get(format!("{url}{path}"))
                    .bearer_auth(key)
                    .send()
                    .await
                else {
                    continue;
                };
                let status = response.status();
                if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
                    continue;
                }
                let body: Value = response.json().await.unwrap_or_default();
                assert_eq!(status, 200, "GET {path}: {body}");
                return body;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("no api replica answered GET {path}");
    }

    /// Waits until the run has settled and judges it by what the clients were told and what the
    /// receiver got at `path`:
    /// - JetStream holds exactly the store's events;
    /// - the links the clients created and the api now reports completed are the successful one
    ///   of each onboarding plus any abandoned attempt that completed all the same, each with
    ///   the onboarding's number, and the store has no other completion;
    /// - each completed link must give two webhooks, its completion and its number's connection
    ///   (`connected` for the first link of a number, `reconnected` for any later one): the
    ///   receiver's distinct `webhook-id`s are exactly these, each signed with the endpoint's
    ///   secret and naming the onboarding's link, number and customer; copies of one id (at
    ///   least once) carry the same message;
    /// - the read models equal a from-scratch replay, and the api lists one connected phone per
    ///   onboarding.
    pub async fn settle_and_verify(&self, tenant: &Tenant, path: &str, onboarded: &[Onboarded]) -> Settled {
        let pool = &self.env.pool;
        let bus = self.env.bus().await;
        let store_count = || async {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events")
                .fetch_one(pool)
                .await
                .expect("count events") as u64
        };
        crate::wait_until("every event on JetStream", Duration::from_secs(120), || async {
            crate::stream_message_count(&bus).await == store_count().await
        })
        .await;
        let stored: HashSet<uuid::Uuid> = sqlx::query_scalar("SELECT event_id FROM events")
            .fetch_all(pool)
            .await
            .expect("event ids")
            .into_iter()
            .collect();
        let published: HashSet<uuid::Uuid> = crate::read_stream(&bus)
            .await
            .expect("reading the stream")
            .into_iter()
            .map(|(_, e)| e.event_id)
            .collect();
        assert_eq!(published, stored, "JetStream holds exactly the store's events");

        // Which of the clients' links completed, as the api reports each (from its stream).
        let links: Vec<(usize, &String)> = onboarded
            .iter()
            .enumerate()
            .flat_map(|(i, o)| o.links().map(move |link| (i, link)))
            .collect();
        let answers: Vec<(usize, &String, Value)> = futures::stream::iter(links)
            .map(|(i, link)| async move {
                let body = self
                    .get(&tenant.key, &format!("/v1/onboarding-links/{link}"))
                    .await;
                (i, link, body["data"].clone())
            })
            .buffer_unordered(8)
            .collect()
            .await;
        let mut expected: HashMap<(String, String), usize> = HashMap::new();
        for (i, link, data) in answers {
            let onboarding = &onboarded[i];
            if data["status"] != "completed" {
                assert_ne!(
                    link, &onboarding.link,
                    "the client was told this link succeeded: {data}"
                );
                continue;
            }
            assert_eq!(
                (data["phoneNumberId"].as_str(), data["metaPhoneNumberId"].as_str()),
                (
                    Some(onboarding.phone_id.as_str()),
                    Some(onboarding.meta_phone.as_str())
                ),
                "each link of an onboarding connects its one number: {data}"
            );
            for kind in ["onboarding_link.completed", "phone_number"] {
                expected.insert((kind.to_owned(), link.clone()), i);
            }
        }
        let completed: HashSet<String> = expected.keys().map(|(_, link)| link.clone()).collect();
        let in_store: HashSet<String> = sqlx::query_scalar::<_, uuid::Uuid>(
            "SELECT stream_id FROM events WHERE event_type = 'onboarding_link.completed'",
        )
        .fetch_all(pool)
        .await
        .expect("completions")
        .into_iter()
        .map(|id| id.to_string())
        .collect();
        assert_eq!(
            in_store, completed,
            "the store's completions are the links the clients completed"
        );

        // Until every expected message may have arrived; then until the dispatcher has nothing
        // left to send, so that what did not arrive by then never will.
        let deadline = Instant::now() + Duration::from_secs(300);
        while self.receiver.distinct_ids_at(path) < expected.len() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        crate::dispatch::wait_for_dispatcher_within(&self.env, "dispatcher", Duration::from_secs(120)).await;

        let received = self.receiver.received_at(path);
        let key = SigningKey::from_secret(&tenant.secret).expect("signing key");
        let mut messages: HashMap<&str, &str> = HashMap::new();
        for delivery in &received {
            let headers =
                WebhookHeaders::from_lookup(|name| delivery.headers.get(name).and_then(|v| v.to_str().ok()))
                    .expect("signature headers");
            let sent_at = delivery.header("webhook-timestamp").parse().expect("timestamp");
            // The signature, whenever it was made: the run outlasts the replay window.
            verify_at(
                &key,
                &headers,
                delivery.body.as_bytes(),
                sent_at,
                DEFAULT_TOLERANCE,
            )
            .expect("signed with the endpoint's secret");
            let id = delivery.header("webhook-id");
            let first = *messages.entry(id).or_insert(&delivery.body);
            assert_eq!(first, delivery.body, "every copy of {id} is the same message");
        }
        let mut seen: HashMap<(String, String), &str> = HashMap::new();
        let mut connections = vec![0; onboarded.len()];
        let mut unexpected = Vec::new();
        for (id, body) in &messages {
            let body: Value = serde_json::from_str(body).expect("json body");
            let key = message_key(&body);
            let Some(&i) = expected.get(&key) else {
                unexpected.push(format!("{id}: {} of link {}", body["event"], key.1));
                continue;
            };
            let (data, onboarding) = (&body["data"], &onboarded[i]);
            assert_eq!(
                (data["phoneNumberId"].as_str(), data["externalId"].as_str()),
                (
                    Some(onboarding.phone_id.as_str()),
                    Some(onboarding.external_id.as_str())
                ),
                "{id}: {body}"
            );
            if body["event"] == "phone_number.connected" {
                connections[i] += 1;
            }
            if let Some(other) = seen.insert(key.clone(), id) {
                panic!("two messages, {other} and {id}, for {key:?}");
            }
        }
        let mut missing: Vec<_> = expected.keys().filter(|k| !seen.contains_key(*k)).collect();
        missing.sort();
        unexpected.sort();
        assert!(
            missing.is_empty() && unexpected.is_empty(),
            "{} of {} expected webhooks never arrived (first: {:?}); {} arrived that no completion \
             explains (first: {:?})",
            missing.len(),
            expected.len(),
            &missing[..missing.len().min(5)],
            unexpected.len(),
            &unexpected[..unexpected.len().min(5)],
        );
        for (onboarding, connected) in onboarded.iter().zip(&connections) {
            assert_eq!(
                *connected, 1,
                "one phone_number.connected for {onboarding:?}, any later completion reconnects"
            );
        }

        crate::wait_for_projection(&self.env, &bus).await;
        let compare = std::process::Command::new(gangway_testkit::binary("gangway"))
            .args(["replay", "--compare"])
            .envs(self.env.process_env())
            .output()
            .expect("running gangway replay --compare");
        assert!(
            compare.status.success(),
            "the read models differ from a replay:\n{}\n{}",
            String::from_utf8_lossy(&compare.stdout),
            String::from_utf8_lossy(&compare.stderr)
        );
        let phones = self.get(&tenant.key, "/v1/phones?status=connected").await;
        Settled {
            events: stored.len(),
            completed_links: completed.len(),
            webhooks_expected: expected.len(),
            deliveries: received.len(),
            duplicate_deliveries: received.len() - messages.len(),
            connected_phones: phones["pagination"]["total"].as_u64().expect("total") as usize,
        }
    }
}

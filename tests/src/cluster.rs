//! A whole deployment as real processes: `replicas` of each of api (with its relay), projector
//! and dispatcher, on a private JetStream server, with the meta sandbox in-process and a webhook
//! receiver. Tests kill, restart and compare it.

use crate::dispatch::Receiver;
use crate::private_servers::PrivateNats;
use crate::{ChildProcess, TestSandbox, ADMIN_TOKEN};
use gangway_testkit::TestEnv;
use std::sync::Mutex;
use std::time::Duration;

pub struct Cluster {
    pub env: TestEnv,
    pub sandbox: TestSandbox,
    pub receiver: Receiver,
    /// Base URLs of the api replicas, in the order of their processes.
    pub api_urls: Vec<String>,
    processes: Mutex<Processes>,
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
            ("GANGWAY_DISPATCH_RETRY_INITIAL_MS", "100"),
            ("GANGWAY_DISPATCH_RETRY_MULTIPLIER", "2"),
            ("GANGWAY_DISPATCH_RETRY_MAX_MS", "1000"),
            ("GANGWAY_DISPATCH_POLL_MS", "20"),
            // A machine stalled by the load may time out a few attempts: they must be retried
            // soon and never given up on.
            ("GANGWAY_DISPATCH_MAX_ATTEMPTS", "1000"),
            ("GANGWAY_DISPATCH_CIRCUIT_OPEN_MS", "500"),
        ]));
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
    pub completed_links: usize,
    pub webhooks_expected: usize,
    /// Deliveries beyond the first of a message (allowed: at least once).
    pub duplicate_deliveries: usize,
    /// Phones in the read model with status connected.
    pub connected_phones: usize,
}

impl Cluster {
    /// Waits until the run has settled and checks that nothing was lost: every event of the store
    /// on JetStream (and nothing else), the read models equal to a from-scratch replay, and every
    /// webhook message for the `per_completion` endpoint events of each completed link received
    /// at `path` at least once, under its own id, with no id the dispatcher did not record.
    pub async fn settle_and_verify(&self, path: &str, per_completion: usize) -> Settled {
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
        let stored: std::collections::HashSet<uuid::Uuid> = sqlx::query_scalar("SELECT event_id FROM events")
            .fetch_all(pool)
            .await
            .expect("event ids")
            .into_iter()
            .collect();
        let published: std::collections::HashSet<uuid::Uuid> = crate::read_stream(&bus)
            .await
            .expect("reading the stream")
            .into_iter()
            .map(|(_, e)| e.event_id)
            .collect();
        assert_eq!(published, stored, "JetStream holds exactly the store's events");

        let completed_links: i64 =
            sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'onboarding_link.completed'")
                .fetch_one(pool)
                .await
                .expect("completions");
        let expected = completed_links as usize * per_completion;
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        loop {
            let by_status: Vec<(String, i64, i32)> = sqlx::query_as(
                "SELECT status, count(*), max(attempts) FROM webhook_messages GROUP BY status ORDER BY status",
            )
            .fetch_all(pool)
            .await
            .expect("messages");
            let recorded: i64 = by_status.iter().map(|(_, n, _)| n).sum();
            let delivered = by_status
                .iter()
                .find(|(status, _, _)| status == "delivered")
                .map_or(0, |(_, n, _)| *n);
            if recorded as usize == expected && delivered == recorded {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "not every webhook was delivered: {expected} expected, by status (count, most \
                 attempts): {by_status:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let recorded: std::collections::HashSet<String> =
            sqlx::query_scalar::<_, uuid::Uuid>("SELECT id FROM webhook_messages")
                .fetch_all(pool)
                .await
                .expect("message ids")
                .into_iter()
                .map(|id| format!("msg_{}", id.simple()))
                .collect();
        let received = self.receiver.received_at(path);
        let ids: Vec<String> = received
            .iter()
            .map(|r| r.header("webhook-id").to_owned())
            .collect();
        let unique: std::collections::HashSet<String> = ids.iter().cloned().collect();
        assert_eq!(unique, recorded, "each recorded message received, none invented");

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
        let connected_phones: i64 =
            sqlx::query_scalar("SELECT count(*) FROM rm_phones WHERE status = 'connected'")
                .fetch_one(pool)
                .await
                .expect("phones");
        Settled {
            connected_phones: connected_phones as usize,
            events: stored.len(),
            completed_links: completed_links as usize,
            webhooks_expected: expected,
            duplicate_deliveries: ids.len() - unique.len(),
        }
    }
}

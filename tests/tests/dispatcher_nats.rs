//! NATS restarted while events flow: the relay and the dispatcher reconnect by themselves and
//! every webhook arrives, with no process restarted. Runs its own nats-server, so restarting it
//! disturbs no other test.

use gangway_domain::OrganizationId;
use gangway_e2e::dispatch::{create_endpoint, dispatcher_config, expired_links, spawn_dispatcher, Receiver};
use gangway_e2e::{wait_until, TestApi};
use gangway_testkit::TestEnv;
use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A JetStream server on a free port, with its storage in a temporary directory that survives
/// restarts.
struct PrivateNats {
    port: u16,
    dir: std::path::PathBuf,
    child: Option<Child>,
}

impl PrivateNats {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("gangway-nats-{}", uuid::Uuid::new_v4().simple()));
        let mut nats = Self {
            port,
            dir,
            child: None,
        };
        nats.spawn();
        nats
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let binary = std::env::var("GANGWAY_NATS_SERVER").unwrap_or_else(|_| "/usr/sbin/nats-server".into());
        let child = Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary}: {e}"));
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nats-server did not start on port {}", self.port);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_resume_after_nats_restarts_without_restarting_anything_else() {
    let mut nats = PrivateNats::start();
    let mut env = TestEnv::new().await;
    env.nats_url = nats.url();
    let api = TestApi::spawn(&env).await;
    let (org, _) = api.create_org("Restart Co").await;
    let org = OrganizationId::from_uuid(org.parse().unwrap());
    let receiver = Receiver::start().await;
    create_endpoint(
        &api,
        org,
        &receiver.url("/in"),
        &["onboarding_link.expired"],
        None,
        "restart-secret-1234",
    )
    .await;
    let _dispatcher = spawn_dispatcher(dispatcher_config(&env)).await;

    expired_links(&api, org, 50).await;
    wait_until("the first 50", Duration::from_secs(30), || async {
        receiver.received().len() >= 50
    })
    .await;

    nats.stop();
    // Appends keep being accepted while NATS is down: Postgres is the source of truth.
    expired_links(&api, org, 50).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    nats.spawn();
    expired_links(&api, org, 50).await;

    let distinct = || {
        receiver
            .received()
            .iter()
            .map(|r| r.header("webhook-id").to_owned())
            .collect::<HashSet<_>>()
    };
    wait_until("all 150 after the restart", Duration::from_secs(60), || async {
        distinct().len() >= 150
    })
    .await;
    assert_eq!(distinct().len(), 150);
}

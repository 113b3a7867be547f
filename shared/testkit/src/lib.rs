//! Isolation for tests against the real Postgres and NATS: each [`TestEnv`] owns a fresh,
//! migrated database and a uniquely named JetStream stream, and removes both when dropped.

use gangway_bus::{Bus, BusNames};
use gangway_event_store::MIGRATOR;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use std::path::PathBuf;
use uuid::Uuid;

/// Server-level Postgres URL used to create and drop test databases.
pub fn admin_database_url() -> String {
    std::env::var("GANGWAY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn nats_url() -> String {
    std::env::var("GANGWAY_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// Logs warnings (or `GANGWAY_TEST_LOG`) from the code under test to the test's output.
fn init_logging() {
    let filter = std::env::var("GANGWAY_TEST_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_test_writer()
        .try_init();
}

pub struct TestEnv {
    /// The server-level URL the database was created through (and is dropped through).
    pub admin_url: String,
    pub database_name: String,
    pub database_url: String,
    pub pool: PgPool,
    pub names: BusNames,
    pub nats_url: String,
}

impl TestEnv {
    pub async fn new() -> Self {
        Self::on(&admin_database_url(), &nats_url()).await
    }

    /// A test environment on other servers than the shared ones (a private Postgres or NATS that
    /// the test restarts).
    pub async fn on(admin: &str, nats: &str) -> Self {
        init_logging();
        let id = Uuid::new_v4().simple().to_string();
        let database_name = format!("gangway_test_{id}");
        let admin = admin.to_owned();
        let mut conn = PgConnection::connect(&admin)
            .await
            .expect("Postgres must be running for tests");
        sqlx::query(&format!("CREATE DATABASE {database_name}"))
            .execute(&mut conn)
            .await
            .expect("creating the test database");
        conn.close().await.ok();
        let mut url = url::Url::parse(&admin).expect("GANGWAY_TEST_DATABASE_URL must be a URL");
        url.set_path(&format!("/{database_name}"));
        let database_url = url.to_string();
        let pool = PgPoolOptions::new()
            .max_connections(20)
            .test_before_acquire(false)
            .connect(&database_url)
            .await
            .expect("connecting to the test database");
        MIGRATOR.run(&pool).await.expect("migrating the test database");
        let short = &id[..12];
        Self {
            admin_url: admin,
            database_name,
            database_url,
            pool,
            names: BusNames {
                stream: format!("TEST_{short}"),
                subject_prefix: format!("test.{short}.events"),
                message_stream: format!("TEST_{short}_MESSAGES"),
                message_subject_prefix: format!("test.{short}.messages"),
            },
            nats_url: nats.to_owned(),
        }
    }

    pub async fn bus(&self) -> Bus {
        Bus::connect(&self.nats_url, self.names.clone())
            .await
            .expect("NATS with JetStream must be running for tests")
    }

    /// Environment variables that point a Gangway process at this test's database and stream.
    pub fn process_env(&self) -> Vec<(String, String)> {
        self.process_env_on(&self.names)
    }

    /// [`process_env`](Self::process_env) with the events stream replaced by `names`'.
    pub fn process_env_on(&self, names: &BusNames) -> Vec<(String, String)> {
        vec![
            ("GANGWAY_DATABASE_URL".into(), self.database_url.clone()),
            ("GANGWAY_NATS_URL".into(), self.nats_url.clone()),
            ("GANGWAY_NATS_STREAM".into(), names.stream.clone()),
            ("GANGWAY_NATS_SUBJECT_PREFIX".into(), names.subject_prefix.clone()),
            ("GANGWAY_NATS_MESSAGE_STREAM".into(), names.message_stream.clone()),
            (
                "GANGWAY_NATS_MESSAGE_SUBJECT_PREFIX".into(),
                names.message_subject_prefix.clone(),
            ),
            ("GANGWAY_LOG".into(), "warn".into()),
            // Tests use the development defaults (dev key, loopback http receivers, the sandbox).
            ("GANGWAY_ENVIRONMENT".into(), "development".into()),
            // Load from one key is what tests and benchmarks make; the limit has its own test.
            ("GANGWAY_RATE_LIMIT_PER_SECOND".into(), "0".into()),
            // Processes of parallel tests must not compete for the default metrics ports.
            ("GANGWAY_METRICS_ADDR".into(), "127.0.0.1:0".into()),
        ]
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let database = self.database_name.clone();
        let streams = [self.names.stream.clone(), self.names.message_stream.clone()];
        let nats = self.nats_url.clone();
        let admin = self.admin_url.clone();
        // Drop cannot await, and may run on a runtime this thread blocks; clean up on a thread with
        // its own runtime. FORCE ends this test's remaining pool connections.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            let Ok(runtime) = runtime else { return };
            runtime.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
                if let Ok(client) = async_nats::connect(&nats).await {
                    let jetstream = async_nats::jetstream::new(client);
                    for stream in streams {
                        let _ = jetstream.delete_stream(&stream).await;
                    }
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Path of a workspace binary (`gangway-api`, `gangway-projector`, `gangway`) next to the running
/// executable (a test in `target/<profile>/deps/`, or a tool in `target/<profile>/`). Build them
/// first: `make test` runs `cargo build --bins`.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("executable path");
    let here = exe.parent().expect("executable directory");
    let candidates = [
        here.join(name),
        here.parent().map(|p| p.join(name)).unwrap_or_default(),
    ];
    candidates.into_iter().find(|p| p.is_file()).unwrap_or_else(|| {
        panic!(
            "{name} is missing next to {}: run `cargo build --bins` first",
            exe.display()
        )
    })
}

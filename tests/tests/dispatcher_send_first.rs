//! A webhook goes out while its message is being recorded, not after the record's flush. The
//! attempt's outcome is recorded once the message is; a message whose record failed is sent
//! again, under the same `webhook-id`, when its event comes back, and recorded once.
//!
//! Holding a `SHARE` lock on the message table keeps the dispatcher from recording anything
//! while it lets every read through, so what the receiver gets meanwhile was sent unrecorded.

use gangway_domain::{EndpointId, OrganizationId};
use gangway_e2e::dispatch::{
    create_endpoint, dispatcher_config, expired_links, spawn_dispatcher, wait_for_dispatcher, Receiver,
};
use gangway_e2e::{wait_until, TestApi};
use gangway_testkit::TestEnv;
use reqwest::Method;
use serde_json::Value;
use sqlx::{PgPool, Postgres, Transaction};
use std::time::Duration;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const WAIT: Duration = Duration::from_secs(15);

struct Setup {
    env: TestEnv,
    api: TestApi,
    key: String,
    org: OrganizationId,
    endpoint: EndpointId,
    receiver: Receiver,
    _dispatcher: tokio_util::sync::DropGuard,
}

/// An organization with one endpoint for link expiries, known to a running dispatcher.
async fn setup() -> Setup {
    let env = TestEnv::new().await;
    let api = TestApi::spawn(&env).await;
    let (org, key) = api.create_org("Send First Co").await;
    let org = OrganizationId::from_uuid(org.parse().unwrap());
    let receiver = Receiver::start().await;
    let endpoint = create_endpoint(
        &api,
        org,
        &receiver.url("/in"),
        &["onboarding_link.expired"],
        None,
        SECRET,
    )
    .await;
    let dispatcher = spawn_dispatcher(dispatcher_config(&env)).await;
    wait_for_dispatcher(&env, "dispatcher").await;
    Setup {
        env,
        api,
        key,
        org,
        endpoint,
        receiver,
        _dispatcher: dispatcher,
    }
}

/// Until the returned transaction ends, no message can be recorded.
async fn hold_records(pool: &PgPool) -> Transaction<'static, Postgres> {
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE webhook_messages IN SHARE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    lock
}

impl Setup {
    /// A link expires while no message can be recorded; returns once its webhook arrived, with
    /// the records still held.
    async fn expiry_sent_while_nothing_can_be_recorded(&self) -> Transaction<'static, Postgres> {
        let lock = hold_records(&self.env.pool).await;
        expired_links(&self.api, self.org, 1).await;
        wait_until("the webhook, while no message can be recorded", WAIT, || async {
            !self.receiver.received_at("/in").is_empty()
        })
        .await;
        lock
    }

    /// The endpoint's delivery log, as the API shows it.
    async fn log(&self) -> Value {
        let path = format!("/v1/webhooks/{}/messages", self.endpoint);
        let (status, body) = self.api.call(Method::GET, &path, &self.key, None).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn delivered(&self) -> Value {
        wait_until("the message recorded as delivered", WAIT, || async {
            self.log().await["data"][0]["status"] == "delivered"
        })
        .await;
        let log = self.log().await;
        assert_eq!(log["pagination"]["total"], 1, "one message: {log}");
        log["data"][0].clone()
    }

    async fn attempts_log(&self, message: &Value) -> Vec<Value> {
        let path = format!("/v1/messages/{}", message["id"].as_str().unwrap());
        let (status, body) = self.api.call(Method::GET, &path, &self.key, None).await;
        assert_eq!(status, 200, "{body}");
        body["data"]["attemptsLog"].as_array().unwrap().clone()
    }

    fn webhook_ids(&self) -> Vec<String> {
        self.receiver
            .received_at("/in")
            .iter()
            .map(|r| r.header("webhook-id").to_owned())
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_is_sent_before_its_message_is_recorded_and_its_outcome_follows_the_record() {
    let s = setup().await;
    let lock = s.expiry_sent_while_nothing_can_be_recorded().await;
    assert_eq!(s.log().await["pagination"]["total"], 0, "not recorded yet");

    lock.commit().await.unwrap();
    let message = s.delivered().await;
    assert_eq!(
        s.webhook_ids(),
        [message["webhookId"].as_str().unwrap()],
        "the copy sent before the record is the recorded message"
    );
    assert_eq!(message["attempts"], 1);
    let attempts = s.attempts_log(&message).await;
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(
        attempts[0]["statusCode"], 200,
        "the early attempt's outcome: {attempts:?}"
    );

    wait_for_dispatcher(&s.env, "dispatcher").await;
    assert_eq!(s.webhook_ids().len(), 1, "sent once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_record_failed_is_sent_again_under_its_webhook_id_and_recorded_once() {
    let s = setup().await;
    let lock = s.expiry_sent_while_nothing_can_be_recorded().await;

    // The dispatcher's insert waits for the lock; cancelling it fails the record.
    let waiting_insert = "SELECT pid FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
           AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO webhook_messages%'";
    wait_until("the record waiting for the lock", WAIT, || async {
        sqlx::query_scalar::<_, i32>(waiting_insert)
            .fetch_optional(&s.env.pool)
            .await
            .unwrap()
            .is_some()
    })
    .await;
    let cancelled: Vec<bool> = sqlx::query_scalar(&format!(
        "SELECT pg_cancel_backend(pid) FROM ({waiting_insert}) w"
    ))
    .fetch_all(&s.env.pool)
    .await
    .unwrap();
    assert_eq!(cancelled, [true]);
    lock.commit().await.unwrap();

    let message = s.delivered().await;
    let ids = s.webhook_ids();
    assert_eq!(ids.len(), 2, "sent again when the event came back: {ids:?}");
    assert!(
        ids.iter().all(|id| id == message["webhookId"].as_str().unwrap()),
        "both copies under the recorded message's webhook-id: {ids:?}, {message}"
    );
    assert_eq!(message["attempts"], 1, "the unrecorded attempt is not counted");
    assert_eq!(s.attempts_log(&message).await.len(), 1);
}

//! Concurrent single-stream appends share statements (group commit), and each keeps its own
//! outcome: a conflict in a shared statement is the conflicting append's alone.
//!
//! A `SHARE` lock on `events` holds every append statement at its insert. While it is held, the
//! first appends take every statement the store runs at once; the ones made after them wait in
//! the store's queue, and go together once the lock is released.

use chrono::Utc;
use futures::future::join_all;
use gangway_e2e::wait_until;
use gangway_event_store::{
    EventMetadata, EventStore, ExpectedVersion, NewEvent, RecordedEvent, StoreError, StreamRef,
};
use gangway_testkit::TestEnv;
use sqlx::{PgPool, Postgres, Transaction};
use std::collections::HashSet;
use std::task::Poll;
use std::time::Duration;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Statements the store runs at once (see `coalesce.rs`).
const STATEMENTS: usize = 4;

fn event(org: Uuid) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "test.appended".into(),
        schema_version: 1,
        payload: serde_json::json!({}),
        metadata: EventMetadata {
            organization_id: org.into(),
            causation_id: None,
            correlation_id: Uuid::now_v7(),
            occurred_at: Utc::now(),
        },
    }
}

type Outcome = Result<Vec<RecordedEvent>, StoreError>;

/// Starts an append in a task of its own. It is polled once here first, which puts it in the
/// store's queue (a push under a mutex, before the append's first await), so it is queued by the
/// time this returns.
async fn spawn_append(
    store: &EventStore,
    stream: &StreamRef,
    expected: ExpectedVersion,
    org: Uuid,
) -> JoinHandle<Outcome> {
    let (store, stream) = (store.clone(), stream.clone());
    let mut append = Box::pin(async move { store.append(&stream, expected, vec![event(org)]).await });
    if let Poll::Ready(outcome) = futures::poll!(&mut append) {
        return tokio::spawn(async move { outcome });
    }
    tokio::spawn(append)
}

async fn hold_appends(pool: &PgPool) -> Transaction<'static, Postgres> {
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE events IN SHARE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    lock
}

/// Fills every statement with an append to a stream of its own, held at the lock. One at a
/// time: appends made together may share a statement before the first of them has started.
async fn fill_statements(env: &TestEnv, store: &EventStore, org: Uuid) -> Vec<JoinHandle<Outcome>> {
    let mut first = Vec::new();
    for waiting in 1..=STATEMENTS {
        let stream = StreamRef::new("test", Uuid::now_v7());
        first.push(spawn_append(store, &stream, ExpectedVersion::NoStream, org).await);
        wait_until(
            &format!("{waiting} statements waiting for the lock"),
            Duration::from_secs(10),
            || async { statements_waiting(env).await == waiting as i64 },
        )
        .await;
    }
    first
}

async fn statements_waiting(env: &TestEnv) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock' \
           AND query LIKE '%INSERT INTO events%'",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap()
}

async fn outcomes(handles: Vec<JoinHandle<Outcome>>) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for handle in handles {
        outcomes.push(handle.await.unwrap());
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_waiting_for_a_statement_go_together_in_one() {
    let env = TestEnv::new().await;
    let store = EventStore::new(env.pool.clone());
    let org = Uuid::now_v7();
    let lock = hold_appends(&env.pool).await;
    let first = fill_statements(&env, &store, org).await;
    let streams: Vec<StreamRef> = (0..12).map(|_| StreamRef::new("test", Uuid::now_v7())).collect();
    let later = join_all(
        streams
            .iter()
            .map(|s| spawn_append(&store, s, ExpectedVersion::NoStream, org)),
    )
    .await;
    lock.commit().await.unwrap();

    for outcome in outcomes(first).await {
        assert_eq!(outcome.unwrap().len(), 1);
    }
    let later: Vec<RecordedEvent> = outcomes(later)
        .await
        .into_iter()
        .flat_map(|o| o.unwrap())
        .collect();
    assert_eq!(later.len(), 12);
    let transactions: HashSet<i64> = later.iter().map(|e| e.transaction_id).collect();
    assert_eq!(
        transactions.len(),
        1,
        "the twelve appends that waited were written in one statement"
    );
    for e in &later {
        let stored = store.read_stream(e.stream_id).await.unwrap();
        assert_eq!(stored.len(), 1, "each append is in its own stream");
        assert_eq!(stored[0].event_id, e.event_id);
        assert_eq!(stored[0].stream_version, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_in_a_shared_statement_is_the_conflicting_appends_alone() {
    let env = TestEnv::new().await;
    let store = EventStore::new(env.pool.clone());
    let org = Uuid::now_v7();
    let behind = StreamRef::new("test", Uuid::now_v7());
    store
        .append(&behind, ExpectedVersion::NoStream, vec![event(org)])
        .await
        .unwrap();

    let lock = hold_appends(&env.pool).await;
    let first = fill_statements(&env, &store, org).await;
    // Two appends racing for the first version of one stream; one to a stream that is not at
    // the version it expects; five that nothing stands in the way of.
    let contested = StreamRef::new("test", Uuid::now_v7());
    let racing =
        join_all((0..2).map(|_| spawn_append(&store, &contested, ExpectedVersion::NoStream, org))).await;
    let stale = spawn_append(&store, &behind, ExpectedVersion::Exact(5), org).await;
    let free_streams: Vec<StreamRef> = (0..5).map(|_| StreamRef::new("test", Uuid::now_v7())).collect();
    let free = join_all(
        free_streams
            .iter()
            .map(|s| spawn_append(&store, s, ExpectedVersion::NoStream, org)),
    )
    .await;
    lock.commit().await.unwrap();

    for outcome in outcomes(first).await {
        outcome.unwrap();
    }
    let racing = outcomes(racing).await;
    let won = racing.iter().filter(|o| o.is_ok()).count();
    let lost = racing
        .iter()
        .filter(
            |o| matches!(o, Err(StoreError::Conflict { stream_id, .. }) if *stream_id == contested.stream_id),
        )
        .count();
    assert_eq!((won, lost), (1, 1), "one of the racing appends wins: {racing:?}");
    assert_eq!(store.read_stream(contested.stream_id).await.unwrap().len(), 1);

    let stale = stale.await.unwrap();
    assert!(
        matches!(stale, Err(StoreError::Conflict { stream_id, expected: ExpectedVersion::Exact(5) }) if stream_id == behind.stream_id),
        "{stale:?}"
    );
    assert_eq!(store.read_stream(behind.stream_id).await.unwrap().len(), 1);

    for (outcome, stream) in outcomes(free).await.into_iter().zip(&free_streams) {
        let recorded = outcome.unwrap();
        assert_eq!(recorded.len(), 1);
        let stored = store.read_stream(stream.stream_id).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].event_id, recorded[0].event_id);
    }
}

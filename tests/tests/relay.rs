//! The event store and the relay under concurrency, crashes and competing relays.

use chrono::Utc;
use gangway_e2e::{read_stream, stream_message_count, wait_until, ChildProcess};
use gangway_event_store::{EventMetadata, EventStore, ExpectedVersion, NewEvent, StoreError, StreamRef};
use gangway_relay::{Relay, RelayConfig};
use gangway_testkit::TestEnv;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn event(org: Uuid, n: usize) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "test.appended".into(),
        schema_version: 1,
        payload: serde_json::json!({ "n": n }),
        metadata: EventMetadata {
            organization_id: org.into(),
            causation_id: None,
            correlation_id: Uuid::now_v7(),
            occurred_at: Utc::now(),
        },
    }
}

fn relay(env: &TestEnv, store: &EventStore, bus: gangway_bus::Bus, name: &str) -> Relay {
    Relay::new(
        (*env.pool.connect_options()).clone(),
        bus,
        store.appended_signal(),
        RelayConfig {
            name: name.into(),
            ..RelayConfig::default()
        },
    )
}

/// Appends to `stream` at its current version, re-reading the version after each conflict.
async fn append_with_retry(store: &EventStore, stream: &StreamRef, next: &mut i64, event: NewEvent) -> Uuid {
    loop {
        let expected = if *next == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(*next)
        };
        match store.append(stream, expected, vec![event.clone()]).await {
            Ok(recorded) => {
                *next = recorded[0].stream_version;
                return recorded[0].event_id;
            }
            Err(StoreError::Conflict { .. }) => {
                *next = store.read_stream(stream.stream_id).await.unwrap().len() as i64;
            }
            Err(other) => panic!("append failed: {other}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_reach_jetstream_exactly_once_in_commit_order() {
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 1_000;
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let store = EventStore::new(env.pool.clone());
    let cancel = CancellationToken::new();
    let relay = relay(&env, &store, bus.clone(), "default");
    let relay_task = tokio::spawn({
        let cancel = cancel.clone();
        async move { relay.run(cancel).await }
    });

    let org = Uuid::now_v7();
    let shared = StreamRef::new("test", Uuid::now_v7());
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        let shared = shared.clone();
        let pool = env.pool.clone();
        writers.push(tokio::spawn(async move {
            let own = StreamRef::new("test", Uuid::now_v7());
            let (mut own_version, mut shared_version) = (0i64, 0i64);
            let mut committed = Vec::with_capacity(PER_WRITER);
            for n in 0..PER_WRITER {
                if n % 10 == 0 {
                    // A transaction held open after its insert: later-numbered events from other
                    // writers commit before it, which is exactly the gap a naive tail would skip.
                    let mut tx = store.begin().await.unwrap();
                    let expected = if own_version == 0 {
                        ExpectedVersion::NoStream
                    } else {
                        ExpectedVersion::Exact(own_version)
                    };
                    let recorded = tx.append(&own, expected, vec![event(org, n)]).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(((w + n) % 7) as u64)).await;
                    tx.commit().await.unwrap();
                    own_version = recorded[0].stream_version;
                    committed.push(recorded[0].event_id);
                } else if n % 4 == 0 {
                    committed
                        .push(append_with_retry(&store, &shared, &mut shared_version, event(org, n)).await);
                } else {
                    committed.push(append_with_retry(&store, &own, &mut own_version, event(org, n)).await);
                }
            }
            drop(pool);
            committed
        }));
    }
    let mut per_writer = Vec::new();
    for writer in writers {
        per_writer.push(writer.await.unwrap());
    }
    let total = (WRITERS * PER_WRITER) as u64;
    wait_until("every event on JetStream", Duration::from_secs(120), || async {
        stream_message_count(&bus).await >= total
    })
    .await;
    cancel.cancel();
    relay_task.await.unwrap();

    let published = read_stream(&bus).await.unwrap();
    assert_eq!(published.len() as u64, total, "no duplicates and nothing missing");
    let (txid, position): (i64, i64) = sqlx::query_as(
        "SELECT transaction_id::text::bigint, position FROM relay_checkpoints WHERE name = 'default'",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    let last = published.last().unwrap().1.cursor();
    assert_eq!(
        (txid, position),
        (last.transaction_id, last.position),
        "a stopping relay saves its checkpoint"
    );
    let ids: HashSet<Uuid> = published.iter().map(|(_, e)| e.event_id).collect();
    assert_eq!(ids.len() as u64, total, "each event exactly once");
    let index: HashMap<Uuid, usize> = published
        .iter()
        .enumerate()
        .map(|(i, (_, e))| (e.event_id, i))
        .collect();

    // Each writer committed its transactions one after another, so its events must appear in
    // exactly that order.
    for committed in &per_writer {
        let positions: Vec<usize> = committed.iter().map(|id| index[id]).collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "a writer's commits were reordered"
        );
    }
    // Every stream's versions appear in order with no gap.
    let mut last_version: HashMap<Uuid, i64> = HashMap::new();
    for (_, e) in &published {
        let last = last_version.entry(e.stream_id).or_insert(0);
        assert_eq!(e.stream_version, *last + 1, "stream {} out of order", e.stream_id);
        *last = e.stream_version;
    }
    // Out-of-order positions prove the test exercised the gap (commit order ≠ position order).
    assert!(
        published.windows(2).any(|w| w[0].1.position > w[1].1.position),
        "no concurrency gap was exercised"
    );
}

#[tokio::test]
async fn expected_version_conflicts_fire_exactly_when_the_stream_moved() {
    let env = TestEnv::new().await;
    let store = EventStore::new(env.pool.clone());
    let org = Uuid::now_v7();
    let stream = StreamRef::new("test", Uuid::now_v7());

    store
        .append(&stream, ExpectedVersion::NoStream, vec![event(org, 0)])
        .await
        .unwrap();
    let again = store
        .append(&stream, ExpectedVersion::NoStream, vec![event(org, 1)])
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict { .. })),
        "stream already exists"
    );

    let two = store
        .append(
            &stream,
            ExpectedVersion::Exact(1),
            vec![event(org, 1), event(org, 2)],
        )
        .await
        .unwrap();
    assert_eq!(
        two.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![2, 3]
    );
    for stale in [1, 2, 4] {
        let result = store
            .append(&stream, ExpectedVersion::Exact(stale), vec![event(org, 9)])
            .await;
        assert!(
            matches!(result, Err(StoreError::Conflict { .. })),
            "expected {stale} must conflict at 3"
        );
    }
    store
        .append(&stream, ExpectedVersion::Exact(3), vec![event(org, 3)])
        .await
        .unwrap();

    // Many writers race for the same next version: exactly one wins.
    let mut racers = Vec::new();
    for n in 0..16 {
        let store = store.clone();
        let stream = stream.clone();
        racers.push(tokio::spawn(async move {
            store
                .append(&stream, ExpectedVersion::Exact(4), vec![event(org, 100 + n)])
                .await
                .is_ok()
        }));
    }
    let mut winners = 0;
    for racer in racers {
        winners += usize::from(racer.await.unwrap());
    }
    assert_eq!(winners, 1);
    assert_eq!(store.read_stream(stream.stream_id).await.unwrap().len(), 5);
    // A failed append leaves nothing behind.
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(count, 5);
}

#[tokio::test]
async fn a_transaction_that_read_a_newer_commit_is_retried_not_published_early() {
    let env = TestEnv::new().await;
    let store = EventStore::new(env.pool.clone());
    let org = Uuid::now_v7();
    let stream = StreamRef::new("test", Uuid::now_v7());

    // Transaction A takes its transaction id first...
    let mut a = store.begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(a.connection())
        .await
        .unwrap();
    // ...B (newer id) creates the stream and commits...
    store
        .append(&stream, ExpectedVersion::NoStream, vec![event(org, 1)])
        .await
        .unwrap();
    // ...and A, having seen version 1, must not append version 2 under its older id.
    let result = a
        .append(&stream, ExpectedVersion::Exact(1), vec![event(org, 2)])
        .await;
    assert!(matches!(result, Err(StoreError::Conflict { .. })));
    drop(a);
    // The retry, in a new transaction, succeeds.
    store
        .append(&stream, ExpectedVersion::Exact(1), vec![event(org, 2)])
        .await
        .unwrap();
}

#[tokio::test]
async fn the_relay_waits_for_a_late_commit_instead_of_skipping_it() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let store = EventStore::new(env.pool.clone());
    let relay = relay(&env, &store, bus.clone(), "default");
    let mut leading = relay.try_lead().await.unwrap().expect("no other relay");
    let org = Uuid::now_v7();

    let mut early = store.begin().await.unwrap();
    let early_event = early
        .append(
            &StreamRef::new("test", Uuid::now_v7()),
            ExpectedVersion::NoStream,
            vec![event(org, 1)],
        )
        .await
        .unwrap();
    let late = store
        .append(
            &StreamRef::new("test", Uuid::now_v7()),
            ExpectedVersion::NoStream,
            vec![event(org, 2)],
        )
        .await
        .unwrap();
    assert!(late[0].position > early_event[0].position);
    assert_eq!(
        leading.step().await.unwrap(),
        0,
        "nothing may pass an open transaction"
    );
    early.commit().await.unwrap();
    // The xmin horizon is cluster-wide: a transaction of a test running alongside may hold the
    // late event back a little longer, so step until both are out.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut published = 0;
    while published < 2 && std::time::Instant::now() < deadline {
        published += leading.step().await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(published, 2);

    let published = read_stream(&bus).await.unwrap();
    let order: Vec<Uuid> = published.iter().map(|(_, e)| e.event_id).collect();
    assert_eq!(order, vec![early_event[0].event_id, late[0].event_id]);
}

#[tokio::test]
async fn only_one_relay_leads_and_another_takes_over_when_it_dies() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let store = EventStore::new(env.pool.clone());
    let first = relay(&env, &store, bus.clone(), "default");
    let second = relay(&env, &store, bus.clone(), "default");

    let leader = first.try_lead().await.unwrap().expect("first relay leads");
    assert!(
        second.try_lead().await.unwrap().is_none(),
        "a second relay must not publish"
    );
    drop(leader); // its connection closes, as when the process dies
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut taken_over = None;
    while taken_over.is_none() && std::time::Instant::now() < deadline {
        taken_over = second.try_lead().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(taken_over.is_some(), "the second relay must take over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_mid_stream_resumes_without_loss_or_duplicates() {
    const EVENTS: usize = 3_000;
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let store = EventStore::new(env.pool.clone());
    // The api process runs the relay; this test appends directly, so it relies on polling.
    let mut api_env = env.process_env();
    api_env.push(("GANGWAY_API_ADDR".into(), "127.0.0.1:0".into()));
    let mut api = ChildProcess::start("gangway-api", api_env);

    let org = Uuid::now_v7();
    let writer = tokio::spawn({
        let store = store.clone();
        async move {
            for chunk in 0..EVENTS / 10 {
                let events = (0..10).map(|i| event(org, chunk * 10 + i)).collect();
                store
                    .append(
                        &StreamRef::new("test", Uuid::now_v7()),
                        ExpectedVersion::NoStream,
                        events,
                    )
                    .await
                    .unwrap();
            }
        }
    });
    for _ in 0..3 {
        let seen = stream_message_count(&bus).await;
        wait_until("the relay to make progress", Duration::from_secs(30), || async {
            stream_message_count(&bus).await > seen
        })
        .await;
        api.restart(); // SIGKILL, then start again
    }
    writer.await.unwrap();
    wait_until("every event on JetStream", Duration::from_secs(60), || async {
        stream_message_count(&bus).await >= EVENTS as u64
    })
    .await;
    // Give a duplicate time to show up if one were coming.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let published = read_stream(&bus).await.unwrap();
    let ids: HashSet<Uuid> = published.iter().map(|(_, e)| e.event_id).collect();
    assert_eq!(published.len(), EVENTS, "nothing duplicated");
    assert_eq!(ids.len(), EVENTS, "nothing lost");
}

#[tokio::test]
async fn a_multi_stream_append_is_all_or_nothing() {
    use gangway_event_store::StreamAppend;
    let env = TestEnv::new().await;
    let store = EventStore::new(env.pool.clone());
    let org = Uuid::now_v7();
    let existing = StreamRef::new("test", Uuid::now_v7());
    store
        .append(&existing, ExpectedVersion::NoStream, vec![event(org, 0)])
        .await
        .unwrap();
    let fresh = StreamRef::new("test", Uuid::now_v7());
    let batch = |expected_existing| {
        vec![
            StreamAppend {
                stream: fresh.clone(),
                expected: ExpectedVersion::NoStream,
                events: vec![event(org, 1), event(org, 2)],
            },
            StreamAppend {
                stream: existing.clone(),
                expected: expected_existing,
                events: vec![event(org, 3)],
            },
        ]
    };

    let mut tx = store.begin().await.unwrap();
    let result = tx.append_all(batch(ExpectedVersion::Exact(7))).await;
    assert!(matches!(result, Err(StoreError::Conflict { stream_id, .. }) if stream_id == existing.stream_id));
    assert!(
        tx.commit().await.is_err(),
        "a transaction with a failed append cannot commit"
    );
    assert!(
        store.read_stream(fresh.stream_id).await.unwrap().is_empty(),
        "nothing of the batch remains"
    );

    let mut tx = store.begin().await.unwrap();
    let recorded = tx.append_all(batch(ExpectedVersion::Exact(1))).await.unwrap();
    tx.commit().await.unwrap();
    let versions: Vec<(Uuid, i64)> = recorded.iter().map(|e| (e.stream_id, e.stream_version)).collect();
    assert_eq!(
        versions,
        vec![
            (fresh.stream_id, 1),
            (fresh.stream_id, 2),
            (existing.stream_id, 2)
        ]
    );
    assert_eq!(store.read_stream(existing.stream_id).await.unwrap().len(), 2);
}

/// Reading in commit order from the start of a large store walks the commit-order index from the
/// cursor; a plan that scanned and sorted the whole rest of the store made every batch of a
/// replay or a relay catching up cost the size of the store. Postgres's own counters of the
/// reading transaction tell which scan ran.
#[tokio::test]
async fn reading_in_commit_order_walks_the_index_from_the_cursor() {
    let env = TestEnv::new().await;
    let org = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO events (event_id, stream_type, stream_id, stream_version, event_type, payload, \
             organization_id, correlation_id, occurred_at) \
         SELECT gen_random_uuid(), 'test', gen_random_uuid(), 1, 'test.appended', '{}', $1, \
             gen_random_uuid(), now() FROM generate_series(1, 20000)",
    )
    .bind(org)
    .execute(&env.pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE events").execute(&env.pool).await.unwrap();

    let mut tx = env.pool.begin().await.unwrap();
    let batch = gangway_event_store::read_committed_after(
        &mut *tx,
        gangway_event_store::CommitCursor::default(),
        1_000,
    )
    .await
    .unwrap();
    assert_eq!(batch.len(), 1_000);
    let (seq_scans, index_scans): (i64, i64) = sqlx::query_as(
        "SELECT seq_scan, coalesce(idx_scan, 0) FROM pg_stat_xact_user_tables WHERE relname = 'events'",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(
        (seq_scans, index_scans),
        (0, 1),
        "one index scan, no pass over the table"
    );
}

#[tokio::test]
async fn an_event_no_reader_can_parse_is_set_aside_and_the_others_are_published() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let store = EventStore::new(env.pool.clone());
    let (one, other) = (Uuid::now_v7(), Uuid::now_v7());
    let before = StreamRef::new("test", Uuid::now_v7());
    let first = store
        .append(&before, ExpectedVersion::NoStream, vec![event(other, 1)])
        .await
        .unwrap();
    // A payload Postgres keeps but serde_json refuses (nested past its 128 levels), as a store
    // written by an older version, or by hand, may hold.
    let poison = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO events (event_id, stream_type, stream_id, stream_version, event_type, payload, \
             organization_id, correlation_id, occurred_at) \
         VALUES ($1, 'test', $2, 1, 'test.appended', (repeat('[', 200) || repeat(']', 200))::jsonb, \
             $3, $1, now())",
    )
    .bind(poison)
    .bind(Uuid::now_v7())
    .bind(one)
    .execute(&env.pool)
    .await
    .unwrap();
    let after = StreamRef::new("test", Uuid::now_v7());
    let last = store
        .append(&after, ExpectedVersion::NoStream, vec![event(other, 2)])
        .await
        .unwrap();

    let relay = relay(&env, &store, bus.clone(), "default");
    let cancel = CancellationToken::new();
    let running = tokio::spawn({
        let cancel = cancel.clone();
        async move { relay.run(cancel).await }
    });
    wait_until(
        "the event after it is published",
        Duration::from_secs(10),
        || async {
            read_stream(&bus)
                .await
                .is_ok_and(|events| events.iter().any(|(_, e)| e.event_id == last[0].event_id))
        },
    )
    .await;
    let published: Vec<Uuid> = read_stream(&bus)
        .await
        .unwrap()
        .iter()
        .map(|(_, e)| e.event_id)
        .collect();
    assert_eq!(published, vec![first[0].event_id, last[0].event_id]);
    let set_aside: Vec<(String, Uuid, Uuid, String)> = sqlx::query_as(
        "SELECT consumer, event_id, organization_id, error FROM dead_letters WHERE resolved_at IS NULL",
    )
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert_eq!(set_aside.len(), 1, "{set_aside:?}");
    assert_eq!(
        (set_aside[0].0.as_str(), set_aside[0].1, set_aside[0].2),
        ("relay", poison, one)
    );
    assert!(set_aside[0].3.contains("recursion limit"), "{}", set_aside[0].3);
    cancel.cancel();
    running.await.unwrap();
}

#[tokio::test]
async fn new_streams_appended_in_one_statement_are_all_or_nothing() {
    let env = TestEnv::new().await;
    let store = EventStore::new(env.pool.clone());
    let org = Uuid::now_v7();
    let taken = StreamRef::new("test", Uuid::now_v7());
    store
        .append(&taken, ExpectedVersion::NoStream, vec![event(org, 0)])
        .await
        .unwrap();
    let append = |stream: &StreamRef, n| gangway_event_store::StreamAppend {
        stream: stream.clone(),
        expected: ExpectedVersion::NoStream,
        events: vec![event(org, n), event(org, n + 1)],
    };
    let fresh = StreamRef::new("test", Uuid::now_v7());
    let refused = store
        .append_new_streams(vec![append(&fresh, 1), append(&taken, 3)])
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict { .. })),
        "a stream that exists is no new stream: {refused:?}"
    );
    assert!(
        store.read_stream(fresh.stream_id).await.unwrap().is_empty(),
        "nothing of the statement was kept"
    );
    let recorded = store.append_new_streams(vec![append(&fresh, 1)]).await.unwrap();
    let versions: Vec<i64> = recorded.iter().map(|e| e.stream_version).collect();
    assert_eq!(versions, [1, 2]);
    assert_eq!(store.read_stream(fresh.stream_id).await.unwrap().len(), 2);
}

#[tokio::test]
async fn streams_extended_in_one_statement_are_all_or_nothing_at_their_expected_versions() {
    let env = TestEnv::new().await;
    let store = EventStore::new(env.pool.clone());
    let org = Uuid::now_v7();
    let existing = StreamRef::new("test", Uuid::now_v7());
    store
        .append(&existing, ExpectedVersion::NoStream, vec![event(org, 0)])
        .await
        .unwrap();
    let together = |expected| {
        vec![
            gangway_event_store::StreamAppend {
                stream: StreamRef::new("test", Uuid::now_v7()),
                expected: ExpectedVersion::NoStream,
                events: vec![event(org, 1)],
            },
            gangway_event_store::StreamAppend {
                stream: existing.clone(),
                expected,
                events: vec![event(org, 2), event(org, 3)],
            },
        ]
    };
    for stale in [ExpectedVersion::Exact(2), ExpectedVersion::NoStream] {
        let appends = together(stale);
        let fresh = appends[0].stream.stream_id;
        let refused = store.append_new_streams(appends).await;
        // A stale expected version is named; a clash on the unique constraint names the
        // statement's first stream (Postgres does not say which).
        assert!(
            matches!(refused, Err(StoreError::Conflict { .. })),
            "{stale:?}: {refused:?}"
        );
        if stale == ExpectedVersion::Exact(2) {
            assert!(
                matches!(refused, Err(StoreError::Conflict { stream_id, .. }) if stream_id == existing.stream_id)
            );
        }
        assert!(
            store.read_stream(fresh).await.unwrap().is_empty(),
            "{stale:?}: nothing kept"
        );
    }
    assert_eq!(store.read_stream(existing.stream_id).await.unwrap().len(), 1);

    let recorded = store
        .append_new_streams(together(ExpectedVersion::Exact(1)))
        .await
        .unwrap();
    let versions: Vec<i64> = recorded.iter().map(|e| e.stream_version).collect();
    assert_eq!(versions, [1, 2, 3]);
    assert_eq!(store.read_stream(existing.stream_id).await.unwrap().len(), 3);
}

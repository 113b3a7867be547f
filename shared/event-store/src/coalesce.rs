//! Single-stream appends of concurrent callers, written together (group commit). An append that
//! finds a statement free goes at once; one that arrives while every statement is taken waits
//! for the next, which carries everything that waited. So a lone writer pays nothing, and many
//! writers share statements and commits instead of queueing for connections.
//!
//! Each append keeps its own outcome. The statement is atomic, and each append's rows stand or
//! fall together under the version guard, so a stream that moved on is that append's conflict
//! alone; two appends racing for one version fail the statement on the unique constraint, and
//! then each append is written again by itself.

use crate::append::{append_each, append_events};
use crate::{RecordedEvent, StoreError, StreamAppend};
use sqlx::PgPool;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Statements under way at once. More let appends overlap their round trips; fewer make larger
/// groups. Four keeps a 2-core database busy without filling the pool.
const STATEMENTS: usize = 4;

/// Events in one statement at most.
const MAX_EVENTS: usize = 256;

type Answer = oneshot::Sender<Result<Vec<RecordedEvent>, StoreError>>;

#[derive(Debug)]
pub(crate) struct Coalescer {
    pool: PgPool,
    queue: Mutex<Queue>,
}

#[derive(Debug, Default)]
struct Queue {
    waiting: Vec<(StreamAppend, Answer)>,
    running: usize,
}

impl Coalescer {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self {
            pool,
            queue: Mutex::default(),
        }
    }

    /// Appends to one stream, in a statement of its own or shared with other callers'.
    pub(crate) async fn append(
        self: &Arc<Self>,
        append: StreamAppend,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.waiting.push((append, answer));
            let free = queue.running < STATEMENTS;
            queue.running += usize::from(free);
            free
        };
        if start {
            // A task of its own: the statement completes even if this caller goes away.
            tokio::spawn(self.clone().write_waiting());
        }
        answered.await.unwrap_or_else(|_| {
            Err(StoreError::Database(sqlx::Error::Protocol(
                "the append's statement was abandoned".into(),
            )))
        })
    }

    /// Writes what is waiting, a statement at a time, until nothing is.
    async fn write_waiting(self: Arc<Self>) {
        loop {
            let group = {
                let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                if queue.waiting.is_empty() {
                    queue.running -= 1;
                    return;
                }
                take_group(&mut queue.waiting)
            };
            self.write(group).await;
        }
    }

    async fn write(&self, mut group: Vec<(StreamAppend, Answer)>) {
        if group.len() == 1 {
            let (append, answer) = group.pop().expect("one append");
            let _ = answer.send(append_events(&self.pool, vec![append]).await);
            return;
        }
        let (appends, answers): (Vec<_>, Vec<_>) = group.into_iter().unzip();
        match append_each(&self.pool, appends).await {
            Ok(outcomes) => {
                for (outcome, answer) in outcomes.into_iter().zip(answers) {
                    let _ = answer.send(outcome);
                }
            }
            Err(appends) => {
                for (append, answer) in appends.into_iter().zip(answers) {
                    let _ = answer.send(append_events(&self.pool, vec![append]).await);
                }
            }
        }
    }
}

/// The oldest waiting appends, up to [`MAX_EVENTS`] events (at least one append).
fn take_group(waiting: &mut Vec<(StreamAppend, Answer)>) -> Vec<(StreamAppend, Answer)> {
    let mut events = 0;
    let mut n = 0;
    for (append, _) in waiting.iter() {
        events += append.events.len();
        if n > 0 && events > MAX_EVENTS {
            break;
        }
        n += 1;
    }
    let rest = waiting.split_off(n);
    std::mem::replace(waiting, rest)
}

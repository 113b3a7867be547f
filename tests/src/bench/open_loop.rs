//! Open-loop load, as wrk2 makes it: requests on a fixed schedule, each timed from when it was
//! due rather than from when it was sent, so a stall is charged to every request that waited
//! behind it (no coordinated omission).

use hdrhistogram::Histogram;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What an open-loop run measured.
pub struct OpenLoop {
    /// Microseconds from each request's due time to its answer.
    pub latency: Histogram<u64>,
    pub sent: u64,
    pub failed: u64,
    /// How far the last request started behind its schedule.
    pub behind: Duration,
}

/// Sends `rate × seconds` requests from `connections` workers, worker `w` taking requests
/// `w, w + connections, …`, request `i` due at `i / rate` s after the start. A worker whose
/// previous request has not answered sends late, and the wait counts in the latency.
pub async fn run<F, Fut>(rate: u64, seconds: u64, connections: usize, request: F) -> OpenLoop
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let total = rate * seconds;
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let request = Arc::new(request);
    let start = Instant::now() + Duration::from_millis(50);
    let mut workers = Vec::with_capacity(connections);
    for worker in 0..connections as u64 {
        let request = request.clone();
        workers.push(tokio::spawn(async move {
            let mut latency = super::histogram();
            let (mut failed, mut behind) = (0, Duration::ZERO);
            let mut i = worker;
            while i < total {
                let due = start + period * i as u32;
                tokio::time::sleep_until(due).await;
                behind = Instant::now().saturating_duration_since(due);
                if request(i).await.is_err() {
                    failed += 1;
                }
                latency.saturating_record(due.elapsed().as_micros().max(1) as u64);
                i += connections as u64;
            }
            (latency, failed, behind)
        }));
    }
    let mut result = OpenLoop {
        latency: super::histogram(),
        sent: total,
        failed: 0,
        behind: Duration::ZERO,
    };
    for worker in workers {
        let (latency, failed, behind) = worker.await.expect("open-loop worker");
        result.latency.add(latency).expect("same histogram bounds");
        result.failed += failed;
        result.behind = result.behind.max(behind);
    }
    result
}

/// Waits until `due` to within the OS's timer (tens of µs). Tokio's timer wakes on whole
/// milliseconds, rounded up (and its park again), so a schedule kept with it alone starts each
/// request up to two milliseconds late (0.9-1.6 ms at p50 here), and a latency measured from the
/// due time charges that to the system under test. The last two milliseconds are slept on this
/// thread instead (multi-threaded runtime only). For sparse schedules: at high rates the blocked
/// worker would cost more than it measures.
pub async fn sleep_until_exactly(due: Instant) {
    let coarse = due.checked_sub(Duration::from_millis(2)).unwrap_or(due);
    tokio::time::sleep_until(coarse).await;
    let rest = due.saturating_duration_since(Instant::now());
    if !rest.is_zero() {
        tokio::task::block_in_place(|| std::thread::sleep(rest));
    }
}

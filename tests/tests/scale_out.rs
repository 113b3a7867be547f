//! Scale-out: the fault-survival load with two replicas of each process (api with its relay,
//! projector, dispatcher) side by side. One relay publishes at a time and the other takes over
//! when the leader's process dies; each event is projected once (the read models equal a
//! replay); each message is delivered by one replica (no duplicate while no dispatcher dies); and
//! the outcome is the same as with one of each.
//!
//! `GANGWAY_SCALE_ONBOARDINGS` sets the number of onboardings (default 1,000).

use gangway_e2e::cluster::{Cluster, Role};
use gangway_e2e::load::{count_from_env, Load};
use gangway_e2e::wait_until;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Each completion gives one of the first two (a retried onboarding whose earlier attempt did
/// complete reconnects its number) and the third.
const EVENTS: [&str; 3] = [
    "phone_number.connected",
    "phone_number.reconnected",
    "onboarding_link.completed",
];

/// Whether the api at `url` reports that its relay holds the publishing lock.
async fn leads(http: &reqwest::Client, url: &str) -> Option<bool> {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let line = text.lines().find(|l| l.starts_with("gangway_relay_leading"))?;
    Some(line.split_whitespace().last()? == "1")
}

async fn leaders(http: &reqwest::Client, urls: &[String]) -> Vec<Option<bool>> {
    let mut seen = Vec::new();
    for url in urls {
        seen.push(leads(http, url).await);
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_each_process_share_the_work_and_the_relay_fails_over() {
    let cluster = Cluster::start(2).await;
    let http = reqwest::Client::new();
    let load = Load::new(&cluster);
    let tenant = load.tenant("/hooks", &EVENTS).await;
    let count = count_from_env("GANGWAY_SCALE_ONBOARDINGS", 1_000);

    wait_until("one relay leading", Duration::from_secs(30), || async {
        leaders(&http, &cluster.api_urls)
            .await
            .iter()
            .filter(|l| **l == Some(true))
            .count()
            == 1
    })
    .await;
    let leader = leaders(&http, &cluster.api_urls)
        .await
        .iter()
        .position(|l| *l == Some(true))
        .expect("a leader");
    let follower = 1 - leader;

    let started = Instant::now();
    let failover = async {
        while load.completed.load(Ordering::Relaxed) < count / 3 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Never both at once: the follower is not leading while the leader lives.
        assert_eq!(leads(&http, &cluster.api_urls[follower]).await, Some(false));
        cluster.kill(Role::Api, leader);
        let killed_at = Instant::now();
        wait_until(
            "the other relay to take over",
            Duration::from_secs(30),
            || async { leads(&http, &cluster.api_urls[follower]).await == Some(true) },
        )
        .await;
        killed_at.elapsed()
    };
    let (onboarded, takeover) = tokio::join!(load.onboard(&tenant, count, 8), failover);
    let elapsed = started.elapsed();

    // Judged by what the clients were told and what the receiver got (see settle_and_verify).
    let settled = cluster.settle_and_verify(&tenant, "/hooks", &onboarded).await;
    eprintln!(
        "{count} onboardings on 2 replicas each in {elapsed:?}; relay take-over after {takeover:?}; \
         {} retried attempts; {settled:?}",
        load.retries.load(Ordering::Relaxed)
    );
    assert_eq!(
        settled.duplicate_deliveries, 0,
        "with both dispatchers alive, each message is delivered by one of them, once"
    );
    assert_eq!(
        settled.connected_phones, count,
        "one phone per number, none duplicated"
    );
}

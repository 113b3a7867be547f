//! Fault survival under load: a couple of thousand onboardings over HTTP (the sandbox flow, no
//! browser) while the api, the projector and the dispatcher are SIGKILLed and restarted in turn,
//! and the NATS server is restarted, the dispatcher at its shipped retry and breaker settings.
//! Afterwards nothing is lost: every event is in the store and on JetStream, every onboarding a
//! client was told succeeded (and any abandoned attempt that completed all the same) gave
//! exactly its webhooks, each arriving at least once under its one id, and the read models equal
//! a from-scratch replay.
//!
//! Each process dies twice, at fixed shares of the work done. `GANGWAY_FAULT_ONBOARDINGS` sets
//! the number of onboardings (default 2,000).

use gangway_e2e::cluster::{Cluster, Role};
use gangway_e2e::load::{count_from_env, Load};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Each completion gives one of the first two (a retried onboarding whose earlier attempt did
/// complete reconnects its number) and the third.
const EVENTS: [&str; 3] = [
    "phone_number.connected",
    "phone_number.reconnected",
    "onboarding_link.completed",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_when_every_process_and_nats_die_under_load() {
    let cluster = Cluster::start(1).await;
    let load = Load::new(&cluster);
    let tenant = load.tenant("/hooks", &EVENTS).await;
    let count = count_from_env("GANGWAY_FAULT_ONBOARDINGS", 2_000);
    let started = Instant::now();

    // Each fault strikes when this share of the onboardings has finished.
    let schedule = [
        (0.10, "api"),
        (0.20, "projector"),
        (0.30, "dispatcher"),
        (0.40, "nats"),
        (0.55, "api"),
        (0.65, "projector"),
        (0.75, "dispatcher"),
        (0.85, "nats"),
    ];
    let faults = async {
        let mut kills = Vec::new();
        for (share, process) in schedule {
            while (load.completed.load(Ordering::Relaxed) as f64) < share * count as f64 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            match process {
                "api" => cluster.restart(Role::Api, 0),
                "projector" => cluster.restart(Role::Projector, 0),
                "dispatcher" => cluster.restart(Role::Dispatcher, 0),
                _ => cluster.restart_nats(Duration::from_millis(500)).await,
            }
            kills.push(process);
        }
        kills
    };
    let work = load.onboard(&tenant, count, 8);
    let (onboarded, kills) = tokio::join!(work, faults);
    let elapsed = started.elapsed();
    assert_eq!(kills.len(), schedule.len(), "every fault struck during the load");

    // Judged by what the clients were told and what the receiver got (see settle_and_verify).
    let settled = cluster.settle_and_verify(&tenant, "/hooks", &onboarded).await;
    eprintln!(
        "{count} onboardings in {elapsed:?} with {} restarts ({kills:?}), {} retried attempts; {settled:?}",
        kills.len(),
        load.retries.load(Ordering::Relaxed),
    );
    assert_eq!(
        settled.connected_phones, count,
        "one phone per number, none duplicated"
    );
}

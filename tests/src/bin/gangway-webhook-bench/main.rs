//! `make bench` (phase `webhooks`): webhook delivery by the release dispatcher and api processes
//! against a sink in this process, next to the sink's raw request rate measured in the same run.
//! The shipped defaults first; short polls only as a second line. Prints numbers; asserts
//! nothing.

mod latency;
mod profile;
mod throughput;

use gangway_e2e::bench::services::Tuning;
use gangway_e2e::bench::sink::{self, Sink};
use gangway_e2e::bench::{ms, quantiles};
use gangway_e2e::bench_setting;
use latency::latency;
use throughput::{live, throughput};

/// Sizes and durations, from `BENCH_WEBHOOK_*` variables.
struct Settings {
    /// Events in the backlog; each becomes one delivery per endpoint.
    events: usize,
    endpoints: usize,
    /// Connections of the baseline's load generator.
    connections: usize,
    baseline_seconds: u64,
    /// Events/s and seconds of the latency run.
    rate: u64,
    seconds: u64,
}

impl Settings {
    fn from_env() -> Self {
        Self {
            events: bench_setting("BENCH_WEBHOOK_EVENTS", 2_000),
            endpoints: bench_setting("BENCH_WEBHOOK_ENDPOINTS", 10),
            connections: bench_setting("BENCH_WEBHOOK_CONNECTIONS", 64),
            baseline_seconds: bench_setting("BENCH_WEBHOOK_BASELINE_SECONDS", 5),
            rate: bench_setting("BENCH_WEBHOOK_RATE", 50),
            seconds: bench_setting("BENCH_WEBHOOK_SECONDS", 20),
        }
    }
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

/// Svix's figures were not measured by this benchmark: Svix server at commit 4fc0cfb with its
/// Redis queue and default settings, on the same 2-core machine kind, delivering to the same
/// kind of sink.
const SVIX_SOURCE: &str = "Svix server 4fc0cfb (Redis queue, defaults) on the 2-core reference machine, measured \
    separately (not in this run): alone 1,176 deliveries/s to 10 endpoints, create → delivered p50 1.2 ms, p99 6.1 ms \
    at 50/s; in one side-by-side run with Gangway fed by the same kind of trigger, 2,465-2,591 deliveries/s, \
    p50 3.7-3.8 ms, p99 8.3-8.7 ms, 6.1 s of its CPU + 7.1 s of Postgres's for 20,000 deliveries (660 µs each)";

/// CPU per delivery of Svix and its Postgres in the side-by-side run, microseconds.
const SVIX_CPU_PER_DELIVERY_US: f64 = 660.0;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let s = Settings::from_env();
    println!("Gangway webhook delivery benchmark\n");
    let sink = Sink::start().await?;

    let paths: Vec<String> = (0..s.endpoints).map(|i| format!("/e{i}")).collect();
    let baseline = sink::baseline(&sink, &paths, s.connections, s.baseline_seconds).await?;
    println!(
        "sink baseline: {baseline:.0} req/s from {} keep-alive connections over {} s",
        s.connections, s.baseline_seconds
    );

    let live = live(&sink, s.events, s.endpoints).await?;
    println!(
        "ingest and delivery together, {} events × {} endpoints (shipped defaults): {} deliveries in {:.2} s = {:.0}/s; appending took {:.2} s",
        s.events,
        s.endpoints,
        live.deliveries,
        live.span.as_secs_f64(),
        live.per_second(),
        live.appending.as_secs_f64()
    );
    println!(
        "  CPU: {} = {:.0} µs per delivery",
        live.cpu.describe(),
        live.cpu_per_delivery_us()
    );

    let t = throughput(&sink, s.events, s.endpoints).await?;
    println!(
        "backlog of {} events × {} endpoints (shipped defaults): {} deliveries in {:.2} s = {:.0}/s ({:.0} % of baseline)",
        s.events,
        s.endpoints,
        t.deliveries,
        t.span.as_secs_f64(),
        t.per_second(),
        100.0 * t.per_second() / baseline
    );
    println!(
        "  the same {} messages again, already recorded (delivery without ingest): {:.2} s = {:.0}/s ({:.0} % of baseline)",
        t.deliveries,
        t.redelivery_span.as_secs_f64(),
        t.redelivered_per_second(),
        100.0 * t.redelivered_per_second() / baseline
    );
    t.profile.print();
    println!(
        "  RSS MiB (dispatcher / api): idle {:.1} / {:.1}, max draining {:.1} / {:.1}, 1 s after {:.1} / {:.1}",
        t.idle.0, t.idle.1, t.draining.0, t.draining.1, t.after.0, t.after.1
    );

    let mut latencies = Vec::new();
    for tuning in [Tuning::Defaults, Tuning::ShortPolls] {
        let l = latency(&sink, s.rate, s.seconds, tuning).await?;
        println!(
            "latency at {} events/s for {} s, open loop, 1 endpoint, {} ({} of {} measured):",
            s.rate,
            s.seconds,
            tuning.describe(),
            l.end_to_end.len(),
            l.sent
        );
        println!("  due → received            {}", quantiles(&l.end_to_end));
        println!("  due → append sent         {}", quantiles(&l.to_send));
        println!("  due → committed           {}", quantiles(&l.to_commit));
        println!("  due → published by relay  {}", quantiles(&l.to_stream));
        println!("  published → received      {}", quantiles(&l.stream_to_sink));
        l.profile.print();
        latencies.push((tuning, l));
    }

    println!("\n| measure | result | target | | Svix (not this run) |");
    println!("| --- | --- | --- | --- | --- |");
    println!(
        "| sink, {} connections | {baseline:.0} req/s | baseline | | |",
        s.connections
    );
    println!(
        "| deliveries to {} endpoints, ingest and delivery together | {:.0}/s | ≥ 6,000/s | {} | 2,465-2,591/s side by side |",
        s.endpoints,
        live.per_second(),
        verdict(live.per_second() >= 6_000.0)
    );
    println!(
        "| CPU per delivery (Gangway, Postgres, NATS) | {:.0} µs | ≤ {:.0} µs (half of Svix's) | {} | {SVIX_CPU_PER_DELIVERY_US:.0} µs |",
        live.cpu_per_delivery_us(),
        SVIX_CPU_PER_DELIVERY_US / 2.0,
        verdict(live.cpu_per_delivery_us() <= SVIX_CPU_PER_DELIVERY_US / 2.0)
    );
    println!(
        "| deliveries draining a backlog | {:.0}/s ({:.0} % of baseline) | | | 1,176/s alone |",
        t.per_second(),
        100.0 * t.per_second() / baseline,
    );
    for (tuning, l) in &latencies {
        let (p50, p99) = (
            ms(l.end_to_end.value_at_quantile(0.5)),
            ms(l.end_to_end.value_at_quantile(0.99)),
        );
        let target = match tuning {
            Tuning::Defaults => format!("p50 ≤ 2.5 ms, p99 ≤ 6 ms | {}", verdict(p50 <= 2.5 && p99 <= 6.0)),
            Tuning::ShortPolls => " | ".into(),
        };
        println!(
            "| due → received at {}/s, {} | p50 {p50:.2} ms, p99 {p99:.2} ms | {target} | p50 3.7-3.8 ms, p99 8.3-8.7 ms side by side |",
            s.rate,
            tuning.describe()
        );
    }
    println!(
        "| dispatcher RSS idle / draining (max) | {:.1} / {:.1} MiB | < 32 / < 128 MiB | {} | |",
        t.idle.0,
        t.draining.0,
        verdict(t.idle.0 < 32.0 && t.draining.0 < 128.0)
    );
    println!("\nSvix: {SVIX_SOURCE}.");
    Ok(())
}

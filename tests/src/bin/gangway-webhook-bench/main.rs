//! `make bench` (phase `webhooks`): webhook delivery by the release dispatcher and api processes
//! against a sink in this process, next to the sink's raw request rate measured in the same run.
//! Prints numbers; asserts nothing.

mod latency;
mod profile;
mod throughput;

use gangway_e2e::bench::sink::{self, Sink};
use gangway_e2e::bench_setting;
use latency::latency;
use throughput::throughput;

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
    /// The api relay's poll in the latency run. This benchmark appends from its own process, so
    /// the relay does not get the in-process wake-up the api's own appends give it; a 1 ms poll
    /// stands in for that wake-up.
    relay_poll_ms: u64,
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
            relay_poll_ms: bench_setting("BENCH_WEBHOOK_RELAY_POLL_MS", 1),
        }
    }
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

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

    let t = throughput(&sink, s.events, s.endpoints).await?;
    println!(
        "backlog of {} events × {} endpoints: {} deliveries in {:.2} s = {:.0}/s ({:.0} % of baseline)",
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

    let l = latency(&sink, s.rate, s.seconds, s.relay_poll_ms).await?;
    let quantiles = |h: &hdrhistogram::Histogram<u64>| {
        format!(
            "p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms",
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max())
        )
    };
    println!(
        "latency at {} events/s for {} s, 1 endpoint ({} of {} measured; relay poll {} ms):",
        s.rate,
        s.seconds,
        l.end_to_end.len(),
        l.sent,
        s.relay_poll_ms
    );
    println!("  appended → received      {}", quantiles(&l.end_to_end));
    println!("  appended → on JetStream  {}", quantiles(&l.to_stream));
    println!("  on JetStream → received  {}", quantiles(&l.stream_to_sink));
    l.profile.print();

    let (p50, p99) = (
        ms(l.end_to_end.value_at_quantile(0.5)),
        ms(l.end_to_end.value_at_quantile(0.99)),
    );
    println!("\n| measure | result | target | | Svix reference |");
    println!("| --- | --- | --- | --- | --- |");
    println!(
        "| sink, {} connections | {baseline:.0} req/s | baseline | | |",
        s.connections
    );
    println!(
        "| deliveries to {} endpoints | {:.0}/s ({:.0} % of baseline) | ≥ 2,400/s | {} | 1,176/s |",
        s.endpoints,
        t.per_second(),
        100.0 * t.per_second() / baseline,
        verdict(t.per_second() >= 2_400.0)
    );
    println!(
        "| appended → received at {}/s | p50 {p50:.2} ms, p99 {p99:.2} ms | p50 ≤ 5 ms, p99 ≤ 15 ms | {} | p50 1.2 ms, p99 6.1 ms |",
        s.rate,
        verdict(p50 <= 5.0 && p99 <= 15.0)
    );
    println!(
        "| … of which delivery alone (messages already recorded) | {:.0}/s | | | |",
        t.redelivered_per_second()
    );
    println!(
        "| dispatcher RSS idle | {:.1} MiB | < 32 MiB | {} | 40 MiB |",
        t.idle.0,
        verdict(t.idle.0 < 32.0)
    );
    println!(
        "| dispatcher RSS draining (max) | {:.1} MiB | < 128 MiB | {} | 295 MiB |",
        t.draining.0,
        verdict(t.draining.0 < 128.0)
    );
    println!(
        "| api RSS idle / draining | {:.1} / {:.1} MiB | | | |",
        t.idle.1, t.draining.1
    );
    Ok(())
}

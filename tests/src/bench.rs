//! Pieces the benchmark binaries share: a counting webhook sink, the release binaries as child
//! processes, a relay run in the bench process, open-loop load and per-process CPU time.

pub mod cpu;
pub mod open_loop;
pub mod relay;
pub mod services;
pub mod sink;

use hdrhistogram::Histogram;

/// Microseconds from 1 µs to 60 s, three significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

/// Microseconds as milliseconds, for printing.
pub fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// `p50 … ms  p99 … ms  max … ms`.
pub fn quantiles(h: &Histogram<u64>) -> String {
    format!(
        "p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms",
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max())
    )
}

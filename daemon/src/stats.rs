//! Pipeline counters and the capture-to-publish latency histogram. Updated per frame with
//! atomics (no locks, no allocation); read and reset by the main thread each report period.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Latency buckets: 0.1 ms wide up to 100 ms, then 10 ms wide up to 10 s.
const FINE: usize = 1000;
const COARSE: usize = 990;
const BUCKETS: usize = FINE + COARSE + 1;

pub struct Stats {
    pub captured: AtomicU64,
    pub dropped: AtomicU64,
    pub inferred: AtomicU64,
    pub published: AtomicU64,
    pub client_drops: AtomicU64,
    pub convert_errors: AtomicU64,
    /// CLOCK_MONOTONIC ns of the last inferred frame (the watchdog's heartbeat).
    pub last_inferred_ns: AtomicU64,
    /// Sum of engine-only time, for the overhead figure.
    pub engine_ns: AtomicU64,
    /// Capture to publish.
    pub latency: Histogram,
    /// Capture to publish minus the engine: what the pipeline adds.
    pub overhead: Histogram,
}

/// Counts of durations in fixed buckets; `record` is lock- and allocation-free.
pub struct Histogram(Box<[AtomicU64]>);

impl Default for Histogram {
    fn default() -> Self {
        Histogram((0..BUCKETS).map(|_| AtomicU64::new(0)).collect())
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LatencyReport {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            captured: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            inferred: AtomicU64::new(0),
            published: AtomicU64::new(0),
            client_drops: AtomicU64::new(0),
            convert_errors: AtomicU64::new(0),
            last_inferred_ns: AtomicU64::new(0),
            engine_ns: AtomicU64::new(0),
            latency: Histogram::default(),
            overhead: Histogram::default(),
        }
    }
}

fn bucket(ns: u64) -> usize {
    let us = ns / 1000;
    if us < 100_000 {
        (us / 100) as usize
    } else {
        (FINE + ((us - 100_000) / 10_000) as usize).min(BUCKETS - 1)
    }
}

/// Upper edge of a bucket in milliseconds.
fn bucket_ms(b: usize) -> f64 {
    if b < FINE {
        (b + 1) as f64 * 0.1
    } else {
        100.0 + (b - FINE + 1) as f64 * 10.0
    }
}

impl Histogram {
    pub fn record(&self, ns: u64) {
        self.0[bucket(ns)].fetch_add(1, Relaxed);
    }

    /// Percentiles since the last call (bucket upper edges: within 0.1 ms below 100 ms).
    pub fn take(&self) -> LatencyReport {
        let mut counts = [0u64; BUCKETS];
        for (c, b) in counts.iter_mut().zip(self.0.iter()) {
            *c = b.swap(0, Relaxed);
        }
        let count: u64 = counts.iter().sum();
        if count == 0 {
            return LatencyReport::default();
        }
        let at = |q: f64| {
            let want = ((q * count as f64).ceil() as u64).max(1);
            let mut seen = 0;
            for (b, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= want {
                    return bucket_ms(b);
                }
            }
            bucket_ms(BUCKETS - 1)
        };
        let max = counts.iter().rposition(|&c| c > 0).map_or(0.0, bucket_ms);
        LatencyReport {
            count,
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            max_ms: max,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let s = Stats::default();
        // 100 samples: 1.05 ms .. 100.05 ms would straddle buckets; use exact 0.1 ms steps.
        for i in 1..=100u64 {
            s.latency.record(i * 1_000_000 - 50_000); // i ms minus 0.05 ms
        }
        let r = s.latency.take();
        assert_eq!(r.count, 100);
        assert!((r.p50_ms - 50.0).abs() < 1e-9, "{r:?}");
        assert!((r.p99_ms - 99.0).abs() < 1e-9, "{r:?}");
        assert!((r.max_ms - 100.0).abs() < 1e-9, "{r:?}");
        assert_eq!(s.latency.take().count, 0, "taking resets");
    }

    #[test]
    fn long_latencies_land_in_coarse_buckets() {
        let s = Stats::default();
        s.latency.record(2_500_000_000);
        s.latency.record(60_000_000_000);
        let r = s.latency.take();
        assert!((r.p50_ms - 2510.0).abs() < 1e-9, "{r:?}");
        assert!(
            r.max_ms >= 10_000.0,
            "beyond 10 s lands in the last bucket: {r:?}"
        );
    }
}

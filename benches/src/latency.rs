//! One-way latency samples and their percentiles.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Largest latency the histogram resolves (larger samples are clamped): 60 s.
const MAX_TRACKED_NS: u64 = 60_000_000_000;

/// Percentiles at which [`LatencySummary::cdf`] samples the distribution:
/// fixed, so the same point of several runs can be compared (a median per point).
pub const CDF_PERCENTILES: [f64; 20] = [
    1.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 97.0, 99.0, 99.5, 99.8, 99.9, 99.95, 99.99,
    100.0,
];

/// Percentiles of one run's latency samples, in nanoseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Samples recorded.
    pub samples: u64,
    /// Median.
    pub p50_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Largest sample.
    pub max_ns: u64,
    /// The latency at each of [`CDF_PERCENTILES`], in order.
    #[serde(default)]
    pub cdf: Vec<u64>,
}

/// Collects one-way latencies (consumer clock minus producer stamp).
///
/// # Examples
/// ```
/// let mut rec = ringlog_benches::latency::LatencyRecorder::new();
/// for ns in [100, 200, 300] { rec.record(ns); }
/// let s = rec.summary();
/// assert_eq!(s.samples, 3);
/// assert!((199..=201).contains(&s.p50_ns));
/// ```
pub struct LatencyRecorder {
    histogram: Histogram<u64>,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyRecorder {
    /// An empty recorder with three significant digits.
    pub fn new() -> Self {
        Self { histogram: Histogram::new_with_bounds(1, MAX_TRACKED_NS, 3).expect("constant bounds are valid") }
    }

    /// Adds one sample (clamped into the tracked range).
    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.histogram.saturating_record(ns.max(1));
    }

    /// The percentiles so far.
    pub fn summary(&self) -> LatencySummary {
        let h = &self.histogram;
        LatencySummary {
            samples: h.len(),
            p50_ns: h.value_at_quantile(0.50),
            p99_ns: h.value_at_quantile(0.99),
            p999_ns: h.value_at_quantile(0.999),
            max_ns: h.max(),
            cdf: CDF_PERCENTILES.iter().map(|&p| h.value_at_percentile(p)).collect(),
        }
    }
}

//! Rows of the `lifecycle` report: one measurement each, with its target from
//! the architecture brief, the printed table and the JSON array.

use serde::Serialize;

use crate::report::median;

/// A target a measurement is judged against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "op", content = "value", rename_all = "snake_case")]
pub enum Target {
    /// The median must be at most this.
    AtMost(f64),
    /// The median must be below this.
    Below(f64),
    /// Every sample must have passed its count checks (no figure to meet).
    AllExact,
}

/// One row: one measurement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LifecycleRow {
    /// What was measured (`init_to_first_record`, `cold_autostart`, ...).
    pub measure: String,
    /// Unit of `median`, `min`, `p90` and `max` (`ms`, `%`, `s`, `records/s`).
    pub unit: String,
    /// Median of the samples.
    pub median: f64,
    /// Smallest sample.
    pub min: f64,
    /// 90th percentile of the samples (nearest rank).
    pub p90: f64,
    /// Largest sample.
    pub max: f64,
    /// Samples taken.
    pub samples: u32,
    /// The brief's target, if it sets one.
    pub target: Option<Target>,
    /// Whether the target was met; null without a target.
    pub met: Option<bool>,
    /// What the samples were and anything else worth knowing.
    pub detail: String,
}

impl LifecycleRow {
    /// A row from `samples` (in `unit`), judged against `target`.
    ///
    /// # Examples
    /// ```
    /// use ringlog_benches::lifecycle_report::{LifecycleRow, Target};
    /// let row = LifecycleRow::from_samples("init", "ms", &[3.0, 9.0, 4.0], Some(Target::AtMost(5.0)), "");
    /// assert_eq!(row.median, 4.0);
    /// assert_eq!(row.p90, 9.0);
    /// assert_eq!(row.met, Some(true));
    /// ```
    pub fn from_samples(measure: &str, unit: &str, samples: &[f64], target: Option<Target>, detail: &str) -> Self {
        let median = median(samples);
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let p90 = sorted.get((sorted.len() * 9).div_ceil(10).saturating_sub(1)).copied().unwrap_or(0.0);
        let met = target.map(|t| match t {
            Target::AtMost(limit) => median <= limit,
            Target::Below(limit) => median < limit,
            Target::AllExact => true,
        });
        Self {
            measure: measure.to_owned(),
            unit: unit.to_owned(),
            median,
            min: sorted.first().copied().unwrap_or(0.0),
            p90,
            max: sorted.last().copied().unwrap_or(0.0),
            samples: samples.len() as u32,
            target,
            met,
            detail: detail.to_owned(),
        }
    }
}

fn target_text(target: Option<Target>, unit: &str) -> String {
    match target {
        Some(Target::AtMost(v)) => format!("<= {v} {unit}"),
        Some(Target::Below(v)) => format!("< {v} {unit}"),
        Some(Target::AllExact) => "all exact".to_owned(),
        None => "-".to_owned(),
    }
}

/// Formats a figure with a precision that suits its size.
fn figure(v: f64) -> String {
    match v.abs() {
        a if a >= 100.0 => format!("{v:.0}"),
        a if a >= 1.0 => format!("{v:.2}"),
        _ => format!("{v:.3}"),
    }
}

/// The rows as a fixed-width table, then one detail line per row.
pub fn table(rows: &[LifecycleRow]) -> String {
    let mut out = format!(
        "{:<28} {:>10} {:>10} {:>10} {:>10} {:>4} {:<10} {:<15} {}\n",
        "measure", "median", "min", "p90", "max", "n", "unit", "target", "result"
    );
    for r in rows {
        let result = match r.met {
            Some(true) => "ok",
            Some(false) => "MISSED",
            None => "-",
        };
        out += &format!(
            "{:<28} {:>10} {:>10} {:>10} {:>10} {:>4} {:<10} {:<15} {}\n",
            r.measure,
            figure(r.median),
            figure(r.min),
            figure(r.p90),
            figure(r.max),
            r.samples,
            r.unit,
            target_text(r.target, &r.unit),
            result
        );
    }
    for r in rows.iter().filter(|r| !r.detail.is_empty()) {
        out += &format!("  {}: {}\n", r.measure, r.detail);
    }
    out
}

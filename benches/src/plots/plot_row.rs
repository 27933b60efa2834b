//! One row of the `compare` JSON, as the plots read it.
//!
//! [`PlotRow`] holds only the fields the plots use, not the whole
//! [`crate::Row`]: the report gains fields over time, and JSON files written by
//! older `compare` builds lack the newer ones. Unknown fields are ignored, and
//! every field a row may lack has a default, so any `compare --json` file loads.

use std::path::Path;

use serde::Deserialize;

use super::plot_error::PlotError;

/// The fields of one `compare` report row that the plots draw.
///
/// # Examples
///
/// ```
/// use ringlog_benches::plots::PlotRow;
///
/// let row: PlotRow = serde_json::from_str(
///     r#"{"transport": "ringlog", "record": "scalar1", "mode": "throughput", "records_per_s": 2.5e7}"#,
/// )
/// .unwrap();
/// assert_eq!(row.producers, 1);
/// assert!(row.latency_cdf.is_none() && !row.oversubscribed);
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PlotRow {
    /// Transport name (`ringlog`, `uds-protobuf`, ...); unknown names plot as
    /// their own series.
    pub transport: String,
    /// Record shape (`scalar1`, `scalar8`, `f32x1024`, ...).
    pub record: String,
    /// `throughput`, `latency` (spinning consumer) or `latency-parked`.
    pub mode: String,
    /// Producer processes; 1 when absent.
    #[serde(default = "one")]
    pub producers: u32,
    /// Median records per second.
    #[serde(default)]
    pub records_per_s: f64,
    /// Median payload bytes per second as the transport carries them.
    #[serde(default)]
    pub bytes_per_s: f64,
    /// Median one-way latency p50 (ns); absent in throughput rows.
    #[serde(default)]
    pub p50_ns: Option<u64>,
    /// Median one-way latency p99.9 (ns); absent in throughput rows.
    #[serde(default)]
    pub p999_ns: Option<u64>,
    /// The latency distribution as `[percentile, ns]` pairs, percentiles 1 to
    /// 100 ascending; absent in throughput rows and in old files.
    #[serde(default)]
    pub latency_cdf: Option<Vec<[f64; 2]>>,
    /// More processes than CPUs: the figures include time-sharing of cores.
    #[serde(default)]
    pub oversubscribed: bool,
}

fn one() -> u32 {
    1
}

impl PlotRow {
    /// Whether the row measured throughput.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ringlog_benches::plots::PlotRow;
    /// let row: PlotRow = serde_json::from_str(r#"{"transport":"x","record":"y","mode":"throughput"}"#).unwrap();
    /// assert!(row.is_throughput());
    /// ```
    pub fn is_throughput(&self) -> bool {
        self.mode == "throughput"
    }
}

/// Parses the JSON array that `compare --json FILE` writes.
///
/// # Errors
///
/// [`PlotError::Parse`] when `json` is not an array of rows with at least
/// `transport`, `record` and `mode`.
///
/// # Examples
///
/// ```
/// let rows = ringlog_benches::plots::rows_from_json(
///     r#"[{"transport": "crossbeam", "record": "scalar8", "mode": "latency", "latency_cdf": [[50, 900], [100, 4000]]}]"#,
///     "inline",
/// )
/// .unwrap();
/// assert_eq!(rows[0].latency_cdf.as_deref(), Some(&[[50.0, 900.0], [100.0, 4000.0]][..]));
/// ```
pub fn rows_from_json(json: &str, origin: &str) -> Result<Vec<PlotRow>, PlotError> {
    serde_json::from_str(json).map_err(|source| PlotError::Parse { origin: origin.to_owned(), source })
}

/// Reads and parses a `compare --json FILE` file.
///
/// # Errors
///
/// [`PlotError::Read`] when the file cannot be read, [`PlotError::Parse`] when
/// it is not the JSON array `compare` writes.
///
/// # Examples
///
/// ```
/// let path = std::env::temp_dir().join(format!("plot-row-doc-{}.json", std::process::id()));
/// std::fs::write(&path, r#"[{"transport": "ringlog", "record": "scalar1", "mode": "throughput"}]"#).unwrap();
/// let rows = ringlog_benches::plots::load_rows(&path).unwrap();
/// assert_eq!(rows.len(), 1);
/// std::fs::remove_file(&path).unwrap();
/// ```
pub fn load_rows(path: &Path) -> Result<Vec<PlotRow>, PlotError> {
    let json = std::fs::read_to_string(path).map_err(|source| PlotError::Read { path: path.to_owned(), source })?;
    rows_from_json(&json, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_row_without_cdf_or_oversubscribed_loads() {
        // The shape of a row from before `latency_cdf`, `oversubscribed` and
        // friends existed, with a field the plots do not read.
        let old = r#"[{
            "transport": "ringlog", "record": "scalar8", "mode": "latency", "producers": 1,
            "runs": 5, "api": "x", "records": 100000, "records_per_s": 199000.0,
            "bytes_per_s": 1.5e7, "bytes_per_record": 80.0,
            "p50_ns": 250, "p99_ns": 900, "p999_ns": 4000, "max_ns": 90000
        }]"#;
        let rows = rows_from_json(old, "old.json").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].latency_cdf, None);
        assert!(!rows[0].oversubscribed);
        assert_eq!(rows[0].p999_ns, Some(4000));
    }

    #[test]
    fn a_non_array_says_what_was_expected() {
        let err = rows_from_json(r#"{"transport": "ringlog"}"#, "x.json").unwrap_err().to_string();
        assert!(err.contains("x.json") && err.contains("compare --json"), "{err}");
    }
}

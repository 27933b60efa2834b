//! Renders every plot of the results page from the report's rows.

use std::path::{Path, PathBuf};

use super::by_producers::draw_by_producers;
use super::by_record::{BarMetric, draw_by_record};
use super::latency_cdf::draw_latency_cdfs;
use super::plot_error::PlotError;
use super::plot_row::PlotRow;

/// What one plot function did.
#[derive(Debug)]
pub(crate) enum Drawn {
    /// Wrote this file.
    Written(PathBuf),
    /// Wrote nothing: the rows hold no data for the plot.
    Skipped(String),
}

impl Drawn {
    /// A skipped plot: `file` and why.
    pub(crate) fn skipped(file: &str, why: &str) -> Self {
        Drawn::Skipped(format!("{file}: {why}"))
    }
}

/// The files [`render_all`] wrote, and the plots it left out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rendered {
    /// The SVG files written, in drawing order.
    pub written: Vec<PathBuf>,
    /// One line per plot the rows have no data for: `FILE: why`.
    pub skipped: Vec<String>,
}

/// Draws every plot the rows have data for into `out_dir` (created if
/// missing): `throughput-by-record.svg`, `bandwidth-by-record.svg`,
/// `throughput-by-producers.svg`, and `latency-cdf-<record>.svg` per record
/// shape with latency rows.
///
/// # Errors
///
/// [`PlotError::Font`] when no font for the labels is found,
/// [`PlotError::OutputDir`] when `out_dir` cannot be created, and
/// [`PlotError::Draw`] when a file cannot be written.
///
/// # Examples
///
/// ```
/// use ringlog_benches::plots::{render_all, rows_from_json};
///
/// let rows = rows_from_json(
///     r#"[{"transport": "ringlog", "record": "scalar1", "mode": "throughput", "records_per_s": 2.5e7, "bytes_per_s": 4e8}]"#,
///     "inline",
/// )?;
/// let dir = std::env::temp_dir().join(format!("ringlog-plots-doc-{}", std::process::id()));
/// let rendered = render_all(&rows, &dir)?;
/// assert_eq!(rendered.written.len(), 2); // records/s and GB/s by record shape
/// assert_eq!(rendered.skipped.len(), 2); // no producer sweep, no latency rows
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn render_all(rows: &[PlotRow], out_dir: &Path) -> Result<Rendered, PlotError> {
    ringlog_service::cli::load_font().map_err(|e| PlotError::Font(e.to_string()))?;
    std::fs::create_dir_all(out_dir).map_err(|source| PlotError::OutputDir { path: out_dir.to_owned(), source })?;
    let mut drawn = vec![
        draw_by_record(rows, BarMetric::Records, out_dir)?,
        draw_by_record(rows, BarMetric::Bytes, out_dir)?,
        draw_by_producers(rows, out_dir)?,
    ];
    drawn.extend(draw_latency_cdfs(rows, out_dir)?);
    let mut rendered = Rendered::default();
    for d in drawn {
        match d {
            Drawn::Written(path) => rendered.written.push(path),
            Drawn::Skipped(why) => rendered.skipped.push(why),
        }
    }
    Ok(rendered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plots::rows_from_json;

    /// A CDF from 1 to 100 rising from `p50` to `max` ns.
    fn cdf(p50: f64, max: f64) -> String {
        let points: Vec<String> = [1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0]
            .iter()
            .map(|&p| {
                let ns =
                    if p <= 50.0 { p50 * (0.6 + 0.008 * p) } else { p50 + (max - p50) * ((p - 50.0) / 50.0).powi(8) };
                format!("[{p}, {ns}]")
            })
            .collect();
        format!("[{}]", points.join(","))
    }

    /// A small report: four transports (one the plots do not know), two record
    /// shapes, a producer sweep with an oversubscribed point, spinning and
    /// parked latency.
    fn rows() -> Vec<PlotRow> {
        let mut json = Vec::new();
        for (t, rate) in [("ringlog", 3.0e7), ("uds-protobuf", 4.0e5), ("iceoryx2", 6.0e6), ("shm-next", 1.2e7)] {
            for (record, bytes, scale) in [("scalar1", 24.0, 1.0), ("f32x1024", 4120.0, 0.02)] {
                let r = rate * scale;
                json.push(format!(
                    r#"{{"transport":"{t}","record":"{record}","mode":"throughput","producers":1,"records_per_s":{r},"bytes_per_s":{},"oversubscribed":false}}"#,
                    r * bytes
                ));
            }
            for (mode, p50) in [("latency", 200.0), ("latency-parked", 9000.0)] {
                json.push(format!(
                    r#"{{"transport":"{t}","record":"scalar1","mode":"{mode}","producers":1,"records_per_s":2e5,"p50_ns":{p50},"latency_cdf":{}}}"#,
                    cdf(p50, p50 * 200.0)
                ));
            }
        }
        for (p, rate, over) in [(1, 8.0e6, false), (2, 1.3e7, false), (4, 1.1e7, true)] {
            json.push(format!(
                r#"{{"transport":"ringlog-e2e","record":"scalar8","mode":"throughput","producers":{p},"records_per_s":{rate},"bytes_per_s":1e8,"oversubscribed":{over}}}"#
            ));
        }
        rows_from_json(&format!("[{}]", json.join(",")), "test rows").unwrap()
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ringlog-plots-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn every_plot_is_drawn_with_its_series() {
        let dir = temp_dir("all");
        let rendered = render_all(&rows(), &dir).unwrap();
        assert!(rendered.skipped.is_empty(), "{:?}", rendered.skipped);
        let names: Vec<String> =
            rendered.written.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(
            names,
            [
                "throughput-by-record.svg",
                "bandwidth-by-record.svg",
                "throughput-by-producers.svg",
                "latency-cdf-scalar1.svg"
            ]
        );
        let svg = |name: &str| {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            assert!(text.len() > 3_000 && text.starts_with("<svg"), "{name}: {} bytes", text.len());
            text
        };
        for name in ["throughput-by-record.svg", "bandwidth-by-record.svg"] {
            let text = svg(name);
            for series in ["ringlog", "uds-protobuf", "iceoryx2", "shm-next", "scalar1", "f32x1024"] {
                assert!(text.contains(series), "{name} lacks {series}");
            }
        }
        let text = svg("throughput-by-producers.svg");
        assert!(text.contains("ringlog-e2e scalar8") && text.contains("oversubscribed"));
        let text = svg("latency-cdf-scalar1.svg");
        for series in ["ringlog spinning", "ringlog parked", "iceoryx2 spinning", "shm-next parked", "p99.9"] {
            assert!(text.contains(series), "the CDF lacks {series}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn producer_lines_far_apart_get_a_log_axis() {
        let dir = temp_dir("spread");
        let mut rows = rows();
        let mut tensor: Vec<PlotRow> = rows.iter().filter(|r| r.transport == "ringlog-e2e").cloned().collect();
        for r in &mut tensor {
            r.record = "f32x1024".to_owned();
            r.records_per_s /= 400.0;
        }
        rows.extend(tensor);
        render_all(&rows, &dir).unwrap();
        let text = std::fs::read_to_string(dir.join("throughput-by-producers.svg")).unwrap();
        assert!(text.contains("ringlog-e2e f32x1024") && text.contains("log scale"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn plots_without_data_are_skipped_with_a_reason() {
        let dir = temp_dir("none");
        let only_latency: Vec<PlotRow> = rows().into_iter().filter(|r| !r.is_throughput()).collect();
        let rendered = render_all(&only_latency, &dir).unwrap();
        assert_eq!(rendered.written.len(), 1);
        assert_eq!(rendered.skipped.len(), 3);
        assert!(rendered.skipped[2].starts_with("throughput-by-producers.svg: no throughput case"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! The distribution of one-way latency (`latency-cdf-<record>.svg`, one file
//! per record shape): latency against percentile, one line per (transport,
//! mode), spinning consumers solid and parked ones dashed.
//!
//! The percentile axis is stretched towards the tail: each step up is one
//! more nine (90, 99, 99.9, 99.99), and the top is the largest sample. On a
//! plain 0 to 100 axis everything past the 99th percentile, where transports
//! differ most, would be one pixel high.

use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::axes::{LogAxis, duration_ns};
use super::figure::{FONT, Figure, LegendEntry, Marked, Stroke, Swatch, draw_line, draw_svg};
use super::palette::transport_color;
use super::plot_error::PlotError;
use super::plot_row::PlotRow;
use super::render::Drawn;
use super::series_order::{records, transports};
use super::ticked_axis::TickedAxis;

/// Height of percentile `p` (below 100) on the tail axis: the number of nines,
/// `-log10(1 - p/100)` (90 is 1, 99 is 2).
fn nines(p: f64) -> f64 {
    -(1.0 - p / 100.0).log10()
}

/// The percentile at height `t` of the tail axis.
fn percentile(t: f64) -> f64 {
    100.0 * (1.0 - 10f64.powf(-t))
}

/// A percentile as its tick label: `50`, `99.9`, `99.99`.
fn percentile_label(p: f64) -> String {
    let s = format!("{p:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The file name of `record`'s plot (characters outside `[A-Za-z0-9_-]` become `_`).
pub(crate) fn file_name(record: &str) -> String {
    let safe: String =
        record.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    format!("latency-cdf-{safe}.svg")
}

/// How a mode is named and stroked.
fn mode_look(mode: &str) -> (&str, Stroke) {
    match mode {
        "latency" => ("spinning", Stroke::Solid),
        "latency-parked" => ("parked", Stroke::Dashed),
        other => (other, Stroke::Dotted),
    }
}

/// One line: a latency row's CDF.
struct Curve<'a> {
    row: &'a PlotRow,
    /// `(percentile, ns)`, by percentile.
    cdf: Vec<(f64, f64)>,
}

impl Curve<'_> {
    /// The latency at percentile `p`: the row's own figure, else the CDF's point.
    fn at(&self, field: Option<u64>, p: f64) -> Option<f64> {
        field.map(|ns| ns as f64).or_else(|| self.cdf.iter().find(|c| (c.0 - p).abs() < 1e-9).map(|c| c.1))
    }

    fn legend(&self) -> LegendEntry {
        let (name, stroke) = mode_look(&self.row.mode);
        let mut label = format!("{} {name}", self.row.transport);
        if self.row.producers > 1 {
            label += &format!(" ({} producers)", self.row.producers);
        }
        let figures: Vec<String> =
            [("p50", self.at(self.row.p50_ns, 50.0)), ("p99.9", self.at(self.row.p999_ns, 99.9))]
                .into_iter()
                .filter_map(|(name, ns)| ns.map(|ns| format!("{name} {}", duration_ns(ns))))
                .collect();
        LegendEntry {
            label,
            detail: (!figures.is_empty()).then(|| figures.join(", ")),
            swatch: Swatch::Line(transport_color(&self.row.transport), stroke, Marked::Plain),
        }
    }
}

/// Draws one plot per record shape with latency CDFs into `out_dir`.
pub(crate) fn draw_latency_cdfs(rows: &[PlotRow], out_dir: &Path) -> Result<Vec<Drawn>, PlotError> {
    let with_cdf: Vec<&PlotRow> =
        rows.iter().filter(|r| !r.is_throughput() && r.latency_cdf.as_ref().is_some_and(|c| !c.is_empty())).collect();
    if with_cdf.is_empty() {
        return Ok(vec![Drawn::skipped("latency-cdf-<record>.svg", "no latency rows with a latency_cdf")]);
    }
    records(with_cdf.iter().map(|r| r.record.as_str()))
        .iter()
        .map(|record| {
            let of_record: Vec<&PlotRow> = with_cdf.iter().copied().filter(|r| &r.record == record).collect();
            draw_record(record, &of_record, out_dir).map(Drawn::Written)
        })
        .collect()
}

fn draw_record(record: &str, rows: &[&PlotRow], out_dir: &Path) -> Result<std::path::PathBuf, PlotError> {
    // Series order: transports in run order, then spinning before parked, then producers.
    let order = transports(rows.iter().map(|r| r.transport.as_str()));
    let mut sorted: Vec<&PlotRow> = rows.to_vec();
    sorted.sort_by_key(|r| {
        (order.iter().position(|t| t == &r.transport), r.mode != "latency", r.mode.clone(), r.producers)
    });
    sorted.dedup_by(|a, b| a.transport == b.transport && a.mode == b.mode && a.producers == b.producers);
    let curves: Vec<Curve<'_>> = sorted
        .into_iter()
        .map(|row| {
            let mut cdf: Vec<(f64, f64)> = row
                .latency_cdf
                .iter()
                .flatten()
                .filter(|[p, ns]| (0.0..=100.0).contains(p) && ns.is_finite())
                .map(|&[p, ns]| (p, ns.max(1.0)))
                .collect();
            cdf.sort_by(|a, b| a.0.total_cmp(&b.0));
            Curve { row, cdf }
        })
        .collect();
    let x_axis = LogAxis::spanning(curves.iter().flat_map(|c| c.cdf.iter().map(|p| p.1)), 1.0)
        .unwrap_or_else(|| LogAxis::spanning([1.0].into_iter(), 1.0).expect("1 is positive"));
    // Whole nines up to the deepest percentile below 100 (at least 99.99), then the maximum.
    let deepest =
        curves.iter().flat_map(|c| c.cdf.iter()).filter(|p| p.0 < 100.0).map(|p| nines(p.0)).fold(4.0, f64::max);
    let top = deepest.ceil() + 0.5;
    let mut y_keys = vec![nines(50.0)];
    y_keys.extend((1..=deepest.ceil() as i32).map(f64::from));
    y_keys.push(top);
    let y_light: Vec<f64> =
        [25.0, 75.0, 95.0, 99.5, 99.95, 99.995].into_iter().map(nines).filter(|&t| t < top).collect();
    let figure = Figure {
        title: format!("One-way latency, {record}"),
        notes: vec![
            "Producer write to consumer read, paced records, each point the median over runs. Spinning: the consumer \
             polls; parked: it sleeps and is woken."
                .to_owned(),
            "Percentile axis stretched to the tail (one step per nine; top: the largest sample). Log latency axis."
                .to_owned(),
        ],
        legend: curves.iter().map(Curve::legend).collect(),
    };
    let path = out_dir.join(file_name(record));
    draw_svg(&path, &figure, |area| {
        let x_range = x_axis.coord();
        let y_range = TickedAxis::<RangedCoordf64>::new(0.0..top + 0.1, y_keys.clone(), y_light);
        let mut chart = ChartBuilder::on(area)
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(80)
            .build_cartesian_2d(x_range, y_range)?;
        let ns_label = |x: &f64| duration_ns(*x);
        let p_label =
            |t: &f64| if (t - top).abs() < 1e-9 { "max".to_owned() } else { percentile_label(percentile(*t)) };
        chart
            .configure_mesh()
            .x_label_formatter(&ns_label)
            .y_label_formatter(&p_label)
            .x_desc("one-way latency (log scale)")
            .y_desc("percentile")
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .light_line_style(BLACK.mix(0.06))
            .bold_line_style(BLACK.mix(0.18))
            .draw()?;
        let plot = chart.plotting_area();
        for curve in &curves {
            let (_, stroke) = mode_look(&curve.row.mode);
            let color = transport_color(&curve.row.transport);
            let points: Vec<(f64, f64)> =
                curve.cdf.iter().map(|&(p, ns)| (ns, if p >= 100.0 { top } else { nines(p) })).collect();
            draw_line(plot, points, color, stroke)?;
        }
        Ok(())
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_axis_counts_nines() {
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
        assert_eq!(percentile_label(percentile(nines(99.99))), "99.99");
        assert_eq!(percentile_label(percentile(nines(50.0))), "50");
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(file_name("f32x1024"), "latency-cdf-f32x1024.svg");
        assert_eq!(file_name("a/b c"), "latency-cdf-a_b_c.svg");
    }
}

//! Throughput by record shape (`throughput-by-record.svg`) and bandwidth by
//! record shape (`bandwidth-by-record.svg`): a group of bars per record shape,
//! one bar per transport, on a log axis, from the throughput rows with one
//! producer.
//!
//! Records per second compare the small records, where the cost per record
//! dominates; bytes per second compare the 4 KiB tensor, which is bound by
//! memory bandwidth.

use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axes::{LogAxis, si, significant};
use super::figure::{DrawResult, FONT, Figure, LegendEntry, Swatch, draw_svg};
use super::palette::transport_color;
use super::plot_error::PlotError;
use super::plot_row::PlotRow;
use super::render::Drawn;
use super::series_order::{record_label, records, transports};
use super::ticked_axis::TickedAxis;

/// What the bars measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BarMetric {
    /// Records per second.
    Records,
    /// Payload gigabytes per second, as each transport carries them.
    Bytes,
}

impl BarMetric {
    /// The output file's name.
    pub(crate) fn file_name(self) -> &'static str {
        match self {
            BarMetric::Records => "throughput-by-record.svg",
            BarMetric::Bytes => "bandwidth-by-record.svg",
        }
    }

    fn value(self, row: &PlotRow) -> f64 {
        match self {
            BarMetric::Records => row.records_per_s,
            BarMetric::Bytes => row.bytes_per_s / 1e9,
        }
    }

    fn label(self, v: f64) -> String {
        match self {
            BarMetric::Records => si(v),
            BarMetric::Bytes => significant(v),
        }
    }

    fn figure(self) -> (String, Vec<String>, &'static str) {
        match self {
            BarMetric::Records => (
                "Throughput by record shape".to_owned(),
                vec![
                    "Median records per second, one producer process and one consumer process on separate cores."
                        .to_owned(),
                    "Log scale: each grid line is ten times the one below.".to_owned(),
                ],
                "records per second (log scale)",
            ),
            BarMetric::Bytes => (
                "Bandwidth by record shape".to_owned(),
                vec![
                    "Median payload GB/s as each transport carries it (frame bytes; socket bytes with framing), one \
                     producer."
                        .to_owned(),
                    "The 4 KiB tensor is bound by memory bandwidth. Log scale.".to_owned(),
                ],
                "GB/s (log scale)",
            ),
        }
    }
}

/// Draws the bars of `metric` into `out_dir`, or says why there are none.
pub(crate) fn draw_by_record(rows: &[PlotRow], metric: BarMetric, out_dir: &Path) -> Result<Drawn, PlotError> {
    let chosen: Vec<&PlotRow> =
        rows.iter().filter(|r| r.is_throughput() && r.producers == 1 && metric.value(r) > 0.0).collect();
    let file = metric.file_name();
    let Some(axis) = LogAxis::spanning(chosen.iter().map(|r| metric.value(r)), 4.0) else {
        return Ok(Drawn::skipped(file, "no throughput rows with one producer"));
    };
    let groups = records(chosen.iter().map(|r| r.record.as_str()));
    let series = transports(chosen.iter().map(|r| r.transport.as_str()));
    // bars[s][g]: series s in group g (the first row of that case).
    let bars: Vec<Vec<Option<f64>>> = series
        .iter()
        .map(|t| {
            groups
                .iter()
                .map(|g| chosen.iter().find(|r| &r.transport == t && &r.record == g).map(|r| metric.value(r)))
                .collect()
        })
        .collect();
    let (title, notes, y_desc) = metric.figure();
    let figure = Figure {
        title,
        notes,
        legend: series.iter().map(|t| LegendEntry::new(t.as_str(), Swatch::Bar(transport_color(t)))).collect(),
    };
    let path = out_dir.join(file);
    draw_svg(&path, &figure, |area| {
        let n = groups.len();
        let x_range =
            TickedAxis::<RangedCoordf64>::new(-0.5..n as f64 - 0.5, (0..n).map(|i| i as f64).collect(), vec![]);
        let y_range = axis.coord();
        let mut chart = ChartBuilder::on(area)
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(80)
            .build_cartesian_2d(x_range, y_range)?;
        let group_label = |x: &f64| groups.get(x.round() as usize).map(|g| record_label(g)).unwrap_or_default();
        let value_label = |y: &f64| metric.label(*y);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_label_formatter(&group_label)
            .y_label_formatter(&value_label)
            .y_desc(y_desc)
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .light_line_style(BLACK.mix(0.06))
            .bold_line_style(BLACK.mix(0.18))
            .draw()?;
        // Each group spans 0.84 of its slot; bars keep a small gap between them.
        let slot = 0.84 / series.len() as f64;
        let (width_px, _) = chart.plotting_area().dim_in_pixel();
        let slot_px = f64::from(width_px) / n as f64 * slot;
        for (s, t) in series.iter().enumerate() {
            let color = transport_color(t);
            for (g, v) in bars[s].iter().enumerate() {
                let Some(v) = *v else { continue };
                let x0 = g as f64 - 0.42 + s as f64 * slot;
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x0, axis.lo), (x0 + slot * 0.9, v)],
                    color.filled(),
                )))?;
                draw_value_label(&mut chart, (x0 + slot * 0.45, v), &metric.label(v), slot_px)?;
            }
        }
        Ok(())
    })?;
    Ok(Drawn::Written(path))
}

/// The value above a bar: level when the bar is wide enough, else upright.
fn draw_value_label<CT: plotters::coord::CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'_, SVGBackend<'_>, CT>,
    at: (f64, f64),
    text: &str,
    slot_px: f64,
) -> DrawResult {
    let level = slot_px >= 9.0 * text.chars().count() as f64;
    let style = (FONT, 13).into_font().color(&BLACK.mix(0.8));
    let (style, offset) = if level {
        (style.pos(Pos::new(HPos::Center, VPos::Bottom)), (0, -3))
    } else {
        (style.transform(FontTransform::Rotate270).pos(Pos::new(HPos::Left, VPos::Center)), (0, -4))
    };
    chart.plotting_area().draw(&(EmptyElement::at(at) + Text::new(text.to_owned(), offset, style)))?;
    Ok(())
}

//! Throughput by producer processes (`throughput-by-producers.svg`): records
//! per second of all producers together against their number, one line per
//! (transport, record shape) measured with more than one producer count.
//!
//! Points measured with more processes than CPUs are hollow: there the
//! producers and the receiver time-share cores, so the figure says more about
//! the machine than about the transport.

use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axes::{LinearAxis, LogAxis, si};
use super::figure::{
    ChartArea, DrawResult, FONT, Figure, LegendEntry, Marked, NOTE_GREY, Stroke, Swatch, draw_line, draw_svg,
};
use super::palette::transport_color;
use super::plot_error::PlotError;
use super::plot_row::PlotRow;
use super::render::Drawn;
use super::series_order::{records, transports};
use super::ticked_axis::TickedAxis;

/// The output file's name.
pub(crate) const FILE: &str = "throughput-by-producers.svg";

/// Highest over lowest rate above which the rate axis is logarithmic.
const SPREAD_FOR_LOG: f64 = 20.0;

/// One line: a (transport, record) case at each producer count.
struct Line {
    transport: String,
    record: String,
    /// `(producers, records/s, oversubscribed)`, by producers.
    points: Vec<(f64, f64, bool)>,
    stroke: Stroke,
}

/// The lines to draw: throughput cases with more than one producer count.
fn lines(rows: &[PlotRow]) -> Vec<Line> {
    let chosen: Vec<&PlotRow> = rows.iter().filter(|r| r.is_throughput() && r.records_per_s > 0.0).collect();
    let mut out = Vec::new();
    for transport in transports(chosen.iter().map(|r| r.transport.as_str())) {
        let of_transport: Vec<&PlotRow> = chosen.iter().copied().filter(|r| r.transport == transport).collect();
        let mut drawn = 0;
        for record in records(of_transport.iter().map(|r| r.record.as_str())) {
            let mut points: Vec<(f64, f64, bool)> = Vec::new();
            for r in of_transport.iter().filter(|r| r.record == record) {
                // The first row of each producer count.
                if !points.iter().any(|p| p.0 == f64::from(r.producers)) {
                    points.push((f64::from(r.producers), r.records_per_s, r.oversubscribed));
                }
            }
            if points.len() > 1 {
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                out.push(Line { transport: transport.clone(), record, points, stroke: Stroke::nth(drawn) });
                drawn += 1;
            }
        }
    }
    out
}

/// Draws the lines into `out_dir`, or says why there are none.
pub(crate) fn draw_by_producers(rows: &[PlotRow], out_dir: &Path) -> Result<Drawn, PlotError> {
    let lines = lines(rows);
    if lines.is_empty() {
        return Ok(Drawn::skipped(FILE, "no throughput case was measured with more than one producer count"));
    }
    let all = || lines.iter().flat_map(|l| l.points.iter());
    let oversubscribed = all().any(|p| p.2);
    let mut notes = vec![
        "Median records per second of all producer processes together (ringlog-e2e: producers, service and run log \
         on disk, finish included)."
            .to_owned(),
    ];
    let mut legend: Vec<LegendEntry> = lines
        .iter()
        .map(|l| {
            LegendEntry::new(
                format!("{} {}", l.transport, l.record),
                Swatch::Line(transport_color(&l.transport), l.stroke, Marked::Dots),
            )
        })
        .collect();
    if oversubscribed {
        notes.push("Hollow markers: more processes than CPUs (oversubscribed), so cores are time-shared.".to_owned());
        legend.push(LegendEntry::new("oversubscribed", Swatch::HollowDot(NOTE_GREY)));
    }
    let mut figure = Figure { title: "Throughput by producer processes".to_owned(), notes, legend };
    let mut counts: Vec<f64> = all().map(|p| p.0).collect();
    counts.sort_by(f64::total_cmp);
    counts.dedup();
    let (lo, hi) = all().fold((f64::INFINITY, 0.0_f64), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    let path = out_dir.join(FILE);
    // Linear from zero shows scaling best; lines far apart in magnitude (a 4 KiB
    // record beside scalars) would lie flat on it, so they get a log axis.
    if hi / lo > SPREAD_FOR_LOG {
        let axis = LogAxis::spanning(all().map(|p| p.1), 2.0).expect("rates are positive");
        figure.notes.push("Log scale: the lines differ by orders of magnitude.".to_owned());
        draw_svg(&path, &figure, |area| {
            draw_chart(area, &lines, &counts, axis.coord(), "records per second (log scale)")
        })?;
    } else {
        let axis = LinearAxis::up_to(hi);
        draw_svg(&path, &figure, |area| draw_chart(area, &lines, &counts, axis.coord(), "records per second"))?;
    }
    Ok(Drawn::Written(path))
}

/// Draws the axes, lines and points on `area`, the rate axis `y`.
fn draw_chart<R: Ranged<ValueType = f64>>(
    area: &ChartArea<'_>,
    lines: &[Line],
    counts: &[f64],
    y: TickedAxis<R>,
    y_desc: &str,
) -> DrawResult {
    let x_max = counts.last().copied().unwrap_or(1.0);
    let x = TickedAxis::<RangedCoordf64>::new(0.5..x_max + 0.5, counts.to_vec(), vec![]);
    let mut chart =
        ChartBuilder::on(area).margin(16).x_label_area_size(44).y_label_area_size(80).build_cartesian_2d(x, y)?;
    let count_label = |x: &f64| format!("{x}");
    let rate_label = |y: &f64| si(*y);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&count_label)
        .y_label_formatter(&rate_label)
        .x_desc("producer processes")
        .y_desc(y_desc)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 16))
        .light_line_style(BLACK.mix(0.06))
        .bold_line_style(BLACK.mix(0.18))
        .draw()?;
    let plot = chart.plotting_area();
    for line in lines {
        let color = transport_color(&line.transport);
        draw_line(plot, line.points.iter().map(|p| (p.0, p.1)).collect(), color, line.stroke)?;
        for &(x, y, hollow) in &line.points {
            if hollow {
                plot.draw(&Circle::new((x, y), 6, WHITE.filled()))?;
                plot.draw(&Circle::new((x, y), 6, color.stroke_width(2)))?;
            } else {
                plot.draw(&Circle::new((x, y), 5, color.filled()))?;
            }
            let style = (FONT, 13).into_font().color(&BLACK.mix(0.8)).pos(Pos::new(HPos::Center, VPos::Bottom));
            plot.draw(&(EmptyElement::at((x, y)) + Text::new(si(y), (0, -9), style)))?;
        }
    }
    Ok(())
}

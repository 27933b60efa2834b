//! The page every plot is drawn on: a title, notes under it, the chart, and a
//! legend beside the chart, written as one SVG file.
//!
//! The legend is drawn here rather than with plotters' series labels so that
//! it never covers data: it has its own column right of the chart, sized to
//! its longest label.

use std::path::Path;

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::plot_error::PlotError;

/// What a drawing step returns; plotters' errors are boxed and turned into
/// [`PlotError::Draw`] with the file's name.
pub(crate) type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// The chart's part of the page.
pub(crate) type ChartArea<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Page width in pixels.
const WIDTH: u32 = 1100;
/// Page height in pixels, unless the legend needs more.
const MIN_HEIGHT: u32 = 640;
/// The font family [`ringlog_service::cli::load_font`] registers.
pub(crate) const FONT: &str = "sans-serif";
/// Grey of notes and details.
pub(crate) const NOTE_GREY: RGBColor = RGBColor(90, 90, 90);

/// How a line is stroked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stroke {
    /// A continuous line.
    Solid,
    /// Long dashes.
    Dashed,
    /// Short dashes.
    Dotted,
}

impl Stroke {
    /// The `i`-th stroke: solid, dashed, dotted, then solid again.
    pub(crate) fn nth(i: usize) -> Self {
        [Stroke::Solid, Stroke::Dashed, Stroke::Dotted][i % 3]
    }

    /// Dash and gap lengths in pixels (`None` for solid).
    fn dashes(self) -> Option<(u32, u32)> {
        match self {
            Stroke::Solid => None,
            Stroke::Dashed => Some((10, 6)),
            Stroke::Dotted => Some((3, 4)),
        }
    }
}

/// Draws a polyline through `points` (in `area`'s coordinates), stroked as `stroke`.
pub(crate) fn draw_line<CT: CoordTranslate>(
    area: &DrawingArea<SVGBackend<'_>, CT>,
    points: Vec<CT::From>,
    color: RGBColor,
    stroke: Stroke,
) -> DrawResult
where
    CT::From: Clone + 'static,
{
    let style = color.stroke_width(2);
    match stroke.dashes() {
        None => area.draw(&PathElement::new(points, style))?,
        Some((dash, gap)) => area.draw(&DashedPathElement::new(points, dash, gap, style))?,
    }
    Ok(())
}

/// The small picture before a legend label.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Swatch {
    /// A filled square: a bar series.
    Bar(RGBColor),
    /// A line: a line series (with a dot on it when the series marks its points).
    Line(RGBColor, Stroke, Marked),
    /// A hollow dot: what a marked point means.
    HollowDot(RGBColor),
}

/// Whether a line series draws a dot at each point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marked {
    /// Dots at the measured points.
    Dots,
    /// The line alone.
    Plain,
}

/// One legend line: a swatch, a label, and an optional smaller line under it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LegendEntry {
    /// The series' name.
    pub label: String,
    /// Figures of the series, in grey under the label.
    pub detail: Option<String>,
    /// The series' look.
    pub swatch: Swatch,
}

impl LegendEntry {
    /// An entry without detail.
    pub(crate) fn new(label: impl Into<String>, swatch: Swatch) -> Self {
        LegendEntry { label: label.into(), detail: None, swatch }
    }
}

/// A plot's title, notes and legend.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Figure {
    /// The title at the top.
    pub title: String,
    /// Lines under the title: what the plot shows and how to read it.
    pub notes: Vec<String>,
    /// The legend, top to bottom.
    pub legend: Vec<LegendEntry>,
}

/// Draws `figure` and, in its chart area, `chart`, into the SVG file `path`.
///
/// The font must be registered first ([`ringlog_service::cli::load_font`]).
pub(crate) fn draw_svg(
    path: &Path,
    figure: &Figure,
    chart: impl FnOnce(&ChartArea<'_>) -> DrawResult,
) -> Result<(), PlotError> {
    draw(path, figure, chart).map_err(|e| PlotError::Draw { path: path.to_owned(), message: e.to_string() })
}

fn draw(path: &Path, figure: &Figure, chart: impl FnOnce(&ChartArea<'_>) -> DrawResult) -> DrawResult {
    let header = 48 + 20 * figure.notes.len() as u32;
    let height = MIN_HEIGHT.max(header + legend_height(&figure.legend) + 16);
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(header);
    top.draw(&Text::new(figure.title.as_str(), (20, 14), (FONT, 26).into_font()))?;
    for (i, note) in figure.notes.iter().enumerate() {
        top.draw(&Text::new(note.as_str(), (20, 46 + 20 * i as i32), (FONT, 15).into_font().color(&NOTE_GREY)))?;
    }
    let (chart_area, legend_area) = body.split_horizontally(WIDTH - legend_width(&figure.legend));
    chart(&chart_area)?;
    draw_legend(&legend_area, &figure.legend)?;
    root.present()?;
    Ok(())
}

/// Legend column width: room for the longest label or detail (about 8 px a
/// character at 15 px), within 150 to 380 px.
fn legend_width(entries: &[LegendEntry]) -> u32 {
    let longest = entries
        .iter()
        .flat_map(|e| std::iter::once(e.label.chars().count()).chain(e.detail.iter().map(|d| d.chars().count())))
        .max()
        .unwrap_or(0) as u32;
    (longest * 8 + 56).clamp(150, 380)
}

/// Legend height in pixels (keep in step with [`draw_legend`]).
fn legend_height(entries: &[LegendEntry]) -> u32 {
    24 + entries.iter().map(|e| if e.detail.is_some() { 44 } else { 26 }).sum::<u32>()
}

fn draw_legend(area: &ChartArea<'_>, entries: &[LegendEntry]) -> DrawResult {
    let mut y = 24;
    for entry in entries {
        let mid = y + 8;
        match entry.swatch {
            Swatch::Bar(color) => {
                area.draw(&Rectangle::new([(8, mid - 7), (30, mid + 7)], color.filled()))?;
            }
            Swatch::Line(color, stroke, marked) => {
                draw_line(area, vec![(0, mid), (36, mid)], color, stroke)?;
                if marked == Marked::Dots {
                    area.draw(&Circle::new((18, mid), 4, color.filled()))?;
                }
            }
            Swatch::HollowDot(color) => {
                area.draw(&Circle::new((19, mid), 4, color.stroke_width(2)))?;
            }
        }
        area.draw(&Text::new(entry.label.as_str(), (42, y), (FONT, 15).into_font()))?;
        y += 22;
        if let Some(detail) = &entry.detail {
            area.draw(&Text::new(detail.as_str(), (42, y - 3), (FONT, 13).into_font().color(&NOTE_GREY)))?;
            y += 18;
        }
        y += 4;
    }
    Ok(())
}

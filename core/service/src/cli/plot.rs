//! `ringlog plot RUN KEY... [-o FILE.png|svg]`: keys' curves over steps, drawn
//! with plotters.
//!
//! The run log is read once, in constant memory per key: each curve keeps at
//! most [`MAX_POINTS`] points, and when it has that many, adjacent pairs are
//! merged into their mean (step and value), so a 10 M-step run draws the same
//! shape as its full resolution at the image's width. Labels need a TrueType
//! font: `RINGLOG_FONT`, else the first of a few common system fonts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::{Result, check_damage, run_lookup};
use crate::Sampling;
use crate::export::exporters::{Progress, history_row, open_log, walk};

/// Points kept per curve (an image is a few thousand pixels wide).
const MAX_POINTS: usize = 8192;

/// Fonts tried when `RINGLOG_FONT` is not set (Debian/Ubuntu, Fedora, Arch, macOS).
const FONT_CANDIDATES: [&str; 6] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
];

/// `WIDTHxHEIGHT` in pixels, each 100 to 10000.
pub(super) fn parse_size(s: &str) -> std::result::Result<(u32, u32), String> {
    let bad = || format!("{s:?} is not an image size: write WIDTHxHEIGHT, e.g. 1200x700 (100 to 10000 each)");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h): (u32, u32) = (w.trim().parse().map_err(|_| bad())?, h.trim().parse().map_err(|_| bad())?);
    if !(100..=10_000).contains(&w) || !(100..=10_000).contains(&h) {
        return Err(bad());
    }
    Ok((w, h))
}

/// One key's curve, decimated by pairwise means once it holds [`MAX_POINTS`].
#[derive(Default)]
struct Curve {
    points: Vec<(f64, f64)>,
    /// Steps each point stands for (doubles at each decimation).
    per_point: u64,
    /// Steps gathered for the next point when `per_point > 1`: (sum step, sum value, n).
    pending: (f64, f64, u64),
}

impl Curve {
    fn push(&mut self, step: f64, value: f64) {
        let per = self.per_point.max(1);
        let p = &mut self.pending;
        p.0 += step;
        p.1 += value;
        p.2 += 1;
        if p.2 < per {
            return;
        }
        self.points.push((p.0 / p.2 as f64, p.1 / p.2 as f64));
        *p = (0.0, 0.0, 0);
        if self.points.len() >= MAX_POINTS {
            self.points = self.points.chunks(2).map(mean).collect();
            self.per_point = per * 2;
        }
    }

    fn finish(mut self) -> Vec<(f64, f64)> {
        let (s, v, n) = self.pending;
        if n > 0 {
            self.points.push((s / n as f64, v / n as f64));
        }
        self.points
    }
}

fn mean(c: &[(f64, f64)]) -> (f64, f64) {
    let n = c.len() as f64;
    (c.iter().map(|p| p.0).sum::<f64>() / n, c.iter().map(|p| p.1).sum::<f64>() / n)
}

pub(super) fn plot(
    run: &str,
    keys: &[String],
    output: Option<PathBuf>,
    dir: Option<PathBuf>,
    size: (u32, u32),
    allow_damaged: bool,
) -> Result<()> {
    let run_dir = run_lookup::resolve(run, dir)?;
    let out = output.unwrap_or_else(|| {
        let id = crate::export::exporters::listing_of(&run_dir).map_or_else(|| "plot".to_owned(), |l| l.run_id);
        PathBuf::from(format!("{id}.png"))
    });
    let svg = match out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("svg") => true,
        Some("png") => false,
        _ => return Err(format!("{}: the output must end in .png or .svg", out.display()).into()),
    };
    let sampling = Sampling { keys: Some(keys.to_vec()), ..Sampling::default() };
    let (log, len) = open_log(&run_dir)?;
    let mut curves: BTreeMap<String, Curve> = BTreeMap::new();
    let (stats, _) = walk(log, len, &mut Progress::new(false, 0, ""), None, |rec, table| {
        let Some(row) = history_row(rec, table, &sampling) else { return Ok(()) };
        let Some(step) = row.step else { return Ok(()) };
        for (k, v) in &row.values {
            if let Some(v) = v.as_f64().filter(|v| v.is_finite()) {
                curves.entry(k.clone()).or_default().push(step as f64, v);
            }
        }
        Ok(())
    })?;
    check_damage(&run_dir, &stats, allow_damaged)?;
    if curves.is_empty() {
        return Err(format!(
            "no numeric values of {} in {}: `ringlog tail {run}` shows the keys the run logs",
            keys.join(", "),
            run_dir.display()
        )
        .into());
    }
    let mut curves: Vec<(String, Vec<(f64, f64)>)> = curves
        .into_iter()
        .map(|(k, c)| {
            let mut pts = c.finish();
            // Lanes interleave: draw in step order.
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            (k, pts)
        })
        .collect();
    curves.retain(|(_, p)| !p.is_empty());
    load_font()?;
    let title =
        format!("{} ({})", run_dir.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(), keys.join(", "));
    if svg {
        draw(SVGBackend::new(&out, size).into_drawing_area(), &title, &curves)
    } else {
        draw(BitMapBackend::new(&out, size).into_drawing_area(), &title, &curves)
    }
    .map_err(|e| format!("cannot draw {}: {e}", out.display()))?;
    println!("wrote {} ({} curve(s))", out.display(), curves.len());
    Ok(())
}

fn draw<DB: DrawingBackend>(
    area: DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    curves: &[(String, Vec<(f64, f64)>)],
) -> std::result::Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE)?;
    let pts = || curves.iter().flat_map(|(_, p)| p.iter());
    let (x0, x1) = bounds(pts().map(|p| p.0));
    let (y0, y1) = bounds(pts().map(|p| p.1));
    let mut chart = ChartBuilder::on(&area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart.configure_mesh().x_desc("step").light_line_style(WHITE.mix(0.0)).draw()?;
    for (i, (key, points)) in curves.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?
            .label(key.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.85)).border_style(BLACK).draw()?;
    area.present()?;
    Ok(())
}

/// The range of `v`, widened so a constant curve still has a height.
fn bounds(v: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = v.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(x), hi.max(x)));
    if lo == hi {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.05 };
        (lo - pad, hi + pad)
    } else {
        (lo, hi)
    }
}

/// Registers the labels' font with plotters as `sans-serif` (once per process):
/// `RINGLOG_FONT`, else the first of a few common system fonts. The benchmark
/// crate's `plots` binary calls it too.
///
/// # Errors
///
/// No font found (the message says to install fonts-dejavu-core or set
/// `RINGLOG_FONT`), or the file cannot be read or parsed.
///
/// # Examples
///
/// ```no_run
/// ringlog_service::cli::load_font().expect("a TrueType font for the labels");
/// ```
pub fn load_font() -> Result<()> {
    static LOADED: std::sync::OnceLock<std::result::Result<(), String>> = std::sync::OnceLock::new();
    LOADED
        .get_or_init(|| {
            let path = std::env::var_os("RINGLOG_FONT")
                .map(PathBuf::from)
                .or_else(|| FONT_CANDIDATES.iter().map(Path::new).find(|p| p.is_file()).map(Path::to_owned))
                .ok_or_else(|| {
                    "no TrueType font for the plot's labels: install one (Debian: apt-get install fonts-dejavu-core) \
                     or set RINGLOG_FONT=/path/to/font.ttf"
                        .to_owned()
                })?;
            let bytes = std::fs::read(&path).map_err(|e| format!("cannot read the font {}: {e}", path.display()))?;
            // plotters keeps fonts for the process's life; this runs once.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).map_err(|_| {
                format!("{} is not a TrueType font plotters can read: set RINGLOG_FONT to another", path.display())
            })
        })
        .clone()
        .map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_decimate_to_means_and_keep_the_shape() {
        let mut c = Curve::default();
        let n = 5 * MAX_POINTS as u64;
        for s in 0..n {
            c.push(s as f64, 2.0 * s as f64);
        }
        let pts = c.finish();
        assert!(pts.len() <= MAX_POINTS, "{}", pts.len());
        assert!(pts.len() >= MAX_POINTS / 4, "{}", pts.len());
        // A line stays the same line after averaging.
        assert!(pts.iter().all(|(x, y)| (y - 2.0 * x).abs() < 1e-6));
        assert!(pts[0].0 < 10.0 && pts.last().unwrap().0 > (n - 10) as f64);
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("800x600"), Ok((800, 600)));
        assert!(parse_size("800").is_err());
        assert!(parse_size("99999x10").is_err());
    }
}

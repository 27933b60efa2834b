//! The plots of the benchmark results page (`docs/benchmarks.md`), drawn as
//! SVG from the JSON array that `compare --json FILE` writes:
//!
//! - `throughput-by-record.svg` and `bandwidth-by-record.svg`: records/s and
//!   GB/s per record shape, a bar per transport (one producer; log scale);
//! - `throughput-by-producers.svg`: records/s against producer processes, a
//!   line per (transport, record shape) measured at several counts, with
//!   oversubscribed points hollow;
//! - `latency-cdf-<record>.svg`: the one-way latency distribution per record
//!   shape, a line per (transport, mode), spinning solid and parked dashed.
//!
//! The `plots` binary is the command line: `plots --json compare.json --out
//! docs/benchmarks/`. Rows are read into [`PlotRow`], which takes only the
//! fields the plots draw and defaults the rest, so files from older `compare`
//! builds still load; transports the plots do not know still get a series,
//! named by their transport string. Labels need a TrueType font, found by
//! [`ringlog_service::cli::load_font`] (`RINGLOG_FONT`, else a system font).

mod axes;
mod by_producers;
mod by_record;
mod figure;
mod latency_cdf;
mod palette;
mod plot_error;
mod plot_row;
mod render;
mod series_order;
mod ticked_axis;

pub use plot_error::PlotError;
pub use plot_row::{PlotRow, load_rows, rows_from_json};
pub use render::{Rendered, render_all};

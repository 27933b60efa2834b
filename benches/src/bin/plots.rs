//! `plots`: the plots of the benchmark results page, drawn as SVG from the
//! JSON that `compare --json FILE` writes.
//!
//! ```text
//! cargo build --release -p ringlog-benches -p ringlog-service
//! target/release/compare --json compare.json
//! target/release/plots --json compare.json --out docs/benchmarks/
//! ```
//!
//! Labels need a TrueType font: `RINGLOG_FONT=/path/to/font.ttf`, else DejaVu
//! Sans or Liberation Sans from the system (Debian: `apt-get install
//! fonts-dejavu-core`). See [`ringlog_benches::plots`] for what each plot
//! shows.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ringlog_benches::plots::{load_rows, render_all};

/// Draws the benchmark plots (SVG) from `compare --json` output.
#[derive(Debug, Parser)]
#[command(name = "plots")]
struct Cli {
    /// The JSON array written by `compare --json FILE`.
    #[arg(long, value_name = "FILE")]
    json: PathBuf,
    /// Directory for the SVG files (created if missing).
    #[arg(long, value_name = "DIR", default_value = "docs/benchmarks")]
    out: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rendered = match load_rows(&cli.json).and_then(|rows| render_all(&rows, &cli.out)) {
        Ok(rendered) => rendered,
        Err(e) => {
            eprintln!("plots: {e}");
            return ExitCode::FAILURE;
        }
    };
    for path in &rendered.written {
        println!("wrote {}", path.display());
    }
    for why in &rendered.skipped {
        println!("skipped {why}");
    }
    if rendered.written.is_empty() {
        eprintln!("plots: {} has no rows any plot can draw", cli.json.display());
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

//! `lifecycle`: the control path's costs against a private ringlog service,
//! next to the architecture brief's targets: init to first record (<= 5 ms),
//! cold auto-start (<= 100 ms), finishing an empty run (<= 20 ms), idle
//! service CPU (< 1%), and 64 concurrent runs finishing with exact counts.
//!
//! It starts the `ringlog` binary found beside it, so build both first:
//!
//! ```text
//! cargo build --release -p ringlog -p ringlog-benches
//! cargo run --release -p ringlog-benches --bin lifecycle -- --quick --json lifecycle.json
//! ```

use std::process::ExitCode;

use clap::Parser;
use ringlog_benches::lifecycle_cli::{LifecycleCli, ProbeCommand};
use ringlog_benches::{lifecycle, lifecycle_probe, lifecycle_report};

fn main() -> ExitCode {
    let cli = LifecycleCli::parse();
    if let Some(ProbeCommand::Probe(args)) = &cli.probe {
        return match lifecycle_probe::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("lifecycle probe ({:?}): {e}", args.kind);
                ExitCode::FAILURE
            }
        };
    }
    let args = &cli.lifecycle;
    let started = std::time::Instant::now();
    let rows = match lifecycle::run(args) {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("lifecycle: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", lifecycle_report::table(&rows));
    eprintln!("lifecycle: done in {:.1} s", started.elapsed().as_secs_f64());
    if let Some(path) = &args.json {
        let written = serde_json::to_string_pretty(&rows)
            .map_err(|e| e.to_string())
            .and_then(|json| std::fs::write(path, json + "\n").map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!("lifecycle: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

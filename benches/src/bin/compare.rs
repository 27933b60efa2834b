//! `compare`: ringlog against a Unix socket with protobuf and a raw SPSC ring,
//! producer and consumer in separate processes pinned to separate cores, plus
//! `ringlog-e2e` rows: producer processes -> a private service -> the run log
//! on disk, finish included.
//!
//! The `ringlog-e2e` rows start the `ringlog` binary found beside `compare`,
//! so build it first (same profile):
//!
//! ```text
//! cargo build --release -p ringlog -p ringlog-benches
//! cargo run --release -p ringlog-benches --bin compare -- --quick --json out.json
//! ```
//!
//! Without it, `compare` stops with that advice; leave the rows out with
//! `--transport ringlog,uds-protobuf,raw-spsc`.

use std::process::ExitCode;

use clap::Parser;
use ringlog_benches::cli::{ChildCommand, Cli};
use ringlog_benches::{child, comparison, plan::Plan, report};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(ChildCommand::Child(args)) = &cli.child {
        return match child::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("compare child ({:?} {}): {e}", args.role, args.transport.as_str());
                ExitCode::FAILURE
            }
        };
    }
    let args = &cli.compare;
    let plan = Plan::from_args(args);
    let pin = comparison::can_pin(!args.no_pin);
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    match comparison::load_average() {
        Some(load) if load > cpus as f64 / 2.0 => eprintln!(
            "compare: load average {load:.2} on {cpus} CPUs: other processes share the cores, figures will be noisy"
        ),
        _ => {}
    }
    let rows = match comparison::run(&plan, pin) {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("compare: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", report::table(&rows));
    for line in report::ratios(&rows) {
        println!("{line}");
    }
    for line in report::goals(&rows) {
        println!("{line}");
    }
    if let Some(path) = &args.markdown {
        let mut text = report::markdown(&rows);
        text += "\n```text\n";
        for line in report::ratios(&rows).iter().chain(report::goals(&rows).iter()) {
            text += line;
            text.push('\n');
        }
        text += "```\n";
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("compare: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    if let Some(path) = &args.json {
        let written = serde_json::to_string_pretty(&rows)
            .map_err(|e| e.to_string())
            .and_then(|json| std::fs::write(path, json + "\n").map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!("compare: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

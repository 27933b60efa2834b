//! Run log speed, stage by stage, on one core: the service's append path
//! (validated batch -> encoded blocks -> file), reading back, and exports
//! (Parquet and JSONL, each to a sink, so only the export's own work counts; the W&B
//! offline run to files beside the log, removed after each run).
//!
//! ```text
//! cargo run --release -p ringlog-benches --bin runlog -- [--steps N] [--repeat R] [--dir DIR] [--cpu-time] [--exports parquet,jsonl,wandb]
//! ```
//!
//! Every figure is a median of `--repeat` runs, with records (or rows) per
//! second and bytes per record. The exports read the log each run wrote
//! (`<dir>/ringlog-runlog-bench-<pid>/run.rlog`, a run directory). The data is the `compare` bench's scalar8
//! and scalar1 shapes and `ringlog demo`'s curves.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use ringlog_ring::{Batch, HeapRun, KeyId};
use ringlog_service::{RunLog, RunLogHeader, RunLogWriter, Sampling};

#[derive(Parser)]
struct Args {
    /// Steps per run.
    #[arg(long, default_value_t = 1_000_000)]
    steps: i64,
    /// Runs per figure (the median is reported).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Where to write the logs (a tmpfs keeps the disk out of the figure).
    #[arg(long, default_value = "/dev/shm")]
    dir: PathBuf,
    /// Rates from the process's CPU time (every thread's, user and system) instead of the
    /// wall clock: on a shared VM, time the hypervisor gives to other guests does not
    /// count, so A/B comparisons of code are steadier. Not what a user waits for.
    #[arg(long)]
    cpu_time: bool,
    /// Only these exports (comma-separated: parquet, jsonl, wandb); the others show as 0.
    #[arg(long, value_delimiter = ',', default_values = ["parquet", "jsonl", "wandb"])]
    exports: Vec<Export>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Export {
    Parquet,
    Jsonl,
    Wandb,
}

/// Seconds of the clock the figures use: wall time, or the process's CPU time.
fn clock(cpu_time: bool) -> f64 {
    if !cpu_time {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        return START.get_or_init(Instant::now).elapsed().as_secs_f64();
    }
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_PROCESS_CPUTIME_ID is always
    // supported on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

#[derive(Clone, Copy)]
enum Data {
    BenchScalar8,
    DemoScalar8,
    BenchScalar1,
}

impl Data {
    fn name(self) -> &'static str {
        match self {
            Self::BenchScalar8 => "scalar8 (compare data)",
            Self::DemoScalar8 => "scalar8 (demo curves)",
            Self::BenchScalar1 => "scalar1 (compare data)",
        }
    }
}

fn demo_values(t: f64) -> [f64; 8] {
    let loss = 2.5 * (-t / 2.0e5).exp() + 0.1 + 0.01 * (t * 0.37).sin();
    [
        loss,
        1.0 - loss / 3.0,
        1e-3 * (1.0 + t / 1e5).recip(),
        1.0 + 0.5 * (t * 0.011).cos(),
        loss * 1.05,
        1.0 - loss / 2.8,
        5.0e4,
        12.5,
    ]
}

/// The median; 0 for an export not run.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Logs `steps` into a heap lane and times only the writer's appends.
fn append(path: &Path, steps: i64, data: Data, cpu_time: bool) -> (f64, u64) {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(path.with_extension("rlidx"));
    const LANE: usize = 1 << 20;
    let heap = HeapRun::new(LANE, 1).expect("heap run");
    let mut p = heap.claim(0, Default::default()).expect("claim");
    let keys: Vec<KeyId> = (0..8).map(|i| p.key(&format!("train/metric{i}")).expect("key")).collect();
    let mut c = heap.consumer().expect("consumer");
    let mut batch = Batch::new(256 << 10);
    let mut log = RunLogWriter::create(path, &RunLogHeader::new("bench")).expect("create");
    let mut timed = 0.0;
    let mut step = 0;
    while step < steps {
        // Fill the lane part way, then drain it as the service does.
        for _ in 0..1000.min(steps - step) {
            let _ = match data {
                Data::BenchScalar8 => {
                    let value = step as f64 * 0.5;
                    let items: [(KeyId, f64); 8] = std::array::from_fn(|i| (keys[i], value + i as f64));
                    p.log_scalars(step, &items)
                }
                Data::DemoScalar8 => {
                    let v = demo_values(step as f64);
                    let items: [(KeyId, f64); 8] = std::array::from_fn(|i| (keys[i], v[i]));
                    p.log_scalars(step, &items)
                }
                Data::BenchScalar1 => p.log_scalar1(step, keys[0], step as f64 * 0.5),
            }
            .expect("log");
            step += 1;
        }
        while c.read_batch(&mut batch) > 0 {
            let t = clock(cpu_time);
            log.append_batch(&batch).expect("append");
            timed += clock(cpu_time) - t;
            c.release();
        }
    }
    log.sync().expect("sync");
    (timed, log.counters().bytes)
}

/// Times one export of the run in `run_dir`, which holds `rows` history rows; returns rows/s.
fn export_rate(rows: i64, cpu_time: bool, export: impl FnOnce() -> ringlog_service::ExportStats) -> f64 {
    let t = clock(cpu_time);
    let stats = export();
    let secs = clock(cpu_time) - t;
    assert_eq!(stats.rows, rows as u64, "the export wrote every row");
    rows as f64 / secs
}

fn main() {
    let args = Args::parse();
    // The exports take a run directory holding `run.rlog`.
    let run_dir = args.dir.join(format!("ringlog-runlog-bench-{}", std::process::id()));
    std::fs::create_dir_all(&run_dir).expect("create the run directory");
    let path = run_dir.join(ringlog_service::RUN_LOG_FILE);
    println!(
        "{:<26} {:>14} {:>14} {:>12} {:>18} {:>16} {:>16}",
        "data", "append M rec/s", "read M rec/s", "bytes/step", "parquet M rows/s", "jsonl M rows/s", "wandb M rows/s"
    );
    let wandb_out = args.dir.join(format!("ringlog-runlog-bench-wandb-{}", std::process::id()));
    let sampling = Sampling::default();
    for data in [Data::BenchScalar8, Data::DemoScalar8, Data::BenchScalar1] {
        let mut appends = Vec::new();
        let mut reads = Vec::new();
        let mut parquet = Vec::new();
        let mut jsonl = Vec::new();
        let mut wandb = Vec::new();
        let mut bytes = 0;
        for _ in 0..args.repeat {
            let (secs, b) = append(&path, args.steps, data, args.cpu_time);
            appends.push(args.steps as f64 / secs / 1e6);
            bytes = b;
            let t = clock(args.cpu_time);
            let n = RunLog::open(&path).expect("open").filter(|r| r.is_ok()).count();
            reads.push(n as f64 / (clock(args.cpu_time) - t) / 1e6);
            let wants = |e: Export| args.exports.contains(&e);
            if wants(Export::Parquet) {
                parquet.push(
                    export_rate(args.steps, args.cpu_time, || {
                        ringlog_service::export_parquet(&run_dir, std::io::sink(), &sampling, false).expect("parquet")
                    }) / 1e6,
                );
            }
            if wants(Export::Jsonl) {
                jsonl.push(
                    export_rate(args.steps, args.cpu_time, || {
                        ringlog_service::export_jsonl_with(&run_dir, &mut std::io::sink(), &sampling, false)
                            .expect("jsonl")
                    }) / 1e6,
                );
            }
            if wants(Export::Wandb) {
                let _ = std::fs::remove_dir_all(&wandb_out);
                wandb.push(
                    export_rate(args.steps, args.cpu_time, || {
                        ringlog_service::export_wandb(&run_dir, &wandb_out, &sampling, false).expect("wandb").stats
                    }) / 1e6,
                );
                let _ = std::fs::remove_dir_all(&wandb_out);
            }
        }
        println!(
            "{:<26} {:>14.2} {:>14.2} {:>12.2} {:>18.2} {:>16.2} {:>16.2}",
            data.name(),
            median(appends),
            median(reads),
            (bytes - 64) as f64 / args.steps as f64,
            median(parquet),
            median(jsonl),
            median(wandb)
        );
    }
    let _ = std::fs::remove_dir_all(&run_dir);
}

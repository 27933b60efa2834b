//! Throughput of `WandbWriter::history` for 8 floats per step.
//!
//! ```text
//! CARGO_TARGET_DIR=target cargo run --release -p ringlog-wandb --example wandb_write_bench -- [STEPS]
//! ```
//!
//! Writes STEPS (default 2,000,000) history rows of 8 training-like floats to a temporary run, flushing every
//! 1,000 rows, then checks the file's record count with a small independent frame walk before
//! printing rows/s and records/s (each row is a summary record plus a history record).

use ringlog_wandb::{BLOCK_SIZE, FILE_HEADER, Outcome, RunInfo, WandbValue, WandbWriter};
use std::time::Instant;

const KEYS: [&str; 8] =
    ["train/loss", "train/acc", "train/lr", "train/grad_norm", "val/loss", "val/acc", "tokens_per_s", "mfu"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let steps: i64 = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(2_000_000);
    let dir = std::env::temp_dir().join(format!("ringlog-wandb-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let start = 1_796_137_118_000_000_000u64;
    let info =
        RunInfo { run_id: "bench001".into(), project: "bench".into(), start_time_unix_ns: start, ..Default::default() };
    let mut w = WandbWriter::create(&dir, &info)?;
    let mut items: Vec<(&str, WandbValue)> = KEYS.iter().map(|k| (*k, WandbValue::F64(0.0))).collect();
    let cpu0 = cpu_ns();
    let t0 = Instant::now();
    for step in 0..steps {
        for (i, item) in items.iter_mut().enumerate() {
            // Training-like magnitudes: a decaying loss around 0.1..10 per key.
            item.1 = WandbValue::F64((i as f64 + 1.0) * 2.5 / (1.0 + step as f64 * 1e-5) + 1e-3 * (step % 97) as f64);
        }
        w.history(step, start + step as u64 * 1_000, &items)?;
        if step % 1000 == 999 {
            w.flush()?;
        }
    }
    w.flush()?;
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = cpu0.zip(cpu_ns()).map(|(a, b)| (b - a) as f64 / 1e9);
    let records = w.records();
    let paths = w.finish(Outcome::Exited { exit_code: 0, runtime_s: elapsed })?;
    let bytes = std::fs::metadata(&paths.wandb_file)?.len();

    // Check before reporting: count whole records by walking the chunk headers.
    let file = std::fs::read(&paths.wandb_file)?;
    assert_eq!(file[..7], FILE_HEADER);
    let (mut pos, mut count) = (7usize, 0u64);
    while pos < file.len() {
        let left = BLOCK_SIZE - pos % BLOCK_SIZE;
        if left < 7 {
            pos += left;
            continue;
        }
        let len = u16::from_le_bytes([file[pos + 4], file[pos + 5]]) as usize;
        if matches!(file[pos + 6], 1 | 4) {
            count += 1;
        }
        pos += 7 + len;
    }
    assert_eq!(count, records + 2, "record count in the file");

    println!(
        "{steps} rows x 8 floats in {elapsed:.3} s: {:.2} M rows/s, {:.2} M records/s, {:.1} MB/s ({} bytes, {:.0} B/row)",
        steps as f64 / elapsed / 1e6,
        (2 * steps) as f64 / elapsed / 1e6,
        bytes as f64 / elapsed / 1e6,
        bytes,
        bytes as f64 / steps as f64
    );
    if let Some(cpu) = cpu {
        // On a shared machine wall time includes waiting for a core; CPU time does not.
        println!(
            "on-CPU time {cpu:.3} s: {:.2} M rows/s, {:.2} M records/s per CPU-second",
            steps as f64 / cpu / 1e6,
            (2 * steps) as f64 / cpu / 1e6
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// This thread's time on a CPU in nanoseconds (Linux `/proc/thread-self/schedstat`).
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}

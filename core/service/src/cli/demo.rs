//! `ringlog demo`: starts the service if needed, logs a realistic run from
//! several processes, and finishes it, printing what it cost.

use std::time::Instant;

use ringlog::{InitOptions, Stream, Value};

use super::{Result, human};

const DEMO_METRICS: [&str; 8] = [
    "train/loss",
    "train/accuracy",
    "train/lr",
    "train/grad_norm",
    "val/loss",
    "val/accuracy",
    "perf/tokens_per_s",
    "perf/step_time_ms",
];

/// Logs a realistic curve for `seconds`; returns records written.
fn log_curve(run: &mut ringlog::Run, rank: u32, steps: u64) -> Result<u64> {
    let prefix = format!("rank{rank}/");
    let keys =
        DEMO_METRICS.iter().map(|m| run.key(&format!("{prefix}{m}"))).collect::<std::result::Result<Vec<_>, _>>()?;
    let steps = i64::try_from(steps).map_err(|_| "--steps is too large")?;
    let mut step = 0i64;
    let mut items = [(keys[0], 0.0); 8];
    while step < steps {
        for _ in 0..1000.min(steps - step) {
            let t = step as f64;
            let loss = 2.5 * (-t / 2.0e5).exp() + 0.1 + 0.01 * ((t * 0.37).sin());
            let values = [
                loss,
                1.0 - loss / 3.0,
                1e-3 * (1.0 + t / 1e5).recip(),
                1.0 + 0.5 * (t * 0.011).cos(),
                loss * 1.05,
                1.0 - loss / 2.8,
                5.0e4,
                12.5,
            ];
            for (slot, (k, v)) in items.iter_mut().zip(keys.iter().zip(values)) {
                *slot = (*k, v);
            }
            let _ = run.log(step, &items)?;
            step += 1;
        }
        if step % 100_000 == 0 || step == steps {
            let _ = run.output(Stream::Stdout, &format!("rank {rank} step {step} loss {:.4}", items[0].1))?;
        }
    }
    let _ = run.summary(&[(&format!("{prefix}final_step"), Value::I64(step))])?;
    Ok(step as u64)
}

// The demo logs with the default Block policy: a record is written or the
// call fails, never dropped, so the `Logged` outcomes are not inspected.
pub(super) fn demo_worker(run_id: &str, rank: u32, steps: u64) -> Result<()> {
    let mut run = ringlog::attach(run_id)?;
    let steps = log_curve(&mut run, rank, steps)?;
    run.finish(0)?;
    println!("{steps}");
    Ok(())
}

/// Steps per demo process by default: 4 processes x 250,000 steps x ~38 bytes is about 40 MB.
pub(super) const DEMO_STEPS: u64 = 250_000;

pub(super) fn demo(workers: u32, steps: u64) -> Result<()> {
    let start = Instant::now();
    let mut run = ringlog::init(
        InitOptions { project: "ringlog-demo".into(), name: "demo".into(), ..Default::default() }
            .config("model", "demo-transformer")
            .config("lr", 1e-3)
            .config("batch_size", 64i64)
            .config("workers", i64::from(workers)),
    )?;
    println!(
        "run {} in {} (service up and run ready in {:.1} ms)",
        run.run_id(),
        run.run_dir().display(),
        start.elapsed().as_secs_f64() * 1e3
    );
    let exe = std::env::current_exe()?;
    let children = (1..=workers)
        .map(|rank| {
            std::process::Command::new(&exe)
                .args(["demo", "--worker-of", run.run_id(), "--rank", &rank.to_string(), "--steps", &steps.to_string()])
                .stdout(std::process::Stdio::piped())
                .spawn()
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let _ = run.output(Stream::Stdout, "demo: training started")?;
    let t0 = Instant::now();
    let per_process = steps;
    let mut steps = log_curve(&mut run, 0, per_process)?;
    for child in children {
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(format!("a demo worker failed: {}", out.status).into());
        }
        steps += String::from_utf8_lossy(&out.stdout).trim().parse::<u64>().unwrap_or(0);
    }
    let _ = run.output(Stream::Stdout, "demo: training finished")?;
    let elapsed = t0.elapsed().as_secs_f64();
    let report = run.finish(0)?;
    println!("run dir      {}", report.run_dir);
    println!("state        {} (exit code {})", report.state, report.exit_code);
    println!(
        "records      {} in the run log ({} steps x 8 metrics from {} processes)",
        report.records,
        steps,
        workers + 1
    );
    println!(
        "bytes        {} run log ({}), {:.1} bytes per step of 8 metrics",
        report.bytes,
        human::bytes(report.bytes),
        report.bytes as f64 / steps.max(1) as f64
    );
    println!("drops        {}  timeouts {}  invalid frames {}", report.drops, report.timeouts, report.invalid_frames);
    println!(
        "throughput   {:.2} M steps/s = {:.1} M metric values/s, finish included",
        steps as f64 / elapsed / 1e6,
        8.0 * steps as f64 / elapsed / 1e6
    );
    println!("try          ringlog runs; ringlog export {} --format csv | head", report.run_id);
    Ok(())
}

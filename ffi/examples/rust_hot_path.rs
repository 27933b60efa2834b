//! The Rust client's hot path against a running service, measured exactly as
//! `ffi/benches/c_hot_path.c` measures the C API, for a side-by-side ratio
//! (`ffi/benches/run_bench.sh`):
//!
//! - scalar1: `Run::log(step, &[(key, value)])`;
//! - scalar8: `Run::log(step, &[(key, value); 8])`, one record of 8 floats.
//!
//! `rust_hot_path [RECORDS [ROUNDS [RING_MIB]]]` prints `rust scalar1 <ns per record>`
//! and `rust scalar8 <ns per record>` per round, after checking from the
//! finish report that every record was written. Defaults: 500000 records,
//! 5 rounds, 64 MiB lanes. A warm-up writes once around the whole ring (no
//! timed loop pays first-touch page faults) and it pauses 200 ms before each
//! timed loop, so the service drains while the producer rests: the loops
//! time the producer's hot path, not the service's drain rate.

use std::time::{Duration, Instant};

use ringlog_core::{InitOptions, KeyId};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let records: i64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(500_000);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5);
    let ring_mib: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(64);
    let mut run = ringlog_core::init(InitOptions {
        project: "bench-rust".into(),
        lane_bytes: Some(ring_mib << 20),
        ..Default::default()
    })?;
    let pause = Duration::from_millis(200);
    let mut k = [KeyId(0); 8];
    for (i, key) in k.iter_mut().enumerate() {
        *key = run.key(&format!("k{i}"))?;
    }
    let (mut s1, mut s8) = (Vec::new(), Vec::new());
    let mut written: u64 = 8;
    let mut step: i64 = 0;
    // 48-byte frames, 1.25 rings: every page of the lane is touched once.
    let warmup = ((ring_mib << 20) / 48 + (ring_mib << 20) / 192) as i64;
    for i in 0..warmup {
        let _ = run.log(step, &[(k[0], i as f64)])?;
        step += 1;
    }
    written += warmup as u64;
    for _ in 0..rounds {
        std::thread::sleep(pause);
        let t0 = Instant::now();
        for i in 0..records {
            let _ = run.log(step, &[(k[0], i as f64)])?;
            step += 1;
        }
        s1.push(t0.elapsed().as_nanos() as f64 / records as f64);
        let steps8 = records / 4;
        std::thread::sleep(pause);
        let t0 = Instant::now();
        for i in 0..steps8 {
            let v = i as f64;
            let items = [
                (k[0], v),
                (k[1], v + 1.0),
                (k[2], v + 2.0),
                (k[3], v + 3.0),
                (k[4], v + 4.0),
                (k[5], v + 5.0),
                (k[6], v + 6.0),
                (k[7], v + 7.0),
            ];
            let _ = run.log(step, &items)?;
            step += 1;
        }
        s8.push(t0.elapsed().as_nanos() as f64 / steps8 as f64);
        written += (records + steps8) as u64;
    }
    let report = run.finish(0)?;
    // +1: the exit record written at finish.
    if report.records != written + 1 || report.drops != 0 || report.timeouts != 0 {
        return Err(format!(
            "the run has {} records ({} drops), expected {}",
            report.records,
            report.drops,
            written + 1
        )
        .into());
    }
    for (a, b) in s1.iter().zip(&s8) {
        println!("rust scalar1 {a:.2}\nrust scalar8 {b:.2}");
    }
    Ok(())
}

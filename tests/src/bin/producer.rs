//! A real producer process for the cross-process tests.
//!
//! `ringlog-test-producer SEGMENT LANE RECORDS [PAUSE_AT_SEQ]`
//!
//! Opens the segment by name, interns one key, logs RECORDS scalar1 records
//! (step = value = 0..RECORDS) and exits 0. With PAUSE_AT_SEQ it stops right
//! after claiming the frame of that sequence number (before committing it),
//! prints `paused` on stdout and waits to be killed.

use std::io::Write;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: ringlog-test-producer SEGMENT LANE RECORDS [PAUSE_AT_SEQ]");
        std::process::exit(2);
    }
    let lane: u16 = args[2].parse().expect("LANE is a number");
    let records: i64 = args[3].parse().expect("RECORDS is a number");
    let seg = ringlog_ring::Segment::open(&args[1]).unwrap_or_else(|e| {
        eprintln!("open: {e}");
        std::process::exit(3)
    });
    let mut p = seg.claim(lane).unwrap_or_else(|e| {
        eprintln!("claim: {e}");
        std::process::exit(6)
    });
    if let Some(seq) = args.get(4) {
        let seq: u64 = seq.parse().expect("PAUSE_AT_SEQ is a number");
        p.pause_after_claim(
            seq,
            Box::new(|| {
                println!("paused");
                std::io::stdout().flush().expect("stdout");
                // Bounded: the test kills us long before this ends.
                std::thread::sleep(Duration::from_secs(120));
                std::process::exit(4);
            }),
        );
    }
    let key = p.key("train/loss").expect("key");
    for step in 0..records {
        let _ = p.log_scalar1(step, key, step as f64).unwrap_or_else(|e| {
            eprintln!("log: {e}");
            std::process::exit(5)
        });
    }
}

//! Fuzz entry `run_log_reader`: the run-log reader over a file of arbitrary bytes.
//!
//! `ringlog export`, `tail`, `runs` and a restarted service read `run.rlog` files that may
//! be torn, damaged on disk or written by anyone. The input is written to a file, which is
//! opened with `RunLog::open` and read to the end, then opened again with
//! `RunLog::open_at` from the middle (a reader resuming from an index entry). Every item
//! is a validated record or an error; the reader's counters must add up; nothing may
//! panic or loop.
//!
//! Shared by `fuzz/fuzz_targets/run_log_reader.rs` and the seed test
//! `core/service/tests/fuzz_seeds.rs` (included with `#[path]`, so it uses only
//! `ringlog-service` and std).

use std::path::PathBuf;

use ringlog_service::RunLog;

/// Where the input is written: one file per process, reused.
fn scratch_file() -> PathBuf {
    std::env::temp_dir().join(format!("ringlog-fuzz-run-log-{}.rlog", std::process::id()))
}

fn read_all(mut log: RunLog, limit: usize) -> usize {
    let (mut ok, mut errors) = (0u64, 0u64);
    for item in log.by_ref() {
        match item {
            Ok(rec) => {
                ok += 1;
                let _ = (rec.lane(), rec.seq(), rec.kind(), rec.offset());
                let _ = format!("{rec:?}");
            }
            Err(e) => {
                errors += 1;
                let _ = e.to_string();
            }
        }
        // Every item costs at least a byte of the file (a record's tag byte, a frame, a
        // damaged region), so a reader handing out far more items than bytes is looping.
        assert!((ok + errors) as usize <= 2 * limit + 2, "more items than bytes: the reader loops");
    }
    assert_eq!(log.records(), ok);
    assert!(log.damaged_regions() + log.rejected_records() <= errors);
    let _ = (log.torn_tail_bytes(), log.good_end(), log.bytes_read(), log.is_finished());
    ok as usize
}

/// Runs one input (see the module docs); returns how many records the full read gave.
pub fn run(data: &[u8]) -> usize {
    let path = scratch_file();
    std::fs::write(&path, data).expect("write the scratch run log");
    let mut records = 0;
    if let Ok(log) = RunLog::open(&path) {
        let _ = format!("{:?}", log.header());
        records = read_all(log, data.len());
    }
    if let Ok(log) = RunLog::open_at(&path, data.len() as u64 / 2) {
        read_all(log, data.len());
    }
    let _ = std::fs::remove_file(&path);
    records
}

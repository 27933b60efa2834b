//! Fuzz entry `run_log_reader`: the run-log reader over a file of arbitrary bytes.
//!
//! `ringlog export`, `tail`, `runs` and a restarted service read `run.rlog` files that may
//! be torn, damaged on disk or written by anyone. The input is written to a file, which is
//! opened with `RunLog::open` and read to the end, then opened again with
//! `RunLog::open_at` from the middle (a reader resuming from an index entry). Every item
//! is a validated record or an error; the reader's counters must add up; nothing may
//! panic or loop.
//!
//! Then the same bytes are read again with every version-2 block's CRC-32C made right
//! (walking the chain of `RLBK` headers from the end of the 64-byte file header): a mutated
//! block body is otherwise stopped at its checksum, and the block decoder behind it, which
//! must bound every count, length and varint by itself, would see only intact bodies.
//!
//! Shared by `fuzz/fuzz_targets/run_log_reader.rs` and the seed test
//! `core/service/tests/fuzz_seeds.rs` (included with `#[path]`, so it uses only
//! `ringlog-service`, its dependency `crc32c`, and std).

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

/// Makes the CRC-32C of every block in the chain that starts after the file header
/// right (see `core/service/src/runlog/block.rs` for the block header); returns whether
/// it changed anything.
fn repair_block_checksums(data: &mut [u8]) -> bool {
    const FILE_HEADER_LEN: usize = 64;
    const BLOCK_HEADER_LEN: usize = 32;
    let mut changed = false;
    let mut at = FILE_HEADER_LEN;
    while at + BLOCK_HEADER_LEN <= data.len() && data[at..at + 4] == *b"RLBK" {
        let body = u32::from_le_bytes(data[at + 8..at + 12].try_into().expect("4 bytes")) as usize;
        let Some(end) = (at + BLOCK_HEADER_LEN).checked_add(body).filter(|&e| e <= data.len()) else { break };
        let crc = crc32c::crc32c(&data[at + 8..end]).to_le_bytes();
        changed |= data[at + 4..at + 8] != crc;
        data[at + 4..at + 8].copy_from_slice(&crc);
        at = end;
    }
    changed
}

/// Reads the file at `path` (holding `len` bytes) fully and from the middle; returns the
/// records of the full read.
fn read_file(path: &std::path::Path, len: usize) -> usize {
    let mut records = 0;
    if let Ok(log) = RunLog::open(path) {
        let _ = format!("{:?}", log.header());
        records = read_all(log, len);
    }
    if let Ok(log) = RunLog::open_at(path, len as u64 / 2) {
        read_all(log, len);
    }
    records
}

/// Runs one input (see the module docs); returns how many records the read of the bytes
/// as they are gave.
pub fn run(data: &[u8]) -> usize {
    let path = scratch_file();
    std::fs::write(&path, data).expect("write the scratch run log");
    let records = read_file(&path, data.len());
    let mut repaired = data.to_vec();
    if repair_block_checksums(&mut repaired) {
        std::fs::write(&path, &repaired).expect("write the scratch run log");
        read_file(&path, repaired.len());
    }
    let _ = std::fs::remove_file(&path);
    records
}

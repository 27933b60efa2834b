//! Starting the disk write of appended bytes early, so that a finish's sync has
//! little left to wait for.
//!
//! The page cache holds what the run log appends until the kernel writes it back
//! (after about 30 s by default) or a sync forces it. A finish syncs the run log, so
//! with nothing written back yet it waits for the disk to take everything appended
//! in the last half minute: 300-400 ms for a 150 MB log in `compare`'s
//! `ringlog-e2e` rows, inside the timed window. `sync_file_range` with
//! `SYNC_FILE_RANGE_WRITE` starts the write of each MiB once it is appended, without
//! waiting for it. Durability still comes from the sync alone: this only moves the
//! disk's work earlier.

use std::fs::File;
use std::os::fd::AsRawFd;

/// Appended bytes between two writeback starts.
pub(crate) const WRITEBACK_BYTES: u64 = 1 << 20;

/// The offset up to which writeback has been started.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Writeback {
    from: u64,
}

impl Writeback {
    /// Nothing before `offset` needs starting (a log opened with `offset` bytes).
    pub(crate) fn at(offset: u64) -> Self {
        Self { from: offset }
    }

    /// After an append that left the log `end` bytes long: starts the writeback of
    /// what was appended since the last start, once that is [`WRITEBACK_BYTES`] or
    /// more. Returns whether it started one.
    pub(crate) fn appended(&mut self, file: &File, end: u64) -> bool {
        // Defensive: the writer only cuts bytes past its end, so `end >= from`.
        self.from = self.from.min(end);
        if end - self.from < WRITEBACK_BYTES {
            return false;
        }
        let (offset, len) = (self.from.min(i64::MAX as u64) as i64, (end - self.from).min(i64::MAX as u64) as i64);
        // SAFETY: sync_file_range reads and writes no memory of this process; `file`
        // is an open descriptor for the whole call.
        let rc = unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE) };
        // A hint: whatever failed here (EIO) fails the sync too, which reports it.
        let _ = rc;
        self.from = end;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn writeback_starts_once_per_mib_appended() {
        let path = std::env::temp_dir().join(format!("ringlog-writeback-{}", std::process::id()));
        let mut file = File::create(&path).unwrap();
        let mut wb = Writeback::at(0);
        let (mut end, mut starts) = (0u64, Vec::new());
        for _ in 0..56 {
            file.write_all(&[7u8; 64 << 10]).unwrap();
            end += 64 << 10;
            if wb.appended(&file, end) {
                starts.push(end);
            }
        }
        // 3.5 MiB appended: started at each MiB boundary, the last half MiB pending.
        assert_eq!(starts, vec![1 << 20, 2 << 20, 3 << 20]);
        std::fs::remove_file(&path).unwrap();
    }
}

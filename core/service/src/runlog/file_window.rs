//! A read-only window onto a run log file, refilled in large chunks, that
//! never reads past the length the file had when it was opened.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Bytes read from the file at a time while scanning.
const READ_CHUNK: usize = 1 << 20;

/// A read-only window onto the file, refilled in large chunks.
pub(crate) struct Window {
    pub(crate) file: File,
    /// File length when scanning started; bytes past it are never read.
    pub(crate) len: u64,
    /// File offset of `buf[0]`.
    pub(crate) start: u64,
    pub(crate) buf: Vec<u8>,
    /// Bytes read from the file so far.
    pub(crate) read_bytes: u64,
}

impl Window {
    /// Bytes `pos..pos + n` of the file, `None` if the file ends before.
    pub(crate) fn get(&mut self, pos: u64, n: usize) -> io::Result<Option<&[u8]>> {
        let end = match pos.checked_add(n as u64) {
            Some(end) if end <= self.len => end,
            _ => return Ok(None),
        };
        let have = self.start + self.buf.len() as u64;
        if pos < self.start || pos > have {
            self.buf.clear();
            self.start = pos;
        } else if end > have {
            // Keep only what is at or after `pos` before reading more.
            self.buf.drain(..(pos - self.start) as usize);
            self.start = pos;
        }
        let have = self.start + self.buf.len() as u64;
        if end > have {
            let want = ((end - self.start) as usize).max(READ_CHUNK).min((self.len - self.start) as usize);
            let old = self.buf.len();
            self.buf.resize(want, 0);
            if let Err(e) = self.file.read_exact_at(&mut self.buf[old..], have) {
                self.buf.truncate(old);
                return Err(e);
            }
            self.read_bytes += (want - old) as u64;
        }
        let at = (pos - self.start) as usize;
        Ok(Some(&self.buf[at..at + n]))
    }
}

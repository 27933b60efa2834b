//! Version 1 of the run log: one 32-byte-header frame per record, each at a
//! 16-byte aligned offset (`docs/run-log-format.md`, "Version 1"). This build
//! still reads it, and appends to a version-1 log it finds (a run that was
//! live across an upgrade); new logs are version 2.
//!
//! ```text
//! frame (at a 16-byte aligned file offset)
//!  0  4  payload length n (at most 2^28 - 1)
//!  4  4  CRC32C of bytes 0..4 and 8..32+n (every frame byte but itself and the padding)
//!  8  4  frame magic "RLFR"
//! 12  1  record kind
//! 13  1  record format version
//! 14  2  lane id
//! 16  8  per-lane sequence number
//! 24  8  reserved, zero
//! 32  n  payload: the record's rkyv archive (16-byte aligned in the file)
//!        zero padding up to a multiple of 16
//! ```

use std::fs::File;
use std::io;

use crate::runlog::file_window::Window;
use crate::runlog::format::take;
use ringlog_ring::ring::frame::MAX_PAYLOAD_LEN;

/// Size of a version-1 frame's header; the payload follows it.
pub const LOG_FRAME_HEADER_LEN: usize = 32;
/// Every version-1 frame starts at a multiple of this file offset and is a multiple of it long.
pub const LOG_FRAME_ALIGN: usize = 16;
/// Bytes 8..12 of every version-1 frame.
pub const LOG_FRAME_MAGIC: [u8; 4] = *b"RLFR";

const _: () = assert!(crate::runlog::format::RUN_LOG_HEADER_LEN.is_multiple_of(LOG_FRAME_ALIGN));
const _: () = assert!(LOG_FRAME_HEADER_LEN.is_multiple_of(LOG_FRAME_ALIGN));

/// Bytes a frame with `payload_len` payload bytes occupies in the file.
pub(crate) const fn log_frame_len(payload_len: usize) -> usize {
    (LOG_FRAME_HEADER_LEN + payload_len + LOG_FRAME_ALIGN - 1) & !(LOG_FRAME_ALIGN - 1)
}

/// Appends one encoded frame (header, payload, zero padding) to `buf`.
pub(crate) fn encode_frame(buf: &mut Vec<u8>, kind: u8, format: u8, lane: u16, seq: u64, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_PAYLOAD_LEN);
    let start = buf.len();
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&LOG_FRAME_MAGIC);
    buf.extend_from_slice(&[kind, format]);
    buf.extend_from_slice(&lane.to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(&[0; 8]);
    buf.extend_from_slice(payload);
    let crc = crc32c::crc32c_append(crc32c::crc32c(&buf[start..start + 4]), &buf[start + 8..]);
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    buf.resize(start + log_frame_len(payload.len()), 0);
}

/// The fields of an intact frame's header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogFrameHeader {
    pub(crate) payload_len: usize,
    pub(crate) kind: u8,
    pub(crate) format: u8,
    pub(crate) lane: u16,
    pub(crate) seq: u64,
}

/// What the scanner found next.
pub(crate) enum Scan<'a> {
    /// An intact frame at `offset` (its payload is not validated yet).
    Frame { offset: u64, header: LogFrameHeader, payload: &'a [u8] },
    /// `len` bytes at `offset` that hold no intact frame, followed by one.
    Damaged { offset: u64, len: u64 },
}

/// Walks the frames of a run log from its first frame to the length the file
/// had when scanning started.
pub(crate) struct Scanner {
    win: Window,
    /// File offset of the next frame to look at.
    pos: u64,
    /// Bytes after the last intact frame, known once `done`.
    tail: u64,
    done: bool,
}

impl Scanner {
    pub(crate) fn new(file: File, len: u64, frames_at: u64) -> Self {
        Self {
            win: Window { file, len, start: 0, buf: Vec::new(), read_bytes: 0 },
            pos: frames_at,
            tail: 0,
            done: false,
        }
    }

    /// Bytes read from the file so far.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.win.read_bytes
    }

    /// Bytes after the last intact frame (the torn tail), once `next` returned `None`.
    pub(crate) fn tail(&self) -> u64 {
        self.tail
    }

    /// File offset just past the last intact frame, once `next` returned `None`.
    pub(crate) fn good_end(&self) -> u64 {
        self.pos
    }

    /// The next intact frame or damaged region; `None` at the end (see `tail`).
    ///
    /// Never panics on any file content.
    pub(crate) fn next(&mut self) -> io::Result<Option<Scan<'_>>> {
        if self.done {
            return Ok(None);
        }
        let pos = self.pos;
        let mut at = pos;
        let header = loop {
            if let Some(h) = self.intact_at(at)? {
                break h;
            }
            at += LOG_FRAME_ALIGN as u64;
            if at.saturating_add(LOG_FRAME_HEADER_LEN as u64) > self.win.len {
                self.tail = self.win.len.saturating_sub(pos);
                self.done = true;
                return Ok(None);
            }
        };
        if at != pos {
            self.pos = at;
            return Ok(Some(Scan::Damaged { offset: pos, len: at - pos }));
        }
        let frame_len = log_frame_len(header.payload_len);
        self.pos = pos + frame_len as u64;
        match self.win.get(pos, LOG_FRAME_HEADER_LEN + header.payload_len)? {
            Some(b) => Ok(Some(Scan::Frame { offset: pos, header, payload: &b[LOG_FRAME_HEADER_LEN..] })),
            None => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "frame vanished while reading")),
        }
    }

    /// The header of the frame at `pos` if an intact one starts there: magic,
    /// length and checksum check out and the whole padded frame is in the file.
    fn intact_at(&mut self, pos: u64) -> io::Result<Option<LogFrameHeader>> {
        let Some(h) = self.win.get(pos, LOG_FRAME_HEADER_LEN)? else { return Ok(None) };
        if h[8..12] != LOG_FRAME_MAGIC {
            return Ok(None);
        }
        let payload_len = u32::from_le_bytes(take(h, 0)) as usize;
        if payload_len > MAX_PAYLOAD_LEN {
            return Ok(None);
        }
        let header = LogFrameHeader {
            payload_len,
            kind: h[12],
            format: h[13],
            lane: u16::from_le_bytes(take(h, 14)),
            seq: u64::from_le_bytes(take(h, 16)),
        };
        let stored = u32::from_le_bytes(take(h, 4));
        let Some(b) = self.win.get(pos, log_frame_len(payload_len))? else { return Ok(None) };
        let crc = crc32c::crc32c_append(crc32c::crc32c(&b[..4]), &b[8..LOG_FRAME_HEADER_LEN + payload_len]);
        Ok((crc == stored).then_some(header))
    }
}

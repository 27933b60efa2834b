//! Version 2 of the run log: blocks. A block is the unit of durability: one
//! drained batch of one lane, written whole with one write.
//!
//! ```text
//! block header (32 bytes), then the body
//!  0  4  block magic "RLBK"
//!  4  4  CRC32C of bytes 8..32+n (the rest of the header and the body)
//!  8  4  body length n (at most 2^28)
//! 12  4  record count (at least 1)
//! 16  8  sequence number of the first record
//! 24  2  lane id
//! 26  1  body encoding: 0 (records as in block_codec.rs)
//! 27  1  reserved, zero
//! 28  4  last record's sequence number minus the first's
//! 32  n  body
//! ```
//!
//! Blocks follow each other with no padding. A block's CRC covers its length,
//! so a damaged block cannot vouch for its own length: the scanner looks for
//! the next intact block at every following byte (see `format.rs`).

use std::fs::File;
use std::io;

use crate::runlog::file_window::Window;
use crate::runlog::format::take;

/// Size of a block header.
pub const BLOCK_HEADER_LEN: usize = 32;
/// Bytes 0..4 of every block.
pub const BLOCK_MAGIC: [u8; 4] = *b"RLBK";
/// Longest block body.
pub const MAX_BLOCK_BODY: usize = 1 << 28;
/// The body encoding this build writes and reads.
pub const ENCODING_RECORDS: u8 = 0;

/// The fields of an intact block's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHeader {
    /// Body length in bytes.
    pub body_len: u32,
    /// Records in the body.
    pub count: u32,
    /// First record's sequence number.
    pub first_seq: u64,
    /// Lane id.
    pub lane: u16,
    /// Body encoding.
    pub encoding: u8,
    /// Last record's sequence number minus `first_seq`.
    pub seq_span: u32,
}

impl BlockHeader {
    /// The last record's sequence number.
    ///
    /// # Examples
    /// ```
    /// let h = ringlog_service::runlog::block::BlockHeader { body_len: 1, count: 2, first_seq: 10, lane: 0, encoding: 0, seq_span: 3 };
    /// assert_eq!(h.last_seq(), 13);
    /// ```
    pub fn last_seq(&self) -> u64 {
        self.first_seq.wrapping_add(u64::from(self.seq_span))
    }

    /// Bytes the whole block occupies.
    ///
    /// # Examples
    /// ```
    /// let h = ringlog_service::runlog::block::BlockHeader { body_len: 5, count: 1, first_seq: 0, lane: 0, encoding: 0, seq_span: 0 };
    /// assert_eq!(h.block_len(), 37);
    /// ```
    pub fn block_len(&self) -> u64 {
        BLOCK_HEADER_LEN as u64 + u64::from(self.body_len)
    }
}

/// Writes a block header for `body` (already in `buf` after a zeroed 32-byte
/// header at `start`) in place, with its checksum.
pub(crate) fn seal_block(buf: &mut [u8], start: usize, h: &BlockHeader) {
    let b = &mut buf[start..];
    b[0..4].copy_from_slice(&BLOCK_MAGIC);
    b[8..12].copy_from_slice(&h.body_len.to_le_bytes());
    b[12..16].copy_from_slice(&h.count.to_le_bytes());
    b[16..24].copy_from_slice(&h.first_seq.to_le_bytes());
    b[24..26].copy_from_slice(&h.lane.to_le_bytes());
    b[26] = h.encoding;
    b[27] = 0;
    b[28..32].copy_from_slice(&h.seq_span.to_le_bytes());
    let crc = crc32c::crc32c(&b[8..BLOCK_HEADER_LEN + h.body_len as usize]);
    b[4..8].copy_from_slice(&crc.to_le_bytes());
}

/// Checksum bytes a resync may spend beyond 4 per byte it has skipped.
const RESYNC_BASE_BUDGET: u64 = 64 << 20;

/// What probing one offset found.
enum Probe {
    Intact(BlockHeader),
    /// A candidate header whose checksum failed, after checking this many bytes.
    Checked(u64),
    NoBlock,
}

/// What the block scanner found next.
pub(crate) enum BlockScan<'a> {
    /// An intact block at `offset` (its body is not decoded yet).
    Block { offset: u64, header: BlockHeader, body: &'a [u8] },
    /// `len` bytes at `offset` that hold no intact block, followed by one.
    Damaged { offset: u64, len: u64 },
}

/// Walks the blocks of a version-2 run log from `start` to the length the
/// file had when scanning started.
pub(crate) struct BlockScanner {
    win: Window,
    pos: u64,
    tail: u64,
    done: bool,
}

impl BlockScanner {
    pub(crate) fn new(file: File, len: u64, start: u64) -> Self {
        Self { win: Window { file, len, start: 0, buf: Vec::new(), read_bytes: 0 }, pos: start, tail: 0, done: false }
    }

    /// Bytes after the last intact block (the torn tail), once `next` returned `None`.
    pub(crate) fn tail(&self) -> u64 {
        self.tail
    }

    /// File offset just past the last intact block, once `next` returned `None`.
    pub(crate) fn good_end(&self) -> u64 {
        self.pos
    }

    /// Bytes read from the file so far (for tests of the index).
    pub(crate) fn bytes_read(&self) -> u64 {
        self.win.read_bytes
    }

    /// The next intact block or damaged region; `None` at the end (see `tail`).
    /// Never panics on any file content.
    pub(crate) fn next(&mut self) -> io::Result<Option<BlockScan<'_>>> {
        if self.done {
            return Ok(None);
        }
        let pos = self.pos;
        let mut at = pos;
        // Checksum work allowed while resyncing: a damaged or crafted region full of
        // block magics, each claiming a long body, must not cost quadratic time.
        // Genuine blocks up to RESYNC_BASE_BUDGET long are always found.
        let mut spent = 0u64;
        let header = loop {
            let allowed = RESYNC_BASE_BUDGET.saturating_add(4 * (at - pos));
            let limit = if at == pos { u64::MAX } else { allowed.saturating_sub(spent) };
            match self.intact_at(at, limit)? {
                Probe::Intact(h) => break h,
                Probe::Checked(bytes) if at != pos => spent = spent.saturating_add(bytes),
                Probe::Checked(_) | Probe::NoBlock => {}
            }
            at += 1;
            if at.saturating_add(BLOCK_HEADER_LEN as u64) > self.win.len {
                self.tail = self.win.len.saturating_sub(pos);
                self.done = true;
                return Ok(None);
            }
        };
        if at != pos {
            self.pos = at;
            return Ok(Some(BlockScan::Damaged { offset: pos, len: at - pos }));
        }
        self.pos = pos + header.block_len();
        match self.win.get(pos, header.block_len() as usize)? {
            Some(b) => Ok(Some(BlockScan::Block { offset: pos, header, body: &b[BLOCK_HEADER_LEN..] })),
            None => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "block vanished while reading")),
        }
    }

    /// Whether an intact block starts at `pos`: magic, length, count and
    /// checksum check out and the whole block is in the file. A candidate whose
    /// block is longer than `limit` bytes is not checked (`NoBlock`).
    fn intact_at(&mut self, pos: u64, limit: u64) -> io::Result<Probe> {
        let Some(h) = self.win.get(pos, BLOCK_HEADER_LEN)? else { return Ok(Probe::NoBlock) };
        if h[0..4] != BLOCK_MAGIC {
            return Ok(Probe::NoBlock);
        }
        let header = BlockHeader {
            body_len: u32::from_le_bytes(take(h, 8)),
            count: u32::from_le_bytes(take(h, 12)),
            first_seq: u64::from_le_bytes(take(h, 16)),
            lane: u16::from_le_bytes(take(h, 24)),
            encoding: h[26],
            seq_span: u32::from_le_bytes(take(h, 28)),
        };
        if header.body_len as usize > MAX_BLOCK_BODY || header.count == 0 || h[27] != 0 || header.block_len() > limit {
            return Ok(Probe::NoBlock);
        }
        let stored = u32::from_le_bytes(take(h, 4));
        let Some(b) = self.win.get(pos, header.block_len() as usize)? else { return Ok(Probe::NoBlock) };
        Ok(if crc32c::crc32c(&b[8..]) == stored { Probe::Intact(header) } else { Probe::Checked(header.block_len()) })
    }
}

//! The run log's on-disk format: file header, frame encoding, and the scanner
//! that finds intact frames in a file that may be torn or damaged.
//!
//! The full format is in `docs/run-log-format.md`; in short:
//!
//! ```text
//! file header (64 bytes)
//!  0  8  magic 89 52 4C 47 0D 0A 1A 0A ("\x89RLG\r\n\x1a\n")
//!  8  4  format version (1)
//! 12  4  header length in bytes (64); frames start here
//! 16  8  created, Unix nanoseconds
//! 24 32  run id, UTF-8, NUL-padded
//! 56  4  reserved, zero
//! 60  4  CRC32C of bytes 0..60
//!
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
//!
//! All integers are little-endian.
//!
//! **Trusted bytes.** Nothing read from a run log is trusted: a frame is used
//! only if its length is sane, its checksum matches and its payload passes
//! `rkyv` validation (`record::check`) in a private aligned copy.
//!
//! **Damage.** A frame that fails its checksum cannot vouch for its own length
//! (the length is one of the checked bytes), so the scanner does not jump over
//! it by that length. It looks for the next intact frame at each following
//! 16-byte boundary instead, and reports the bytes in between as one damaged
//! region. Bytes after the last intact frame that hold no intact frame are the
//! *torn tail* left by an interrupted write (or a damaged last frame; the two
//! cannot be told apart): the reader stops there, the writer cuts them off.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use ringlog_ring::ring::frame::MAX_PAYLOAD_LEN;

/// First 8 bytes of every run log. The high first byte and the CR LF / SUB
/// bytes catch transfers that mangle binary files (the PNG trick).
pub const RUN_LOG_MAGIC: [u8; 8] = *b"\x89RLG\r\n\x1a\n";
/// Run log format version this build writes and reads.
pub const RUN_LOG_VERSION: u32 = 1;
/// Size of the file header this build writes; frames start right after it.
pub const RUN_LOG_HEADER_LEN: usize = 64;
/// Longest run id a run log header holds, in bytes (the segment header's size).
pub const RUN_ID_MAX_LEN: usize = 32;
/// Size of a run log frame's header; the payload follows it.
pub const LOG_FRAME_HEADER_LEN: usize = 32;
/// Every run log frame starts at a multiple of this file offset and is a multiple of it long.
pub const LOG_FRAME_ALIGN: usize = 16;
/// Bytes 8..12 of every run log frame.
pub const LOG_FRAME_MAGIC: [u8; 4] = *b"RLFR";

const _: () = assert!(RUN_LOG_HEADER_LEN.is_multiple_of(LOG_FRAME_ALIGN));
const _: () = assert!(LOG_FRAME_HEADER_LEN.is_multiple_of(LOG_FRAME_ALIGN));
const _: () = assert!(RUN_LOG_HEADER_LEN == 24 + RUN_ID_MAX_LEN + 4 + 4);

/// Bytes read from the file at a time while scanning.
const READ_CHUNK: usize = 1 << 20;

/// Bytes a frame with `payload_len` payload bytes occupies in the file.
pub(crate) const fn log_frame_len(payload_len: usize) -> usize {
    (LOG_FRAME_HEADER_LEN + payload_len + LOG_FRAME_ALIGN - 1) & !(LOG_FRAME_ALIGN - 1)
}

/// The identity a run log is created with, stored in its file header.
///
/// # Examples
/// ```
/// let h = ringlog_service::RunLogHeader::new("run-42");
/// assert_eq!(h.run_id, "run-42");
/// assert!(h.created_unix_ns > 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLogHeader {
    /// The run's id: at most [`RUN_ID_MAX_LEN`] bytes of UTF-8 without NUL.
    pub run_id: String,
    /// When the log was created, Unix nanoseconds.
    pub created_unix_ns: u64,
}

impl RunLogHeader {
    /// A header for `run_id`, created now.
    ///
    /// # Examples
    /// ```
    /// let h = ringlog_service::RunLogHeader::new("abc");
    /// assert_eq!(h.run_id, "abc");
    /// ```
    pub fn new(run_id: impl Into<String>) -> Self {
        Self { run_id: run_id.into(), created_unix_ns: ringlog_ring::clock::now_unix_ns() }
    }

    /// Encodes the 64 header bytes.
    pub(crate) fn encode(&self) -> Result<[u8; RUN_LOG_HEADER_LEN], RunLogError> {
        let id = self.run_id.as_bytes();
        if id.len() > RUN_ID_MAX_LEN || id.contains(&0) {
            return Err(RunLogError::InvalidRunId { run_id: self.run_id.clone() });
        }
        let mut b = [0u8; RUN_LOG_HEADER_LEN];
        b[0..8].copy_from_slice(&RUN_LOG_MAGIC);
        b[8..12].copy_from_slice(&RUN_LOG_VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&(RUN_LOG_HEADER_LEN as u32).to_le_bytes());
        b[16..24].copy_from_slice(&self.created_unix_ns.to_le_bytes());
        b[24..24 + id.len()].copy_from_slice(id);
        let crc = crc32c::crc32c(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        Ok(b)
    }

    /// Decodes and checks a file header; returns it and where frames start.
    fn decode(path: &Path, b: &[u8; RUN_LOG_HEADER_LEN]) -> Result<(Self, u64), RunLogError> {
        let magic: [u8; 8] = take(b, 0);
        if magic != RUN_LOG_MAGIC {
            return Err(RunLogError::NotARunLog { path: path.to_owned(), found: magic });
        }
        let version = u32::from_le_bytes(take(b, 8));
        if version != RUN_LOG_VERSION {
            return Err(RunLogError::UnsupportedVersion {
                path: path.to_owned(),
                found: version,
                supported: RUN_LOG_VERSION,
            });
        }
        let corrupt = |reason: String| RunLogError::CorruptHeader { path: path.to_owned(), reason };
        let crc = u32::from_le_bytes(take(b, 60));
        let want = crc32c::crc32c(&b[..60]);
        if crc != want {
            return Err(corrupt(format!("checksum {crc:#010x}, expected {want:#010x}")));
        }
        let header_len = u32::from_le_bytes(take(b, 12));
        if (header_len as usize) < RUN_LOG_HEADER_LEN || !(header_len as usize).is_multiple_of(LOG_FRAME_ALIGN) {
            return Err(corrupt(format!("header length {header_len} is not a multiple of 16 of at least 64")));
        }
        let raw_id: [u8; RUN_ID_MAX_LEN] = take(b, 24);
        let end = raw_id.iter().position(|&c| c == 0).unwrap_or(RUN_ID_MAX_LEN);
        let header = Self {
            run_id: String::from_utf8_lossy(&raw_id[..end]).into_owned(),
            created_unix_ns: u64::from_le_bytes(take(b, 16)),
        };
        Ok((header, u64::from(header_len)))
    }
}

/// `N` bytes of `b` from `at`; the callers' offsets are constants inside `b`.
fn take<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&b[at..at + N]);
    out
}

/// Reading, writing or recovering a run log failed.
///
/// The variants from [`RunLogError::CorruptFrame`] on describe one damaged or
/// unreadable frame: the reader reports them and goes on with the next frame.
///
/// # Examples
/// ```
/// let err = ringlog_service::RunLog::open("/nonexistent/run.log").unwrap_err();
/// assert!(matches!(err, ringlog_service::RunLogError::Io { .. }));
/// assert!(err.to_string().contains("/nonexistent/run.log"));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum RunLogError {
    /// A system call on the file failed.
    #[error("run log {}: {op} failed: {source}: {hint}", .path.display())]
    Io {
        /// The run log.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// What to do about it.
        hint: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `create` found a file already there.
    #[error(
        "run log {} already exists: continue it with RunLogWriter::open_append, or give the new run its own directory",
        .path.display()
    )]
    Exists {
        /// The run log.
        path: PathBuf,
    },
    /// Another writer holds the file.
    #[error(
        "run log {} is open for appending elsewhere (a service still runs for this run): stop that service first",
        .path.display()
    )]
    Locked {
        /// The run log.
        path: PathBuf,
    },
    /// The run id does not fit the header.
    #[error("run id {run_id:?} is invalid in a run log header: use at most 32 bytes of UTF-8 without NUL")]
    InvalidRunId {
        /// The rejected id.
        run_id: String,
    },
    /// The file ends inside the header.
    #[error(
        "run log {} is {len} bytes, shorter than its 64-byte header: it was cut off while being created and holds no \
         records; delete it",
        .path.display()
    )]
    HeaderTruncated {
        /// The run log.
        path: PathBuf,
        /// File length.
        len: u64,
    },
    /// The file does not start with the run log magic.
    #[error("{} is not a ringlog run log (it starts with {found:02x?}): check the path", .path.display())]
    NotARunLog {
        /// The file.
        path: PathBuf,
        /// Its first 8 bytes.
        found: [u8; 8],
    },
    /// The path is not a regular file (a FIFO, a device, a directory).
    #[error("{} is not a regular file (a FIFO, device or directory?): a run log is the file run.rlog in a run directory", .path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// A format version this build does not read.
    #[error(
        "run log {} has format version {found}; this build reads version {supported}: read it with the ringlog \
         version that wrote it, or upgrade",
        .path.display()
    )]
    UnsupportedVersion {
        /// The run log.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The header fails its checks.
    #[error(
        "run log {} has a damaged header ({reason}): the file was overwritten or the disk is failing; restore it from \
         a backup",
        .path.display()
    )]
    CorruptHeader {
        /// The run log.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A frame is too large for the format (never the case for frames from a lane).
    #[error("lane {lane} seq {seq}: payload of {len} bytes exceeds the run log's frame limit of 2^28 - 1 bytes")]
    FrameTooLarge {
        /// Lane id.
        lane: u16,
        /// Sequence number.
        seq: u64,
        /// Payload length.
        len: usize,
    },
    /// A region of the file holds no intact frame (bad checksum or framing).
    #[error(
        "run log {}: {len} damaged bytes at offset {offset} skipped (bad checksum or framing); the records in them are \
         lost, later records are intact; check the disk (dmesg, smartctl)",
        .path.display()
    )]
    CorruptFrame {
        /// The run log.
        path: PathBuf,
        /// File offset of the damaged region.
        offset: u64,
        /// Its length in bytes.
        len: u64,
    },
    /// An intact frame of a record kind this build does not know.
    #[error(
        "run log {} offset {offset}: lane {lane} seq {seq} has record kind {kind}, unknown to this build; record \
         skipped: upgrade ringlog to read it",
        .path.display()
    )]
    UnknownKind {
        /// The run log.
        path: PathBuf,
        /// File offset of the frame.
        offset: u64,
        /// Lane id.
        lane: u16,
        /// Sequence number.
        seq: u64,
        /// Kind byte.
        kind: u8,
    },
    /// An intact frame whose payload fails validation or has an unsupported format.
    #[error("run log {} offset {offset}: lane {lane} seq {seq}: {reason}; record skipped", .path.display())]
    InvalidRecord {
        /// The run log.
        path: PathBuf,
        /// File offset of the frame.
        offset: u64,
        /// Lane id.
        lane: u16,
        /// Sequence number.
        seq: u64,
        /// Why it was rejected.
        reason: String,
    },
}

impl RunLogError {
    /// Whether the error describes one frame that was skipped (reading goes on).
    ///
    /// # Examples
    /// ```
    /// let e = ringlog_service::RunLogError::InvalidRunId { run_id: String::new() };
    /// assert!(!e.is_frame_error());
    /// ```
    pub fn is_frame_error(&self) -> bool {
        matches!(self, Self::CorruptFrame { .. } | Self::UnknownKind { .. } | Self::InvalidRecord { .. })
    }

    pub(crate) fn io<'a>(path: &'a Path, op: &'static str, hint: &'static str) -> impl FnOnce(io::Error) -> Self + 'a {
        move |source| Self::Io { path: path.to_owned(), op, hint, source }
    }
}

/// Hint for read failures.
pub(crate) const READ_HINT: &str = "check that the file exists and is readable";

/// Reads and checks the header of an open run log; returns it and where frames start.
pub(crate) fn read_header(path: &Path, file: &File, len: u64) -> Result<(RunLogHeader, u64), RunLogError> {
    if len < RUN_LOG_HEADER_LEN as u64 {
        return Err(RunLogError::HeaderTruncated { path: path.to_owned(), len });
    }
    let mut b = [0u8; RUN_LOG_HEADER_LEN];
    file.read_exact_at(&mut b, 0).map_err(RunLogError::io(path, "reading the header", READ_HINT))?;
    let (header, frames_at) = RunLogHeader::decode(path, &b)?;
    if frames_at > len {
        return Err(RunLogError::CorruptHeader {
            path: path.to_owned(),
            reason: format!("header length {frames_at} exceeds the file length {len}"),
        });
    }
    Ok((header, frames_at))
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

/// A read-only window onto the file, refilled in large chunks.
struct Window {
    file: File,
    /// File length when scanning started; bytes past it are never read.
    len: u64,
    /// File offset of `buf[0]`.
    start: u64,
    buf: Vec<u8>,
}

impl Window {
    /// Bytes `pos..pos + n` of the file, `None` if the file ends before.
    fn get(&mut self, pos: u64, n: usize) -> io::Result<Option<&[u8]>> {
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
        }
        let at = (pos - self.start) as usize;
        Ok(Some(&self.buf[at..at + n]))
    }
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
        Self { win: Window { file, len, start: 0, buf: Vec::new() }, pos: frames_at, tail: 0, done: false }
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

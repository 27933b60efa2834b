//! The run log's file header, its versions, and its errors.
//!
//! The full format is in `docs/run-log-format.md`; in short:
//!
//! ```text
//! file header (64 bytes)
//!  0  8  magic 89 52 4C 47 0D 0A 1A 0A ("\x89RLG\r\n\x1a\n")
//!  8  4  format version: 2 (blocks, `block.rs`); 1 (one frame per record, `frame_v1.rs`) is still read
//! 12  4  header length in bytes (64); blocks (or frames) start here
//! 16  8  created, Unix nanoseconds
//! 24 32  run id, UTF-8, NUL-padded
//! 56  4  reserved, zero
//! 60  4  CRC32C of bytes 0..60
//! ```
//!
//! All integers are little-endian.
//!
//! **Trusted bytes.** Nothing read from a run log is trusted: a block (or
//! frame) is used only if its length is sane and its checksum matches, and
//! every record in it is bounded while decoding and validated (`rkyv`
//! bytecheck, `record::check`) in a private aligned copy.
//!
//! **Damage.** A block that fails its checksum cannot vouch for its own
//! length (the length is one of the checked bytes), so the scanner does not
//! jump over it by that length. It looks for the next intact block at each
//! following offset instead, and reports the bytes in between as one damaged
//! region. Bytes after the last intact block that hold no intact block are the
//! *torn tail* left by an interrupted write (or a damaged last block; the two
//! cannot be told apart): the reader stops there, the writer cuts them off.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// First 8 bytes of every run log. The high first byte and the CR LF / SUB
/// bytes catch transfers that mangle binary files (the PNG trick).
pub const RUN_LOG_MAGIC: [u8; 8] = *b"\x89RLG\r\n\x1a\n";
/// Run log format version this build writes.
pub const RUN_LOG_VERSION: u32 = 2;
/// The first format version, which this build still reads (and appends to).
pub const RUN_LOG_VERSION_1: u32 = 1;
/// Size of the file header this build writes; blocks start right after it.
pub const RUN_LOG_HEADER_LEN: usize = 64;
/// Longest run id a run log header holds, in bytes (the segment header's size).
pub const RUN_ID_MAX_LEN: usize = 32;
/// The file header length is a multiple of this (a version-1 frame alignment).
const HEADER_ALIGN: usize = 16;

pub use crate::runlog::frame_v1::{LOG_FRAME_ALIGN, LOG_FRAME_HEADER_LEN, LOG_FRAME_MAGIC};

const _: () = assert!(RUN_LOG_HEADER_LEN == 24 + RUN_ID_MAX_LEN + 4 + 4);
const _: () = assert!(RUN_LOG_HEADER_LEN.is_multiple_of(HEADER_ALIGN));

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
    /// Format version: [`RUN_LOG_VERSION`] for a new log, what the file says for an existing one.
    pub version: u32,
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
        Self { run_id: run_id.into(), created_unix_ns: ringlog_ring::clock::now_unix_ns(), version: RUN_LOG_VERSION }
    }

    /// Encodes the 64 header bytes.
    pub(crate) fn encode(&self) -> Result<[u8; RUN_LOG_HEADER_LEN], RunLogError> {
        let id = self.run_id.as_bytes();
        if id.len() > RUN_ID_MAX_LEN || id.contains(&0) {
            return Err(RunLogError::InvalidRunId { run_id: self.run_id.clone() });
        }
        let mut b = [0u8; RUN_LOG_HEADER_LEN];
        b[0..8].copy_from_slice(&RUN_LOG_MAGIC);
        if self.version != RUN_LOG_VERSION && self.version != RUN_LOG_VERSION_1 {
            return Err(RunLogError::UnsupportedVersion {
                path: PathBuf::new(),
                found: self.version,
                supported: RUN_LOG_VERSION,
            });
        }
        b[8..12].copy_from_slice(&self.version.to_le_bytes());
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
        if version != RUN_LOG_VERSION && version != RUN_LOG_VERSION_1 {
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
        if (header_len as usize) < RUN_LOG_HEADER_LEN || !(header_len as usize).is_multiple_of(HEADER_ALIGN) {
            return Err(corrupt(format!("header length {header_len} is not a multiple of 16 of at least 64")));
        }
        let raw_id: [u8; RUN_ID_MAX_LEN] = take(b, 24);
        let end = raw_id.iter().position(|&c| c == 0).unwrap_or(RUN_ID_MAX_LEN);
        let header = Self {
            run_id: String::from_utf8_lossy(&raw_id[..end]).into_owned(),
            created_unix_ns: u64::from_le_bytes(take(b, 16)),
            version,
        };
        Ok((header, u64::from(header_len)))
    }
}

/// `N` bytes of `b` from `at`; the callers' offsets are constants inside `b`.
pub(crate) fn take<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
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
        "run log {} has format version {found}; this build reads versions 1 to {supported}: read it with the ringlog \
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

//! Reading a run log back: an iterator of validated records.
//!
//! The reader streams the file in large chunks and dispatches on the format
//! version. Version 2: it checks each block's length and checksum and decodes
//! its records (bounding every field); version 1: each frame's. A record kept
//! as rkyv bytes is copied into a private 16-byte aligned buffer and validated
//! there with `schema::check` (rkyv bytecheck); a compact scalar is rebuilt
//! as an archive by this process, so it is valid by construction. Damage is
//! reported as an error item and skipped; a torn tail ends the iteration and
//! is reported by [`RunLog::torn_tail_bytes`].

use std::collections::VecDeque;
use std::iter::FusedIterator;
use std::path::{Path, PathBuf};

use crate::runlog::block::{BlockScan, BlockScanner};
use crate::runlog::block_codec::{BlockDecoder, Decoded, decode_block};
use crate::runlog::format::{self, READ_HINT, RUN_LOG_VERSION_1, RunLogError, RunLogHeader};
use crate::runlog::frame_v1::{Scan, Scanner};
use crate::runlog::payload_buf::PayloadBuf;
use ringlog_ring::record::schema::{self, RECORD_FORMAT_VERSION, RecordKind, RecordRef};

/// One validated record from a run log.
///
/// # Examples
/// See [`RunLog`].
#[derive(Clone)]
pub struct LogRecord {
    offset: u64,
    lane: u16,
    seq: u64,
    kind: RecordKind,
    format: u8,
    /// Private aligned copy of the payload; it passed `schema::check(kind,
    /// format, ..)` when the record was read, or was serialized here from a
    /// compact record, and is never mutated after.
    payload: PayloadBuf,
}

impl LogRecord {
    /// Lane the record was logged on.
    ///
    /// # Examples
    /// See [`RunLog`].
    pub fn lane(&self) -> u16 {
        self.lane
    }

    /// Its sequence number in that lane.
    ///
    /// # Examples
    /// See [`RunLog`].
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Its record kind.
    ///
    /// # Examples
    /// See [`RunLog`].
    pub fn kind(&self) -> RecordKind {
        self.kind
    }

    /// Its record format version.
    ///
    /// # Examples
    /// See [`RunLog`].
    pub fn format(&self) -> u8 {
        self.format
    }

    /// File offset of its block (version 2) or frame (version 1).
    ///
    /// # Examples
    /// See [`RunLog`].
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The archived payload bytes (16-byte aligned).
    ///
    /// # Examples
    /// See [`RunLog`].
    pub fn payload(&self) -> &[u8] {
        self.payload.as_slice()
    }

    /// The record, validated when it was read.
    ///
    /// # Examples
    /// See [`RunLog`].
    pub fn record(&self) -> RecordRef<'_> {
        // SAFETY: `payload` either passed `schema::check(self.kind, self.format, ..)`
        // (which validates it for `kind`) in `RunLog::checked`, or was written by
        // `rkyv::to_bytes` of this kind's type in `RunLog::compact` (valid by
        // construction); it is a private buffer that nothing mutates afterwards.
        // Validation is position-independent given alignment, which
        // `AlignedVec<16>` keeps.
        unsafe { schema::view_validated(self.kind, self.payload.as_slice()) }
    }
}

impl std::fmt::Debug for LogRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogRecord")
            .field("offset", &self.offset)
            .field("lane", &self.lane)
            .field("seq", &self.seq)
            .field("record", &self.record())
            .finish()
    }
}

/// A run log opened for reading: an iterator over its records, in file order.
///
/// Items are `Ok` for a validated record and `Err` for a damaged region or a
/// frame that cannot be used (see [`RunLogError::is_frame_error`]); iteration
/// goes on after those. An I/O error is the last item. A torn tail ends the
/// iteration; [`RunLog::torn_tail_bytes`] says how long it was.
///
/// The reader sees the file as long as it was when opened.
///
/// # Examples
/// ```
/// use ringlog_ring::{Batch, HeapRun, RecordRef};
/// use ringlog_service::{RunLog, RunLogHeader, RunLogWriter};
/// let path = std::env::temp_dir().join(format!("ringlog-doc-reader-{}.log", std::process::id()));
/// # let _ = std::fs::remove_file(&path);
/// let run = HeapRun::new(1 << 16, 1).unwrap();
/// let mut p = run.claim(0, Default::default())?;
/// let loss = p.key("loss")?;
/// p.log_scalar1(7, loss, 0.25)?;
/// let mut c = run.consumer()?;
/// let mut batch = Batch::new(1 << 16);
/// c.drain(&mut batch);
/// RunLogWriter::create(&path, &RunLogHeader::new("doc"))?.append_batch(&batch)?;
///
/// let mut log = RunLog::open(&path)?;
/// assert_eq!(log.header().run_id, "doc");
/// let records: Vec<_> = log.by_ref().collect::<Result<_, _>>()?;
/// assert_eq!(records.len(), 2);
/// assert_eq!((records[1].lane(), records[1].seq()), (0, 1));
/// assert!(matches!(records[1].record(), RecordRef::Scalar1(s) if s.step == 7 && s.value == 0.25));
/// assert_eq!(log.torn_tail_bytes(), 0);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RunLog {
    path: PathBuf,
    header: RunLogHeader,
    source: Source,
    records: u64,
    damaged: u64,
    rejected: u64,
    /// An I/O error was returned; nothing more is read.
    failed: bool,
    finished: bool,
}

/// The frames (version 1) or blocks (version 2) of the file.
enum Source {
    V1(Scanner),
    V2 {
        scanner: BlockScanner,
        decoder: Box<BlockDecoder>,
        /// Items of the last block read, not handed out yet.
        pending: VecDeque<Result<LogRecord, RunLogError>>,
    },
}

impl RunLog {
    /// Opens a run log and checks its header.
    ///
    /// # Errors
    /// [`RunLogError::Io`] if the file cannot be opened or read,
    /// [`RunLogError::NotARunLog`], [`RunLogError::HeaderTruncated`],
    /// [`RunLogError::UnsupportedVersion`] or [`RunLogError::CorruptHeader`].
    ///
    /// # Examples
    /// See [`RunLog`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, RunLogError> {
        Self::open_from(path, None)
    }

    /// Opens a run log to read from the block (version 2) or frame (version 1)
    /// at `offset` on: a group start from the log's
    /// [`RunIndex`](crate::runlog::index::RunIndex), or where an earlier read
    /// ended ([`RunLog::good_end`]). An offset where no intact block starts
    /// reads as a damaged region up to the next block.
    ///
    /// # Errors
    /// As [`RunLog::open`].
    ///
    /// # Examples
    /// ```
    /// # use ringlog_service::{RunLog, RunLogHeader, RunLogWriter};
    /// # let path = std::env::temp_dir().join(format!("ringlog-doc-open-at-{}.log", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// drop(RunLogWriter::create(&path, &RunLogHeader::new("r"))?);
    /// assert_eq!(RunLog::open_at(&path, 64)?.count(), 0);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_at(path: impl AsRef<Path>, offset: u64) -> Result<Self, RunLogError> {
        Self::open_from(path, Some(offset))
    }

    fn open_from(path: impl AsRef<Path>, offset: Option<u64>) -> Result<Self, RunLogError> {
        let path = path.as_ref();
        // O_NONBLOCK: opening a FIFO for reading would wait for a writer
        // forever; a regular file ignores the flag. Anything but a regular
        // file is refused before a single read.
        let file =
            std::os::unix::fs::OpenOptionsExt::custom_flags(std::fs::OpenOptions::new().read(true), libc::O_NONBLOCK)
                .open(path)
                .map_err(RunLogError::io(path, "opening the file", READ_HINT))?;
        let meta = file.metadata().map_err(RunLogError::io(path, "reading the file size", READ_HINT))?;
        if !meta.is_file() {
            return Err(RunLogError::NotAFile { path: path.to_owned() });
        }
        let len = meta.len();
        let (header, frames_at) = format::read_header(path, &file, len)?;
        let start = offset.map_or(frames_at, |o| o.max(frames_at));
        let source = if header.version == RUN_LOG_VERSION_1 {
            Source::V1(Scanner::new(file, len, start))
        } else {
            Source::V2 {
                scanner: BlockScanner::new(file, len, start),
                decoder: Box::default(),
                pending: VecDeque::new(),
            }
        };
        Ok(Self {
            path: path.to_owned(),
            header,
            source,
            records: 0,
            damaged: 0,
            rejected: 0,
            failed: false,
            finished: false,
        })
    }

    /// The log's header.
    ///
    /// # Examples
    /// See [`RunLog`].
    pub fn header(&self) -> &RunLogHeader {
        &self.header
    }

    /// The log's path.
    ///
    /// # Examples
    /// See [`RunLog`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether iteration has ended (the counters below are then final).
    ///
    /// # Examples
    /// See [`RunLog::torn_tail_bytes`].
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Bytes after the last intact frame that hold no intact frame: the torn
    /// tail of an interrupted write (0 when there is none). Known once the
    /// iteration has ended; a writer opened with
    /// [`RunLogWriter::open_append`](crate::RunLogWriter::open_append) cuts it.
    ///
    /// # Examples
    /// ```
    /// # use ringlog_service::{RunLog, RunLogHeader, RunLogWriter};
    /// # let path = std::env::temp_dir().join(format!("ringlog-doc-torn-{}.log", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// drop(RunLogWriter::create(&path, &RunLogHeader::new("r"))?);
    /// std::fs::OpenOptions::new().append(true).open(&path)?.write_all(b"partial")?;
    /// # use std::io::Write;
    /// let mut log = RunLog::open(&path)?;
    /// assert_eq!(log.by_ref().count(), 0);
    /// assert!(log.is_finished());
    /// assert_eq!(log.torn_tail_bytes(), 7);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn torn_tail_bytes(&self) -> u64 {
        if !self.finished || self.failed {
            return 0;
        }
        match &self.source {
            Source::V1(s) => s.tail(),
            Source::V2 { scanner, .. } => scanner.tail(),
        }
    }

    /// Validated records returned so far.
    ///
    /// # Examples
    /// See [`RunLog::damaged_regions`].
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Damaged regions skipped so far ([`RunLogError::CorruptFrame`] items).
    ///
    /// # Examples
    /// ```
    /// # use ringlog_service::{RunLog, RunLogHeader, RunLogWriter};
    /// # let path = std::env::temp_dir().join(format!("ringlog-doc-damaged-{}.log", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// drop(RunLogWriter::create(&path, &RunLogHeader::new("r"))?);
    /// let mut log = RunLog::open(&path)?;
    /// log.by_ref().for_each(drop);
    /// assert_eq!((log.records(), log.damaged_regions(), log.rejected_records()), (0, 0, 0));
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn damaged_regions(&self) -> u64 {
        self.damaged
    }

    /// File offset just past the last intact block (or frame) read: where a
    /// later read of a growing log continues ([`RunLog::open_at`]). Final once
    /// the iteration has ended.
    ///
    /// # Examples
    /// ```
    /// # use ringlog_service::{RunLog, RunLogHeader, RunLogWriter};
    /// # let path = std::env::temp_dir().join(format!("ringlog-doc-good-end-{}.log", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// drop(RunLogWriter::create(&path, &RunLogHeader::new("r"))?);
    /// let mut log = RunLog::open(&path)?;
    /// log.by_ref().for_each(drop);
    /// assert_eq!(log.good_end(), 64);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn good_end(&self) -> u64 {
        match &self.source {
            Source::V1(s) => s.good_end(),
            Source::V2 { scanner, .. } => scanner.good_end(),
        }
    }

    /// Bytes read from the file so far (how much of the log a read touched).
    ///
    /// # Examples
    /// ```
    /// # use ringlog_service::{RunLog, RunLogHeader, RunLogWriter};
    /// # let path = std::env::temp_dir().join(format!("ringlog-doc-bytes-read-{}.log", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// drop(RunLogWriter::create(&path, &RunLogHeader::new("r"))?);
    /// let mut log = RunLog::open(&path)?;
    /// log.by_ref().for_each(drop);
    /// assert_eq!(log.bytes_read(), 0);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bytes_read(&self) -> u64 {
        match &self.source {
            Source::V1(s) => s.bytes_read(),
            Source::V2 { scanner, .. } => scanner.bytes_read(),
        }
    }

    /// Intact frames rejected so far ([`RunLogError::UnknownKind`] and
    /// [`RunLogError::InvalidRecord`] items).
    ///
    /// # Examples
    /// See [`RunLog::damaged_regions`].
    pub fn rejected_records(&self) -> u64 {
        self.rejected
    }
}

impl RunLog {
    /// The lanes that have records in the log, up to the record (block or frame) at file
    /// offset `limit` when one is given. A version-2 log is answered from its block headers
    /// (intact blocks, bodies not decoded); a version-1 log is read record by record.
    ///
    /// # Errors
    /// As [`RunLog::open`]; an I/O error while reading.
    ///
    /// # Examples
    /// ```
    /// # use ringlog_service::{RunLog, RunLogHeader, RunLogWriter};
    /// # let path = std::env::temp_dir().join(format!("ringlog-doc-lanes-{}.log", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// drop(RunLogWriter::create(&path, &RunLogHeader::new("r"))?);
    /// assert!(RunLog::lanes(&path, None)?.is_empty());
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lanes(path: impl AsRef<Path>, limit: Option<u64>) -> Result<std::collections::BTreeSet<u16>, RunLogError> {
        let mut log = Self::open(path)?;
        let mut lanes = std::collections::BTreeSet::new();
        let within = |offset: u64| limit.is_none_or(|l| offset <= l);
        if let Source::V2 { scanner, .. } = &mut log.source {
            while let Some(scan) = scanner.next().map_err(RunLogError::io(&log.path, "reading blocks", READ_HINT))? {
                if let BlockScan::Block { offset, header, .. } = scan
                    && header.count > 0
                    && within(offset)
                {
                    lanes.insert(header.lane);
                }
            }
            return Ok(lanes);
        }
        for rec in log.flatten() {
            if within(rec.offset()) {
                lanes.insert(rec.lane());
            }
        }
        Ok(lanes)
    }

    /// A record kept as rkyv bytes: copied into an aligned buffer and validated.
    fn checked(
        path: &Path,
        offset: u64,
        lane: u16,
        seq: u64,
        kind: u8,
        format: u8,
        payload: &[u8],
    ) -> Result<LogRecord, RunLogError> {
        let Some(kind) = RecordKind::from_u8(kind) else {
            return Err(RunLogError::UnknownKind { path: path.to_owned(), offset, lane, seq, kind });
        };
        let aligned = PayloadBuf::copy_of(payload);
        match schema::check(kind, format, aligned.as_slice()) {
            Ok(_) => Ok(LogRecord { offset, lane, seq, kind, format, payload: aligned }),
            Err(reason) => Err(RunLogError::InvalidRecord { path: path.to_owned(), offset, lane, seq, reason }),
        }
    }

    /// A compact record rebuilt as the archive the producer wrote.
    fn compact(offset: u64, lane: u16, d: Decoded<'_>) -> Option<LogRecord> {
        let (seq, kind, payload) = match d {
            Decoded::Scalar1 { seq, record } => (seq, RecordKind::Scalar1, PayloadBuf::scalar1(&record)),
            Decoded::Scalars { seq, ts_ns, step, items } => {
                (seq, RecordKind::Scalars, PayloadBuf::scalars(ts_ns, step, items))
            }
            Decoded::Raw { .. } => return None,
        };
        Some(LogRecord { offset, lane, seq, kind, format: RECORD_FORMAT_VERSION, payload })
    }

    /// Reads the next block into `pending`; `Ok(false)` at the end.
    fn fill(&mut self) -> std::io::Result<bool> {
        let Source::V2 { scanner, decoder, pending } = &mut self.source else { return Ok(false) };
        let path = &self.path;
        match scanner.next()? {
            None => Ok(false),
            Some(BlockScan::Damaged { offset, len }) => {
                pending.push_back(Err(RunLogError::CorruptFrame { path: path.clone(), offset, len }));
                Ok(true)
            }
            Some(BlockScan::Block { offset, header, body }) => {
                let lane = header.lane;
                let mut last_seq = header.first_seq;
                let result = decode_block(decoder, body, header.first_seq, header.count, |d| {
                    let item = match d {
                        Decoded::Raw { seq, kind, format, payload } => {
                            Self::checked(path, offset, lane, seq, kind, format, payload)
                        }
                        d => Ok(Self::compact(offset, lane, d).expect("not raw")),
                    };
                    last_seq = item.as_ref().map_or(last_seq, LogRecord::seq);
                    pending.push_back(item);
                });
                if let Err(reason) = result {
                    pending.push_back(Err(RunLogError::InvalidRecord {
                        path: path.clone(),
                        offset,
                        lane,
                        seq: last_seq,
                        reason: format!("malformed block body ({reason}); the rest of the block is skipped"),
                    }));
                }
                Ok(true)
            }
        }
    }

    fn next_v1(&mut self) -> Option<Result<LogRecord, RunLogError>> {
        let Source::V1(scanner) = &mut self.source else { return None };
        let path = &self.path;
        match scanner.next() {
            Ok(Some(Scan::Damaged { offset, len })) => {
                Some(Err(RunLogError::CorruptFrame { path: path.clone(), offset, len }))
            }
            Ok(Some(Scan::Frame { offset, header, payload })) => {
                Some(Self::checked(path, offset, header.lane, header.seq, header.kind, header.format, payload))
            }
            Ok(None) => None,
            Err(e) => Some(Err(RunLogError::io(path, "reading frames", READ_HINT)(e))),
        }
    }
}

impl Iterator for RunLog {
    type Item = Result<LogRecord, RunLogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let item = if matches!(self.source, Source::V1(_)) {
            self.next_v1()
        } else {
            loop {
                if let Source::V2 { pending, .. } = &mut self.source
                    && let Some(item) = pending.pop_front()
                {
                    break Some(item);
                }
                match self.fill() {
                    Ok(true) => {}
                    Ok(false) => break None,
                    Err(e) => break Some(Err(RunLogError::io(&self.path, "reading blocks", READ_HINT)(e))),
                }
            }
        };
        match &item {
            None => self.finished = true,
            Some(Ok(_)) => self.records += 1,
            Some(Err(RunLogError::CorruptFrame { .. })) => self.damaged += 1,
            Some(Err(e)) if e.is_frame_error() => self.rejected += 1,
            Some(Err(_)) => {
                self.failed = true;
                self.finished = true;
            }
        }
        item
    }
}

impl FusedIterator for RunLog {}

impl std::fmt::Debug for RunLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunLog")
            .field("path", &self.path)
            .field("header", &self.header)
            .field("records", &self.records)
            .field("damaged", &self.damaged)
            .field("rejected", &self.rejected)
            .finish_non_exhaustive()
    }
}

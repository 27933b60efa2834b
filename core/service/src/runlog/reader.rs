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
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use crate::runlog::block::{BlockScan, BlockScanner};
use crate::runlog::block_codec::{BlockDecoder, Decoded, decode_block, decode_block_until};
use crate::runlog::format::{self, READ_HINT, RUN_LOG_VERSION_1, RunLogError, RunLogHeader};
use crate::runlog::frame_v1::{Scan, Scanner};
use crate::runlog::payload_buf::PayloadBuf;
use ringlog_ring::record::schema::{self, RECORD_FORMAT_VERSION, RecordKind, RecordRef, Scalar1, ScalarItem};

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

/// One item of a run log as [`RunLog::try_for_each_entry`] hands it out: the
/// iterator's items, with compact scalar records left decoded.
#[derive(Debug)]
pub enum Entry<'a> {
    /// A compact `Scalar1` or `Scalars` record (version 2), as decoded from its
    /// block: nothing is rebuilt or copied for it.
    Scalars(ScalarsEntry<'a>),
    /// Any other valid record (and every record of a version-1 log).
    Record(&'a LogRecord),
    /// A damaged region or a record that cannot be used: the iterator's `Err` items
    /// (boxed: they are rare, and an entry is moved once per record).
    Error(Box<RunLogError>),
}

/// A compact scalar record, borrowed from the reader's block decoder.
///
/// # Examples
/// See [`RunLog::try_for_each_entry`].
#[derive(Debug, Clone, Copy)]
pub struct ScalarsEntry<'a> {
    /// File offset of its block.
    pub offset: u64,
    /// Lane it was logged on.
    pub lane: u16,
    /// Its sequence number in that lane.
    pub seq: u64,
    /// [`RecordKind::Scalar1`] (then `items` holds one item) or [`RecordKind::Scalars`].
    pub kind: RecordKind,
    /// Training step.
    pub step: i64,
    /// Unix ns.
    pub ts_ns: u64,
    /// The values, in logged order.
    pub items: &'a [ScalarItem],
}

impl ScalarsEntry<'_> {
    /// The record as the iterator hands it out (the archive the producer wrote).
    ///
    /// # Examples
    /// ```
    /// # use std::ops::ControlFlow;
    /// # use ringlog_ring::{Batch, HeapRun};
    /// # use ringlog_service::{Entry, RunLog, RunLogHeader, RunLogWriter};
    /// # let path = std::env::temp_dir().join(format!("ringlog-doc-to-record-{}.log", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// # let run = HeapRun::new(1 << 16, 1).unwrap();
    /// # let mut p = run.claim(0, Default::default())?;
    /// # let loss = p.key("loss")?;
    /// # p.log_scalar1(7, loss, 0.25)?;
    /// # let mut c = run.consumer()?;
    /// # let mut batch = Batch::new(1 << 16);
    /// # c.drain(&mut batch);
    /// # RunLogWriter::create(&path, &RunLogHeader::new("doc"))?.append_batch(&batch)?;
    /// let mut records = Vec::new();
    /// let _ = RunLog::open(&path)?.try_for_each_entry(|e| {
    ///     if let Entry::Scalars(s) = e { records.push(s.to_record()) }
    ///     ControlFlow::<()>::Continue(())
    /// });
    /// let expected: Vec<_> = RunLog::open(&path)?.skip(1).collect::<Result<_, _>>()?;
    /// assert_eq!(records[0].payload(), expected[0].payload());
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_record(&self) -> LogRecord {
        let (kind, payload) = match (self.kind, self.items) {
            (RecordKind::Scalar1, [item]) => (
                RecordKind::Scalar1,
                PayloadBuf::scalar1(&Scalar1 {
                    ts_ns: self.ts_ns,
                    step: self.step,
                    value: item.value,
                    key: item.key,
                    reserved: item.reserved,
                }),
            ),
            // The decoder makes `Scalar1` entries of exactly one item.
            _ => (RecordKind::Scalars, PayloadBuf::scalars(self.ts_ns, self.step, self.items)),
        };
        LogRecord { offset: self.offset, lane: self.lane, seq: self.seq, kind, format: RECORD_FORMAT_VERSION, payload }
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

    /// Skips the values of compact scalar records from here on: they read as 0.0
    /// ([`BlockDecoder::skipping_values`]), everything else as usual. For a pass
    /// that only needs keys, steps and times.
    pub(crate) fn skip_scalar_values(&mut self) {
        if let Source::V2 { decoder, .. } = &mut self.source {
            **decoder = BlockDecoder::skipping_values();
        }
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

    /// Hands every item to `f`, in file order, until `f` breaks: what the
    /// iterator yields, except that a compact scalar record (version 2) comes as
    /// an [`Entry::Scalars`] borrowed from the block decoder, without the archive
    /// the iterator rebuilds for it. The counters ([`RunLog::records`],
    /// [`RunLog::damaged_regions`], ...) count as the iterator does. Items the
    /// iterator had buffered come first; after a break, the rest of that
    /// block is not handed out again.
    ///
    /// # Examples
    /// ```
    /// # use std::ops::ControlFlow;
    /// use ringlog_service::{Entry, RunLog};
    /// # use ringlog_ring::{Batch, HeapRun};
    /// # use ringlog_service::{RunLogHeader, RunLogWriter};
    /// # let path = std::env::temp_dir().join(format!("ringlog-doc-entries-{}.log", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// # let run = HeapRun::new(1 << 16, 1).unwrap();
    /// # let mut p = run.claim(0, Default::default())?;
    /// # let loss = p.key("loss")?;
    /// # for step in 0..10 { p.log_scalar1(step, loss, 0.5)?; }
    /// # let mut c = run.consumer()?;
    /// # let mut batch = Batch::new(1 << 16);
    /// # c.drain(&mut batch);
    /// # RunLogWriter::create(&path, &RunLogHeader::new("doc"))?.append_batch(&batch)?;
    /// // The log holds a key definition, then loss = 0.5 at steps 0 to 9.
    /// let mut log = RunLog::open(&path)?;
    /// let mut steps = Vec::new();
    /// let stopped = log.try_for_each_entry(|e| match e {
    ///     Entry::Scalars(s) if s.step == 5 => ControlFlow::Break(s.items[0].value),
    ///     Entry::Scalars(s) => ControlFlow::Continue(steps.push(s.step)),
    ///     Entry::Record(_) | Entry::Error(_) => ControlFlow::Continue(()),
    /// });
    /// assert_eq!(stopped, ControlFlow::Break(0.5));
    /// assert_eq!(steps, [0, 1, 2, 3, 4]);
    /// assert_eq!(log.records(), 7);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_for_each_entry<B>(&mut self, mut f: impl FnMut(Entry<'_>) -> ControlFlow<B>) -> ControlFlow<B> {
        loop {
            if self.finished {
                return ControlFlow::Continue(());
            }
            let buffered = match &mut self.source {
                Source::V2 { pending, .. } => pending.pop_front(),
                Source::V1(_) => None,
            };
            let item = match buffered {
                Some(item) => Some(item),
                None if matches!(self.source, Source::V1(_)) => self.next_v1(),
                None => {
                    if !self.visit_block(&mut f)? {
                        self.finished = true;
                    }
                    continue;
                }
            };
            self.tally(item.as_ref());
            match item {
                None => return ControlFlow::Continue(()),
                Some(Ok(rec)) => f(Entry::Record(&rec))?,
                Some(Err(e)) => f(Entry::Error(Box::new(e)))?,
            }
        }
    }

    /// Reads the next block and hands its items to `f`; `Continue(false)` at the end.
    fn visit_block<B>(&mut self, f: &mut impl FnMut(Entry<'_>) -> ControlFlow<B>) -> ControlFlow<B, bool> {
        let Source::V2 { scanner, decoder, .. } = &mut self.source else { return ControlFlow::Continue(false) };
        let path = &self.path;
        let scan = match scanner.next() {
            Ok(scan) => scan,
            Err(e) => {
                self.failed = true;
                self.finished = true;
                f(Entry::Error(Box::new(RunLogError::io(path, "reading blocks", READ_HINT)(e))))?;
                return ControlFlow::Continue(false);
            }
        };
        let (offset, header, body) = match scan {
            None => return ControlFlow::Continue(false),
            Some(BlockScan::Damaged { offset, len }) => {
                self.damaged += 1;
                f(Entry::Error(Box::new(RunLogError::CorruptFrame { path: path.clone(), offset, len })))?;
                return ControlFlow::Continue(true);
            }
            Some(BlockScan::Block { offset, header, body }) => (offset, header, body),
        };
        let lane = header.lane;
        let mut last_seq = header.first_seq;
        let mut broke = None;
        let (records, rejected) = (&mut self.records, &mut self.rejected);
        let result = decode_block_until(decoder, body, header.first_seq, header.count, |d| {
            let mut one = [ScalarItem { key: 0, reserved: 0, value: 0.0 }];
            let checked: LogRecord;
            let entry = match d {
                Decoded::Scalar1 { .. } | Decoded::Scalars { .. } => {
                    Entry::Scalars(Self::scalars_entry(offset, lane, d, &mut one).expect("a scalar record"))
                }
                Decoded::Raw { seq, kind, format, payload } => {
                    match Self::checked(path, offset, lane, seq, kind, format, payload) {
                        Ok(rec) => {
                            checked = rec;
                            Entry::Record(&checked)
                        }
                        Err(e) => Entry::Error(Box::new(e)),
                    }
                }
            };
            match &entry {
                Entry::Scalars(ScalarsEntry { seq, .. }) | Entry::Record(LogRecord { seq, .. }) => {
                    *records += 1;
                    last_seq = *seq;
                }
                Entry::Error(_) => *rejected += 1,
            }
            f(entry).map_break(|b| broke = Some(b))
        });
        if let Some(b) = broke {
            return ControlFlow::Break(b);
        }
        if let Err(reason) = result {
            self.rejected += 1;
            f(Entry::Error(Box::new(malformed_body(path, offset, lane, last_seq, &reason))))?;
        }
        ControlFlow::Continue(true)
    }

    /// Counts an item the iterator hands out (`None`: the end).
    fn tally(&mut self, item: Option<&Result<LogRecord, RunLogError>>) {
        match item {
            None => self.finished = true,
            Some(Ok(_)) => self.records += 1,
            Some(Err(RunLogError::CorruptFrame { .. })) => self.damaged += 1,
            Some(Err(e)) if e.is_frame_error() => self.rejected += 1,
            Some(Err(_)) => {
                self.failed = true;
                self.finished = true;
            }
        }
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
        let mut one = [ScalarItem { key: 0, reserved: 0, value: 0.0 }];
        Self::scalars_entry(offset, lane, d, &mut one).map(|e| e.to_record())
    }

    /// The entry of a compact record (`None` for a raw one); a `Scalar1`'s one item is
    /// put in `one`, which the entry borrows.
    fn scalars_entry<'a>(
        offset: u64,
        lane: u16,
        d: Decoded<'a>,
        one: &'a mut [ScalarItem; 1],
    ) -> Option<ScalarsEntry<'a>> {
        let (seq, kind, step, ts_ns, items): (_, _, _, _, &'a [ScalarItem]) = match d {
            Decoded::Scalar1 { seq, record } => {
                one[0] = ScalarItem { key: record.key, reserved: record.reserved, value: record.value };
                (seq, RecordKind::Scalar1, record.step, record.ts_ns, one)
            }
            Decoded::Scalars { seq, ts_ns, step, items } => (seq, RecordKind::Scalars, step, ts_ns, items),
            Decoded::Raw { .. } => return None,
        };
        Some(ScalarsEntry { offset, lane, seq, kind, step, ts_ns, items })
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
                    pending.push_back(Err(malformed_body(path, offset, lane, last_seq, &reason)));
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

/// The error for a block body that does not decode, after the record with sequence
/// number `seq`.
fn malformed_body(path: &Path, offset: u64, lane: u16, seq: u64, reason: &str) -> RunLogError {
    RunLogError::InvalidRecord {
        path: path.to_owned(),
        offset,
        lane,
        seq,
        reason: format!("malformed block body ({reason}); the rest of the block is skipped"),
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
        self.tally(item.as_ref());
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

//! Reading a run log back: an iterator of validated records.
//!
//! The reader streams the file in large chunks, checks each frame's length
//! and checksum, copies its payload into a private 16-byte aligned buffer and
//! validates it there with `schema::check` (rkyv bytecheck) before handing it
//! out. Damage is reported as an error item and skipped; a torn tail ends the
//! iteration and is reported by [`RunLog::torn_tail_bytes`].

use std::iter::FusedIterator;
use std::path::{Path, PathBuf};

use rkyv::util::AlignedVec;

use crate::runlog::format::{self, READ_HINT, RunLogError, RunLogHeader, Scan, Scanner};
use ringlog_ring::record::schema::{self, RecordKind, RecordRef};

/// One validated record from a run log.
///
/// # Examples
/// See [`RunLog`].
pub struct LogRecord {
    offset: u64,
    lane: u16,
    seq: u64,
    kind: RecordKind,
    format: u8,
    /// Private aligned copy of the payload; it passed `schema::check(kind,
    /// format, ..)` when the record was read and is never mutated after.
    payload: AlignedVec<16>,
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

    /// File offset of its frame.
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
        &self.payload
    }

    /// The record, validated when it was read.
    ///
    /// # Examples
    /// See [`RunLog`].
    pub fn record(&self) -> RecordRef<'_> {
        // SAFETY: `payload` passed `schema::check(self.kind, self.format, ..)`
        // (which validates it for `kind`) in `RunLog`'s `Iterator::next`, and it is a
        // private buffer that nothing mutates afterwards. Validation is
        // position-independent given alignment, which `AlignedVec<16>` keeps.
        unsafe { schema::view_validated(self.kind, &self.payload) }
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
    scanner: Scanner,
    records: u64,
    damaged: u64,
    rejected: u64,
    /// An I/O error was returned; nothing more is read.
    failed: bool,
    finished: bool,
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
        Ok(Self {
            path: path.to_owned(),
            header,
            scanner: Scanner::new(file, len, frames_at),
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
        if self.finished && !self.failed { self.scanner.tail() } else { 0 }
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

    /// Intact frames rejected so far ([`RunLogError::UnknownKind`] and
    /// [`RunLogError::InvalidRecord`] items).
    ///
    /// # Examples
    /// See [`RunLog::damaged_regions`].
    pub fn rejected_records(&self) -> u64 {
        self.rejected
    }
}

impl Iterator for RunLog {
    type Item = Result<LogRecord, RunLogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let path = &self.path;
        let scan = match self.scanner.next() {
            Ok(Some(scan)) => scan,
            Ok(None) => {
                self.finished = true;
                return None;
            }
            Err(e) => {
                self.failed = true;
                self.finished = true;
                return Some(Err(RunLogError::io(path, "reading frames", READ_HINT)(e)));
            }
        };
        let item = match scan {
            Scan::Damaged { offset, len } => {
                self.damaged += 1;
                return Some(Err(RunLogError::CorruptFrame { path: path.clone(), offset, len }));
            }
            Scan::Frame { offset, header, payload } => {
                let (lane, seq) = (header.lane, header.seq);
                match RecordKind::from_u8(header.kind) {
                    None => Err(RunLogError::UnknownKind { path: path.clone(), offset, lane, seq, kind: header.kind }),
                    Some(kind) => {
                        let mut aligned = AlignedVec::<16>::with_capacity(payload.len());
                        aligned.extend_from_slice(payload);
                        match schema::check(kind, header.format, &aligned) {
                            Ok(_) => Ok(LogRecord { offset, lane, seq, kind, format: header.format, payload: aligned }),
                            Err(reason) => {
                                Err(RunLogError::InvalidRecord { path: path.clone(), offset, lane, seq, reason })
                            }
                        }
                    }
                }
            }
        };
        match item {
            Ok(_) => self.records += 1,
            Err(_) => self.rejected += 1,
        }
        Some(item)
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

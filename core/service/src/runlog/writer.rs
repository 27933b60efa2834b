//! The service's side of the run log: appends validated frames, once each.
//!
//! A batch is encoded into one reusable buffer, one block per lane (scalars
//! compactly, see `block_codec.rs`), and written with a single positional
//! write (`pwrite(2)`, retried only on a short write), so `append` returns
//! only after the kernel has the bytes; the service releases lane space after
//! that. Durability against power loss is [`RunLogWriter::sync`].
//!
//! Frames are deduplicated by `(lane, seq)`: after a service restart the
//! consumer re-reads frames it had not released, and the writer skips the
//! ones the log already holds. A lane's sequence numbers only grow (frames the
//! consumer rejects leave gaps), so "already written" is `seq <= last seq`;
//! a batch that straddles that point has its old frames skipped and the rest
//! written as a new block.
//!
//! A log found in version 1 (a run live across an upgrade) is appended to in
//! version 1; new logs are version 2, with a sparse index (`index.rs`).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::runlog::block::{
    BLOCK_HEADER_LEN, BlockHeader, BlockScan, BlockScanner, ENCODING_RECORDS, MAX_BLOCK_BODY, seal_block,
};
use crate::runlog::block_codec::{BlockDecoder, BlockEncoder, RecordIn};
use crate::runlog::format::{self, READ_HINT, RUN_LOG_VERSION_1, RunLogError, RunLogHeader};
use crate::runlog::frame_v1::{self, Scan, Scanner};
use crate::runlog::index::{Group, IndexBuilder, IndexFile, IndexedKey, RunIndex, record_time};
use crate::runlog::writeback::Writeback;
use ringlog_ring::record::schema::RecordRef;
use ringlog_ring::ring::batch::{Batch, FrameRef};
use ringlog_ring::ring::frame::MAX_PAYLOAD_LEN;

const WRITE_HINT: &str = "check free space and permissions in the run directory";

/// Counts of a [`RunLogWriter`].
///
/// # Examples
/// ```
/// let c = ringlog_service::RunLogCounters::default();
/// assert_eq!(c.frames, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunLogCounters {
    /// Intact frames in the log: those found when it was opened plus those appended since.
    pub frames: u64,
    /// File length in bytes, header included.
    pub bytes: u64,
    /// Frames skipped as already in the log since the writer was opened.
    pub duplicates: u64,
}

/// What [`RunLogWriter::open_append`] found and repaired.
///
/// # Examples
/// ```
/// let r = ringlog_service::Recovery::default();
/// assert_eq!(r.truncated_bytes, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Intact frames in the log.
    pub frames: u64,
    /// Damaged regions inside the log (kept; readers skip them).
    pub damaged_regions: u64,
    /// Bytes in those regions.
    pub damaged_bytes: u64,
    /// Bytes of torn tail cut off the end of the file.
    pub truncated_bytes: u64,
}

/// What one append wrote.
///
/// # Examples
/// ```
/// let a = ringlog_service::Appended::default();
/// assert_eq!(a.frames + a.duplicates, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Appended {
    /// Frames written.
    pub frames: usize,
    /// Frames skipped because the log already holds them.
    pub duplicates: usize,
    /// Bytes written.
    pub bytes: usize,
}

/// Appends a run's validated frames to its run log file.
///
/// # Examples
/// ```
/// use ringlog_ring::{Batch, HeapRun};
/// use ringlog_service::{RunLog, RunLogHeader, RunLogWriter};
/// let path = std::env::temp_dir().join(format!("ringlog-doc-writer-{}.log", std::process::id()));
/// # let _ = std::fs::remove_file(&path);
/// let run = HeapRun::new(1 << 16, 1).unwrap();
/// let mut p = run.claim(0, Default::default())?;
/// let loss = p.key("loss")?;
/// p.log_scalar1(1, loss, 0.5)?;
/// let mut c = run.consumer()?;
/// let mut batch = Batch::new(1 << 16);
/// c.read_batch(&mut batch);
///
/// let mut log = RunLogWriter::create(&path, &RunLogHeader::new("doc"))?;
/// assert_eq!(log.append_batch(&batch)?.frames, 2);
/// assert_eq!(log.append_batch(&batch)?.duplicates, 2); // already written
/// log.sync()?;
/// c.release(); // only now may the lane reuse the space
/// drop(log);
///
/// assert_eq!(RunLog::open(&path)?.filter_map(Result::ok).count(), 2);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RunLogWriter {
    file: File,
    path: PathBuf,
    header: RunLogHeader,
    /// File offset where the next block goes (the end of the last intact one).
    end: u64,
    /// `last_seq[lane]`: the highest sequence number in the log for that lane.
    last_seq: Vec<Option<u64>>,
    /// Reused encoding buffer: one batch's blocks, written at once.
    buf: Vec<u8>,
    /// `(lane, last_seq before this batch)` for each lane the batch touches,
    /// so the dedupe state can be put back if the write fails.
    undo: Vec<(u16, Option<u64>)>,
    /// A failed write may have left bytes after `end` that could not be cut yet.
    dirty_tail: bool,
    counters: RunLogCounters,
    recovery: Recovery,
    encoder: BlockEncoder,
    /// The current batch's blocks (file offsets as if the write succeeds) and
    /// key definitions, for the index once the write has returned.
    blocks: Vec<Group>,
    new_keys: Vec<IndexedKey>,
    /// The sparse index (version-2 logs only).
    index: Option<(IndexBuilder, IndexFile)>,
    /// Up to where the disk write of appended bytes has been started.
    writeback: Writeback,
}

/// The block being encoded: where it starts in the buffer, its header and what it holds.
struct OpenBlock {
    start: usize,
    header: BlockHeader,
    group: Group,
}

impl RunLogWriter {
    /// Creates a new run log at `path` and writes (and syncs) its header.
    ///
    /// # Errors
    /// [`RunLogError::Exists`] if the file exists, [`RunLogError::InvalidRunId`],
    /// or [`RunLogError::Io`].
    ///
    /// # Examples
    /// ```
    /// let path = std::env::temp_dir().join(format!("ringlog-doc-create-{}.log", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let log = ringlog_service::RunLogWriter::create(&path, &ringlog_service::RunLogHeader::new("r1"))?;
    /// assert_eq!(log.counters().bytes, 64);
    /// assert!(ringlog_service::RunLogWriter::create(&path, log.header()).is_err());
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create(path: impl AsRef<Path>, header: &RunLogHeader) -> Result<Self, RunLogError> {
        let path = path.as_ref();
        let bytes = header.encode()?;
        // 0600: run data is private to the user (ADR 9).
        let file = match std::os::unix::fs::OpenOptionsExt::mode(
            OpenOptions::new().read(true).write(true).create_new(true),
            0o600,
        )
        .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(RunLogError::Exists { path: path.to_owned() });
            }
            Err(e) => return Err(RunLogError::io(path, "creating the file", WRITE_HINT)(e)),
        };
        lock(path, &file)?;
        file.write_all_at(&bytes, 0).map_err(RunLogError::io(path, "writing the header", WRITE_HINT))?;
        file.sync_all().map_err(RunLogError::io(path, "syncing the header", WRITE_HINT))?;
        sync_parent_dir(path)?;
        let end = bytes.len() as u64;
        let index = (header.version != RUN_LOG_VERSION_1)
            .then(|| (IndexBuilder::new(end), IndexFile::create(path, header, &[])));
        Ok(Self::with(file, path, header.clone(), end, Vec::new(), Recovery::default(), index))
    }

    fn with(
        file: File,
        path: &Path,
        header: RunLogHeader,
        end: u64,
        last_seq: Vec<Option<u64>>,
        recovery: Recovery,
        index: Option<(IndexBuilder, IndexFile)>,
    ) -> Self {
        Self {
            file,
            path: path.to_owned(),
            header,
            end,
            last_seq,
            buf: Vec::new(),
            undo: Vec::new(),
            dirty_tail: false,
            counters: RunLogCounters { frames: recovery.frames, bytes: end, duplicates: 0 },
            recovery,
            encoder: BlockEncoder::default(),
            blocks: Vec::new(),
            new_keys: Vec::new(),
            index,
            writeback: Writeback::at(end),
        }
    }

    /// Opens an existing run log to append to it, after recovery: scans every
    /// frame, cuts a torn tail back to the end of the last intact frame (and
    /// syncs that), and learns the last sequence number of every lane so that
    /// frames already in the log are not written again. Damaged regions inside
    /// the log are kept and counted; readers skip them.
    ///
    /// # Errors
    /// [`RunLogError::Locked`] if another writer has the file open, header
    /// errors ([`RunLogError::NotARunLog`], [`RunLogError::HeaderTruncated`],
    /// [`RunLogError::UnsupportedVersion`], [`RunLogError::CorruptHeader`]),
    /// or [`RunLogError::Io`].
    ///
    /// # Examples
    /// ```
    /// let path = std::env::temp_dir().join(format!("ringlog-doc-append-{}.log", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// drop(ringlog_service::RunLogWriter::create(&path, &ringlog_service::RunLogHeader::new("r1"))?);
    /// let log = ringlog_service::RunLogWriter::open_append(&path)?;
    /// assert_eq!(log.header().run_id, "r1");
    /// assert_eq!(log.recovery().truncated_bytes, 0);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_append(path: impl AsRef<Path>) -> Result<Self, RunLogError> {
        let path = path.as_ref();
        let file = OpenOptions::new().read(true).write(true).open(path).map_err(RunLogError::io(
            path,
            "opening the file",
            READ_HINT,
        ))?;
        lock(path, &file)?;
        let len = file.metadata().map_err(RunLogError::io(path, "reading the file size", READ_HINT))?.len();
        let (header, blocks_at) = format::read_header(path, &file, len)?;
        let reader = || file.try_clone().map_err(RunLogError::io(path, "duplicating the descriptor", READ_HINT));
        let scan_err = || RunLogError::io(path, "scanning the log", READ_HINT);
        let mut recovery = Recovery::default();
        let mut last_seq: Vec<Option<u64>> = Vec::new();
        let (end, tail) = if header.version == RUN_LOG_VERSION_1 {
            let mut scanner = Scanner::new(reader()?, len, blocks_at);
            while let Some(scan) = scanner.next().map_err(scan_err())? {
                match scan {
                    Scan::Frame { header, .. } => {
                        recovery.frames += 1;
                        note_seq(&mut last_seq, header.lane, header.seq);
                    }
                    Scan::Damaged { len, .. } => {
                        recovery.damaged_regions += 1;
                        recovery.damaged_bytes += len;
                    }
                }
            }
            (scanner.good_end(), scanner.tail())
        } else {
            let mut scanner = BlockScanner::new(reader()?, len, blocks_at);
            while let Some(scan) = scanner.next().map_err(scan_err())? {
                match scan {
                    BlockScan::Block { header, .. } => {
                        recovery.frames += u64::from(header.count);
                        note_seq(&mut last_seq, header.lane, header.last_seq());
                    }
                    BlockScan::Damaged { len, .. } => {
                        recovery.damaged_regions += 1;
                        recovery.damaged_bytes += len;
                    }
                }
            }
            (scanner.good_end(), scanner.tail())
        };
        recovery.truncated_bytes = tail;
        if recovery.truncated_bytes > 0 {
            tracing::warn!(
                path = %path.display(),
                bytes = recovery.truncated_bytes,
                offset = end,
                "run log: cutting a torn tail left by an interrupted write"
            );
            file.set_len(end).map_err(RunLogError::io(path, "cutting the torn tail", WRITE_HINT))?;
            file.sync_data().map_err(RunLogError::io(path, "syncing the cut", WRITE_HINT))?;
        }
        if recovery.damaged_regions > 0 {
            tracing::warn!(
                path = %path.display(),
                regions = recovery.damaged_regions,
                bytes = recovery.damaged_bytes,
                "run log has damaged regions; readers skip them"
            );
        }
        let index = if header.version == RUN_LOG_VERSION_1 {
            None
        } else {
            Some(recover_index(path, &header, blocks_at, end, reader()?).map_err(RunLogError::io(
                path,
                "indexing the log",
                READ_HINT,
            ))?)
        };
        Ok(Self::with(file, path, header, end, last_seq, recovery, index))
    }

    /// Appends every frame of `batch` the log does not hold yet.
    ///
    /// # Errors
    /// See [`RunLogWriter::append_frames`].
    ///
    /// # Examples
    /// See [`RunLogWriter`].
    pub fn append_batch(&mut self, batch: &Batch) -> Result<Appended, RunLogError> {
        self.append_frames(batch.frames())
    }

    /// Appends the frames the log does not hold yet (a frame whose `seq` is at
    /// most the last one written for its lane is skipped and counted as a
    /// duplicate) with one write, and returns once that write has returned.
    ///
    /// # Errors
    /// [`RunLogError::Io`] if the write fails; nothing of the batch is then in
    /// the log (a partial write is cut off) and the whole batch can be appended
    /// again. [`RunLogError::FrameTooLarge`] for a payload over 2^28 - 1 bytes
    /// (frames from a lane never are); nothing is written then either.
    ///
    /// # Examples
    /// ```
    /// # use ringlog_ring::{Batch, HeapRun};
    /// # use ringlog_service::{RunLogHeader, RunLogWriter};
    /// # let path = std::env::temp_dir().join(format!("ringlog-doc-frames-{}.log", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let run = HeapRun::new(1 << 16, 6).unwrap();
    /// let mut p = run.claim(5, Default::default())?;
    /// let k = p.key("acc")?;
    /// for step in 0..3 { p.log_scalar1(step, k, 0.9)?; }
    /// let mut c = run.consumer()?;
    /// let mut batch = Batch::new(1 << 16);
    /// c.read_batch(&mut batch);
    ///
    /// let mut log = RunLogWriter::create(&path, &RunLogHeader::new("r"))?;
    /// let a = log.append_frames(batch.frames().take(2))?;
    /// assert_eq!((a.frames, a.duplicates), (2, 0));
    /// let a = log.append_frames(batch.frames())?;
    /// assert_eq!((a.frames, a.duplicates), (2, 2));
    /// assert_eq!(log.last_seq(5), Some(3));
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn append_frames<'a>(
        &mut self,
        frames: impl IntoIterator<Item = FrameRef<'a>>,
    ) -> Result<Appended, RunLogError> {
        if self.dirty_tail {
            self.file.set_len(self.end).map_err(RunLogError::io(
                &self.path,
                "cutting a partial write",
                "check the disk; or reopen the log with RunLogWriter::open_append",
            ))?;
            self.dirty_tail = false;
        }
        self.buf.clear();
        self.undo.clear();
        self.blocks.clear();
        self.new_keys.clear();
        let v1 = self.index.is_none();
        let mut open: Option<OpenBlock> = None;
        let mut out = Appended::default();
        for f in frames {
            let (lane, seq) = (f.lane(), f.seq());
            let last = self.last_seq(lane);
            if last.is_some_and(|last| seq <= last) {
                out.duplicates += 1;
                continue;
            }
            let payload = f.payload();
            if payload.len() > MAX_PAYLOAD_LEN {
                self.undo_seqs();
                return Err(RunLogError::FrameTooLarge { lane, seq, len: payload.len() });
            }
            if !self.undo.iter().any(|u| u.0 == lane) {
                self.undo.push((lane, last));
            }
            let h = f.header();
            let record = f.record();
            if v1 {
                frame_v1::encode_frame(&mut self.buf, h.kind, h.format, lane, seq, payload);
            } else {
                let fits = open.as_ref().is_some_and(|o| {
                    o.header.lane == lane
                        && seq - o.header.first_seq <= u64::from(u32::MAX)
                        && self.buf.len() - o.start + payload.len() + 64 <= MAX_BLOCK_BODY
                });
                if !fits {
                    self.close_block(open.take());
                    let start = self.buf.len();
                    self.buf.resize(start + BLOCK_HEADER_LEN, 0);
                    self.encoder.begin(seq);
                    open = Some(OpenBlock {
                        start,
                        header: BlockHeader {
                            body_len: 0,
                            count: 0,
                            first_seq: seq,
                            lane,
                            encoding: ENCODING_RECORDS,
                            seq_span: 0,
                        },
                        group: Group::empty_at(self.end + start as u64),
                    });
                }
                let o = open.as_mut().expect("opened above");
                self.encoder.push(&mut self.buf, RecordIn { seq, kind: h.kind, format: h.format, payload, record });
                o.header.count += 1;
                o.header.seq_span = (seq - o.header.first_seq) as u32;
                let (ts, step) = record_time(&record);
                o.group.note(ts, step);
                if let RecordRef::KeyDef(k) = record {
                    let offset = o.group.offset;
                    self.new_keys.push(IndexedKey { offset, lane, id: k.id.to_native(), name: k.name.to_string() });
                }
            }
            note_seq(&mut self.last_seq, lane, seq);
            out.frames += 1;
        }
        self.close_block(open);
        if let Err(e) = self.file.write_all_at(&self.buf, self.end) {
            // Cut whatever part of the batch reached the file, so the log ends
            // with an intact block; if even that fails, retry before the next write.
            self.dirty_tail = self.file.set_len(self.end).is_err();
            self.undo_seqs();
            return Err(RunLogError::io(&self.path, "appending records", WRITE_HINT)(e));
        }
        if let Some((builder, file)) = &mut self.index {
            for k in self.new_keys.drain(..) {
                builder.add_key(k);
            }
            for g in self.blocks.drain(..) {
                builder.add(g);
            }
            file.append(&builder.take_pending());
        }
        self.counters.duplicates += out.duplicates as u64;
        self.end += self.buf.len() as u64;
        self.writeback.appended(&self.file, self.end);
        out.bytes = self.buf.len();
        self.counters.frames += out.frames as u64;
        self.counters.bytes = self.end;
        Ok(out)
    }

    /// Seals the block being encoded, if any.
    fn close_block(&mut self, open: Option<OpenBlock>) {
        let Some(mut o) = open else { return };
        o.header.body_len = (self.buf.len() - o.start - BLOCK_HEADER_LEN) as u32;
        seal_block(&mut self.buf, o.start, &o.header);
        o.group.end = self.end + self.buf.len() as u64;
        self.blocks.push(o.group);
    }

    /// Puts the dedupe state back to what it was before the current batch.
    fn undo_seqs(&mut self) {
        for (lane, last) in self.undo.drain(..) {
            self.last_seq[usize::from(lane)] = last;
        }
    }

    /// Makes everything appended so far durable (`fdatasync(2)`).
    ///
    /// # Errors
    /// [`RunLogError::Io`] if the sync fails; the data may then be lost on a
    /// power failure.
    ///
    /// # Examples
    /// ```
    /// # let path = std::env::temp_dir().join(format!("ringlog-doc-sync-{}.log", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let mut log = ringlog_service::RunLogWriter::create(&path, &ringlog_service::RunLogHeader::new("r"))?;
    /// log.sync()?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sync(&mut self) -> Result<(), RunLogError> {
        self.file.sync_data().map_err(RunLogError::io(&self.path, "syncing", "check the disk and free space"))?;
        if let Some((builder, file)) = &mut self.index {
            builder.close();
            file.append(&builder.take_pending());
            file.sync();
        }
        Ok(())
    }

    /// Frames, bytes and duplicates so far.
    ///
    /// # Examples
    /// See [`RunLogWriter::create`].
    pub fn counters(&self) -> RunLogCounters {
        self.counters
    }

    /// What opening found and repaired (all zero after [`RunLogWriter::create`]).
    ///
    /// # Examples
    /// See [`RunLogWriter::open_append`].
    pub fn recovery(&self) -> Recovery {
        self.recovery
    }

    /// The log's header.
    ///
    /// # Examples
    /// See [`RunLogWriter::open_append`].
    pub fn header(&self) -> &RunLogHeader {
        &self.header
    }

    /// The log's path.
    ///
    /// # Examples
    /// ```
    /// # let path = std::env::temp_dir().join(format!("ringlog-doc-path-{}.log", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let log = ringlog_service::RunLogWriter::create(&path, &ringlog_service::RunLogHeader::new("r"))?;
    /// assert_eq!(log.path(), path);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The highest sequence number the log holds for `lane`, if any.
    ///
    /// # Examples
    /// See [`RunLogWriter::append_frames`].
    pub fn last_seq(&self, lane: u16) -> Option<u64> {
        self.last_seq.get(usize::from(lane)).copied().flatten()
    }
}

impl std::fmt::Debug for RunLogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunLogWriter")
            .field("path", &self.path)
            .field("header", &self.header)
            .field("counters", &self.counters)
            .field("recovery", &self.recovery)
            .finish_non_exhaustive()
    }
}

/// Records that the log holds `seq` for `lane`.
fn note_seq(last_seq: &mut Vec<Option<u64>>, lane: u16, seq: u64) {
    let i = usize::from(lane);
    if last_seq.len() <= i {
        last_seq.resize(i + 1, None);
    }
    let slot = &mut last_seq[i];
    *slot = Some(slot.map_or(seq, |s| s.max(seq)));
}

/// Takes the advisory lock that keeps two writers off one log; released on close.
fn lock(path: &Path, file: &File) -> Result<(), RunLogError> {
    use rustix::fs::{FlockOperation, flock};
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(RunLogError::Locked { path: path.to_owned() }),
        Err(e) => Err(RunLogError::io(path, "locking the file", WRITE_HINT)(e.into())),
    }
}

/// Makes the new file's directory entry durable.
fn sync_parent_dir(path: &Path) -> Result<(), RunLogError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(RunLogError::io(
        path,
        "syncing the directory",
        "check the run directory's permissions",
    ))
}

/// Checks the index of a version-2 log that recovery just scanned: keeps the
/// part that is intact and lies before `end`, indexes the blocks after it
/// from the log, and rewrites the file.
fn recover_index(
    path: &Path,
    header: &RunLogHeader,
    blocks_at: u64,
    end: u64,
    file: File,
) -> io::Result<(IndexBuilder, IndexFile)> {
    let known = RunIndex::load(&crate::runlog::index::index_path(path), header, end);
    if known.is_none() {
        tracing::info!(path = %path.display(), "run log index missing or damaged; rebuilding it from the log");
    }
    let mut builder = IndexBuilder::new(blocks_at);
    let from = match &known {
        Some(index) => {
            for k in &index.keys {
                builder.add_key(k.clone());
            }
            for g in &index.groups {
                builder.push_closed(*g);
            }
            index.covered_end()
        }
        None => blocks_at,
    };
    let mut scanner = BlockScanner::new(file, end, from);
    let mut decoder = BlockDecoder::default();
    while let Some(scan) = scanner.next()? {
        if let BlockScan::Block { offset, header, body } = scan {
            builder.add_block(offset, &header, body, &mut decoder);
        }
    }
    builder.close();
    let entries = builder.take_pending();
    let file = IndexFile::create(path, header, &entries);
    Ok((builder, file))
}

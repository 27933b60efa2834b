//! The sparse index of a version-2 run log (`run.rlidx` beside `run.rlog`).
//!
//! One *group* entry per run of consecutive blocks (closed after
//! [`GROUP_BYTES`] of log, [`GROUP_BLOCKS`] blocks, or at a sync): the file
//! range, the record count, and the step and time ranges. Plus one entry per
//! key definition, so a reader that starts in the middle of the log still
//! knows every key's name. With it, `tail -n`, a step range and similar reads
//! touch the index and the few groups they need, whatever the run's length.
//!
//! The index is a cache: the log is the truth. It is bound to its log by the
//! log's creation time and run id, every entry has its own CRC, and a reader
//! that finds it missing, damaged or stale rebuilds it in memory from the log
//! ([`RunIndex::load_or_rebuild`]); the writer rewrites it on recovery.
//!
//! ```text
//! header (32 bytes)
//!  0  8  magic 89 52 4C 58 0D 0A 1A 0A ("\x89RLX\r\n\x1a\n")
//!  8  4  index version (2)
//! 12  4  reserved, zero
//! 16  8  the log's creation time (its header bytes 16..24)
//! 24  4  CRC32C of the log's run id (its header bytes 24..56)
//! 28  4  CRC32C of bytes 0..28
//! entry
//!  0  1  type: 1 group, 2 key definition
//!  1  1  reserved, zero
//!  2  2  payload length n
//!  4  n  payload
//! 4+n 4  CRC32C of bytes 0..4+n
//! group payload (56 bytes): offset u64, end u64, records u64, min step i64,
//!   max step i64, min ts u64, max ts u64 (steps i64::MAX/i64::MIN when none)
//! key payload: offset u64 (of the block holding the definition), lane u16, id u32, name (UTF-8)
//! ```

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::runlog::block::{BlockHeader, BlockScan, BlockScanner};
use crate::runlog::block_codec::{BlockDecoder, Decoded, decode_block};
use crate::runlog::format::{RUN_LOG_HEADER_LEN, RUN_LOG_VERSION, RunLogError, RunLogHeader, take};
use ringlog_ring::record::schema::{self, RecordKind, RecordRef};

/// First 8 bytes of an index file.
pub const INDEX_MAGIC: [u8; 8] = *b"\x89RLX\r\n\x1a\n";
/// Index format version (2: key entries carry their block's offset).
pub const INDEX_VERSION: u32 = 2;
/// Index header length.
pub const INDEX_HEADER_LEN: usize = 32;
/// A group closes once it covers this many bytes of log: small, because a tail (and `watch`,
/// four times a second) reads from the end of the last closed group.
pub const GROUP_BYTES: u64 = 256 << 10;
/// A group closes once it holds this many blocks.
pub const GROUP_BLOCKS: u32 = 256;

const ENTRY_GROUP: u8 = 1;
const ENTRY_KEY: u8 = 2;
const GROUP_PAYLOAD: usize = 56;
/// Longest key name the index holds (a longer one makes readers rebuild).
const MAX_KEY_NAME: usize = u16::MAX as usize - 14;

/// The index file of the run log at `log`.
///
/// # Examples
/// ```
/// let p = ringlog_service::runlog::index::index_path(std::path::Path::new("/r/run.rlog"));
/// assert_eq!(p, std::path::Path::new("/r/run.rlidx"));
/// ```
pub fn index_path(log: &Path) -> PathBuf {
    log.with_extension("rlidx")
}

/// A run of consecutive blocks and what they hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    /// File offset of the first block.
    pub offset: u64,
    /// File offset just past the last block.
    pub end: u64,
    /// Records in the blocks.
    pub records: u64,
    /// Smallest step of a history record (`i64::MAX` when none).
    pub min_step: i64,
    /// Largest step (`i64::MIN` when none).
    pub max_step: i64,
    /// Earliest timestamp, Unix ns (`u64::MAX` when none).
    pub min_ts: u64,
    /// Latest timestamp (0 when none).
    pub max_ts: u64,
}

impl Group {
    pub(crate) fn empty_at(offset: u64) -> Self {
        Self { offset, end: offset, records: 0, min_step: i64::MAX, max_step: i64::MIN, min_ts: u64::MAX, max_ts: 0 }
    }

    /// Whether the group holds a history step in `lo..=hi`'s reach.
    ///
    /// # Examples
    /// ```
    /// let g = ringlog_service::runlog::index::Group { offset: 64, end: 100, records: 3, min_step: 10, max_step: 20, min_ts: 0, max_ts: 0 };
    /// assert!(g.overlaps_steps(15, 30));
    /// assert!(!g.overlaps_steps(21, 30));
    /// ```
    pub fn overlaps_steps(&self, lo: i64, hi: i64) -> bool {
        self.min_step <= hi && self.max_step >= lo
    }

    /// Takes in one record's time and step.
    pub(crate) fn note(&mut self, ts: Option<u64>, step: Option<i64>) {
        self.records += 1;
        if let Some(ts) = ts {
            self.min_ts = self.min_ts.min(ts);
            self.max_ts = self.max_ts.max(ts);
        }
        if let Some(step) = step {
            self.min_step = self.min_step.min(step);
            self.max_step = self.max_step.max(step);
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let mut p = [0u8; GROUP_PAYLOAD];
        p[0..8].copy_from_slice(&self.offset.to_le_bytes());
        p[8..16].copy_from_slice(&self.end.to_le_bytes());
        p[16..24].copy_from_slice(&self.records.to_le_bytes());
        p[24..32].copy_from_slice(&self.min_step.to_le_bytes());
        p[32..40].copy_from_slice(&self.max_step.to_le_bytes());
        p[40..48].copy_from_slice(&self.min_ts.to_le_bytes());
        p[48..56].copy_from_slice(&self.max_ts.to_le_bytes());
        put_entry(out, ENTRY_GROUP, &p);
    }

    fn decode(p: &[u8]) -> Option<Self> {
        (p.len() == GROUP_PAYLOAD).then(|| Self {
            offset: u64::from_le_bytes(take(p, 0)),
            end: u64::from_le_bytes(take(p, 8)),
            records: u64::from_le_bytes(take(p, 16)),
            min_step: i64::from_le_bytes(take(p, 24)),
            max_step: i64::from_le_bytes(take(p, 32)),
            min_ts: u64::from_le_bytes(take(p, 40)),
            max_ts: u64::from_le_bytes(take(p, 48)),
        })
    }
}

/// The time and step of a record, where it has them.
pub(crate) fn record_time(r: &RecordRef<'_>) -> (Option<u64>, Option<i64>) {
    match r {
        RecordRef::Scalar1(s) => (Some(s.ts_ns.to_native()), Some(s.step.to_native())),
        RecordRef::Scalars(s) => (Some(s.ts_ns.to_native()), Some(s.step.to_native())),
        RecordRef::History(s) => (Some(s.ts_ns.to_native()), Some(s.step.to_native())),
        RecordRef::Summary(s) => (Some(s.ts_ns.to_native()), None),
        RecordRef::Config(s) => (Some(s.ts_ns.to_native()), None),
        RecordRef::Output(s) => (Some(s.ts_ns.to_native()), None),
        RecordRef::Stats(s) => (Some(s.ts_ns.to_native()), None),
        RecordRef::Alert(s) => (Some(s.ts_ns.to_native()), None),
        RecordRef::Exit(s) => (Some(s.ts_ns.to_native()), None),
        RecordRef::KeyDef(_) => (None, None),
    }
}

fn put_entry(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&[kind, 0]);
    out.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

fn encode_key(out: &mut Vec<u8>, offset: u64, lane: u16, id: u32, name: &str) {
    let mut p = Vec::with_capacity(14 + name.len());
    p.extend_from_slice(&offset.to_le_bytes());
    p.extend_from_slice(&lane.to_le_bytes());
    p.extend_from_slice(&id.to_le_bytes());
    p.extend_from_slice(name.as_bytes());
    put_entry(out, ENTRY_KEY, &p);
}

fn header_bytes(log: &RunLogHeader) -> [u8; INDEX_HEADER_LEN] {
    let mut b = [0u8; INDEX_HEADER_LEN];
    b[0..8].copy_from_slice(&INDEX_MAGIC);
    b[8..12].copy_from_slice(&INDEX_VERSION.to_le_bytes());
    b[16..24].copy_from_slice(&log.created_unix_ns.to_le_bytes());
    b[24..28].copy_from_slice(&crc32c::crc32c(log.run_id.as_bytes()).to_le_bytes());
    let crc = crc32c::crc32c(&b[..28]);
    b[28..32].copy_from_slice(&crc.to_le_bytes());
    b
}

/// A key definition found in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedKey {
    /// File offset of the block that holds the definition.
    pub offset: u64,
    /// Lane that defined it.
    pub lane: u16,
    /// Key id.
    pub id: u32,
    /// Its name.
    pub name: String,
}

/// A loaded (or rebuilt) index: the closed groups in file order and every key definition.
///
/// # Examples
/// ```
/// use ringlog_ring::{Batch, HeapRun};
/// use ringlog_service::runlog::index::RunIndex;
/// use ringlog_service::{RunLogHeader, RunLogWriter};
/// let dir = std::env::temp_dir().join(format!("ringlog-doc-index-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// std::fs::create_dir_all(&dir)?;
/// let run = HeapRun::new(1 << 16, 1).unwrap();
/// let mut p = run.claim(0, Default::default())?;
/// let loss = p.key("loss")?;
/// for step in 5..10 { p.log_scalar1(step, loss, 0.5)?; }
/// let mut c = run.consumer()?;
/// let mut batch = Batch::new(1 << 16);
/// c.drain(&mut batch);
/// let mut log = RunLogWriter::create(dir.join("run.rlog"), &RunLogHeader::new("doc"))?;
/// log.append_batch(&batch)?;
/// log.sync()?; // closes the open group
/// let index = RunIndex::load_or_rebuild(&dir.join("run.rlog"))?;
/// assert!(!index.rebuilt);
/// assert_eq!((index.groups[0].min_step, index.groups[0].max_step), (5, 9));
/// assert_eq!(index.keys[0].name, "loss");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct RunIndex {
    /// Closed groups, in file order.
    pub groups: Vec<Group>,
    /// Every key definition.
    pub keys: Vec<IndexedKey>,
    /// Where the log's blocks start (its header length).
    pub blocks_at: u64,
    /// Whether the file was missing, damaged or stale and this was rebuilt from the log.
    pub rebuilt: bool,
}

impl RunIndex {
    /// The key names a reader starting at log offset `start` knows: the definitions
    /// in blocks before `start`, in log order (a lane's later producer may define
    /// an id again under another name; the read picks up definitions after
    /// `start` itself).
    ///
    /// # Examples
    /// ```
    /// use ringlog_service::runlog::index::{IndexedKey, RunIndex};
    /// let key = |offset, name: &str| IndexedKey { offset, lane: 0, id: 0, name: name.into() };
    /// let index = RunIndex { keys: vec![key(64, "loss"), key(9000, "acc")], ..Default::default() };
    /// assert_eq!(index.keys_before(5000).name(0, 0), Some("loss"));
    /// assert_eq!(index.keys_before(u64::MAX).name(0, 0), Some("acc"));
    /// ```
    pub fn keys_before(&self, start: u64) -> crate::KeyTable {
        let mut keys = crate::KeyTable::new();
        for k in self.keys.iter().filter(|k| k.offset < start) {
            keys.define(k.lane, k.id, &k.name);
        }
        keys
    }

    /// End of the last group (where a reader must scan the log itself from).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(ringlog_service::runlog::index::RunIndex::default().covered_end(), 0);
    /// ```
    pub fn covered_end(&self) -> u64 {
        self.groups.last().map_or(self.blocks_at, |g| g.end)
    }

    /// The index of the version-2 log at `log`: its index file when that is
    /// intact and matches the log, otherwise one rebuilt by reading the log.
    ///
    /// # Errors
    /// The log's header errors, and I/O errors reading it. A version-1 log
    /// has no blocks: [`RunLogError::UnsupportedVersion`].
    ///
    /// # Examples
    /// See [`RunIndex`].
    pub fn load_or_rebuild(log: &Path) -> Result<Self, RunLogError> {
        let file =
            File::open(log).map_err(RunLogError::io(log, "opening the file", crate::runlog::format::READ_HINT))?;
        let len = file.metadata().map_err(RunLogError::io(log, "reading the file size", "check the file"))?.len();
        let (header, blocks_at) = crate::runlog::format::read_header(log, &file, len)?;
        if header.version != RUN_LOG_VERSION {
            return Err(RunLogError::UnsupportedVersion {
                path: log.to_owned(),
                found: header.version,
                supported: RUN_LOG_VERSION,
            });
        }
        if let Some(mut index) = Self::load(&index_path(log), &header, len) {
            index.blocks_at = blocks_at;
            return Ok(index);
        }
        let mut b = IndexBuilder::new(blocks_at);
        let mut scanner = BlockScanner::new(file, len, blocks_at);
        let mut decoder = BlockDecoder::default();
        while let Some(scan) =
            scanner.next().map_err(RunLogError::io(log, "reading blocks", crate::runlog::format::READ_HINT))?
        {
            if let BlockScan::Block { offset, header, body } = scan {
                b.add_block(offset, &header, body, &mut decoder);
            }
        }
        let mut index = b.finish();
        index.blocks_at = blocks_at;
        index.rebuilt = true;
        Ok(index)
    }

    /// The index file at `path` if it is intact, belongs to the log with
    /// `header`, and covers no more than `log_len` bytes.
    ///
    /// A live run's service appends to both files while this reads them: an
    /// entry cut short at the file's end (being written), and a group past
    /// `log_len` (the log grew after its length was taken), end the usable
    /// index there instead of discarding it, which would make every reader of
    /// a live run rebuild the index from the whole log. Damage anywhere else
    /// still discards it.
    pub(crate) fn load(path: &Path, header: &RunLogHeader, log_len: u64) -> Option<Self> {
        let bytes = std::fs::read(path).ok()?;
        if bytes.len() < INDEX_HEADER_LEN || bytes[..INDEX_HEADER_LEN] != header_bytes(header) {
            return None;
        }
        let mut index = Self::default();
        let mut pos = INDEX_HEADER_LEN;
        let mut end = RUN_LOG_HEADER_LEN as u64;
        while pos < bytes.len() {
            let Some(h) = bytes.get(pos..pos + 4) else { break };
            let n = usize::from(u16::from_le_bytes(take(h, 2)));
            let Some(whole) = bytes.get(pos..pos + 4 + n + 4) else { break };
            let last = pos + 4 + n + 4 == bytes.len();
            if crc32c::crc32c(&whole[..4 + n]) != u32::from_le_bytes(take(whole, 4 + n)) || h[1] != 0 {
                if last {
                    break;
                }
                return None;
            }
            let p = &whole[4..4 + n];
            match h[0] {
                ENTRY_GROUP => {
                    let g = Group::decode(p)?;
                    // Groups follow each other.
                    if g.offset < end || g.end < g.offset {
                        return None;
                    }
                    if g.end > log_len {
                        break;
                    }
                    end = g.end;
                    index.groups.push(g);
                }
                ENTRY_KEY if n >= 14 => index.keys.push(IndexedKey {
                    offset: u64::from_le_bytes(take(p, 0)),
                    lane: u16::from_le_bytes(take(p, 8)),
                    id: u32::from_le_bytes(take(p, 10)),
                    name: String::from_utf8(p[14..].to_vec()).ok()?,
                }),
                _ => return None,
            }
            pos += 4 + n + 4;
        }
        Some(index)
    }
}

/// Accumulates groups and key definitions as blocks go by.
#[derive(Debug)]
pub(crate) struct IndexBuilder {
    open: Option<Group>,
    open_blocks: u32,
    /// Entries closed but not written yet.
    pending: Vec<u8>,
    closed: Vec<Group>,
    keys: Vec<IndexedKey>,
    /// Next block offset expected; a block elsewhere (after damage) closes the group.
    next: u64,
}

impl IndexBuilder {
    pub(crate) fn new(blocks_at: u64) -> Self {
        Self { open: None, open_blocks: 0, pending: Vec::new(), closed: Vec::new(), keys: Vec::new(), next: blocks_at }
    }

    /// Takes in a block that was read back from the log (decodes it).
    pub(crate) fn add_block(&mut self, offset: u64, header: &BlockHeader, body: &[u8], decoder: &mut BlockDecoder) {
        let mut g = Group::empty_at(offset);
        let mut keys = Vec::new();
        let _ = decode_block(decoder, body, header.first_seq, header.count, |d| match d {
            Decoded::Scalar1 { record, .. } => g.note(Some(record.ts_ns), Some(record.step)),
            Decoded::Scalars { ts_ns, step, .. } => g.note(Some(ts_ns), Some(step)),
            Decoded::Raw { kind, format, payload, .. } => {
                let Some(kind) = RecordKind::from_u8(kind) else { return };
                let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(payload.len());
                aligned.extend_from_slice(payload);
                if let Ok(r) = schema::check(kind, format, &aligned) {
                    let (ts, step) = record_time(&r);
                    g.note(ts, step);
                    if let RecordRef::KeyDef(k) = r {
                        keys.push(IndexedKey {
                            offset,
                            lane: header.lane,
                            id: k.id.to_native(),
                            name: k.name.to_string(),
                        });
                    }
                }
            }
        });
        g.end = offset + header.block_len();
        for k in keys {
            self.add_key(k);
        }
        self.add(g);
    }

    /// Notes a key definition.
    pub(crate) fn add_key(&mut self, k: IndexedKey) {
        if k.name.len() <= MAX_KEY_NAME {
            encode_key(&mut self.pending, k.offset, k.lane, k.id, &k.name);
        }
        self.keys.push(k);
    }

    /// Takes in one block's summary (`g` covers exactly that block).
    pub(crate) fn add(&mut self, g: Group) {
        if g.offset != self.next {
            self.close();
        }
        self.next = g.end;
        let open = self.open.get_or_insert(Group::empty_at(g.offset));
        open.end = g.end;
        open.records += g.records;
        open.min_step = open.min_step.min(g.min_step);
        open.max_step = open.max_step.max(g.max_step);
        open.min_ts = open.min_ts.min(g.min_ts);
        open.max_ts = open.max_ts.max(g.max_ts);
        self.open_blocks += 1;
        if open.end - open.offset >= GROUP_BYTES || self.open_blocks >= GROUP_BLOCKS {
            self.close();
        }
    }

    /// Adds a group from an existing index as it is.
    pub(crate) fn push_closed(&mut self, g: Group) {
        self.close();
        g.encode(&mut self.pending);
        self.closed.push(g);
        self.next = g.end;
    }

    /// Closes the open group, if any.
    pub(crate) fn close(&mut self) {
        if let Some(g) = self.open.take() {
            g.encode(&mut self.pending);
            self.closed.push(g);
        }
        self.open_blocks = 0;
    }

    /// Entries closed since the last call, encoded.
    pub(crate) fn take_pending(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }

    pub(crate) fn finish(mut self) -> RunIndex {
        self.close();
        RunIndex { groups: self.closed, keys: self.keys, blocks_at: RUN_LOG_HEADER_LEN as u64, rebuilt: false }
    }
}

/// The writer's handle on the index file. Index failures never fail the log:
/// they are logged once and the index is removed, so readers rebuild it.
#[derive(Debug)]
pub(crate) struct IndexFile {
    path: PathBuf,
    file: Option<File>,
    end: u64,
}

impl IndexFile {
    /// Writes a new index file holding `header` and `entries` (replacing any old one).
    pub(crate) fn create(log: &Path, header: &RunLogHeader, entries: &[u8]) -> Self {
        let path = index_path(log);
        let tmp = path.with_extension("rlidx.tmp");
        let result = (|| -> io::Result<File> {
            let mut f = std::os::unix::fs::OpenOptionsExt::mode(
                OpenOptions::new().read(true).write(true).create(true).truncate(true),
                0o600,
            )
            .open(&tmp)?;
            f.write_all(&header_bytes(header))?;
            f.write_all(entries)?;
            std::fs::rename(&tmp, &path)?;
            Ok(f)
        })();
        match result {
            Ok(f) => Self { path, file: Some(f), end: (INDEX_HEADER_LEN + entries.len()) as u64 },
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot write the run log index; readers rebuild it");
                let _ = std::fs::remove_file(&tmp);
                let _ = std::fs::remove_file(&path);
                Self { path, file: None, end: 0 }
            }
        }
    }

    /// Appends encoded entries.
    pub(crate) fn append(&mut self, entries: &[u8]) {
        if entries.is_empty() {
            return;
        }
        let Some(f) = &self.file else { return };
        if let Err(e) = f.write_all_at(entries, self.end) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot append to the run log index; removing it (readers rebuild it)");
            self.file = None;
            let _ = std::fs::remove_file(&self.path);
            return;
        }
        self.end += entries.len() as u64;
    }

    /// `fdatasync` (best effort: the index can always be rebuilt).
    pub(crate) fn sync(&self) {
        if let Some(f) = &self.file {
            let _ = f.sync_data();
        }
    }
}

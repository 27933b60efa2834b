//! A run's named shared-memory segment: header, lane table and lane rings.
//!
//! Created by the service only: `shm_open(O_CREAT | O_EXCL, 0600)`, grown with
//! `ftruncate` and backed with `fallocate` lane by lane (so a full `/dev/shm`
//! is an error at creation, never a SIGBUS on first touch), mapped with
//! memmap2. Each lane's ring is mapped on its own, so a producer maps only the
//! header and its lane. The name is unpredictable (64 random bits) and at most
//! 31 bytes. Unlinking is explicit: the service unlinks a segment once its run
//! is finished and drained (`Segment::unlink`).

use std::fs::File;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

use memmap2::{MmapOptions, MmapRaw};
use rustix::fs::{FallocateFlags, Mode};
use rustix::io::Errno;
use rustix::shm;

use crate::error::SegmentError;
use crate::full_policy::FullPolicy;
use crate::lane_memory::{LaneMemory, MAX_LANE_BYTES, MIN_LANE_BYTES};
use crate::layout::{
    LANE_CONTROL_LEN, LAYOUT_VERSION, LaneControl, LaneState, MAX_LANES, RunState, SEGMENT_HEADER_LEN, SEGMENT_MAGIC,
    SegmentHeader,
};
use crate::producer::Producer;
use crate::record::RECORD_FORMAT_VERSION;
use crate::sync::Ordering;
use crate::{Consumer, clock};

/// Prefix of every segment name (after the leading `/`).
pub const NAME_PREFIX: &str = "ringlog-";
/// Where Linux keeps POSIX shared memory.
pub const SHM_DIR: &str = "/dev/shm";
/// Default ring bytes per lane (`RINGLOG_LANE_BYTES`).
pub const DEFAULT_LANE_BYTES: usize = 4 << 20;
/// Default lane table capacity.
pub const DEFAULT_MAX_LANES: u32 = 256;
const PAGE: usize = 4096;

/// How to build a segment.
///
/// # Examples
/// ```
/// let cfg = ringlog::SegmentConfig { lane_bytes: 1 << 16, ..Default::default() };
/// assert_eq!(cfg.initial_lanes, 1);
/// ```
#[derive(Debug, Clone)]
pub struct SegmentConfig {
    /// Ring bytes per lane: a power of two, 4 KiB to 1 GiB.
    pub lane_bytes: usize,
    /// Lane table capacity, 1 to [`MAX_LANES`].
    pub max_lanes: u32,
    /// Lanes allocated at creation (more come with `add_lane`).
    pub initial_lanes: u32,
    /// Full-lane policy every producer of the run applies.
    pub policy: FullPolicy,
    /// Run id recorded in the header (at most 32 bytes).
    pub run_id: String,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        Self {
            lane_bytes: DEFAULT_LANE_BYTES,
            max_lanes: DEFAULT_MAX_LANES,
            initial_lanes: 1,
            policy: FullPolicy::default(),
            run_id: String::new(),
        }
    }
}

/// The geometry read once from the header and kept privately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Lane table capacity.
    pub max_lanes: u32,
    /// Ring bytes per lane.
    pub lane_bytes: usize,
    /// Offset of lane 0's ring.
    pub data_offset: usize,
    /// Backpressure policy.
    pub policy: FullPolicy,
}

impl Geometry {
    fn lane_offset(&self, lane: u32) -> usize {
        self.data_offset + lane as usize * self.lane_bytes
    }
}

/// Offset of lane 0's ring for a table of `max_lanes`.
const fn data_offset(max_lanes: u32) -> usize {
    (SEGMENT_HEADER_LEN + max_lanes as usize * LANE_CONTROL_LEN).next_multiple_of(PAGE)
}

/// A mapped run segment.
///
/// # Examples
/// ```
/// use ringlog::{Segment, SegmentConfig};
/// let seg = Segment::create(&SegmentConfig { lane_bytes: 1 << 16, ..Default::default() }).unwrap();
/// let mut producer = seg.producer(0).unwrap();
/// let k = producer.key("loss").unwrap();
/// producer.log_scalar1(0, k, 1.0).unwrap();
///
/// let again = Segment::open(seg.name()).unwrap(); // reopen by name, state kept
/// assert_eq!(again.lane_count(), 1);
/// assert_eq!(again.lane_stats(0).unwrap().records, 2);
/// seg.unlink().unwrap();
/// ```
pub struct Segment {
    name: String,
    file: Arc<File>,
    header: Arc<MmapRaw>,
    geometry: Geometry,
    /// Serializes lane allocation within this process (the service).
    grow: Mutex<()>,
}

/// Per-lane figures for status displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneStats {
    /// Lane state.
    pub state: LaneState,
    /// Owner pid.
    pub owner_pid: u32,
    /// Frames committed.
    pub records: u64,
    /// Payload bytes committed.
    pub bytes: u64,
    /// Dropped records.
    pub drops: u64,
    /// Block timeouts.
    pub timeouts: u64,
    /// Frames rejected by the consumer.
    pub invalid_frames: u64,
    /// Bytes written but not yet released by the consumer.
    pub fill: u64,
    /// Ring capacity.
    pub capacity: u64,
}

/// One entry of [`Segment::list`].
#[derive(Debug)]
pub struct SegmentListing {
    /// Name as passed to `Segment::open`.
    pub name: String,
    /// What opening it found.
    pub info: Result<SegmentInfo, SegmentError>,
}

/// Summary of a segment for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Run id from the header.
    pub run_id: String,
    /// Run state.
    pub run_state: Option<RunState>,
    /// Lanes allocated.
    pub lanes: u32,
    /// File size in bytes.
    pub size: u64,
    /// Creation time, Unix ns.
    pub created_unix_ns: u64,
}

fn io_err<'a>(name: &'a str, op: &'static str) -> impl FnOnce(Errno) -> SegmentError + 'a {
    move |e| SegmentError::Io { name: name.to_owned(), op, source: e.into() }
}

impl Segment {
    /// Creates a segment with a fresh unpredictable name.
    ///
    /// # Errors
    /// Invalid geometry, `/dev/shm` too small or full, or a system call error.
    pub fn create(cfg: &SegmentConfig) -> Result<Self, SegmentError> {
        let mut rand = [0u8; 8];
        rustix::rand::getrandom(&mut rand, rustix::rand::GetRandomFlags::empty())
            .map_err(io_err("(new)", "getrandom"))?;
        let name = format!("/{NAME_PREFIX}{:016x}", u64::from_le_bytes(rand));
        Self::create_named(&name, cfg)
    }

    /// Creates a segment named `name` (`/` plus at most 30 bytes); fails if it exists.
    ///
    /// # Errors
    /// As [`Segment::create`], plus an `Io` error with `EEXIST` if the name is taken.
    pub fn create_named(name: &str, cfg: &SegmentConfig) -> Result<Self, SegmentError> {
        let lane_bytes = cfg.lane_bytes;
        if !lane_bytes.is_power_of_two() || !(MIN_LANE_BYTES..=MAX_LANE_BYTES).contains(&lane_bytes) {
            return Err(SegmentError::InvalidLaneBytes(lane_bytes as u64));
        }
        if cfg.max_lanes == 0 || cfg.max_lanes > MAX_LANES || cfg.initial_lanes > cfg.max_lanes {
            return Err(SegmentError::InvalidMaxLanes(cfg.max_lanes));
        }
        let data_off = data_offset(cfg.max_lanes);
        let total = data_off as u64 + u64::from(cfg.initial_lanes) * lane_bytes as u64;
        check_shm_capacity(total)?;

        let fd = shm::open(name, shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR, Mode::RUSR | Mode::WUSR)
            .map_err(io_err(name, "shm_open"))?;
        let built = Self::build(name, fd, cfg, data_off);
        if built.is_err() {
            let _ = shm::unlink(name);
        }
        built
    }

    fn build(name: &str, fd: OwnedFd, cfg: &SegmentConfig, data_off: usize) -> Result<Self, SegmentError> {
        allocate(name, &fd, 0, data_off as u64)?;
        let file = File::from(fd);
        let header = MmapOptions::new().len(data_off).map_raw(&file).map_err(|e| SegmentError::Io {
            name: name.to_owned(),
            op: "mmap",
            source: e,
        })?;
        let geometry = Geometry {
            max_lanes: cfg.max_lanes,
            lane_bytes: cfg.lane_bytes,
            data_offset: data_off,
            policy: cfg.policy,
        };
        // SAFETY: the mapping is at least SEGMENT_HEADER_LEN bytes, page aligned,
        // fresh (zero) and not yet visible to anyone: no magic is set.
        let h = unsafe { &mut *header.as_mut_ptr().cast::<SegmentHeader>() };
        h.layout_version = LAYOUT_VERSION;
        h.record_format_version = u32::from(RECORD_FORMAT_VERSION);
        h.max_lanes = cfg.max_lanes;
        h.lane_bytes = cfg.lane_bytes as u64;
        h.data_offset = data_off as u64;
        h.created_unix_ns = clock::now_unix_ns();
        h.full_policy = cfg.policy.kind_raw();
        h.block_timeout_ms = cfg.policy.timeout_ms();
        let id = cfg.run_id.as_bytes();
        let n = id.len().min(h.run_id.len());
        h.run_id[..n].copy_from_slice(&id[..n]);
        // Relaxed: published by the magic store below.
        h.run_state.store(RunState::Running as u32, Ordering::Relaxed);
        h.service_pid.store(rustix::process::getpid().as_raw_nonzero().get() as u32, Ordering::Relaxed);
        // SYNC POINT: segment published. Release orders every header write
        // above before the magic; pairs with the Acquire load in `open`.
        h.magic.store(SEGMENT_MAGIC, Ordering::Release);
        let seg = Self {
            name: name.to_owned(),
            file: Arc::new(file),
            header: Arc::new(header),
            geometry,
            grow: Mutex::new(()),
        };
        for _ in 0..cfg.initial_lanes {
            seg.add_lane(0)?;
        }
        Ok(seg)
    }

    /// Opens an existing segment by name, validating magic, versions, geometry
    /// and size. Ring state (positions, sequences, counters) is whatever the
    /// segment holds.
    ///
    /// # Errors
    /// `NotFound`, `WrongOwner`, `BadMagic`, `LayoutVersion`,
    /// `RecordFormatVersion`, `Corrupt`, `Truncated`, or `Io`.
    pub fn open(name: &str) -> Result<Self, SegmentError> {
        let fd = shm::open(name, shm::OFlags::RDWR, Mode::empty()).map_err(|e| match e {
            Errno::NOENT => SegmentError::NotFound { name: name.to_owned() },
            e => io_err(name, "shm_open")(e),
        })?;
        let st = rustix::fs::fstat(&fd).map_err(io_err(name, "fstat"))?;
        let me = rustix::process::geteuid().as_raw();
        if st.st_uid != me {
            return Err(SegmentError::WrongOwner { name: name.to_owned(), owner: st.st_uid, me });
        }
        let size = st.st_size as u64;
        let file = File::from(fd);
        if size < PAGE as u64 {
            return Err(SegmentError::BadMagic { name: name.to_owned(), found: 0 });
        }
        let probe = MmapOptions::new().len(PAGE).map_raw_read_only(&file).map_err(|e| SegmentError::Io {
            name: name.to_owned(),
            op: "mmap",
            source: e,
        })?;
        // SAFETY: the mapping holds at least one page, more than the header, and
        // is page aligned; fields are read through atomics or copied once.
        let h = unsafe { &*probe.as_ptr().cast::<SegmentHeader>() };
        // SYNC POINT: segment published. Acquire pairs with the creator's Release.
        let magic = h.magic.load(Ordering::Acquire);
        if magic != SEGMENT_MAGIC {
            return Err(SegmentError::BadMagic { name: name.to_owned(), found: magic });
        }
        if h.layout_version != LAYOUT_VERSION {
            return Err(SegmentError::LayoutVersion {
                name: name.to_owned(),
                found: h.layout_version,
                expected: LAYOUT_VERSION,
            });
        }
        if h.record_format_version != u32::from(RECORD_FORMAT_VERSION) {
            return Err(SegmentError::RecordFormatVersion {
                name: name.to_owned(),
                found: h.record_format_version,
                expected: u32::from(RECORD_FORMAT_VERSION),
            });
        }
        let corrupt = |reason: String| SegmentError::Corrupt { name: name.to_owned(), reason };
        let lane_bytes = h.lane_bytes as usize;
        if !lane_bytes.is_power_of_two() || !(MIN_LANE_BYTES..=MAX_LANE_BYTES).contains(&lane_bytes) {
            return Err(corrupt(format!("lane size {lane_bytes}")));
        }
        if h.max_lanes == 0 || h.max_lanes > MAX_LANES {
            return Err(corrupt(format!("max lanes {}", h.max_lanes)));
        }
        if h.data_offset != data_offset(h.max_lanes) as u64 {
            return Err(corrupt(format!("data offset {}", h.data_offset)));
        }
        let policy = FullPolicy::from_raw(h.full_policy, h.block_timeout_ms)
            .ok_or_else(|| corrupt(format!("full policy {}", h.full_policy)))?;
        let geometry = Geometry { max_lanes: h.max_lanes, lane_bytes, data_offset: data_offset(h.max_lanes), policy };
        let lanes = h.lane_count.load(Ordering::Acquire);
        if lanes > geometry.max_lanes {
            return Err(corrupt(format!("lane count {lanes} over max {}", geometry.max_lanes)));
        }
        let expected = geometry.lane_offset(lanes) as u64;
        if size < expected {
            return Err(SegmentError::Truncated { name: name.to_owned(), expected, actual: size });
        }
        drop(probe);
        let header = MmapOptions::new().len(geometry.data_offset).map_raw(&file).map_err(|e| SegmentError::Io {
            name: name.to_owned(),
            op: "mmap",
            source: e,
        })?;
        Ok(Self {
            name: name.to_owned(),
            file: Arc::new(file),
            header: Arc::new(header),
            geometry,
            grow: Mutex::new(()),
        })
    }

    /// Removes the name `name` from `/dev/shm`; mappings stay valid.
    ///
    /// # Errors
    /// `NotFound` if there is no such segment, `Io` otherwise.
    pub fn unlink_name(name: &str) -> Result<(), SegmentError> {
        shm::unlink(name).map_err(|e| match e {
            Errno::NOENT => SegmentError::NotFound { name: name.to_owned() },
            e => io_err(name, "shm_unlink")(e),
        })
    }

    /// Removes this segment's name; existing mappings stay valid.
    ///
    /// # Errors
    /// As [`Segment::unlink_name`].
    pub fn unlink(&self) -> Result<(), SegmentError> {
        Self::unlink_name(&self.name)
    }

    /// Lists this user's segments in `/dev/shm` with what their headers say.
    ///
    /// # Errors
    /// `Io` if `/dev/shm` cannot be read.
    pub fn list() -> Result<Vec<SegmentListing>, SegmentError> {
        let me = rustix::process::geteuid().as_raw();
        let dir = std::fs::read_dir(SHM_DIR).map_err(|e| SegmentError::Io {
            name: SHM_DIR.to_owned(),
            op: "read_dir",
            source: e,
        })?;
        let mut out = Vec::new();
        for entry in dir.flatten() {
            let file_name = entry.file_name();
            let Some(file_name) = file_name.to_str() else { continue };
            if !file_name.starts_with(NAME_PREFIX) {
                continue;
            }
            let owned_by_me = std::os::unix::fs::MetadataExt::uid(&match entry.metadata() {
                Ok(m) => m,
                Err(_) => continue,
            }) == me;
            if !owned_by_me {
                continue;
            }
            let name = format!("/{file_name}");
            let info = Self::open(&name).map(|s| s.info());
            out.push(SegmentListing { name, info });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Name to open the segment by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Private copy of the geometry.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn header(&self) -> &SegmentHeader {
        // SAFETY: the mapping holds at least the header, is page aligned, and
        // lives as long as self; shared fields are atomics.
        unsafe { &*self.header.as_ptr().cast::<SegmentHeader>() }
    }

    fn control_ptr(&self, lane: u32) -> NonNull<LaneControl> {
        debug_assert!(lane < self.geometry.max_lanes);
        let off = SEGMENT_HEADER_LEN + lane as usize * LANE_CONTROL_LEN;
        // SAFETY: lane < max_lanes, so the control block lies inside the header
        // mapping (data_offset >= SEGMENT_HEADER_LEN + max_lanes * LANE_CONTROL_LEN).
        unsafe { NonNull::new_unchecked(self.header.as_mut_ptr().add(off).cast()) }
    }

    fn control(&self, lane: u32) -> &LaneControl {
        // SAFETY: see control_ptr; aligned (192-byte stride from a page boundary).
        unsafe { self.control_ptr(lane).as_ref() }
    }

    /// Lanes allocated so far.
    pub fn lane_count(&self) -> u32 {
        // SYNC POINT: lane allocated. Acquire pairs with `add_lane`'s Release.
        self.header().lane_count.load(Ordering::Acquire).min(self.geometry.max_lanes)
    }

    /// Run state as stored in the header.
    pub fn run_state(&self) -> Option<RunState> {
        // Acquire: pairs with `set_run_state` so a reader that sees Finished sees
        // everything the finisher wrote before it.
        RunState::from_u32(self.header().run_state.load(Ordering::Acquire))
    }

    /// Stores the run state (service only).
    pub fn set_run_state(&self, state: RunState) {
        // Release: pairs with `run_state`'s Acquire.
        self.header().run_state.store(state as u32, Ordering::Release);
    }

    /// Parks the calling consumer on the run's futex until `ready()` or
    /// `timeout` (for a consumer that has no lane yet to wait on).
    pub fn park_consumer(&self, timeout: std::time::Duration, ready: impl Fn() -> bool) -> bool {
        crate::wakeup::park(&self.header().consumer_parked, timeout, ready)
    }

    /// Wakes the run's consumer if it is parked (a control event for it).
    pub fn wake_consumer(&self) {
        crate::wakeup::notify(&self.header().consumer_parked);
    }

    /// Run id from the header.
    pub fn run_id(&self) -> String {
        let raw = &self.header().run_id;
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        String::from_utf8_lossy(&raw[..end]).into_owned()
    }

    fn info(&self) -> SegmentInfo {
        SegmentInfo {
            run_id: self.run_id(),
            run_state: self.run_state(),
            lanes: self.lane_count(),
            size: self.file.metadata().map(|m| m.len()).unwrap_or(0),
            created_unix_ns: self.header().created_unix_ns,
        }
    }

    /// Allocates the next lane for `owner_pid` (service only): grows the file,
    /// backs it with `fallocate`, and publishes the lane.
    ///
    /// # Errors
    /// `LanesExhausted`, `ShmTooSmall`, `ShmFull` or `Io`.
    pub fn add_lane(&self, owner_pid: u32) -> Result<u16, SegmentError> {
        let _g = self.grow.lock().unwrap_or_else(|p| p.into_inner());
        let lane = self.lane_count();
        if lane >= self.geometry.max_lanes {
            return Err(SegmentError::LanesExhausted { max: self.geometry.max_lanes });
        }
        let start = self.geometry.lane_offset(lane) as u64;
        let len = self.geometry.lane_bytes as u64;
        check_shm_capacity(len)?;
        allocate(&self.name, &self.file, start, len)?;
        let c = self.control(lane);
        // Relaxed: published by the lane_count Release below.
        c.owner_pid.store(owner_pid, Ordering::Relaxed);
        c.state.store(LaneState::Active as u32, Ordering::Relaxed);
        // SYNC POINT: lane allocated. Release orders the file growth and control
        // block writes before the count; pairs with `lane_count`'s Acquire.
        self.header().lane_count.store(lane + 1, Ordering::Release);
        Ok(lane as u16)
    }

    /// Maps lane `lane`'s ring.
    ///
    /// # Errors
    /// `NoSuchLane` or `Io`.
    pub fn lane_memory(&self, lane: u16) -> Result<LaneMemory, SegmentError> {
        let count = self.lane_count();
        if u32::from(lane) >= count {
            return Err(SegmentError::NoSuchLane { lane: u32::from(lane), count });
        }
        let ring = MmapOptions::new()
            .offset(self.geometry.lane_offset(u32::from(lane)) as u64)
            .len(self.geometry.lane_bytes)
            .map_raw(&*self.file)
            .map_err(|e| SegmentError::Io { name: self.name.clone(), op: "mmap lane", source: e })?;
        let ring_ptr = NonNull::new(ring.as_mut_ptr())
            .ok_or_else(|| SegmentError::Corrupt { name: self.name.clone(), reason: "null lane mapping".into() })?;
        let parked = NonNull::from(&self.header().consumer_parked);
        let keep: Arc<dyn Send + Sync> = Arc::new((Arc::clone(&self.header), ring));
        // SAFETY: control and parked point into the header mapping and ring into
        // the lane mapping, both kept alive by `keep`; lane_bytes was validated
        // (power of two in range) and the ring mapping is page aligned.
        Ok(unsafe {
            LaneMemory::from_raw(self.control_ptr(u32::from(lane)), ring_ptr, self.geometry.lane_bytes, parked, keep)
        })
    }

    /// A producer for lane `lane`, applying the run's policy.
    ///
    /// # Errors
    /// As [`Segment::lane_memory`].
    pub fn producer(&self, lane: u16) -> Result<Producer, SegmentError> {
        Ok(Producer::new(self.lane_memory(lane)?, lane, self.geometry.policy))
    }

    /// A consumer over every lane allocated so far.
    ///
    /// # Errors
    /// As [`Segment::lane_memory`].
    pub fn consumer(&self) -> Result<Consumer, SegmentError> {
        let mut c = Consumer::new();
        for lane in 0..self.lane_count() {
            c.add_lane(self.lane_memory(lane as u16)?, lane as u16);
        }
        Ok(c)
    }

    /// Figures for lane `lane`.
    ///
    /// # Errors
    /// `NoSuchLane`.
    pub fn lane_stats(&self, lane: u16) -> Result<LaneStats, SegmentError> {
        let count = self.lane_count();
        if u32::from(lane) >= count {
            return Err(SegmentError::NoSuchLane { lane: u32::from(lane), count });
        }
        let c = self.control(u32::from(lane));
        // Relaxed throughout: a snapshot for display; fill may be momentarily
        // inconsistent by a frame, and is clamped.
        let tail = c.tail.load(Ordering::Relaxed);
        let head = c.head.load(Ordering::Relaxed);
        Ok(LaneStats {
            state: LaneState::from_u32(c.state.load(Ordering::Relaxed)).unwrap_or(LaneState::Corrupt),
            owner_pid: c.owner_pid.load(Ordering::Relaxed),
            records: c.records.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
            drops: c.drops.load(Ordering::Relaxed),
            timeouts: c.timeouts.load(Ordering::Relaxed),
            invalid_frames: c.invalid_frames.load(Ordering::Relaxed),
            fill: tail.saturating_sub(head),
            capacity: self.geometry.lane_bytes as u64,
        })
    }
}

/// Fails early, before any allocation, when `needed` bytes cannot fit in
/// `/dev/shm` at all, or do not fit in what is free now.
pub fn check_shm_capacity(needed: u64) -> Result<(), SegmentError> {
    let Ok(st) = rustix::fs::statvfs(SHM_DIR) else { return Ok(()) };
    let total = st.f_blocks.saturating_mul(st.f_frsize);
    let free = st.f_bavail.saturating_mul(st.f_frsize);
    if needed > total {
        return Err(SegmentError::ShmTooSmall { needed, total });
    }
    if needed > free {
        return Err(SegmentError::ShmFull { needed, free });
    }
    Ok(())
}

/// Grows the file to cover `[start, start + len)` and backs it with memory.
fn allocate(name: &str, fd: impl std::os::fd::AsFd, start: u64, len: u64) -> Result<(), SegmentError> {
    let fd = fd.as_fd();
    rustix::fs::ftruncate(fd, start + len).map_err(io_err(name, "ftruncate"))?;
    match rustix::fs::fallocate(fd, FallocateFlags::empty(), start, len) {
        Ok(()) => Ok(()),
        Err(Errno::NOSPC) => {
            let free = rustix::fs::statvfs(SHM_DIR).map(|s| s.f_bavail.saturating_mul(s.f_frsize)).unwrap_or(0);
            // Give back what we asked for; the lane is not published.
            let _ = rustix::fs::ftruncate(fd, start);
            Err(SegmentError::ShmFull { needed: len, free })
        }
        Err(e) => Err(io_err(name, "fallocate")(e)),
    }
}

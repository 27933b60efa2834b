//! A run's named shared-memory segment: header, lane table and lane rings.
//!
//! Created by the service only: `shm_open(O_CREAT | O_EXCL, 0600)`, grown with
//! `ftruncate` and backed with `fallocate` lane by lane (so a full `/dev/shm`
//! is an error at creation, never a SIGBUS on first touch), mapped with
//! memmap2. Each lane (its control page and ring) is mapped on its own.
//!
//! Two handles, one per side of the trust boundary (ADR 9):
//! - [`SegmentOwner`] is the service's: it creates or adopts the segment, maps
//!   the header and lane table read-write, keeps the geometry and the lane
//!   count privately, checks every mapping against `fstat` first, hands out
//!   lanes and owns the run's single [`Consumer`].
//! - [`Segment`] is a producer's: it maps the header and lane table
//!   **read-only** and claims one lane, which it maps read-write. A stray write
//!   in a producer process can then reach only its own lane.
//!
//! The name is unpredictable (64 random bits) and at most 31 bytes. Unlinking
//! is explicit: the service unlinks a segment once its run is finished and
//! drained (`SegmentOwner::unlink`).

use std::fs::File;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;
// Process-local, never in shared memory: the one-consumer flag.
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use memmap2::{MmapOptions, MmapRaw};
use rustix::fs::{FallocateFlags, Mode};
use rustix::io::Errno;
use rustix::shm;

use crate::record::schema::RECORD_FORMAT_VERSION;
use crate::ring::clock;
use crate::ring::consumer::{Consumer, LaneSource};
use crate::ring::error::SegmentError;
use crate::ring::full_policy::FullPolicy;
use crate::ring::lane_memory::{LaneMemory, MAX_LANE_BYTES, MIN_LANE_BYTES};
use crate::ring::layout::{
    LANE_CONTROL_PAGE, LANE_DESCRIPTOR_LEN, LAYOUT_VERSION, LaneControl, LaneDescriptor, LaneState, MAX_LANES,
    RunState, SEGMENT_HEADER_LEN, SEGMENT_MAGIC, SegmentHeader,
};
use crate::ring::producer::Producer;
use crate::ring::sync::{AtomicU32, Ordering};
use crate::ring::truncation_guard;

/// Prefix of every segment name (after the leading `/`).
pub const NAME_PREFIX: &str = "ringlog-";
/// Where Linux keeps POSIX shared memory.
pub const SHM_DIR: &str = "/dev/shm";
/// Default ring bytes per lane (`RINGLOG_LANE_BYTES`).
pub const DEFAULT_LANE_BYTES: usize = 1 << 20;
/// Default lane table capacity.
pub const DEFAULT_MAX_LANES: u32 = 256;
const PAGE: usize = 4096;

/// How to build a segment.
///
/// # Examples
/// ```
/// let cfg = ringlog_ring::SegmentConfig { lane_bytes: 1 << 16, ..Default::default() };
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
    /// Bytes one lane takes in the file: its control page and its ring.
    fn lane_stride(&self) -> usize {
        LANE_CONTROL_PAGE + self.lane_bytes
    }

    /// Offset of lane `lane`'s control page.
    fn lane_offset(&self, lane: u32) -> usize {
        self.data_offset + lane as usize * self.lane_stride()
    }
}

/// Offset of lane 0's control page for a table of `max_lanes`.
const fn data_offset(max_lanes: u32) -> usize {
    (SEGMENT_HEADER_LEN + max_lanes as usize * LANE_DESCRIPTOR_LEN).next_multiple_of(PAGE)
}

/// The header and lane table of a segment, mapped by one process.
struct Mapping {
    name: String,
    file: File,
    /// The header mapping's SIGBUS guard (service only); declared before
    /// `header` so it is dropped, and unregistered, before the unmap.
    _header_guard: truncation_guard::Guarded,
    /// Guard slots of the lanes mapped from this mapping (service only).
    lane_guard_slots: Mutex<Vec<usize>>,
    /// Header and lane table: read-write for the service, read-only for producers.
    header: MmapRaw,
    geometry: Geometry,
}

// SAFETY: the mapping is plain memory that every access reaches through
// atomics or volatile copies; `File` and `MmapRaw` are Send + Sync.
unsafe impl Send for Mapping {}
// SAFETY: as for Send.
unsafe impl Sync for Mapping {}

/// Projects field `$f` of the segment header to a reference to that atomic.
macro_rules! header_atomic {
    ($m:expr, $f:ident) => {
        // SAFETY: the header mapping holds at least SEGMENT_HEADER_LEN bytes,
        // is page aligned and lives as long as the Mapping; only the atomic
        // field is referenced, never the whole header.
        unsafe { &*(&raw const (*$m.header_ptr()).$f) }
    };
}

/// Copies plain field `$f` out of the segment header (a volatile read: other
/// processes may write it, so no reference to it is made).
macro_rules! header_copy {
    ($m:expr, $f:ident) => {
        // SAFETY: in bounds and aligned as for header_atomic!; the value is
        // copied, and every bit pattern is valid for these integer fields.
        unsafe { (&raw const (*$m.header_ptr()).$f).read_volatile() }
    };
}

impl Mapping {
    fn header_ptr(&self) -> *mut SegmentHeader {
        self.header.as_mut_ptr().cast()
    }

    fn descriptor_ptr(&self, lane: u32) -> NonNull<LaneDescriptor> {
        assert!(lane < self.geometry.max_lanes, "lane index bounded by the caller");
        let off = SEGMENT_HEADER_LEN + lane as usize * LANE_DESCRIPTOR_LEN;
        // SAFETY: lane < max_lanes, so the descriptor lies inside the header
        // mapping (data_offset >= SEGMENT_HEADER_LEN + max_lanes * LANE_DESCRIPTOR_LEN)
        // and is 64-aligned (128-byte stride from 192 past a page boundary).
        unsafe { NonNull::new_unchecked(self.header.as_mut_ptr().add(off).cast()) }
    }

    fn parked(&self) -> &AtomicU32 {
        header_atomic!(self, consumer_parked)
    }

    fn file_size(&self) -> Result<u64, SegmentError> {
        rustix::fs::fstat(&self.file).map(|st| st.st_size as u64).map_err(io_err(&self.name, "fstat"))
    }

    /// Maps lane `lane` (control page and ring), after checking that the
    /// file covers it. `lane` must be below the caller's private lane count.
    fn map_lane(self: &Arc<Self>, lane: u32) -> Result<LaneMemory, SegmentError> {
        let g = self.geometry;
        let start = g.lane_offset(lane) as u64;
        let len = g.lane_stride() as u64;
        let size = self.file_size()?;
        if size < start + len {
            return Err(SegmentError::Truncated { name: self.name.clone(), expected: start + len, actual: size });
        }
        let map = MmapOptions::new()
            .offset(start)
            .len(g.lane_stride())
            .map_raw(&self.file)
            .map_err(|e| SegmentError::Io { name: self.name.clone(), op: "mmap lane", source: e })?;
        let base = map.as_mut_ptr();
        let control = NonNull::new(base.cast::<LaneControl>())
            .ok_or_else(|| SegmentError::Corrupt { name: self.name.clone(), reason: "null lane mapping".into() })?;
        // SAFETY: the mapping is LANE_CONTROL_PAGE + lane_bytes long, so the
        // ring starts inside it; page aligned.
        let ring = unsafe { NonNull::new_unchecked(base.add(LANE_CONTROL_PAGE)) };
        let guard = truncation_guard::guard(map.as_ptr(), g.lane_stride());
        if let Some(slot) = guard.slot() {
            self.lane_guard_slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(slot);
        }
        let keep: Arc<dyn Send + Sync> = Arc::new((Arc::clone(self), LaneMapping(guard, map)));
        // SAFETY: desc points into the header mapping, control and
        // ring into the lane mapping, both kept alive by `keep`; lane_bytes was
        // validated (power of two in range) and the ring is page aligned.
        let mem = unsafe { LaneMemory::from_raw(self.descriptor_ptr(lane), control, ring, g.lane_bytes, keep) };
        let heartbeat = NonNull::from(header_atomic!(self, service_heartbeat_ns));
        // SAFETY: the word is in the header mapping, which `keep` (holding
        // this Mapping) keeps alive; 8-aligned (offset pinned in layout.rs).
        Ok(unsafe { mem.with_heartbeat(heartbeat) })
    }

    fn run_id(&self) -> String {
        let raw: [u8; 32] = header_copy!(self, run_id);
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        String::from_utf8_lossy(&raw[..end]).into_owned()
    }

    fn run_state(&self) -> Option<RunState> {
        // Acquire: pairs with `set_run_state` so a reader that sees Finished sees
        // everything the finisher wrote before it.
        RunState::from_u32(header_atomic!(self, run_state).load(Ordering::Acquire))
    }

    /// The lane count the header advertises, bounded by the table size.
    fn advertised_lanes(&self) -> u32 {
        // SYNC POINT: lane allocated. Acquire pairs with `add_lane`'s Release.
        header_atomic!(self, lane_count).load(Ordering::Acquire).min(self.geometry.max_lanes)
    }

    /// Opens and validates `name`; `writable` maps the header read-write.
    fn open(name: &str, writable: bool) -> Result<Self, SegmentError> {
        // Read-write even for producers: they map their own lane writable
        // from this fd. The header mapping below is what is read-only.
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
            // Shorter than any segment's header: cut by another process, or its
            // creator died between creating the name and sizing the file.
            return Err(SegmentError::Truncated { name: name.to_owned(), expected: PAGE as u64, actual: size });
        }
        let probe = MmapOptions::new().len(PAGE).map_raw_read_only(&file).map_err(|e| SegmentError::Io {
            name: name.to_owned(),
            op: "mmap",
            source: e,
        })?;
        // Guarded (in the service) like every other mapping: the file may be cut
        // between the fstat above and the read below. Dropped before the probe.
        let probe_guard = truncation_guard::guard(probe.as_ptr(), PAGE);
        let p = probe.as_ptr().cast::<SegmentHeader>();
        // SAFETY: the mapping holds one page, more than the header, page
        // aligned; only the magic atomic is referenced.
        let magic = unsafe { &(*p).magic };
        // SYNC POINT: segment published. Acquire pairs with the creator's Release.
        let found = magic.load(Ordering::Acquire);
        if found != SEGMENT_MAGIC {
            return Err(SegmentError::BadMagic { name: name.to_owned(), found });
        }
        // SAFETY: fields of the header inside the probe page (raw projections,
        // no reference to the header), copied out with volatile reads; any
        // bit pattern is valid for these integers.
        let (layout_version, record_format_version, max_lanes, lane_bytes, data_off, full_policy, block_ms) = unsafe {
            (
                (&raw const (*p).layout_version).read_volatile(),
                (&raw const (*p).record_format_version).read_volatile(),
                (&raw const (*p).max_lanes).read_volatile(),
                (&raw const (*p).lane_bytes).read_volatile(),
                (&raw const (*p).data_offset).read_volatile(),
                (&raw const (*p).full_policy).read_volatile(),
                (&raw const (*p).block_timeout_ms).read_volatile(),
            )
        };
        if layout_version != LAYOUT_VERSION {
            return Err(SegmentError::LayoutVersion {
                name: name.to_owned(),
                found: layout_version,
                expected: LAYOUT_VERSION,
            });
        }
        if record_format_version != u32::from(RECORD_FORMAT_VERSION) {
            return Err(SegmentError::RecordFormatVersion {
                name: name.to_owned(),
                found: record_format_version,
                expected: u32::from(RECORD_FORMAT_VERSION),
            });
        }
        let corrupt = |reason: String| SegmentError::Corrupt { name: name.to_owned(), reason };
        let lane_bytes = usize::try_from(lane_bytes).unwrap_or(0);
        if !lane_bytes.is_power_of_two() || !(MIN_LANE_BYTES..=MAX_LANE_BYTES).contains(&lane_bytes) {
            return Err(corrupt(format!("lane size {lane_bytes}")));
        }
        if max_lanes == 0 || max_lanes > MAX_LANES {
            return Err(corrupt(format!("max lanes {max_lanes}")));
        }
        if data_off != data_offset(max_lanes) as u64 {
            return Err(corrupt(format!("data offset {data_off}")));
        }
        let policy =
            FullPolicy::from_raw(full_policy, block_ms).ok_or_else(|| corrupt(format!("full policy {full_policy}")))?;
        let geometry = Geometry { max_lanes, lane_bytes, data_offset: data_offset(max_lanes), policy };
        if size < geometry.data_offset as u64 {
            return Err(SegmentError::Truncated {
                name: name.to_owned(),
                expected: geometry.data_offset as u64,
                actual: size,
            });
        }
        drop(probe_guard);
        drop(probe);
        let opts = {
            let mut o = MmapOptions::new();
            o.len(geometry.data_offset);
            o
        };
        let header = if writable { opts.map_raw(&file) } else { opts.map_raw_read_only(&file) }
            .map_err(|e| SegmentError::Io { name: name.to_owned(), op: "mmap", source: e })?;
        let _header_guard = truncation_guard::guard(header.as_ptr(), geometry.data_offset);
        Ok(Self { name: name.to_owned(), file, _header_guard, lane_guard_slots: Mutex::default(), header, geometry })
    }

    fn info(&self) -> SegmentInfo {
        SegmentInfo {
            run_id: self.run_id(),
            run_state: self.run_state(),
            lanes: self.advertised_lanes(),
            size: self.file_size().unwrap_or(0),
            created_unix_ns: header_copy!(self, created_unix_ns),
            // Relaxed: a listing's snapshot; nothing is read through it.
            service_pid: header_atomic!(self, service_pid).load(Ordering::Relaxed),
        }
    }
}

/// Keeps one lane's mapping alive; its SIGBUS guard (service only) is dropped,
/// and unregistered, before the mapping.
struct LaneMapping(#[allow(dead_code)] truncation_guard::Guarded, #[allow(dead_code)] MmapRaw);
// SAFETY: a mapping of shared memory, reached only through LaneMemory's
// atomics and ring protocol.
unsafe impl Send for LaneMapping {}
// SAFETY: as for Send.
unsafe impl Sync for LaneMapping {}

/// A producer's view of a run segment: header and lane table mapped
/// read-only; lanes are claimed one by one and mapped read-write.
///
/// # Examples
/// ```
/// use ringlog_ring::{Segment, SegmentConfig, SegmentOwner};
/// let owner = SegmentOwner::create(&SegmentConfig { lane_bytes: 1 << 16, ..Default::default() }).unwrap();
/// let seg = Segment::open(owner.name()).unwrap(); // a trainer process
/// let mut producer = seg.claim(0).unwrap();
/// let k = producer.key("loss").unwrap();
/// producer.log_scalar1(0, k, 1.0).unwrap();
/// assert!(seg.claim(0).is_err()); // a lane has one producer, ever
/// assert_eq!(owner.lane_stats(0).unwrap().records, 2);
/// owner.unlink().unwrap();
/// ```
pub struct Segment {
    map: Arc<Mapping>,
}

/// The service's handle on a run segment (see the module docs).
///
/// # Examples
/// ```
/// use ringlog_ring::{Batch, SegmentConfig, SegmentOwner};
/// let owner = SegmentOwner::create(&SegmentConfig { lane_bytes: 1 << 16, ..Default::default() }).unwrap();
/// let lane = owner.add_lane(std::process::id()).unwrap();
/// assert_eq!((lane, owner.lane_count()), (1, 2));
/// let mut consumer = owner.consumer().unwrap();
/// assert!(owner.consumer().is_err()); // one consumer per run
/// assert_eq!(consumer.drain(&mut Batch::new(4096)), 0);
/// owner.unlink().unwrap();
/// ```
pub struct SegmentOwner {
    shared: Arc<OwnerShared>,
    consumer_taken: AtomicBool,
}

/// What the owner and its consumer share.
struct OwnerShared {
    map: Arc<Mapping>,
    /// Lanes this service allocated (or found when adopting): the authority
    /// for which lanes exist. Also serializes lane allocation.
    lanes: Mutex<u32>,
}

impl OwnerShared {
    fn lane_count(&self) -> u32 {
        *self.lanes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl LaneSource for OwnerShared {
    fn lane(self: Arc<Self>, lane: u16) -> Result<LaneMemory, SegmentError> {
        let count = self.lane_count();
        if u32::from(lane) >= count {
            return Err(SegmentError::NoSuchLane { lane: u32::from(lane), count });
        }
        self.map.map_lane(u32::from(lane))
    }

    fn parked(&self) -> &AtomicU32 {
        self.map.parked()
    }
}

/// Per-lane figures for status displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneStats {
    /// Lane state.
    pub state: LaneState,
    /// Owner pid.
    pub owner_pid: u32,
    /// Owner process start time (clock ticks since boot), 0 if unknown.
    pub owner_start_ticks: u64,
    /// Frames committed (as the producer published it: untrusted).
    pub records: u64,
    /// Payload bytes committed (untrusted).
    pub bytes: u64,
    /// Dropped records (untrusted).
    pub drops: u64,
    /// Block timeouts (untrusted).
    pub timeouts: u64,
    /// Frames rejected by the consumer.
    pub invalid_frames: u64,
    /// Frames accepted by the consumer.
    pub consumed: u64,
    /// Bytes written but not yet released by the consumer (bounded by capacity).
    pub fill: u64,
    /// Ring capacity.
    pub capacity: u64,
}

/// One entry of [`SegmentOwner::list`].
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
    /// Pid of the service that created the segment or last adopted it.
    pub service_pid: u32,
}

fn io_err<'a>(name: &'a str, op: &'static str) -> impl FnOnce(Errno) -> SegmentError + 'a {
    move |e| SegmentError::Io { name: name.to_owned(), op, source: e.into() }
}

impl Segment {
    /// Opens an existing segment by name for producing: validates magic,
    /// versions and geometry, and maps the header and lane table read-only.
    ///
    /// # Errors
    /// `NotFound`, `WrongOwner`, `BadMagic`, `LayoutVersion`,
    /// `RecordFormatVersion`, `Corrupt`, `Truncated`, or `Io`.
    pub fn open(name: &str) -> Result<Self, SegmentError> {
        Ok(Self { map: Arc::new(Mapping::open(name, false)?) })
    }

    /// Name of the segment.
    pub fn name(&self) -> &str {
        &self.map.name
    }

    /// Private copy of the geometry.
    pub fn geometry(&self) -> Geometry {
        self.map.geometry
    }

    /// Run state as stored in the header.
    pub fn run_state(&self) -> Option<RunState> {
        self.map.run_state()
    }

    /// Claims lane `lane` for this process and returns its only producer:
    /// a compare-and-swap of the lane's claim word in shared memory, so no
    /// second producer for the lane can exist in this or any other process.
    ///
    /// # Errors
    /// `NoSuchLane` (not handed out by the service), `Truncated` or `Io`
    /// mapping it, [`ProduceError::LaneTaken`] (as `SegmentError::Claim`) if
    /// the lane was claimed before, or `LaneCorrupt` if its control state is
    /// inconsistent.
    pub fn claim(&self, lane: u16) -> Result<Producer, SegmentError> {
        let count = self.map.advertised_lanes();
        if u32::from(lane) >= count {
            return Err(SegmentError::NoSuchLane { lane: u32::from(lane), count });
        }
        let mem = self.map.map_lane(u32::from(lane))?;
        Producer::claim(mem, lane, self.map.geometry.policy).map_err(|e| SegmentError::Claim { lane, source: e })
    }
}

impl SegmentOwner {
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
    /// As [`SegmentOwner::create`], plus an `Io` error with `EEXIST` if the name is taken.
    pub fn create_named(name: &str, cfg: &SegmentConfig) -> Result<Self, SegmentError> {
        let lane_bytes = cfg.lane_bytes;
        if !lane_bytes.is_power_of_two() || !(MIN_LANE_BYTES..=MAX_LANE_BYTES).contains(&lane_bytes) {
            return Err(SegmentError::InvalidLaneBytes(lane_bytes as u64));
        }
        if cfg.max_lanes == 0 || cfg.max_lanes > MAX_LANES || cfg.initial_lanes > cfg.max_lanes {
            return Err(SegmentError::InvalidMaxLanes(cfg.max_lanes));
        }
        let data_off = data_offset(cfg.max_lanes);
        let total = data_off as u64 + u64::from(cfg.initial_lanes) * (LANE_CONTROL_PAGE + lane_bytes) as u64;
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
        let h = header.as_mut_ptr().cast::<SegmentHeader>();
        let mut run_id = [0u8; 32];
        let id = cfg.run_id.as_bytes();
        let n = id.len().min(run_id.len());
        run_id[..n].copy_from_slice(&id[..n]);
        // SAFETY: the mapping is at least SEGMENT_HEADER_LEN bytes, page
        // aligned, fresh (zero) and not yet visible to anyone (no magic): the
        // plain fields are written through raw projections.
        unsafe {
            (&raw mut (*h).layout_version).write(LAYOUT_VERSION);
            (&raw mut (*h).record_format_version).write(u32::from(RECORD_FORMAT_VERSION));
            (&raw mut (*h).max_lanes).write(cfg.max_lanes);
            (&raw mut (*h).lane_bytes).write(cfg.lane_bytes as u64);
            (&raw mut (*h).data_offset).write(data_off as u64);
            (&raw mut (*h).created_unix_ns).write(clock::now_unix_ns());
            (&raw mut (*h).full_policy).write(cfg.policy.kind_raw());
            (&raw mut (*h).block_timeout_ms).write(cfg.policy.timeout_ms());
            (&raw mut (*h).run_id).write(run_id);
        }
        let _header_guard = truncation_guard::guard(header.as_ptr(), geometry.data_offset);
        let map = Arc::new(Mapping {
            name: name.to_owned(),
            file,
            _header_guard,
            lane_guard_slots: Mutex::default(),
            header,
            geometry,
        });
        // Relaxed: published by the magic store below.
        header_atomic!(map, run_state).store(RunState::Running as u32, Ordering::Relaxed);
        header_atomic!(map, service_pid).store(std::process::id(), Ordering::Relaxed);
        // SYNC POINT: segment published. Release orders every header write
        // above before the magic; pairs with the Acquire load in `Mapping::open`.
        header_atomic!(map, magic).store(SEGMENT_MAGIC, Ordering::Release);
        let seg = Self::from_map(map, 0);
        // Before any lane exists, so before any producer can read it.
        seg.beat();
        for _ in 0..cfg.initial_lanes {
            seg.add_lane(0)?;
        }
        Ok(seg)
    }

    fn from_map(map: Arc<Mapping>, lanes: u32) -> Self {
        Self { shared: Arc::new(OwnerShared { map, lanes: Mutex::new(lanes) }), consumer_taken: AtomicBool::new(false) }
    }

    /// Adopts an existing segment after a service restart: validates it as
    /// [`Segment::open`] does, maps the header read-write, and takes the lane
    /// count from the header only as far as the file really holds lanes.
    ///
    /// # Errors
    /// As [`Segment::open`]; `Truncated` if the file holds fewer lanes than
    /// the header says.
    pub fn adopt(name: &str) -> Result<Self, SegmentError> {
        let map = Arc::new(Mapping::open(name, true)?);
        let lanes = map.advertised_lanes();
        let need = map.geometry.lane_offset(lanes) as u64;
        let size = map.file_size()?;
        if size < need {
            return Err(SegmentError::Truncated { name: name.to_owned(), expected: need, actual: size });
        }
        // Relaxed: an advisory word, read on its own.
        header_atomic!(map, service_pid).store(std::process::id(), Ordering::Relaxed);
        let seg = Self::from_map(map, lanes);
        seg.beat();
        Ok(seg)
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
    /// As [`SegmentOwner::unlink_name`].
    pub fn unlink(&self) -> Result<(), SegmentError> {
        Self::unlink_name(&self.shared.map.name)
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
            let info = Mapping::open(&name, false).map(|m| m.info());
            out.push(SegmentListing { name, info });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Name to open the segment by.
    pub fn name(&self) -> &str {
        &self.shared.map.name
    }

    /// Private copy of the geometry.
    pub fn geometry(&self) -> Geometry {
        self.shared.map.geometry
    }

    /// Lanes allocated (the service's own count, never re-read from shared memory).
    pub fn lane_count(&self) -> u32 {
        self.shared.lane_count()
    }

    /// `Some(error)` when the file no longer holds every lane the service
    /// allocated: another process truncated it (outside the trust model,
    /// ADR 9). The run cannot go on; with the truncation guard installed, reads
    /// of the lost pages see zeros instead of killing the service.
    ///
    /// # Examples
    /// ```
    /// use ringlog_ring::{SegmentConfig, SegmentOwner};
    /// let seg = SegmentOwner::create(&SegmentConfig { initial_lanes: 1, ..Default::default() })?;
    /// assert!(seg.truncated().is_none());
    /// # seg.unlink()?;
    /// # Ok::<(), ringlog_ring::SegmentError>(())
    /// ```
    pub fn truncated(&self) -> Option<SegmentError> {
        let map = &self.shared.map;
        let patched = map._header_guard.patched()
            || map
                .lane_guard_slots
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .any(|&slot| truncation_guard::slot_patched(slot));
        if patched {
            // The mapping shows zeros where the file was cut, even if it grew back since.
            return Some(SegmentError::Truncated {
                name: map.name.clone(),
                expected: map.geometry.lane_offset(self.lane_count()) as u64,
                actual: map.file_size().unwrap_or(0),
            });
        }
        let g = self.shared.map.geometry;
        let need = g.lane_offset(self.lane_count()) as u64;
        match self.shared.map.file_size() {
            Ok(size) if size < need => {
                Some(SegmentError::Truncated { name: self.shared.map.name.clone(), expected: need, actual: size })
            }
            Ok(_) => None,
            Err(e) => Some(e),
        }
    }

    /// Run state as stored in the header.
    pub fn run_state(&self) -> Option<RunState> {
        self.shared.map.run_state()
    }

    /// Stores the run state.
    pub fn set_run_state(&self, state: RunState) {
        // Release: pairs with `run_state`'s Acquire.
        header_atomic!(self.shared.map, run_state).store(state as u32, Ordering::Release);
    }

    /// Stores the service's heartbeat (now, coarse Unix ns): producers that
    /// find it stale check whether the service is alive (ADR 28).
    pub fn beat(&self) {
        // Relaxed: a timestamp read on its own; it publishes nothing.
        header_atomic!(self.shared.map, service_heartbeat_ns).store(clock::now_unix_ns(), Ordering::Relaxed);
    }

    /// Parks the calling thread on the run's futex until `ready()` or
    /// `timeout` (for a consumer that has no lane yet to wait on).
    pub fn park_consumer(&self, timeout: std::time::Duration, ready: impl Fn() -> bool) -> bool {
        crate::ring::wakeup::park(self.shared.map.parked(), timeout, ready)
    }

    /// Wakes the run's consumer if it is parked (a control event for it).
    pub fn wake_consumer(&self) {
        crate::ring::wakeup::notify(self.shared.map.parked());
    }

    /// Run id from the header.
    pub fn run_id(&self) -> String {
        self.shared.map.run_id()
    }

    /// Allocates the next lane for `owner_pid`: grows the file, backs it
    /// with `fallocate`, and publishes the lane. The owner's start time is
    /// read from `/proc` and kept next to the pid (see
    /// [`process_start_ticks`]).
    ///
    /// # Errors
    /// `LanesExhausted`, `ShmTooSmall`, `ShmFull` or `Io`.
    pub fn add_lane(&self, owner_pid: u32) -> Result<u16, SegmentError> {
        let map = &self.shared.map;
        let mut lanes = self.shared.lanes.lock().unwrap_or_else(|p| p.into_inner());
        let lane = *lanes;
        if lane >= map.geometry.max_lanes {
            return Err(SegmentError::LanesExhausted { max: map.geometry.max_lanes });
        }
        let start = map.geometry.lane_offset(lane) as u64;
        let len = map.geometry.lane_stride() as u64;
        check_shm_capacity(len)?;
        allocate(&map.name, &map.file, start, len)?;
        let desc = map.descriptor_ptr(lane);
        let start_ticks = if owner_pid == 0 { 0 } else { process_start_ticks(owner_pid).unwrap_or(0) };
        // SAFETY: the descriptor is in the header mapping (lane < max_lanes);
        // only its atomic fields are referenced.
        let (pid_w, ticks_w, state_w) = unsafe {
            let d = desc.as_ptr();
            (&(*d).owner_pid, &(*d).owner_start_ticks, &(*d).state)
        };
        // Relaxed: published by the lane_count Release below.
        pid_w.store(owner_pid, Ordering::Relaxed);
        ticks_w.store(start_ticks, Ordering::Relaxed);
        state_w.store(LaneState::Active as u32, Ordering::Relaxed);
        *lanes = lane + 1;
        // SYNC POINT: lane allocated. Release orders the file growth and the
        // descriptor writes before the count; pairs with `advertised_lanes`'s Acquire.
        header_atomic!(map, lane_count).store(lane + 1, Ordering::Release);
        Ok(lane as u16)
    }

    /// The run's only consumer, over every lane allocated so far; lanes
    /// allocated later are added with [`Consumer::add_lane`]. Every lane of
    /// the consumer shares this run's wake word.
    ///
    /// # Errors
    /// `ConsumerTaken` on a second call, or as [`Consumer::add_lane`].
    pub fn consumer(&self) -> Result<Consumer, SegmentError> {
        // Relaxed: a process-local flag; the swap alone makes it one-shot.
        if self.consumer_taken.swap(true, std::sync::atomic::Ordering::Relaxed) {
            return Err(SegmentError::ConsumerTaken { name: self.name().to_owned() });
        }
        let source: Arc<dyn LaneSource> = self.shared.clone();
        let mut c = Consumer::with_source(source);
        for lane in 0..self.lane_count() {
            c.add_lane(lane as u16)?;
        }
        Ok(c)
    }

    /// Figures for lane `lane`. Counters the producer writes are its own
    /// claims (a scribbling producer can write anything there).
    ///
    /// # Errors
    /// `NoSuchLane`.
    pub fn lane_stats(&self, lane: u16) -> Result<LaneStats, SegmentError> {
        let mem = Arc::clone(&self.shared).lane(lane)?;
        Ok(lane_stats(&mem))
    }
}

/// Reads a lane's figures (Relaxed throughout: a snapshot for display).
pub(crate) fn lane_stats(mem: &LaneMemory) -> LaneStats {
    let tail = mem.tail().load(Ordering::Relaxed);
    let head = mem.head().load(Ordering::Relaxed);
    let (pid, ticks) = (mem.owner_pid(), mem.owner_start_ticks());
    LaneStats {
        state: mem.state().unwrap_or(LaneState::Corrupt),
        owner_pid: pid,
        owner_start_ticks: ticks,
        records: mem.records().load(Ordering::Relaxed),
        bytes: mem.bytes().load(Ordering::Relaxed),
        drops: mem.drops().load(Ordering::Relaxed),
        timeouts: mem.timeouts().load(Ordering::Relaxed),
        invalid_frames: mem.invalid_frames().load(Ordering::Relaxed),
        consumed: mem.consumed().load(Ordering::Relaxed),
        fill: tail.saturating_sub(head).min(mem.capacity() as u64),
        capacity: mem.capacity() as u64,
    }
}

/// Start time of process `pid` in clock ticks since boot (`/proc/PID/stat`
/// field 22). With the pid it names a process even after the pid is reused.
///
/// # Examples
/// ```
/// let me = ringlog_ring::ring::segment::process_start_ticks(std::process::id());
/// assert!(me.is_some());
/// assert_eq!(me, ringlog_ring::ring::segment::process_start_ticks(std::process::id()));
/// ```
pub fn process_start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is parenthesized and may hold spaces or
    // parentheses: fields after it start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    // Field 3 is the first after ')', so field 22 is the 20th from there.
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
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

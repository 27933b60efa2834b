//! Segments in the real /dev/shm: create, reopen with state, validation of
//! foreign or damaged segments, the size checks, listing and unlink.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;

use ringlog_ring::{
    Batch, FullPolicy, LaneState, RunState, SHM_DIR, Segment, SegmentConfig, SegmentError, SegmentOwner,
    check_shm_capacity,
};

fn small() -> SegmentConfig {
    SegmentConfig { lane_bytes: 1 << 16, max_lanes: 8, ..Default::default() }
}

/// Unlinks on drop so a failing test leaves nothing in /dev/shm.
struct Cleanup(String);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = SegmentOwner::unlink_name(&self.0);
    }
}

fn shm_path(name: &str) -> String {
    format!("{SHM_DIR}{name}")
}

#[test]
fn create_sets_mode_0600_and_a_short_unpredictable_name() {
    let a = SegmentOwner::create(&small()).unwrap();
    let _ca = Cleanup(a.name().to_owned());
    let b = SegmentOwner::create(&small()).unwrap();
    let _cb = Cleanup(b.name().to_owned());
    assert_ne!(a.name(), b.name());
    assert!(a.name().len() <= 31, "{}", a.name());
    let meta = std::fs::metadata(shm_path(a.name())).unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777, 0o600);
}

#[test]
fn reopen_by_name_preserves_ring_state() {
    let seg = SegmentOwner::create(&SegmentConfig { run_id: "run-abc".into(), ..small() }).unwrap();
    let _c = Cleanup(seg.name().to_owned());
    let lane1 = seg.add_lane(4242).unwrap();
    assert_eq!(lane1, 1);
    {
        let mut p = Segment::open(seg.name()).unwrap().claim(1).unwrap();
        let k = p.key("loss").unwrap();
        for step in 0..10 {
            let _ = p.log_scalar1(step, k, step as f64).unwrap();
        }
    }
    drop(seg.consumer().unwrap()); // the first service's consumer
    let again = SegmentOwner::adopt(seg.name()).unwrap(); // a restarted service
    assert_eq!(again.lane_count(), 2);
    assert_eq!(again.run_id(), "run-abc");
    assert_eq!(again.run_state(), Some(RunState::Running));
    let stats = again.lane_stats(1).unwrap();
    assert_eq!((stats.records, stats.owner_pid, stats.state), (11, 4242, LaneState::Active));
    // A 32-byte key definition ("loss" is stored inline) and ten 48-byte scalars.
    assert_eq!(stats.fill, 32 + 48 * 10);
    // A lane is claimed once: no second producer, in this process or another.
    let e = Segment::open(again.name()).unwrap().claim(1).err().unwrap();
    assert!(matches!(e, SegmentError::Claim { source: ringlog_ring::ProduceError::LaneTaken { lane: 1 }, .. }), "{e}");
    let mut c = again.consumer().unwrap();
    let mut batch = Batch::new(1 << 16);
    assert_eq!(c.drain(&mut batch), 11);
    assert_eq!(batch.frames().last().unwrap().seq(), 10);
    again.set_run_state(RunState::Finished);
    assert_eq!(seg.run_state(), Some(RunState::Finished));
}

#[test]
fn open_rejects_foreign_and_damaged_segments() {
    // Not ours at all.
    let name = format!("/ringlog-test-{}", std::process::id());
    let _c = Cleanup(name.clone());
    std::fs::write(shm_path(&name), vec![0x5a; 8192]).unwrap();
    assert!(matches!(Segment::open(&name), Err(SegmentError::BadMagic { .. })));

    let seg = SegmentOwner::create(&small()).unwrap();
    let _c2 = Cleanup(seg.name().to_owned());
    let file = OpenOptions::new().read(true).write(true).open(shm_path(seg.name())).unwrap();
    // Layout version (offset 8).
    file.write_all_at(&99u32.to_le_bytes(), 8).unwrap();
    let e = Segment::open(seg.name()).err().unwrap();
    assert!(matches!(e, SegmentError::LayoutVersion { found: 99, .. }), "{e}");
    file.write_all_at(&ringlog_ring::ring::layout::LAYOUT_VERSION.to_le_bytes(), 8).unwrap();
    // Record format version (offset 12).
    file.write_all_at(&7u32.to_le_bytes(), 12).unwrap();
    let e = Segment::open(seg.name()).err().unwrap();
    assert!(matches!(e, SegmentError::RecordFormatVersion { found: 7, .. }), "{e}");
    assert!(e.to_string().contains("matching ringlog versions"));
    file.write_all_at(&1u32.to_le_bytes(), 12).unwrap();
    // Lane size not a power of two (offset 24).
    file.write_all_at(&5000u64.to_le_bytes(), 24).unwrap();
    assert!(matches!(Segment::open(seg.name()), Err(SegmentError::Corrupt { .. })));
    file.write_all_at(&(1u64 << 16).to_le_bytes(), 24).unwrap();
    assert!(Segment::open(seg.name()).is_ok());
    // Truncated below its lanes.
    file.set_len(8192).unwrap();
    assert!(matches!(SegmentOwner::adopt(seg.name()), Err(SegmentError::Truncated { .. })));
    // A producer's claim checks the file before mapping: an error, not SIGBUS.
    let view = Segment::open(seg.name()).unwrap();
    assert!(matches!(view.claim(0), Err(SegmentError::Truncated { .. })));
}

#[test]
fn missing_segment_is_not_found() {
    let e = Segment::open("/ringlog-doesnotexist0").err().unwrap();
    assert!(matches!(e, SegmentError::NotFound { .. }), "{e}");
}

#[test]
fn larger_than_dev_shm_is_a_clear_error_without_allocating() {
    let st = rustix::fs::statvfs(SHM_DIR).unwrap();
    let total = st.f_blocks * st.f_frsize;
    let lane = 1usize << 30;
    let lanes = u32::try_from(total / lane as u64 + 1).unwrap();
    let cfg = SegmentConfig { lane_bytes: lane, max_lanes: lanes.max(1), initial_lanes: lanes.max(1), ..small() };
    let e = SegmentOwner::create(&cfg).err().expect("must not fit");
    assert!(matches!(e, SegmentError::ShmTooSmall { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("--shm-size") && msg.contains(&total.to_string()), "{msg}");
    assert!(matches!(check_shm_capacity(total + 1), Err(SegmentError::ShmTooSmall { .. })));
}

#[test]
fn invalid_geometry_is_refused() {
    for bytes in [0usize, 1000, 4097, 1 << 31] {
        let e = SegmentOwner::create(&SegmentConfig { lane_bytes: bytes, ..small() }).err().unwrap();
        assert!(matches!(e, SegmentError::InvalidLaneBytes(_)), "{e}");
    }
    let e = SegmentOwner::create(&SegmentConfig { max_lanes: 0, ..small() }).err().unwrap();
    assert!(matches!(e, SegmentError::InvalidMaxLanes(0)));
}

#[test]
fn lanes_run_out_with_a_clear_error() {
    let seg = SegmentOwner::create(&SegmentConfig { max_lanes: 2, lane_bytes: 4096, ..small() }).unwrap();
    let _c = Cleanup(seg.name().to_owned());
    assert_eq!(seg.add_lane(1).unwrap(), 1);
    assert!(matches!(seg.add_lane(1), Err(SegmentError::LanesExhausted { max: 2 })));
    let view = Segment::open(seg.name()).unwrap();
    assert!(matches!(view.claim(2), Err(SegmentError::NoSuchLane { lane: 2, count: 2 })));
}

#[test]
fn policy_travels_in_the_header() {
    let seg =
        SegmentOwner::create(&SegmentConfig { policy: FullPolicy::DropNewest, lane_bytes: 4096, ..small() }).unwrap();
    let _c = Cleanup(seg.name().to_owned());
    let again = Segment::open(seg.name()).unwrap();
    assert_eq!(again.geometry().policy, FullPolicy::DropNewest);
    let mut p = again.claim(0).unwrap();
    for step in 0..200 {
        let _ = p.log_scalar1(step, ringlog_ring::KeyId(0), 0.0).unwrap();
    }
    assert_eq!(seg.lane_stats(0).unwrap().drops, 200 - 4096 / 48);
}

#[test]
fn list_shows_own_segments_and_unlink_removes_them() {
    let seg = SegmentOwner::create(&SegmentConfig { run_id: "listed".into(), ..small() }).unwrap();
    let name = seg.name().to_owned();
    let _c = Cleanup(name.clone());
    let listed = SegmentOwner::list().unwrap();
    let me = listed.iter().find(|l| l.name == name).expect("listed");
    let info = me.info.as_ref().unwrap();
    assert_eq!((info.run_id.as_str(), info.lanes, info.run_state), ("listed", 1, Some(RunState::Running)));
    let view = Segment::open(seg.name()).unwrap();
    seg.unlink().unwrap();
    assert!(!SegmentOwner::list().unwrap().iter().any(|l| l.name == name));
    assert!(matches!(SegmentOwner::unlink_name(&name), Err(SegmentError::NotFound { .. })));
    // The mapping outlives the name.
    let mut p = view.claim(0).unwrap();
    let _ = p.log_scalar1(0, ringlog_ring::KeyId(0), 0.0).unwrap();
}

/// Writes `value` at `offset` of the segment file (what a process outside the
/// trust model, or a bug in the service, could leave there).
fn poke(name: &str, offset: u64, value: &[u8]) {
    let file = OpenOptions::new().read(true).write(true).open(shm_path(name)).unwrap();
    file.write_all_at(value, offset).unwrap();
}

#[test]
fn a_misaligned_head_closes_the_lane_instead_of_corrupting_it() {
    let seg = SegmentOwner::create(&SegmentConfig { lane_bytes: 4096, policy: FullPolicy::Error, ..small() }).unwrap();
    let _c = Cleanup(seg.name().to_owned());
    let mut p = Segment::open(seg.name()).unwrap().claim(0).unwrap();
    let k = p.key("k").unwrap();
    while p.log_scalar1(0, k, 0.0).is_ok() {}
    // Lane 0's `head` is the first word of the descriptor's second cache line.
    let head_at = (ringlog_ring::ring::layout::SEGMENT_HEADER_LEN + 64) as u64;
    for bad in [13u64, 1 << 40] {
        poke(seg.name(), head_at, &bad.to_le_bytes());
        let e = p.log_scalar1(1, k, 0.0).err().unwrap();
        assert!(matches!(e, ringlog_ring::ProduceError::LaneCorrupt { lane: 0, .. }), "{e}");
    }
}

#[cfg(feature = "test-hooks")]
#[test]
fn adoption_after_a_service_killed_inside_release_keeps_the_lane_healthy() {
    // The first service stores its counters, then dies before storing `head`.
    // The next one must take its position from the ring, not from the counters.
    let seg = SegmentOwner::create(&small()).unwrap();
    let _c = Cleanup(seg.name().to_owned());
    let mut p = Segment::open(seg.name()).unwrap().claim(0).unwrap();
    let k = p.key("k").unwrap();
    for step in 0..10 {
        let _ = p.log_scalar1(step, k, 0.0).unwrap();
    }
    let mut batch = Batch::new(1 << 16);
    {
        let mut c = seg.consumer().unwrap();
        assert_eq!(c.read_batch(&mut batch), 11);
        c.stop_inside_release();
        c.release();
    }
    for step in 10..20 {
        let _ = p.log_scalar1(step, k, 0.0).unwrap();
    }
    let adopted = SegmentOwner::adopt(seg.name()).unwrap();
    let mut c = adopted.consumer().unwrap();
    c.drain(&mut batch);
    assert!(batch.errors().is_empty(), "healthy lane reported corrupt: {:?}", batch.errors());
    // The unreleased frames come again (the run log drops them as duplicates), then the rest.
    let seqs: Vec<u64> = batch.frames().map(|f| f.seq()).collect();
    assert_eq!(seqs, (0..21).collect::<Vec<_>>());
    assert_eq!(adopted.lane_stats(0).unwrap().state, LaneState::Active);
}

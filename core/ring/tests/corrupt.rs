//! Bad bytes in a lane — what a buggy C producer scribbling on its own lane
//! would leave — give errors and counters, never a panic, and never affect
//! other lanes or frames committed before the damage.
//!
//! The damage is done through the segment's file in /dev/shm (`pwrite`), the
//! same memory the mappings see.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;

use proptest::prelude::*;
use ringlog_ring::{
    Batch, FrameError, History, Item, KeyId, LaneState, RecordRef, SHM_DIR, Segment, SegmentConfig, SegmentOwner, Value,
};

struct Fixture {
    seg: SegmentOwner,
    file: File,
    lane0: u64,
    /// (ring offset, frame length) of every frame written to lane 0.
    frames: Vec<(usize, usize)>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.seg.unlink();
    }
}

/// A segment with two lanes; lane 0 holds `n` mixed frames, lane 1 holds 3 scalars.
fn fixture(n: usize) -> Fixture {
    let seg = SegmentOwner::create(&SegmentConfig {
        lane_bytes: 1 << 14,
        max_lanes: 4,
        initial_lanes: 2,
        ..Default::default()
    })
    .unwrap();
    let producer_view = Segment::open(seg.name()).unwrap();
    let mut p = producer_view.claim(0).unwrap();
    let mut frames = Vec::new();
    let mut pos = 0usize;
    let tail = |seg: &SegmentOwner| seg.lane_stats(0).unwrap().fill as usize;
    for i in 0..n {
        match i % 3 {
            0 => {
                let _ = p.log_scalar1(i as i64, KeyId(0), i as f64).unwrap();
            }
            1 => {
                let _ = p.log_scalars(i as i64, &[(KeyId(0), 1.0), (KeyId(1), 2.0), (KeyId(2), 3.0)]).unwrap();
            }
            _ => {
                let items = vec![Item { key: 0, value: Value::Str(format!("s{i}")) }];
                let _ = p.log(&History { ts_ns: 0, step: i as i64, items }).unwrap();
            }
        }
        let end = tail(&seg);
        frames.push((pos, end - pos));
        pos = end;
    }
    let mut p1 = producer_view.claim(1).unwrap();
    for step in 0..3 {
        let _ = p1.log_scalar1(step, KeyId(0), 7.0).unwrap();
    }
    let file = OpenOptions::new().read(true).write(true).open(format!("{SHM_DIR}{}", seg.name())).unwrap();
    // Lane 0's ring starts after its control page.
    let lane0 = (seg.geometry().data_offset + ringlog_ring::ring::layout::LANE_CONTROL_PAGE) as u64;
    Fixture { seg, file, lane0, frames }
}

impl Fixture {
    fn scribble(&self, ring_offset: usize, bytes: &[u8]) {
        self.file.write_all_at(bytes, self.lane0 + ring_offset as u64).unwrap();
    }

    fn read_byte(&self, ring_offset: usize) -> u8 {
        let mut b = [0u8];
        self.file.read_exact_at(&mut b, self.lane0 + ring_offset as u64).unwrap();
        b[0]
    }

    fn drain(&self) -> Batch {
        // A fresh consumer each time, as a restarted service would adopt the run.
        let mut c = SegmentOwner::adopt(self.seg.name()).unwrap().consumer().unwrap();
        let mut batch = Batch::new(1 << 16);
        c.drain(&mut batch);
        batch
    }
}

/// Checks invariants that hold whatever the damage.
fn check_invariants(fx: &Fixture, batch: &Batch, damaged_from: usize) {
    // Every frame handed out is valid: walking the whole archive works. (A
    // flipped kind byte can turn a History into a Summary of the same shape;
    // validation is not integrity, which is why frames carry sequence numbers
    // and the run log a CRC.)
    for f in batch.frames() {
        let shown = format!("{:?}", f.record());
        assert!(!shown.is_empty());
        if let RecordRef::History(h) = f.record() {
            let _: History = rkyv::deserialize::<_, rkyv::rancor::Error>(h).unwrap();
        }
    }
    // Frames wholly before the damage come through intact, in order.
    let intact = fx.frames.iter().take_while(|(off, len)| off + len <= damaged_from).count();
    let lane0: Vec<u64> = batch.frames().filter(|f| f.lane() == 0).map(|f| f.seq()).collect();
    assert!(lane0.len() >= intact, "lost intact frames: got {lane0:?}, {intact} intact");
    assert_eq!(&lane0[..intact], &(0..intact as u64).collect::<Vec<_>>()[..]);
    // The other lane is untouched.
    assert_eq!(batch.frames().filter(|f| f.lane() == 1).count(), 3);
    // Rejections are counted.
    let stats = fx.seg.lane_stats(0).unwrap();
    assert_eq!(stats.invalid_frames as usize, batch.errors().len());
}

#[test]
fn unknown_kind_skips_one_frame() {
    let fx = fixture(6);
    let (off, _) = fx.frames[2];
    fx.scribble(off + 4, &[200]);
    let batch = fx.drain();
    assert_eq!(batch.errors(), &[FrameError::UnknownKind { lane: 0, seq: 2, kind: 200 }]);
    assert_eq!(batch.frames().filter(|f| f.lane() == 0).count(), 5);
    check_invariants(&fx, &batch, off);
}

#[test]
fn unknown_format_skips_one_frame_with_upgrade_advice() {
    let fx = fixture(4);
    let (off, _) = fx.frames[1];
    fx.scribble(off + 5, &[9]);
    let batch = fx.drain();
    assert!(matches!(batch.errors(), [FrameError::UnsupportedFormat { format: 9, .. }]));
    assert!(batch.errors()[0].to_string().contains("upgrade"));
    check_invariants(&fx, &batch, off);
}

#[test]
fn invalid_payload_skips_one_frame() {
    let fx = fixture(6);
    // Frame 2 is a History with a string item; make the Value discriminant invalid.
    let (off, len) = fx.frames[2];
    let payload = off + 16;
    fx.scribble(payload, &[0xff; 8]);
    fx.scribble(off + len - 8, &[0x7f; 8]);
    let batch = fx.drain();
    assert!(matches!(batch.errors(), [FrameError::Invalid { seq: 2, .. }]), "{:?}", batch.errors());
    assert_eq!(batch.frames().filter(|f| f.lane() == 0).count(), 5);
    check_invariants(&fx, &batch, off);
}

#[test]
fn bad_commit_word_closes_only_that_lane() {
    let fx = fixture(6);
    let (off, _) = fx.frames[3];
    fx.scribble(off, &0x0fff_fff1u32.to_le_bytes()); // committed, absurd length
    let batch = fx.drain();
    assert!(matches!(batch.errors(), [FrameError::BadLength { lane: 0, .. }]));
    assert_eq!(fx.seg.lane_stats(0).unwrap().state, LaneState::Corrupt);
    assert_eq!(fx.seg.lane_stats(1).unwrap().state, LaneState::Active);
    check_invariants(&fx, &batch, off);
}

#[test]
fn sequence_gap_closes_the_lane() {
    let fx = fixture(5);
    let (off, _) = fx.frames[2];
    fx.scribble(off + 8, &77u64.to_le_bytes());
    let batch = fx.drain();
    assert_eq!(batch.errors(), &[FrameError::SeqGap { lane: 0, expected: 2, found: 77 }]);
    check_invariants(&fx, &batch, off);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_bit_flips_never_panic(n in 1usize..40, flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4)) {
        let fx = fixture(n);
        let written = fx.frames.last().map(|(o, l)| o + l).unwrap();
        let mut first = usize::MAX;
        for (idx, bit) in flips {
            let at = idx.index(written);
            first = first.min(at);
            let old = fx.read_byte(at);
            fx.scribble(at, &[old ^ (1 << bit)]);
        }
        let batch = fx.drain();
        check_invariants(&fx, &batch, first);
    }

    #[test]
    fn random_garbage_never_panics(n in 1usize..30, start in 0usize..4000, garbage in proptest::collection::vec(any::<u8>(), 1..600)) {
        let fx = fixture(n);
        let written = fx.frames.last().map(|(o, l)| o + l).unwrap();
        let start = start % written;
        fx.scribble(start, &garbage);
        let batch = fx.drain();
        check_invariants(&fx, &batch, start);
    }
}

//! Fuzz entry `ring_frame`: frame validation from ring bytes.
//!
//! The bytes a producer leaves in its lane are untrusted (a buggy C producer can write
//! anything there). This entry creates a real one-lane segment in `/dev/shm`, writes the
//! input over the lane's ring (and, when the first byte's low bit is set, its first 128
//! bytes over the lane's control block, which the producer owns too), and runs the
//! service's consumer over it: `Consumer::read_batch` walks commit words, checks lengths,
//! lanes and sequence numbers, and validates each payload (`schema::validate`) before
//! `FrameRef::record` views it. Nothing may panic, and every admitted frame must view.
//!
//! Shared by `fuzz/fuzz_targets/ring_frame.rs` and the seed test
//! `core/ring/tests/fuzz_seeds.rs` (included with `#[path]`, so it uses only
//! `ringlog-ring` and std).

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;

use ringlog_ring::{Batch, RecordRef, SHM_DIR, SegmentConfig, SegmentOwner};

/// Ring bytes per lane (the minimum: inputs longer than this are cut).
pub const LANE_BYTES: usize = 4096;

/// Runs one input (see the module docs); returns how many frames were admitted.
pub fn run(data: &[u8]) -> usize {
    let Some((&flags, rest)) = data.split_first() else { return 0 };
    let seg = SegmentOwner::create(&SegmentConfig { lane_bytes: LANE_BYTES, max_lanes: 2, ..Default::default() })
        .expect("create a segment in /dev/shm");
    struct Unlink<'a>(&'a SegmentOwner);
    impl Drop for Unlink<'_> {
        fn drop(&mut self) {
            let _ = self.0.unlink();
        }
    }
    let _unlink = Unlink(&seg);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("{SHM_DIR}{}", seg.name()))
        .expect("open the segment file");
    let control = seg.geometry().data_offset as u64;
    let ring = control + ringlog_ring::ring::layout::LANE_CONTROL_PAGE as u64;
    let rest = if flags & 1 == 1 {
        let (head, tail) = rest.split_at(rest.len().min(ringlog_ring::ring::layout::LANE_CONTROL_LEN));
        file.write_all_at(head, control).expect("write the control block");
        tail
    } else {
        rest
    };
    file.write_all_at(&rest[..rest.len().min(LANE_BYTES)], ring).expect("write the ring");

    let mut consumer = seg.consumer().expect("the only consumer");
    if flags & 2 == 2 {
        // The lane's producer is gone: read what is committed, then close.
        consumer.abandon_lane(0);
    }
    let mut batch = Batch::new(LANE_BYTES / 2);
    let mut admitted = 0;
    for _ in 0..4 {
        let n = consumer.read_batch(&mut batch);
        assert_eq!(n, batch.frames().len());
        admitted += n;
        let mut last_seq = None;
        for f in batch.frames() {
            assert_eq!(f.lane(), 0, "a frame admitted from lane 0 says lane {}", f.lane());
            if let Some(prev) = last_seq {
                assert!(f.seq() > prev, "sequence numbers go backwards: {prev} then {}", f.seq());
            }
            last_seq = Some(f.seq());
            assert_eq!(f.frame_bytes().len(), ringlog_ring::ring::frame::FRAME_HEADER_LEN + f.payload().len());
            // Viewing and printing walks every archived field.
            let rec = f.record();
            let _ = format!("{rec:?}");
            if let RecordRef::KeyDef(k) = rec {
                let _ = k.name.as_str().len();
            }
        }
        for e in batch.errors() {
            let _ = e.to_string();
        }
        consumer.release();
        if n == 0 && batch.errors().is_empty() {
            break;
        }
    }
    let stats = seg.lane_stats(0).expect("lane 0");
    assert!(stats.fill <= stats.capacity);
    admitted
}

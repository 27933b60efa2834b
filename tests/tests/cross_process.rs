//! Real producer processes (fork/exec of `ringlog-test-producer`) writing into
//! a segment in /dev/shm while this process consumes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use ringlog_ring::{Batch, LaneState, RecordRef, SegmentConfig, SegmentOwner};
use ringlog_tests::wait_bounded;

fn producer_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ringlog-test-producer")
}

const RECORDS: i64 = 50_000;

struct Cleanup<'a>(&'a SegmentOwner);
impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self.0.unlink();
    }
}

/// Steps of the Scalar1 records in `batch` for `lane`.
fn steps(batch: &Batch, lane: u16) -> impl Iterator<Item = i64> + '_ {
    batch.frames().filter(move |f| f.lane() == lane).filter_map(|f| match f.record() {
        RecordRef::Scalar1(s) => Some(s.step.to_native()),
        _ => None,
    })
}

#[test]
fn four_producer_processes_deliver_exact_counts_in_order() {
    let seg =
        SegmentOwner::create(&SegmentConfig { lane_bytes: 1 << 16, initial_lanes: 4, ..Default::default() }).unwrap();
    let _c = Cleanup(&seg);
    let mut children: Vec<_> = (0..4)
        .map(|lane| {
            Command::new(producer_bin())
                .args([seg.name(), &lane.to_string(), &RECORDS.to_string()])
                .spawn()
                .expect("spawn producer")
        })
        .collect();
    let mut consumer = seg.consumer().unwrap();
    let mut batch = Batch::new(1 << 18);
    let mut next = [0i64; 4];
    let mut running = children.len();
    while running > 0 || consumer.has_pending() {
        consumer.wait(Duration::from_millis(20));
        consumer.drain(&mut batch);
        assert!(batch.errors().is_empty(), "{:?}", batch.errors());
        for lane in 0..4u16 {
            for step in steps(&batch, lane) {
                assert_eq!(step, next[lane as usize], "lane {lane} out of order");
                next[lane as usize] += 1;
            }
        }
        running = children.iter_mut().map(|c| c.try_wait().unwrap().is_none() as usize).sum();
    }
    for (i, child) in children.iter_mut().enumerate() {
        assert!(wait_bounded(child, Duration::from_secs(60), "producer").success(), "producer {i}");
    }
    consumer.drain(&mut batch);
    assert_eq!(next, [RECORDS; 4]);
    for lane in 0..4 {
        let s = seg.lane_stats(lane).unwrap();
        assert_eq!((s.records, s.invalid_frames, s.drops, s.timeouts), (RECORDS as u64 + 1, 0, 0, 0));
    }
}

#[test]
fn producer_killed_between_claim_and_commit_loses_only_the_open_frame() {
    let seg =
        SegmentOwner::create(&SegmentConfig { lane_bytes: 1 << 16, initial_lanes: 2, ..Default::default() }).unwrap();
    let _c = Cleanup(&seg);
    // Lane 0: sequence 0 is the key definition, 1..=100 are steps 0..99; the
    // child pauses holding the claim for sequence 101 (step 100).
    let mut victim = Command::new(producer_bin())
        .args([seg.name(), "0", "1000", "101"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn producer");
    let mut line = String::new();
    BufReader::new(victim.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "paused", "child did not reach the hook");
    victim.kill().unwrap();
    let status = wait_bounded(&mut victim, Duration::from_secs(30), "killed producer");
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGKILL));

    // Lane 1: a healthy producer in another process.
    let mut healthy = Command::new(producer_bin()).args([seg.name(), "1", "500"]).spawn().unwrap();
    assert!(wait_bounded(&mut healthy, Duration::from_secs(60), "producer").success());

    let mut consumer = seg.consumer().unwrap();
    assert!(consumer.abandon_lane(0));
    let mut batch = Batch::new(1 << 18);
    consumer.drain(&mut batch);
    assert!(batch.errors().is_empty(), "{:?}", batch.errors());
    assert_eq!(steps(&batch, 0).collect::<Vec<_>>(), (0..100).collect::<Vec<_>>());
    assert_eq!(steps(&batch, 1).count(), 500);
    assert_eq!(seg.lane_stats(0).unwrap().state, LaneState::Abandoned);
    assert_eq!(seg.lane_stats(1).unwrap().state, LaneState::Active);
    // Lane 0 is finished: nothing more will be read from it.
    consumer.detach_lane(1);
    consumer.drain(&mut batch);
    assert!(consumer.all_closed());
}

#[test]
fn a_lane_has_one_producer_across_processes() {
    // Two processes asked to produce on the same lane: the first claims it,
    // the second is refused (a compare-and-swap on the lane's claim word in
    // shared memory), so no two processes ever write one lane.
    let seg = SegmentOwner::create(&SegmentConfig { lane_bytes: 1 << 16, ..Default::default() }).unwrap();
    let _c = Cleanup(&seg);
    let mut first = Command::new(producer_bin()).args([seg.name(), "0", "10"]).spawn().unwrap();
    assert!(wait_bounded(&mut first, Duration::from_secs(60), "producer").success());
    let second = Command::new(producer_bin()).args([seg.name(), "0", "10"]).stderr(Stdio::piped()).output().unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("already has its producer"), "{stderr}");
    let mut consumer = seg.consumer().unwrap();
    let mut batch = Batch::new(1 << 16);
    consumer.drain(&mut batch);
    assert!(batch.errors().is_empty(), "{:?}", batch.errors());
    assert_eq!(batch.frames().map(|f| f.seq()).collect::<Vec<_>>(), (0..11).collect::<Vec<_>>());
}

//! Lane behaviour over heap memory: smoke, capacity, wrap and padding,
//! policies, many lanes, and a threaded stream.

use std::time::{Duration, Instant};

use ringlog_ring::{
    Batch, FullPolicy, HeapRun, KeyId, LaneState, Logged, ProduceError, Producer, RecordKind, RecordRef,
};

const COUNT: i64 = if cfg!(miri) { 200 } else { 200_000 };

/// A heap run of one lane (lane 0).
fn lane(capacity: usize) -> HeapRun {
    HeapRun::new(capacity, 1).expect("valid capacity")
}

/// Collects every Scalar1 (step, value) a drain yields.
fn scalars(batch: &Batch) -> Vec<(i64, f64)> {
    batch
        .frames()
        .filter_map(|f| match f.record() {
            RecordRef::Scalar1(s) => Some((s.step.to_native(), s.value.to_native())),
            _ => None,
        })
        .collect()
}

#[test]
fn smoke() {
    let mem = lane(4096);
    let mut p = mem.claim(0, FullPolicy::default()).unwrap();
    let loss = p.key("train/loss").unwrap();
    let acc = p.key("train/acc").unwrap();
    assert_ne!(loss, acc);
    assert_eq!(p.log_scalar1(1, loss, 0.5).unwrap(), Logged::Written);
    assert_eq!(p.log_scalars(2, &[(loss, 0.4), (acc, 0.9)]).unwrap(), Logged::Written);
    let mut c = mem.consumer().unwrap();
    let mut batch = Batch::new(4096);
    assert_eq!(c.drain(&mut batch), 4);
    let kinds: Vec<_> = batch.frames().map(|f| f.kind()).collect();
    assert_eq!(kinds, [RecordKind::KeyDef, RecordKind::KeyDef, RecordKind::Scalar1, RecordKind::Scalars]);
    let seqs: Vec<_> = batch.frames().map(|f| f.seq()).collect();
    assert_eq!(seqs, [0, 1, 2, 3]);
    match batch.frames().next().unwrap().record() {
        RecordRef::KeyDef(k) => assert_eq!(k.name.as_str(), "train/loss"),
        other => panic!("{other:?}"),
    }
    match batch.frames().nth(3).unwrap().record() {
        RecordRef::Scalars(s) => {
            assert_eq!(s.step, 2);
            assert_eq!(s.items.len(), 2);
            assert_eq!(s.items[1].value, 0.9);
            assert_eq!(s.items[1].key, acc.0);
        }
        other => panic!("{other:?}"),
    }
    // A scalar1 frame is 48 bytes with its header.
    assert_eq!(batch.frames().nth(2).unwrap().header().frame_len(), 48);
}

#[test]
fn every_record_kind_round_trips() {
    use ringlog_ring::*;
    let mem = HeapRun::new(1 << 16, 6).unwrap();
    let mut p = mem.claim(5, FullPolicy::default()).unwrap();
    let k = p.key("x").unwrap().0;
    let items = vec![
        Item { key: k, value: Value::F64(1.5) },
        Item { key: k, value: Value::I64(-7) },
        Item { key: k, value: Value::Bool(true) },
        Item { key: k, value: Value::Str("hello".into()) },
        Item { key: k, value: Value::F32Array(vec![1.0, 2.0, 3.0]) },
        Item { key: k, value: Value::Json("{\"a\":1}".into()) },
    ];
    let _ = p.log(&History { ts_ns: 1, step: 3, items: items.clone() }).unwrap();
    let _ = p.log(&Summary { ts_ns: 1, items: items.clone() }).unwrap();
    let _ = p.log(&Config { ts_ns: 1, items: items.clone() }).unwrap();
    let _ = p.log(&OutputLine { ts_ns: 1, stream: Stream::Stderr, line: "epoch 1".into() }).unwrap();
    let _ = p.log(&SystemStats { ts_ns: 1, items: items.clone() }).unwrap();
    let _ = p.log(&Alert { ts_ns: 1, level: AlertLevel::Warn, title: "t".into(), text: "b".into() }).unwrap();
    let _ = p.log(&Exit { ts_ns: 1, exit_code: 3, reserved: 0 }).unwrap();
    let mut c = mem.consumer().unwrap();
    let mut batch = Batch::new(1 << 16);
    assert_eq!(c.drain(&mut batch), 8);
    assert!(batch.errors().is_empty());
    let mut it = batch.frames().skip(1);
    match it.next().unwrap().record() {
        RecordRef::History(h) => {
            let back: History = rkyv::deserialize::<_, rkyv::rancor::Error>(h).unwrap();
            assert_eq!(back.items, items);
        }
        other => panic!("{other:?}"),
    }
    let kinds: Vec<_> = it.map(|f| f.kind()).collect();
    assert_eq!(
        kinds,
        [
            RecordKind::Summary,
            RecordKind::Config,
            RecordKind::Output,
            RecordKind::Stats,
            RecordKind::Alert,
            RecordKind::Exit
        ]
    );
}

#[test]
fn capacity_error_policy_reports_full_and_writes_nothing() {
    let mem = lane(4096);
    let mut p = mem.claim(0, FullPolicy::Error).unwrap();
    let mut written = 0;
    loop {
        match p.log_scalar1(written, KeyId(0), 1.0) {
            Ok(Logged::Written) => written += 1,
            Err(ProduceError::Full) => break,
            other => panic!("{other:?}"),
        }
    }
    // 4096 / 48 = 85 frames fit; no padding needed before the first wrap.
    assert_eq!(written, 4096 / 48);
    let mut c = mem.consumer().unwrap();
    let mut batch = Batch::new(4096);
    assert_eq!(c.drain(&mut batch), written as usize);
    // Space is back: writing works again.
    assert_eq!(p.log_scalar1(written, KeyId(0), 1.0).unwrap(), Logged::Written);
}

#[test]
fn drop_newest_counts_drops() {
    let mem = lane(4096);
    let mut p = mem.claim(0, FullPolicy::DropNewest).unwrap();
    let mut dropped = 0;
    for step in 0..200 {
        if p.log_scalar1(step, KeyId(0), 0.0).unwrap() == Logged::Dropped {
            dropped += 1;
        }
    }
    assert_eq!(dropped, 200 - 4096 / 48);
    assert_eq!(p.counters().drops, dropped);
    assert_eq!(mem.lane_stats(0).unwrap().drops, dropped);
    let mut c = mem.consumer().unwrap();
    let mut batch = Batch::new(4096);
    let got = scalars({
        c.drain(&mut batch);
        &batch
    });
    // The oldest records are kept, the newest dropped.
    assert_eq!(got.first().unwrap().0, 0);
    assert_eq!(got.last().unwrap().0, 4096 / 48 - 1);
}

#[test]
fn block_policy_times_out_and_counts() {
    let mem = lane(4096);
    let mut p = mem.claim(0, FullPolicy::Block { timeout: Duration::from_millis(20) }).unwrap();
    for step in 0..(4096 / 48) {
        let _ = p.log_scalar1(step, KeyId(0), 0.0).unwrap();
    }
    match p.log_scalar1(99, KeyId(0), 0.0) {
        Err(ProduceError::Timeout(t)) => assert_eq!(t, Duration::from_millis(20)),
        other => panic!("{other:?}"),
    }
    assert_eq!(p.counters().timeouts, 1);
    assert_eq!(mem.lane_stats(0).unwrap().timeouts, 1);
}

#[test]
fn blocked_producer_resumes_when_consumer_drains() {
    let mem = lane(4096);
    let mut p = mem.claim(0, FullPolicy::Block { timeout: Duration::from_secs(30) }).unwrap();
    // About 85 frames fill the ring: under miri (where a blocked producer's waiting is slow
    // to interpret) 300 still fill it three times over.
    const N: usize = if cfg!(miri) { 300 } else { 1000 };
    let t = std::thread::spawn(move || {
        for step in 0..N as i64 {
            let _ = p.log_scalar1(step, KeyId(0), step as f64).unwrap();
        }
    });
    let mut c = mem.consumer().unwrap();
    let mut batch = Batch::new(4096);
    let mut got = Vec::new();
    while got.len() < N {
        assert!(c.wait(Duration::from_secs(30)), "producer stalled");
        c.drain(&mut batch);
        got.extend(scalars(&batch));
    }
    t.join().unwrap();
    assert!(got.iter().enumerate().all(|(i, &(s, v))| s == i as i64 && v == i as f64));
}

#[test]
fn wrap_inserts_padding_and_never_splits_frames() {
    let mem = lane(4096);
    let mut p = mem.claim(0, FullPolicy::Error).unwrap();
    let mut c = mem.consumer().unwrap();
    let mut batch = Batch::new(4096);
    let k = p.key("k").unwrap();
    c.drain(&mut batch);
    // Mixed sizes: 48-byte scalar1 and 16 + 8*16 + 24 = 168 -> 176-byte scalars.
    let eight: Vec<_> = (0..8).map(|i| (k, i as f64)).collect();
    let mut expect = Vec::new();
    for round in 0..500i64 {
        if round % 3 == 0 {
            let _ = p.log_scalars(round, &eight).unwrap();
        } else {
            let _ = p.log_scalar1(round, k, round as f64).unwrap();
        }
        expect.push(round);
        if round % 7 == 6 {
            c.drain(&mut batch);
            assert!(batch.errors().is_empty());
            let got: Vec<i64> = batch
                .frames()
                .map(|f| match f.record() {
                    RecordRef::Scalar1(s) => s.step.to_native(),
                    RecordRef::Scalars(s) => s.step.to_native(),
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(got, expect);
            expect.clear();
        }
    }
    // We went around the 4 KiB ring many times.
    assert!(mem.lane_stats(0).unwrap().bytes > 8 * 4096);
}

#[test]
fn too_large_record_is_refused() {
    let mem = lane(4096);
    let mut p = mem.claim(0, FullPolicy::default()).unwrap();
    let big = ringlog_ring::OutputLine { ts_ns: 0, stream: ringlog_ring::Stream::Stdout, line: "x".repeat(5000) };
    assert!(matches!(p.log(&big), Err(ProduceError::TooLarge { .. })));
    // The lane still works.
    let small = ringlog_ring::OutputLine { ts_ns: 0, stream: ringlog_ring::Stream::Stdout, line: "ok".into() };
    assert_eq!(p.log(&small).unwrap(), Logged::Written);
}

#[test]
fn invalid_keys_are_refused() {
    let run = lane(4096);
    let mut p = run.claim(0, FullPolicy::default()).unwrap();
    assert!(matches!(p.key(""), Err(ProduceError::InvalidKey(_))));
    assert!(matches!(p.key("a\0b"), Err(ProduceError::InvalidKey(_))));
    assert!(matches!(p.key(&"k".repeat(257)), Err(ProduceError::InvalidKey(_))));
}

#[test]
fn many_lanes_drain_in_one_pass() {
    const LANES: u16 = if cfg!(miri) { 4 } else { 32 };
    let run = HeapRun::new(1 << 14, LANES).unwrap();
    let mut c = run.consumer().unwrap();
    let mut producers: Vec<Producer> = (0..LANES).map(|l| run.claim(l, FullPolicy::Error).unwrap()).collect();
    for (i, p) in producers.iter_mut().enumerate() {
        for step in 0..=(i as i64) {
            let _ = p.log_scalar1(step, KeyId(0), i as f64).unwrap();
        }
    }
    let mut batch = Batch::new(1 << 20);
    let n = c.drain(&mut batch);
    assert_eq!(n, (1..=LANES as usize).sum::<usize>());
    for lane_id in 0..LANES {
        let per_lane: Vec<u64> = batch.frames().filter(|f| f.lane() == lane_id).map(|f| f.seq()).collect();
        assert_eq!(per_lane, (0..=u64::from(lane_id)).collect::<Vec<_>>());
    }
}

#[test]
fn threaded_stream_keeps_order() {
    let mem = lane(1 << 16);
    let mut p = mem.claim(0, FullPolicy::Block { timeout: Duration::from_secs(60) }).unwrap();
    let t = std::thread::spawn(move || {
        for step in 0..COUNT {
            let _ = p.log_scalar1(step, KeyId(1), -(step as f64)).unwrap();
        }
    });
    let mut c = mem.consumer().unwrap();
    let mut batch = Batch::new(1 << 14);
    let mut next = 0;
    while next < COUNT {
        assert!(c.wait(Duration::from_secs(60)), "no data for 60 s");
        c.drain(&mut batch);
        assert!(batch.errors().is_empty());
        for (step, value) in scalars(&batch) {
            assert_eq!((step, value), (next, -(next as f64)));
            next += 1;
        }
    }
    t.join().unwrap();
}

#[test]
fn abandoned_lane_keeps_committed_frames_and_closes() {
    let mem = lane(4096);
    let mut p = mem.claim(0, FullPolicy::Block { timeout: Duration::from_millis(10) }).unwrap();
    for step in 0..3 {
        let _ = p.log_scalar1(step, KeyId(0), 0.0).unwrap();
    }
    let mut c = mem.consumer().unwrap();
    assert!(c.abandon_lane(0));
    assert_eq!(mem.lane_stats(0).unwrap().state, LaneState::Abandoned);
    let mut batch = Batch::new(4096);
    assert_eq!(c.drain(&mut batch), 3);
    assert!(c.all_closed());
    // The producer learns on its slow path that the lane is closed.
    let err = loop {
        match p.log_scalar1(9, KeyId(0), 0.0) {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert!(matches!(err, ProduceError::LaneClosed { state: LaneState::Abandoned, .. }), "{err}");
}

#[test]
fn consumer_restart_resumes_from_released_position() {
    let mem = lane(4096);
    let mut p = mem.claim(0, FullPolicy::Error).unwrap();
    for step in 0..10 {
        let _ = p.log_scalar1(step, KeyId(0), 0.0).unwrap();
    }
    let mut batch = Batch::new(4096);
    {
        let mut c = mem.consumer().unwrap();
        c.drain(&mut batch);
        for step in 10..15 {
            let _ = p.log_scalar1(step, KeyId(0), 0.0).unwrap();
        }
        // Read but never released: a consumer crash before its write finished.
        assert_eq!(c.read_batch(&mut batch), 5);
    }
    // SAFETY: the first consumer was dropped at the end of the block above.
    let mut c = unsafe { mem.replace_consumer() };
    assert_eq!(c.drain(&mut batch), 5);
    let steps: Vec<i64> = scalars(&batch).into_iter().map(|(s, _)| s).collect();
    assert_eq!(steps, (10..15).collect::<Vec<_>>());
}

#[test]
fn general_records_filling_the_ring_exactly_never_clobber_unread_frames() {
    // Records of every size up to a few hundred bytes, written until the lane
    // is full, then drained: every record that was accepted must come out
    // intact and in order (a frame that ends exactly where unread data starts
    // must not touch that data).
    for size in (1..400).step_by(if cfg!(miri) { 131 } else { 7 }) {
        let mem = lane(4096);
        let mut p = mem.claim(0, FullPolicy::Error).unwrap();
        let mut c = mem.consumer().unwrap();
        let mut batch = Batch::new(1 << 16);
        let mut written = Vec::new();
        for round in 0..6 {
            let mut n = 0usize;
            loop {
                let line = format!("{round}:{n}:{}", "x".repeat(size + n % 5));
                match p.log(&ringlog_ring::OutputLine {
                    ts_ns: 0,
                    stream: ringlog_ring::Stream::Stdout,
                    line: line.clone(),
                }) {
                    Ok(Logged::Written) => written.push(line),
                    Err(ProduceError::Full) => break,
                    other => panic!("size {size}: {other:?}"),
                }
                n += 1;
            }
            // Drain only part of the time, so the ring wraps at many offsets.
            if round % 2 == 1 {
                c.drain(&mut batch);
                assert!(batch.errors().is_empty(), "size {size}: {:?}", batch.errors());
                let got: Vec<String> = batch
                    .frames()
                    .map(|f| match f.record() {
                        RecordRef::Output(o) => o.line.as_str().to_owned(),
                        other => panic!("{other:?}"),
                    })
                    .collect();
                assert_eq!(got, written, "size {size}");
                written.clear();
            }
        }
    }
}

#[test]
fn a_lane_has_one_producer() {
    // A second claim of a lane is refused, from this thread or from threads
    // racing for it: exactly one of them writes the lane (miri runs this).
    let run = std::sync::Arc::new(HeapRun::new(4096, 2).unwrap());
    let p0 = run.claim(0, FullPolicy::Error).unwrap();
    assert!(matches!(run.claim(0, FullPolicy::Error), Err(ProduceError::LaneTaken { lane: 0 })));
    drop(p0);
    // Dropping the producer does not free the lane: claimed once, ever.
    assert!(matches!(run.claim(0, FullPolicy::Error), Err(ProduceError::LaneTaken { lane: 0 })));
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let run = run.clone();
            std::thread::spawn(move || run.claim(1, FullPolicy::Error).is_ok())
        })
        .collect();
    let winners = racers.into_iter().map(|t| t.join().unwrap()).filter(|&w| w).count();
    assert_eq!(winners, 1);
    // One consumer per run, too.
    let _c = run.consumer().unwrap();
    assert!(run.consumer().is_err());
}

#[test]
fn a_reopened_lane_after_a_refused_padded_record_is_not_wedged() {
    // A record that needed a padding frame and was then refused used to leave
    // the published tail behind the consumer's head: the next producer of the
    // lane underflowed (a panic, or `Full` forever).
    let run = lane(4096);
    let mut c = run.consumer().unwrap();
    let mut batch = Batch::new(1 << 16);
    {
        let mut p = run.claim(0, FullPolicy::Error).unwrap();
        let k = p.key("k").unwrap();
        // Fill to 16 bytes before the ring's end: 32 (key) + 84 * 48 = 4064.
        for step in 0..84 {
            assert_eq!(p.log_scalar1(step, k, 0.0).unwrap(), Logged::Written);
        }
        c.drain(&mut batch);
        // Needs the padding, then is too large: refused after the padding.
        let big = ringlog_ring::OutputLine { ts_ns: 0, stream: ringlog_ring::Stream::Stdout, line: "x".repeat(2000) };
        assert!(matches!(p.log(&big), Err(ProduceError::TooLarge { .. })));
        c.drain(&mut batch); // the consumer's head passes the padding
    }
    // SAFETY: the producer above was dropped.
    let mut p = unsafe { run.reclaim(0, FullPolicy::Error) }.unwrap();
    for step in 0..200 {
        assert_eq!(p.log_scalar1(step, KeyId(0), 1.0).unwrap(), Logged::Written, "step {step}");
        if step % 50 == 49 {
            c.drain(&mut batch);
            assert!(batch.errors().is_empty(), "{:?}", batch.errors());
        }
    }
}

/// A consumer that parks between records is woken for each of them. The
/// producer's notify has no fence where the kernel has `membarrier` (the
/// consumer's park runs the heavy barrier instead, ADR 5); a lost wake shows
/// as a wait that runs into its 5 s timeout. The gaps (200-500 µs) exceed the
/// consumer's ~130 µs of spinning, so it parks before most records. Fails
/// if the light notify does not wake (checked). It does not catch a park
/// without the heavy barrier (checked: 3 of 3 runs pass without it; the race
/// is a store-buffer drain, a few ns wide): that ordering rests on the
/// argument in `wakeup.rs`'s module docs, and loom models the fence path only.
#[test]
#[cfg_attr(miri, ignore = "timing: miri has no futex or membarrier")]
fn a_parked_consumer_is_woken_for_every_record() {
    const N: i64 = 300;
    let run = lane(1 << 16);
    let mut p = run.claim(0, FullPolicy::default()).unwrap();
    let k = p.key("x").unwrap();
    let mut c = run.consumer().unwrap();
    let mut batch = Batch::new(1 << 16);
    assert_eq!(c.drain(&mut batch), 1);
    let producer = std::thread::spawn(move || {
        for step in 0..N {
            std::thread::sleep(Duration::from_micros(200 + (step as u64 % 7) * 50));
            assert_eq!(p.log_scalar1(step, k, 1.0).unwrap(), Logged::Written);
        }
    });
    let mut seen = 0i64;
    while seen < N {
        let waited = Instant::now();
        c.wait(Duration::from_secs(5));
        let took = waited.elapsed();
        assert!(took < Duration::from_secs(2), "after record {seen} the consumer slept {took:?}: a wake was lost");
        seen += c.drain(&mut batch) as i64;
    }
    producer.join().unwrap();
}

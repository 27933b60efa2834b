//! The committed seed corpora of the `ring_frame` and `control_message` fuzz targets
//! (`fuzz/corpus/<target>/`), run through the targets' own entry functions
//! (`fuzz/entries/<target>.rs`, included below), so the seeds run in the test command
//! and the entries cannot rot.
//!
//! Regenerate the seeds with
//! `cargo test -p ringlog-ring --test fuzz_seeds -- --ignored write_seed_corpus`
//! (`regression-*` seeds are crash inputs the fuzzer found, copied from
//! `fuzz/artifacts/<target>/`, and are kept as they are).

#[path = "../../../fuzz/entries/ring_frame.rs"]
mod ring_frame;

#[path = "../../../fuzz/entries/control_message.rs"]
mod control_message;

use std::path::PathBuf;

fn corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target)
}

/// Runs every seed of `target` through `entry`; there must be some. Returns what the
/// entry returned per seed (how much of it was valid), by file name.
fn run_seeds(target: &str, entry: fn(&[u8]) -> usize) -> Vec<(String, usize)> {
    let dir = corpus(target);
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (the seed corpus is committed)", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 3, "{}: only {} seeds", dir.display(), seeds.len());
    seeds
        .iter()
        .map(|seed| {
            let name = seed.file_name().expect("file name").to_string_lossy().into_owned();
            (name, entry(&std::fs::read(seed).expect("read seed")))
        })
        .collect()
}

#[test]
fn ring_frame_seeds() {
    // Every written seed is a real lane: the consumer admits all of its frames (a key
    // definition and three scalars; `mixed` has two keys and four records). A
    // `regression-*` seed is an input the fuzzer found to break the entry; it must run.
    for (name, admitted) in run_seeds("ring_frame", ring_frame::run) {
        if !name.starts_with("regression-") {
            assert_eq!(admitted, if name == "mixed" { 6 } else { 4 }, "seed {name}");
        }
    }
}

#[test]
fn control_message_seeds() {
    // Every seed decodes: requests as requests, responses as responses.
    for (name, decoded) in run_seeds("control_message", control_message::run) {
        assert!(decoded >= 2, "seed {name}: {decoded} messages decoded");
    }
}

/// Lane bytes a real producer wrote: `log` runs against a fresh lane, and the ring's
/// written bytes come back (prefixed with the entry's flags byte).
fn lane_bytes(flags: u8, with_control: bool, log: impl FnOnce(&mut ringlog_ring::Producer)) -> Vec<u8> {
    use ringlog_ring::{SHM_DIR, Segment, SegmentConfig, SegmentOwner};
    use std::os::unix::fs::FileExt;
    let seg =
        SegmentOwner::create(&SegmentConfig { lane_bytes: ring_frame::LANE_BYTES, max_lanes: 2, ..Default::default() })
            .unwrap();
    let view = Segment::open(seg.name()).unwrap();
    let mut p = view.claim(0).unwrap();
    log(&mut p);
    let fill = seg.lane_stats(0).unwrap().fill as usize;
    let file = std::fs::File::open(format!("{SHM_DIR}{}", seg.name())).unwrap();
    let control = seg.geometry().data_offset as u64;
    let mut out = vec![flags];
    if with_control {
        let mut c = vec![0u8; ringlog_ring::ring::layout::LANE_CONTROL_LEN];
        file.read_exact_at(&mut c, control).unwrap();
        out.extend_from_slice(&c);
    }
    // The written frames and the 16 bytes after them (the next, empty, commit word).
    let mut ring = vec![0u8; (fill + 16).min(ring_frame::LANE_BYTES)];
    file.read_exact_at(&mut ring, control + ringlog_ring::ring::layout::LANE_CONTROL_PAGE as u64).unwrap();
    out.extend_from_slice(&ring);
    seg.unlink().unwrap();
    out
}

#[test]
#[ignore = "writes fuzz/corpus/{ring_frame,control_message}/: run by hand to regenerate the seeds"]
fn write_seed_corpus() {
    use ringlog_ring::protocol::control_message::{
        ErrorCode, FinishReport, InitRun, PROTOCOL_VERSION, Request, Response, RunReady, StatusReport, write_frame,
    };
    use ringlog_ring::{History, Item, KeyId, Summary, Value};
    let write = |target: &str, name: &str, bytes: &[u8]| {
        std::fs::create_dir_all(corpus(target)).unwrap();
        std::fs::write(corpus(target).join(name), bytes).unwrap();
    };

    let scalars = |p: &mut ringlog_ring::Producer| {
        let k = p.key("train/loss").unwrap();
        for step in 0..3 {
            let _ = p.log_scalar1(step, k, 1.0 / (step + 1) as f64).unwrap();
        }
    };
    write("ring_frame", "scalar1", &lane_bytes(0, false, scalars));
    write("ring_frame", "scalar1-control", &lane_bytes(1, true, scalars));
    write("ring_frame", "scalar1-abandoned", &lane_bytes(2, false, scalars));
    write(
        "ring_frame",
        "mixed",
        &lane_bytes(0, false, |p| {
            let (a, b) = (p.key("a").unwrap(), p.key("b/c").unwrap());
            let _ = p.log_scalars(0, &[(a, 0.5), (b, -1.0)]).unwrap();
            let items = vec![
                Item { key: a.0, value: Value::Str("text ✓".into()) },
                Item { key: b.0, value: Value::F32Array(vec![1.0, 2.5]) },
                Item { key: a.0, value: Value::I64(1 << 60) },
            ];
            let _ = p.log(&History { ts_ns: 7, step: 1, items }).unwrap();
            let _ = p.log(&Summary { ts_ns: 8, items: vec![Item { key: a.0, value: Value::Bool(true) }] }).unwrap();
            let _ = p.log_scalar1(2, KeyId(a.0), f64::NAN).unwrap();
        }),
    );

    /// The frames of `msgs`, back to back, as a connection carries them.
    fn frames<T: serde::Serialize>(msgs: &[T]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in msgs {
            write_frame(&mut out, m).unwrap();
        }
        out
    }
    let hello = Request::Hello { protocol: PROTOCOL_VERSION, client_version: "0.1.0".into() };
    let init = Request::InitRun(InitRun {
        project: "p".into(),
        name: "n".into(),
        tags: vec!["t".into()],
        config: serde_json::json!({"lr": 0.1, "layers": [1, 2], "deep": {"x": null}}),
        run_dir: "/tmp/run".into(),
        lane_bytes: 1 << 16,
        policy: "block:10000".into(),
        run_id: Some("abc123".into()),
        wandb: true,
        system_stats_s: None,
    });
    let requests = [
        hello.clone(),
        init,
        Request::AttachRun { run_id: "abc123".into() },
        Request::RegisterLane { run_id: "abc123".into(), lane: Some(3) },
        Request::FinishRun { run_id: "abc123".into(), exit_code: 0, wait_ms: 1000, committed: None },
        Request::Detach { run_id: "abc123".into(), lane: 1, committed: Some(7) },
        Request::Status,
    ];
    write("control_message", "requests", &frames(&requests));
    write("control_message", "shutdown", &frames(&[hello, Request::Shutdown]));
    let responses = [
        Response::Welcome { protocol: PROTOCOL_VERSION, service_version: "0.1.0".into(), pid: 42 },
        Response::RunReady(RunReady {
            run_id: "abc123".into(),
            segment: "/ringlog-0123456789abcdef".into(),
            lane: 0,
            run_dir: "/tmp/run".into(),
        }),
        Response::Finished(FinishReport::default()),
        Response::Ok,
        Response::Status(StatusReport::default()),
        Response::Error { code: ErrorCode::Malformed, message: "bad".into() },
    ];
    write("control_message", "responses", &frames(&responses));
}

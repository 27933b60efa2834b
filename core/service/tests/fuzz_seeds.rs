//! The committed seed corpus of the `run_log_reader` fuzz target
//! (`fuzz/corpus/run_log_reader/`), run through the target's own entry function
//! (`fuzz/entries/run_log_reader.rs`, included below), so the seeds run in the test
//! command and the entry cannot rot.
//!
//! Regenerate the seeds with
//! `cargo test -p ringlog-service --test fuzz_seeds -- --ignored write_seed_corpus`.

#[path = "../../../fuzz/entries/run_log_reader.rs"]
mod run_log_reader;

use std::path::PathBuf;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/run_log_reader")
}

#[test]
fn run_log_reader_seeds() {
    let dir = corpus();
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (the seed corpus is committed)", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 3, "{}: only {} seeds", dir.display(), seeds.len());
    for seed in seeds {
        let name = seed.file_name().expect("file name").to_string_lossy().into_owned();
        let records = run_log_reader::run(&std::fs::read(&seed).expect("read seed"));
        // Every seed but the header-only log holds records the reader hands out.
        assert_eq!(records == 0, name == "empty-v2", "seed {name}: {records} records");
    }
}

#[test]
#[ignore = "writes fuzz/corpus/run_log_reader/: run by hand to regenerate the seeds"]
fn write_seed_corpus() {
    use ringlog_ring::{Batch, HeapRun, History, Item, Value};
    use ringlog_service::{RunLogHeader, RunLogWriter};
    let out = corpus();
    std::fs::create_dir_all(&out).unwrap();
    let scratch = std::env::temp_dir().join(format!("ringlog-fuzz-seeds-{}.rlog", std::process::id()));
    // A version-2 log of what `fill` logs on two heap lanes, appended in `batches` batches.
    let log = |name: &str, cut: usize, fill: &dyn Fn(&mut ringlog_ring::Producer, u16)| {
        let _ = std::fs::remove_file(&scratch);
        let run = HeapRun::new(1 << 16, 2).unwrap();
        let mut w = RunLogWriter::create(&scratch, &RunLogHeader::new("seed")).unwrap();
        let mut c = run.consumer().unwrap();
        let mut batch = Batch::new(1 << 16);
        for lane in 0..2 {
            let mut p = run.claim(lane, Default::default()).unwrap();
            fill(&mut p, lane);
            c.drain(&mut batch);
            let _ = w.append_batch(&batch).unwrap();
        }
        w.sync().unwrap();
        drop(w);
        let mut bytes = std::fs::read(&scratch).unwrap();
        bytes.truncate(bytes.len() - cut);
        std::fs::write(out.join(name), bytes).unwrap();
    };
    let scalars = |p: &mut ringlog_ring::Producer, lane: u16| {
        let k = p.key(&format!("train/loss{lane}")).unwrap();
        for step in 0..20 {
            let _ = p.log_scalar1(step, k, 1.0 / (step + 1) as f64).unwrap();
        }
        let _ = p.log_scalars(20, &[(k, 0.5), (k, 0.25)]).unwrap();
    };
    log("scalars-v2", 0, &scalars);
    // A byte of the first block's body flipped: its checksum fails as written, and the
    // entry's checksum repair hands the damaged body to the block decoder.
    let mut flipped = std::fs::read(out.join("scalars-v2")).unwrap();
    flipped[64 + 32 + 3] ^= 0x40;
    std::fs::write(out.join("flipped-body-v2"), flipped).unwrap();
    log("torn-tail-v2", 5, &scalars);
    log("mixed-v2", 0, &|p, lane| {
        let k = p.key("phase").unwrap();
        let items = vec![
            Item { key: k.0, value: Value::Str(format!("lane {lane} ✓")) },
            Item { key: k.0, value: Value::F32Array(vec![1.0, -2.0]) },
            Item { key: k.0, value: Value::Json("{\"a\":[1,2]}".into()) },
        ];
        let _ = p.log(&History { ts_ns: 1, step: 0, items }).unwrap();
        let _ = p.log_scalar1(1, k, f64::INFINITY).unwrap();
    });
    log("empty-v2", 0, &|_, _| {});
    let _ = std::fs::remove_file(&scratch);
    // The committed version-1 fixture (the reader still reads version 1).
    std::fs::copy(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-run/run.rlog"), out.join("v1"))
        .unwrap();
}

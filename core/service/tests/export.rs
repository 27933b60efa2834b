//! Exporter tests over real run directories: a run is logged with real
//! producers on two heap lanes, drained by a real consumer and appended to a
//! real run log, then exported as JSONL, CSV, summary, runs list and tail.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use ringlog_ring::{
    Alert, AlertLevel, Batch, Consumer, Exit, HeapRun, History, Item, KeyId, OutputLine, Producer, RecordKind,
    RecordRef, Stream, Summary, Value,
};
use ringlog_service::{ExportError, KeyTable, RunLog, RunLogHeader, RunLogWriter, SummarySource, SummaryState};
use serde_json::{Value as Json, json};

/// Steps of scalar logging per lane.
const STEPS: i64 = if cfg!(miri) { 8 } else { 120 };
const LANE_A: u16 = 0;
const LANE_B: u16 = 5;

/// A unique directory in the temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("ringlog-export-test-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One logged history value: (step, lane, key name, value as exported).
type Logged = (i64, u16, String, Json);

/// Kind, lane and step of every row `tail` can return, in log order.
type TailRow = (RecordKind, u16, Option<i64>);

/// What a logged run holds, as the test expects to read it back.
#[derive(Default)]
struct Expected {
    /// Every history value, once per row it was logged in.
    values: Vec<Logged>,
    /// History rows.
    rows: usize,
    /// History and output rows, in the order each lane logged them.
    tail: Vec<TailRow>,
}

/// A run being logged: producers on lanes A and B, a consumer, and the run log.
struct Logger {
    heap: HeapRun,
    a: Producer,
    b: Producer,
    consumer: Consumer,
    batch: Batch,
    log: RunLogWriter,
    /// Fed every appended frame, as the service does.
    keys: KeyTable,
    summary: SummaryState,
    expected: Expected,
}

impl Logger {
    fn new(run_dir: &Path) -> Self {
        let heap = HeapRun::new(1 << 16, LANE_B + 1).unwrap();
        let consumer = heap.consumer().unwrap();
        let run_id = run_dir.file_name().unwrap().to_str().unwrap();
        Self {
            a: heap.claim(LANE_A, Default::default()).unwrap(),
            b: heap.claim(LANE_B, Default::default()).unwrap(),
            heap,
            consumer,
            batch: Batch::new(1 << 16),
            log: RunLogWriter::create(run_dir.join("run.rlog"), &RunLogHeader::new(&run_id[..run_id.len().min(32)]))
                .unwrap(),
            keys: KeyTable::new(),
            summary: SummaryState::new(),
            expected: Expected::default(),
        }
    }

    /// Moves everything committed into the run log, batch by batch.
    fn drain(&mut self) {
        loop {
            let n = self.consumer.read_batch(&mut self.batch);
            assert!(self.batch.errors().is_empty(), "{:?}", self.batch.errors());
            if n == 0 {
                break;
            }
            self.log.append_batch(&self.batch).unwrap();
            self.consumer.release();
            for f in self.batch.frames() {
                let rec = f.record();
                self.keys.observe(f.lane(), &rec);
                self.summary.observe(f.lane(), &rec, &self.keys);
            }
        }
    }

    fn row(&mut self, lane: u16, step: i64, kind: RecordKind, values: &[(&str, Json)]) {
        self.expected.rows += 1;
        self.expected.tail.push((kind, lane, Some(step)));
        for (k, v) in values {
            self.expected.values.push((step, lane, (*k).to_owned(), v.clone()));
        }
    }

    fn scalar1(&mut self, lane: u16, step: i64, key: (KeyId, &str), value: f64) {
        let p = if lane == LANE_A { &mut self.a } else { &mut self.b };
        assert_eq!(p.log_scalar1(step, key.0, value).unwrap(), ringlog_ring::Logged::Written);
        self.row(lane, step, RecordKind::Scalar1, &[(key.1, json!(value))]);
    }

    fn scalars(&mut self, lane: u16, step: i64, items: &[(KeyId, &str, f64)]) {
        let p = if lane == LANE_A { &mut self.a } else { &mut self.b };
        let ids: Vec<(KeyId, f64)> = items.iter().map(|&(k, _, v)| (k, v)).collect();
        assert_eq!(p.log_scalars(step, &ids).unwrap(), ringlog_ring::Logged::Written);
        let values: Vec<(&str, Json)> = items.iter().map(|&(_, n, v)| (n, json!(v))).collect();
        self.row(lane, step, RecordKind::Scalars, &values);
    }

    fn output(&mut self, lane: u16, line: &str) {
        let p = if lane == LANE_A { &mut self.a } else { &mut self.b };
        assert_eq!(
            p.log(&OutputLine { ts_ns: 7, stream: Stream::Stderr, line: line.into() }).unwrap(),
            ringlog_ring::Logged::Written
        );
        self.expected.tail.push((RecordKind::Output, lane, None));
    }
}

/// Logs a run into `run_dir`, writes its `run.json`, and returns what it holds.
///
/// Lane A defines `train/loss` (id 0), `train/acc` (1), `misc` (2); lane B
/// defines `gpu/temp` (0) and `lr` (1), so both lanes use ids 0 and 1 for
/// different keys. Then a second producer process takes lane B over and
/// defines id 0 again as `restart/metric`.
fn log_run(run_dir: &Path) -> (Expected, SummaryState) {
    let mut l = Logger::new(run_dir);
    let loss = (l.a.key("train/loss").unwrap(), "train/loss");
    let acc = (l.a.key("train/acc").unwrap(), "train/acc");
    let misc = (l.a.key("misc").unwrap(), "misc");
    let temp = (l.b.key("gpu/temp").unwrap(), "gpu/temp");
    let lr = (l.b.key("lr").unwrap(), "lr");
    assert_eq!((loss.0, acc.0, misc.0), (KeyId(0), KeyId(1), KeyId(2)));
    assert_eq!((temp.0, lr.0), (KeyId(0), KeyId(1)));

    for step in 0..STEPS {
        // Dyadic values print and parse back exactly.
        l.scalar1(LANE_A, step, loss, 10.0 - step as f64 * 0.0625);
        l.scalar1(LANE_B, step, temp, 40.0 + step as f64 * 0.5);
        if step % 4 == 0 {
            l.scalars(LANE_A, step, &[(loss.0, loss.1, step as f64 * 0.25), (acc.0, acc.1, 0.5)]);
            l.scalars(LANE_B, step, &[(temp.0, temp.1, 1.5), (lr.0, lr.1, 0.001953125)]);
        }
        if step % 10 == 0 {
            let items = vec![
                Item { key: misc.0.0, value: Value::I64(step * 1000) },
                Item { key: acc.0.0, value: Value::F64(f64::NAN) },
                Item { key: 99, value: Value::Bool(true) }, // never defined
            ];
            assert_eq!(
                l.a.log(&History { ts_ns: 1_700_000_000_500_000_000, step, items }).unwrap(),
                ringlog_ring::Logged::Written
            );
            l.row(
                LANE_A,
                step,
                RecordKind::History,
                &[("misc", json!(step * 1000)), ("train/acc", json!("NaN")), ("key#99@lane0", json!(true))],
            );
            l.output(LANE_A, &format!("step {step} done"));
        }
        if step == STEPS / 2 {
            // Explicit summary: wins over later history values of train/loss.
            let items = vec![Item { key: loss.0.0, value: Value::F64(123.0) }];
            assert_eq!(l.a.log(&Summary { ts_ns: 9, items }).unwrap(), ringlog_ring::Logged::Written);
        }
        if step % 16 == 15 {
            l.drain();
        }
    }
    let items = vec![
        Item { key: misc.0.0, value: Value::Str("a \"quoted\", string".into()) },
        Item { key: acc.0.0, value: Value::F32Array(vec![0.5, -1.25, f32::INFINITY]) },
        Item { key: loss.0.0, value: Value::Json(r#"{"nested": [1, 2.5, null]}"#.into()) },
    ];
    assert_eq!(l.a.log(&History { ts_ns: 2_000_000_000, step: STEPS, items }).unwrap(), ringlog_ring::Logged::Written);
    l.row(
        LANE_A,
        STEPS,
        RecordKind::History,
        &[
            ("misc", json!("a \"quoted\", string")),
            ("train/acc", json!([0.5, -1.25, "Infinity"])),
            ("train/loss", json!({"nested": [1, 2.5, null]})),
        ],
    );
    assert_eq!(
        l.a.log(&Alert { ts_ns: 3, level: AlertLevel::Warn, title: "t".into(), text: "x".into() }).unwrap(),
        ringlog_ring::Logged::Written
    );
    l.drain();

    // A new producer process on lane B: counters continue, key ids restart at 0.
    // SAFETY: the assignment drops the previous producer of lane B first.
    l.b = unsafe { l.heap.reclaim(LANE_B, Default::default()) }.unwrap();
    let restarted = (l.b.key("restart/metric").unwrap(), "restart/metric");
    assert_eq!(restarted.0, KeyId(0));
    for step in STEPS..STEPS + 5 {
        l.scalar1(LANE_B, step, restarted, step as f64);
    }
    l.output(LANE_B, "restarted lane done");
    assert_eq!(l.a.log(&Exit { ts_ns: 4, exit_code: 0, reserved: 0 }).unwrap(), ringlog_ring::Logged::Written);
    l.drain();
    l.log.sync().unwrap();

    let meta = json!({
        "run_id": run_dir.file_name().unwrap().to_str().unwrap(),
        "project": "proj",
        "name": "test run",
        "tags": [],
        "config": {},
        "run_dir": run_dir,
        "created_unix_ms": 1_000,
        "state": "finished",
        "exit_code": 0,
        "runtime_ms": 5,
        "records": l.log.counters().frames,
        "bytes": l.log.counters().bytes,
        "drops": 0,
        "timeouts": 0,
        "invalid_frames": 0,
        "abandoned_lanes": 0,
    });
    std::fs::write(run_dir.join("run.json"), serde_json::to_vec_pretty(&meta).unwrap()).unwrap();
    (l.expected, l.summary)
}

/// The (step, lane, key, value) triples of JSONL output, and the line count.
fn jsonl_values(out: &[u8]) -> (Vec<Logged>, usize) {
    let text = std::str::from_utf8(out).unwrap();
    let mut values = Vec::new();
    let mut lines = 0;
    for line in text.lines() {
        lines += 1;
        let Json::Object(obj) = serde_json::from_str::<Json>(line).unwrap() else { panic!("not an object: {line}") };
        let step = obj["_step"].as_i64().unwrap();
        let lane = obj["_lane"].as_u64().unwrap() as u16;
        assert!(obj["_timestamp"].as_f64().unwrap() > 0.0);
        for (k, v) in obj {
            if !k.starts_with('_') {
                values.push((step, lane, k, v));
            }
        }
    }
    (values, lines)
}

fn sorted(mut v: Vec<Logged>) -> Vec<Logged> {
    v.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    v
}

#[test]
fn jsonl_round_trip() {
    let dir = TempDir::new("jsonl");
    let (expected, _) = log_run(&dir.0);
    let mut out = Vec::new();
    let stats = ringlog_service::export_jsonl(&dir.0, &mut out, false).unwrap();
    assert!(stats.is_clean(), "{stats:?}");
    assert_eq!(stats.rows as usize, expected.rows);
    let (values, lines) = jsonl_values(&out);
    assert_eq!(lines, expected.rows);
    // Every logged (step, lane, key, value) exactly once, with the right key name.
    assert_eq!(sorted(values), sorted(expected.values));
}

#[test]
fn jsonl_with_progress_bar_writes_the_same() {
    let dir = TempDir::new("progress");
    log_run(&dir.0);
    let (mut plain, mut with_bar) = (Vec::new(), Vec::new());
    ringlog_service::export_jsonl(&dir.0, &mut plain, false).unwrap();
    ringlog_service::export_jsonl(&dir.0, &mut with_bar, true).unwrap();
    assert_eq!(plain, with_bar);
}

/// The JSONL export formats scalar lines on a second thread, in batches of 2,048 rows, and
/// writes the general path's lines (here `History` records holding strings) into the same
/// batches (`export/jsonl_pipe.rs`). Over several batches, the lines must come in log order,
/// each once, with every value. Fails if batches come back out of order, if a general-path
/// line lands in the wrong place among the scalar lines, or if a row's values are taken from
/// another row (checked with a writer thread that swaps pairs of batches, one that writes a
/// batch's general-path lines after its scalar lines, and one that shifts the values index
/// by one every 100 steps).
#[test]
fn jsonl_lines_follow_the_log_order_across_batches() {
    let steps: i64 = if cfg!(miri) { 12 } else { 3_000 };
    let dir = TempDir::new("jsonl-order");
    let mut l = Logger::new(&dir.0);
    let loss = (l.a.key("train/loss").unwrap(), "train/loss");
    let note = l.a.key("note").unwrap();
    let temp = (l.b.key("gpu/temp").unwrap(), "gpu/temp");
    let lr = (l.b.key("lr").unwrap(), "lr");
    for step in 0..steps {
        // Dyadic values print and parse back exactly.
        l.scalar1(LANE_A, step, loss, step as f64 * 0.25);
        l.scalars(LANE_B, step, &[(temp.0, temp.1, 40.0 + step as f64), (lr.0, lr.1, (step % 64) as f64 / 64.0)]);
        if step % 7 == 0 {
            let items = vec![Item { key: note.0, value: Value::Str(format!("step {step} ✓")) }];
            let history = History { ts_ns: 1_700_000_000_000_000_000, step, items };
            assert_eq!(l.a.log(&history).unwrap(), ringlog_ring::Logged::Written);
            l.row(LANE_A, step, RecordKind::History, &[("note", json!(format!("step {step} ✓")))]);
        }
        if step % 20 == 0 {
            l.drain();
        }
    }
    l.drain();
    let want: Vec<(u16, i64)> = RunLog::open(dir.0.join("run.rlog"))
        .unwrap()
        .map(|r| r.unwrap())
        .filter_map(|r| match r.record() {
            RecordRef::Scalar1(s) => Some((r.lane(), s.step.to_native())),
            RecordRef::Scalars(s) => Some((r.lane(), s.step.to_native())),
            RecordRef::History(h) => Some((r.lane(), h.step.to_native())),
            _ => None,
        })
        .collect();
    assert!(want.len() > 3 * 2_048 || cfg!(miri), "the run spans several batches: {} rows", want.len());

    let mut out = Vec::new();
    let stats = ringlog_service::export_jsonl(&dir.0, &mut out, false).unwrap();
    assert_eq!(stats.rows as usize, want.len());
    let got: Vec<(u16, i64)> = std::str::from_utf8(&out)
        .unwrap()
        .lines()
        .map(|line| {
            let obj: Json = serde_json::from_str(line).unwrap();
            (obj["_lane"].as_u64().unwrap() as u16, obj["_step"].as_i64().unwrap())
        })
        .collect();
    assert!(got == want, "the lines are not in log order");
    let (values, lines) = jsonl_values(&out);
    assert_eq!(lines, l.expected.rows);
    assert!(sorted(values) == sorted(l.expected.values), "the exported values differ from the logged ones");
}

/// The text a CSV cell holds for a JSON value.
fn cell(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn csv_header_and_rows() {
    let dir = TempDir::new("csv");
    let (expected, _) = log_run(&dir.0);
    let mut out = Vec::new();
    let stats = ringlog_service::export_csv(&dir.0, &mut out, false).unwrap();
    assert_eq!(stats.rows as usize, expected.rows);

    let mut reader = csv::Reader::from_reader(&out[..]);
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(
        header,
        [
            "_step",
            "_timestamp",
            "_lane",
            "gpu/temp",
            "key#99@lane0",
            "lr",
            "misc",
            "restart/metric",
            "train/acc",
            "train/loss"
        ]
    );
    let mut values = Vec::new();
    let mut rows = 0;
    for rec in reader.records() {
        let rec = rec.unwrap();
        assert_eq!(rec.len(), header.len());
        rows += 1;
        let step: i64 = rec[0].parse().unwrap();
        let ts: f64 = rec[1].parse().unwrap();
        assert!(ts > 0.0);
        let lane: u16 = rec[2].parse().unwrap();
        for (name, text) in header.iter().zip(rec.iter()).skip(3) {
            if !text.is_empty() {
                values.push((step, lane, name.clone(), Json::String(text.to_owned())));
            }
        }
    }
    assert_eq!(rows, expected.rows);
    let want = expected.values.iter().map(|(s, l, k, v)| (*s, *l, k.clone(), Json::String(cell(v)))).collect();
    assert_eq!(sorted(values), sorted(want));

    // Spot check: the quoted string and the float array survive CSV quoting.
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains(r#""a ""quoted"", string""#), "{text}");
    assert!(text.contains(r#""[0.5,-1.25,""Infinity""]""#), "{text}");
}

#[test]
fn summary_last_values() {
    let dir = TempDir::new("summary");
    let (expected, live) = log_run(&dir.0);

    // No summary.json yet: rebuilt from the log.
    let mut out = Vec::new();
    let source = ringlog_service::export_summary(&dir.0, &mut out).unwrap();
    let SummarySource::Rebuilt(stats) = source else { panic!("expected a rebuilt summary, got {source:?}") };
    assert!(stats.is_clean());
    let rebuilt: Json = serde_json::from_slice(&out).unwrap();
    // The explicit summary value wins over later history values of the key.
    assert_eq!(rebuilt["train/loss"], json!(123.0));
    assert_eq!(rebuilt["gpu/temp"], json!(40.0 + (STEPS - 1) as f64 * 0.5));
    assert_eq!(rebuilt["lr"], json!(0.001953125));
    assert_eq!(rebuilt["train/acc"], json!([0.5, -1.25, "Infinity"]));
    assert_eq!(rebuilt["misc"], json!("a \"quoted\", string"));
    assert_eq!(rebuilt["restart/metric"], json!((STEPS + 4) as f64));
    assert_eq!(rebuilt["key#99@lane0"], json!(true));
    let meta = &rebuilt["_ringlog"];
    assert_eq!(meta["counts"]["history_rows"], json!(expected.rows));
    assert_eq!(meta["counts"]["summary_updates"], json!(1));
    assert_eq!(meta["counts"]["outputs"], json!(expected.tail.len() - expected.rows));
    assert_eq!(meta["counts"]["alerts"], json!(1));
    assert_eq!(meta["counts"]["exits"], json!(1));
    assert_eq!(meta["counts"]["key_defs"], json!(6));
    assert_eq!(meta["last_step"], json!(STEPS + 4));

    // The service's live summary equals the rebuilt one (which says how much of the log it
    // covers); once written, the file is printed.
    let mut live = live;
    live.set_log_end(std::fs::metadata(dir.0.join("run.rlog")).unwrap().len());
    assert_eq!(live.to_json(), rebuilt);
    live.write(&dir.0.join("summary.json")).unwrap();
    let mut out = Vec::new();
    assert_eq!(ringlog_service::export_summary(&dir.0, &mut out).unwrap(), SummarySource::File);
    assert_eq!(serde_json::from_slice::<Json>(&out).unwrap(), rebuilt);
    assert!(!std::fs::read_dir(&dir.0).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().contains(".tmp")));

    // A checkpoint that covers only the start of the log (here: nothing but the header)
    // is continued with the rest, to the same summary.
    let mut early = SummaryState::new();
    early.set_log_end(64);
    early.checkpoint(&dir.0.join("summary.json")).unwrap();
    let mut out = Vec::new();
    let source = ringlog_service::export_summary(&dir.0, &mut out).unwrap();
    assert!(matches!(source, SummarySource::Continued(_)), "{source:?}");
    assert_eq!(serde_json::from_slice::<Json>(&out).unwrap(), rebuilt);

    // A summary.json that is not an object is rebuilt.
    std::fs::write(dir.0.join("summary.json"), b"[1, 2").unwrap();
    let mut out = Vec::new();
    assert!(matches!(ringlog_service::export_summary(&dir.0, &mut out).unwrap(), SummarySource::Rebuilt(_)));
    assert_eq!(serde_json::from_slice::<Json>(&out).unwrap(), rebuilt);
}

#[test]
fn list_runs_sorted_by_creation() {
    let runs = TempDir::new("runs");
    let meta = |id: &str, created: u64, state: &str| {
        let dir = runs.0.join(id);
        std::fs::create_dir_all(&dir).unwrap();
        let m = json!({"run_id": id, "project": "p", "name": format!("name-{id}"), "state": state,
                       "records": 3, "created_unix_ms": created, "future_field": {"x": 1}});
        std::fs::write(dir.join("run.json"), m.to_string()).unwrap();
    };
    meta("zeta", 100, "finished");
    meta("alpha", 300, "running");
    meta("beta", 300, "crashed");
    // A run log without run.json, and one with a damaged run.json: state unknown.
    for (id, run_json) in [("orphan", None), ("damaged", Some("{not json"))] {
        let dir = runs.0.join(id);
        std::fs::create_dir_all(&dir).unwrap();
        let mut header = RunLogHeader::new(id);
        header.created_unix_ns = if id == "orphan" { 200_000_000 } else { 400_000_000 };
        drop(RunLogWriter::create(dir.join("run.rlog"), &header).unwrap());
        if let Some(text) = run_json {
            std::fs::write(dir.join("run.json"), text).unwrap();
        }
    }
    // Not runs: an empty directory and a stray file.
    std::fs::create_dir_all(runs.0.join("empty")).unwrap();
    std::fs::write(runs.0.join("notes.txt"), b"hi").unwrap();

    let listed = ringlog_service::list_runs(&runs.0).unwrap();
    let ids: Vec<_> = listed.iter().map(|r| (r.run_id.as_str(), r.state.as_str(), r.created_unix_ms)).collect();
    assert_eq!(
        ids,
        [
            ("zeta", "finished", Some(100)),
            ("orphan", "unknown", Some(200)),
            ("alpha", "running", Some(300)),
            ("beta", "crashed", Some(300)),
            ("damaged", "unknown", Some(400)),
        ]
    );
    assert_eq!(listed[0].project.as_deref(), Some("p"));
    assert_eq!(listed[0].name.as_deref(), Some("name-zeta"));
    assert_eq!(listed[0].records, Some(3));
    assert_eq!(listed[0].run_dir, runs.0.join("zeta"));
    assert_eq!(listed[1].records, None);

    let missing = runs.0.join("nope");
    let err = ringlog_service::list_runs(&missing).unwrap_err();
    assert!(matches!(err, ExportError::NoRunsDir { .. }), "{err}");
    assert!(err.to_string().contains("RINGLOG_DIR"), "{err}");
}

#[test]
fn tail_returns_the_last_rows() {
    let dir = TempDir::new("tail");
    let (expected, _) = log_run(&dir.0);
    let all = ringlog_service::tail(&dir.0, usize::MAX).unwrap();
    let kinds: Vec<TailRow> = all.iter().map(|r| (r.kind, r.lane, r.step)).collect();
    // The log interleaves lanes by batch, so only each lane's own order is fixed.
    for lane in [LANE_A, LANE_B] {
        let of_lane = |rows: &[TailRow]| rows.iter().copied().filter(|r| r.1 == lane).collect::<Vec<_>>();
        assert_eq!(of_lane(&kinds), of_lane(&expected.tail), "lane {lane}");
    }
    assert_eq!(kinds.len(), expected.tail.len());
    for n in [0, 1, 5, expected.tail.len()] {
        let last = ringlog_service::tail(&dir.0, n).unwrap();
        assert_eq!(last[..], all[all.len() - n..], "n = {n}");
    }
    let last = ringlog_service::tail(&dir.0, 2).unwrap();
    assert_eq!(last[1].values["line"], "restarted lane done");
    assert_eq!(last[1].values["stream"], "stderr");
    assert_eq!(last[0].values["restart/metric"], json!((STEPS + 4) as f64));
}

/// File offsets of the records of a run log, with their kinds and lanes.
fn frames(path: &Path) -> Vec<(u64, RecordKind, u16)> {
    RunLog::open(path).unwrap().map(|r| r.unwrap()).map(|r| (r.offset(), r.kind(), r.lane())).collect()
}

/// The (step, lane) of every history record in the block at `offset`, and how many records the block holds.
fn block_contents(path: &Path, offset: u64) -> (Vec<(i64, u16)>, usize, usize) {
    let mut rows = Vec::new();
    let (mut records, mut outputs) = (0, 0);
    for r in RunLog::open(path).unwrap().map(|r| r.unwrap()).filter(|r| r.offset() == offset) {
        records += 1;
        let step = match r.record() {
            RecordRef::Scalar1(s) => Some(s.step.to_native()),
            RecordRef::Scalars(s) => Some(s.step.to_native()),
            RecordRef::History(h) => Some(h.step.to_native()),
            RecordRef::Output(_) => {
                outputs += 1;
                None
            }
            _ => None,
        };
        rows.extend(step.map(|s| (s, r.lane())));
    }
    (rows, records, outputs)
}

#[test]
fn corrupted_block_exports_the_rest() {
    let dir = TempDir::new("corrupt");
    let (expected, _) = log_run(&dir.0);
    let log_path = dir.0.join("run.rlog");
    let frames = frames(&log_path);
    // Damage the block of a Scalar1 in the middle: its records are lost, the rest exports.
    let scalar1s: Vec<_> = frames.iter().filter(|f| f.1 == RecordKind::Scalar1).collect();
    let victim = scalar1s[scalar1s.len() / 2].0;
    let (lost_rows, lost_records, lost_outputs) = block_contents(&log_path, victim);
    assert!(!lost_rows.is_empty());
    let file = std::fs::OpenOptions::new().read(true).write(true).open(&log_path).unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, victim + 40).unwrap();
    file.write_all_at(&[byte[0] ^ 0x10], victim + 40).unwrap();
    // And a torn tail: part of a block header.
    let len = file.metadata().unwrap().len();
    file.write_all_at(&[0xAB; 20], len).unwrap();
    drop(file);

    let mut out = Vec::new();
    let stats = ringlog_service::export_jsonl(&dir.0, &mut out, false).unwrap();
    assert_eq!(stats.damaged_regions, 1, "{stats:?}");
    assert!(stats.damaged_bytes >= 48, "{stats:?}");
    assert_eq!(stats.torn_tail_bytes, 20);
    assert_eq!(stats.records as usize, frames.len() - lost_records);
    assert_eq!(stats.rows as usize, expected.rows - lost_rows.len());
    let (values, lines) = jsonl_values(&out);
    assert_eq!(lines, expected.rows - lost_rows.len());
    let want: Vec<Logged> =
        expected.values.iter().filter(|(s, l, _, _)| !lost_rows.contains(&(*s, *l))).cloned().collect();
    assert_eq!(sorted(values), sorted(want));

    let mut csv_out = Vec::new();
    let csv_stats = ringlog_service::export_csv(&dir.0, &mut csv_out, false).unwrap();
    assert_eq!(csv_stats, stats);
    assert_eq!(csv::Reader::from_reader(&csv_out[..]).records().count(), expected.rows - lost_rows.len());
    assert_eq!(
        ringlog_service::tail(&dir.0, usize::MAX).unwrap().len(),
        expected.tail.len() - lost_rows.len() - lost_outputs
    );
    let mut summary = Vec::new();
    let SummarySource::Rebuilt(s) = ringlog_service::export_summary(&dir.0, &mut summary).unwrap() else { panic!() };
    assert_eq!(s.damaged_regions, 1);
}

#[test]
fn lost_key_definition_exports_placeholder_names() {
    let dir = TempDir::new("lostkey");
    let (expected, _) = log_run(&dir.0);
    let log_path = dir.0.join("run.rlog");
    // The first block is lane A's first batch: its key definitions and first steps.
    let first = frames(&log_path)[0];
    assert_eq!((first.1, first.2), (RecordKind::KeyDef, LANE_A));
    let (lost_rows, _, _) = block_contents(&log_path, first.0);
    let file = std::fs::OpenOptions::new().write(true).open(&log_path).unwrap();
    file.write_all_at(b"\xff\xff\xff\xff", first.0).unwrap(); // block magic
    drop(file);

    let mut out = Vec::new();
    let stats = ringlog_service::export_jsonl(&dir.0, &mut out, false).unwrap();
    assert_eq!(stats.damaged_regions, 1);
    let (values, lines) = jsonl_values(&out);
    assert_eq!(lines, expected.rows - lost_rows.len());
    let renamed = |k: &str| match k {
        "train/loss" => "key#0@lane0".to_owned(),
        "train/acc" => "key#1@lane0".to_owned(),
        "misc" => "key#2@lane0".to_owned(),
        k => k.to_owned(),
    };
    let want = expected
        .values
        .iter()
        .filter(|(s, l, _, _)| !lost_rows.contains(&(*s, *l)))
        .map(|(s, l, k, v)| (*s, *l, if *l == LANE_A { renamed(k) } else { k.clone() }, v.clone()));
    assert_eq!(sorted(values), sorted(want.collect()));
}

#[test]
fn errors_say_what_to_do() {
    let dir = TempDir::new("errors");
    let err = ringlog_service::export_jsonl(&dir.0, &mut std::io::sink(), false).unwrap_err();
    assert!(matches!(err, ExportError::NoRunLog { .. }), "{err}");
    assert!(err.to_string().contains("is this a ringlog run directory?"), "{err}");
    assert!(err.to_string().contains(&*dir.0.join("run.rlog").to_string_lossy()), "{err}");
    assert!(matches!(ringlog_service::tail(&dir.0, 3), Err(ExportError::NoRunLog { .. })));
    assert!(matches!(ringlog_service::export_summary(&dir.0, &mut Vec::new()), Err(ExportError::NoRunLog { .. })));

    std::fs::write(dir.0.join("run.rlog"), b"not a run log at all, definitely longer than sixty-four bytes......")
        .unwrap();
    let err = ringlog_service::export_csv(&dir.0, &mut std::io::sink(), false).unwrap_err();
    assert!(matches!(err, ExportError::RunLog(ringlog_service::RunLogError::NotARunLog { .. })), "{err}");

    // A reader that went away is a broken pipe, which callers treat as the end.
    struct Closed;
    impl std::io::Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let run = TempDir::new("pipe");
    log_run(&run.0);
    let err = ringlog_service::export_jsonl(&run.0, &mut Closed, false).unwrap_err();
    assert!(err.is_broken_pipe(), "{err}");
}

/// Lanes that do not step in lockstep (processes started apart, a rank the
/// scheduler starved): lane 1's whole history lands in the log after lane 0's.
/// The merged exports (W&B here) must still hold every step, with both lanes'
/// values in each row, and drop nothing as late: the merge reads lane by lane in
/// step order, not in log order through the bounded window (which would drop
/// most of lane 1's rows: they fell behind more than a window of rows).
#[test]
fn merged_exports_keep_every_row_of_a_lane_far_behind_the_others() {
    if cfg!(miri) {
        return;
    }
    let steps: i64 = 150_000;
    let dir = TempDir::new("far-behind");
    let run = HeapRun::new(1 << 20, 2).unwrap();
    let mut consumer = run.consumer().unwrap();
    let mut batch = Batch::new(1 << 20);
    let mut writer = RunLogWriter::create(dir.0.join("run.rlog"), &RunLogHeader::new("farbehind")).unwrap();
    for lane in 0..2u16 {
        let mut p = run.claim(lane, Default::default()).unwrap();
        let keys: Vec<KeyId> = (0..8).map(|k| p.key(&format!("rank{lane}/m{k}")).unwrap()).collect();
        let mut items: Vec<(KeyId, f64)> = keys.iter().map(|&k| (k, 0.0)).collect();
        for chunk in 0..steps / 1000 {
            for step in chunk * 1000..(chunk + 1) * 1000 {
                for (i, item) in items.iter_mut().enumerate() {
                    item.1 = step as f64 + i as f64 / 10.0;
                }
                let _ = p.log_scalars(step, &items).unwrap();
            }
            consumer.drain(&mut batch);
            writer.append_batch(&batch).unwrap();
        }
    }
    drop(writer);
    let out = dir.0.join("wb");
    let export = ringlog_service::export_wandb(&dir.0, &out, &Default::default(), false).unwrap();
    assert_eq!(export.stats.late_rows, 0, "no row dropped as late");
    assert_eq!(export.stats.rows, steps as u64, "one W&B row per step, both lanes merged");
}

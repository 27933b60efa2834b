//! Parquet export tests: a run is logged with real producers on two heap lanes, drained by a
//! real consumer into a real run log, exported as Parquet, read back with the `parquet`
//! crate's Arrow reader, and compared value by value with the JSONL export of the same run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow_array::{Array, Float64Array, Int32Array, Int64Array, RecordBatchReader, StringArray};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use ringlog_ring::{Batch, Consumer, HeapRun, History, Item, KeyId, Logged, OutputLine, Producer, Stream, Value};
use ringlog_service::{ExportError, ExportStats, RunLogHeader, RunLogWriter, Sampling};
use serde_json::{Map, Value as Json};

/// Steps of logging per lane.
const STEPS: i64 = if cfg!(miri) { 12 } else { 300 };
const LANE_A: u16 = 0;
const LANE_B: u16 = 3;

/// A unique directory in the temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("ringlog-parquet-test-{}-{name}-{n}", std::process::id()));
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

/// A run being logged: producers on lanes A and B, a consumer, and the run log.
struct Logger {
    heap: HeapRun,
    a: Producer,
    b: Producer,
    consumer: Consumer,
    batch: Batch,
    log: RunLogWriter,
}

impl Logger {
    fn new(run_dir: &Path) -> Self {
        let heap = HeapRun::new(1 << 18, LANE_B + 1).unwrap();
        Self {
            a: heap.claim(LANE_A, Default::default()).unwrap(),
            b: heap.claim(LANE_B, Default::default()).unwrap(),
            consumer: heap.consumer().unwrap(),
            heap,
            batch: Batch::new(1 << 18),
            log: RunLogWriter::create(run_dir.join("run.rlog"), &RunLogHeader::new("parquet-test")).unwrap(),
        }
    }

    fn lane(&mut self, lane: u16) -> &mut Producer {
        if lane == LANE_A { &mut self.a } else { &mut self.b }
    }

    fn history(&mut self, lane: u16, step: i64, items: Vec<Item>) {
        let ts_ns = 1_700_000_000_000_000_000 + step as u64 * 1_000_000;
        assert_eq!(self.lane(lane).log(&History { ts_ns, step, items }).unwrap(), Logged::Written);
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
        }
    }

    fn finish(mut self) {
        self.drain();
        self.log.sync().unwrap();
    }
}

/// Logs a run with every record kind and value type into `run_dir`.
///
/// Lane A: `train/loss` and `train/acc` as Scalar1 and Scalars (with NaN and ±infinity),
/// `epoch` (only integers), `mixed` (integers and floats), `phase` (only strings), `flag`
/// (booleans), `hist` (float arrays), `doc` (JSON, and JSON text that does not parse),
/// `any` (a number, a string and a bool), a key given twice in one record, a key named
/// `_step`, an undefined key id, and output lines. Lane B: eight scalars per step whose ids
/// overlap lane A's, then a new producer process that defines id 0 again.
fn log_run(run_dir: &Path) {
    let mut l = Logger::new(run_dir);
    let key = |p: &mut Producer, name: &str| p.key(name).unwrap().0;
    let (loss, acc) = (l.a.key("train/loss").unwrap(), l.a.key("train/acc").unwrap());
    let names = ["epoch", "mixed", "phase", "flag", "hist", "doc", "any", "_step"];
    let ids: Vec<u32> = names.iter().map(|n| key(&mut l.a, n)).collect();
    let [epoch, mixed, phase, flag, hist, doc, any, reserved] = ids[..] else { unreachable!() };
    let b_keys: Vec<KeyId> = (0..8).map(|i| l.b.key(&format!("b/metric{i}")).unwrap()).collect();

    for step in 0..STEPS {
        let x = step as f64 * 0.125;
        let special = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 1e300];
        let v = if step % 7 == 3 { special[(step as usize / 7) % special.len()] } else { x };
        assert_eq!(l.a.log_scalar1(step, loss, v).unwrap(), Logged::Written);
        if step % 3 == 0 {
            assert_eq!(l.a.log_scalars(step, &[(loss, x + 1.0), (acc, 0.5)]).unwrap(), Logged::Written);
        }
        let items: [(KeyId, f64); 8] = std::array::from_fn(|i| (b_keys[i], x * i as f64 - 3.0));
        assert_eq!(l.b.log_scalars(step, &items).unwrap(), Logged::Written);
        if step % 5 == 0 {
            let mut items = vec![
                Item { key: epoch, value: Value::I64(step / 5 + (1 << 60)) },
                Item { key: mixed, value: if step % 10 == 0 { Value::I64(step) } else { Value::F64(x + 0.5) } },
                Item { key: phase, value: Value::Str(format!("phase \"{}\", ünïcode", step / 50)) },
                Item { key: flag, value: Value::Bool(step % 2 == 0) },
                Item { key: hist, value: Value::F32Array(vec![0.5, -1.25, f32::NAN, step as f32]) },
                Item {
                    key: doc,
                    value: Value::Json(if step % 15 == 0 {
                        "not json {".into()
                    } else {
                        format!(r#"{{"a": [{step}, null]}}"#)
                    }),
                },
                Item {
                    key: any,
                    value: match step % 3 {
                        0 => Value::F64(x),
                        1 => Value::Str("text".into()),
                        _ => Value::Bool(false),
                    },
                },
                Item { key: reserved, value: Value::F64(-1.0) },
                Item { key: 77, value: Value::I64(step) }, // never defined
            ];
            // The same key twice in one record: the last value is the row's.
            items.push(Item { key: epoch, value: Value::I64(-step) });
            l.history(LANE_A, step, items);
            assert_eq!(
                l.a.log(&OutputLine { ts_ns: 7, stream: Stream::Stdout, line: format!("step {step}") }).unwrap(),
                Logged::Written
            );
        }
        if step % 16 == 15 {
            l.drain();
        }
    }
    // Lane B's last record before the restart logs key id 0 alone, as the restarted lane's
    // first record does under another name: a column cached for that id list must go
    // when the id is redefined.
    assert_eq!(l.b.log_scalar1(STEPS - 1, b_keys[0], 1.5).unwrap(), Logged::Written);
    l.drain();
    // A new producer process on lane B: key ids restart at 0 with other names.
    // SAFETY: the assignment drops the previous producer of lane B first.
    l.b = unsafe { l.heap.reclaim(LANE_B, Default::default()) }.unwrap();
    let restarted = l.b.key("restart/metric").unwrap();
    assert_eq!(restarted, KeyId(0));
    for step in STEPS..STEPS + 20 {
        assert_eq!(l.b.log_scalar1(step, restarted, step as f64).unwrap(), Logged::Written);
    }
    l.finish();
}

/// A Parquet file read back: its columns with their types, and its rows as column → cell.
struct ParquetTable {
    columns: Vec<(String, DataType)>,
    rows: Vec<BTreeMap<String, Cell>>,
}

/// One non-null Parquet cell.
#[derive(Debug, Clone)]
enum Cell {
    Int(i64),
    Float(f64),
    Text(String),
}

fn read_parquet(path: &Path) -> ParquetTable {
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap().build().unwrap();
    let schema = reader.schema();
    let columns: Vec<(String, DataType)> =
        schema.fields().iter().map(|f| (f.name().clone(), f.data_type().clone())).collect();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let start = rows.len();
        rows.resize_with(start + batch.num_rows(), BTreeMap::new);
        for ((name, ty), array) in columns.iter().zip(batch.columns()) {
            for i in 0..batch.num_rows() {
                if array.is_null(i) {
                    continue;
                }
                let cell = match ty {
                    DataType::Int64 => Cell::Int(array.as_any().downcast_ref::<Int64Array>().unwrap().value(i)),
                    DataType::Int32 => {
                        Cell::Int(i64::from(array.as_any().downcast_ref::<Int32Array>().unwrap().value(i)))
                    }
                    DataType::Float64 => Cell::Float(array.as_any().downcast_ref::<Float64Array>().unwrap().value(i)),
                    DataType::Utf8 => Cell::Text(array.as_any().downcast_ref::<StringArray>().unwrap().value(i).into()),
                    other => panic!("column {name} has type {other}"),
                };
                rows[start + i].insert(name.clone(), cell);
            }
        }
    }
    ParquetTable { columns, rows }
}

fn jsonl_rows(out: &[u8]) -> Vec<Map<String, Json>> {
    std::str::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| match serde_json::from_str::<Json>(line).unwrap() {
            Json::Object(obj) => obj,
            other => panic!("not an object: {other}"),
        })
        .collect()
}

/// Whether a Float64 cell holds what JSONL shows (non-finite floats are strings there).
fn float_matches(x: f64, v: &Json) -> bool {
    match v {
        Json::Number(n) => n.as_f64() == Some(x),
        Json::String(s) => match s.as_str() {
            "NaN" => x.is_nan(),
            "Infinity" => x == f64::INFINITY,
            "-Infinity" => x == f64::NEG_INFINITY,
            _ => false,
        },
        _ => false,
    }
}

/// Checks every cell of `table` against the JSONL rows `jsonl` (same rows, same order):
/// each JSONL key is a column and each value its cell; a missing key is a null. Returns the
/// type of each key column (`"text"` for a Utf8 column of plain strings, `"json"` for one
/// of JSON text).
fn assert_same(table: &ParquetTable, jsonl: &[Map<String, Json>], with_lane: bool) -> BTreeMap<String, &'static str> {
    assert_eq!(table.rows.len(), jsonl.len());
    let mut fixed = vec!["_step", "_timestamp"];
    if with_lane {
        fixed.push("_lane");
    }
    let names: Vec<&str> = table.columns.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[..fixed.len()], fixed[..]);
    let keys = &names[fixed.len()..];
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "key columns are sorted: {keys:?}");

    // A Utf8 column holds plain strings when every JSONL value of its key is a string.
    let mut kinds = BTreeMap::new();
    for (name, ty) in &table.columns[fixed.len()..] {
        let values = jsonl.iter().filter_map(|r| r.get(name));
        let kind = match ty {
            DataType::Float64 => "float",
            DataType::Int64 => "int",
            DataType::Utf8 if values.clone().all(Json::is_string) => "text",
            DataType::Utf8 => "json",
            other => panic!("{name}: {other}"),
        };
        kinds.insert(name.clone(), kind);
    }

    for (i, (row, line)) in table.rows.iter().zip(jsonl).enumerate() {
        let Some(Cell::Int(step)) = row.get("_step") else { panic!("row {i}: no _step") };
        assert_eq!(Some(*step), line["_step"].as_i64(), "row {i}");
        let Some(Cell::Float(ts)) = row.get("_timestamp") else { panic!("row {i}: no _timestamp") };
        // serde_json's default float parser is not correctly rounded for 17 significant
        // digits (its `float_roundtrip` feature is), so a timestamp read back from JSONL can be
        // an ulp off the one JSONL wrote.
        let jsonl_ts = line["_timestamp"].as_f64().unwrap();
        assert!((ts - jsonl_ts).abs() <= 2.0 * f64::EPSILON * ts.abs(), "row {i}: {ts} vs {jsonl_ts}");
        if with_lane {
            let Some(Cell::Int(lane)) = row.get("_lane") else { panic!("row {i}: no _lane") };
            assert_eq!(Some(*lane), line["_lane"].as_i64(), "row {i}");
        }
        for (key, value) in line.iter().filter(|(k, _)| !k.starts_with('_')) {
            let cell = row.get(key).unwrap_or_else(|| panic!("row {i}: {key} = {value} is missing"));
            let same = match (kinds[key], cell) {
                ("float", Cell::Float(x)) => float_matches(*x, value),
                ("int", Cell::Int(x)) => value.as_i64() == Some(*x),
                ("text", Cell::Text(s)) => value.as_str() == Some(s),
                ("json", Cell::Text(s)) => serde_json::from_str::<Json>(s).ok().as_ref() == Some(value),
                _ => false,
            };
            assert!(same, "row {i}: {key} is {cell:?} in Parquet, {value} in JSONL");
        }
        for key in row.keys().filter(|k| !k.starts_with('_')) {
            assert!(line.contains_key(key), "row {i}: {key} is set in Parquet only");
        }
    }
    kinds
}

fn export_parquet(dir: &Path, sampling: &Sampling) -> (ExportStats, ParquetTable) {
    let path = dir.join("history.parquet");
    let stats = ringlog_service::export_parquet(dir, std::fs::File::create(&path).unwrap(), sampling, false).unwrap();
    (stats, read_parquet(&path))
}

fn export_jsonl(dir: &Path, sampling: &Sampling) -> (ExportStats, Vec<Map<String, Json>>) {
    let mut out = Vec::new();
    let stats = ringlog_service::export_jsonl_with(dir, &mut out, sampling, false).unwrap();
    (stats, jsonl_rows(&out))
}

#[test]
fn every_value_matches_the_jsonl_export() {
    let dir = TempDir::new("plain");
    log_run(&dir.0);
    let sampling = Sampling::default();
    let (stats, table) = export_parquet(&dir.0, &sampling);
    let (jsonl_stats, jsonl) = export_jsonl(&dir.0, &sampling);
    assert!(stats.is_clean(), "{stats:?}");
    assert_eq!(stats, ExportStats { bytes_read: stats.bytes_read, ..jsonl_stats });
    assert_eq!(stats.rows as usize, jsonl.len());
    let kinds = assert_same(&table, &jsonl, true);

    let expect = [
        ("train/loss", "float"),
        ("train/acc", "float"),
        ("b/metric7", "float"),
        ("restart/metric", "float"),
        ("epoch", "int"),
        ("key#77@lane0", "int"),
        ("mixed", "float"),
        ("phase", "text"),
        ("flag", "json"),
        ("hist", "json"),
        ("doc", "json"),
        ("any", "json"),
    ];
    for (key, kind) in expect {
        assert_eq!(kinds.get(key).copied(), Some(kind), "{key}");
    }
    assert_eq!(kinds.len(), expect.len() + 7, "{kinds:?}"); // and b/metric0..6
    // The record's last value of a key given twice, NaN as itself, and a row per record.
    let epoch: Vec<&Cell> = table.rows.iter().filter_map(|r| r.get("epoch")).collect();
    assert!(matches!(epoch[1], Cell::Int(-5)), "{:?}", epoch[1]);
    assert!(table.rows.iter().any(|r| matches!(r.get("train/loss"), Some(Cell::Float(x)) if x.is_nan())));
    // A key named `_step` is shadowed by the row's step, as in the CSV export.
    assert_eq!(table.columns.iter().filter(|(n, _)| n == "_step").count(), 1);
}

#[test]
fn downsampled_rows_match_the_jsonl_export() {
    let dir = TempDir::new("every");
    log_run(&dir.0);
    let sampling = Sampling { every: Some(5), agg: true, ..Default::default() };
    let (stats, table) = export_parquet(&dir.0, &sampling);
    let (jsonl_stats, jsonl) = export_jsonl(&dir.0, &sampling);
    assert_eq!((stats.rows, stats.late_rows), (jsonl_stats.rows, jsonl_stats.late_rows));
    assert_eq!(stats.rows as usize, (STEPS as usize + 20).div_ceil(5));
    let kinds = assert_same(&table, &jsonl, false);
    assert_eq!(kinds.get("train/loss/mean").copied(), Some("float"));
    assert_eq!(kinds.get("phase").copied(), Some("text"));
}

#[test]
fn max_rows_rows_match_the_jsonl_export() {
    let dir = TempDir::new("max-rows");
    log_run(&dir.0);
    let sampling = Sampling { max_rows: Some(7), ..Default::default() };
    let (stats, table) = export_parquet(&dir.0, &sampling);
    let (_, jsonl) = export_jsonl(&dir.0, &sampling);
    assert!(stats.rows <= 7, "{stats:?}");
    assert_same(&table, &jsonl, false);
}

#[test]
fn key_and_step_filters_select_as_in_jsonl() {
    let dir = TempDir::new("select");
    log_run(&dir.0);
    let keys = Some(vec!["train/*".to_owned(), "epoch".to_owned(), "phase".to_owned()]);
    for sampling in [
        Sampling { keys: keys.clone(), steps: Some((10, 100)), ..Default::default() },
        Sampling { keys: Some(vec!["epoch".to_owned()]), ..Default::default() },
        Sampling { steps: Some((STEPS - 3, STEPS + 5)), ..Default::default() },
        Sampling { keys, every: Some(4), ..Default::default() },
    ] {
        let (stats, table) = export_parquet(&dir.0, &sampling);
        let (jsonl_stats, jsonl) = export_jsonl(&dir.0, &sampling);
        assert_eq!(stats.rows, jsonl_stats.rows, "{sampling:?}");
        assert!(stats.rows > 0, "{sampling:?}");
        assert_same(&table, &jsonl, !sampling.is_active());
    }
}

/// Enough keys that a record batch holds fewer rows than the run has, so rows span batches
/// (and row groups keep their columns aligned).
#[test]
fn wide_run_spans_record_batches() {
    const KEYS: usize = if cfg!(miri) { 4 } else { 3000 };
    const WIDE_STEPS: i64 = if cfg!(miri) { 4 } else { 4000 };
    let dir = TempDir::new("wide");
    let mut l = Logger::new(&dir.0);
    let keys: Vec<KeyId> = (0..KEYS).map(|i| l.a.key(&format!("k{i:05}")).unwrap()).collect();
    for step in 0..WIDE_STEPS {
        let items: Vec<(KeyId, f64)> =
            (0..3).map(|j| (keys[(step as usize * 7 + j * 1001) % KEYS], step as f64 + j as f64)).collect();
        assert_eq!(l.a.log_scalars(step, &items).unwrap(), Logged::Written);
        if step % 64 == 63 {
            l.drain();
        }
    }
    l.finish();
    let sampling = Sampling::default();
    let (stats, table) = export_parquet(&dir.0, &sampling);
    let (_, jsonl) = export_jsonl(&dir.0, &sampling);
    assert_eq!(stats.rows as usize, WIDE_STEPS as usize);
    assert_same(&table, &jsonl, true);
}

#[test]
fn empty_run_has_only_the_row_columns() {
    let dir = TempDir::new("empty");
    Logger::new(&dir.0).finish();
    let (stats, table) = export_parquet(&dir.0, &Sampling::default());
    assert_eq!(stats.rows, 0);
    assert!(table.rows.is_empty());
    let names: Vec<&str> = table.columns.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["_step", "_timestamp", "_lane"]);
}

#[test]
fn missing_run_log_is_an_error_that_says_what_to_do() {
    let dir = TempDir::new("missing");
    let err = ringlog_service::export_parquet(&dir.0, std::io::sink(), &Sampling::default(), false).unwrap_err();
    assert!(matches!(err, ExportError::NoRunLog { .. }), "{err}");
    assert!(err.to_string().contains("is this a ringlog run directory?"));
}

/// A writer that fails like a pipe whose reader went away.
struct ClosedPipe;

impl std::io::Write for ClosedPipe {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::ErrorKind::BrokenPipe.into())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_closed_pipe_stays_recognizable() {
    let dir = TempDir::new("pipe");
    log_run(&dir.0);
    let err = ringlog_service::export_parquet(&dir.0, ClosedPipe, &Sampling::default(), false).unwrap_err();
    assert!(err.is_broken_pipe(), "{err:?}");
}

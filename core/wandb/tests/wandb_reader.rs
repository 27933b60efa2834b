//! Checks the files `ringlog-wandb` writes with W&B's own reader (`wandb leet inspect`,
//! `wandb sync --dry-run` from `wandb==0.31.0`).
//!
//! W&B is found in the virtual environment named by `RINGLOG_TEST_VENV` (default:
//! `<repo>/target/venv`). Without it these tests print a loud SKIPPED message and pass, unless
//! `RINGLOG_REQUIRE_WANDB=1`, when they fail. Every wait is bounded.

use ringlog_wandb::proto::{OutputRawRecord, Record, RecordType, Timestamp};
use ringlog_wandb::{AlertLevel, BLOCK_SIZE, Outcome, RowMerger, RunDir, RunInfo, Stream, WandbValue, WandbWriter};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const START_NS: u64 = 1_796_137_118_000_000_000;
const CMD_TIMEOUT: Duration = Duration::from_secs(120);

/// The venv's `bin/` directory, or `None` (after a loud message) when wandb is not installed
/// and not required.
fn wandb_bin() -> Option<PathBuf> {
    let venv = std::env::var_os("RINGLOG_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/venv"));
    let bin = venv.join("bin");
    if bin.join("wandb").exists() {
        return Some(bin);
    }
    let msg = format!(
        "wandb not found at {}: install it with `python3 -m venv {0} && {0}/bin/pip install wandb==0.31.0 numpy` \
         or set RINGLOG_TEST_VENV",
        venv.display()
    );
    if std::env::var("RINGLOG_REQUIRE_WANDB").as_deref() == Ok("1") {
        panic!("RINGLOG_REQUIRE_WANDB=1 but {msg}");
    }
    eprintln!("\n!!!!!!!! SKIPPED (W&B reader tests): {msg} !!!!!!!!\n");
    None
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringlog-wandb-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn command(bin: &Path, program: &str, home: &Path) -> Command {
    let mut cmd = Command::new(bin.join(program));
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin.to_path_buf()];
    paths.extend(std::env::split_paths(&path));
    cmd.env("PATH", std::env::join_paths(paths).expect("PATH"))
        .env("WANDB_MODE", "offline")
        .env("WANDB_SILENT", "true")
        .env("WANDB_DIR", home)
        .env("WANDB_CONFIG_DIR", home.join(".config-wandb"))
        .env("WANDB_CACHE_DIR", home.join(".cache-wandb"))
        .env("NO_COLOR", "1");
    cmd
}

/// Output of a finished command.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Runs `cmd` to completion, killing it after `timeout`.
fn run(mut cmd: Command, timeout: Duration) -> Ran {
    let what = format!("{cmd:?}");
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let out = drain(child.stdout.take().expect("stdout"));
    let err = drain(child.stderr.take().expect("stderr"));
    let status = wait_bounded(&mut child, timeout).unwrap_or_else(|| panic!("{what} ran longer than {timeout:?}"));
    Ran { code: status.code(), stdout: out.join().expect("stdout"), stderr: err.join().expect("stderr") }
}

fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `wandb leet inspect --json PATH`: asserts exit 0 and an empty stderr, returns the records.
fn inspect(bin: &Path, home: &Path, path: &Path) -> Vec<Value> {
    let mut cmd = command(bin, "wandb", home);
    cmd.args(["leet", "inspect", "--json"]).arg(path);
    let ran = run(cmd, CMD_TIMEOUT);
    assert_eq!(ran.code, Some(0), "leet inspect failed: {}", ran.stderr);
    assert_eq!(ran.stderr, "", "leet inspect wrote to stderr");
    parse_lines(&ran.stdout)
}

fn parse_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// `wandb leet inspect --summary --json DIR`.
fn summary(bin: &Path, home: &Path, dir: &Path) -> Value {
    let mut cmd = command(bin, "wandb", home);
    cmd.args(["leet", "inspect", "--summary", "--json"]).arg(dir);
    let ran = run(cmd, CMD_TIMEOUT);
    assert_eq!(ran.code, Some(0), "leet inspect --summary failed: {}", ran.stderr);
    assert_eq!(ran.stderr, "", "leet inspect --summary wrote to stderr");
    serde_json::from_str(&ran.stdout).expect("summary JSON")
}

fn info(run_id: &str) -> RunInfo {
    RunInfo {
        run_id: run_id.into(),
        project: "ringlog-test".into(),
        name: "test run ✓".into(),
        tags: vec!["t1".into(), "ünï".into()],
        group: "g".into(),
        notes: "notes".into(),
        host: "testhost".into(),
        start_time_unix_ns: START_NS,
        config: vec![
            ("lr".into(), WandbValue::F64(3e-4)),
            ("layers".into(), WandbValue::I64(1 << 60)),
            ("name".into(), WandbValue::Str("modèle 🚀".into())),
            ("opt".into(), WandbValue::Json(r#"{"beta":[0.9,0.95]}"#.into())),
        ],
    }
}

/// Whether `got` (from leet's JSON) is the value `want` was written as.
fn same(want: &WandbValue, got: &Value) -> bool {
    match want {
        WandbValue::F64(v) if v.is_nan() => got == "NaN",
        WandbValue::F64(v) if v.is_infinite() => got == if *v > 0.0 { "Infinity" } else { "-Infinity" },
        WandbValue::F64(v) => got.as_f64() == Some(*v),
        WandbValue::I64(v) => got.as_i64() == Some(*v),
        WandbValue::Bool(v) => got.as_bool() == Some(*v),
        WandbValue::Str(s) => got.as_str() == Some(s),
        WandbValue::Json(s) => serde_json::from_str::<Value>(s).ok().as_ref() == Some(got),
        WandbValue::F32Array(_) => false,
    }
}

fn history_records(records: &[Value]) -> Vec<&Value> {
    records.iter().filter(|r| r["type"] == "history").collect()
}

fn run_dir_of(out: &Path) -> PathBuf {
    let wandb = out.join("wandb");
    std::fs::read_dir(&wandb)
        .expect("wandb dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("offline-run-")))
        .expect("offline-run dir")
}

/// Length of the line that makes the next output record end exactly `gap` bytes before the
/// current block's end (None when no line length lands there).
fn line_len_for_gap(w: &WandbWriter, num: i64, ts: u64, gap: u64) -> Option<usize> {
    let block = BLOCK_SIZE as u64;
    let left = block - w.file_offset() % block;
    (0..BLOCK_SIZE).find(|&len| {
        let rec = Record {
            num,
            record_type: Some(RecordType::OutputRaw(OutputRawRecord {
                output_type: OutputRawRecord::STDOUT,
                timestamp: Some(Timestamp::from_unix_ns(ts)),
                line: "x".repeat(len) + "\n",
            })),
        };
        7 + prost::Message::encoded_len(&rec) as u64 + gap == left
    })
}

#[test]
fn history_values_round_trip_through_wandb_reader() {
    let Some(bin) = wandb_bin() else { return };
    let out = scratch("values");
    let mut w = WandbWriter::create(&out, &info("vals0001")).expect("create");
    let big_text: String = "ß∑😀 ".repeat(30_000); // ~300 KB: a record over many blocks
    let mut expected: Vec<(i64, Vec<(String, WandbValue)>)> = Vec::new();
    let step_items = |step: i64| -> Vec<(String, WandbValue)> {
        let mut items = vec![
            ("train/loss".to_string(), WandbValue::F64(1.0 / (step as f64 + 1.0))),
            ("损失/ñ".to_string(), WandbValue::F64(step as f64 * 0.1)),
            ("text".to_string(), WandbValue::Str(format!("héllo ☃ 😀 \"{step}\"\n\t<&>"))),
            ("nan".to_string(), WandbValue::F64(f64::NAN)),
            ("inf".to_string(), WandbValue::F64(f64::INFINITY)),
            ("ninf".to_string(), WandbValue::F64(f64::NEG_INFINITY)),
            ("big".to_string(), WandbValue::I64((1 << 60) + step)),
            ("min".to_string(), WandbValue::I64(i64::MIN)),
            ("flag".to_string(), WandbValue::Bool(step % 2 == 0)),
            ("tiny".to_string(), WandbValue::F64(5e-324)),
            ("obj".to_string(), WandbValue::Json(r#"{"a":[1,2,{"b":null}]}"#.into())),
        ];
        if step == 3 {
            items.push(("huge".to_string(), WandbValue::Str(big_text.clone())));
        }
        items
    };
    let mut num = 2i64; // header, run
    let mut gap_checks = Vec::new();
    for step in 0..40i64 {
        let ts = START_NS + 1_000_000 * (step as u64 + 1);
        let items = step_items(step);
        let refs: Vec<(&str, WandbValue)> = items.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        w.history(step * 10, ts, &refs).expect("history");
        num += 2;
        expected.push((step * 10, items));
        // Steps 10 and 20 leave exactly 7 and exactly 6 bytes at a block's end with an output
        // record: the next record then starts with an empty FIRST chunk / in the next block.
        if step == 10 || step == 20 {
            let gap = if step == 10 { 7 } else { 6 };
            let len = line_len_for_gap(&w, num + 1, ts, gap).expect("a line length that hits the gap");
            w.output_line(Stream::Stdout, ts, &"x".repeat(len)).expect("output");
            num += 1;
            assert_eq!(BLOCK_SIZE as u64 - w.file_offset() % BLOCK_SIZE as u64, gap);
            gap_checks.push((w.file_offset(), gap));
        }
        if step % 7 == 0 {
            w.flush().expect("flush");
        }
    }
    w.stats(START_NS + 50_000_000, &[("cpu", 12.5), ("memory_percent", 40.0)]).expect("stats");
    w.alert("loss spike", "step 120 ✗", AlertLevel::Warn).expect("alert");
    let records_written = w.records() + 2; // + the finish summary and exit records
    let paths = w.finish(Outcome::Exited { exit_code: 0, runtime_s: 2.0 }).expect("finish");

    let file = std::fs::read(&paths.wandb_file).expect("read file");
    for (offset, gap) in gap_checks {
        let at = offset as usize;
        if gap == 7 {
            // An empty FIRST chunk: length 0, type 2.
            assert_eq!(&file[at + 4..at + 7], &[0, 0, 2], "empty FIRST chunk at {at}");
        } else {
            assert_eq!(&file[at..at + 6], &[0u8; 6], "zero-filled block tail at {at}");
        }
    }

    let home = scratch("values-home");
    let records = inspect(&bin, &home, &paths.wandb_file);
    assert_eq!(records.len() as u64, records_written, "record count");
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["num"], i as u64 + 1, "num sequence");
    }
    assert_eq!(records[0]["type"], "header");
    assert_eq!(records[1]["type"], "run");
    assert_eq!(records.last().expect("records")["type"], "exit");
    let history = history_records(&records);
    assert_eq!(history.len(), expected.len());
    for (rec, (step, items)) in history.iter().zip(&expected) {
        let got = &rec["history"]["item"];
        assert_eq!(rec["history"]["step"]["num"].as_i64().unwrap_or(0), *step);
        assert_eq!(got["_step"], *step);
        for (key, want) in items {
            assert!(same(want, &got[key.as_str()]), "step {step} key {key}: want {want:?}, got {}", got[key.as_str()]);
        }
        assert_eq!(got.as_object().expect("items").len(), items.len() + 3, "step {step}: {got}");
        // Each history record is preceded by its summary update with the same values.
        let idx = rec["num"].as_u64().expect("num") as usize - 1;
        let sum = &records[idx - 1];
        assert_eq!(sum["type"], "summary");
        assert_eq!(sum["summary"]["update"], *got);
    }
    assert!(records.iter().any(|r| r["type"] == "stats" && r["stats"]["item"]["cpu"] == 12.5));
    assert!(records.iter().any(|r| r["type"] == "alert"), "alert record");

    // Summary, config and state as W&B's summary view reports them.
    let s = summary(&bin, &home, &paths.run_dir);
    assert_eq!(s["state"], "finished");
    assert_eq!(s["exit_code"], 0);
    assert_eq!(s["run_id"], "vals0001");
    assert_eq!(s["project"], "ringlog-test");
    assert_eq!(s["step"], 390);
    assert_eq!(s["summary"]["train/loss"], 1.0 / 40.0);
    assert_eq!(s["summary"]["big"], (1u64 << 60) + 39);
    assert_eq!(s["summary"]["nan"], "NaN");
    assert_eq!(s["summary"]["损失/ñ"].as_f64(), Some(39.0 * 0.1));
    assert_eq!(s["config"]["lr"], 3e-4);
    assert_eq!(s["config"]["layers"], 1u64 << 60);
    assert_eq!(s["config"]["name"], "modèle 🚀");
    assert_eq!(s["config"]["opt"]["beta"][1], 0.95);

    // The side files.
    let summary_file = std::fs::read_to_string(paths.files_dir.join("wandb-summary.json")).expect("summary file");
    assert!(summary_file.contains("\"_wandb\": {\"runtime\": 2}"), "{summary_file}");
    assert!(summary_file.contains("\"train/loss\": 0.025"), "{summary_file}");
    let output_log = std::fs::read_to_string(paths.files_dir.join("output.log")).expect("output.log");
    assert_eq!(output_log.lines().count(), 2);
    assert!(paths.files_dir.join("config.yaml").exists());
    assert!(paths.files_dir.join("wandb-metadata.json").exists());
    assert!(paths.logs_dir.is_dir());
    let latest = std::fs::read_link(out.join("wandb/latest-run")).expect("latest-run link");
    assert_eq!(Some(latest.as_os_str()), paths.run_dir.file_name());

    // `wandb sync --dry-run` lists it as a run still to sync.
    let mut cmd = command(&bin, "wandb", &out);
    // WANDB_SILENT would hide the listing.
    cmd.current_dir(&out).env_remove("WANDB_SILENT").args(["sync", "--dry-run"]);
    let ran = run(cmd, CMD_TIMEOUT);
    assert_eq!(ran.code, Some(0), "sync --dry-run: {}", ran.stderr);
    let text = format!("{}{}", ran.stdout, ran.stderr);
    assert!(text.contains("Would sync 1 run"), "{text}");
    assert!(text.contains("run-vals0001.wandb"), "{text}");
    assert!(!text.contains("skipped corrupt data"), "{text}");
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn histogram_matches_wandb_histogram_of_the_same_float32_array() {
    let Some(bin) = wandb_bin() else { return };
    let out = scratch("hist");
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let values: Vec<f32> = (0..5000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.3) * 7.3
        })
        .collect();
    let mut w = WandbWriter::create(&out, &info("hist0001")).expect("create");
    w.history(0, START_NS + 1, &[("weights", WandbValue::F32Array(values.clone()))]).expect("history");
    w.history(1, START_NS + 2, &[("same", WandbValue::F32Array(vec![5.0, 5.0]))]).expect("history");
    let paths = w.finish(Outcome::Exited { exit_code: 0, runtime_s: 0.0 }).expect("finish");
    let records = inspect(&bin, &out, &paths.wandb_file);
    let history = history_records(&records);
    let got = &history[0]["history"]["item"];
    assert_eq!(got["weights._type"], "histogram");

    // W&B's own histogram of the same float32 array.
    let data_path = out.join("values.f32");
    std::fs::File::create(&data_path)
        .and_then(|mut f| f.write_all(&values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()))
        .expect("write values");
    let mut cmd = command(&bin, "python", &out);
    cmd.arg("-c")
        .arg(
            "import sys, json, numpy as np, wandb\n\
             a = np.fromfile(sys.argv[1], dtype='<f4')\n\
             print(json.dumps(wandb.Histogram(a).to_json()))\n\
             print(json.dumps(wandb.Histogram(np.array([5.0, 5.0], dtype=np.float32)).to_json()))",
        )
        .arg(&data_path);
    let ran = run(cmd, CMD_TIMEOUT);
    assert_eq!(ran.code, Some(0), "python: {}", ran.stderr);
    let want = parse_lines(&ran.stdout);
    // Compare as numbers: W&B's reader prints 5.0 as 5, Python's json as 5.0.
    let floats =
        |v: &Value| -> Vec<f64> { v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number")).collect() };
    assert_eq!(floats(&got["weights.values"]), floats(&want[0]["values"]));
    assert_eq!(floats(&got["weights.bins"]), floats(&want[0]["bins"]));
    let same = &history[1]["history"]["item"];
    assert_eq!(floats(&same["same.values"]), floats(&want[1]["values"]));
    assert_eq!(floats(&same["same.bins"]), floats(&want[1]["bins"]));
    assert_eq!(floats(&same["same.values"])[32], 2.0);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn merged_lanes_give_one_row_per_step() {
    let Some(bin) = wandb_bin() else { return };
    let out = scratch("lanes");
    let mut w = WandbWriter::create(&out, &info("lanes001")).expect("create");
    let mut merger = RowMerger::new();
    let mut rows = Vec::new();
    for step in 0..50i64 {
        for lane in 0..3u32 {
            let ts = START_NS + step as u64 * 1000 + u64::from(lane);
            let items = [
                (format!("lane{lane}/loss"), WandbValue::F64(step as f64 + f64::from(lane) / 10.0)),
                ("shared".to_string(), WandbValue::I64(i64::from(lane))),
            ];
            rows.extend(merger.push(lane, step, ts, &items).expect("in order"));
        }
    }
    rows.extend(merger.finish());
    assert_eq!(rows.len(), 50);
    for row in &rows {
        let items: Vec<(&str, WandbValue)> = row.items.iter().map(|(k, v)| (&**k, v.clone())).collect();
        w.history(row.step, row.timestamp_unix_ns, &items).expect("history");
    }
    let paths = w.finish(Outcome::Exited { exit_code: 0, runtime_s: 0.1 }).expect("finish");
    let records = inspect(&bin, &out, &paths.wandb_file);
    let history = history_records(&records);
    assert_eq!(history.len(), 50);
    for (i, rec) in history.iter().enumerate() {
        let item = &rec["history"]["item"];
        assert_eq!(item["_step"], i as u64);
        for lane in 0..3 {
            assert_eq!(item[format!("lane{lane}/loss")].as_f64(), Some(i as f64 + f64::from(lane) / 10.0));
        }
        // Lane 2 has the latest timestamp at every step, so its value wins.
        assert_eq!(item["shared"], 2);
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn crashed_run_shows_as_failed() {
    let Some(bin) = wandb_bin() else { return };
    let out = scratch("crash");
    let mut w = WandbWriter::create(&out, &info("crash001")).expect("create");
    w.history(0, START_NS + 10, &[("loss", WandbValue::F64(f64::NAN))]).expect("history");
    w.output_line(Stream::Stderr, START_NS + 20, "Traceback: boom").expect("output");
    let paths = w.finish(Outcome::Crashed { runtime_s: 7.9 }).expect("finish");
    let s = summary(&bin, &out, &paths.run_dir);
    assert_eq!(s["state"], "failed");
    assert_eq!(s["exit_code"], 1);
    assert_eq!(s["console"][0]["line"], "Traceback: boom");
    assert_eq!(s["console"][0]["stream"], "stderr");
    let records = inspect(&bin, &out, &paths.wandb_file);
    let exit = records.last().expect("records");
    assert_eq!(exit["exit"]["exit_code"], 1);
    assert_eq!(exit["exit"]["runtime"], 7);

    // A failed exit code also shows as failed; exit code 0 as finished is checked above.
    let out2 = scratch("crash-exit3");
    let w = WandbWriter::create(&out2, &info("crash002")).expect("create");
    let paths = w.finish(Outcome::Exited { exit_code: 3, runtime_s: 1.0 }).expect("finish");
    let s = summary(&bin, &out2, &paths.run_dir);
    assert_eq!(s["state"], "failed");
    assert_eq!(s["exit_code"], 3);
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&out2);
}

/// Environment variable that turns `sigkill_mid_run_leaves_a_readable_file` into the child
/// writer process.
const CHILD_ENV: &str = "RINGLOG_WANDB_TEST_CHILD_DIR";

#[test]
fn sigkill_mid_run_leaves_a_readable_file() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        // Child: write and flush batches until killed, reporting each flushed record count.
        let mut w = WandbWriter::create(Path::new(&dir), &info("kill0001")).expect("create");
        let mut stdout = std::io::stdout();
        for batch in 0..1_000_000i64 {
            for i in 0..200 {
                let step = batch * 200 + i;
                let items = [("loss", WandbValue::F64(1.0 / (step as f64 + 1.0))), ("step2", WandbValue::I64(step))];
                w.history(step, START_NS + step as u64 * 1000, &items).expect("history");
            }
            w.flush().expect("flush");
            writeln!(stdout, "flushed {}", w.records()).expect("stdout");
            stdout.flush().expect("stdout");
            std::thread::sleep(Duration::from_millis(5));
        }
        return;
    }
    let Some(bin) = wandb_bin() else { return };
    let out = scratch("sigkill");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["sigkill_mid_run_leaves_a_readable_file", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &out)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child writer");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("child stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("flushed ").and_then(|n| n.parse::<u64>().ok())
                && tx.send(n).is_err()
            {
                break;
            }
        }
    });
    let mut flushed = 0u64;
    let mut batches = 0;
    while batches < 20 {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(n) => {
                flushed = n;
                batches += 1;
            }
            Err(e) => {
                let _ = child.kill();
                panic!("child writer reported no flush within 60 s ({e})");
            }
        }
    }
    child.kill().expect("SIGKILL the writer"); // Child::kill sends SIGKILL on Unix
    let status = wait_bounded(&mut child, Duration::from_secs(30)).expect("killed child exits");
    assert!(!status.success());

    let run_dir = run_dir_of(&out);
    let mut cmd = command(&bin, "wandb", &out);
    cmd.args(["leet", "inspect", "--json"]).arg(&run_dir);
    let ran = run(cmd, CMD_TIMEOUT);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(!ran.stderr.contains("skipped corrupt data"), "{}", ran.stderr);
    // A kill that lands inside a write(2) can cut the last record short; W&B then says the
    // file ends early, which is what a killed run looks like, not corruption.
    for line in ran.stderr.lines().filter(|l| !l.trim().is_empty()) {
        assert!(line.contains("incomplete .wandb file"), "unexpected stderr line {line:?}");
    }
    let records = parse_lines(&ran.stdout);
    assert!(records.len() as u64 >= flushed, "{} records read, {flushed} flushed before the kill", records.len());
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["num"], i as u64 + 1);
    }
    assert!(records.iter().all(|r| r["type"] != "exit"));
    let s = summary(&bin, &out, &run_dir);
    assert_eq!(s["state"], "running");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn follow_sees_history_before_the_run_finishes() {
    let Some(bin) = wandb_bin() else { return };
    let out = scratch("follow");
    let mut w = WandbWriter::create(&out, &info("follow01")).expect("create");
    w.history(0, START_NS + 1, &[("loss", WandbValue::F64(1.0))]).expect("history");
    w.flush().expect("flush");
    let paths: RunDir = w.paths().clone();

    let mut cmd = command(&bin, "wandb", &out);
    cmd.args(["leet", "inspect", "--follow", "--json", "--idle-timeout", "60s"]).arg(&paths.wandb_file);
    let mut follower =
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn follower");
    let err = drain(follower.stderr.take().expect("stderr"));
    let (tx, rx) = mpsc::channel::<Value>();
    let stdout = follower.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && tx.send(v).is_err()
            {
                break;
            }
        }
    });

    // Keep writing until the follower has shown history from a step logged after it started.
    let mut seen: BTreeMap<i64, Value> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut step = 1i64;
    while !seen.keys().any(|&s| s >= 5) {
        assert!(Instant::now() < deadline, "follower showed no history past step 5 within 90 s; saw {seen:?}");
        if step <= 1000 {
            w.history(step, START_NS + 1 + step as u64, &[("loss", WandbValue::F64(1.0 / step as f64))])
                .expect("history");
            w.flush().expect("flush");
            step += 1;
        }
        while let Ok(rec) = rx.recv_timeout(Duration::from_millis(100)) {
            if rec["type"] == "history" {
                let s = rec["history"]["step"]["num"].as_i64().unwrap_or(0);
                seen.insert(s, rec);
            }
        }
    }
    assert!(seen.contains_key(&0));
    let finished_at_step = step;
    w.finish(Outcome::Exited { exit_code: 0, runtime_s: 1.0 }).expect("finish");

    // The follower stops at the exit record; collect the rest (bounded).
    let mut saw_exit = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !saw_exit && Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(rec) => saw_exit |= rec["type"] == "exit",
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = wait_bounded(&mut follower, Duration::from_secs(30));
    let stderr = err.join().unwrap_or_default();
    assert!(saw_exit, "follower never showed the exit record; stderr: {stderr}");
    assert!(status.is_some(), "follower did not stop after the exit record");
    assert!(!stderr.contains("skipped corrupt data"), "{stderr}");
    assert!(finished_at_step > 5);
    let _ = std::fs::remove_dir_all(&out);
}

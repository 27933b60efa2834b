//! `ringlog export RUN --format wandb` end to end: runs logged by real trainer processes
//! through the real service, exported by the real `ringlog` binary, read back with W&B's own
//! reader (`wandb leet inspect`, `wandb sync --dry-run` from `wandb==0.31.0`).
//!
//! W&B is found in the virtual environment named by `RINGLOG_TEST_VENV` (default:
//! `<repo>/target/venv`). Without it these tests print a loud SKIPPED message and pass, unless
//! `RINGLOG_REQUIRE_WANDB=1`, when they fail. Every wait is bounded.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ringlog_ring::RecordKind;
use ringlog_service::{KeyTable, RunLog, row};
use ringlog_tests::{TestEnv, ringlog_bin, wait_bounded};
use serde_json::{Map, Value};

const CMD_TIMEOUT: Duration = Duration::from_secs(300);

fn client_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ringlog-test-client")
}

/// The venv's `bin/` directory, or `None` (after a loud message) when wandb is not installed
/// and not required.
fn wandb_bin() -> Option<PathBuf> {
    let venv = std::env::var_os("RINGLOG_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/venv"));
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
    eprintln!("\n!!!!!!!! SKIPPED (W&B export tests): {msg} !!!!!!!!\n");
    None
}

/// Output of a finished command.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` to completion (bounded), capturing both streams.
fn run(mut cmd: Command) -> Ran {
    let what = format!("{cmd:?}");
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let status = wait_bounded(&mut child, CMD_TIMEOUT, &what);
    Ran { code: status.code(), stdout: out.join().expect("stdout"), stderr: err.join().expect("stderr") }
}

/// A `wandb` command with its state kept under `home`.
fn wandb(bin: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(bin.join("wandb"));
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

/// `wandb leet inspect --json PATH`: asserts exit 0 and an empty stderr, returns the records.
fn inspect(bin: &Path, home: &Path, path: &Path) -> Vec<Value> {
    let mut cmd = wandb(bin, home);
    cmd.args(["leet", "inspect", "--json"]).arg(path);
    let ran = run(cmd);
    assert_eq!(ran.code, Some(0), "leet inspect failed: {}", ran.stderr);
    assert_eq!(ran.stderr, "", "leet inspect wrote to stderr");
    ran.stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// `wandb leet inspect --summary --json DIR`: asserts exit 0 and an empty stderr.
fn summary(bin: &Path, home: &Path, dir: &Path) -> Value {
    let mut cmd = wandb(bin, home);
    cmd.args(["leet", "inspect", "--summary", "--json"]).arg(dir);
    let ran = run(cmd);
    assert_eq!(ran.code, Some(0), "leet inspect --summary failed: {}", ran.stderr);
    assert_eq!(ran.stderr, "", "leet inspect --summary wrote to stderr");
    serde_json::from_str(&ran.stdout).expect("summary JSON")
}

/// Runs a client mode to completion; returns its JSON lines.
fn run_client(env: &TestEnv, args: &[&str]) -> Vec<Value> {
    let mut cmd = env.command(client_bin());
    cmd.args(args);
    let ran = run(cmd);
    assert_eq!(ran.code, Some(0), "client {args:?} failed: {}", ran.stderr);
    ran.stdout.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).expect("json")).collect()
}

/// `ringlog ARGS` in `env`; asserts success, returns (stdout, stderr).
fn ringlog(env: &TestEnv, args: &[&str]) -> (String, String) {
    let mut cmd = env.command(ringlog_bin());
    cmd.args(args);
    let ran = run(cmd);
    assert_eq!(ran.code, Some(0), "ringlog {args:?}: {}", ran.stderr);
    (ran.stdout, ran.stderr)
}

/// Exports `run_id` as W&B into `out` with extra `flags`; returns the offline run's directory.
fn export_wandb(env: &TestEnv, run_id: &str, out: &Path, flags: &[&str]) -> PathBuf {
    let out_s = out.to_str().expect("utf-8 path");
    let mut args = vec!["export", run_id, "--format", "wandb", "--out", out_s];
    args.extend_from_slice(flags);
    let (stdout, stderr) = ringlog(env, &args);
    assert!(!stderr.contains("left out"), "rows were dropped: {stderr}");
    assert!(stdout.starts_with("wrote "), "{stdout}");
    let link = std::fs::read_link(out.join("wandb/latest-run")).expect("latest-run link");
    out.join("wandb").join(link)
}

/// What the run log holds, computed independently of the exporter: history values merged
/// per step (with `value_json`'s mapping), and counts of the other records.
#[derive(Default)]
struct Reference {
    rows: BTreeMap<i64, Map<String, Value>>,
    config_records: usize,
    outputs: usize,
    alerts: usize,
    stats: usize,
    exit_code: Option<i64>,
}

fn reference(run_dir: &Path) -> Reference {
    let log = RunLog::open(run_dir.join("run.rlog")).expect("run log");
    let mut keys = KeyTable::new();
    let mut r = Reference::default();
    for rec in log {
        let rec = rec.expect("valid record");
        let record = rec.record();
        keys.observe(rec.lane(), &record);
        let Some(row) = row(rec.lane(), &record, &keys) else { continue };
        match row.kind {
            RecordKind::Scalar1 | RecordKind::Scalars | RecordKind::History => {
                r.rows.entry(row.step.expect("step")).or_default().extend(row.values);
            }
            RecordKind::Config => r.config_records += 1,
            RecordKind::Output => r.outputs += 1,
            RecordKind::Alert => r.alerts += 1,
            RecordKind::Stats => r.stats += 1,
            RecordKind::Exit => r.exit_code = row.values["exit_code"].as_i64(),
            _ => {}
        }
    }
    r
}

/// Whether W&B's `got` is the logged `want` (numbers compared as numbers: W&B prints 2.0 as 2).
fn same(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::Number(w), Value::Number(g)) => match (w.as_i64(), g.as_i64()) {
            (Some(w), Some(g)) => w == g,
            _ => w.as_f64() == g.as_f64(),
        },
        _ => want == got,
    }
}

/// Checks every logged value of `want` in W&B's history item `item`.
fn check_item(step: i64, want: &Map<String, Value>, item: &Value) {
    for (key, want) in want {
        match want {
            // A float array is a W&B histogram: 64 counts over its (finite) values.
            Value::Array(values) => {
                assert_eq!(item[format!("{key}._type")], "histogram", "step {step} key {key}: {item}");
                let counts = item[format!("{key}.values")].as_array().expect("counts");
                let total: f64 = counts.iter().map(|c| c.as_f64().expect("count")).sum();
                assert_eq!(total, values.len() as f64, "step {step} key {key}");
            }
            _ => assert!(same(want, &item[key]), "step {step} key {key}: logged {want}, W&B has {}", item[key]),
        }
    }
}

fn history(records: &[Value]) -> Vec<&Value> {
    records.iter().filter(|r| r["type"] == "history").collect()
}

fn scratch(env: &TestEnv, name: &str) -> PathBuf {
    let dir = env.root.join(name);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn rich_run_round_trips_through_wandbs_reader() {
    let Some(bin) = wandb_bin() else { return };
    let env = TestEnv::new("wbx-rich");
    let out = run_client(&env, &["init-rich", "2000"]);
    let run_id = out[0]["run_id"].as_str().expect("run id").to_owned();
    let run_dir = PathBuf::from(out[0]["run_dir"].as_str().expect("run dir"));
    let want = reference(&run_dir);
    assert_eq!(want.rows.len(), 2000);
    assert_eq!((want.outputs, want.alerts, want.exit_code), (2, 1, Some(0)));

    let home = scratch(&env, "home");
    let wandb_run = export_wandb(&env, &run_id, &scratch(&env, "out"), &[]);
    let file = wandb_run.join(format!("run-{run_id}.wandb"));
    let records = inspect(&bin, &home, &file);

    // Header, run, the config records, a summary update and a history row per step, the
    // output lines, alerts and stats, then the runtime summary update and the exit.
    let expected = 2 + want.config_records + 2 * want.rows.len() + want.outputs + want.alerts + want.stats + 2;
    assert_eq!(records.len(), expected, "record count");
    let rows = history(&records);
    assert_eq!(rows.len(), want.rows.len());
    for (rec, (step, values)) in rows.iter().zip(&want.rows) {
        let item = &rec["history"]["item"];
        assert_eq!(rec["history"]["step"]["num"].as_i64(), Some(*step));
        assert_eq!(item["_step"].as_i64(), Some(*step));
        check_item(*step, values, item);
    }
    assert_eq!(records.iter().filter(|r| r["type"] == "alert").count(), 1);
    let exit = records.last().expect("records");
    assert_eq!(exit["exit"]["exit_code"], 0);

    // The summary view: config (from init and the mid-run update), summary and exit state.
    let s = summary(&bin, &home, &wandb_run);
    assert_eq!(s["state"], "finished", "{s}");
    assert_eq!(s["exit_code"], 0);
    assert_eq!(s["project"], "tests");
    assert_eq!(s["name"], "rich run ✓");
    assert_eq!(s["run_id"], run_id.as_str());
    assert_eq!(s["config"]["lr"], 0.1);
    assert_eq!(s["config"]["layers"], 1u64 << 60);
    assert_eq!(s["config"]["batch_size"], 64);
    let last_loss = want.rows.values().rev().find_map(|r| r.get("train/loss")).expect("a loss");
    assert!(same(last_loss, &s["summary"]["train/loss"]), "{last_loss} vs {}", s["summary"]["train/loss"]);
    assert_eq!(s["summary"]["_step"], 1999);
    assert_eq!(s["console_lines"], 2);

    // `wandb sync --dry-run` (run in the export's directory, which is also WANDB_DIR, as a
    // training script's directory would be) lists it as a run to upload.
    let out_dir = wandb_run.parent().and_then(Path::parent).expect("out dir");
    let mut cmd = wandb(&bin, out_dir);
    cmd.current_dir(out_dir).env_remove("WANDB_SILENT").args(["sync", "--dry-run"]);
    let ran = run(cmd);
    assert_eq!(ran.code, Some(0), "sync --dry-run: {}", ran.stderr);
    let text = format!("{}{}", ran.stdout, ran.stderr);
    assert!(text.contains("Would sync 1 run"), "{text}");
    assert!(text.contains(&format!("run-{run_id}.wandb")), "{text}");
    assert!(!text.contains("skipped corrupt data"), "{text}");
}

/// Polls `run.json` until `state` leaves "running" (bounded).
fn wait_closed(run_dir: &Path) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let meta: Value = serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).expect("run.json"))
            .expect("run.json is JSON");
        if meta["state"] != "running" {
            return meta;
        }
        assert!(Instant::now() < deadline, "run never closed: {meta}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigkilled_trainer_exports_as_failed() {
    let Some(bin) = wandb_bin() else { return };
    let env = TestEnv::new("wbx-crash");
    let mut child = env.command(client_bin()).arg("init-crash").stdout(Stdio::piped()).spawn().expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("first line");
    let status = wait_bounded(&mut child, Duration::from_secs(60), "crashing client");
    assert!(!status.success());
    let first: Value = serde_json::from_str(&line).expect("json");
    let run_dir = PathBuf::from(first["run_dir"].as_str().expect("run dir"));
    assert_eq!(wait_closed(&run_dir)["state"], "crashed");
    let want = reference(&run_dir);
    assert_eq!(want.exit_code, None, "a SIGKILLed trainer writes no exit record");

    let home = scratch(&env, "home");
    let wandb_run = export_wandb(&env, first["run_id"].as_str().expect("run id"), &scratch(&env, "out"), &[]);
    let s = summary(&bin, &home, &wandb_run);
    assert_eq!(s["state"], "failed", "{s}");
    assert_eq!(s["exit_code"], 1);
    let records = inspect(&bin, &home, &wandb_run);
    let rows = history(&records);
    assert_eq!(rows.len(), 1000);
    for (rec, (step, values)) in rows.iter().zip(&want.rows) {
        check_item(*step, values, &rec["history"]["item"]);
    }
    assert_eq!(records.last().expect("records")["exit"]["exit_code"], 1);
}

#[test]
fn lanes_of_several_processes_merge_into_one_row_per_step() {
    let Some(bin) = wandb_bin() else { return };
    let env = TestEnv::new("wbx-lanes");
    let out = run_client(&env, &["init-attach", "3", "20000"]);
    let run_id = out[0]["run_id"].as_str().expect("run id").to_owned();
    let run_dir = env.run_dir(&run_id);
    let want = reference(&run_dir);
    assert_eq!(want.rows.len(), 20000);

    let home = scratch(&env, "home");
    let wandb_run = export_wandb(&env, &run_id, &scratch(&env, "out"), &[]);
    let records = inspect(&bin, &home, &wandb_run);
    let rows = history(&records);
    assert_eq!(rows.len(), 20000, "one row per step");
    for (rec, (step, values)) in rows.iter().zip(&want.rows) {
        assert_eq!(rec["history"]["step"]["num"].as_i64(), Some(*step));
        check_item(*step, values, &rec["history"]["item"]);
    }
}

#[test]
fn max_rows_cuts_a_million_steps_to_a_thousand_rows_with_exact_aggregates() {
    const STEPS: i64 = 1_000_000;
    let Some(bin) = wandb_bin() else { return };
    let env = TestEnv::new("wbx-maxrows");
    // `init N` logs loss = step for steps 0..N.
    let out = run_client(&env, &["init", &STEPS.to_string()]);
    let run_id = out[0]["run_id"].as_str().expect("run id").to_owned();

    let home = scratch(&env, "home");
    let flags = ["--max-rows", "1000", "--agg"];
    let wandb_run = export_wandb(&env, &run_id, &scratch(&env, "out"), &flags);
    let records = inspect(&bin, &home, &wandb_run);
    let rows = history(&records);
    assert!(rows.len() <= 1000, "{} rows", rows.len());
    assert_eq!(rows.len(), 1000);

    // Reference: windows of ceil(1e6 / 1000) = 1000 steps from step 0, over loss = step.
    let every = 1000i64;
    for (w, rec) in rows.iter().enumerate() {
        let item = &rec["history"]["item"];
        let lo = w as i64 * every;
        let hi = lo + every - 1;
        let values: Vec<f64> = (lo..=hi).map(|s| s as f64).collect();
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        assert_eq!(item["_step"].as_i64(), Some(hi));
        assert_eq!(item["loss"].as_f64(), Some(hi as f64));
        assert_eq!(item["loss/min"].as_f64(), Some(min));
        assert_eq!(item["loss/max"].as_f64(), Some(max));
        assert_eq!(item["loss/mean"].as_f64(), Some(mean));
    }

    // The same flags mean the same rows in JSONL and CSV.
    let mut args = vec!["export", run_id.as_str(), "--format", "jsonl"];
    args.extend_from_slice(&flags);
    let (jsonl, _) = ringlog(&env, &args);
    let lines: Vec<Value> = jsonl.lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    assert_eq!(lines.len(), rows.len());
    for (line, rec) in lines.iter().zip(&rows) {
        let item = &rec["history"]["item"];
        for key in ["_step", "loss", "loss/min", "loss/mean", "loss/max"] {
            assert!(same(&line[key], &item[key]), "{key}: JSONL {line} vs W&B {item}");
        }
    }
    args[3] = "csv";
    let (csv, _) = ringlog(&env, &args);
    assert_eq!(csv.lines().next(), Some("_step,_timestamp,loss,loss/max,loss/mean,loss/min"));
    assert_eq!(csv.lines().count(), rows.len() + 1);
}

#[test]
fn init_run_without_the_wandb_field_still_parses() {
    use ringlog_ring::protocol::control_message::{InitRun, Request};
    let init = InitRun {
        project: "p".into(),
        name: String::new(),
        tags: Vec::new(),
        config: serde_json::json!({}),
        run_dir: "/tmp/x".into(),
        lane_bytes: 1 << 20,
        policy: "drop".into(),
        run_id: None,
        wandb: false,
        system_stats_s: None,
    };
    let mut old = serde_json::to_value(Request::InitRun(init.clone())).expect("json");
    assert_eq!(old["wandb"], false);
    old.as_object_mut().expect("object").remove("wandb");
    let parsed: Request = serde_json::from_value(old).expect("an older client's InitRun parses");
    assert_eq!(parsed, Request::InitRun(init));
}

#[test]
fn live_wandb_run_is_followed_by_wandb_before_the_run_finishes() {
    use std::io::Write;
    use std::sync::mpsc;
    let Some(bin) = wandb_bin() else { return };
    let env = TestEnv::new("wbx-live");
    // RINGLOG_WANDB=1 turns `InitOptions::wandb` on without a code change in the trainer.
    let mut client = env
        .command(client_bin())
        .env("RINGLOG_WANDB", "1")
        .args(["init-log-hold", "500"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn client");
    let mut client_out = BufReader::new(client.stdout.take().expect("stdout"));
    let mut line = String::new();
    client_out.read_line(&mut line).expect("first line");
    let first: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    let run_id = first["run_id"].as_str().expect("run id").to_owned();
    let run_dir = PathBuf::from(first["run_dir"].as_str().expect("run dir"));
    let file = run_dir.join("wandb/latest-run").join(format!("run-{run_id}.wandb"));
    assert!(file.exists(), "no live W&B run at {}", file.display());

    // Follow it while the run is still open.
    let home = scratch(&env, "home");
    let mut cmd = wandb(&bin, &home);
    cmd.args(["leet", "inspect", "--follow", "--json", "--idle-timeout", "60s"]).arg(&file);
    let mut follower =
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn follower");
    let mut follower_err = follower.stderr.take().expect("stderr");
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = follower_err.read_to_string(&mut s);
        s
    });
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
    // Every step but the last two is settled (the lane is past it) and was flushed with
    // its batch: the follower must show them before the run finishes.
    let mut steps_seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while steps_seen.len() < 498 {
        assert!(Instant::now() < deadline, "follower showed {} history rows within 90 s", steps_seen.len());
        if let Ok(rec) = rx.recv_timeout(Duration::from_millis(200))
            && rec["type"] == "history"
        {
            let item = &rec["history"]["item"];
            let step = item["_step"].as_i64().expect("step");
            assert_eq!(item["loss"].as_f64(), Some(step as f64));
            steps_seen.push(step);
        }
    }
    assert_eq!(steps_seen, (0..498).collect::<Vec<_>>());
    let meta: Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).expect("run.json")).expect("json");
    assert_eq!(meta["state"], "running", "the rows were seen before the finish");

    // Finish: the follower sees the last rows and the exit record, then stops.
    client.stdin.take().expect("stdin").write_all(b"finish\n").expect("tell the client to finish");
    let status = wait_bounded(&mut client, Duration::from_secs(60), "client");
    assert!(status.success());
    let mut tail = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !tail.iter().any(|r: &Value| r["type"] == "exit") {
        assert!(Instant::now() < deadline, "follower never showed the exit record: {tail:?}");
        if let Ok(rec) = rx.recv_timeout(Duration::from_millis(200)) {
            tail.push(rec);
        }
    }
    let tail_steps: Vec<i64> =
        tail.iter().filter(|r| r["type"] == "history").filter_map(|r| r["history"]["item"]["_step"].as_i64()).collect();
    assert_eq!(tail_steps, [498, 499]);
    assert_eq!(tail.last().expect("exit")["exit"]["exit_code"], 0);
    let _ = wait_bounded(&mut follower, Duration::from_secs(60), "leet inspect --follow");
    let stderr = err.join().expect("stderr");
    assert!(!stderr.contains("corrupt"), "{stderr}");

    let s = summary(&bin, &home, &run_dir.join("wandb/latest-run"));
    assert_eq!(s["state"], "finished", "{s}");
    assert_eq!(s["summary"]["loss"], 499.0);
}

#[test]
fn live_wandb_run_of_a_sigkilled_trainer_ends_failed() {
    let Some(bin) = wandb_bin() else { return };
    let env = TestEnv::new("wbx-live-crash");
    let mut child = env
        .command(client_bin())
        .env("RINGLOG_WANDB", "1")
        .arg("init-crash")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("first line");
    let status = wait_bounded(&mut child, Duration::from_secs(60), "crashing client");
    assert!(!status.success());
    let first: Value = serde_json::from_str(&line).expect("json");
    let run_dir = PathBuf::from(first["run_dir"].as_str().expect("run dir"));
    assert_eq!(wait_closed(&run_dir)["state"], "crashed");

    let home = scratch(&env, "home");
    let live = run_dir.join("wandb/latest-run");
    let s = summary(&bin, &home, &live);
    assert_eq!((&s["state"], &s["exit_code"]), (&Value::from("failed"), &Value::from(1)), "{s}");
    let rows = inspect(&bin, &home, &live).into_iter().filter(|r| r["type"] == "history").count();
    assert_eq!(rows, 1000, "every committed step reached the live W&B run");
}

#[test]
fn live_wandb_run_survives_a_service_sigkill_mid_run() {
    let Some(bin) = wandb_bin() else { return };
    let env = TestEnv::new("wbx-live-restart");
    // 10 steps, the service is SIGKILLed, 10 more steps (through the auto-started
    // service that adopts the run), finish.
    let mut owner = env
        .command(client_bin())
        .env("RINGLOG_WANDB", "1")
        .arg("init-two-phase")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = BufReader::new(owner.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("first line");
    let first: Value = serde_json::from_str(&line).expect("json");
    let pid = env.service_pid();
    // SAFETY: plain kill(2) of the service process this test started.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    std::io::Write::write_all(owner.stdin.as_mut().expect("stdin"), b"go\n").expect("go");
    drop(owner.stdin.take());
    line.clear();
    out.read_line(&mut line).expect("finish report");
    assert!(wait_bounded(&mut owner, Duration::from_secs(120), "owner").success());
    let report: Value = serde_json::from_str(&line).expect("report json");
    assert_eq!(report["state"], "finished", "{report}");

    // One W&B run, read by W&B without complaint (inspect asserts an empty stderr), with
    // every step of both services, in order, and the finished state.
    let run_dir = PathBuf::from(first["run_dir"].as_str().expect("run dir"));
    let runs: Vec<_> = std::fs::read_dir(run_dir.join("wandb"))
        .expect("wandb dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("offline-run-"))
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let home = scratch(&env, "home");
    let live = run_dir.join("wandb/latest-run");
    let records = inspect(&bin, &home, &live);
    let losses: Vec<f64> = records
        .iter()
        .filter(|r| r["type"] == "history")
        .filter_map(|r| r["history"]["item"]["train/loss"].as_f64())
        .collect();
    assert_eq!(losses, (0..20).map(f64::from).collect::<Vec<_>>(), "every step, once, in order");
    let s = summary(&bin, &home, &live);
    assert_eq!((&s["state"], &s["exit_code"]), (&Value::from("finished"), &Value::from(0)), "{s}");
    assert_eq!(s["summary"]["best/acc"], 0.5, "{s}");
}

/// A live W&B run whose service samples system stats every 0.2 s: logs `steps`, stays
/// open for `open`, finishes; returns the run directory. `vars` reach the client and the
/// service it starts.
fn sampled_run(env: &TestEnv, steps: u32, open: Duration, vars: &[(&str, &std::ffi::OsStr)]) -> PathBuf {
    let mut cmd = env.command(client_bin());
    cmd.env("RINGLOG_WANDB", "1").env("RINGLOG_SYSTEM_STATS", "0.2").envs(vars.iter().copied());
    let mut child = cmd
        .args(["init-log-hold", &steps.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().expect("stdout")).read_line(&mut line).expect("first line");
    std::thread::sleep(open);
    drop(child.stdin.take());
    assert!(wait_bounded(&mut child, Duration::from_secs(60), "client").success());
    PathBuf::from(serde_json::from_str::<Value>(&line).expect("json")["run_dir"].as_str().expect("run dir"))
}

#[test]
fn system_stats_reach_the_run_log_and_the_live_wandb_run() {
    // The run-log checks need no wandb; the W&B part runs where wandb is installed.
    let bin = wandb_bin();
    let env = TestEnv::new("wbx-stats");
    // Samples every 0.2 s while the run is held open for about 1.5 s.
    let run_dir = sampled_run(&env, 200, Duration::from_millis(1500), &[]);

    // In the run log: stats records on the service's lane, with W&B's key names.
    let mut keys = KeyTable::new();
    let mut stats = Vec::new();
    for rec in RunLog::open(run_dir.join("run.rlog")).expect("log") {
        let rec = rec.expect("record");
        keys.observe(rec.lane(), &rec.record());
        if let ringlog_ring::RecordRef::Stats(s) = rec.record() {
            assert_eq!(rec.lane(), 1024, "the service's lane");
            let names: Vec<String> =
                s.items.iter().map(|i| keys.resolve(rec.lane(), i.key.to_native()).into_owned()).collect();
            stats.push(names);
        }
    }
    assert!(stats.len() >= 4, "{} samples in 1.5 s at 0.2 s", stats.len());
    let last = stats.last().expect("a sample");
    for want in
        ["cpu", "memory_percent", "proc.memory.rssMB", "proc.cpu.threads", "lane.0.rssMB", "disk.out", "network.sent"]
    {
        assert!(last.iter().any(|n| n == want), "{want} not in {last:?}");
    }

    // In the live W&B run, as stats records W&B's reader shows.
    if let Some(bin) = &bin {
        let home = scratch(&env, "home");
        let records = inspect(bin, &home, &run_dir.join("wandb/latest-run"));
        let wb: Vec<&Value> = records.iter().filter(|r| r["type"] == "stats").collect();
        assert_eq!(wb.len(), stats.len(), "one W&B stats record per sample");
        let rss = wb.last().expect("stats")["stats"]["item"]["proc.memory.rssMB"].as_f64().expect("rssMB");
        assert!(rss > 0.5, "the trainer's RSS in MB: {rss}");
    }

    // 0 turns sampling off.
    let off = env.command(client_bin()).env("RINGLOG_SYSTEM_STATS", "0").args(["init", "50"]).output().expect("run");
    assert!(off.status.success());
    let v: Value =
        serde_json::from_str(String::from_utf8_lossy(&off.stdout).lines().next().expect("line")).expect("json");
    let dir = env.run_dir(v["run_id"].as_str().expect("id"));
    let any_stats =
        RunLog::open(dir.join("run.rlog")).expect("log").any(|r| r.is_ok_and(|r| r.kind() == RecordKind::Stats));
    assert!(!any_stats, "RINGLOG_SYSTEM_STATS=0 logs no samples");
}

/// A stand-in for NVIDIA's `libnvidia-ml.so.1` on this GPU-less machine: two
/// devices with fixed readings, through NVML's C ABI (the functions and structs
/// the service binds). Built with the system C compiler.
const FAKE_NVML: &str = r#"
typedef struct { unsigned int gpu, memory; } util_t;
typedef struct { unsigned long long total, free, used; } mem_t;
int nvmlInit_v2(void) { return 0; }
int nvmlShutdown(void) { return 0; }
int nvmlDeviceGetCount_v2(unsigned int *n) { *n = 2; return 0; }
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **d) { *d = (void *)(unsigned long)(i + 1); return 0; }
static unsigned int idx(void *d) { return (unsigned int)(unsigned long)d - 1; }
int nvmlDeviceGetUtilizationRates(void *d, util_t *u) { u->gpu = 37 + idx(d); u->memory = 12; return 0; }
int nvmlDeviceGetMemoryInfo(void *d, mem_t *m) {
    (void)d; m->total = 80ULL << 30; m->used = 20ULL << 30; m->free = m->total - m->used; return 0;
}
int nvmlDeviceGetTemperature(void *d, int sensor, unsigned int *t) { (void)d; if (sensor != 0) return 2; *t = 55; return 0; }
int nvmlDeviceGetPowerUsage(void *d, unsigned int *mw) { (void)d; *mw = 250000; return 0; }
/* Device 1 does not report its power limit: its powerPercent is left out. */
int nvmlDeviceGetEnforcedPowerLimit(void *d, unsigned int *mw) { if (idx(d) == 1) return 3; *mw = 500000; return 0; }
"#;

#[test]
fn gpu_metrics_come_from_nvml_with_wandbs_names() {
    let bin = wandb_bin();
    let env = TestEnv::new("wbx-gpu");
    let src = scratch(&env, "nvml").join("fake_nvml.c");
    std::fs::write(&src, FAKE_NVML).expect("write C");
    let lib = src.with_file_name("libnvidia-ml.so.1");
    let cc = Command::new("cc").args(["-shared", "-fPIC", "-O1", "-o"]).arg(&lib).arg(&src).output().expect("cc");
    assert!(cc.status.success(), "cc: {}", String::from_utf8_lossy(&cc.stderr));
    // The service inherits the client's environment when the client starts it.
    let run = |nvml: &Path| {
        let run_dir = sampled_run(&env, 20, Duration::from_millis(700), &[("RINGLOG_NVML_LIB", nvml.as_os_str())]);
        let mut keys = KeyTable::new();
        let mut last = BTreeMap::new();
        for rec in RunLog::open(run_dir.join("run.rlog")).expect("log") {
            let rec = rec.expect("record");
            keys.observe(rec.lane(), &rec.record());
            if let ringlog_ring::RecordRef::Stats(s) = rec.record() {
                for i in s.items.iter() {
                    if let ringlog_ring::record::schema::ArchivedValue::F64(v) = &i.value {
                        last.insert(keys.resolve(rec.lane(), i.key.to_native()).into_owned(), v.to_native());
                    }
                }
            }
        }
        (run_dir, last)
    };
    let (run_dir, stats) = run(&lib);
    let want = [
        ("gpu.0.gpu", 37.0),
        ("gpu.1.gpu", 38.0),
        ("gpu.0.memory", 12.0),
        ("gpu.0.memoryAllocated", 25.0),
        ("gpu.0.memoryAllocatedBytes", (20u64 << 30) as f64),
        ("gpu.0.temp", 55.0),
        ("gpu.0.powerWatts", 250.0),
        ("gpu.0.powerPercent", 50.0),
    ];
    for (key, value) in want {
        assert_eq!(stats.get(key), Some(&value), "{key} in {stats:?}");
    }
    assert!(!stats.contains_key("gpu.1.powerPercent"), "a metric NVML refuses is left out");
    if let Some(bin) = &bin {
        let home = scratch(&env, "home");
        let records = inspect(bin, &home, &run_dir.join("wandb/latest-run"));
        let last = records.iter().rev().find(|r| r["type"] == "stats").expect("a W&B stats record");
        assert_eq!(last["stats"]["item"]["gpu.0.gpu"].as_f64(), Some(37.0), "{last}");
    }
    // Without the library: no GPU metrics, and the run is otherwise the same.
    env.ringlog(&["shutdown"]);
    let (_, stats) = run(&env.root.join("no-such-libnvidia-ml.so"));
    assert!(stats.contains_key("memory_percent"), "{stats:?}");
    assert!(!stats.keys().any(|k| k.starts_with("gpu.")), "{stats:?}");
}

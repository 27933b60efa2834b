//! A real trainer process for the service tests, driven by its arguments.
//! The socket, runs dir and service binary come from the environment
//! (`RINGLOG_SOCKET`, `RINGLOG_DIR`, `RINGLOG_BIN`), set per test.
//!
//! Modes (each prints one JSON line on stdout with what happened):
//! - `init RECORDS [LANE_BYTES]`: init, log RECORDS steps of one scalar, finish.
//! - `init-attach WORKERS RECORDS`: init, spawn WORKERS `attach` children, finish after them.
//! - `attach RUN_ID RECORDS [PROGRESS]`: attach, log RECORDS steps; with PROGRESS, print
//!   `committed N` after each 1000 records (the test kills it mid-stream).
//! - `init-hold RECORDS`: init, log, print the run id, wait for a line on stdin, finish.
//! - `init-log-hold RECORDS`: init, log RECORDS steps, flush, print the run id and dir, wait
//!   for a line on stdin, finish (the live W&B test follows the run in between).
//! - `init-crash`: init, log 1000 steps, SIGKILL itself (the run must close as crashed).
//! - `init-slow RECORDS INTERVAL_MS`: init, print the run id and dir, log one step every
//!   INTERVAL_MS (a slow logger whose lane never fills), finish.
//! - `attach-hold RUN_ID RECORDS`: attach, log, print `ready`, wait for a line on stdin,
//!   detach, and print the report or `{"error": ...}`.
//! - `attach-stall RUN_ID RECORDS`: attach, log, print `ready`, wait for a line
//!   on stdin (the test stops and resumes it around the owner's finish), log
//!   one more record and print what happened.
//! - `init-two-phase`: init, log 10 steps of `train/loss` and `best/acc`, wait
//!   until the service took them, print the run id, wait for a line on stdin
//!   (the test kills the service), log 10 more steps, finish.
//! - `init-rich STEPS`: init with config, name and tags, log STEPS steps mixing `Scalar1`,
//!   `Scalars` and `History` records with every value type (NaN, infinities, integers past
//!   2^53, strings, float arrays, JSON), plus output lines, alerts and a config update
//!   mid-run; finish with exit code 0.
//! - `init-drop`: init, log 1000 steps, drop the handle without finishing.
//! - `fork`: init, fork; the child must get `Forked` from the parent's handle.
//! - `status-raw`: connect without any checks and ask for status (the other-uid test).
//! - `scribble RUN_ID RECORDS`: attach, log RECORDS steps, then write random
//!   bytes over every mapping of a ringlog segment this process has writable
//!   (found in `/proc/self/maps`), try to log RECORDS more, and report what
//!   it found: a buggy C producer scribbling on everything it can reach. The
//!   bytes come from `RINGLOG_SCRIBBLE_SEED` when set (the report names the
//!   seed used).

use std::io::{BufRead, Write};
use std::time::Duration;

use ringlog::{ClientError, InitOptions, Value};

fn out(v: serde_json::Value) {
    println!("{v}");
    std::io::stdout().flush().expect("stdout");
}

fn fail(e: impl std::fmt::Display) -> ! {
    eprintln!("ringlog-test-client: {e}");
    std::process::exit(1)
}

fn log_steps(run: &mut ringlog::Run, records: i64, progress: bool) {
    let k = run.key("loss").unwrap_or_else(|e| fail(e));
    for step in 0..records {
        let _ = run.log(step, &[(k, step as f64)]).unwrap_or_else(|e| fail(e));
        if progress && (step + 1) % 1000 == 0 {
            println!("committed {}", step + 1);
            std::io::stdout().flush().expect("stdout");
        }
    }
}

/// Attaches to `run_id`, logs `records` steps, prints `ready` with the lane,
/// and waits for a line on stdin.
fn attach_log_and_wait(run_id: &str, records: &str) -> (ringlog::Run, i64) {
    let records: i64 = records.parse().unwrap_or_else(|e| fail(e));
    let mut run = ringlog::attach(run_id).unwrap_or_else(|e| fail(e));
    log_steps(&mut run, records, false);
    out(serde_json::json!({"ready": run.lane()}));
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).expect("stdin");
    (run, records)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_else(|| fail("missing argument"));
    match arg(0) {
        "init" => {
            let records: i64 = arg(1).parse().unwrap_or_else(|e| fail(e));
            let lane_bytes = args.get(2).map(|b| b.parse().unwrap_or_else(|e| fail(e)));
            let opts = InitOptions {
                project: "tests".into(),
                lane_bytes,
                config: vec![("lr".into(), Value::F64(0.1))],
                ..Default::default()
            };
            let mut run = ringlog::init(opts).unwrap_or_else(|e| fail(e));
            out(serde_json::json!({"run_id": run.run_id(), "pid": std::process::id()}));
            log_steps(&mut run, records, false);
            let _ = run.summary(&[("best", Value::F64(0.5))]).unwrap_or_else(|e| fail(e));
            let report = run.finish(0).unwrap_or_else(|e| fail(e));
            out(serde_json::to_value(&report).expect("json"));
        }
        "init-rich" => {
            let steps: i64 = arg(1).parse().unwrap_or_else(|e| fail(e));
            let opts = InitOptions {
                project: "tests".into(),
                name: "rich run ✓".into(),
                tags: vec!["t1".into(), "ünï".into()],
                config: vec![("lr".into(), Value::F64(0.1)), ("layers".into(), Value::I64(1 << 60))],
                ..Default::default()
            };
            let mut run = ringlog::init(opts).unwrap_or_else(|e| fail(e));
            out(serde_json::json!({"run_id": run.run_id(), "run_dir": run.run_dir()}));
            let loss = run.key("train/loss").unwrap_or_else(|e| fail(e));
            let acc = run.key("train/acc").unwrap_or_else(|e| fail(e));
            let _ = run.output(ringlog::Stream::Stdout, "training started").unwrap_or_else(|e| fail(e));
            for step in 0..steps {
                let x = step as f64;
                let _ = match step % 4 {
                    0 => run.log(step, &[(loss, 1.0 / (x + 1.0))]),
                    1 => run.log(step, &[(loss, 1.0 / (x + 1.0)), (acc, x / 1e3)]),
                    2 => run.log_values(
                        step,
                        &[
                            (
                                "train/loss",
                                Value::F64([f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e-5][(step / 4 % 4) as usize]),
                            ),
                            ("tokens", Value::I64((1 << 60) + step)),
                            ("ok", Value::Bool(step % 8 == 2)),
                            ("phase", Value::Str(format!("phase ✓ {step}"))),
                            ("meta", Value::Json(format!(r#"{{"step":{step},"tags":["a","b"]}}"#))),
                        ],
                    ),
                    _ => run
                        .log_values(step, &[("weights", Value::F32Array(vec![x as f32, 0.5, -1.25, x as f32 * 2.0]))]),
                }
                .unwrap_or_else(|e| fail(e));
                if step == steps / 2 {
                    let _ = run.config(&[("batch_size", Value::I64(64))]).unwrap_or_else(|e| fail(e));
                    let _ = run.output(ringlog::Stream::Stderr, "halfway").unwrap_or_else(|e| fail(e));
                    let _ = run
                        .alert(ringlog::AlertLevel::Warn, "loss plateau", &format!("at step {step}"))
                        .unwrap_or_else(|e| fail(e));
                }
            }
            let report = run.finish(0).unwrap_or_else(|e| fail(e));
            out(serde_json::to_value(&report).expect("json"));
        }
        "init-attach" => {
            let workers: usize = arg(1).parse().unwrap_or_else(|e| fail(e));
            let records = arg(2);
            let run = ringlog::init(InitOptions { project: "tests".into(), ..Default::default() })
                .unwrap_or_else(|e| fail(e));
            let exe = std::env::current_exe().expect("exe");
            let children: Vec<_> = (0..workers)
                .map(|_| {
                    std::process::Command::new(&exe)
                        .args(["attach", run.run_id(), records])
                        .stdout(std::process::Stdio::null())
                        .spawn()
                        .unwrap_or_else(|e| fail(e))
                })
                .collect();
            for mut c in children {
                let status = c.wait().unwrap_or_else(|e| fail(e));
                if !status.success() {
                    fail(format!("worker failed: {status}"));
                }
            }
            let report = run.finish(0).unwrap_or_else(|e| fail(e));
            out(serde_json::to_value(&report).expect("json"));
        }
        "attach" => {
            let records: i64 = arg(2).parse().unwrap_or_else(|e| fail(e));
            let mut run = ringlog::attach(arg(1)).unwrap_or_else(|e| fail(e));
            log_steps(&mut run, records, args.get(3).is_some());
            let report = run.finish(0).unwrap_or_else(|e| fail(e));
            out(serde_json::to_value(&report).expect("json"));
        }
        "init-hold" => {
            let records: i64 = arg(1).parse().unwrap_or_else(|e| fail(e));
            let mut run = ringlog::init(InitOptions {
                project: "tests".into(),
                lane_bytes: Some(1 << 16),
                policy: ringlog::FullPolicy::Block { timeout: Duration::from_secs(60) },
                // RINGLOG_TEST_FINISH_WAIT_MS: how long the finish waits for
                // other lanes (the stalled-rank test shortens it).
                finish_wait: std::env::var("RINGLOG_TEST_FINISH_WAIT_MS")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .map_or(ringlog::DEFAULT_FINISH_WAIT, Duration::from_millis),
                ..Default::default()
            })
            .unwrap_or_else(|e| fail(e));
            out(serde_json::json!({"run_id": run.run_id()}));
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).expect("stdin");
            log_steps(&mut run, records, false);
            // An incomplete finish is an error that carries its report: print
            // it like any other, the state says which.
            let report = match run.finish(0) {
                Ok(r) => r,
                Err(ClientError::Incomplete(r)) => *r,
                Err(e) => fail(e),
            };
            out(serde_json::to_value(&report).expect("json"));
        }
        "init-slow" => {
            // A slow logger: one step every INTERVAL_MS, never filling its lane.
            let records: i64 = arg(1).parse().unwrap_or_else(|e| fail(e));
            let interval = Duration::from_millis(arg(2).parse().unwrap_or_else(|e| fail(e)));
            let mut run = ringlog::init(InitOptions { project: "tests".into(), ..Default::default() })
                .unwrap_or_else(|e| fail(e));
            out(serde_json::json!({"run_id": run.run_id(), "run_dir": run.run_dir()}));
            let k = run.key("loss").unwrap_or_else(|e| fail(e));
            for step in 0..records {
                let _ = run.log(step, &[(k, step as f64)]).unwrap_or_else(|e| fail(e));
                std::thread::sleep(interval);
            }
            let report = run.finish(0).unwrap_or_else(|e| fail(e));
            out(serde_json::to_value(&report).expect("json"));
        }
        "attach-latency" => {
            // Attaches N times, one lane after another: each logs one step and
            // waits until the service has taken it. Prints the waits in ms.
            let times: usize = arg(2).parse().unwrap_or_else(|e| fail(e));
            let waits: Vec<f64> = (0..times)
                .map(|i| {
                    let mut run = ringlog::attach(arg(1)).unwrap_or_else(|e| fail(e));
                    let k = run.key("attach/latency").unwrap_or_else(|e| fail(e));
                    let start = std::time::Instant::now();
                    let _ = run.log(i as i64, &[(k, 1.0)]).unwrap_or_else(|e| fail(e));
                    if !run.flush(Duration::from_secs(10)).unwrap_or_else(|e| fail(e)) {
                        fail("the service did not take the step within 10 s");
                    }
                    let waited = start.elapsed().as_secs_f64() * 1e3;
                    run.finish(0).unwrap_or_else(|e| fail(e));
                    waited
                })
                .collect();
            out(serde_json::json!({ "waits_ms": waits }));
        }
        "attach-hold" => {
            let (run, _) = attach_log_and_wait(arg(1), arg(2));
            match run.finish(0) {
                Ok(report) => out(serde_json::to_value(&report).expect("json")),
                Err(e) => out(serde_json::json!({"error": e.to_string()})),
            }
        }
        "attach-stall" => {
            let (mut run, records) = attach_log_and_wait(arg(1), arg(2));
            let k = run.key("loss").unwrap_or_else(|e| fail(e));
            let after = match run.log(records, &[(k, 0.0)]) {
                Ok(outcome) => format!("{outcome:?}"),
                Err(e) => e.to_string(),
            };
            out(serde_json::json!({"after_close": after}));
            std::mem::forget(run); // the run is over; nothing to detach
        }
        "undefined-key" => {
            // A buggy producer: records that name a key id it never defined.
            let mut run = ringlog::init(InitOptions { project: "tests".into(), ..Default::default() })
                .unwrap_or_else(|e| fail(e));
            log_steps(&mut run, 10, false);
            for step in 10..15 {
                let _ = run.log(step, &[(ringlog::KeyId(999), 1.0)]).unwrap_or_else(|e| fail(e));
            }
            let report = run.finish(0).unwrap_or_else(|e| fail(e));
            out(serde_json::to_value(&report).expect("json"));
        }
        "init-two-phase" => {
            let mut run = ringlog::init(InitOptions { project: "tests".into(), ..Default::default() })
                .unwrap_or_else(|e| fail(e));
            let (loss, acc) =
                (run.key("train/loss").unwrap_or_else(|e| fail(e)), run.key("best/acc").unwrap_or_else(|e| fail(e)));
            let log = |run: &mut ringlog::Run, steps: std::ops::Range<i64>| {
                for step in steps {
                    let _ = run.log(step, &[(loss, step as f64), (acc, 0.5)]).unwrap_or_else(|e| fail(e));
                }
            };
            log(&mut run, 0..10);
            if !run.flush(Duration::from_secs(30)).unwrap_or_else(|e| fail(e)) {
                fail("the service did not take the first 10 steps");
            }
            out(serde_json::json!({"run_id": run.run_id(), "run_dir": run.run_dir()}));
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).expect("stdin");
            log(&mut run, 10..20);
            let report = run.finish(0).unwrap_or_else(|e| fail(e));
            out(serde_json::to_value(&report).expect("json"));
        }
        "init-log-hold" => {
            let records: i64 = arg(1).parse().unwrap_or_else(|e| fail(e));
            let mut run = ringlog::init(InitOptions { project: "tests".into(), ..Default::default() })
                .unwrap_or_else(|e| fail(e));
            log_steps(&mut run, records, false);
            if !run.flush(Duration::from_secs(60)).unwrap_or_else(|e| fail(e)) {
                fail("the service did not drain the lane within 60 s");
            }
            out(serde_json::json!({"run_id": run.run_id(), "run_dir": run.run_dir()}));
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).expect("stdin");
            let report = run.finish(0).unwrap_or_else(|e| fail(e));
            out(serde_json::to_value(&report).expect("json"));
        }
        "init-crash" | "init-drop" => {
            let mut run = ringlog::init(InitOptions { project: "tests".into(), ..Default::default() })
                .unwrap_or_else(|e| fail(e));
            out(serde_json::json!({"run_id": run.run_id(), "run_dir": run.run_dir()}));
            log_steps(&mut run, 1000, false);
            if arg(0) == "init-crash" {
                // SAFETY: kill(2) of this very process: a trainer dying hard.
                unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            }
            drop(run); // never finished: the owner's drop finishes with exit code -1
        }
        "fork" => {
            let mut run = ringlog::init(InitOptions { project: "tests".into(), ..Default::default() })
                .unwrap_or_else(|e| fail(e));
            let k = run.key("x").unwrap_or_else(|e| fail(e));
            let _ = run.log(0, &[(k, 1.0)]).unwrap_or_else(|e| fail(e));
            // SAFETY: the child only calls into ringlog (no allocation-sensitive
            // locks held: this process is single-threaded here) and _exits.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                let code = match run.log(1, &[(k, 2.0)]) {
                    Err(ClientError::Forked) => 0,
                    _ => 9,
                };
                std::mem::forget(run);
                // SAFETY: immediate exit of the forked child without running atexit handlers.
                unsafe { libc::_exit(code) };
            }
            let mut status = 0;
            // SAFETY: waiting for our own child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            let child_ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
            let _ = run.log(1, &[(k, 3.0)]).unwrap_or_else(|e| fail(e));
            let report = run.finish(0).unwrap_or_else(|e| fail(e));
            out(serde_json::json!({"child_got_forked_error": child_ok, "records": report.records}));
        }
        "status-raw" => {
            use ringlog_ring::protocol::control_message::{
                PROTOCOL_VERSION, Request, Response, read_frame, write_frame,
            };
            let socket = std::env::var("RINGLOG_SOCKET").unwrap_or_else(|e| fail(e));
            let mut s = std::os::unix::net::UnixStream::connect(socket).unwrap_or_else(|e| fail(e));
            s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
            // The service may refuse (answer and close) before reading our
            // Hello, so a failed write is fine: its answer is still readable.
            let _ = write_frame(&mut s, &Request::Hello { protocol: PROTOCOL_VERSION, client_version: "test".into() });
            match read_frame::<Response>(&mut s) {
                Ok(Response::Error { message, .. }) => out(serde_json::json!({"refused": message})),
                Ok(other) => out(serde_json::json!({"accepted": format!("{other:?}")})),
                Err(e) => out(serde_json::json!({"refused": e.to_string()})),
            }
        }
        "scribble" => {
            let records: i64 = arg(2).parse().unwrap_or_else(|e| fail(e));
            let mut run = ringlog::attach(arg(1)).unwrap_or_else(|e| fail(e));
            log_steps(&mut run, records, false);
            let seed = match std::env::var("RINGLOG_SCRIBBLE_SEED") {
                Ok(s) => s.parse().unwrap_or_else(|e| fail(format!("RINGLOG_SCRIBBLE_SEED: {e}"))),
                Err(_) => {
                    let mut b = [0u8; 8];
                    rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty()).unwrap_or_else(|e| fail(e));
                    u64::from_le_bytes(b)
                }
            };
            let (scribbled, readonly) = scribble_segments(seed);
            let k = run.key("loss").unwrap_or_else(|e| fail(e));
            let mut errors = 0u64;
            for step in records..2 * records {
                if run.log(step, &[(k, 0.0)]).is_err() {
                    errors += 1;
                }
            }
            let finish = run.finish(0).map(|r| r.state.to_string()).unwrap_or_else(|e| e.to_string());
            out(serde_json::json!({
                "seed": seed,
                "scribbled_mappings": scribbled,
                "readonly_mappings": readonly,
                "log_errors_after": errors,
                "finish": finish,
            }));
        }
        other => fail(format!("unknown mode {other}")),
    }
}

/// `len` pseudo-random bytes from `seed` (splitmix64): a failing scribble is
/// replayed by passing its reported seed back in `RINGLOG_SCRIBBLE_SEED`.
fn noise(mut seed: u64, len: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        bytes.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// Writes pseudo-random bytes (from `seed`) over every writable mapping of a
/// ringlog segment in this process; returns the writable and read-only
/// mappings found, as `/proc/self/maps` lines.
fn scribble_segments(seed: u64) -> (Vec<String>, Vec<String>) {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_else(|e| fail(e));
    let (mut writable, mut readonly) = (Vec::new(), Vec::new());
    for line in maps.lines().filter(|l| l.contains("/dev/shm/ringlog-")) {
        let mut fields = line.split_whitespace();
        let (range, perms) = (fields.next().unwrap_or(""), fields.next().unwrap_or(""));
        let Some((start, end)) = range.split_once('-') else { continue };
        let (Ok(start), Ok(end)) = (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16)) else {
            continue;
        };
        if !perms.starts_with("rw") {
            readonly.push(line.to_owned());
            continue;
        }
        let noise = noise(seed, end - start);
        // SAFETY: [start, end) is a writable mapping of this process (from
        // /proc/self/maps); no Rust reference covers it (the ring code
        // reaches it through raw pointers and atomics). Deliberate damage.
        unsafe { std::ptr::copy_nonoverlapping(noise.as_ptr(), start as *mut u8, noise.len()) };
        writable.push(line.to_owned());
    }
    (writable, readonly)
}

//! The soak test (issue 12): real trainer processes against a private ringlog service,
//! killed at random points, with exact accounting of every record.
//!
//! `ringlog-soak [--quick] [--seed N] [--producer-kill-runs N] [--service-kills N] [--runs N]`
//! (run by `scripts/soak.sh`). Three parts, each ending with a figure:
//!
//! 1. **Producer SIGKILL**: runs of one owner and 4 attached producers; about half the
//!    producers are SIGKILLed, half of those while they hold a claimed, uncommitted frame
//!    (the ring's `pause_after_claim` test hook), the rest at a random time.
//! 2. **Service SIGKILL under load**: an owner and an attached producer log into 64 KiB
//!    lanes while the service is SIGKILLed at a random point of the producer's run (once it
//!    has logged a random 5-60% of its records); the producers' stall path starts a new
//!    service, which adopts the run.
//! 3. **64 runs × 2 producers** at once.
//!
//! Every producer counts the records ringlog told it were accepted (`Ok(Logged::Written)`)
//! in a shared counter file (an 8-byte slot per producer, `mmap`ed), which survives its
//! SIGKILL. After each run the driver reads the run log: each lane must hold the steps
//! `0..k` exactly once and in order, with `k` at least the acknowledged count (a record
//! committed just before the kill, not yet acknowledged, may be there too). Anything else
//! is lost or duplicated; a run whose finish does not return, or whose `run.json` does not
//! end `finished`, is wedged. The service's RSS, threads and CPU (from `/proc/<pid>/status`
//! and `/proc/<pid>/stat`) are sampled before, during (peak) and after each part.
//!
//! Exits 1 on any lost or duplicated record or wedged run.
//!
//! The same binary is the producer: `ringlog-soak worker MODE ...` (see [`worker`]).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringlog::{FullPolicy, InitOptions};
use ringlog_ring::RecordRef;
use ringlog_service::RunLog;

/// Lane size of every soak run: small, so producers block and the service's pace matters.
const LANE_BYTES: usize = 64 << 10;
/// Bound on any one process of a run (worker, owner's finish).
const PROCESS_LIMIT: Duration = Duration::from_secs(180);
/// Counter slots per counter file (owner = 0, attached producers 1..).
const SLOTS: usize = 8;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("worker") {
        worker(&args[1..]);
        return;
    }
    std::process::exit(driver(&args));
}

// ---------------------------------------------------------------- workers

fn fail(e: impl std::fmt::Display) -> ! {
    eprintln!("ringlog-soak worker: {e}");
    std::process::exit(1)
}

fn out(v: serde_json::Value) {
    println!("{v}");
    std::io::stdout().flush().expect("stdout");
}

/// Slot `slot` of the counter file `path`, mapped shared: stores survive this process.
fn counter(path: &str, slot: usize) -> &'static AtomicU64 {
    use std::os::fd::AsRawFd;
    assert!(slot < SLOTS, "slot {slot} out of range");
    let f = std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap_or_else(|e| fail(e));
    // SAFETY: a fresh shared mapping of the first 4096 bytes of a regular file the driver
    // made at least that long; the kernel picks the address.
    let p = unsafe {
        libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, f.as_raw_fd(), 0)
    };
    if p == libc::MAP_FAILED {
        fail(std::io::Error::last_os_error());
    }
    // SAFETY: the mapping is page aligned and 4096 bytes long, so slot * 8 + 8 <= 4096 is
    // inside it and 8-aligned; it is never unmapped (leaked for the life of this short
    // process). Only this process writes this slot; the driver reads the file after this
    // process is gone (and, as a progress hint only, while it runs).
    unsafe { &*p.cast::<AtomicU64>().add(slot) }
}

/// Logs `records` steps of key `loss`, counting each accepted record.
fn log_counted(run: &mut ringlog::Run, records: i64, acked: &AtomicU64) {
    let k = run.key("loss").unwrap_or_else(|e| fail(e));
    for step in 0..records {
        match run.log(step, &[(k, step as f64)]) {
            // Relaxed: the driver checks counts only after this process has exited; while it
            // runs, the driver reads the file only to time a kill, where a stale value is fine.
            Ok(ringlog::Logged::Written) => acked.store(step as u64 + 1, Ordering::Relaxed),
            Ok(ringlog::Logged::Dropped) => fail(format!("record {step} dropped under the block policy")),
            Err(e) => fail(format!("record {step}: {e}")),
        }
    }
}

/// The producer side. Modes (each prints JSON lines on stdout):
/// - `owner RECORDS COUNTER SLOT`: init a run (64 KiB lanes, block policy), print
///   `{"run_id", "run_dir", "lane"}`, log RECORDS steps, wait for a line on stdin, finish and
///   print the report.
/// - `attach RUN_ID RECORDS COUNTER SLOT`: attach, print `{"lane"}`, log, detach.
/// - `attach-paused RUN_ID RECORDS COUNTER SLOT PAUSE_SEQ`: attach through the control
///   protocol and the ring directly (the client library hides the producer), print
///   `{"lane"}`, log; on claiming the frame of sequence PAUSE_SEQ (before committing it),
///   print `paused` and wait to be killed.
fn worker(args: &[String]) {
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_else(|| fail("missing argument"));
    let num = |i: usize| -> i64 { arg(i).parse().unwrap_or_else(|e| fail(format!("argument {i}: {e}"))) };
    match arg(0) {
        "owner" => {
            let acked = counter(arg(2), num(3) as usize);
            let mut run = ringlog::init(InitOptions {
                project: "soak".into(),
                lane_bytes: Some(LANE_BYTES),
                policy: FullPolicy::Block { timeout: Duration::from_secs(60) },
                ..Default::default()
            })
            .unwrap_or_else(|e| fail(e));
            out(serde_json::json!({"run_id": run.run_id(), "run_dir": run.run_dir(), "lane": run.lane()}));
            log_counted(&mut run, num(1), acked);
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).unwrap_or_else(|e| fail(e));
            match run.finish(0) {
                Ok(report) => out(serde_json::to_value(&report).expect("json")),
                Err(e) => fail(format!("finish: {e}")),
            }
        }
        "attach" => {
            let acked = counter(arg(3), num(4) as usize);
            let mut run = ringlog::attach(arg(1)).unwrap_or_else(|e| fail(e));
            out(serde_json::json!({"lane": run.lane()}));
            log_counted(&mut run, num(2), acked);
            run.finish(0).unwrap_or_else(|e| fail(format!("detach: {e}")));
        }
        "attach-paused" => attach_paused(arg(1), num(2), counter(arg(3), num(4) as usize), num(5) as u64),
        other => fail(format!("unknown worker mode {other}")),
    }
}

fn attach_paused(run_id: &str, records: i64, acked: &'static AtomicU64, pause_seq: u64) {
    use ringlog_ring::protocol::control_message::{PROTOCOL_VERSION, Request, Response, read_frame, write_frame};
    let dirs = ringlog_ring::RuntimeDir::from_env();
    let mut s = std::os::unix::net::UnixStream::connect(dirs.socket_path()).unwrap_or_else(|e| fail(e));
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap_or_else(|e| fail(e));
    let hello = Request::Hello { protocol: PROTOCOL_VERSION, client_version: "soak".into() };
    write_frame(&mut s, &hello).unwrap_or_else(|e| fail(e));
    match read_frame::<Response>(&mut s) {
        Ok(Response::Welcome { .. }) => {}
        other => fail(format!("hello: {other:?}")),
    }
    write_frame(&mut s, &Request::AttachRun { run_id: run_id.into() }).unwrap_or_else(|e| fail(e));
    let ready = match read_frame::<Response>(&mut s) {
        Ok(Response::RunReady(r)) => r,
        other => fail(format!("attach: {other:?}")),
    };
    let seg = ringlog_ring::Segment::open(&ready.segment).unwrap_or_else(|e| fail(e));
    let mut p = seg.claim(ready.lane).unwrap_or_else(|e| fail(e));
    out(serde_json::json!({"lane": ready.lane}));
    p.pause_after_claim(
        pause_seq,
        Box::new(|| {
            println!("paused");
            std::io::stdout().flush().expect("stdout");
            // Bounded: the driver kills us long before this ends.
            std::thread::sleep(Duration::from_secs(120));
            std::process::exit(4);
        }),
    );
    let k = p.key("loss").unwrap_or_else(|e| fail(e));
    for step in 0..records {
        match p.log_scalar1(step, k, step as f64) {
            // Relaxed: read by the driver after this process is gone.
            Ok(ringlog::Logged::Written) => acked.store(step as u64 + 1, Ordering::Relaxed),
            other => fail(format!("record {step}: {other:?}")),
        }
    }
    fail("logged everything without reaching the pause")
}

// ---------------------------------------------------------------- driver

/// xorshift64*: reproducible random choices from `--seed`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A private service instance: its own socket, runs directory and state directory.
struct Env {
    root: PathBuf,
    /// The service binary (a private copy).
    ringlog: PathBuf,
    /// This binary (a private copy), run as the producers.
    soak: PathBuf,
}

impl Env {
    fn socket(&self) -> PathBuf {
        self.root.join("rt").join("ringlog.sock")
    }

    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env("RINGLOG_SOCKET", self.socket())
            .env("RINGLOG_DIR", self.root.join("runs"))
            .env("XDG_STATE_HOME", self.root.join("state"))
            .env("RINGLOG_BIN", &self.ringlog)
            .env("RINGLOG_LOG", "warn")
            .env_remove("RINGLOG_AUTOSTART")
            .env_remove("RINGLOG_LANE_BYTES");
        c
    }

    fn worker(&self, args: &[&str]) -> Command {
        let mut c = self.command(&self.soak);
        c.arg("worker").args(args).stdin(Stdio::null()).stdout(Stdio::piped());
        c
    }

    /// Pid of this environment's service: the process running `ringlog serve` with our
    /// socket (started by us or auto-started by a client), found in `/proc`.
    fn service_pid(&self) -> Option<u32> {
        let socket = self.socket();
        let socket = socket.to_str()?;
        std::fs::read_dir("/proc").ok()?.filter_map(Result::ok).find_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
            let serve = args.contains(&b"serve".as_slice());
            let ours = args.contains(&socket.as_bytes());
            // A zombie has no cmdline, so it never matches.
            (serve && ours).then_some(pid)
        })
    }

    /// Starts the service (if none runs) and waits until it is found.
    fn start_service(&self) -> u32 {
        if let Some(pid) = self.service_pid() {
            return pid;
        }
        let status = self
            .command(&self.ringlog)
            .args(["serve", "--daemon", "--idle-timeout", "600", "--socket"])
            .arg(self.socket())
            .stdout(Stdio::null())
            .status()
            .expect("start ringlog serve");
        assert!(status.success(), "ringlog serve --daemon: {status}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(pid) = self.service_pid() {
                return pid;
            }
            assert!(Instant::now() < deadline, "the service did not start within 30 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A fresh counter file (SLOTS zeroed 8-byte slots in a 4096-byte file).
    fn counter_file(&self, name: &str) -> PathBuf {
        let path = self.root.join("counters").join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("counters dir");
        std::fs::write(&path, vec![0u8; 4096]).expect("counter file");
        path
    }
}

fn read_counters(path: &Path) -> [u64; SLOTS] {
    let bytes = std::fs::read(path).expect("counter file");
    std::array::from_fn(|i| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes")))
}

// --- service resources

/// One look at the service process.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    rss_kb: u64,
    threads: u64,
    /// utime + stime, in clock ticks.
    cpu_ticks: u64,
}

fn sample(pid: u32) -> Option<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.split_whitespace().next()?.parse().ok())
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let rest: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    let ticks = rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?;
    Some(Sample { rss_kb: field("VmRSS:")?, threads: field("Threads:")?, cpu_ticks: ticks })
}

fn clock_ticks_per_s() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// RSS, threads and CPU% of the service over `window`.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    rss_kb: u64,
    threads: u64,
    cpu_pct: f64,
}

/// The service's usage measured over `window` (it must stay the same process).
fn usage_over(env: &Env, window: Duration) -> Usage {
    let Some(pid) = env.service_pid() else { return Usage::default() };
    let Some(a) = sample(pid) else { return Usage::default() };
    let t = Instant::now();
    std::thread::sleep(window);
    let Some(b) = sample(pid) else { return Usage::default() };
    let cpu = (b.cpu_ticks.saturating_sub(a.cpu_ticks)) as f64 / clock_ticks_per_s() / t.elapsed().as_secs_f64();
    Usage { rss_kb: b.rss_kb, threads: b.threads, cpu_pct: cpu * 100.0 }
}

/// Samples the service every 250 ms in a thread: peak RSS, threads and CPU%, and CPU
/// seconds used (over every service process that ran meanwhile).
struct PeakSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<Mutex<(Usage, f64)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PeakSampler {
    fn start(env: &Env) -> Self {
        let socket_env = Env { root: env.root.clone(), ringlog: env.ringlog.clone(), soak: env.soak.clone() };
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(Mutex::new((Usage::default(), 0.0)));
        let (s, p) = (Arc::clone(&stop), Arc::clone(&peak));
        let thread = std::thread::spawn(move || {
            let hz = clock_ticks_per_s();
            let mut last: Option<(u32, Sample, Instant)> = None;
            // Relaxed: a stop request; nothing else is published through it.
            while !s.load(Ordering::Relaxed) {
                if let Some(pid) = socket_env.service_pid()
                    && let Some(now) = sample(pid)
                {
                    let mut g = p.lock().unwrap_or_else(|e| e.into_inner());
                    g.0.rss_kb = g.0.rss_kb.max(now.rss_kb);
                    g.0.threads = g.0.threads.max(now.threads);
                    if let Some((lpid, prev, at)) = last
                        && lpid == pid
                    {
                        let used = now.cpu_ticks.saturating_sub(prev.cpu_ticks) as f64 / hz;
                        g.1 += used;
                        g.0.cpu_pct = g.0.cpu_pct.max(used / at.elapsed().as_secs_f64() * 100.0);
                    }
                    last = Some((pid, now, Instant::now()));
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        Self { stop, peak, thread: Some(thread) }
    }

    /// Stops sampling; returns the peak usage and the CPU seconds seen.
    fn finish(mut self) -> (Usage, f64) {
        // Relaxed: see the loop.
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        *self.peak.lock().unwrap_or_else(|e| e.into_inner())
    }
}

// --- figures

#[derive(Debug, Default)]
struct Figures {
    runs: u64,
    producers: u64,
    killed: u64,
    killed_paused: u64,
    service_kills: u64,
    /// Records the producers were told were accepted.
    committed: u64,
    /// Records of the soak's key found in the run logs.
    on_disk: u64,
    /// Committed but not yet acknowledged when the producer was killed (present, fine).
    unacked_on_disk: u64,
    lost: u64,
    duplicated: u64,
    wedged: u64,
    problems: Vec<String>,
}

impl Figures {
    fn problem(&mut self, p: String) {
        eprintln!("soak: PROBLEM: {p}");
        self.problems.push(p);
    }
}

/// A producer of a run, as the driver tracks it.
struct Producer {
    child: Child,
    slot: usize,
    lane: u16,
    /// Killed by the driver (its records may stop anywhere).
    killed: bool,
}

/// Reads one JSON line from a child's stdout (bounded by the child's own limits).
fn json_line(out: &mut BufReader<ChildStdout>, what: &str) -> Result<serde_json::Value, String> {
    let mut line = String::new();
    match out.read_line(&mut line) {
        Ok(0) => Err(format!("{what}: exited before printing")),
        Ok(_) => serde_json::from_str(&line).map_err(|e| format!("{what}: {e}: {line:?}")),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

/// Waits at most `limit` for `child`; kills it on timeout and returns `None`.
fn wait_for(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A run in progress: its owner and where it writes.
struct Run {
    owner: Child,
    owner_out: BufReader<ChildStdout>,
    run_id: String,
    run_dir: PathBuf,
    owner_lane: u16,
    counters: PathBuf,
}

fn start_run(env: &Env, name: &str, owner_records: i64) -> Result<Run, String> {
    let counters = env.counter_file(name);
    let mut owner = env
        .worker(&["owner", &owner_records.to_string(), counters.to_str().expect("utf-8"), "0"])
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn owner: {e}"))?;
    let mut owner_out = BufReader::new(owner.stdout.take().expect("stdout"));
    let v = json_line(&mut owner_out, "owner")?;
    Ok(Run {
        owner,
        owner_out,
        run_id: v["run_id"].as_str().ok_or("no run_id")?.to_owned(),
        run_dir: PathBuf::from(v["run_dir"].as_str().ok_or("no run_dir")?),
        owner_lane: v["lane"].as_u64().ok_or("no lane")? as u16,
        counters,
    })
}

/// Spawns an attached producer in slot `slot` and reads its lane.
fn start_producer(env: &Env, run: &Run, slot: usize, records: i64, pause: Option<u64>) -> Result<Producer, String> {
    let (records, counters, slot_s) = (records.to_string(), run.counters.to_str().expect("utf-8"), slot.to_string());
    let pause_s = pause.map(|p| p.to_string());
    let mut args =
        vec![if pause.is_some() { "attach-paused" } else { "attach" }, &run.run_id, &records, counters, &slot_s];
    if let Some(p) = &pause_s {
        args.push(p);
    }
    let mut child = env.worker(&args).spawn().map_err(|e| format!("spawn producer: {e}"))?;
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let v = json_line(&mut out, "producer")?;
    let lane = v["lane"].as_u64().ok_or("no lane")? as u16;
    if pause.is_some() {
        let mut line = String::new();
        let _ = out.read_line(&mut line);
        if line.trim() != "paused" {
            return Err(format!("producer with a pause hook printed {line:?} instead of `paused`"));
        }
    } else {
        // Keep reading its stdout so it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    }
    Ok(Producer { child, slot, lane, killed: false })
}

/// Ends the run: tells the owner to finish, checks the report, `run.json` and the run log
/// against what each producer was told; adds to `fig`.
fn end_run(mut run: Run, producers: Vec<Producer>, expect_abandoned: u32, fig: &mut Figures) {
    fig.runs += 1;
    let label = format!("run {}", run.run_id);
    let _ = run.owner.stdin.as_mut().map(|s| s.write_all(b"go\n"));
    let report = json_line(&mut run.owner_out, "owner's finish report");
    let status = wait_for(&mut run.owner, PROCESS_LIMIT);
    let report = match (report, status) {
        (Ok(r), Some(s)) if s.success() => r,
        (r, s) => {
            fig.wedged += 1;
            fig.problem(format!("{label}: the owner's finish did not end cleanly: {r:?}, {s:?}"));
            return;
        }
    };
    if report["state"] != "finished" || report["abandoned_lanes"] != expect_abandoned {
        fig.wedged += 1;
        fig.problem(format!("{label}: finish report {report} (expected finished, {expect_abandoned} abandoned)"));
    }
    let mut meta_records = None;
    match ringlog_service::RunMeta::read(&run.run_dir) {
        Ok(meta) if meta.state == "finished" => {
            meta_records = Some(meta.records);
            // A finished run leaves nothing in /dev/shm.
            let shm = Path::new(ringlog_ring::SHM_DIR).join(meta.segment.trim_start_matches('/'));
            if !meta.segment.is_empty() && shm.exists() {
                fig.problem(format!("{label}: its segment {} is still in /dev/shm", shm.display()));
            }
        }
        Ok(meta) => {
            fig.wedged += 1;
            fig.problem(format!("{label}: run.json says {}", meta.state));
        }
        Err(e) => {
            fig.wedged += 1;
            fig.problem(format!("{label}: run.json: {e}"));
        }
    }
    // The run log: steps of the soak's key per lane.
    let mut lanes: HashMap<u16, Vec<i64>> = HashMap::new();
    let mut frames = 0u64;
    match RunLog::open(run.run_dir.join("run.rlog")) {
        Ok(log) => {
            for rec in log {
                match rec {
                    Ok(rec) => {
                        frames += 1;
                        if let RecordRef::Scalar1(s) = rec.record() {
                            lanes.entry(rec.lane()).or_default().push(s.step.to_native());
                        }
                    }
                    Err(e) => fig.problem(format!("{label}: run log: {e}")),
                }
            }
        }
        Err(e) => fig.problem(format!("{label}: run log: {e}")),
    }
    if report["records"].as_u64() != Some(frames) || meta_records.is_some_and(|m| m != frames) {
        fig.problem(format!(
            "{label}: the report counts {} records and run.json {meta_records:?}, the run log holds {frames}",
            report["records"]
        ));
    }
    let counters = read_counters(&run.counters);
    let mut check = |lane: u16, slot: usize, killed: bool, what: &str| {
        let acked = counters[slot];
        let steps = lanes.remove(&lane).unwrap_or_default();
        let mut seen = vec![false; steps.iter().copied().max().map_or(0, |m| m.max(0) as usize + 1)];
        let mut dups = 0;
        for &s in &steps {
            if s < 0 {
                continue;
            }
            if std::mem::replace(&mut seen[s as usize], true) {
                dups += 1;
            }
        }
        let present = |s: u64| seen.get(s as usize).copied().unwrap_or(false);
        let lost = (0..acked).filter(|&s| !present(s)).count() as u64;
        // Beyond the acknowledged ones: fine only as the unbroken continuation of a killed
        // producer's sequence (committed, then killed before it heard back).
        let distinct = seen.iter().filter(|&&b| b).count() as u64;
        let extra = distinct.saturating_sub(acked - lost);
        let in_order = steps.windows(2).all(|w| w[1] == w[0] + 1) && steps.first().is_none_or(|&s| s == 0);
        fig.committed += acked;
        fig.on_disk += steps.len() as u64;
        fig.lost += lost;
        fig.duplicated += dups;
        if killed {
            fig.unacked_on_disk += extra;
        }
        if lost > 0 || dups > 0 || !in_order || (!killed && extra > 0) {
            fig.problem(format!(
                "{label}: {what} on lane {lane}: acknowledged {acked}, on disk {} ({lost} lost, {dups} duplicated, \
                 {extra} extra, in order: {in_order})",
                steps.len()
            ));
        }
    };
    check(run.owner_lane, 0, false, "the owner");
    for p in &producers {
        check(p.lane, p.slot, p.killed, if p.killed { "a killed producer" } else { "a producer" });
    }
    for (lane, steps) in lanes {
        fig.problem(format!("{label}: lane {lane} holds {} records of no producer of this run", steps.len()));
    }
}

fn kill_pid(pid: u32) {
    // SAFETY: kill(2) of a process of this soak (the service it found by its socket).
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
}

/// Part 1: producers SIGKILLed at random points.
fn producer_kills(env: &Env, rng: &mut Rng, runs: u64, records: i64) -> Figures {
    let mut fig = Figures::default();
    for r in 0..runs {
        let run = match start_run(env, &format!("pk{r}"), 1000) {
            Ok(run) => run,
            Err(e) => {
                fig.problem(format!("producer-kill run {r}: {e}"));
                continue;
            }
        };
        let mut producers = Vec::new();
        let mut timed = Vec::new();
        for slot in 1..=4 {
            // A quarter paused between claim and commit, a quarter killed at a random
            // time, half left to finish.
            let fate = rng.below(4);
            // Sequence 0 is the key definition; step s has sequence s + 1.
            let pause = (fate == 0).then(|| 1 + rng.below(records as u64));
            // A producer to kill at a random time logs 10 times more, so it is still
            // running (writing, or blocked on its full lane) when its time comes.
            let n = if fate == 1 { records * 10 } else { records };
            match start_producer(env, &run, slot, n, pause) {
                Ok(mut p) => {
                    if pause.is_some() {
                        let _ = p.child.kill();
                        p.killed = true;
                        fig.killed_paused += 1;
                    } else if fate == 1 {
                        timed.push((producers.len(), Duration::from_millis(rng.below(400))));
                    }
                    producers.push(p);
                }
                Err(e) => fig.problem(format!("producer-kill run {r}: {e}")),
            }
        }
        let start = Instant::now();
        timed.sort_by_key(|t| t.1);
        for (i, at) in timed {
            std::thread::sleep(at.saturating_sub(start.elapsed()));
            let p = &mut producers[i];
            // Only if it is still running: one that already finished was not killed.
            if matches!(p.child.try_wait(), Ok(None)) && p.child.kill().is_ok() {
                p.killed = true;
            }
        }
        fig.producers += producers.len() as u64;
        let mut abandoned = 0;
        for p in &mut producers {
            match wait_for(&mut p.child, PROCESS_LIMIT) {
                Some(s) if p.killed || s.success() => {}
                s => fig.problem(format!("producer-kill run {r}: a producer ended with {s:?}")),
            }
            abandoned += u32::from(p.killed);
        }
        fig.killed += u64::from(abandoned);
        end_run(run, producers, abandoned, &mut fig);
    }
    fig
}

/// Part 2: the service SIGKILLed under load, once per run.
fn service_kills(env: &Env, rng: &mut Rng, kills: u64, records: i64) -> Figures {
    let mut fig = Figures::default();
    for r in 0..kills {
        let run = match start_run(env, &format!("sk{r}"), records) {
            Ok(run) => run,
            Err(e) => {
                fig.problem(format!("service-kill run {r}: {e}"));
                continue;
            }
        };
        let p = match start_producer(env, &run, 1, records, None) {
            Ok(p) => p,
            Err(e) => {
                fig.problem(format!("service-kill run {r}: {e}"));
                continue;
            }
        };
        // Kill once the producer has logged a random share (5-60%) of its records, so the
        // kill lands mid-run however fast the machine is (a fixed delay let a fast machine
        // finish first; 40% of 200,000 records is still ~100 ms there). Bounded: a producer
        // that stops or stalls ends the wait.
        let target = records as u64 * (5 + rng.below(56)) / 100;
        let deadline = Instant::now() + PROCESS_LIMIT;
        let mut p = p;
        while read_counters(&run.counters)[1] < target
            && Instant::now() < deadline
            && matches!(p.child.try_wait(), Ok(None))
        {
            std::thread::sleep(Duration::from_micros(500));
        }
        let reached = read_counters(&run.counters)[1];
        let mut producers = vec![p];
        // Under load: the attached producer is still logging.
        match producers[0].child.try_wait() {
            Ok(None) if reached >= target => {}
            Ok(None) => fig.problem(format!(
                "service-kill run {r}: the producer logged only {reached} of {target} records in {PROCESS_LIMIT:?}"
            )),
            status => fig.problem(format!(
                "service-kill run {r}: the producer ended ({status:?}) at {reached} records, before the kill at {target}"
            )),
        }
        match env.service_pid() {
            Some(pid) => {
                kill_pid(pid);
                fig.service_kills += 1;
            }
            None => fig.problem(format!("service-kill run {r}: no service to kill")),
        }
        for p in &mut producers {
            match wait_for(&mut p.child, PROCESS_LIMIT) {
                Some(s) if s.success() => {}
                s => fig.problem(format!("service-kill run {r}: the producer ended with {s:?}")),
            }
        }
        fig.producers += 2;
        end_run(run, producers, 0, &mut fig);
    }
    fig
}

/// Part 3: `runs` runs of 2 producers (owner and one attached) at once.
fn many_runs(env: &Env, runs: u64, records: i64) -> Figures {
    let mut fig = Figures::default();
    let mut started = Vec::new();
    for r in 0..runs {
        match start_run(env, &format!("mr{r}"), records) {
            Ok(run) => match start_producer(env, &run, 1, records, None) {
                Ok(p) => started.push((run, p)),
                Err(e) => fig.problem(format!("run {r}: {e}")),
            },
            Err(e) => fig.problem(format!("run {r}: {e}")),
        }
    }
    for (run, mut p) in started {
        match wait_for(&mut p.child, PROCESS_LIMIT) {
            Some(s) if s.success() => {}
            s => fig.problem(format!("run {}: the producer ended with {s:?}", run.run_id)),
        }
        fig.producers += 2;
        end_run(run, vec![p], 0, &mut fig);
    }
    fig
}

/// Prints a part's figure; returns whether it passed.
fn report(name: &str, fig: &Figures, before: Usage, peak: (Usage, f64), after: Usage, took: Duration) -> bool {
    let ok = fig.lost == 0 && fig.duplicated == 0 && fig.wedged == 0 && fig.problems.is_empty();
    println!("\n== {name}: {}", if ok { "PASS" } else { "FAIL" });
    println!(
        "   runs {}, producers {}, producers killed {} ({} between claim and commit), service kills {}, {:.1} s",
        fig.runs,
        fig.producers,
        fig.killed,
        fig.killed_paused,
        fig.service_kills,
        took.as_secs_f64()
    );
    println!(
        "   records committed (acknowledged to producers) {}, on disk {} ({} committed but not yet acknowledged when \
         killed), lost {}, duplicated {}, wedged runs {}",
        fig.committed, fig.on_disk, fig.unacked_on_disk, fig.lost, fig.duplicated, fig.wedged
    );
    println!(
        "   service RSS {} / {} / {} KiB, threads {} / {} / {}, CPU {:.0}% / {:.0}% / {:.0}% (before / peak / after), \
         {:.1} CPU-s in all",
        before.rss_kb,
        peak.0.rss_kb,
        after.rss_kb,
        before.threads,
        peak.0.threads,
        after.threads,
        before.cpu_pct,
        peak.0.cpu_pct,
        after.cpu_pct,
        peak.1
    );
    for p in fig.problems.iter().take(20) {
        println!("   problem: {p}");
    }
    ok
}

fn driver(args: &[String]) -> i32 {
    let quick = args.iter().any(|a| a == "--quick");
    let opt = |name: &str| -> Option<u64> {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(|v| {
            v.parse().unwrap_or_else(|e| {
                eprintln!("{name} {v}: {e}");
                std::process::exit(2)
            })
        })
    };
    let seed = opt("--seed").unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1
    });
    let (pk_runs, pk_records) = (opt("--producer-kill-runs").unwrap_or(if quick { 12 } else { 100 }), 20_000);
    let (sk_kills, sk_records) = (opt("--service-kills").unwrap_or(if quick { 5 } else { 30 }), 200_000);
    let (mr_runs, mr_records) = (opt("--runs").unwrap_or(64), if quick { 5_000 } else { 50_000 });

    let exe = std::env::current_exe().expect("current exe");
    let ringlog = exe.with_file_name("ringlog");
    if !ringlog.exists() {
        eprintln!("{} missing: build it first (cargo build -p ringlog-service)", ringlog.display());
        return 2;
    }
    let root = std::env::temp_dir().join(format!("rl-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("runs")).expect("soak dir");
    // Private copies of both binaries: a build in the same target directory while the
    // soak runs (cargo replaces the files) must not change or remove what it runs.
    std::fs::create_dir_all(root.join("bin")).expect("bin dir");
    let (ringlog_copy, soak_copy) = (root.join("bin/ringlog"), root.join("bin/ringlog-soak"));
    std::fs::copy(&ringlog, &ringlog_copy).expect("copy ringlog");
    std::fs::copy(&exe, &soak_copy).expect("copy ringlog-soak");
    let env = Env { root, ringlog: ringlog_copy, soak: soak_copy };
    println!(
        "ringlog soak{}: seed {seed} (reproduce: --seed {seed}), dir {}",
        if quick { " --quick" } else { "" },
        env.root.display()
    );
    let mut rng = Rng(seed);
    let mut ok = true;

    type Part<'a> = (&'a str, Box<dyn FnOnce(&Env, &mut Rng) -> Figures + 'a>);
    let parts: Vec<Part> = vec![
        (
            "producer SIGKILL at random points (4 producers per run)",
            Box::new(move |env, rng| producer_kills(env, rng, pk_runs, pk_records)),
        ),
        ("service SIGKILL under load", Box::new(move |env, rng| service_kills(env, rng, sk_kills, sk_records))),
        ("64 runs x 2 producers at once", Box::new(move |env, _| many_runs(env, mr_runs, mr_records))),
    ];
    for (name, part) in parts {
        env.start_service();
        let before = usage_over(&env, Duration::from_millis(500));
        let sampler = PeakSampler::start(&env);
        let t = Instant::now();
        let fig = part(&env, &mut rng);
        let took = t.elapsed();
        let peak = sampler.finish();
        let after = usage_over(&env, Duration::from_millis(500));
        ok &= report(name, &fig, before, peak, after, took);
    }
    let _ = env.command(&env.ringlog).arg("shutdown").output();
    if ok {
        let _ = std::fs::remove_dir_all(&env.root);
        println!("\nsoak: PASS");
        0
    } else {
        println!("\nsoak: FAIL (run directories kept in {})", env.root.display());
        1
    }
}

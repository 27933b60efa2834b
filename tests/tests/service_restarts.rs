//! A service that dies or restarts around the lifecycle (issue 12, items
//! 14-16): a slow logger notices a dead service, a rank detaches and an owner
//! finishes across a restart, and a client waits out a dying service's lock.
//! Real processes, the real service, SIGKILL.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::time::{Duration, Instant};

use ringlog_ring::RecordRef;
use ringlog_ring::protocol::service_lock;
use ringlog_service::RunLog;
use ringlog_tests::{TestEnv, wait_bounded};

fn client_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ringlog-test-client")
}

/// A client process with its stdin and line-read stdout.
struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Client {
    fn spawn(env: &TestEnv, args: &[&str], vars: &[(&str, &str)]) -> Self {
        let mut cmd = env.command(client_bin());
        cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped());
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let (stdin, stdout) = (child.stdin.take(), BufReader::new(child.stdout.take().unwrap()));
        Self { child, stdin, stdout }
    }

    fn line(&mut self) -> serde_json::Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    }

    fn go(&mut self) {
        self.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    }

    /// Waits for the exit and returns the last JSON line printed.
    fn last(mut self, what: &str) -> serde_json::Value {
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        let status = wait_bounded(&mut self.child, Duration::from_secs(120), what);
        assert!(status.success(), "{what} failed ({status}): {rest}");
        serde_json::from_str(rest.lines().last().unwrap_or_else(|| panic!("{what} printed nothing"))).unwrap()
    }
}

fn status(env: &TestEnv) -> serde_json::Value {
    serde_json::from_str(&env.ringlog(&["status", "--json"])).unwrap()
}

fn sigkill(pid: u32) {
    // SAFETY: kill(2) of the service process this test started.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
}

/// Polls `ok` every 20 ms until it holds; panics with `what` after `limit`.
fn wait_until(limit: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An owner holding a run (its finish waits up to 30 s for other lanes) and a
/// rank that logged 50 steps and waits to detach; returns them and the rank's lane.
fn owner_and_rank(env: &TestEnv) -> (Client, Client, u16) {
    let mut owner = Client::spawn(env, &["init-hold", "100"], &[("RINGLOG_TEST_FINISH_WAIT_MS", "30000")]);
    let run_id = owner.line()["run_id"].as_str().unwrap().to_owned();
    let mut rank = Client::spawn(env, &["attach-hold", &run_id, "50"], &[]);
    let lane = rank.line()["ready"].as_u64().unwrap() as u16;
    (owner, rank, lane)
}

/// Waits until a service other than `old` holds the run, finishing.
fn wait_new_service_finishing(env: &TestEnv, old: u32, what: &str) {
    wait_until(Duration::from_secs(20), what, || {
        let s = status(env);
        s["pid"].as_u64() != Some(u64::from(old)) && s["runs"][0]["state"] == "finishing"
    });
}

/// Steps of each lane in the run log.
fn steps(run_dir: &str) -> std::collections::BTreeMap<u16, Vec<i64>> {
    let mut lanes = std::collections::BTreeMap::<u16, Vec<i64>>::new();
    for rec in RunLog::open(std::path::Path::new(run_dir).join("run.rlog")).unwrap() {
        let rec = rec.expect("readable run log");
        if let RecordRef::Scalar1(s) = rec.record() {
            lanes.entry(rec.lane()).or_default().push(s.step.to_native());
        }
    }
    lanes
}

/// Item 16: a producer that logs slowly, and so never fills its lane, notices
/// a dead service from the heartbeat and starts a new one while it logs.
#[test]
fn a_slow_logger_notices_a_dead_service_within_seconds() {
    let env = TestEnv::new("heartbeat");
    let mut owner = Client::spawn(&env, &["init-slow", "150", "100"], &[]);
    let ready = owner.line();
    let old = env.service_pid();
    sigkill(old);
    let killed = Instant::now();
    // The lane holds about 20,000 such records: only the heartbeat can tell.
    wait_until(Duration::from_secs(12), "a new service started by the logging process", || {
        let s = status(&env);
        s["running"] == true && s["pid"].as_u64() != Some(u64::from(old))
    });
    let noticed = killed.elapsed();
    assert!(owner.child.try_wait().unwrap().is_none(), "noticed while the trainer still logs ({noticed:?})");
    let report = owner.last("slow owner");
    assert_eq!(report["state"], "finished", "{report}");
    let lanes = steps(ready["run_dir"].as_str().unwrap());
    assert_eq!(lanes[&0], (0..150).collect::<Vec<i64>>(), "every step once, in order");
    eprintln!("a dead service was replaced {noticed:?} after its SIGKILL");
}

/// Item 14: after a service restart, a rank whose control connection is stale
/// detaches cleanly while the owner's finish waits for it.
#[test]
fn a_rank_detaches_after_a_restart_while_the_owner_finishes() {
    let env = TestEnv::new("detach-restart");
    let (mut owner, mut rank, lane) = owner_and_rank(&env);
    let old = env.service_pid();
    sigkill(old);
    // The owner's finish starts a new service, which adopts the run and
    // waits for the rank.
    owner.go();
    wait_new_service_finishing(&env, old, "the owner's finish waiting on the new service");
    let started = Instant::now();
    rank.go();
    let detached = rank.last("rank");
    assert_eq!(detached["state"], "detached", "the rank's detach is accepted: {detached}");
    let report = owner.last("owner");
    assert!(started.elapsed() < Duration::from_secs(25), "the finish ended on the detach, not its 30 s bound");
    assert_eq!(report["state"], "finished", "{report}");
    assert_eq!(report["abandoned_lanes"], 0, "a clean detach is not an abandoned lane: {report}");
    assert_eq!(report["stalled_lanes"].as_array().unwrap().len(), 0, "{report}");
    let lanes = steps(report["run_dir"].as_str().unwrap());
    assert_eq!(lanes[&0].len(), 100);
    assert_eq!(lanes[&lane].len(), 50);
}

/// Item 15: the service is SIGKILLed while the owner's finish waits; the
/// finish reconnects to a new service, which finishes the run.
#[test]
fn a_finish_survives_a_service_sigkill() {
    let env = TestEnv::new("finish-kill");
    let (mut owner, mut rank, _) = owner_and_rank(&env);
    let old = env.service_pid();
    owner.go();
    wait_until(Duration::from_secs(20), "the owner's finish waiting for the rank", || {
        status(&env)["runs"][0]["state"] == "finishing"
    });
    sigkill(old);
    wait_new_service_finishing(&env, old, "the finish retried on a new service");
    rank.go();
    assert_eq!(rank.last("rank")["state"], "detached");
    let report = owner.last("owner");
    assert_eq!(report["state"], "finished", "{report}");
    let run_dir = report["run_dir"].as_str().unwrap().to_owned();
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{run_dir}/run.json")).unwrap()).unwrap();
    assert_eq!(meta["state"], "finished", "{meta}");
    let lanes = steps(&run_dir);
    assert_eq!(lanes.values().map(Vec::len).sum::<usize>(), 150, "{:?}", lanes.keys());
}

/// Item 15: a client that finds the service lock held by a process that does
/// not answer (a service still exiting) waits for the lock, bounded, and then
/// starts a service; if the lock is never released it says so, without
/// blaming `RINGLOG_AUTOSTART`.
#[test]
fn a_client_waits_out_a_dying_services_lock_and_names_a_stuck_one() {
    let (released, stuck) = (TestEnv::new("lock-released"), TestEnv::new("lock-stuck"));
    let lock_of = |env: &TestEnv| env.socket().parent().unwrap().join("ringlog.lock");
    for env in [&released, &stuck] {
        std::fs::create_dir_all(env.socket().parent().unwrap()).unwrap();
        // The client refuses a runtime dir that others can enter.
        std::fs::set_permissions(env.socket().parent().unwrap(), std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
    }
    let held_released = service_lock::try_lock(&lock_of(&released)).unwrap().expect("lock free");
    let held_stuck = service_lock::try_lock(&lock_of(&stuck)).unwrap().expect("lock free");
    let start = Instant::now();
    let waiting = released.command(client_bin()).args(["init", "10"]).stdout(Stdio::piped()).spawn().unwrap();
    let giving_up = stuck.command(client_bin()).args(["init", "10"]).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    drop(held_released);
    let out = waiting.wait_with_output().unwrap();
    assert!(out.status.success(), "the client started a service once the lock was free");
    let report: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(report["state"], "finished", "{report}");
    let out = giving_up.wait_with_output().unwrap();
    let waited = start.elapsed();
    drop(held_stuck);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "no service could start: {err}");
    assert!(err.contains("holds the ringlog service lock") && err.contains("ringlog.lock"), "{err}");
    assert!(!err.contains("RINGLOG_AUTOSTART"), "the variable was not set: {err}");
    assert!(waited < Duration::from_secs(60), "bounded: {waited:?}");
}

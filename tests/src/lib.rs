//! Helpers shared by the integration tests: spawning the real helper
//! binaries with bounded waits.

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// Waits for `child` at most `limit`; kills it and panics with `what` if it
/// is still running then.
///
/// # Panics
/// On timeout or if waiting fails.
pub fn wait_bounded(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} still running after {limit:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

use std::path::{Path, PathBuf};
use std::process::Command;

/// The real `ringlog` binary, built beside this test (`cargo test --workspace`
/// builds it for the ringlog-service package's own integration tests).
///
/// # Panics
/// If it has not been built.
pub fn ringlog_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("ringlog");
    assert!(
        bin.exists(),
        "{} missing: run `cargo build -p ringlog-service` (or `cargo test --workspace`)",
        bin.display()
    );
    bin
}

/// A private service instance: its own socket directory and runs directory.
pub struct TestEnv {
    /// Root of everything this test writes.
    pub root: PathBuf,
}

impl TestEnv {
    /// A fresh directory under the system temp dir, named after `name`.
    ///
    /// # Panics
    /// If it cannot be created.
    pub fn new(name: &str) -> Self {
        let root = std::env::temp_dir().join(format!("rl-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("runs")).expect("temp dir");
        Self { root }
    }

    /// The control socket.
    pub fn socket(&self) -> PathBuf {
        self.root.join("rt").join("ringlog.sock")
    }

    /// The runs directory.
    pub fn runs(&self) -> PathBuf {
        self.root.join("runs")
    }

    /// The state directory (`XDG_STATE_HOME`): the user's run list is `state/ringlog/runs.jsonl`.
    pub fn state(&self) -> PathBuf {
        self.root.join("state")
    }

    /// The directory of run `run_id` in the runs directory (`run-YYYYMMDD_HHMMSS-<id>`).
    ///
    /// # Panics
    /// If there is none.
    pub fn run_dir(&self, run_id: &str) -> PathBuf {
        std::fs::read_dir(self.runs())
            .expect("runs dir")
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| {
                p.file_name().and_then(|n| n.to_str()).and_then(ringlog_ring::protocol::run_layout::run_id_of_dir_name)
                    == Some(run_id)
            })
            .unwrap_or_else(|| panic!("no directory of run {run_id} in {}", self.runs().display()))
    }

    /// A command with this environment's socket, runs dir and service binary.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env("RINGLOG_SOCKET", self.socket())
            .env("RINGLOG_DIR", self.runs())
            .env("XDG_STATE_HOME", self.state())
            .env("RINGLOG_BIN", ringlog_bin())
            .env("RINGLOG_LOG", "info")
            .env_remove("RINGLOG_AUTOSTART")
            .env_remove("RINGLOG_SERVICE_CPUS");
        c
    }

    /// Runs `ringlog ARGS` here and returns stdout; panics on failure.
    ///
    /// # Panics
    /// If the command fails.
    pub fn ringlog(&self, args: &[&str]) -> String {
        let out = self.command(ringlog_bin()).args(args).output().expect("run ringlog");
        assert!(out.status.success(), "ringlog {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Pid of the service from `ringlog status --json`.
    ///
    /// # Panics
    /// If no service answers.
    pub fn service_pid(&self) -> u32 {
        let v: serde_json::Value = serde_json::from_str(&self.ringlog(&["status", "--json"])).expect("json");
        v["pid"].as_u64().expect("pid") as u32
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        // Stop this test's service (bounded inside `ringlog shutdown`), then clean up.
        let _ = self.command(ringlog_bin()).arg("shutdown").output();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

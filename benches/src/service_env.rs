//! A private ringlog service instance for one benchmark.
//!
//! Everything lives under a fresh directory in the system temp dir:
//! `rt/ringlog.sock` (the socket, with the service lock, log and registry
//! beside it; `ringlog` creates `rt/` with mode 0700) and `runs/` (the run
//! directories, on disk). Commands made with [`ServiceEnv::command`] carry
//! `RINGLOG_SOCKET`, `RINGLOG_DIR` and `RINGLOG_BIN`, so a client in them
//! auto-starts this instance and no other. [`ServiceEnv::stop`] shuts the
//! service down with `ringlog shutdown` (which waits for its exit), unlinks
//! segments of runs it left live, and deletes the directory; dropping a
//! `ServiceEnv` does the same, best effort.

use std::io::Read;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ringlog::RuntimeDir;

use crate::error::BenchResult;

/// Bound on `ringlog shutdown` (it waits up to 30 s for the exit itself).
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(45);
/// Bound on other `ringlog` commands (`status`).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on a foreground service's start (process start to accepting).
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest socket path a `sockaddr_un` holds (108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;

/// The `ringlog` binary beside the running executable (cargo puts every
/// binary of a profile in the same `target/<profile>/` directory).
///
/// # Errors
/// If it is missing: the message says to build it first.
pub fn ringlog_bin() -> BenchResult<PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = exe.parent().map(|d| d.join("ringlog")).ok_or("the running executable has no directory")?;
    if bin.is_file() {
        return Ok(bin);
    }
    let profile = if cfg!(debug_assertions) { "" } else { " --release" };
    Err(format!(
        "the ringlog service binary is missing at {}: run `cargo build{profile} -p ringlog-service` first \
         (the same profile as this benchmark)",
        bin.display()
    )
    .into())
}

/// A private service instance: directories, environment, and its shutdown.
#[derive(Debug)]
pub struct ServiceEnv {
    root: PathBuf,
    bin: PathBuf,
    /// A service started with [`ServiceEnv::start_foreground`].
    foreground: Option<Child>,
    stopped: bool,
}

impl ServiceEnv {
    /// A fresh directory `<temp>/rl-<tag>-<pid>-<n>` for a service of `bin`.
    ///
    /// # Errors
    /// If the directory cannot be created or the socket path would be too long.
    pub fn create(tag: &str, bin: PathBuf) -> BenchResult<Self> {
        let unique = ringlog_ring::clock::monotonic_ns() & 0xffff_ffff;
        let root = std::env::temp_dir().join(format!("rl-{tag}-{}-{unique:x}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root.join("runs"))
            .map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        let env = Self { root, bin, foreground: None, stopped: false };
        let socket = env.socket();
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(
                format!("socket path {} is too long: set TMPDIR to a shorter directory", socket.display()).into()
            );
        }
        Ok(env)
    }

    /// The directory holding everything of this instance.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The control socket (`RINGLOG_SOCKET`).
    pub fn socket(&self) -> PathBuf {
        self.root.join("rt").join("ringlog.sock")
    }

    /// The runs directory (`RINGLOG_DIR`).
    pub fn runs(&self) -> PathBuf {
        self.root.join("runs")
    }

    /// The service's runtime paths (socket, lock, log, registry).
    pub fn dirs(&self) -> RuntimeDir {
        RuntimeDir::for_socket(self.socket())
    }

    /// The `ringlog` binary this instance runs.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// Sets this instance's environment on `command`.
    pub fn apply<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        command
            .env("RINGLOG_SOCKET", self.socket())
            .env("RINGLOG_DIR", self.runs())
            .env("RINGLOG_BIN", &self.bin)
            .env_remove("RINGLOG_AUTOSTART")
            .env_remove("RINGLOG_LANE_BYTES")
            .env_remove("RINGLOG_SERVICE_CPUS")
    }

    /// A command for `program` with this instance's environment.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        self.apply(&mut command);
        command
    }

    /// Whether a service holds this instance's lock.
    ///
    /// Only ask while no service is starting: taking the lock for a moment
    /// would make a starting service give up.
    pub fn service_running(&self) -> bool {
        let dirs = self.dirs();
        if !dirs.dir().is_dir() {
            return false;
        }
        matches!(ringlog_ring::protocol::service_lock::try_lock(&dirs.lock_path()), Ok(None))
    }

    /// Starts `ringlog serve` in the foreground (a child of this process, so
    /// its pid is known) and waits, bounded, until it accepts connections.
    ///
    /// # Errors
    /// If it cannot start, exits, or does not accept within the bound.
    pub fn start_foreground(&mut self, idle_timeout: Duration) -> BenchResult<u32> {
        if self.foreground.is_some() || self.service_running() {
            return Err("a service is already running for this environment".into());
        }
        let log = std::fs::File::create(self.root.join("serve.log"))?;
        let mut child = self
            .command(&self.bin)
            .args(["serve", "--socket"])
            .arg(self.socket())
            .args(["--idle-timeout", &idle_timeout.as_secs().to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.bin.display()))?;
        let pid = child.id();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if UnixStream::connect(self.socket()).is_ok() {
                break;
            }
            if let Some(status) = child.try_wait()? {
                return Err(format!("`ringlog serve` exited with {status}; see {}", self.log_hint()).into());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("`ringlog serve` did not accept within {START_TIMEOUT:?}").into());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        self.foreground = Some(child);
        Ok(pid)
    }

    /// The service's pid, from `ringlog status --json`.
    ///
    /// # Errors
    /// If no service answers.
    pub fn service_pid(&self) -> BenchResult<u32> {
        let out = run_bounded(self.command(&self.bin).args(["status", "--json"]), COMMAND_TIMEOUT)?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        v["pid"].as_u64().and_then(|p| u32::try_from(p).ok()).ok_or_else(|| "no pid in `ringlog status --json`".into())
    }

    /// Stops the service, if one runs, with `ringlog shutdown` (which returns
    /// once the service has exited), and reaps a foreground service.
    ///
    /// # Errors
    /// If the shutdown fails or the service is still running after it.
    pub fn shutdown(&mut self) -> BenchResult<()> {
        let socket_present = self.socket().exists();
        if socket_present || self.service_running() {
            let out = run_bounded(self.command(&self.bin).arg("shutdown"), SHUTDOWN_TIMEOUT)?;
            if !out.status.success() && self.service_running() {
                return Err(format!(
                    "`ringlog shutdown` failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                )
                .into());
            }
        }
        if let Some(mut child) = self.foreground.take() {
            let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
            while child.try_wait()?.is_none() {
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("the foreground service did not exit within {SHUTDOWN_TIMEOUT:?}").into());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        if self.service_running() {
            return Err(
                format!("the service still holds its lock after `ringlog shutdown`; see {}", self.log_hint()).into()
            );
        }
        Ok(())
    }

    /// Shuts the service down, unlinks segments of runs it left live, and
    /// deletes the directory.
    ///
    /// # Errors
    /// A failed shutdown (the directory is kept for inspection then).
    pub fn stop(mut self) -> BenchResult<()> {
        self.stopped = true;
        self.shutdown()?;
        self.unlink_left_segments();
        std::fs::remove_dir_all(&self.root).map_err(|e| format!("cannot remove {}: {e}", self.root.display()))?;
        Ok(())
    }

    /// Unlinks the segments named in the service registry (runs still live
    /// when the service stopped, kept for adoption by a next service that
    /// will never come).
    fn unlink_left_segments(&self) {
        let Ok(entries) = std::fs::read_dir(self.dirs().registry_dir()) else { return };
        for entry in entries.flatten() {
            let meta = std::fs::read(entry.path())
                .ok()
                .and_then(|t| serde_json::from_slice::<ringlog_service::RunMeta>(&t).ok());
            if let Some(meta) = meta.filter(|m| !m.segment.is_empty()) {
                crate::ringlog_transport::cleanup(&meta.segment);
            }
        }
    }

    fn log_hint(&self) -> String {
        format!("{} and {}", self.dirs().log_path().display(), self.root.join("serve.log").display())
    }
}

impl Drop for ServiceEnv {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        if let Err(e) = self.shutdown() {
            eprintln!("benchmark: stopping the private service under {} failed: {e}", self.root.display());
            return;
        }
        self.unlink_left_segments();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Runs `command` with piped output, killing it after `timeout`.
///
/// # Errors
/// If it cannot start or overruns (a non-zero exit is returned, not an error).
pub fn run_bounded(command: &mut Command, timeout: Duration) -> BenchResult<Output> {
    let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let readers = [child.stdout.take().map(read_all), child.stderr.take().map(read_all)];
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{command:?} did not finish within {timeout:?}").into());
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let [stdout, stderr] = readers.map(|r| r.and_then(|h| h.join().ok()).unwrap_or_default());
    Ok(Output { status, stdout, stderr })
}

/// Reads a pipe to its end on a helper thread.
fn read_all(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

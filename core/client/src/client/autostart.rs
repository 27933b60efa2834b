//! Starting the service when no service answers (the seed's StartProcess).
//!
//! The executable is found through `RINGLOG_BIN`, then `ringlog` on `PATH`,
//! then `$CARGO_HOME/bin/ringlog` (where `cargo install` puts it), then a
//! `ringlog` beside the current executable. It is always exec'd (a trainer may
//! hold CUDA contexts and threads; a bare fork would copy them): the child
//! runs `ringlog serve --daemon`, which forks once more (in a fresh process
//! with nothing to copy), calls `setsid`, sends its stdio to `service.log`,
//! closes inherited fds, `chdir`s to `/`, and writes `ready` on an inherited
//! pipe once its socket is bound. The client blocks on that pipe, bounded by
//! [`START_TIMEOUT`]: no polling.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use ringlog_ring::protocol::runtime_dir::RuntimeDir;

/// Bound on waiting for a started service to become ready.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Environment variable carrying the readiness pipe's fd number to the daemon.
pub use ringlog_ring::protocol::service_lock::READY_FD_ENV;

/// Auto-start failed.
#[derive(Debug, thiserror::Error)]
pub enum AutostartError {
    /// No executable found.
    #[error(
        "cannot find the ringlog executable to start the service: set RINGLOG_BIN to its path or put `ringlog` on PATH"
    )]
    NotFound,
    /// Spawning failed.
    #[error("cannot start {bin}: {source}")]
    Spawn {
        /// The executable.
        bin: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The service said something other than ready.
    #[error("the service started from {bin} did not become ready: {said}; see {log}")]
    NotReady {
        /// The executable.
        bin: PathBuf,
        /// What the pipe said.
        said: String,
        /// The service log.
        log: String,
    },
}

/// Finds the service executable (see the module docs for the order).
pub fn find_service_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("RINGLOG_BIN").filter(|b| !b.is_empty()) {
        return Some(PathBuf::from(bin));
    }
    let on_path = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("ringlog")).find(|c| is_executable(c)));
    if on_path.is_some() {
        return on_path;
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(c) = cargo_home.map(|h| h.join("bin/ringlog")).filter(|c| is_executable(c)) {
        return Some(c);
    }
    std::env::current_exe().ok().and_then(|e| e.parent().map(|d| d.join("ringlog"))).filter(|c| is_executable(c))
}

fn is_executable(p: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Starts `ringlog serve --daemon` for `dirs` and waits until it is ready.
///
/// Returns `Ok(false)` when the started process found another service already
/// holding the lock (a racing client started one first): connect to that one.
///
/// # Errors
/// `NotFound`, `Spawn` or `NotReady`.
pub fn start_service(dirs: &RuntimeDir) -> Result<bool, AutostartError> {
    let bin = find_service_binary().ok_or(AutostartError::NotFound)?;
    let (read_end, write_end) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| AutostartError::Spawn { bin: bin.clone(), source: e.into() })?;
    // The write end must survive exec in the child: clear its CLOEXEC. Other
    // threads spawning at this instant could inherit it too; they would only
    // delay EOF, and the read below is bounded.
    let _ = rustix::io::fcntl_setfd(&write_end, rustix::io::FdFlags::empty());
    let mut child = Command::new(&bin)
        .arg("serve")
        .arg("--daemon")
        .arg("--socket")
        .arg(dirs.socket_path())
        .env(READY_FD_ENV, write_end.as_raw_fd().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| AutostartError::Spawn { bin: bin.clone(), source })?;
    drop(write_end);
    let said = read_ready(read_end, START_TIMEOUT);
    // The first process exits right after its daemon fork; reap it (bounded).
    for _ in 0..500 {
        if child.try_wait().ok().flatten().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    match said.as_str() {
        "ready" => Ok(true),
        "busy" => Ok(false),
        other => Err(AutostartError::NotReady {
            bin,
            said: if other.is_empty() { "no answer".into() } else { other.into() },
            log: dirs.log_path().display().to_string(),
        }),
    }
}

/// Reads one line from the readiness pipe, waiting at most `timeout`.
fn read_ready(fd: OwnedFd, timeout: Duration) -> String {
    use rustix::event::{PollFd, PollFlags, poll};
    let mut file = std::fs::File::from(fd);
    let deadline = std::time::Instant::now() + timeout;
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return "timed out".into();
        }
        let ts = rustix::time::Timespec { tv_sec: left.as_secs() as i64, tv_nsec: left.subsec_nanos() as i64 };
        let mut fds = [PollFd::new(&file, PollFlags::IN)];
        if !matches!(poll(&mut fds, Some(&ts)), Ok(n) if n > 0) {
            continue;
        }
        let mut buf = [0u8; 256];
        match file.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.contains(&b'\n') {
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&out).lines().next().unwrap_or("").trim().to_owned()
}

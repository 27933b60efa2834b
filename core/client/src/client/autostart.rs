//! Starting the service when no service answers (the seed's StartProcess).
//!
//! The executable is found through `RINGLOG_BIN`, then the install prefix of
//! the module holding this code (`<dir>/../bin/ringlog`), then a `ringlog`
//! beside that module, then `ringlog` on `PATH`, then `$CARGO_HOME/bin/ringlog`
//! (where `cargo install` puts it), then a `ringlog` beside the current
//! executable.
//!
//! "The module holding this code" is found with `dladdr` on a function of this
//! file: `libringlog.so` when the client is linked into the C library (so an
//! unpacked `ffi/dist.sh` tarball finds its own `bin/ringlog`, and a build tree
//! finds `target/release/ringlog` beside `target/release/libringlog.so`), the
//! Python extension module, or the executable itself when linked statically
//! (then both candidates are `<exe dir>/../bin/ringlog` and `<exe dir>/ringlog`).
//! They come before `PATH` because they are the service built with this very
//! client, which speaks its protocol (ADR 27). It is always exec'd (a trainer may
//! hold CUDA contexts and threads; a bare fork would copy them): the child
//! runs `ringlog serve --daemon`, which forks once more (in a fresh process
//! with nothing to copy), calls `setsid`, sends its stdio to `service.log`,
//! closes inherited fds, `chdir`s to `/`, and writes `ready` on an inherited
//! pipe once its socket is bound. The client blocks on that pipe, bounded by
//! [`START_TIMEOUT`]: no polling.

use std::ffi::{CStr, OsStr, c_char, c_int, c_void};
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::ptr;
use std::sync::OnceLock;
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
    if let Some(dir) = module_dir() {
        let beside_prefix = dir.parent().map(|prefix| prefix.join("bin/ringlog"));
        if let Some(c) = beside_prefix.into_iter().chain([dir.join("ringlog")]).find(|c| is_executable(c)) {
            return Some(c);
        }
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

/// The directory of the loaded module (shared object or executable) that
/// holds this function, found once with `dladdr`.
///
/// For the main program glibc's `dladdr` reports `argv[0]`, which may be a
/// bare name found on `PATH` or relative to a directory the process has left,
/// so a name that is not a shared object (`*.so*`) is replaced by
/// `/proc/self/exe` (`current_exe`).
fn module_dir() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let module = loaded_module_of(module_dir as *const c_void)?;
        let is_shared_object = module.file_name().is_some_and(|n| n.as_encoded_bytes().windows(3).any(|w| w == b".so"));
        let path = if is_shared_object {
            std::fs::canonicalize(&module).unwrap_or(module)
        } else {
            std::env::current_exe().ok()?
        };
        path.parent().map(Path::to_path_buf)
    })
    .as_deref()
}

/// `Dl_info` of `<dlfcn.h>` (glibc, musl): what `dladdr` fills in.
#[repr(C)]
struct DlInfo {
    /// Path of the shared object containing the address, as the loader opened it.
    dli_fname: *const c_char,
    /// Base address of that object.
    dli_fbase: *mut c_void,
    /// Name of the nearest symbol, or NULL.
    dli_sname: *const c_char,
    /// Address of that symbol, or NULL.
    dli_saddr: *mut c_void,
}

unsafe extern "C" {
    /// `int dladdr(const void *addr, Dl_info *info)`: in libc since glibc 2.34, in libdl
    /// (which Rust's standard library links on Linux) before.
    fn dladdr(addr: *const c_void, info: *mut DlInfo) -> c_int;
}

/// The path of the loaded object (shared library or executable) whose code contains `addr`.
fn loaded_module_of(addr: *const c_void) -> Option<PathBuf> {
    let mut info = DlInfo {
        dli_fname: ptr::null(),
        dli_fbase: ptr::null_mut(),
        dli_sname: ptr::null(),
        dli_saddr: ptr::null_mut(),
    };
    // SAFETY: `dladdr` only reads `addr` as a number and writes the `Dl_info` we own;
    // `DlInfo` has the C layout of `Dl_info`.
    if unsafe { dladdr(addr, &mut info) } == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: on success `dli_fname` is a NUL-terminated string owned by the dynamic
    // loader, valid while the object is loaded; it is, since its code is running, and
    // the bytes are copied out at once.
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    let name = OsStr::from_bytes(name.to_bytes());
    (!name.is_empty()).then(|| PathBuf::from(name))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// In a test executable the client is linked statically, so `dladdr`
    /// names the executable, reported through `/proc/self/exe`.
    #[test]
    fn module_dir_of_a_static_link_is_the_executable_dir() {
        let exe = std::env::current_exe().unwrap();
        assert_eq!(module_dir(), exe.parent());
    }

    /// `dladdr` names the shared object that holds an address: libc's `malloc`
    /// is in `libc.so.6`, an absolute path from the loader.
    #[test]
    fn loaded_module_of_names_a_shared_library() {
        unsafe extern "C" {
            fn malloc(size: usize) -> *mut c_void;
        }
        let module = loaded_module_of(malloc as *const c_void).expect("dladdr(malloc)");
        let name = module.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("libc"), "{}", module.display());
    }
}

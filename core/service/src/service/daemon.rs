//! Turning `ringlog serve --daemon` into a daemon: the service side of auto-start.

use std::os::fd::{FromRawFd, OwnedFd};

use ringlog_ring::protocol::service_lock::READY_FD_ENV;

/// Detaches this freshly exec'd process: forks once (the parent exits so the
/// client can reap it), `setsid`, stdio to `log_path`, closes every other
/// inherited fd, `chdir /`. Returns the readiness pipe from `RINGLOG_READY_FD`.
///
/// Call before any thread is started.
///
/// # Errors
/// I/O errors opening the log or forking.
pub fn daemonize(log_path: &std::path::Path) -> std::io::Result<Option<OwnedFd>> {
    let ready = ready_fd_from_env();
    // SAFETY: called before any thread exists in this process (documented
    // contract), so the child is a complete copy; the parent only exits.
    match unsafe { libc::fork() } {
        -1 => return Err(std::io::Error::last_os_error()),
        0 => {}
        _ => std::process::exit(0),
    }
    let _ = rustix::process::setsid();
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log_path)?;
    let null = std::fs::File::open("/dev/null")?;
    use std::os::fd::AsRawFd;
    // SAFETY: dup2 onto the standard fds of this single-threaded process.
    unsafe {
        libc::dup2(null.as_raw_fd(), 0);
        libc::dup2(log.as_raw_fd(), 1);
        libc::dup2(log.as_raw_fd(), 2);
    }
    drop((log, null));
    let keep = ready.as_ref().map(|f| f.as_raw_fd()).unwrap_or(-1);
    close_inherited_fds(keep);
    std::env::set_current_dir("/")?;
    // SAFETY: single-threaded; the variable is ours and no longer needed.
    unsafe { std::env::remove_var(READY_FD_ENV) };
    Ok(ready)
}

/// Takes the readiness pipe named by `RINGLOG_READY_FD`, if any (also for a
/// foreground `ringlog serve` started by a test or a supervisor).
pub fn ready_fd_from_env() -> Option<OwnedFd> {
    let fd: i32 = std::env::var(READY_FD_ENV).ok()?.parse().ok()?;
    // SAFETY: the fd number was handed to us by the parent for this purpose and
    // is taken once per process. An invalid number only makes the write fail.
    (fd > 2).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Closes fds 3 and up except `keep`.
fn close_inherited_fds(keep: i32) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else { return };
    let fds: Vec<i32> = dir.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect();
    for fd in fds {
        if fd > 2 && fd != keep {
            // SAFETY: closing inherited descriptors nobody in this fresh process
            // owns (the read_dir handle is already dropped; closing a stale
            // number fails harmlessly with EBADF).
            unsafe { libc::close(fd) };
        }
    }
}

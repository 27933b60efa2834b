//! The service lock (an `flock` on a file beside the socket) and run ids.
//!
//! Exactly one service per runtime directory holds the lock. A client decides
//! that the service died when it can take the lock itself (never by
//! `kill(pid, 0)`, which breaks across PID namespaces); see ADR 15.

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Environment variable naming the readiness pipe an auto-started service
/// writes to once it listens (internal: set by the client for the child).
pub const READY_FD_ENV: &str = "RINGLOG_READY_FD";

/// Takes the service lock at `path` without blocking: `Ok(None)` if another
/// process holds it.
///
/// # Errors
/// I/O errors opening the lock file.
///
/// # Examples
/// ```
/// let dir = std::env::temp_dir().join(format!("rl-lock-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let held = ringlog_ring::protocol::service_lock::try_lock(&dir.join("lock")).unwrap();
/// assert!(held.is_some());
/// ```
pub fn try_lock(path: &Path) -> std::io::Result<Option<File>> {
    let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(f)),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Whether a service holds the lock at `path` (taking it, and releasing it
/// again on return, means nobody held it).
pub fn service_alive(path: &Path) -> bool {
    !matches!(try_lock(path), Ok(Some(_)))
}

/// A fresh run id: 8 random characters of `[0-9a-z]` (W&B's shape).
///
/// # Examples
/// ```
/// let id = ringlog_ring::protocol::service_lock::new_run_id();
/// assert_eq!(id.len(), 8);
/// ```
pub fn new_run_id() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut raw = [0u8; 8];
    let _ = rustix::rand::getrandom(&mut raw, rustix::rand::GetRandomFlags::empty());
    raw.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

/// Whether `id` is a usable run id: 1 to 32 of `[A-Za-z0-9_-]`.
///
/// # Examples
/// ```
/// use ringlog_ring::protocol::service_lock::valid_run_id;
/// assert!(valid_run_id("abc-1"));
/// assert!(!valid_run_id("../x"));
/// ```
pub fn valid_run_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

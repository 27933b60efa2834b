//! Where the control socket and the service lock live, and the checks that
//! keep other users out.
//!
//! `RINGLOG_SOCKET` (a file path) wins; otherwise
//! `$XDG_RUNTIME_DIR/ringlog/ringlog.sock`, else `/tmp/ringlog-<uid>/ringlog.sock`.
//! The directory is created with mode 0700; one owned by another uid, one with
//! group or other permissions, or a symlink is refused. The service lock
//! (`ringlog.lock`), the service log (`service.log`) and the run registry
//! (`runs/`) sit beside the socket.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Longest socket path `sockaddr_un` holds (108 bytes with the NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// Paths of one service instance.
///
/// # Examples
/// ```
/// let dirs = ringlog_ring::RuntimeDir::for_socket("/tmp/example-ringlog/ringlog.sock".into());
/// assert!(dirs.lock_path().ends_with("ringlog.lock"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeDir {
    socket: PathBuf,
}

/// The runtime directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeDirError {
    /// Path too long for a Unix socket.
    #[error(
        "socket path {0} is longer than {MAX_SOCKET_PATH} bytes, the Unix socket limit: set RINGLOG_SOCKET to a shorter path"
    )]
    TooLong(PathBuf),
    /// Unsafe directory.
    #[error(
        "refusing runtime directory {path}: {why}; remove it or set RINGLOG_SOCKET to a directory you own with mode 0700"
    )]
    Unsafe {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// I/O failure.
    #[error("runtime directory {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl RuntimeDir {
    /// The paths for the socket named by the environment (or the default).
    pub fn from_env() -> Self {
        if let Some(s) = std::env::var_os("RINGLOG_SOCKET").filter(|s| !s.is_empty()) {
            return Self::for_socket(PathBuf::from(s));
        }
        let base = match std::env::var_os("XDG_RUNTIME_DIR").filter(|s| !s.is_empty()) {
            Some(x) => PathBuf::from(x).join("ringlog"),
            None => PathBuf::from(format!("/tmp/ringlog-{}", rustix::process::geteuid().as_raw())),
        };
        Self::for_socket(base.join("ringlog.sock"))
    }

    /// The paths for an explicit socket path.
    pub fn for_socket(socket: PathBuf) -> Self {
        Self { socket }
    }

    /// The control socket.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// The directory holding socket, lock, log and registry.
    pub fn dir(&self) -> &Path {
        self.socket.parent().unwrap_or(Path::new("/"))
    }

    /// The service lock file (an `flock` held for the service's life).
    pub fn lock_path(&self) -> PathBuf {
        self.dir().join("ringlog.lock")
    }

    /// The daemon's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir().join("service.log")
    }

    /// Registry of live runs, so a restarted service can adopt them.
    pub fn registry_dir(&self) -> PathBuf {
        self.dir().join("runs")
    }

    /// Creates the directory (0700) if needed and checks it is safe.
    ///
    /// # Errors
    /// `TooLong`, `Unsafe` or `Io`.
    pub fn ensure(&self) -> Result<(), RuntimeDirError> {
        if self.socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(RuntimeDirError::TooLong(self.socket.clone()));
        }
        let dir = self.dir().to_path_buf();
        let io_err = |source| RuntimeDirError::Io { path: dir.clone(), source };
        match fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err(e)),
        }
        check_private_dir(&dir)?;
        fs::DirBuilder::new().recursive(true).mode(0o700).create(self.registry_dir()).map_err(io_err)?;
        Ok(())
    }
}

/// Refuses a symlink, another owner, or group/other access.
pub(crate) fn check_private_dir(dir: &Path) -> Result<(), RuntimeDirError> {
    let unsafe_dir = |why: String| RuntimeDirError::Unsafe { path: dir.to_path_buf(), why };
    let meta = fs::symlink_metadata(dir).map_err(|source| RuntimeDirError::Io { path: dir.to_path_buf(), source })?;
    if meta.file_type().is_symlink() {
        return Err(unsafe_dir("it is a symlink".into()));
    }
    if !meta.is_dir() {
        return Err(unsafe_dir("it is not a directory".into()));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(unsafe_dir(format!("it is owned by uid {}, not by this user ({me})", meta.uid())));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(unsafe_dir(format!("its mode is {mode:o}; other users could reach the socket")));
    }
    Ok(())
}

//! Where runs live on disk: run directory names, the `latest-run` link, and
//! the per-user list of run directories that lets `ringlog runs`, `tail`,
//! `export`, `watch` and `plot` find a run from any working directory.
//!
//! A run started with the default layout lives in
//! `RUNS_DIR/run-YYYYMMDD_HHMMSS-<id>` (UTC, like W&B's `offline-run-*`
//! names), and `RUNS_DIR/latest-run` links to the newest one. `RUNS_DIR` is
//! `RINGLOG_DIR`, else `./ringlog`.
//!
//! The service appends one JSON line per run it starts to
//! `$XDG_STATE_HOME/ringlog/runs.jsonl` (default `~/.local/state`), whatever
//! directory the run uses. The list is a cache of where runs are: a run whose
//! directory was deleted is skipped by readers and dropped when the file is
//! compacted.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::protocol::utc_time::UtcTime;

/// Name of the link to the newest run in a runs directory.
pub const LATEST_RUN_LINK: &str = "latest-run";

/// File name of the per-user list of runs, under [`state_dir`].
pub const RUN_LIST_FILE: &str = "runs.jsonl";

/// The run list is compacted (vanished runs dropped) when an append finds it
/// larger than this.
pub const RUN_LIST_COMPACT_BYTES: u64 = 256 * 1024;

/// `run-YYYYMMDD_HHMMSS-<id>`: the directory name of a run created at
/// `created_unix_ns`.
///
/// # Examples
/// ```
/// use ringlog_ring::protocol::run_layout::run_dir_name;
/// assert_eq!(run_dir_name("ab12", 1_796_137_118_000_000_000), "run-20261201_145838-ab12");
/// ```
pub fn run_dir_name(run_id: &str, created_unix_ns: u64) -> String {
    format!("run-{}-{run_id}", UtcTime::from_unix_ns(created_unix_ns).dir_stamp())
}

/// The run id in a directory name made by [`run_dir_name`], or `None` if the
/// name has another shape.
///
/// # Examples
/// ```
/// use ringlog_ring::protocol::run_layout::run_id_of_dir_name;
/// assert_eq!(run_id_of_dir_name("run-20261201_145838-ab12"), Some("ab12"));
/// assert_eq!(run_id_of_dir_name("ab12"), None);
/// ```
pub fn run_id_of_dir_name(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("run-")?;
    let (stamp, id) = (rest.get(..15)?, rest.get(16..)?);
    let shaped = stamp.bytes().enumerate().all(|(i, b)| if i == 8 { b == b'_' } else { b.is_ascii_digit() });
    (shaped && rest.as_bytes()[15] == b'-' && !id.is_empty()).then_some(id)
}

/// Points `runs_dir/latest-run` at `dir_name` (a relative link, replaced
/// atomically: a reader sees the old or the new run, never no link).
///
/// # Errors
/// The I/O error of creating or renaming the link.
///
/// # Examples
/// ```
/// # let runs = std::env::temp_dir().join(format!("ringlog-doc-latest-{}", std::process::id()));
/// # std::fs::create_dir_all(runs.join("run-20261201_145838-ab12"))?;
/// ringlog_ring::protocol::run_layout::point_latest_run(&runs, "run-20261201_145838-ab12")?;
/// assert_eq!(std::fs::read_link(runs.join("latest-run"))?, std::path::Path::new("run-20261201_145838-ab12"));
/// # std::fs::remove_dir_all(&runs)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn point_latest_run(runs_dir: &Path, dir_name: &str) -> std::io::Result<()> {
    let tmp = runs_dir.join(format!(".{LATEST_RUN_LINK}.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(dir_name, &tmp)?;
    std::fs::rename(&tmp, runs_dir.join(LATEST_RUN_LINK)).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// `$XDG_STATE_HOME/ringlog`, else `$HOME/.local/state/ringlog`; `None` when
/// neither variable is set (the run list is then off).
///
/// # Examples
/// ```
/// let dir = ringlog_ring::protocol::run_layout::state_dir();
/// assert!(dir.is_none_or(|d| d.ends_with("ringlog")));
/// ```
pub fn state_dir() -> Option<PathBuf> {
    let nonempty = |v: &str| std::env::var_os(v).filter(|s| !s.is_empty()).map(PathBuf::from);
    nonempty("XDG_STATE_HOME")
        .filter(|p| p.is_absolute())
        .or_else(|| nonempty("HOME").map(|h| h.join(".local").join("state")))
        .map(|d| d.join("ringlog"))
}

/// One run in the per-user run list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunListEntry {
    /// The run id.
    pub run_id: String,
    /// The run directory (absolute).
    pub run_dir: PathBuf,
    /// When the run was created, Unix ms.
    pub created_unix_ms: u64,
}

/// The per-user list of runs: `state_dir/runs.jsonl`.
///
/// # Examples
/// ```
/// use ringlog_ring::protocol::run_layout::{RunListEntry, RunList};
/// let state = std::env::temp_dir().join(format!("ringlog-doc-run-list-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&state);
/// let reg = RunList::at(&state);
/// let run_dir = state.join("run-a");
/// std::fs::create_dir_all(&run_dir)?;
/// reg.append(&RunListEntry { run_id: "a".into(), run_dir: run_dir.clone(), created_unix_ms: 1 })?;
/// let listed = reg.read()?;
/// assert_eq!(listed.present.len(), 1);
/// assert_eq!(listed.present[0].run_dir, run_dir);
/// # std::fs::remove_dir_all(&state)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct RunList {
    path: PathBuf,
}

/// What [`RunList::read`] found.
#[derive(Debug, Default)]
pub struct RunListing {
    /// Runs whose directory exists, oldest first, each directory once.
    pub present: Vec<RunListEntry>,
    /// Runs whose directory is gone.
    pub vanished: Vec<RunListEntry>,
    /// Lines that were not a run list entry (a torn last line, a foreign edit).
    pub unreadable_lines: usize,
}

impl RunList {
    /// The run list under `state_dir` (see [`state_dir`]).
    ///
    /// # Examples
    /// ```
    /// let reg = ringlog_ring::protocol::run_layout::RunList::at("/tmp/s".as_ref());
    /// assert!(reg.path().ends_with("runs.jsonl"));
    /// ```
    pub fn at(state_dir: &Path) -> Self {
        Self { path: state_dir.join(RUN_LIST_FILE) }
    }

    /// The run list of this user, from the environment ([`state_dir`]).
    ///
    /// # Examples
    /// ```
    /// let _maybe = ringlog_ring::protocol::run_layout::RunList::from_env();
    /// ```
    pub fn from_env() -> Option<Self> {
        state_dir().map(|d| Self::at(&d))
    }

    /// The run list file.
    ///
    /// # Examples
    /// ```
    /// let reg = ringlog_ring::protocol::run_layout::RunList::at("/s".as_ref());
    /// assert_eq!(reg.path(), std::path::Path::new("/s/runs.jsonl"));
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `entry` (one line, one `write` on an `O_APPEND` file), creating
    /// the directory (0700) and file (0600) if needed; compacts the file first
    /// when it has grown past [`RUN_LIST_COMPACT_BYTES`]. Holds `runs.lock`
    /// (`flock`) meanwhile, so concurrent appenders lose nothing.
    ///
    /// # Errors
    /// The I/O error of creating or writing the file.
    ///
    /// # Examples
    /// See [`RunList`].
    pub fn append(&self, entry: &RunListEntry) -> std::io::Result<()> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        if let Some(dir) = self.path.parent() {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
        // Services of other runtime directories may share the list: appends and
        // compactions take turns (a lock file, since compaction replaces the list).
        let lock =
            std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(self.path.with_extension("lock"))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).map_err(std::io::Error::from)?;
        if std::fs::metadata(&self.path).is_ok_and(|m| m.len() > RUN_LIST_COMPACT_BYTES) {
            self.compact()?;
        }
        let mut f = std::fs::OpenOptions::new().create(true).append(true).read(true).mode(0o600).open(&self.path)?;
        // A line torn by a crash must not swallow this one: start on a fresh line.
        let len = f.metadata()?.len();
        let mut last = [b'\n'];
        if len > 0 {
            std::os::unix::fs::FileExt::read_exact_at(&f, &mut last, len - 1)?;
        }
        let mut line = if last[0] == b'\n' { Vec::new() } else { vec![b'\n'] };
        serde_json::to_writer(&mut line, entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        f.write_all(&line)
    }

    /// Reads the run list: present runs (oldest first, the last entry of each
    /// directory), vanished ones, and how many lines were unreadable. A
    /// missing file is an empty run list.
    ///
    /// # Errors
    /// The I/O error of reading an existing file.
    ///
    /// # Examples
    /// See [`RunList`].
    pub fn read(&self) -> std::io::Result<RunListing> {
        let text = match std::fs::read(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RunListing::default()),
            Err(e) => return Err(e),
        };
        let mut out = RunListing::default();
        let mut seen = std::collections::HashMap::<PathBuf, usize>::new();
        let mut all = Vec::new();
        for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice::<RunListEntry>(line) {
                Ok(e) => match seen.get(&e.run_dir) {
                    Some(&i) => all[i] = e,
                    None => {
                        seen.insert(e.run_dir.clone(), all.len());
                        all.push(e);
                    }
                },
                Err(_) => out.unreadable_lines += 1,
            }
        }
        for e in all {
            if e.run_dir.is_dir() { out.present.push(e) } else { out.vanished.push(e) }
        }
        out.present.sort_by_key(|e| e.created_unix_ms);
        Ok(out)
    }

    /// Rewrites the file with only the runs whose directory still exists
    /// (through a temporary file and a rename, so a reader never sees half).
    fn compact(&self) -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let listing = self.read()?;
        let tmp = self.path.with_extension(format!("jsonl.{}.tmp", std::process::id()));
        let mut body = Vec::new();
        for e in &listing.present {
            serde_json::to_writer(&mut body, e).map_err(std::io::Error::other)?;
            body.push(b'\n');
        }
        let mut f = std::fs::OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(&body)?;
        std::fs::rename(&tmp, &self.path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_names_round_trip() {
        let name = run_dir_name("x-1_y", 0);
        assert_eq!(name, "run-19700101_000000-x-1_y");
        assert_eq!(run_id_of_dir_name(&name), Some("x-1_y"));
        for bad in ["run-", "run-19700101_000000-", "run-1970010100000000-a", "offline-run-19700101_000000-a"] {
            assert_eq!(run_id_of_dir_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn run_list_skips_vanished_and_torn_lines_and_compacts() {
        let state = std::env::temp_dir().join(format!("ringlog-run-list-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        let reg = RunList::at(&state);
        let keep = state.join("keep");
        std::fs::create_dir_all(&keep).unwrap();
        let gone = state.join("gone");
        reg.append(&RunListEntry { run_id: "g".into(), run_dir: gone.clone(), created_unix_ms: 2 }).unwrap();
        reg.append(&RunListEntry { run_id: "k".into(), run_dir: keep.clone(), created_unix_ms: 1 }).unwrap();
        std::fs::OpenOptions::new().append(true).open(reg.path()).unwrap().write_all(b"{\"run_id\":\"to").unwrap();
        let later = state.join("later");
        std::fs::create_dir_all(&later).unwrap();
        reg.append(&RunListEntry { run_id: "l".into(), run_dir: later, created_unix_ms: 3 }).unwrap();
        let l = reg.read().unwrap();
        assert_eq!(l.present.iter().map(|e| e.run_id.as_str()).collect::<Vec<_>>(), ["k", "l"]);
        assert_eq!(l.vanished.len(), 1);
        assert_eq!(l.unreadable_lines, 1);
        reg.compact().unwrap();
        let l = reg.read().unwrap();
        assert_eq!((l.present.len(), l.vanished.len(), l.unreadable_lines), (2, 0, 0));
        std::fs::remove_dir_all(&state).unwrap();
    }
}

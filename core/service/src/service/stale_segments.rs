//! Which of this user's segments in `/dev/shm` are still needed.
//!
//! A segment is normally unlinked when its run closes. One can be left behind
//! when a service dies between closing a run and unlinking it, when a run
//! cannot be adopted after a restart, or when another process damaged it. Each
//! segment gets a [`Verdict`]:
//! - **live**: its service (the pid in its header, a process named `ringlog`)
//!   is running;
//! - **awaiting adoption**: its service is gone but this runtime directory's
//!   registry names its run: the next service started here adopts it;
//! - **stale**: its run ended, or it is damaged (and older than a minute, so
//!   not one being created), or its service is gone and no registry here names
//!   it.
//!
//! At start the service reclaims the stale segments that cannot belong to any
//! service (damaged or ended ones); `ringlog gc --yes` also reclaims orphans,
//! which a service using another runtime directory could still adopt.

use std::path::Path;
use std::time::{Duration, SystemTime};

use ringlog_ring::{RunState, SegmentError, SegmentOwner};

/// A damaged segment younger than this may be one being created right now.
const DAMAGED_GRACE: Duration = Duration::from_secs(60);

/// What a segment is still good for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Its service is running.
    Live {
        /// The service's pid.
        service_pid: u32,
    },
    /// Not readable by this version (another layout or record format) or not
    /// openable now: left alone.
    Unknown {
        /// Why.
        reason: String,
    },
    /// Its service is gone; the next service started with this runtime directory adopts it.
    AwaitingAdoption {
        /// The dead service's pid.
        service_pid: u32,
    },
    /// Nothing needs it.
    Stale {
        /// Why.
        reason: String,
        /// Whether no service could ever use it (damaged, or its run ended), so a
        /// starting service reclaims it without being asked.
        unusable: bool,
    },
}

/// One segment and its verdict.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SegmentCheck {
    /// Name (`/ringlog-...`).
    pub name: String,
    /// Bytes in `/dev/shm`.
    pub bytes: u64,
    /// Run id from its header, when readable.
    pub run_id: Option<String>,
    /// The verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// Checks every segment of this user against `registry_dir` (the runtime
/// directory's registry of live runs).
///
/// # Errors
/// `/dev/shm` cannot be listed.
pub fn check_all(registry_dir: &Path) -> Result<Vec<SegmentCheck>, ringlog_ring::SegmentError> {
    let mut out = Vec::new();
    for listing in SegmentOwner::list()? {
        let path = Path::new("/dev/shm").join(listing.name.trim_start_matches('/'));
        let meta = std::fs::metadata(&path).ok();
        let bytes = meta.as_ref().map_or(0, |m| m.len());
        let age = meta.and_then(|m| m.modified().ok()).and_then(|t| SystemTime::now().duration_since(t).ok());
        let (run_id, verdict) = match listing.info {
            // Only a segment positively cut short or without ringlog's magic is
            // damaged; another version's layout, or an error opening it (out of
            // file descriptors, say), says nothing about whether a run needs it.
            Err(e @ (SegmentError::Truncated { .. } | SegmentError::BadMagic { .. })) => {
                if age.is_none_or(|a| a < DAMAGED_GRACE) {
                    continue;
                }
                (None, Verdict::Stale { reason: format!("damaged: {e}"), unusable: true })
            }
            Err(e) => (None, Verdict::Unknown { reason: e.to_string() }),
            Ok(info) => {
                let verdict = match info.run_state {
                    Some(RunState::Finished | RunState::Crashed) => {
                        Verdict::Stale { reason: "its run has ended".into(), unusable: true }
                    }
                    _ if service_alive(info.service_pid) => Verdict::Live { service_pid: info.service_pid },
                    _ if registry_dir.join(format!("{}.json", info.run_id)).exists() => {
                        Verdict::AwaitingAdoption { service_pid: info.service_pid }
                    }
                    _ => Verdict::Stale {
                        reason: format!(
                            "its service (pid {}) is gone and this runtime directory's registry does not name run {}",
                            info.service_pid, info.run_id
                        ),
                        unusable: false,
                    },
                };
                (Some(info.run_id), verdict)
            }
        };
        out.push(SegmentCheck { name: listing.name, bytes, run_id, verdict });
    }
    Ok(out)
}

/// Whether `pid` is a running ringlog service: a process named `ringlog` (the
/// binary, or the Python package's `ringlog` script), or one whose command line
/// runs `ringlog ... serve` (`python -m ringlog serve`, a renamed binary given
/// `serve`). A pid reused by an unrelated process that matches neither reads as
/// dead; one that happens to match reads as alive (the segment is kept).
fn service_alive(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    if std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == "ringlog") {
        return true;
    }
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    args.iter().any(|a| a.ends_with(b"ringlog")) && args.iter().any(|a| *a == b"serve")
}

/// Unlinks the stale segments `keep_orphans` allows: the unusable ones always,
/// the orphans unless `keep_orphans`. Returns (segments, bytes) reclaimed.
pub fn reclaim(checks: &[SegmentCheck], keep_orphans: bool) -> (usize, u64) {
    let mut done = (0, 0);
    for c in checks {
        if let Verdict::Stale { unusable, .. } = c.verdict
            && (unusable || !keep_orphans)
            && SegmentOwner::unlink_name(&c.name).is_ok()
        {
            done.0 += 1;
            done.1 += c.bytes;
        }
    }
    done
}

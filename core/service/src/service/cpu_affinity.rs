//! Which CPUs the service runs on.
//!
//! An auto-started service is forked from a trainer, and a process keeps the CPU affinity of
//! its parent. A DDP rank bound to a few cores would therefore confine the one service of its
//! user, which then drains every run of that user, to the rank's cores. So `serve --daemon`
//! widens its affinity to every CPU its cgroup allows, less the CPUs the kernel isolates
//! (`isolcpus`, `/sys/devices/system/cpu/isolated`), unless `RINGLOG_SERVICE_CPUS` says
//! otherwise: a CPU list as `taskset -c` takes it (`2`, `0-3,8`), for instance to keep the
//! service off the training cores, or `inherit` to keep the starter's affinity (a job confined
//! by affinity alone, without a cpuset, keeps its service inside that way). A foreground
//! `ringlog serve` keeps the affinity it was started with, since whoever started it chose that,
//! and also follows the variable.
//!
//! The affinity is set for the calling thread; threads it starts later inherit it, so this
//! runs before the service starts any.

use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

use crate::service::cpu_list;

/// The variable naming the service's CPUs.
pub const SERVICE_CPUS_ENV: &str = "RINGLOG_SERVICE_CPUS";

/// The value of [`SERVICE_CPUS_ENV`] that keeps the inherited affinity.
pub const INHERIT: &str = "inherit";

/// What to do with the affinity the process was started with when the variable is unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inherited {
    /// Replace it by every CPU the cgroup allows, less isolated ones (an auto-started daemon).
    Widen,
    /// Keep it (a foreground `ringlog serve`).
    Keep,
}

/// Why the service's CPUs could not be set.
#[derive(Debug, thiserror::Error)]
pub enum AffinityError {
    /// `RINGLOG_SERVICE_CPUS` is not a CPU list.
    #[error(
        "{SERVICE_CPUS_ENV}={value:?} is not a CPU list: {why}; give CPU numbers and ranges such as `2` or `0-3,8`, `{INHERIT}`, or unset it"
    )]
    BadList {
        /// The variable's value.
        value: String,
        /// What is wrong with it.
        why: String,
    },
    /// The kernel refused the set (no CPU of it is allowed to this process).
    #[error("{SERVICE_CPUS_ENV}={value:?}: cannot run on these CPUs ({source}); this process may use {allowed}")]
    Refused {
        /// The variable's value.
        value: String,
        /// The CPUs this process may use.
        allowed: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Sets the service's CPUs: those `RINGLOG_SERVICE_CPUS` names if it is set (and not empty);
/// else, with [`Inherited::Widen`], every CPU the cgroup allows that the kernel does not
/// isolate; else it leaves them. Returns the CPUs the service runs on, as a list (`0-3`), for
/// the log.
///
/// # Errors
/// [`AffinityError`] for a variable that is not a CPU list or names no usable CPU.
///
/// # Examples
/// ```
/// use ringlog_service::service::cpu_affinity::{Inherited, apply};
/// // With the variable unset, `Keep` leaves the affinity as it is.
/// # // SAFETY: the doc test runs in its own single-threaded process.
/// # unsafe { std::env::remove_var("RINGLOG_SERVICE_CPUS") };
/// let cpus = apply(Inherited::Keep)?;
/// assert!(!cpus.is_empty());
/// # Ok::<(), ringlog_service::service::cpu_affinity::AffinityError>(())
/// ```
pub fn apply(inherited: Inherited) -> Result<String, AffinityError> {
    let value = match std::env::var_os(SERVICE_CPUS_ENV) {
        Some(v) => Some(v.into_string().map_err(|v| AffinityError::BadList {
            value: v.to_string_lossy().into_owned(),
            why: "it is not UTF-8".into(),
        })?),
        None => None,
    };
    match value.as_deref().map(str::trim) {
        // Set but empty (a launcher's `RINGLOG_SERVICE_CPUS=`) reads as unset.
        None | Some("") if inherited == Inherited::Widen => widen(),
        None | Some("") | Some(INHERIT) => {}
        Some(list) => {
            let set = cpu_list::parse(list).map_err(|why| AffinityError::BadList { value: list.to_owned(), why })?;
            sched_setaffinity(None, &set).map_err(|e| AffinityError::Refused {
                value: list.to_owned(),
                allowed: current(),
                source: e.into(),
            })?;
        }
    }
    Ok(current())
}

/// Every CPU less the isolated ones: the kernel keeps those of the cgroup's cpuset and
/// ignores numbers past its last CPU. A refusal (every allowed CPU isolated) leaves the
/// inherited affinity, which still works, and says so.
fn widen() {
    let mut set = CpuSet::new();
    (0..CpuSet::MAX_CPU).for_each(|c| set.set(c));
    let isolated = std::fs::read_to_string("/sys/devices/system/cpu/isolated").unwrap_or_default();
    if let Ok(isolated) = cpu_list::parse(isolated.trim()) {
        (0..CpuSet::MAX_CPU).filter(|&c| isolated.is_set(c)).for_each(|c| set.unset(c));
    }
    if let Err(e) = sched_setaffinity(None, &set) {
        tracing::warn!(error = %e, cpus = %current(), "cannot widen the service's CPUs; keeping those it was started with");
    }
}

/// This thread's CPUs as a list.
fn current() -> String {
    sched_getaffinity(None).map(|set| cpu_list::format(&set)).unwrap_or_else(|e| format!("unknown ({e})"))
}

//! Which CPUs the service runs on.
//!
//! An auto-started service is forked from a trainer, and a process keeps the CPU affinity of
//! its parent. A DDP rank bound to a few cores would therefore confine the one service of its
//! user, which then drains every run of that user, to the rank's cores. So `serve --daemon`
//! widens its affinity to every CPU its cgroup allows, unless `RINGLOG_SERVICE_CPUS` names the
//! CPUs on purpose (a list as `taskset -c` takes it: `2`, `0-3,8`), for instance to keep the
//! service off the training cores. A foreground `ringlog serve` keeps the affinity it was
//! started with, since whoever started it chose that, and also follows the variable.
//!
//! Threads started later inherit the affinity, so this runs before the service starts any.

use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

/// The variable naming the service's CPUs.
pub const SERVICE_CPUS_ENV: &str = "RINGLOG_SERVICE_CPUS";

/// Why the service's CPUs could not be set.
#[derive(Debug, thiserror::Error)]
pub enum AffinityError {
    /// `RINGLOG_SERVICE_CPUS` is not a CPU list.
    #[error(
        "{SERVICE_CPUS_ENV}={value:?} is not a CPU list: {why}; give CPU numbers and ranges such as `2` or `0-3,8`, or unset it"
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

/// Sets the service's CPUs: those `RINGLOG_SERVICE_CPUS` names if it is set, else, when
/// `widen`, every CPU the process's cgroup allows; else leaves them. Returns the CPUs the
/// service runs on, as a list (`0-3`), for the log.
///
/// # Errors
/// [`AffinityError`] for a variable that is not a CPU list or names no usable CPU.
///
/// # Examples
/// ```
/// // Not widened, no variable: the affinity stays as it is.
/// # // SAFETY: the doc test runs in its own single-threaded process.
/// # unsafe { std::env::remove_var("RINGLOG_SERVICE_CPUS") };
/// let cpus = ringlog_service::service::cpu_affinity::apply(false)?;
/// assert!(!cpus.is_empty());
/// # Ok::<(), ringlog_service::service::cpu_affinity::AffinityError>(())
/// ```
pub fn apply(widen: bool) -> Result<String, AffinityError> {
    let wanted = match std::env::var(SERVICE_CPUS_ENV) {
        Ok(value) => {
            Some((parse_cpu_list(&value).map_err(|why| AffinityError::BadList { value: value.clone(), why })?, value))
        }
        Err(_) => None,
    };
    match wanted {
        Some((set, value)) => sched_setaffinity(None, &set).map_err(|e| AffinityError::Refused {
            value,
            allowed: current(),
            source: e.into(),
        })?,
        // Every CPU: the kernel keeps those of the cgroup's cpuset. A refusal (a kernel
        // that rejects bits beyond its CPUs) leaves the inherited affinity, which still works.
        None if widen => {
            let mut all = CpuSet::new();
            (0..CpuSet::MAX_CPU).for_each(|c| all.set(c));
            let _ = sched_setaffinity(None, &all);
        }
        None => {}
    }
    Ok(current())
}

/// This process's CPUs as a list.
fn current() -> String {
    sched_getaffinity(None).map(|set| format_cpu_list(&set)).unwrap_or_else(|e| format!("unknown ({e})"))
}

/// Parses `0-3,8` into a set.
fn parse_cpu_list(text: &str) -> Result<CpuSet, String> {
    let mut set = CpuSet::new();
    let cpu = |s: &str| -> Result<usize, String> {
        let n: usize = s.trim().parse().map_err(|_| format!("`{}` is not a CPU number", s.trim()))?;
        if n >= CpuSet::MAX_CPU {
            return Err(format!("CPU {n} is beyond the largest CPU number, {}", CpuSet::MAX_CPU - 1));
        }
        Ok(n)
    };
    for part in text.split(',') {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (cpu(a)?, cpu(b)?),
            None => (cpu(part)?, cpu(part)?),
        };
        if first > last {
            return Err(format!("the range `{}` runs backwards", part.trim()));
        }
        (first..=last).for_each(|c| set.set(c));
    }
    Ok(set)
}

/// Formats a set as `0-3,8`.
fn format_cpu_list(set: &CpuSet) -> String {
    let mut parts = Vec::new();
    let mut c = 0;
    while c < CpuSet::MAX_CPU {
        if !set.is_set(c) {
            c += 1;
            continue;
        }
        let first = c;
        while c + 1 < CpuSet::MAX_CPU && set.is_set(c + 1) {
            c += 1;
        }
        parts.push(if first == c { first.to_string() } else { format!("{first}-{c}") });
        c += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_format_back() {
        for text in ["0", "0-3", "0-3,8", "1,3,5-6"] {
            assert_eq!(format_cpu_list(&parse_cpu_list(text).unwrap()), text);
        }
        assert_eq!(format_cpu_list(&parse_cpu_list(" 2 , 4-5").unwrap()), "2,4-5");
    }

    #[test]
    fn bad_lists_say_what_is_wrong() {
        for (text, says) in [
            ("", "not a CPU number"),
            ("seven", "`seven` is not a CPU number"),
            ("0,,1", "not a CPU number"),
            ("3-1", "runs backwards"),
            ("-1", "not a CPU number"),
            ("99999", "beyond the largest"),
        ] {
            let e = parse_cpu_list(text).expect_err(text);
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }
}

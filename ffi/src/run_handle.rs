//! `rl_run`: one process's handle on a run, and its read-only accessors.

use std::ffi::{CString, c_char};

use ringlog_core::{KeyId, Run};

use crate::boundary::{OutPtr, as_ref, guard, guard_ptr};
use crate::ffi_error::FfiError;
use crate::report::rl_stats;
use crate::status::rl_status;
use crate::step_builder::{RL_STEP_FAST_CAPACITY, StepBuilder};

/// A run as seen by this process (opaque): its own lane in the run's shared
/// memory plus the control link to the service. Made by `rl_init` (the
/// owner) or `rl_attach` (another process); ended by `rl_finish` or
/// `rl_run_free`.
///
/// **Threads.** A handle may move between threads but must not be used by
/// two threads at once (its lane has a single producer). For concurrent
/// logging give each thread its own handle with `rl_attach(rl_run_id(run))`
/// (each gets its own lane), or guard one handle with a mutex.
///
/// **fork().** A handle belongs to the process that made it. In a forked
/// child every call on an inherited handle returns `RL_ERR_FORKED` and writes
/// nothing; the child calls `rl_attach` for a handle of its own, and may
/// `rl_run_free` the inherited one (which then only releases memory: it
/// neither finishes nor detaches the parent's run).
#[allow(non_camel_case_types)]
pub struct rl_run {
    /// The Rust client's handle.
    pub(crate) run: Run,
    /// Names of the key ids `rl_key` returned on this handle.
    pub(crate) keys: KeyNames,
    /// The step being built between `rl_step_begin` and `rl_step_commit`.
    pub(crate) step: StepBuilder,
    /// Where `rl_log_f64s` gathers its (key, value) pairs.
    pub(crate) scratch: [(KeyId, f64); RL_STEP_FAST_CAPACITY],
    /// `run.run_id()`, NUL-terminated for `rl_run_id`.
    run_id: CString,
    /// `run.run_dir()`, NUL-terminated for `rl_run_dir`.
    run_dir: CString,
    /// The process that made the handle (checked by `rl_flush`; the write
    /// paths use the client's cheaper atfork generation instead).
    pid: u32,
}

impl rl_run {
    /// Wraps a client handle.
    pub(crate) fn new(run: Run) -> Result<Self, FfiError> {
        let nul = |what: &str| FfiError::invalid(format!("the run's {what} contains a NUL byte"));
        let run_id = CString::new(run.run_id()).map_err(|_| nul("id"))?;
        let run_dir = CString::new(run.run_dir().as_os_str().as_encoded_bytes()).map_err(|_| nul("directory"))?;
        Ok(Self {
            run,
            keys: KeyNames::default(),
            step: StepBuilder::new(),
            scratch: [(KeyId(0), 0.0); RL_STEP_FAST_CAPACITY],
            run_id,
            run_dir,
            pid: std::process::id(),
        })
    }

    /// The client handle, for `rl_finish`.
    pub(crate) fn into_run(self) -> Run {
        self.run
    }

    /// Fails with `RL_ERR_FORKED` in a process other than the handle's maker.
    pub(crate) fn check_not_forked(&self) -> Result<(), FfiError> {
        if std::process::id() == self.pid {
            Ok(())
        } else {
            Err(FfiError::new(
                rl_status::RL_ERR_FORKED,
                format!(
                    "this run handle was created in process {} before fork(); in the child call \
                     rl_attach(rl_run_id(run), &child_run) for a handle of its own",
                    self.pid
                ),
            ))
        }
    }

    /// Checks that `key` was returned by `rl_key` on this handle.
    #[inline(always)]
    pub(crate) fn check_key(&self, key: u32) -> Result<KeyId, FfiError> {
        self.keys.check(key)
    }
}

/// The error for a key id `rl_key` did not return on this handle.
#[cold]
pub(crate) fn unknown_key(key: u32) -> FfiError {
    FfiError::invalid(format!(
        "key id {key} was not returned by rl_key on this handle: key ids are per handle (per lane)"
    ))
}

/// Key names by id, for the ids `rl_key` handed out on one handle.
///
/// Ids are the lane's interned ids, dense from 0 but shared with names the
/// handle interned itself (config keys at init, summary keys), so some slots
/// stay empty: those ids were never given to the caller.
#[derive(Debug, Default)]
pub(crate) struct KeyNames {
    /// `names[id]` is the name of key `id`, if `rl_key` returned it.
    names: Vec<Option<Box<str>>>,
}

impl KeyNames {
    /// Records that `id` names `name`.
    pub(crate) fn insert(&mut self, id: KeyId, name: &str) {
        let i = id.0 as usize;
        if self.names.len() <= i {
            self.names.resize(i + 1, None);
        }
        self.names[i] = Some(name.into());
    }

    /// Whether `rl_key` returned `id`.
    #[inline(always)]
    pub(crate) fn contains(&self, id: u32) -> bool {
        matches!(self.names.get(id as usize), Some(Some(_)))
    }

    /// `id` as a key, or `RL_ERR_INVALID_ARGUMENT` if `rl_key` did not return it.
    #[inline(always)]
    pub(crate) fn check(&self, id: u32) -> Result<KeyId, FfiError> {
        if self.contains(id) { Ok(KeyId(id)) } else { Err(unknown_key(id)) }
    }

    /// The name of `id`, if `rl_key` returned it.
    pub(crate) fn name(&self, id: KeyId) -> Option<&str> {
        self.names.get(id.0 as usize).and_then(|n| n.as_deref())
    }
}

/// The run id, NUL-terminated (NULL if `run` is NULL).
///
/// # Safety
/// - `run` must be NULL or a live handle from `rl_init` / `rl_attach`.
/// - The string belongs to the handle: do not free it; it is valid until
///   `rl_finish` or `rl_run_free` on `run`.
/// - Thread safety: as any call on `run` (one thread at a time).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_run_id(run: *const rl_run) -> *const c_char {
    guard_ptr(|| {
        // SAFETY: the caller guarantees NULL or a live handle.
        let h = unsafe { as_ref(run, "run") }?;
        Ok(h.run_id.as_ptr())
    })
}

/// The run directory (absolute), NUL-terminated (NULL if `run` is NULL).
///
/// # Safety
/// - `run` must be NULL or a live handle from `rl_init` / `rl_attach`.
/// - The string belongs to the handle: do not free it; it is valid until
///   `rl_finish` or `rl_run_free` on `run`.
/// - Thread safety: as any call on `run` (one thread at a time).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_run_dir(run: *const rl_run) -> *const c_char {
    guard_ptr(|| {
        // SAFETY: the caller guarantees NULL or a live handle.
        let h = unsafe { as_ref(run, "run") }?;
        Ok(h.run_dir.as_ptr())
    })
}

/// Fills `*out_stats` with this handle's lane counters: records, bytes,
/// drops, timeouts and the lane id.
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`.
/// - `out_stats` must be non-NULL and valid for writing one `rl_stats`.
/// - Thread safety: as any call on `run` (one thread at a time).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_run_stats(run: *const rl_run, out_stats: *mut rl_stats) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees NULL or a live handle.
        let h = unsafe { as_ref(run, "run") }?;
        let out = OutPtr::new(out_stats, "out_stats")?;
        // SAFETY: the caller guarantees `out_stats` is valid for a write.
        unsafe { out.write(rl_stats::new(h.run.counters(), h.run.lane())) };
        Ok(())
    })
}

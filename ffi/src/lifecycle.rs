//! Starting, joining and ending runs: `rl_init`, `rl_attach`, `rl_flush`,
//! `rl_finish`, `rl_run_free`.

use std::ffi::c_char;
use std::panic::{AssertUnwindSafe, catch_unwind};

use ringlog_core::InitOptions;

use crate::boundary::{OutPtr, as_mut, as_ref, guard};
use crate::c_string::str_arg;
use crate::ffi_error::FfiError;
use crate::options::rl_options;
use crate::report::rl_finish_report;
use crate::run_handle::rl_run;
use crate::status::rl_status;

/// Stores a new handle in `out`, or NULL when `made` failed.
///
/// # Safety
/// `out` is valid for writing one pointer.
unsafe fn hand_out(out: OutPtr<*mut rl_run>, made: Result<ringlog_core::Run, FfiError>) -> Result<(), FfiError> {
    match made.and_then(rl_run::new) {
        Ok(handle) => {
            // SAFETY: forwarded from the caller.
            unsafe { out.write(Box::into_raw(Box::new(handle))) };
            Ok(())
        }
        Err(e) => {
            // SAFETY: forwarded from the caller.
            unsafe { out.write(std::ptr::null_mut()) };
            Err(e)
        }
    }
}

/// Starts a run owned by this process and stores its handle in `*out_run`
/// (NULL on failure). `options` may be NULL for the defaults; it is copied,
/// so it can be freed right after.
///
/// Connects to the service at `RINGLOG_SOCKET` (or the per-user default),
/// starting `ringlog serve` when none answers, unless `RINGLOG_AUTOSTART=0`.
/// The service executable is found through `RINGLOG_BIN`, then `bin/ringlog`
/// in this library's install prefix (`<dir of libringlog.so>/../bin/ringlog`,
/// found with `dladdr`; the executable's directory for `libringlog.a`), then
/// a `ringlog` beside the library, then `ringlog` on `PATH`, then
/// `$CARGO_HOME/bin/ringlog`, then a `ringlog` beside the running executable.
/// So an unpacked release tarball (`ffi/dist.sh`) and a build tree
/// (`target/release/`) each start their own service with no variable set.
/// Blocks for the control round trips (milliseconds; bounded).
///
/// Errors: `RL_ERR_NO_SERVICE`, `RL_ERR_INVALID_ARGUMENT` (options the
/// service refuses, e.g. a ring size that is not a power of two),
/// `RL_ERR_SYSTEM` (runtime directory, `/dev/shm`), `RL_ERR_SERVICE`.
///
/// # Safety
/// - `options` must be NULL or a live handle from `rl_options_new`.
/// - `out_run` must be non-NULL and valid for writing one pointer.
/// - The handle must be ended with `rl_finish` (or `rl_run_free`).
/// - Thread safety: callable from any thread; the new handle is then used by
///   one thread at a time. Reads the environment (`RINGLOG_*`): do not
///   `setenv` concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_init(options: *const rl_options, out_run: *mut *mut rl_run) -> rl_status {
    guard(|| {
        let out = OutPtr::new(out_run, "out_run")?;
        let opts = if options.is_null() {
            InitOptions::default()
        } else {
            // SAFETY: non-NULL, and the caller guarantees a live handle.
            unsafe { as_ref(options, "options") }?.inner.clone()
        };
        let made = ringlog_core::init(opts).map_err(FfiError::from);
        // SAFETY: the caller guarantees `out_run` is valid for a write.
        unsafe { hand_out(out, made) }
    })
}

/// Joins the existing run `run_id` from this process (another DDP rank, a
/// worker, a forked child) with a lane of its own, and stores the handle in
/// `*out_run` (NULL on failure). Its `rl_finish` detaches; the run goes on
/// until its owner finishes it.
///
/// Errors: `RL_ERR_UNKNOWN_RUN`, `RL_ERR_NO_SERVICE`, `RL_ERR_SYSTEM`,
/// `RL_ERR_SERVICE`.
///
/// # Safety
/// - `run_id` must be a NUL-terminated UTF-8 string.
/// - `out_run` must be non-NULL and valid for writing one pointer.
/// - The handle must be ended with `rl_finish` (or `rl_run_free`).
/// - Thread safety: callable from any thread; the new handle is then used by
///   one thread at a time.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_attach(run_id: *const c_char, out_run: *mut *mut rl_run) -> rl_status {
    guard(|| {
        let out = OutPtr::new(out_run, "out_run")?;
        // SAFETY: the caller guarantees NULL or a NUL-terminated string.
        let id = match unsafe { str_arg(run_id, "run_id") } {
            Ok(id) => id,
            Err(e) => {
                // SAFETY: the caller guarantees `out_run` is valid for a write.
                unsafe { out.write(std::ptr::null_mut()) };
                return Err(e);
            }
        };
        let made = ringlog_core::attach(id).map_err(FfiError::from);
        // SAFETY: the caller guarantees `out_run` is valid for a write.
        unsafe { hand_out(out, made) }
    })
}

/// Waits (at most 10 s) until the service has taken every record this
/// process wrote out of its lane and appended it to the run log. Records are
/// visible to the service as soon as the call that wrote them returns; this
/// only waits for the drain. Durability on disk comes with `rl_finish` (the
/// service fsyncs). `RL_ERR_TIMEOUT` if the service did not drain in time,
/// `RL_ERR_FORKED` on a handle inherited across `fork()`, `RL_ERR_STEP_STATE`
/// if a step is still open (commit or cancel it).
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`.
/// - Thread safety: one thread at a time per `run`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_flush(run: *mut rl_run) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees NULL or a live handle used by this thread only.
        let h = unsafe { as_mut(run, "run") }?;
        h.check_not_forked()?;
        if h.step.is_open() {
            return Err(FfiError::new(
                rl_status::RL_ERR_STEP_STATE,
                "rl_flush: a step is open; rl_step_commit or rl_step_cancel it first",
            ));
        }
        match h.run.flush(std::time::Duration::from_secs(10)) {
            Ok(true) => Ok(()),
            Ok(false) => Err(FfiError::new(
                rl_status::RL_ERR_TIMEOUT,
                "rl_flush: the service did not drain this lane within 10 s; check `ringlog status`",
            )),
            Err(e) => Err(FfiError::from(e)),
        }
    })
}

/// Ends this process's part of the run and frees the handle, which is
/// invalid afterwards whatever the result.
///
/// The owner (the `rl_init` process) finishes the run: the service waits,
/// bounded, for attached processes to detach or die, drains every lane,
/// writes and fsyncs, and reports the run's counts. An attached process
/// detaches and reports its own lane's counts. A step still open is discarded.
/// `out_report` may be NULL; when given it is filled on `RL_OK`.
///
/// Blocks until the service answers (bounded by the finish wait plus 90 s).
/// `RL_ERR_FORKED` on a handle inherited across `fork()` (the memory is still
/// freed and the parent's run is untouched).
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`, not used again.
/// - `out_report` must be NULL or valid for writing one `rl_finish_report`.
/// - Thread safety: no other thread may use `run` concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_finish(run: *mut rl_run, exit_code: i32, out_report: *mut rl_finish_report) -> rl_status {
    guard(|| {
        if run.is_null() {
            return Err(FfiError::null("run"));
        }
        // SAFETY: the caller guarantees a live handle made by `Box::into_raw`
        // in `hand_out`, never used again: we take ownership exactly once.
        let handle = unsafe { Box::from_raw(run) };
        let report = handle.into_run().finish(exit_code)?;
        if !out_report.is_null() {
            // SAFETY: non-NULL, and the caller guarantees it is valid for a write.
            unsafe { out_report.write(rl_finish_report::from(&report)) };
        }
        Ok(())
    })
}

/// Frees a handle without an explicit finish. NULL is ignored.
///
/// For the owner this finishes the run with exit code -1 (as a crash-free
/// but unfinished exit); for an attached process it detaches; for a handle
/// inherited across `fork()` it only releases memory.
///
/// # Safety
/// - `run` must be NULL or a live handle from `rl_init` / `rl_attach`; it is
///   invalid afterwards.
/// - Thread safety: no other thread may use `run` concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_run_free(run: *mut rl_run) {
    if run.is_null() {
        return;
    }
    let freed = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller guarantees a live handle made by `Box::into_raw`,
        // freed exactly once.
        drop(unsafe { Box::from_raw(run) });
    }));
    if freed.is_err() {
        let _ = FfiError::new(rl_status::RL_ERR_PANIC, "internal error: ringlog panicked while freeing a run handle");
    }
}

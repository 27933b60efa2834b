//! Keeps the service alive when a segment is truncated under it.
//!
//! A same-user process that runs `truncate` on a live segment is outside the
//! trust model (ADR 9), but it must cost only that run. Reading a page of a
//! shared file mapping that lies past the file's end raises SIGBUS, which would
//! kill the service and every run it drains. With the guard installed (the
//! service does, at start), a SIGBUS whose address lies in a registered segment
//! mapping is answered by mapping a private zero page over the faulting page;
//! the access then reads zeros, which the ring protocol sees as empty slots, and
//! the run worker, which checks the segment's size against `fstat`, closes the
//! run as crashed with the true reason. A SIGBUS anywhere else goes to the
//! handler that was there before (the default kills the process, as always).
//!
//! Registration is lock-free (a fixed table of address ranges), because the
//! handler may run on any thread at any time and may take no lock. A mapping is
//! unregistered before it is unmapped (the guard is dropped first).

// Process-local, never in shared memory: the table is this process's list of its
// own mappings, read by a signal handler, outside what loom models.
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// Ranges the table can hold: a service with more live lanes than this maps the
/// rest unguarded (a truncation of those kills it, as before the guard).
const SLOTS: usize = 4096;

struct Slot {
    used: AtomicBool,
    start: AtomicUsize,
    len: AtomicUsize,
    /// Set by the handler when it patched a page of this range.
    hit: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    used: AtomicBool::new(false),
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    hit: AtomicBool::new(false),
};
static TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// Serialises `install` (two racing installs would save our own handler as the previous one).
static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
/// Faulting pages replaced with zero pages since the guard was installed.
static PATCHED: AtomicU64 = AtomicU64::new(0);
/// The page size, read at install (sysconf is not async-signal-safe).
static PAGE: AtomicUsize = AtomicUsize::new(4096);

/// The handler that was installed before ours, for SIGBUS outside our ranges.
static mut PREVIOUS: std::mem::MaybeUninit<libc::sigaction> = std::mem::MaybeUninit::uninit();

/// A registered mapping; unregisters when dropped (drop it before unmapping).
#[derive(Debug)]
pub(crate) struct Guarded {
    slot: Option<usize>,
}

impl Guarded {
    /// Whether the handler replaced a page of this range with zeros: the
    /// mapping no longer shows the file, even if the file has grown back.
    pub(crate) fn patched(&self) -> bool {
        self.slot.is_some_and(slot_patched)
    }

    /// The table slot, for a holder that tracks several ranges by index.
    pub(crate) fn slot(&self) -> Option<usize> {
        self.slot
    }
}

/// Whether the range registered in `slot` had a page patched (see [`Guarded::patched`]).
pub(crate) fn slot_patched(slot: usize) -> bool {
    // Relaxed: a flag the handler sets once; the caller only decides to close the run.
    TABLE.get(slot).is_some_and(|s| s.hit.load(Ordering::Relaxed))
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            let s = &TABLE[i];
            // Release: a handler that still sees the old length has the range's
            // start too; once it reads 0 it ignores the slot.
            s.len.store(0, Ordering::Release);
            s.start.store(0, Ordering::Relaxed);
            // Release: pairs with the Acquire swap in `guard` that reuses the slot.
            s.used.store(false, Ordering::Release);
        }
    }
}

/// Registers `len` bytes at `start` (a segment mapping) when the guard is
/// installed in this process; a no-op otherwise (producers never install it).
pub(crate) fn guard(start: *const u8, len: usize) -> Guarded {
    // Relaxed: a flag set once at service start, before any segment is mapped.
    if !INSTALLED.load(Ordering::Relaxed) || len == 0 {
        return Guarded { slot: None };
    }
    for (i, s) in TABLE.iter().enumerate() {
        // Acquire: pairs with the Release in `Guarded::drop` of the slot's last user.
        if !s.used.load(Ordering::Relaxed) && !s.used.swap(true, Ordering::Acquire) {
            s.hit.store(false, Ordering::Relaxed);
            s.start.store(start as usize, Ordering::Relaxed);
            // Release: pairs with the handler's Acquire load of `len`: it sees `start` set.
            s.len.store(len, Ordering::Release);
            return Guarded { slot: Some(i) };
        }
    }
    tracing::warn!("truncation guard table full: this segment mapping is unguarded");
    Guarded { slot: None }
}

/// Pages the guard has replaced with zero pages in this process.
///
/// # Examples
/// ```
/// assert_eq!(ringlog_ring::truncation_guard::patched_pages(), 0);
/// ```
pub fn patched_pages() -> u64 {
    PATCHED.load(Ordering::Relaxed)
}

/// Installs the SIGBUS handler (once per process; the service calls it at start).
///
/// # Errors
/// The OS error of `sigaction`.
///
/// # Examples
/// ```no_run
/// ringlog_ring::truncation_guard::install()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn install() -> std::io::Result<()> {
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if INSTALLED.load(Ordering::Acquire) {
        return Ok(());
    }
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    // Relaxed: published to the handler by the Release store of INSTALLED below
    // (no handler of ours runs before sigaction returns).
    PAGE.store(usize::try_from(page).ok().filter(|p| p.is_power_of_two()).unwrap_or(4096), Ordering::Relaxed);
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the
    // handler has the SA_SIGINFO signature; PREVIOUS is written only here,
    // before INSTALLED is set, and read by the handler only after.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = on_sigbus as *const () as usize;
        act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut act.sa_mask);
        let prev = &raw mut PREVIOUS;
        if libc::sigaction(libc::SIGBUS, &act, (*prev).as_mut_ptr()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    // Release: pairs with the Acquire above and with `guard`'s load (which may
    // be Relaxed: segments are mapped after `install` returns, in program order).
    INSTALLED.store(true, Ordering::Release);
    Ok(())
}

/// The SIGBUS handler. Async-signal-safe: atomics, `mmap` and `sigaction`
/// (plain system calls on Linux), no allocation, no lock.
extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler.
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    // Only a fault the kernel raised has a faulting address: a SIGBUS another
    // process sent (`kill -BUS`, si_code <= 0) goes to the previous handler.
    let ours = (code > 0).then(|| {
        TABLE.iter().find(|s| {
            // Acquire: pairs with the Release store of `len` in `guard`. The length
            // is read again after the start: a slot being reused between the two
            // loads could otherwise pair an old length with a new start.
            let len = s.len.load(Ordering::Acquire);
            let start = s.start.load(Ordering::Acquire);
            len != 0 && s.len.load(Ordering::Acquire) == len && addr >= start && addr - start < len
        })
    });
    if let Some(slot) = ours.flatten() {
        // Relaxed: set once in `install`, before the handler was installed.
        let page = PAGE.load(Ordering::Relaxed);
        let at = addr & !(page - 1);
        // SAFETY: `at` is page aligned and lies in a live segment mapping of this
        // process (registered, not yet unregistered); MAP_FIXED replaces that
        // one page with private zeros, which every reader of the ring accepts as
        // bytes any process could have written.
        let p = unsafe {
            libc::mmap(
                at as *mut libc::c_void,
                page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED {
            // Relaxed: read by the run worker, which then checks the segment.
            slot.hit.store(true, Ordering::Relaxed);
            PATCHED.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    // Not ours (or the patch failed): the previous handler takes it. A fault
    // re-runs its instruction and faults again into that handler; a sent
    // signal is raised again.
    // SAFETY: PREVIOUS was filled by `install` before this handler could run;
    // sigaction and raise are async-signal-safe.
    unsafe {
        let prev = &raw const PREVIOUS;
        libc::sigaction(sig, (*prev).as_ptr(), std::ptr::null_mut());
        if code <= 0 {
            libc::raise(sig);
        }
    }
}

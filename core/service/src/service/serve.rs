//! The service process: one per user per machine. Accepts control
//! connections, creates run segments, drains them (one `run_worker` thread per
//! run), and adopts the live runs of a service that died.
//!
//! Lifecycle: take the service lock (an `flock` beside the socket; a second
//! service exits at once), bind the socket (mode 0600 in a 0700 directory),
//! adopt stale runs from the registry, signal readiness, then accept until
//! `Shutdown` or until the idle timeout passes with no runs and no clients.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use std::sync::{Mutex, PoisonError};

use crate::runlog::run_meta::{RUN_LOG_FILE, RunMeta};
use crate::service::cpu_affinity;
use crate::service::run_worker::{self, FinishRequest, LaneOwner, LiveCounts, RunShared};
use crate::{RunLogHeader, RunLogWriter};
use ringlog_ring::protocol::control_message::{
    ErrorCode, FinishReport, FrameIoError, InitRun, LaneLoss, LaneStatus, PROTOCOL_VERSION, Request, Response,
    RunReady, RunStatus, StatusReport, read_frame, write_frame,
};
use ringlog_ring::protocol::run_layout::{RunList, RunListEntry};
use ringlog_ring::protocol::runtime_dir::{RuntimeDir, RuntimeDirError};
use ringlog_ring::protocol::service_lock::{new_run_id, valid_run_id};
use ringlog_ring::{FullPolicy, RunState, SegmentConfig, SegmentError, SegmentOwner};

/// Default idle timeout: the service exits after this long with no runs and no clients.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Extra time a finish may take beyond the wait for other lanes.
const FINISH_SLACK: Duration = Duration::from_secs(60);
/// Control connections time out reads after this long without a request.
const CONN_READ_TIMEOUT: Duration = Duration::from_secs(3600);

/// How to run the service.
#[derive(Debug)]
pub struct ServiceConfig {
    /// Socket, lock and registry paths.
    pub dirs: RuntimeDir,
    /// Exit after this long with no runs and no clients.
    pub idle_timeout: Duration,
    /// Write `ready\n` (or `busy\n` when another service holds the lock) here,
    /// then close it: the auto-start handshake.
    pub ready_fd: Option<OwnedFd>,
    /// The CPUs to run on when `RINGLOG_SERVICE_CPUS` does not say: widened for an
    /// auto-started daemon, kept for a foreground service ([`cpu_affinity`]).
    pub inherited_cpus: cpu_affinity::Inherited,
}

/// The service could not start or failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Another service holds the lock.
    #[error("another ringlog service is already running for {0} (it holds the service lock)")]
    AlreadyRunning(PathBuf),
    /// Runtime directory problem.
    #[error(transparent)]
    RuntimeDir(#[from] RuntimeDirError),
    /// `RINGLOG_SERVICE_CPUS` is not usable.
    #[error(transparent)]
    Cpus(#[from] cpu_affinity::AffinityError),
    /// I/O failure.
    #[error("{what}: {source}")]
    Io {
        /// What failed.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServiceError {
    let what = what.into();
    move |source| ServiceError::Io { what, source }
}

/// Service-wide state.
struct State {
    runs: Mutex<HashMap<String, Arc<RunShared>>>,
    /// Write end of a pipe the accept loop also polls: `Shutdown` writes to it
    /// so the loop exits at once instead of at its next poll timeout.
    wake: OwnedFd,
    connections: Mutex<usize>,
    /// Connections refused by `accept` failures, and the last error.
    refused: Mutex<(u64, Option<String>)>,
    stopping: Mutex<bool>,
    registry: PathBuf,
    /// The user's list of run directories (`protocol::run_layout`), so the CLI
    /// finds a run from any directory; `None` without HOME or XDG_STATE_HOME.
    run_list: Option<RunList>,
    me: u32,
}

impl State {
    fn stopping(&self) -> bool {
        *self.stopping.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Takes the service lock without blocking: `Ok(None)` if another process
/// holds it (the one implementation is shared with the client).
pub use ringlog_ring::protocol::service_lock::try_lock;

/// Runs the service in this process until shutdown or idle timeout.
///
/// # Errors
/// `AlreadyRunning`, an unusable runtime directory, or socket errors.
pub fn serve(mut cfg: ServiceConfig) -> Result<(), ServiceError> {
    let signal = |fd: &mut Option<OwnedFd>, msg: &[u8]| {
        if let Some(fd) = fd.take() {
            let _ = File::from(fd).write_all(msg);
        }
    };
    // Before any thread starts, so every thread of the service runs where this says.
    match cpu_affinity::apply(cfg.inherited_cpus) {
        Ok(cpus) => tracing::info!(cpus = %cpus, "service CPUs"),
        Err(e) => {
            signal(&mut cfg.ready_fd, format!("error {e}\n").as_bytes());
            return Err(e.into());
        }
    }
    if let Err(e) = cfg.dirs.ensure() {
        signal(&mut cfg.ready_fd, format!("error {e}\n").as_bytes());
        return Err(e.into());
    }
    // A segment truncated under the service costs that run, not the service
    // (ringlog_ring::truncation_guard); installed before any segment is mapped.
    if let Err(e) = ringlog_ring::truncation_guard::install() {
        tracing::warn!(error = %e, "cannot install the SIGBUS guard: a truncated segment would stop the service");
    }
    let Some(_lock) = try_lock(&cfg.dirs.lock_path()).map_err(io("service lock"))? else {
        signal(&mut cfg.ready_fd, b"busy\n");
        return Err(ServiceError::AlreadyRunning(cfg.dirs.socket_path().to_path_buf()));
    };
    // We hold the lock, so a socket file left behind is stale.
    let sock = cfg.dirs.socket_path();
    let _ = std::fs::remove_file(sock);
    let listener = UnixListener::bind(sock).map_err(io(format!("bind {}", sock.display())))?;
    std::fs::set_permissions(sock, std::fs::Permissions::from_mode(0o600)).map_err(io("chmod socket"))?;
    let (wake_rx, wake) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK)
        .map_err(|e| ServiceError::Io { what: "pipe".into(), source: e.into() })?;
    let state = Arc::new(State {
        runs: Mutex::new(HashMap::new()),
        wake,
        connections: Mutex::new(0),
        refused: Mutex::new((0, None)),
        stopping: Mutex::new(false),
        registry: cfg.dirs.registry_dir(),
        run_list: RunList::from_env(),
        me: rustix::process::geteuid().as_raw(),
    });
    adopt_stale_runs(&state);
    // Segments no service can use (damaged, or their run ended) are reclaimed;
    // orphans a service of another runtime directory might adopt are left to
    // `ringlog gc --yes`.
    match crate::service::stale_segments::check_all(&state.registry) {
        Ok(checks) => {
            let (n, bytes) = crate::service::stale_segments::reclaim(&checks, true);
            if n > 0 {
                tracing::info!(segments = n, bytes, "reclaimed stale segments in /dev/shm");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot list /dev/shm for stale segments"),
    }
    tracing::info!(socket = %sock.display(), pid = std::process::id(), "ringlog service ready");
    signal(&mut cfg.ready_fd, b"ready\n");

    let mut idle_since = Instant::now();
    let mut accept_backoff = Duration::from_millis(10);
    let mut accept_log = crate::service::log_limit::LogLimit::default();
    loop {
        if state.stopping() {
            break;
        }
        let busy = !state.runs.lock().unwrap_or_else(PoisonError::into_inner).is_empty()
            || *state.connections.lock().unwrap_or_else(PoisonError::into_inner) > 0;
        if busy {
            idle_since = Instant::now();
        } else if idle_since.elapsed() >= cfg.idle_timeout {
            tracing::info!("idle for {:?} with no runs and no clients: exiting", cfg.idle_timeout);
            break;
        }
        if !readable(&listener, &wake_rx, Duration::from_secs(1)) {
            continue;
        }
        match listener.accept() {
            Ok((stream, _)) => {
                *state.connections.lock().unwrap_or_else(PoisonError::into_inner) += 1;
                let st = Arc::clone(&state);
                std::thread::spawn(move || {
                    handle_connection(&st, stream);
                    *st.connections.lock().unwrap_or_else(PoisonError::into_inner) -= 1;
                });
            }
            Err(e) => {
                // Out of file descriptors (EMFILE, ENFILE) or memory: the
                // connection stays in the backlog and the socket stays
                // readable, so retrying at once would spin a core and flood
                // the log. Back off (10 ms doubling to 1 s), count, and log
                // rate-limited.
                let mut refused = state.refused.lock().unwrap_or_else(PoisonError::into_inner);
                refused.0 += 1;
                refused.1 = Some(e.to_string());
                drop(refused);
                if let Some(suppressed) = accept_log.allow() {
                    tracing::warn!(error = %e, suppressed, backoff_ms = accept_backoff.as_millis() as u64, "accept failed; backing off");
                }
                std::thread::sleep(accept_backoff);
                accept_backoff = (accept_backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        }
        accept_backoff = Duration::from_millis(10);
    }
    *state.stopping.lock().unwrap_or_else(PoisonError::into_inner) = true;
    // Workers see `stopping` within one idle wait; give them a bounded time.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !state.runs.lock().unwrap_or_else(PoisonError::into_inner).is_empty() && Instant::now() < deadline {
        for run in state.runs.lock().unwrap_or_else(PoisonError::into_inner).values() {
            run.signal();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = std::fs::remove_file(sock);
    tracing::info!("ringlog service stopped");
    Ok(())
}

/// Waits up to `timeout` for a connection to accept; `false` on timeout or
/// when woken through the pipe.
fn readable(listener: &UnixListener, wake: &OwnedFd, timeout: Duration) -> bool {
    use rustix::event::{PollFd, PollFlags, poll};
    let mut fds = [PollFd::new(listener, PollFlags::IN), PollFd::new(wake, PollFlags::IN)];
    let ts = rustix::time::Timespec { tv_sec: timeout.as_secs() as i64, tv_nsec: timeout.subsec_nanos() as i64 };
    if !matches!(poll(&mut fds, Some(&ts)), Ok(n) if n > 0) {
        return false;
    }
    fds[0].revents().contains(PollFlags::IN)
}

fn error(code: ErrorCode, message: impl Into<String>) -> Response {
    Response::Error { code, message: message.into() }
}

fn handle_connection(state: &Arc<State>, mut stream: UnixStream) {
    let cred = match rustix::net::sockopt::socket_peercred(&stream) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "SO_PEERCRED failed; closing connection");
            return;
        }
    };
    if cred.uid.as_raw() != state.me {
        tracing::warn!(uid = cred.uid.as_raw(), "connection from another user refused");
        let _ = write_frame(
            &mut stream,
            &error(ErrorCode::InvalidArgument, "this ringlog service belongs to another user; start your own"),
        );
        return;
    }
    let pid = cred.pid.as_raw_nonzero().get() as u32;
    let _ = stream.set_read_timeout(Some(CONN_READ_TIMEOUT));
    let mut greeted = false;
    loop {
        let req: Request = match read_frame(&mut stream) {
            Ok(r) => r,
            Err(FrameIoError::Closed) => return,
            Err(e @ (FrameIoError::Malformed(_) | FrameIoError::TooLarge(_))) => {
                tracing::warn!(pid, error = %e, "malformed control message; closing that connection");
                let _ = write_frame(&mut stream, &error(ErrorCode::Malformed, e.to_string()));
                return;
            }
            Err(FrameIoError::Io(_)) => return,
        };
        let reply = match (&req, greeted) {
            (Request::Hello { protocol, .. }, _) if *protocol != PROTOCOL_VERSION => error(
                ErrorCode::ProtocolMismatch,
                format!(
                    "client speaks control protocol {protocol}, this service speaks {PROTOCOL_VERSION}: \
                     use the same ringlog version for trainers and service (stop the old service with `ringlog shutdown`)"
                ),
            ),
            (Request::Hello { .. }, _) => {
                greeted = true;
                Response::Welcome {
                    protocol: PROTOCOL_VERSION,
                    service_version: env!("CARGO_PKG_VERSION").into(),
                    pid: std::process::id(),
                }
            }
            (_, false) => error(ErrorCode::NoHello, "send Hello first"),
            (Request::InitRun(init), true) => init_run(state, init, pid),
            (Request::AttachRun { run_id }, true) => add_lane(state, run_id, pid, None),
            (Request::RegisterLane { run_id, lane }, true) => add_lane(state, run_id, pid, *lane),
            (Request::FinishRun { run_id, exit_code, wait_ms, committed }, true) => {
                finish_run(state, run_id, pid, *exit_code, Duration::from_millis(*wait_ms), *committed)
            }
            (Request::Detach { run_id, lane, committed }, true) => detach(state, run_id, *lane, *committed),
            (Request::Status, true) => Response::Status(status(state)),
            (Request::Shutdown, true) => {
                tracing::info!(pid, "shutdown requested");
                *state.stopping.lock().unwrap_or_else(PoisonError::into_inner) = true;
                let _ = rustix::io::write(&state.wake, b"x");
                Response::Ok
            }
        };
        if write_frame(&mut stream, &reply).is_err() {
            return;
        }
        if matches!(reply, Response::Error { code: ErrorCode::ProtocolMismatch, .. }) {
            return;
        }
    }
}

fn init_run(state: &Arc<State>, init: &InitRun, pid: u32) -> Response {
    let run_id = init.run_id.clone().unwrap_or_else(new_run_id);
    if !valid_run_id(&run_id) {
        return error(ErrorCode::InvalidArgument, format!("run id {run_id:?}: use 1-32 of [A-Za-z0-9_-]"));
    }
    if !Path::new(&init.run_dir).is_absolute() {
        return error(ErrorCode::InvalidArgument, format!("run dir {:?} must be absolute", init.run_dir));
    }
    let policy: FullPolicy = match init.policy.parse() {
        Ok(p) => p,
        Err(e) => return error(ErrorCode::InvalidArgument, e),
    };
    if state.runs.lock().unwrap_or_else(PoisonError::into_inner).contains_key(&run_id) {
        return error(ErrorCode::InvalidArgument, format!("run {run_id} is already live"));
    }
    let run_dir = PathBuf::from(&init.run_dir);
    // Init is all or nothing: whatever this creates is removed again if a
    // later step fails, so a retry starts clean (no zero-lane run left
    // registered, no empty run.rlog, no empty run directory).
    let created_dir = !run_dir.exists();
    let undo = |segment: Option<&SegmentOwner>| {
        if let Some(seg) = segment {
            let _ = seg.unlink();
        }
        let _ = std::fs::remove_file(run_dir.join(RUN_LOG_FILE));
        let _ = std::fs::remove_file(crate::runlog::index::index_path(&run_dir.join(RUN_LOG_FILE)));
        let _ = std::fs::remove_file(run_dir.join(crate::RUN_META_FILE));
        crate::runlog::run_meta::release_reserve(&run_dir);
        if created_dir {
            let _ = std::fs::remove_dir(&run_dir);
        }
    };
    // Private to the user, like the socket and the segments (ADR 9): 0700
    // for every directory this creates, 0600 for the files in it.
    if let Err(e) = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&run_dir) {
        return error(
            ErrorCode::Internal,
            format!(
                "cannot create the run directory {}: {e}: choose another RINGLOG_DIR or free space",
                run_dir.display()
            ),
        );
    }
    let writer = match RunLogWriter::create(run_dir.join(RUN_LOG_FILE), &RunLogHeader::new(run_id.clone())) {
        Ok(w) => w,
        // A run log that is already there belongs to another run: leave it.
        Err(crate::RunLogError::Exists { path }) => {
            return error(
                ErrorCode::InvalidArgument,
                format!("{} already holds a run: give the new run a directory of its own", path.display()),
            );
        }
        Err(e) => {
            undo(None);
            return error(ErrorCode::Internal, format!("cannot start the run log: {e}"));
        }
    };
    if let Err(e) = crate::runlog::run_meta::reserve_space(&run_dir) {
        tracing::warn!(run = %run_id, error = %e, "cannot set space aside for run.json and summary.json at finish: the disk is nearly full");
    }
    let cfg = SegmentConfig {
        lane_bytes: init.lane_bytes as usize,
        initial_lanes: 0,
        policy,
        run_id: run_id.clone(),
        ..SegmentConfig::default()
    };
    let segment = match SegmentOwner::create(&cfg) {
        Ok(s) => s,
        Err(e) => {
            undo(None);
            let code = if matches!(e, SegmentError::InvalidLaneBytes(_)) {
                ErrorCode::InvalidArgument
            } else {
                ErrorCode::Internal
            };
            return error(code, e.to_string());
        }
    };
    // The owner's lane exists before the run is registered: a full /dev/shm
    // fails the init, not a run left with no lane.
    let owner_lane = match segment.add_lane(pid) {
        Ok(l) => l,
        Err(e) => {
            undo(Some(&segment));
            return error(ErrorCode::Internal, e.to_string());
        }
    };
    let created_unix_ms = ringlog_ring::clock::now_unix_ns() / 1_000_000;
    let meta = RunMeta {
        run_id: run_id.clone(),
        project: init.project.clone(),
        name: init.name.clone(),
        tags: init.tags.clone(),
        config: init.config.clone(),
        run_dir: init.run_dir.clone(),
        created_unix_ms,
        state: "running".into(),
        segment: segment.name().to_owned(),
        owner_pid: pid,
        wandb: init.wandb,
        system_stats_s: init.system_stats_s.filter(|s| s.is_finite() && *s >= 0.0),
        ..RunMeta::default()
    };
    let registry_entry = state.registry.join(format!("{run_id}.json"));
    // Not fsynced: both only need to survive a crash of the service (the page
    // cache does), and the finish writes run.json durably.
    if let Err(e) = crate::runlog::run_meta::write_json_atomic(&run_dir.join(crate::RUN_META_FILE), &meta, false)
        .and_then(|()| crate::runlog::run_meta::write_json_atomic(&registry_entry, &meta, false))
    {
        undo(Some(&segment));
        let _ = std::fs::remove_file(&registry_entry);
        return error(
            ErrorCode::Internal,
            format!("cannot write run metadata: {e}: free space in {}", run_dir.display()),
        );
    }
    let shared = Arc::new(RunShared {
        run_id: run_id.clone(),
        segment,
        meta: Mutex::new(meta),
        lanes: Mutex::new(Vec::new()),
        finish: Mutex::new(None),
        live: Mutex::new(LiveCounts::default()),
        started: Instant::now(),
        registry_entry,
        control: AtomicU32::new(0),
        adopted: false,
    });
    start_worker(state, Arc::clone(&shared), writer);
    tracing::info!(run = %run_id, pid, "run started");
    if let Some(list) = &state.run_list {
        let abs = std::path::absolute(&run_dir).unwrap_or_else(|_| run_dir.clone());
        let entry = RunListEntry { run_id: run_id.clone(), run_dir: abs, created_unix_ms };
        // The list only helps the CLI find runs: a run still logs without it.
        if let Err(e) = list.append(&entry) {
            tracing::warn!(run = %run_id, error = %e, list = %list.path().display(), "cannot add the run to the user's run list: `ringlog runs` will not show it unless given --dir");
        }
    }
    add_lane(state, &run_id, pid, Some(owner_lane))
}

fn start_worker(state: &Arc<State>, shared: Arc<RunShared>, writer: RunLogWriter) {
    state.runs.lock().unwrap_or_else(PoisonError::into_inner).insert(shared.run_id.clone(), Arc::clone(&shared));
    let st = Arc::clone(state);
    std::thread::Builder::new()
        .name(format!("run-{}", shared.run_id))
        .spawn(move || {
            let run_id = shared.run_id.clone();
            let exit = run_worker::run(shared, writer, || st.stopping());
            tracing::debug!(run = %run_id, ?exit, "run thread done");
            st.runs.lock().unwrap_or_else(PoisonError::into_inner).remove(&run_id);
        })
        .map(drop)
        .unwrap_or_else(|e| tracing::error!(error = %e, "cannot start run thread"));
}

fn find(state: &State, run_id: &str) -> Result<Arc<RunShared>, Box<Response>> {
    state.runs.lock().unwrap_or_else(PoisonError::into_inner).get(run_id).cloned().ok_or_else(|| {
        Box::new(error(
            ErrorCode::UnknownRun,
            format!("no live run {run_id:?} in this service: check the id with `ringlog status`"),
        ))
    })
}

fn add_lane(state: &State, run_id: &str, pid: u32, lane: Option<u16>) -> Response {
    let run = match find(state, run_id) {
        Ok(r) => r,
        Err(e) => return *e,
    };
    let finishing = run.finish.lock().unwrap_or_else(PoisonError::into_inner).is_some();
    if finishing && lane.is_none() {
        return error(ErrorCode::InvalidArgument, format!("run {run_id} is finishing: it takes no new processes"));
    }
    let lane = match lane {
        Some(l) if u32::from(l) < run.segment.lane_count() => {
            // Re-claim after a service restart: new owner pid, fresh liveness.
            // Accepted while the run finishes too: the process re-claims to
            // detach, and its detach must count as one, not as a lane lost.
            let mut lanes = run.lanes.lock().unwrap_or_else(PoisonError::into_inner);
            let old = lanes.iter().position(|o| o.lane == l).map(|i| lanes.swap_remove(i));
            let mut owner = LaneOwner::new(l, pid, run_worker::pidfd(pid), None);
            if let Some(old) = old.filter(|_| finishing) {
                (owner.closing, owner.committed) = (old.closing, old.committed);
            }
            lanes.push(owner);
            l
        }
        Some(l) => return error(ErrorCode::InvalidArgument, format!("run {run_id} has no lane {l}")),
        None => match run.segment.add_lane(pid) {
            Ok(l) => {
                run.lanes.lock().unwrap_or_else(PoisonError::into_inner).push(LaneOwner::new(
                    l,
                    pid,
                    run_worker::pidfd(pid),
                    None,
                ));
                l
            }
            Err(e) => return error(ErrorCode::Internal, e.to_string()),
        },
    };
    // The drain thread sleeps on the wake words of the lanes it knows: a new
    // lane's producer wakes nobody until the thread has added it, which it does
    // when it wakes. Without this it woke only when its idle wait (250 ms) ended,
    // with the new lane full and its producer blocked meanwhile.
    run.signal();
    let meta = run.meta.lock().unwrap_or_else(PoisonError::into_inner);
    Response::RunReady(RunReady {
        run_id: run_id.to_owned(),
        segment: run.segment.name().to_owned(),
        lane,
        run_dir: meta.run_dir.clone(),
    })
}

fn detach(state: &State, run_id: &str, lane: u16, committed: Option<u64>) -> Response {
    let run = match find(state, run_id) {
        Ok(r) => r,
        Err(e) => return *e,
    };
    let mut lanes = run.lanes.lock().unwrap_or_else(PoisonError::into_inner);
    match lanes.iter_mut().find(|l| l.lane == lane) {
        Some(l) => {
            l.closing.get_or_insert(ringlog_ring::LaneState::Detached);
            l.committed = committed.or(l.committed);
            drop(lanes);
            run.signal();
            Response::Ok
        }
        None => error(ErrorCode::InvalidArgument, format!("run {run_id} has no lane {lane}")),
    }
}

fn finish_run(
    state: &State,
    run_id: &str,
    pid: u32,
    exit_code: i32,
    wait: Duration,
    committed: Option<LaneLoss>,
) -> Response {
    let run = match find(state, run_id) {
        Ok(r) => r,
        Err(e) => return *e,
    };
    let owner = run.meta.lock().unwrap_or_else(PoisonError::into_inner).owner_pid;
    if owner != pid {
        return error(
            ErrorCode::NotOwner,
            format!("only the process that called init (pid {owner}) finishes run {run_id}; other processes detach"),
        );
    }
    if let Some(c) = committed {
        let mut lanes = run.lanes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(l) = lanes.iter_mut().find(|l| l.lane == c.lane && l.pid == pid) {
            l.committed = Some(c.records);
        }
    }
    let (tx, rx) = mpsc::channel::<FinishReport>();
    {
        let mut finish = run.finish.lock().unwrap_or_else(PoisonError::into_inner);
        if finish.is_some() {
            return error(ErrorCode::InvalidArgument, format!("run {run_id} is already finishing"));
        }
        *finish = Some(FinishRequest { exit_code, deadline: Instant::now() + wait, reply: tx });
    }
    run.signal();
    match rx.recv_timeout(wait + FINISH_SLACK) {
        Ok(report) => Response::Finished(report),
        Err(_) => error(ErrorCode::Internal, format!("run {run_id} did not finish within {:?}", wait + FINISH_SLACK)),
    }
}

fn status(state: &State) -> StatusReport {
    let runs = state.runs.lock().unwrap_or_else(PoisonError::into_inner).values().cloned().collect::<Vec<_>>();
    let (refused_connections, accept_error) = state.refused.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let mut out = StatusReport {
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION").into(),
        runs: Vec::new(),
        refused_connections,
        accept_error,
    };
    for run in runs {
        let live = run.live.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let meta = run.meta.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let lanes = (0..run.segment.lane_count())
            .filter_map(|l| run.segment.lane_stats(l as u16).ok().map(|s| (l as u16, s)))
            .map(|(lane, s)| LaneStatus {
                lane,
                pid: s.owner_pid,
                state: format!("{:?}", s.state).to_lowercase(),
                records: s.records,
                fill: s.fill,
                capacity: s.capacity,
                drops: s.drops,
                timeouts: s.timeouts,
                invalid_frames: s.invalid_frames,
            })
            .collect();
        out.runs.push(RunStatus {
            run_id: run.run_id.clone(),
            project: meta.project,
            state: match run.segment.run_state().unwrap_or(RunState::Running) {
                // The owner's finish is waiting for the other lanes.
                RunState::Running if run.finish.lock().unwrap_or_else(PoisonError::into_inner).is_some() => {
                    "finishing".into()
                }
                s => format!("{s:?}").to_lowercase(),
            },
            records: live.records,
            bytes: live.bytes,
            records_per_s: live.records_per_s,
            disk_error: live.disk_error,
            lanes,
        });
    }
    out.runs.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    out
}

/// Adopts the runs a dead service left: reopens their segments and run logs
/// (recovering a torn tail), and drains them. Frames the old service wrote but
/// had not released are read again and skipped by the run log's dedupe.
fn adopt_stale_runs(state: &Arc<State>) {
    let Ok(entries) = std::fs::read_dir(&state.registry) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let meta: RunMeta = match std::fs::read(&path).ok().and_then(|t| serde_json::from_slice(&t).ok()) {
            Some(m) => m,
            None => {
                tracing::warn!(entry = %path.display(), "unreadable registry entry; removed");
                let _ = std::fs::remove_file(&path);
                continue;
            }
        };
        match adopt(state, &meta, &path) {
            Ok(()) => tracing::info!(run = %meta.run_id, "adopted live run from a previous service"),
            Err(e) => {
                tracing::error!(run = %meta.run_id, error = %e, "cannot adopt run; marking it crashed");
                let mut m = meta.clone();
                m.state = "crashed".into();
                m.loss_reason = Some(format!(
                    "the service restarted and could not adopt the run: {e}; what was still in its lanes is lost"
                ));
                let _ = m.write(Path::new(&m.run_dir));
                let _ = std::fs::remove_file(&path);
                // Nothing can use the segment any more: it must not stay in /dev/shm.
                let _ = SegmentOwner::unlink_name(&meta.segment);
            }
        }
    }
}

fn adopt(state: &Arc<State>, meta: &RunMeta, entry: &Path) -> Result<(), String> {
    let segment = SegmentOwner::adopt(&meta.segment).map_err(|e| e.to_string())?;
    if matches!(segment.run_state(), Some(RunState::Finished | RunState::Crashed)) {
        let _ = segment.unlink();
        let _ = std::fs::remove_file(entry);
        return Ok(());
    }
    let writer = RunLogWriter::open_append(meta.log_path()).map_err(|e| e.to_string())?;
    let recovery = writer.recovery();
    if recovery.truncated_bytes > 0 {
        tracing::warn!(run = %meta.run_id, bytes = recovery.truncated_bytes, "cut a torn tail from the run log");
    }
    let mut lanes = Vec::new();
    for lane in 0..segment.lane_count() {
        let stats = segment.lane_stats(lane as u16).map_err(|e| e.to_string())?;
        // The pid alone may name another process by now: check its start time.
        let pidfd = run_worker::owner_pidfd(stats.owner_pid, stats.owner_start_ticks);
        let closing = match stats.state {
            ringlog_ring::LaneState::Active if pidfd.is_some() => None,
            ringlog_ring::LaneState::Detached => Some(ringlog_ring::LaneState::Detached),
            _ => Some(ringlog_ring::LaneState::Abandoned),
        };
        lanes.push(LaneOwner::new(lane as u16, stats.owner_pid, pidfd, closing));
    }
    let shared = Arc::new(RunShared {
        run_id: meta.run_id.clone(),
        segment,
        meta: Mutex::new(meta.clone()),
        lanes: Mutex::new(lanes),
        finish: Mutex::new(None),
        live: Mutex::new(LiveCounts::default()),
        started: Instant::now()
            - Duration::from_millis(
                (ringlog_ring::clock::now_unix_ns() / 1_000_000).saturating_sub(meta.created_unix_ms),
            ),
        registry_entry: entry.to_path_buf(),
        control: AtomicU32::new(0),
        adopted: true,
    });
    start_worker(state, shared, writer);
    Ok(())
}

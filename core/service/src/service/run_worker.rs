//! The service's drain thread for one run (one thread per run: see ADR 13).
//!
//! Loop: wait on the run's futex (bounded), copy a batch out of every lane,
//! append it to the run log with one `write(2)`, and only then release the
//! lane space. Lanes whose process died (pidfd readable) are abandoned after
//! what they committed is drained. The owner's finish drains everything,
//! fsyncs the log, writes `summary.json` and `run.json`, and unlinks the segment.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use std::sync::{Mutex, PoisonError};

use crate::RunLogWriter;
use crate::export::exporters::SummarySource;
use crate::export::key_table::KeyTable;
use crate::export::merged_history::MergedHistory;
use crate::export::wandb_export::run_info;
use crate::export::wandb_sink::{End, WandbSink};
use crate::runlog::run_meta::{RunMeta, SUMMARY_FILE};
use crate::service::batch_folder::{Folded, Folder};
use crate::service::summary_state::SummaryState;
use ringlog_ring::protocol::control_message::{FinishReport, LaneLoss, LaneStall, RunEnd};
use ringlog_ring::{Batch, Consumer, LaneState, RunState, SegmentOwner};
use ringlog_wandb::Outcome;
use std::sync::atomic::{AtomicU32, Ordering};

/// How long the drain thread sleeps when nothing happens; bounds how late it
/// notices a dead producer or a control event.
const IDLE_WAIT: Duration = Duration::from_millis(250);
/// Bytes of frames per batch: half a lane, so a one-lane run's producer has the other
/// half to log into while a batch is written, within these bounds. A batch is filled
/// from every lane in turn, so the floor keeps runs of many small lanes at the size
/// they had before (256 KiB). 512 KiB against 256 KiB (1 MiB lanes): about 7% less
/// service CPU per record in `compare --transport ringlog-e2e` (half the hand-overs to
/// the folding thread); 64 KiB cost 30% more.
const BATCH_BYTES: std::ops::RangeInclusive<usize> = (256 << 10)..=(512 << 10);

/// The batch size for lanes of `lane_bytes` (see [`BATCH_BYTES`]).
fn batch_bytes(lane_bytes: usize) -> usize {
    (lane_bytes / 2).clamp(*BATCH_BYTES.start(), *BATCH_BYTES.end())
}

/// Who writes a lane, as the service knows it.
pub(crate) struct LaneOwner {
    pub lane: u16,
    pub pid: u32,
    /// Readable once the process has exited (`None`: could not be opened, e.g.
    /// the process was already gone).
    pub pidfd: Option<OwnedFd>,
    /// Detached or dead: the worker closes the lane after draining it.
    pub closing: Option<LaneState>,
    /// Already applied to the consumer.
    pub closed_applied: bool,
    /// Records its producer says it committed, sent with its detach or
    /// finish from the producer's private memory: the finish reports any the
    /// run log lacks (a producer that scribbled over its own lane).
    pub committed: Option<u64>,
}

impl LaneOwner {
    pub(crate) fn new(lane: u16, pid: u32, pidfd: Option<OwnedFd>, closing: Option<LaneState>) -> Self {
        Self { lane, pid, pidfd, closing, closed_applied: false, committed: None }
    }
}

/// A finish request from the owner.
pub(crate) struct FinishRequest {
    pub exit_code: i32,
    pub deadline: Instant,
    pub reply: Sender<FinishReport>,
}

/// State shared between the run's worker and the connection threads.
pub(crate) struct RunShared {
    pub run_id: String,
    pub segment: SegmentOwner,
    pub meta: Mutex<RunMeta>,
    pub lanes: Mutex<Vec<LaneOwner>>,
    pub finish: Mutex<Option<FinishRequest>>,
    pub live: Mutex<LiveCounts>,
    pub started: Instant,
    pub registry_entry: PathBuf,
    /// Set (Release) by a connection thread after it posts a finish or a
    /// detach, before it wakes the worker; the worker's wait re-checks it.
    pub control: AtomicU32,
    /// Whether a restarted service adopted the run (its live W&B run is then
    /// rewritten from the log), as opposed to a run it started.
    pub adopted: bool,
}

impl RunShared {
    /// Tells the worker a control event is waiting, waking it if parked.
    pub fn signal(&self) {
        // SYNC POINT: control event. Release pairs with the worker's Acquire swap;
        // `wake_consumer`'s fence pairs with the fence in the worker's park.
        self.control.store(1, Ordering::Release);
        self.segment.wake_consumer();
    }
}

/// Counts the worker publishes for `status`.
#[derive(Debug, Default, Clone)]
pub(crate) struct LiveCounts {
    pub records: u64,
    pub bytes: u64,
    pub records_per_s: f64,
    /// The run log's last append error, while appends fail.
    pub disk_error: Option<String>,
    /// Frames rejected for naming a key their lane never defined.
    pub undefined_key_frames: u64,
}

/// How long the finish keeps retrying a run log that refuses every write
/// (a full disk) before it reports what it could not write.
const DISK_GIVE_UP: Duration = Duration::from_secs(5);

/// Opens a pidfd for the lane owner `pid` whose start time was recorded as
/// `start_ticks` (0: not recorded): `None` if that process is gone, including
/// when `pid` now names another process (pid reuse, seen as a different start
/// time). The pidfd is opened first and the start time checked after, so the
/// pidfd cannot refer to a newer process with the same pid.
///
/// # Examples
/// ```
/// use ringlog_ring::ring::segment::process_start_ticks;
/// use ringlog_service::service::run_worker::owner_pidfd;
/// let me = std::process::id();
/// let ticks = process_start_ticks(me).unwrap();
/// assert!(owner_pidfd(me, ticks).is_some());
/// assert!(owner_pidfd(me, ticks + 1).is_none()); // same pid, another process
/// ```
pub fn owner_pidfd(pid: u32, start_ticks: u64) -> Option<OwnedFd> {
    let fd = pidfd(pid)?;
    if start_ticks != 0 && ringlog_ring::ring::segment::process_start_ticks(pid) != Some(start_ticks) {
        return None;
    }
    Some(fd)
}

/// Opens a pidfd for `pid`; `None` if the process is gone or pidfds are unsupported.
pub(crate) fn pidfd(pid: u32) -> Option<OwnedFd> {
    let pid = rustix::process::Pid::from_raw(pid as i32)?;
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
}

/// Whether the process behind `fd` has exited.
fn exited(fd: &OwnedFd) -> bool {
    use rustix::event::{PollFd, PollFlags, poll};
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    matches!(poll(&mut fds, Some(&rustix::time::Timespec { tv_sec: 0, tv_nsec: 0 })), Ok(n) if n > 0)
}

/// Why the worker stopped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WorkerExit {
    Finished,
    Crashed,
    /// The service is stopping; the run stays live for the next service.
    Shutdown,
}

/// The largest drop or timeout count a lane's report is believed with: 2^40
/// records is days of logging at full speed into a full lane.
const PLAUSIBLE_COUNTER: u64 = 1 << 40;

/// The worker's private state: the consumer, its batch buffer, the run log,
/// and what the service learns from the records (keys, summary).
struct Drain {
    shared: Arc<RunShared>,
    consumer: Consumer,
    batch: Batch,
    writer: RunLogWriter,
    /// Key names, for rejecting records that name undefined keys.
    keys: KeyTable,
    /// Until the drain loop starts: the key names and summary rebuilt from
    /// the log, and the live W&B sink (live W&B mode, `InitOptions::wandb`:
    /// the run as a W&B offline run in `<run_dir>/wandb/`). Then they move
    /// to `folder`, which feeds them every written batch (on its own thread,
    /// or on this one when the service may use one CPU only).
    folded: Option<Folded>,
    folder: Option<Folder>,
    /// Lanes handed to the consumer so far.
    added: u32,
    /// Rate limit for the per-frame warnings.
    warnings: crate::service::log_limit::LogLimit,
    /// Since when appends to the run log have been failing, and why.
    disk_failing: Option<(Instant, String)>,
    /// Why the segment can no longer be read (truncated by another process).
    truncated: Option<String>,
    /// When the segment's size was last checked.
    truncation_checked: Instant,
    /// The run's system stats sampler (`None`: off).
    stats: Option<crate::service::system_stats::Sampler>,
}

/// How often the drain loop checks the segment's size (one `fstat`).
const TRUNCATION_CHECK: Duration = Duration::from_millis(100);

/// The drain loop. Returns when the run is finished or crashed, or when
/// `stopping` says the service is going away.
pub(crate) fn run(shared: Arc<RunShared>, writer: RunLogWriter, stopping: impl Fn() -> bool) -> WorkerExit {
    let consumer = match shared.segment.consumer() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(run = %shared.run_id, error = %e, "cannot drain the run: its consumer is taken");
            return WorkerExit::Shutdown;
        }
    };
    let batch_len = batch_bytes(shared.segment.geometry().lane_bytes);
    let mut d = Drain {
        shared,
        consumer,
        batch: Batch::new(batch_len),
        writer,
        keys: KeyTable::new(),
        folded: Some(Folded { keys: KeyTable::new(), summary: SummaryState::new(), wandb: None }),
        folder: None,
        added: 0,
        warnings: crate::service::log_limit::LogLimit::default(),
        disk_failing: None,
        truncated: None,
        truncation_checked: Instant::now(),
        stats: None,
    };
    d.rebuild_from_log();
    let mut folded = d.folded.take().expect("set above");
    let adopted = d.shared.adopted;
    let every = d.shared.meta.lock().unwrap_or_else(PoisonError::into_inner).system_stats_s;
    d.stats = crate::service::system_stats::Sampler::new(
        every.map_or(ringlog::DEFAULT_SYSTEM_STATS, |s| Duration::from_secs_f64(s.clamp(0.0, 86_400.0))),
    );
    folded.wandb = start_live_wandb(&d.shared.meta.lock().unwrap_or_else(PoisonError::into_inner), adopted);
    d.keys = folded.keys.clone();
    let summary_path =
        PathBuf::from(&d.shared.meta.lock().unwrap_or_else(PoisonError::into_inner).run_dir).join(SUMMARY_FILE);
    d.folder = Some(Folder::start(&d.shared.run_id, folded, Batch::new(batch_len), summary_path));
    let mut rate_mark = (Instant::now(), 0u64);
    let mut beat_mark = Instant::now();
    d.shared.segment.beat();
    loop {
        // The heartbeat producers check (ADR 28): at most every 200 ms, and
        // at least every IDLE_WAIT while this thread lives.
        if beat_mark.elapsed() >= Duration::from_millis(200) {
            d.shared.segment.beat();
            beat_mark = Instant::now();
        }
        d.add_new_lanes();
        let control = &d.shared.control;
        // SYNC POINT: control event (Acquire in the re-check).
        let event = || control.load(Ordering::Acquire) != 0;
        d.consumer.wait_or(IDLE_WAIT, event);
        // Relaxed is enough for the clear: the requests themselves are read
        // under their mutexes below, and a new event sets the flag again.
        control.store(0, Ordering::Relaxed);
        if let Some(e) = d.check_truncation() {
            tracing::error!(run = %d.shared.run_id, error = %e, "segment truncated: closing the run as crashed");
            d.truncated = Some(e.to_string());
            let report = d.finalize(None);
            if let Some(req) = d.shared.finish.lock().unwrap_or_else(PoisonError::into_inner).take() {
                let _ = req.reply.send(report);
            }
            return WorkerExit::Crashed;
        }
        d.drain_once();
        d.apply_liveness();
        d.log_system_stats();

        let now = Instant::now();
        if now - rate_mark.0 >= Duration::from_secs(1) {
            let mut live = d.shared.live.lock().unwrap_or_else(PoisonError::into_inner);
            let rate = (live.records - rate_mark.1) as f64 / (now - rate_mark.0).as_secs_f64();
            live.records_per_s = rate;
            rate_mark = (now, live.records);
        }

        let finish = d.shared.finish.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(req) = finish {
            if others_closed(&d.shared) || Instant::now() >= req.deadline {
                let report = d.finalize(Some(req.exit_code));
                let _ = req.reply.send(report);
                return WorkerExit::Finished;
            }
            *d.shared.finish.lock().unwrap_or_else(PoisonError::into_inner) = Some(req);
        } else if all_dead(&d.shared) {
            tracing::warn!(run = %d.shared.run_id, "the owner died and every other producer is gone: closing the run as crashed");
            d.finalize(None);
            return WorkerExit::Crashed;
        }
        if stopping() {
            d.drain_once();
            let _ = d.writer.sync();
            return WorkerExit::Shutdown;
        }
    }
}

impl Drain {
    /// A run adopted after a service restart already has records in its log:
    /// its key names and summary come from them (key ids are per lane and
    /// defined once, in-band, so without the replay the later records would
    /// name keys `key#N@laneL` and the summary would start from nothing). A
    /// fresh run's log is empty and this costs nothing.
    fn rebuild_from_log(&mut self) {
        let path = self.writer.path().to_owned();
        let Some(run_dir) = path.parent() else { return };
        if self.writer.counters().frames == 0 {
            return;
        }
        // The last summary checkpoint plus the records after it (the whole log
        // only without one): a restart costs the same however long the run is.
        let (summary, mut keys, source) = match crate::export::exporters::summary_state(run_dir) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(run = %self.shared.run_id, error = %e, "cannot replay the run log: summary starts empty");
                return;
            }
        };
        if let SummarySource::File = source
            && let Ok(index) = crate::runlog::index::RunIndex::load_or_rebuild(&path)
        {
            keys = index.keys_before(u64::MAX);
        }
        tracing::info!(run = %self.shared.run_id, from = ?source, "rebuilt key names and summary from the run log");
        if let Some(folded) = self.folded.as_mut() {
            folded.keys = keys;
            folded.summary = summary;
        }
    }

    /// Gives the consumer the lanes allocated since the last pass.
    fn add_new_lanes(&mut self) {
        // The service's own lane count: never re-read from shared memory.
        while self.added < self.shared.segment.lane_count() {
            let lane = self.added as u16;
            if let Err(e) = self.consumer.add_lane(lane) {
                tracing::error!(run = %self.shared.run_id, lane, error = %e, "cannot map lane");
            }
            self.added += 1;
        }
    }

    /// One batch: read, append (one write), release. On a write error nothing
    /// is released and the batch will be read again. Returns valid frames read.
    fn drain_once(&mut self) -> usize {
        let patched_before = ringlog_ring::truncation_guard::patched_pages();
        let n = self.consumer.read_batch(&mut self.batch);
        if ringlog_ring::truncation_guard::patched_pages() != patched_before {
            // A page of some segment was cut under this read: what it copied may be
            // zeros, not frames. Nothing is appended; the truncation check decides.
            self.consumer.unread();
            self.batch.clear();
            self.truncation_checked = Instant::now() - TRUNCATION_CHECK;
            return 0;
        }
        for e in self.batch.errors() {
            // One line per rejected frame would let a scribbling producer
            // fill service.log: rate-limited, the rest counted.
            if let Some(suppressed) = self.warnings.allow() {
                tracing::warn!(run = %self.shared.run_id, error = %e, suppressed, "invalid frame");
            }
        }
        if self.batch.len_bytes() == 0 {
            return 0;
        }
        self.reject_undefined_keys();
        // What the log held before, per lane: after a service restart the batch
        // re-reads frames the log already has, which the writer skips and the
        // folder must skip too (or the summary would count them twice).
        let mut before: Vec<(u16, Option<u64>)> = Vec::new();
        for f in self.batch.frames() {
            if before.last().is_none_or(|(l, _)| *l != f.lane()) {
                before.push((f.lane(), self.writer.last_seq(f.lane())));
            }
        }
        match self.writer.append_batch(&self.batch) {
            Ok(appended) => {
                self.consumer.release();
                if appended.duplicates > 0 {
                    let keep: Vec<bool> = self
                        .batch
                        .frames()
                        .map(|f| {
                            let prior = before.iter().find(|(l, _)| *l == f.lane()).and_then(|(_, s)| *s);
                            prior.is_none_or(|p| f.seq() > p)
                        })
                        .collect();
                    self.batch.retain_frames(&keep);
                }
                if self.disk_failing.take().is_some() {
                    tracing::info!(run = %self.shared.run_id, "the run log takes writes again");
                    self.shared.live.lock().unwrap_or_else(PoisonError::into_inner).disk_error = None;
                }
                // Key names, summary and live W&B: on the folding thread (here, on one CPU).
                if let Some(folder) = self.folder.as_mut() {
                    let written = std::mem::replace(&mut self.batch, Batch::new(0));
                    self.batch = folder.fold(written, self.writer.counters().bytes);
                }
                let mut live = self.shared.live.lock().unwrap_or_else(PoisonError::into_inner);
                live.records += appended.frames as u64;
                live.bytes += appended.bytes as u64;
                n
            }
            Err(e) => {
                if let Some(suppressed) = self.warnings.allow() {
                    tracing::error!(run = %self.shared.run_id, error = %e, suppressed, "cannot append to the run log; nothing released, retrying");
                }
                let reason = e.to_string();
                self.shared.live.lock().unwrap_or_else(PoisonError::into_inner).disk_error = Some(reason.clone());
                self.disk_failing.get_or_insert((Instant::now(), reason));
                self.consumer.unread();
                std::thread::sleep(Duration::from_millis(100));
                0
            }
        }
    }

    /// Drops (and counts as invalid) frames that name a key id their lane
    /// never defined: framing and validation passed, but the record cannot be
    /// named, so it is garbage (a scribbled or buggy producer), not data.
    fn reject_undefined_keys(&mut self) {
        let keep = crate::service::key_check::frames_to_keep(&self.batch, &mut self.keys);
        if keep.is_empty() {
            return;
        }
        let dropped = self.batch.retain_frames(&keep) as u64;
        if dropped > 0 {
            self.shared.live.lock().unwrap_or_else(PoisonError::into_inner).undefined_key_frames += dropped;
            if let Some(suppressed) = self.warnings.allow() {
                tracing::warn!(run = %self.shared.run_id, frames = dropped, suppressed, "frames naming undefined keys rejected");
            }
        }
    }

    /// Applies detaches and deaths noticed since the last pass (to lanes the
    /// consumer already has; a lane added later gets its close on a later pass).
    fn apply_liveness(&mut self) {
        let mut lanes = self.shared.lanes.lock().unwrap_or_else(PoisonError::into_inner);
        for l in lanes.iter_mut() {
            if l.closing.is_none() && l.pidfd.as_ref().is_some_and(exited) {
                tracing::warn!(run = %self.shared.run_id, lane = l.lane, pid = l.pid, "producer died; lane abandoned after draining its committed frames");
                l.closing = Some(LaneState::Abandoned);
            }
            if let (Some(state), false) = (l.closing, l.closed_applied) {
                l.closed_applied = match state {
                    LaneState::Abandoned => self.consumer.abandon_lane(l.lane),
                    _ => self.consumer.detach_lane(l.lane),
                };
            }
        }
    }

    /// Appends a system stats sample when one is due (see `system_stats`): a
    /// small batch of the service's own records, written and folded like a
    /// drained one. A sample the disk refuses is dropped (it is not the
    /// trainer's data), with a rate-limited warning.
    fn log_system_stats(&mut self) {
        use crate::service::system_stats::SERVICE_LANE;
        let Some(sampler) = self.stats.as_mut() else { return };
        if !sampler.due() {
            return;
        }
        let lanes: Vec<(u16, u32)> = self
            .shared
            .lanes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|l| l.closing.is_none())
            .map(|l| (l.lane, l.pid))
            .collect();
        let mut batch = std::mem::replace(&mut self.batch, Batch::new(0));
        batch.clear();
        let seq = self.writer.last_seq(SERVICE_LANE).map_or(0, |s| s + 1);
        let sampled = sampler.sample_into(&lanes, &mut batch, seq, ringlog_ring::clock::now_unix_ns());
        if sampled.is_err() || batch.is_empty() {
            batch.clear();
            self.batch = batch;
            return;
        }
        match self.writer.append_batch(&batch) {
            Ok(appended) => {
                let mut live = self.shared.live.lock().unwrap_or_else(PoisonError::into_inner);
                live.records += appended.frames as u64;
                live.bytes += appended.bytes as u64;
                drop(live);
                self.batch = match self.folder.as_mut() {
                    Some(folder) => folder.fold(batch, self.writer.counters().bytes),
                    None => batch,
                };
            }
            Err(e) => {
                if let Some(suppressed) = self.warnings.allow() {
                    tracing::warn!(run = %self.shared.run_id, error = %e, suppressed, "system stats sample not written");
                }
                // Its key definitions were not written either: define them again next time.
                sampler.forget_keys();
                batch.clear();
                self.batch = batch;
            }
        }
    }

    /// Whether the segment's file still holds every lane (an `fstat`, at most
    /// every [`TRUNCATION_CHECK`]).
    fn check_truncation(&mut self) -> Option<ringlog_ring::SegmentError> {
        if self.truncation_checked.elapsed() < TRUNCATION_CHECK {
            return None;
        }
        self.truncation_checked = Instant::now();
        self.shared.segment.truncated()
    }

    /// Final drain, fsync, summary, metadata; unlinks the segment. A run whose
    /// segment was truncated is not drained (its lanes are gone): it is closed
    /// as crashed with the reason, and what its lanes held is reported lost.
    fn finalize(&mut self, exit_code: Option<i32>) -> FinishReport {
        if self.truncated.is_none()
            && let Some(e) = self.shared.segment.truncated()
        {
            tracing::error!(run = %self.shared.run_id, error = %e, "segment truncated: the finish closes the run as crashed");
            self.truncated = Some(e.to_string());
        }
        // A truncated segment's lanes are gone: nothing is read from them.
        let lanes_readable = self.truncated.is_none();
        let owner = self.shared.meta.lock().unwrap_or_else(PoisonError::into_inner).owner_pid;
        let mut stalled = Vec::new();
        for l in self.shared.lanes.lock().unwrap_or_else(PoisonError::into_inner).iter_mut() {
            if l.closing.is_none() && l.pid != owner {
                stalled.push((l.lane, l.pid));
            }
            l.closing.get_or_insert(LaneState::Detached);
        }
        if lanes_readable {
            self.add_new_lanes();
            self.apply_liveness();
        }
        // Bounded: every lane is closing, so each read pass ends at the first
        // empty frame and a lane closes when it runs dry; the deadline covers a
        // producer that keeps writing after its finish.
        // A run log that refuses every write for DISK_GIVE_UP ends the wait
        // early: what it could not take is counted below, not waited for.
        let deadline = Instant::now() + Duration::from_secs(30);
        let disk_gave_up = |d: &Self| d.disk_failing.as_ref().is_some_and(|(since, _)| since.elapsed() >= DISK_GIVE_UP);
        while lanes_readable && !self.consumer.all_closed() && Instant::now() < deadline && !disk_gave_up(self) {
            if self.drain_once() == 0 && self.batch.len_bytes() == 0 {
                self.consumer.wait(Duration::from_millis(1));
            }
        }
        if lanes_readable {
            self.drain_once();
        }
        let shared = Arc::clone(&self.shared);
        let mut report = FinishReport::default();
        if let Err(e) = self.writer.sync() {
            tracing::error!(run = %shared.run_id, error = %e, "fsync of the run log failed");
            report.loss_reason = Some(format!("fsync of the run log failed: {e}"));
        }
        // What producers committed and the run log does not hold: committed
        // frames still in the lanes, unreleased (a full disk refused them),
        // counted from the rings themselves, not from producer counters.
        if let Some(why) = &self.truncated {
            report.loss_reason = Some(format!(
                "{why}; the run was closed as crashed, and what its lanes held after the last drained batch is lost \
                 (not counted: the lanes are gone)"
            ));
        }
        for lane in (0..shared.segment.lane_count()).filter(|_| lanes_readable) {
            let lost = self.consumer.unreleased_frames(lane as u16).unwrap_or(0);
            if lost > 0 {
                report.lost_records += lost;
                report.lost_by_lane.push(LaneLoss { lane: lane as u16, records: lost });
            }
        }
        // Records a producer committed that never reached the service: its
        // own count, from its private memory, against what the lane framed.
        let tallies: Vec<(u16, u64)> = if lanes_readable {
            let lanes = shared.lanes.lock().unwrap_or_else(PoisonError::into_inner);
            lanes.iter().filter_map(|l| Some((l.lane, l.committed?))).collect()
        } else {
            Vec::new()
        };
        let mut unseen_lanes = Vec::new();
        for (lane, committed) in tallies {
            let seen = self
                .consumer
                .lane_seq(lane)
                .unwrap_or(0)
                .saturating_add(report.lost_by_lane.iter().find(|l| l.lane == lane).map_or(0, |l| l.records));
            let unseen = committed.min(PLAUSIBLE_COUNTER).saturating_sub(seen);
            if unseen > 0 {
                tracing::error!(run = %shared.run_id, lane, committed, seen, "records committed to a lane never reached the service");
                report.lost_records += unseen;
                match report.lost_by_lane.iter_mut().find(|l| l.lane == lane) {
                    Some(l) => l.records += unseen,
                    None => report.lost_by_lane.push(LaneLoss { lane, records: unseen }),
                }
                unseen_lanes.push(format!("lane {lane}: {unseen} of {committed}"));
            }
        }
        if !unseen_lanes.is_empty() {
            let why = format!(
                "records their producer committed never reached the service ({}): the lane's ring was overwritten, \
                 most likely by its own process",
                unseen_lanes.join(", ")
            );
            report.loss_reason = Some(match report.loss_reason.take() {
                Some(earlier) => format!("{earlier}; {why}"),
                None => why,
            });
        }
        for (lane, pid) in stalled.into_iter().filter(|_| lanes_readable) {
            let unread_bytes = shared.segment.lane_stats(lane).map_or(0, |s| s.fill);
            tracing::warn!(run = %shared.run_id, lane, pid, unread_bytes, "lane still open at finish: closed");
            report.stalled_lanes.push(LaneStall { lane, pid, unread_bytes });
        }
        if report.lost_records > 0 {
            let why = self.disk_failing.as_ref().map_or_else(
                || "the lanes did not drain before the finish's deadline".to_owned(),
                |(_, e)| format!("the run log refused writes: {e}"),
            );
            tracing::error!(run = %shared.run_id, lost = report.lost_records, lanes = ?report.lost_by_lane, reason = %why, "finish could not make every committed record durable");
            report.loss_reason.get_or_insert(why);
        }
        for lane in (0..shared.segment.lane_count()).filter(|_| lanes_readable) {
            if let Ok(s) = shared.segment.lane_stats(lane as u16) {
                // Drops and timeouts are the producer's own words, in memory
                // it can scribble on: believed only from a lane that was not
                // found corrupt, and only within what a producer can count.
                let believed =
                    s.state != LaneState::Corrupt && s.drops <= PLAUSIBLE_COUNTER && s.timeouts <= PLAUSIBLE_COUNTER;
                if believed {
                    report.drops = report.drops.saturating_add(s.drops);
                    report.timeouts = report.timeouts.saturating_add(s.timeouts);
                } else {
                    report.untrusted_counter_lanes += 1;
                    tracing::warn!(run = %shared.run_id, lane, drops = s.drops, timeouts = s.timeouts, "lane counters not believed: left out of the report");
                }
                report.invalid_frames = report.invalid_frames.saturating_add(s.invalid_frames);
                report.abandoned_lanes += u32::from(s.state == LaneState::Abandoned);
            }
        }
        report.invalid_frames = report
            .invalid_frames
            .saturating_add(shared.live.lock().unwrap_or_else(PoisonError::into_inner).undefined_key_frames);
        let counters = self.writer.counters();
        let mut meta = shared.meta.lock().unwrap_or_else(PoisonError::into_inner);
        report.run_id = shared.run_id.clone();
        report.run_dir = meta.run_dir.clone();
        report.exit_code = exit_code.unwrap_or(-1);
        report.state = match exit_code {
            None => RunEnd::Crashed,
            Some(_) if report.lost_records > 0 || report.loss_reason.is_some() => RunEnd::Incomplete,
            Some(_) => RunEnd::Finished,
        };
        report.records = counters.frames;
        report.bytes = counters.bytes;
        report.runtime_ms = shared.started.elapsed().as_millis() as u64;
        let run_dir = PathBuf::from(&meta.run_dir);
        let folded = self.folder.take().and_then(Folder::finish).or_else(|| self.folded.take());
        let (mut summary, wandb) = match folded {
            Some(f) => (f.summary, f.wandb),
            None => (SummaryState::new(), None),
        };
        summary.set_log_end(counters.bytes);
        if let Some(sink) = wandb {
            let runtime_s = report.runtime_ms as f64 / 1e3;
            let outcome = match exit_code {
                Some(exit_code) => Outcome::Exited { exit_code, runtime_s },
                None => Outcome::Crashed { runtime_s },
            };
            if let Err(e) = sink.finish(End::Known(outcome)) {
                tracing::error!(run = %shared.run_id, error = %e, "cannot finish the live W&B run");
            }
        }
        // The run log may have filled the disk: free the space set aside at
        // init for the two small files the finish writes.
        crate::runlog::run_meta::release_reserve(&run_dir);
        if let Err(e) = summary.write(&run_dir.join(SUMMARY_FILE)) {
            tracing::error!(run = %shared.run_id, error = %e, "cannot write summary.json");
        }
        meta.state = report.state.to_string();
        meta.exit_code = exit_code;
        meta.runtime_ms = report.runtime_ms;
        meta.records = report.records;
        meta.bytes = report.bytes;
        meta.drops = report.drops;
        meta.timeouts = report.timeouts;
        meta.invalid_frames = report.invalid_frames;
        meta.abandoned_lanes = report.abandoned_lanes;
        meta.untrusted_counter_lanes = report.untrusted_counter_lanes;
        meta.lost_records = report.lost_records;
        meta.lost_by_lane = report.lost_by_lane.clone();
        meta.loss_reason = report.loss_reason.clone();
        meta.stalled_lanes = report.stalled_lanes.clone();
        if let Err(e) = meta.write(&run_dir) {
            tracing::error!(run = %shared.run_id, error = %e, "cannot write run.json");
        }
        drop(meta);
        shared.segment.set_run_state(if exit_code.is_some() { RunState::Finished } else { RunState::Crashed });
        let _ = shared.segment.unlink();
        let _ = std::fs::remove_file(&shared.registry_entry);
        tracing::info!(run = %shared.run_id, records = report.records, state = %report.state, "run closed");
        report
    }
}

/// Memory budget of the live W&B mode's reorder window (rows normally leave it after each
/// batch, see `MergedHistory::release_settled`).
const LIVE_WANDB_WINDOW_BYTES: usize = 8 << 20;

/// The live W&B run of a run started with `wandb` set, or `None` (after a warning when it
/// cannot be created: the run itself goes on).
///
/// A run `adopted` after a service restart already has records in its log, and a `.wandb`
/// file the dead service wrote up to some point, perhaps ending in a torn chunk. That file
/// is derived data: it is written anew from the run log (every record the restarted
/// service accounts for, in W&B's order), and the run then continues live in it. The
/// drain waits meanwhile (the lanes hold what producers log; a replay of W&B rows runs at
/// about a million rows a second).
fn start_live_wandb(meta: &RunMeta, adopted: bool) -> Option<WandbSink> {
    if !meta.wandb {
        return None;
    }
    let run_dir = PathBuf::from(&meta.run_dir);
    let info = run_info(&run_dir, Some(meta), meta.created_unix_ms.saturating_mul(1_000_000));
    let merged = MergedHistory::new(None).with_window_bytes(LIVE_WANDB_WINDOW_BYTES);
    let warn = |e: &dyn std::fmt::Display| {
        tracing::warn!(
            run = %meta.run_id, error = %e,
            "no live W&B run; `ringlog export RUN --format wandb` writes one from the run log"
        );
    };
    if adopted {
        let old = ringlog_wandb::RunDir::layout(&run_dir, &info.run_id, info.start_time_unix_ns).run_dir;
        if let Err(e) = std::fs::remove_dir_all(&old)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            warn(&format!("cannot replace {}: {e}", old.display()));
            return None;
        }
    }
    let mut sink = match WandbSink::create(&run_dir, &info, merged) {
        Ok(sink) => sink,
        Err(e) => {
            warn(&e);
            return None;
        }
    };
    if adopted {
        let replayed = crate::export::exporters::open_log(&run_dir).and_then(|(log, len)| {
            let mut bar = crate::export::exporters::Progress::new(false, len, "");
            let (stats, _) = crate::export::exporters::walk(log, len, &mut bar, None, |rec, keys| {
                sink.observe(rec.lane(), &rec.record(), keys)
            })?;
            sink.flush_settled()?;
            Ok(stats)
        });
        match replayed {
            Ok(stats) => {
                tracing::info!(run = %meta.run_id, records = stats.records, "live W&B run rewritten from the run log after a restart")
            }
            Err(e) => {
                warn(&e);
                return None;
            }
        }
    }
    Some(sink)
}

/// Every lane but the owner's is detached or dead.
fn others_closed(shared: &RunShared) -> bool {
    let owner = shared.meta.lock().unwrap_or_else(PoisonError::into_inner).owner_pid;
    shared.lanes.lock().unwrap_or_else(PoisonError::into_inner).iter().all(|l| l.pid == owner || l.closing.is_some())
}

/// The run can no longer be finished by anyone: its owner died (its lane was
/// abandoned) and every other lane is closed too, dead or detached. (Every
/// lane dead is one case; an owner SIGKILLed after the other ranks detached
/// cleanly is another, which the first version left running forever.)
fn all_dead(shared: &RunShared) -> bool {
    let owner = shared.meta.lock().unwrap_or_else(PoisonError::into_inner).owner_pid;
    let lanes = shared.lanes.lock().unwrap_or_else(PoisonError::into_inner);
    !lanes.is_empty()
        && lanes.iter().all(|l| l.closing.is_some())
        && lanes.iter().any(|l| l.closing == Some(LaneState::Abandoned) && l.pid == owner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_half_a_lane_within_its_bounds() {
        assert_eq!(batch_bytes(ringlog_ring::DEFAULT_LANE_BYTES), 512 << 10);
        assert_eq!(batch_bytes(768 << 10), 384 << 10);
        assert_eq!(batch_bytes(64 << 10), 256 << 10);
        assert_eq!(batch_bytes(ringlog_ring::MIN_LANE_BYTES), 256 << 10);
        assert_eq!(batch_bytes(ringlog_ring::MAX_LANE_BYTES), 512 << 10);
    }
}

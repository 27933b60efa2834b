//! Folds written batches into what the service learns from the records (key
//! names, the summary, the live W&B run) on a second thread per run, so the
//! drain thread's time per record is only read, validate, encode and write
//! (on the drain thread itself when the service may use one CPU only, below).
//!
//! The drain thread hands a batch over once its records are in the run log
//! and its lane space is released, and takes back an empty one to read the
//! next batch into. Two batches circulate: the drain thread waits for a free
//! one only when the folder is a whole batch behind, which bounds the folder's
//! lag (and its memory) to one batch. On a machine with a spare core (a
//! producer blocked on I/O, or the second core of two), the folding is free.
//!
//! A service confined to one CPU (`RINGLOG_SERVICE_CPUS=3`, a one-CPU container)
//! gains nothing from the second thread and pays two context switches per batch
//! for it, so there the drain thread folds each batch itself, with the same
//! checkpoints. Measured with the `ringlog-e2e` benchmark, whose service runs on
//! one CPU: in two series of six alternated pairs, 80 -> 70 and 92 -> 78 ns of
//! service CPU per scalar8 record, 12 of 12 pairs faster (ADR 24, session 24).

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::export::key_table::KeyTable;
use crate::export::wandb_sink::WandbSink;
use crate::service::summary_state::SummaryState;
use ringlog_ring::Batch;
use ringlog_ring::record::schema::RecordRef;

/// How often the folder writes the live run's `summary.json` (a checkpoint that
/// readers continue from the log offset it covers).
const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);

/// What the folder keeps up to date.
pub(crate) struct Folded {
    pub(crate) keys: KeyTable,
    pub(crate) summary: SummaryState,
    pub(crate) wandb: Option<WandbSink>,
}

impl Folded {
    /// Folds in every frame of `batch`, which ends at run log offset `log_end`.
    pub(crate) fn fold(&mut self, run_id: &str, batch: &Batch, log_end: u64) {
        self.summary.set_log_end(log_end);
        if self.wandb.is_none() {
            self.fold_summary_only(batch);
            return;
        }
        let mut wandb_failed = None;
        for f in batch.frames() {
            let rec = f.record();
            self.keys.observe(f.lane(), &rec);
            self.summary.observe(f.lane(), &rec, &self.keys);
            if let Some(sink) = self.wandb.as_mut()
                && wandb_failed.is_none()
                && let Err(e) = sink.observe(f.lane(), &rec, &self.keys)
            {
                wandb_failed = Some(e);
            }
        }
        if let Some(sink) = self.wandb.as_mut()
            && wandb_failed.is_none()
            && let Err(e) = sink.flush_settled()
        {
            wandb_failed = Some(e);
        }
        if let Some(e) = wandb_failed {
            // The run log has everything: `ringlog export --format wandb` rebuilds it.
            tracing::error!(run = %run_id, error = %e, "live W&B run stopped; the run log is unaffected");
            self.wandb = None;
        }
    }

    /// [`Folded::fold`] without a live W&B run: only the summary's values and the
    /// key names. A scalar record whose keys the next frame of its lane sets again
    /// (the same `Scalars` key list, or the same `Scalar1` key) is only counted: its
    /// values would be overwritten before anyone reads them. On a 2-core machine this
    /// thread shares a core with the drain thread; this cut the fold's share of the
    /// service's time from 28% to 11% (perf, scalar8 rows).
    fn fold_summary_only(&mut self, batch: &Batch) {
        let mut pending: Option<(u16, RecordRef<'_>)> = None;
        for f in batch.frames() {
            let rec = f.record();
            if let Some((lane, prev)) = pending.take() {
                if lane == f.lane() && superseded_by(&prev, &rec) {
                    self.summary.observe_superseded(&prev);
                } else {
                    self.summary.observe(lane, &prev, &self.keys);
                }
            }
            // After the previous record is folded: a key definition here may rename
            // an id the previous record used.
            self.keys.observe(f.lane(), &rec);
            pending = Some((f.lane(), rec));
        }
        if let Some((lane, prev)) = pending {
            self.summary.observe(lane, &prev, &self.keys);
        }
    }
}

/// Whether `next` (the next frame of the same lane) sets every key whose value `prev` sets.
fn superseded_by(prev: &RecordRef<'_>, next: &RecordRef<'_>) -> bool {
    match (prev, next) {
        (RecordRef::Scalar1(a), RecordRef::Scalar1(b)) => a.key == b.key,
        (RecordRef::Scalars(a), RecordRef::Scalars(b)) => {
            a.items.len() == b.items.len() && a.items.iter().zip(b.items.iter()).all(|(x, y)| x.key == y.key)
        }
        _ => false,
    }
}

/// Whether a run's folding gets a thread of its own, given the CPUs this process may
/// run on (its affinity; `None` if unknown). On one CPU a second thread could only
/// take turns with the drain thread, at two context switches per batch. A CPU quota
/// is not counted: a fractional quota over two CPUs still runs both threads at once.
fn fold_on_a_thread(cpus: Option<u32>) -> bool {
    cpus != Some(1)
}

/// Writes the live summary when `every` has passed since `last`.
fn checkpoint_if_due(state: &Folded, last: &mut Instant, every: Duration, path: &std::path::Path, run_id: &str) {
    if last.elapsed() >= every {
        *last = Instant::now();
        if let Err(e) = state.summary.checkpoint(path) {
            tracing::warn!(run = %run_id, error = %e, "cannot checkpoint the live summary");
        }
    }
}

/// The folding of one run: on a thread of its own, or on the drain thread.
pub(crate) struct Folder {
    run_id: String,
    to_fold: Option<SyncSender<(Batch, u64)>>,
    free: Option<Receiver<Batch>>,
    thread: Option<JoinHandle<Folded>>,
    /// The state, while no thread runs it (one CPU, or the thread could not be started).
    inline: Option<Folded>,
    /// The inline folder's checkpoints: where, how often, and the last one.
    summary_path: PathBuf,
    checkpoint_every: Duration,
    checkpointed: Instant,
}

impl Folder {
    /// Starts the folding of a run with `state`: on a thread of its own, with `spare`
    /// as the second batch buffer, or on the caller's thread when this process may run
    /// on one CPU only. Every [`CHECKPOINT_EVERY`] it writes the summary to
    /// `summary_path`.
    pub(crate) fn start(run_id: &str, state: Folded, spare: Batch, summary_path: PathBuf) -> Self {
        let cpus = rustix::thread::sched_getaffinity(None).map(|set| set.count()).ok();
        Self::start_with(run_id, state, spare, summary_path, fold_on_a_thread(cpus), CHECKPOINT_EVERY)
    }

    /// [`Folder::start`] with the choice of thread and the checkpoint interval given.
    fn start_with(
        run_id: &str,
        state: Folded,
        spare: Batch,
        summary_path: PathBuf,
        on_thread: bool,
        checkpoint_every: Duration,
    ) -> Self {
        let folder = |inline, to_fold, free, thread| Self {
            run_id: run_id.to_owned(),
            to_fold,
            free,
            thread,
            inline,
            summary_path: summary_path.clone(),
            checkpoint_every,
            checkpointed: Instant::now(),
        };
        if !on_thread {
            return folder(Some(state), None, None, None);
        }
        let (to_fold, batches) = sync_channel::<(Batch, u64)>(1);
        let (give_back, free) = sync_channel::<Batch>(2);
        // The spare starts free: the drain thread can read into it while the
        // folder works on the first batch.
        let _ = give_back.send(spare);
        let (id, path) = (run_id.to_owned(), summary_path.clone());
        // The state goes through a slot so a failed spawn can take it back.
        let slot = Arc::new(Mutex::new(Some(state)));
        let theirs = Arc::clone(&slot);
        let spawned = std::thread::Builder::new().name(format!("fold-{run_id}")).spawn(move || {
            let mut state =
                theirs.lock().unwrap_or_else(PoisonError::into_inner).take().expect("the state is put in before");
            let mut checkpointed = Instant::now();
            for (batch, log_end) in batches {
                state.fold(&id, &batch, log_end);
                if give_back.send(batch).is_err() {
                    break;
                }
                checkpoint_if_due(&state, &mut checkpointed, checkpoint_every, &path, &id);
            }
            state
        });
        match spawned {
            Ok(thread) => folder(None, Some(to_fold), Some(free), Some(thread)),
            Err(e) => {
                tracing::warn!(run = %run_id, error = %e, "cannot start the folding thread; folding on the drain thread");
                let state = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
                folder(state, None, None, None)
            }
        }
    }

    /// Hands over a written batch, which ends at run log offset `log_end`; returns an
    /// empty one to read the next into.
    pub(crate) fn fold(&mut self, batch: Batch, log_end: u64) -> Batch {
        if let Some(state) = self.inline.as_mut() {
            state.fold(&self.run_id, &batch, log_end);
            checkpoint_if_due(state, &mut self.checkpointed, self.checkpoint_every, &self.summary_path, &self.run_id);
            return batch;
        }
        let capacity = batch.capacity();
        let sent = self.to_fold.as_ref().is_some_and(|tx| tx.send((batch, log_end)).is_ok());
        match sent.then(|| self.free.as_ref().and_then(|free| free.recv().ok())).flatten() {
            Some(free) => free,
            None => {
                // The folder is gone (it panicked): keep draining; the
                // summary is what it had folded (reported at finish). Said once.
                if self.to_fold.take().is_some() {
                    tracing::error!(run = %self.run_id, "the folding thread stopped; the summary misses later records");
                }
                Batch::new(capacity)
            }
        }
    }

    /// Waits for every handed-over batch to be folded and returns the state.
    pub(crate) fn finish(mut self) -> Option<Folded> {
        if let Some(state) = self.inline.take() {
            return Some(state);
        }
        self.to_fold = None;
        let state = self.thread.take()?.join().ok();
        if state.is_none() {
            tracing::error!(run = %self.run_id, "the folding thread panicked: no summary for this run");
        }
        state
    }
}

#[cfg(test)]
mod tests {
    //! `skipping_superseded_rows_leaves_the_summary_unchanged` fails if
    //! `fold_summary_only` skips a record whose values are not set again. Checked by
    //! mutation, each failing it: ignoring the lane in the supersede test; comparing
    //! only the length of `Scalars` key lists; any `Scalar1` superseding any other;
    //! the key table learning a frame before the previous record is folded.
    use super::*;
    use ringlog_ring::{FullPolicy, HeapRun, Item, KeyDef, Logged, Summary, Value};

    fn folded() -> Folded {
        Folded { keys: KeyTable::new(), summary: SummaryState::new(), wandb: None }
    }

    /// Folds everything readable both ways (record by record, and skipping) and
    /// checks the two summaries agree.
    fn fold_both(consumer: &mut ringlog_ring::Consumer, each: &mut Folded, skipping: &mut Folded) -> usize {
        let mut batch = Batch::new(1 << 20);
        let mut frames = 0;
        while consumer.read_batch(&mut batch) > 0 {
            for f in batch.frames() {
                let rec = f.record();
                each.keys.observe(f.lane(), &rec);
                each.summary.observe(f.lane(), &rec, &each.keys);
                frames += 1;
            }
            each.summary.set_log_end(64);
            skipping.fold("run", &batch, 64);
            consumer.release();
            assert_eq!(skipping.summary.to_json(), each.summary.to_json());
            assert_eq!(skipping.summary.counts(), each.summary.counts());
        }
        frames
    }

    #[test]
    fn skipping_superseded_rows_leaves_the_summary_unchanged() {
        let run = HeapRun::new(1 << 20, 4).unwrap();
        let mut consumer = run.consumer().unwrap();
        let (mut each, mut skipping) = (folded(), folded());
        let mut a = run.claim(1, FullPolicy::default()).unwrap();
        let mut b = run.claim(2, FullPolicy::default()).unwrap();
        // Both lanes use ids 0..3, under different names.
        let ka: Vec<_> = ["a/0", "a/1", "a/2", "a/3", "a/4"].iter().map(|n| a.key(n).unwrap()).collect();
        let kb: Vec<_> = ["b/0", "b/1", "b/2"].iter().map(|n| b.key(n).unwrap()).collect();
        fold_both(&mut consumer, &mut each, &mut skipping);

        // Each lane's rows start and end with ids (1, 2): the last row of one lane
        // and the first of the next share ids, not keys.
        assert_eq!(a.log_scalars(0, &[(ka[1], 0.25), (ka[2], 0.75)]).unwrap(), Logged::Written);
        assert_eq!(b.log_scalars(0, &[(kb[1], 1.25), (kb[2], 1.75)]).unwrap(), Logged::Written);
        for step in 1..40 {
            let v = f64::from(step) * 0.5;
            assert_eq!(a.log_scalars(step.into(), &[(ka[0], v), (ka[1], v + 1.0)]).unwrap(), Logged::Written);
            if step % 7 == 3 {
                assert_eq!(a.log_scalars(step.into(), &[(ka[1], -v), (ka[2], v)]).unwrap(), Logged::Written);
            }
            if step == 20 {
                let s = Summary { ts_ns: 1, items: vec![Item { key: ka[0].0, value: Value::I64(7) }] };
                assert_eq!(a.log(&s).unwrap(), Logged::Written);
            }
            assert_eq!(a.log_scalar1(step.into(), ka[2], v * 3.0).unwrap(), Logged::Written);
            assert_eq!(a.log_scalar1(step.into(), ka[2], v * 4.0).unwrap(), Logged::Written);
            assert_eq!(
                b.log_scalars(step.into(), &[(kb[0], -v), (kb[1], v), (kb[2], 2.0 * v)]).unwrap(),
                Logged::Written
            );
        }
        // A row whose keys differ from the next row's, which has as many: its first
        // key is set by nothing after it (as a/4's Scalar1).
        assert_eq!(a.log_scalar1(45, ka[4], 55.0).unwrap(), Logged::Written);
        assert_eq!(a.log_scalar1(46, ka[2], 56.0).unwrap(), Logged::Written);
        assert_eq!(a.log_scalars(50, &[(ka[3], 100.0), (ka[1], 101.0)]).unwrap(), Logged::Written);
        assert_eq!(a.log_scalars(51, &[(ka[1], 102.0), (ka[2], 103.0)]).unwrap(), Logged::Written);
        // A key id renamed between two rows that set it: the first row's value
        // belongs to the old name.
        let fresh = b.key("b/fresh").unwrap();
        assert_eq!(b.log_scalar1(100, fresh, 1.5).unwrap(), Logged::Written);
        assert_eq!(b.log(&KeyDef { id: fresh.0, name: "b/renamed".into() }).unwrap(), Logged::Written);
        assert_eq!(b.log_scalar1(101, fresh, 2.5).unwrap(), Logged::Written);
        assert_eq!(b.log_scalars(102, &[(kb[1], 3.25), (kb[2], 3.75)]).unwrap(), Logged::Written);
        let frames = fold_both(&mut consumer, &mut each, &mut skipping);
        assert!(frames > 150, "{frames} frames");
        assert_eq!(skipping.summary.get("b/fresh"), Some(serde_json::json!(1.5)));
        assert_eq!(skipping.summary.get("a/0"), Some(serde_json::json!(7)));
        assert_eq!(skipping.summary.get("a/2"), Some(serde_json::json!(103.0)));
        assert_eq!(skipping.summary.get("a/3"), Some(serde_json::json!(100.0)));
        assert_eq!(skipping.summary.get("a/4"), Some(serde_json::json!(55.0)));
    }

    /// Folds a fixed set of records through a folder on its own thread or on the
    /// caller's; returns the final summary and the last checkpoint written.
    fn fold_through(on_thread: bool, every: Duration, name: &str) -> (serde_json::Value, String) {
        let run = HeapRun::new(1 << 16, 2).unwrap();
        let mut consumer = run.consumer().unwrap();
        let mut p = run.claim(1, FullPolicy::default()).unwrap();
        let keys: Vec<_> = ["loss", "acc", "lr"].iter().map(|n| p.key(n).unwrap()).collect();
        let dir = std::env::temp_dir().join(format!("ringlog-folder-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("summary.json");
        let mut folder = Folder::start_with("run", folded(), Batch::new(1 << 12), path.clone(), on_thread, every);
        let mut batch = Batch::new(1 << 12);
        for step in 0..3_000i64 {
            let v = step as f64 * 0.5;
            let logged = if step % 5 == 0 {
                p.log_scalar1(step, keys[2], -v)
            } else {
                p.log_scalars(step, &[(keys[0], v), (keys[1], v + 1.0)])
            };
            assert_eq!(logged.unwrap(), Logged::Written);
            // Small batches, so the folder sees many and checkpoints after each.
            if step % 97 == 0 {
                while consumer.read_batch(&mut batch) > 0 {
                    consumer.release();
                    batch = folder.fold(batch, step as u64);
                }
            }
        }
        while consumer.read_batch(&mut batch) > 0 {
            consumer.release();
            batch = folder.fold(batch, 3_000);
        }
        let state = folder.finish().expect("the folded state");
        let checkpoint = std::fs::read_to_string(&path).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        (state.summary.to_json(), checkpoint)
    }

    /// A folder on the drain thread (the service on one CPU) folds and checkpoints as
    /// the folding thread does: after each batch it folds, covering that batch (the last
    /// checkpoint names the log end 3,000). Fails if the inline folder skips its
    /// checkpoints, writes one before folding, or ignores the interval.
    #[test]
    fn an_inline_folder_folds_and_checkpoints_as_the_thread_does() {
        let (on_thread, thread_checkpoint) = fold_through(true, Duration::ZERO, "thread");
        let (inline, inline_checkpoint) = fold_through(false, Duration::ZERO, "inline");
        assert_eq!(inline, on_thread);
        assert_eq!(on_thread["loss"], serde_json::json!(1499.5));
        assert!(!inline_checkpoint.is_empty(), "the inline folder wrote no checkpoint");
        assert!(thread_checkpoint.contains("3000"), "{thread_checkpoint}");
        assert_eq!(inline_checkpoint, thread_checkpoint);
        // Not yet due: no checkpoint.
        let (_, none) = fold_through(false, Duration::from_secs(3600), "inline-later");
        assert!(none.is_empty(), "a checkpoint before its interval: {none}");
    }

    /// One CPU folds inline; two or more, or an unknown affinity, get the thread.
    #[test]
    fn only_a_one_cpu_service_folds_on_the_drain_thread() {
        assert!(!fold_on_a_thread(Some(1)));
        for cpus in [Some(2), Some(64), None] {
            assert!(fold_on_a_thread(cpus), "{cpus:?}");
        }
    }
}

//! Folds written batches into what the service learns from the records (key
//! names, the summary, the live W&B run) on a second thread per run, so the
//! drain thread's time per record is only read, validate, encode and write.
//!
//! The drain thread hands a batch over once its records are in the run log
//! and its lane space is released, and takes back an empty one to read the
//! next batch into. Two batches circulate: the drain thread waits for a free
//! one only when the folder is a whole batch behind, which bounds the folder's
//! lag (and its memory) to one batch. On a machine with a spare core (a
//! producer blocked on I/O, or the second core of two), the folding is free.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::export::key_table::KeyTable;
use crate::export::wandb_sink::WandbSink;
use crate::service::summary_state::SummaryState;
use ringlog_ring::Batch;

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
}

/// The folding thread of one run.
pub(crate) struct Folder {
    run_id: String,
    to_fold: Option<SyncSender<(Batch, u64)>>,
    free: Receiver<Batch>,
    thread: Option<JoinHandle<Folded>>,
    /// The state, while no thread runs it (it could not be started, or it died).
    inline: Option<Folded>,
}

impl Folder {
    /// Starts the thread with `state`; `spare` is the second batch buffer.
    /// Every [`CHECKPOINT_EVERY`] it writes the summary to `summary_path`.
    pub(crate) fn start(run_id: &str, state: Folded, spare: Batch, summary_path: PathBuf) -> Self {
        let (to_fold, batches) = sync_channel::<(Batch, u64)>(1);
        let (give_back, free) = sync_channel::<Batch>(2);
        // The spare starts free: the drain thread can read into it while the
        // folder works on the first batch.
        let _ = give_back.send(spare);
        let id = run_id.to_owned();
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
                if checkpointed.elapsed() >= CHECKPOINT_EVERY {
                    checkpointed = Instant::now();
                    if let Err(e) = state.summary.checkpoint(&summary_path) {
                        tracing::warn!(run = %id, error = %e, "cannot checkpoint the live summary");
                    }
                }
            }
            state
        });
        match spawned {
            Ok(thread) => {
                Self { run_id: run_id.to_owned(), to_fold: Some(to_fold), free, thread: Some(thread), inline: None }
            }
            Err(e) => {
                tracing::warn!(run = %run_id, error = %e, "cannot start the folding thread; folding on the drain thread");
                let inline = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
                Self { run_id: run_id.to_owned(), to_fold: None, free, thread: None, inline }
            }
        }
    }

    /// Hands over a written batch, which ends at run log offset `log_end`; returns an
    /// empty one to read the next into.
    pub(crate) fn fold(&mut self, batch: Batch, log_end: u64) -> Batch {
        if let Some(state) = self.inline.as_mut() {
            state.fold(&self.run_id, &batch, log_end);
            return batch;
        }
        let capacity = batch.capacity();
        let sent = self.to_fold.as_ref().is_some_and(|tx| tx.send((batch, log_end)).is_ok());
        match sent.then(|| self.free.recv().ok()).flatten() {
            Some(free) => free,
            None => {
                // The folder is gone (it panicked): keep draining; the
                // summary is what it had folded (reported at finish).
                tracing::error!(run = %self.run_id, "the folding thread stopped; the summary misses later records");
                self.to_fold = None;
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

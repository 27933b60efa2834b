//! A W&B writer on its own thread, fed rows in batches: the export of a finished run log
//! reads and merges on one core while the other encodes and writes.
//!
//! Encoding a history row (formatting each value as W&B's JSON text, two protobuf records,
//! framing, CRC) costs about as much as reading and merging it, so the two halves run in
//! parallel. Rows cross the thread boundary flattened, with key names as small ids (each
//! name sent once): an `Arc<str>` key shared by both threads would bounce its reference
//! count's cache line between the cores on every item. Everything else the sink writes
//! (config, output, alerts, stats, summaries) is rare and goes over as a call, in order with
//! the rows around it. Memory stays bounded: at most [`QUEUED_BATCHES`] batches of
//! [`BATCH_ROWS`] rows wait in the channel.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use ringlog_wandb::{MergedRow, WandbError, WandbValue, WandbWriter};

use crate::export::exporters::ExportError;

/// Rows per batch sent to the writer thread.
const BATCH_ROWS: usize = 1024;

/// Batches the channel holds before the reading side waits for the writer.
const QUEUED_BATCHES: usize = 4;

/// A call run on the writer thread, in order with the rows.
type Call = Box<dyn FnOnce(&mut WandbWriter) -> Result<(), WandbError> + Send>;

/// Rows flattened: per row its step, timestamp and item count; the items' key ids and values
/// in one list each, and the JSON text of each number or boolean (formatting it is a third
/// of the writer's work, so the reading side, which has time to spare, does it).
#[derive(Default)]
struct Batch {
    rows: Vec<(i64, u64, u32)>,
    keys: Vec<u32>,
    values: Vec<WandbValue>,
    /// The texts, one after another.
    json: Vec<u8>,
    /// Per item, where its text in `json` ends (an empty text: formatted by the writer);
    /// after a row's items, the ends of its `_runtime`, `_step` and `_timestamp` texts.
    json_ends: Vec<u32>,
}

enum Msg {
    /// Key names for the next ids, in id order.
    Names(Vec<Box<str>>),
    Rows(Batch),
    Call(Call),
}

/// The sending side of the writer thread.
pub(crate) struct WandbPipe {
    tx: Option<SyncSender<Msg>>,
    thread: Option<JoinHandle<Result<WandbWriter, ExportError>>>,
    batch: Batch,
    /// Key name → id, for every name sent so far.
    ids: HashMap<Arc<str>, u32, foldhash::fast::FixedState>,
    /// Names given ids since the last message.
    new_names: Vec<Box<str>>,
    /// Per item position, the key last seen there and its id.
    recent: Vec<(Arc<str>, u32)>,
    /// The run's start, for the rows' `_runtime`.
    start_time_unix_ns: u64,
}

impl std::fmt::Debug for WandbPipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WandbPipe").field("names", &self.ids.len()).finish_non_exhaustive()
    }
}

impl WandbPipe {
    /// Moves `writer` to a new thread.
    ///
    /// # Errors
    /// [`ExportError::Write`] if the thread cannot be started.
    pub(crate) fn start(writer: WandbWriter) -> Result<Self, ExportError> {
        let start_time_unix_ns = writer.start_time_unix_ns();
        let (tx, rx) = sync_channel(QUEUED_BATCHES);
        let thread = std::thread::Builder::new()
            .name("ringlog-wandb-writer".into())
            .spawn(move || run(writer, rx))
            .map_err(|source| ExportError::Write { format: "W&B", source })?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
            batch: Batch::default(),
            ids: HashMap::default(),
            new_names: Vec::new(),
            recent: Vec::new(),
            start_time_unix_ns,
        })
    }

    /// Queues one history row.
    ///
    /// # Errors
    /// The writer thread's error, once it has stopped on one.
    pub(crate) fn row(&mut self, row: MergedRow<WandbValue>) -> Result<(), ExportError> {
        let b = &mut self.batch;
        b.rows.push((row.step, row.timestamp_unix_ns, row.items.len() as u32));
        for (i, (key, value)) in row.items.into_iter().enumerate() {
            // A row usually has the keys of the row before, in the same order and as the
            // same `Arc`s: the id found for that position last time is checked by address
            // (the cache holds the `Arc`, so the address cannot be reused by another name).
            let id = match self.recent.get(i) {
                Some((k, id)) if Arc::ptr_eq(k, &key) => *id,
                _ => {
                    let id = match self.ids.get(&*key) {
                        Some(&id) => id,
                        None => {
                            let id = self.ids.len() as u32;
                            self.new_names.push(Box::from(&*key));
                            self.ids.insert(Arc::clone(&key), id);
                            id
                        }
                    };
                    match self.recent.get_mut(i) {
                        Some(slot) => *slot = (key, id),
                        None => self.recent.push((key, id)),
                    }
                    id
                }
            };
            b.keys.push(id);
            if matches!(value, WandbValue::F64(_) | WandbValue::I64(_) | WandbValue::Bool(_)) {
                value.write_json(&mut b.json);
            }
            // A batch's texts stay far below 4 GiB: 1,024 rows of short numbers.
            b.json_ends.push(b.json.len() as u32);
            b.values.push(value);
        }
        // The row's `_runtime`, `_step` and `_timestamp` texts, after its items' texts.
        let times = WandbWriter::row_time_json(self.start_time_unix_ns, row.step, row.timestamp_unix_ns, &mut b.json);
        b.json_ends.extend(times.map(|e| e as u32));
        if b.rows.len() >= BATCH_ROWS {
            self.send_rows()?;
        }
        Ok(())
    }

    /// Runs `f` on the writer after the rows queued before it.
    ///
    /// # Errors
    /// The writer thread's error, once it has stopped on one.
    pub(crate) fn call(
        &mut self,
        f: impl FnOnce(&mut WandbWriter) -> Result<(), WandbError> + Send + 'static,
    ) -> Result<(), ExportError> {
        self.send_rows()?;
        self.send(Msg::Call(Box::new(f)))
    }

    /// Sends what is queued, stops the thread and returns the writer.
    ///
    /// # Errors
    /// The writer thread's error.
    pub(crate) fn finish(mut self) -> Result<WandbWriter, ExportError> {
        let sent = self.send_rows();
        drop(self.tx.take());
        let joined = self.join();
        sent.and(joined)
    }

    fn send_rows(&mut self) -> Result<(), ExportError> {
        if !self.new_names.is_empty() {
            let names = std::mem::take(&mut self.new_names);
            self.send(Msg::Names(names))?;
        }
        if self.batch.rows.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        self.send(Msg::Rows(batch))
    }

    fn send(&mut self, msg: Msg) -> Result<(), ExportError> {
        let Some(tx) = &self.tx else { return Err(stopped()) };
        if tx.send(msg).is_ok() {
            return Ok(());
        }
        // The thread stopped on an error: that error is the answer.
        self.tx = None;
        self.join().map(|_| ()).and(Err(stopped()))
    }

    fn join(&mut self) -> Result<WandbWriter, ExportError> {
        let Some(thread) = self.thread.take() else { return Err(stopped()) };
        thread.join().unwrap_or_else(|_| {
            Err(ExportError::Write { format: "W&B", source: std::io::Error::other("the W&B writer thread panicked") })
        })
    }
}

impl Drop for WandbPipe {
    fn drop(&mut self) {
        // An export that returned early: let the thread see the end and wait for it, so no
        // write is still going on after the export returned.
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn stopped() -> ExportError {
    ExportError::Write { format: "W&B", source: std::io::Error::other("the W&B writer thread stopped") }
}

/// The writer thread: applies the messages in order; stops at the first error.
fn run(mut w: WandbWriter, rx: Receiver<Msg>) -> Result<WandbWriter, ExportError> {
    let mut names: Vec<Box<str>> = Vec::new();
    for msg in rx {
        match msg {
            Msg::Names(new) => names.extend(new),
            Msg::Rows(batch) => {
                let mut items: Vec<(&str, WandbValue)> = Vec::new();
                let mut texts: Vec<&[u8]> = Vec::new();
                let (mut keys, mut values) = (batch.keys.into_iter(), batch.values.into_iter());
                let mut ends = batch.json_ends.iter().map(|&e| e as usize);
                let mut start = 0;
                for (step, ts, n) in batch.rows {
                    items.clear();
                    for (key, value) in keys.by_ref().zip(values.by_ref()).take(n as usize) {
                        items.push((&names[key as usize], value));
                    }
                    // The items' texts, then the three time texts.
                    texts.clear();
                    for end in ends.by_ref().take(n as usize + 3) {
                        texts.push(&batch.json[start..end]);
                        start = end;
                    }
                    w.history_with_json(step, ts, &items, &texts)?;
                }
            }
            Msg::Call(f) => f(&mut w)?,
        }
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringlog_wandb::{Outcome, RunInfo};

    fn info() -> RunInfo {
        RunInfo {
            run_id: "pipe".into(),
            project: "p".into(),
            start_time_unix_ns: 1_700_000_000_000_000_000,
            ..Default::default()
        }
    }

    fn rows() -> impl Iterator<Item = MergedRow<WandbValue>> {
        let keys: Vec<Arc<str>> = ["loss", "acc", "lr", "日本/ü"].into_iter().map(Arc::from).collect();
        (0..5_000i64).map(move |step| MergedRow {
            step,
            timestamp_unix_ns: 1_700_000_000_000_000_000 + step as u64 * 1_000_003,
            // A key appears late (new names are sent mid-run) and rows vary in length.
            items: keys[..if step < 3_000 { 3 } else { 4 }]
                .iter()
                .enumerate()
                .map(|(i, k)| {
                    // Numbers, booleans (texts written by the sender) and strings (written by
                    // the writer) mixed, so a text that lands on the wrong item shows.
                    let value = match (i, step % 7) {
                        (1, 0) => WandbValue::Str(format!("s{step}")),
                        (1, 1) => WandbValue::I64(step << 40),
                        (2, 2) => WandbValue::Bool(step % 2 == 0),
                        _ => WandbValue::F64(step as f64 * 0.25 + i as f64),
                    };
                    (Arc::clone(k), value)
                })
                .collect(),
        })
    }

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ringlog-pipe-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// Rows and calls through the thread write the same file as the writer called directly
    /// (fails if rows are reordered, a batch or a name is lost, or a call overtakes rows).
    #[test]
    fn piped_file_equals_direct_file() {
        let (direct_dir, piped_dir) = (temp("direct"), temp("piped"));
        let mut direct = WandbWriter::create(&direct_dir, &info()).unwrap();
        let mut pipe = WandbPipe::start(WandbWriter::create(&piped_dir, &info()).unwrap()).unwrap();
        for row in rows() {
            if row.step == 2_500 {
                direct.output_line(ringlog_wandb::Stream::Stdout, 1, "half way").unwrap();
                pipe.call(|w| w.output_line(ringlog_wandb::Stream::Stdout, 1, "half way")).unwrap();
            }
            direct.history(row.step, row.timestamp_unix_ns, &row.items).unwrap();
            pipe.row(row).unwrap();
        }
        let outcome = Outcome::Exited { exit_code: 0, runtime_s: 5.0 };
        let a = direct.finish(outcome).unwrap();
        let b = pipe.finish().unwrap().finish(outcome).unwrap();
        let (a, b) = (std::fs::read(a.wandb_file).unwrap(), std::fs::read(b.wandb_file).unwrap());
        assert!(a.len() > 100_000);
        assert!(a == b, "the piped .wandb differs from the direct one");
        let _ = std::fs::remove_dir_all(&direct_dir);
        let _ = std::fs::remove_dir_all(&piped_dir);
    }

    /// A writer error on the thread comes back to the sender (at a later row, or at the
    /// latest at `finish`), and nothing waits forever.
    #[test]
    fn writer_errors_reach_the_sender() {
        let dir = temp("error");
        let mut pipe = WandbPipe::start(WandbWriter::create(&dir, &info()).unwrap()).unwrap();
        pipe.call(|_| Err(WandbError::EmptyKey)).unwrap();
        let mut seen = None;
        for row in rows() {
            if let Err(e) = pipe.row(row) {
                seen = Some(e);
                break;
            }
        }
        let e = match seen {
            Some(e) => e,
            None => pipe.finish().expect_err("the writer stopped on an error"),
        };
        assert!(matches!(&e, ExportError::Wandb(w) if matches!(**w, WandbError::EmptyKey)), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

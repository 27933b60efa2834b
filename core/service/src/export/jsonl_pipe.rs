//! The JSONL export's lines written on a second thread: the reading thread decodes the log
//! and finds each scalar record's line layout, the writer thread formats the numbers.
//!
//! Formatting the floats of a scalar line (about ten per `Scalars` row) is more than half of
//! the JSONL export's time, and reading is the rest, so the two halves run in parallel (the
//! W&B export does the same, `wandb_pipe`). Lines stay in log order: batches go to one
//! thread through a FIFO channel and come back formatted in the order sent, and the reading
//! thread writes them. Memory stays bounded: at most [`QUEUED_BATCHES`] batches of
//! [`BATCH_ROWS`] rows wait for the writer thread, and the reading thread writes what came
//! back each time it sends a batch.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

use crate::export::scalar_jsonl::{Layout, LineFormatter, ScalarLine};

/// Rows per batch sent to the writer thread.
const BATCH_ROWS: usize = 2048;

/// Batches the channel holds before the reading side waits for the writer.
const QUEUED_BATCHES: usize = 2;

/// One line of a batch.
enum Row {
    /// A scalar record: `layout` indexes [`Batch::layouts`], its `values` come next in
    /// [`Batch::values`].
    Scalar { layout: u32, lane: u16, step: i64, ts_ns: u64, values: u32 },
    /// A line the reading side wrote already (the general path), ending at `end` in
    /// [`Batch::text`].
    Text { end: usize },
}

/// Rows on their way to the writer thread.
#[derive(Default)]
struct Batch {
    rows: Vec<Row>,
    /// The layouts the rows use, each once per run of rows that share it.
    layouts: Vec<Arc<Layout>>,
    values: Vec<f64>,
    text: Vec<u8>,
}

impl Batch {
    fn clear(&mut self) {
        self.rows.clear();
        self.layouts.clear();
        self.values.clear();
        self.text.clear();
    }
}

/// The reading side of the writer thread.
pub(crate) struct JsonlPipe {
    tx: Option<SyncSender<(Batch, Vec<u8>)>>,
    done: Receiver<(Batch, Vec<u8>)>,
    thread: Option<JoinHandle<()>>,
    batch: Batch,
    /// Batches and line buffers back from the writer thread, for reuse.
    spare: Vec<(Batch, Vec<u8>)>,
    /// Batches sent and not yet written.
    in_flight: usize,
}

impl JsonlPipe {
    /// Starts the writer thread.
    ///
    /// # Errors
    /// The error of starting a thread.
    pub(crate) fn start() -> io::Result<Self> {
        let (tx, rx) = sync_channel(QUEUED_BATCHES);
        let (done_tx, done) = channel();
        let thread = std::thread::Builder::new().name("ringlog-jsonl-writer".into()).spawn(move || run(rx, done_tx))?;
        Ok(Self { tx: Some(tx), done, thread: Some(thread), batch: Batch::default(), spare: Vec::new(), in_flight: 0 })
    }

    /// Queues the line of a scalar record whose items hold `values`; writes to `out` the
    /// batches formatted so far.
    ///
    /// # Errors
    /// `out`'s write error.
    pub(crate) fn scalar(
        &mut self,
        line: ScalarLine,
        values: &[f64],
        out: &mut (impl Write + ?Sized),
    ) -> io::Result<()> {
        let b = &mut self.batch;
        if b.layouts.last().is_none_or(|last| !Arc::ptr_eq(last, &line.layout)) {
            b.layouts.push(line.layout);
        }
        b.values.extend_from_slice(values);
        b.rows.push(Row::Scalar {
            layout: (b.layouts.len() - 1) as u32,
            lane: line.lane,
            step: line.step,
            ts_ns: line.ts_ns,
            // A record holds at most a frame's worth of items.
            values: values.len() as u32,
        });
        self.send_if_full(out)
    }

    /// Queues a line that `write` appends to the buffer it is given (with its newline).
    ///
    /// # Errors
    /// `write`'s error, or `out`'s write error.
    pub(crate) fn text(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> io::Result<()>,
        out: &mut (impl Write + ?Sized),
    ) -> io::Result<()> {
        write(&mut self.batch.text)?;
        self.batch.rows.push(Row::Text { end: self.batch.text.len() });
        self.send_if_full(out)
    }

    /// Sends what is queued, writes every line to `out` and stops the thread.
    ///
    /// # Errors
    /// `out`'s write error, or the writer thread's panic as an error.
    pub(crate) fn finish(mut self, out: &mut (impl Write + ?Sized)) -> io::Result<()> {
        self.send(out)?;
        drop(self.tx.take());
        while self.in_flight > 0 {
            let (_, lines) = self.done.recv().map_err(|_| stopped())?;
            self.in_flight -= 1;
            out.write_all(&lines)?;
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Err(_)) => Err(stopped()),
            _ => Ok(()),
        }
    }

    fn send_if_full(&mut self, out: &mut (impl Write + ?Sized)) -> io::Result<()> {
        if self.batch.rows.len() >= BATCH_ROWS { self.send(out) } else { Ok(()) }
    }

    /// Sends the batch, then writes the batches that came back formatted.
    fn send(&mut self, out: &mut (impl Write + ?Sized)) -> io::Result<()> {
        if self.batch.rows.is_empty() {
            return Ok(());
        }
        let (next, lines) = self.spare.pop().unwrap_or_default();
        let batch = std::mem::replace(&mut self.batch, next);
        let tx = self.tx.as_ref().ok_or_else(stopped)?;
        tx.send((batch, lines)).map_err(|_| stopped())?;
        self.in_flight += 1;
        while let Ok((batch, lines)) = self.done.try_recv() {
            self.in_flight -= 1;
            out.write_all(&lines)?;
            self.spare.push((batch, lines));
        }
        Ok(())
    }
}

impl Drop for JsonlPipe {
    fn drop(&mut self) {
        // An export that stopped early (a write error): let the thread see the end and
        // wait for it.
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn stopped() -> io::Error {
    io::Error::other("the JSONL writer thread stopped")
}

/// The writer thread: formats each batch's lines, in order, and sends them back.
fn run(rx: Receiver<(Batch, Vec<u8>)>, done: Sender<(Batch, Vec<u8>)>) {
    let mut formatter = LineFormatter::default();
    for (mut batch, mut lines) in rx {
        lines.clear();
        let (mut value, mut text) = (0, 0);
        for row in &batch.rows {
            match *row {
                Row::Scalar { layout, lane, step, ts_ns, values } => {
                    let end = value + values as usize;
                    let layout = &batch.layouts[layout as usize];
                    formatter.write(&mut lines, layout, lane, step, ts_ns, &batch.values[value..end]);
                    value = end;
                }
                Row::Text { end } => {
                    lines.extend_from_slice(&batch.text[text..end]);
                    text = end;
                }
            }
        }
        batch.clear();
        if done.send((batch, lines)).is_err() {
            return;
        }
    }
}

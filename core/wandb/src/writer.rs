//! The streaming writer of one W&B offline run.
//!
//! Records go into an in-memory buffer that [`WandbWriter::flush`] hands to the kernel with
//! `write(2)`; the buffer is also written whenever it passes [`SPILL_BYTES`], so memory stays
//! constant however long the run is. Every write ends on a record boundary, so a reader
//! following the file (`wandb leet inspect --follow`) only ever sees whole records, and a
//! writer killed with SIGKILL leaves a file W&B reads up to the last write.
//!
//! Record order, as W&B writes it: header, run (with the config), then per step a summary
//! update followed by the history row, console output, stats and alerts as they come, and at
//! [`WandbWriter::finish`] a summary update of `_wandb.runtime` and the exit record. `num`
//! counts 1, 2, 3 ... over every record.

use crate::error::WandbError;
use crate::history_encoding::HistoryEncoder;
use crate::leveldb_log::RecordFramer;
use crate::proto::{
    AlertRecord, ConfigItem, ConfigRecord, HeaderRecord, OutputRawRecord, Record, RecordType, RunExitRecord, RunRecord,
    StatsItem, StatsRecord, SummaryItem, SummaryRecord, Timestamp, VersionInfo,
};
use crate::run_dir::RunDir;
use crate::run_files;
use crate::summary_state::SummaryState;
use crate::value::WandbValue;
use prost::Message;
use ringlog_ring::protocol::utc_time::UtcTime;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Buffered bytes past which a record call writes the buffer out without waiting for
/// [`WandbWriter::flush`].
pub const SPILL_BYTES: usize = 1 << 20;

/// The oldest W&B version W&B 0.31 says can read its files (its header's `min_consumer`).
const MIN_CONSUMER: &str = "0.70.0";

/// What the run is: W&B's run metadata and config.
///
/// # Examples
///
/// ```
/// use ringlog_wandb::{RunInfo, WandbValue};
/// let info = RunInfo {
///     run_id: "abc123".into(),
///     project: "demo".into(),
///     config: vec![("lr".into(), WandbValue::F64(3e-4))],
///     ..Default::default()
/// };
/// assert!(info.name.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunInfo {
    /// Run id: 1 to 128 ASCII letters, digits, `-` or `_` (W&B makes 8 lowercase letters and
    /// digits).
    pub run_id: String,
    /// Project name.
    pub project: String,
    /// Display name (empty: W&B picks one when the run is synced).
    pub name: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Group.
    pub group: String,
    /// Notes.
    pub notes: String,
    /// Host name.
    pub host: String,
    /// When the run started, in nanoseconds since the Unix epoch. `_runtime` counts from here.
    pub start_time_unix_ns: u64,
    /// Config keys and values.
    pub config: Vec<(String, WandbValue)>,
}

/// Which console stream a line came from.
///
/// # Examples
///
/// ```
/// assert_ne!(ringlog_wandb::Stream::Stdout, ringlog_wandb::Stream::Stderr);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Severity of an alert.
///
/// # Examples
///
/// ```
/// assert_eq!(ringlog_wandb::AlertLevel::Warn.as_str(), "WARN");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertLevel {
    /// `INFO`.
    Info,
    /// `WARN`.
    Warn,
    /// `ERROR`.
    Error,
}

impl AlertLevel {
    /// The level's name as W&B stores it.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ringlog_wandb::AlertLevel::Error.as_str(), "ERROR");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "INFO",
            Self::Warn => "WARN",
            Self::Error => "ERROR",
        }
    }
}

/// How the run ended.
///
/// W&B shows a run whose exit record has exit code 0 as *finished* and any other exit code as
/// *failed*; W&B's own Python client, when a script dies of an uncaught exception, writes exit
/// code 1. A file without an exit record shows as *running* (the run may still be writing);
/// W&B's server-side *crashed* state (a run that stopped sending heartbeats) has no
/// representation in an offline file.
///
/// # Examples
///
/// ```
/// use ringlog_wandb::Outcome;
/// assert_eq!(Outcome::Crashed { runtime_s: 1.0 }.exit_code(), 1);
/// assert_eq!(Outcome::Exited { exit_code: 0, runtime_s: 1.0 }.exit_code(), 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// The training process exited with `exit_code` (0: finished, other: failed).
    Exited {
        /// The process exit code.
        exit_code: i32,
        /// Runtime in seconds.
        runtime_s: f64,
    },
    /// The training process died (a signal, a lost heartbeat): written as exit code 1, which
    /// W&B shows as failed, like W&B's client does for a crashed script.
    Crashed {
        /// Runtime in seconds until the crash was noticed.
        runtime_s: f64,
    },
}

impl Outcome {
    /// The exit code written to the exit record.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ringlog_wandb::Outcome::Exited { exit_code: 3, runtime_s: 0.0 }.exit_code(), 3);
    /// ```
    pub fn exit_code(&self) -> i32 {
        match *self {
            Self::Exited { exit_code, .. } => exit_code,
            Self::Crashed { .. } => 1,
        }
    }

    /// The runtime in seconds.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ringlog_wandb::Outcome::Crashed { runtime_s: 2.5 }.runtime_s(), 2.5);
    /// ```
    pub fn runtime_s(&self) -> f64 {
        match *self {
            Self::Exited { runtime_s, .. } | Self::Crashed { runtime_s } => runtime_s,
        }
    }
}

/// Writes one W&B offline run, record by record, in constant memory.
///
/// # Examples
///
/// ```
/// use ringlog_wandb::{Outcome, RunInfo, Stream, WandbValue, WandbWriter};
/// let dir = std::env::temp_dir().join(format!("ringlog-wandb-doc-{}", std::process::id()));
/// let start = 1_796_137_118_000_000_000;
/// let info = RunInfo { run_id: "docrun1".into(), project: "demo".into(), start_time_unix_ns: start, ..Default::default() };
/// let mut w = WandbWriter::create(&dir, &info)?;
/// w.history(0, start + 1_000_000, &[("train/loss", WandbValue::F64(0.5)), ("lr", 3e-4.into())])?;
/// w.output_line(Stream::Stdout, start + 2_000_000, "epoch 0 done")?;
/// w.flush()?;
/// let run = w.finish(Outcome::Exited { exit_code: 0, runtime_s: 1.0 })?;
/// assert!(run.wandb_file.exists());
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), ringlog_wandb::WandbError>(())
/// ```
#[derive(Debug)]
pub struct WandbWriter {
    paths: RunDir,
    file: File,
    framer: RecordFramer,
    /// Framed records not yet written to `file`; always whole records.
    out: Vec<u8>,
    encoder: HistoryEncoder,
    /// Scratch for cold-path record payloads.
    record: Vec<u8>,
    next_num: i64,
    last_step: Option<i64>,
    start_time_unix_ns: u64,
    summary: SummaryState,
    output_log: std::io::BufWriter<File>,
    config: Vec<(String, WandbValue)>,
    host: String,
    /// Set by a failed write: the file may end in a partial record.
    poisoned: bool,
    /// Set once `finish` has run, so `Drop` leaves the file alone.
    finished: bool,
}

impl WandbWriter {
    /// Creates `out_dir/wandb/offline-run-YYYYMMDD_HHMMSS-<id>/` (see [`RunDir`]) with its
    /// `files/` and `logs/` directories, points `out_dir/wandb/latest-run` at it, and writes
    /// the header and run records (written to the file at the first flush).
    ///
    /// # Errors
    ///
    /// [`WandbError::InvalidRunId`], [`WandbError::CreateDir`], [`WandbError::AlreadyExists`]
    /// when the run's `.wandb` file exists, [`WandbError::Write`], and the key and JSON errors
    /// of [`Self::history`] for bad config entries.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringlog_wandb::{RunInfo, WandbWriter};
    /// let info = RunInfo { run_id: "no/slashes".into(), ..Default::default() };
    /// assert!(WandbWriter::create(std::env::temp_dir().as_path(), &info).is_err());
    /// ```
    pub fn create(out_dir: &Path, info: &RunInfo) -> Result<Self, WandbError> {
        RunDir::check_run_id(&info.run_id)?;
        for (key, value) in &info.config {
            check_key(key)?;
            check_value(key, value)?;
        }
        let paths = RunDir::layout(out_dir, &info.run_id, info.start_time_unix_ns);
        paths.create_dirs()?;
        let file = File::options().write(true).create_new(true).open(&paths.wandb_file).map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                WandbError::AlreadyExists { path: paths.wandb_file.clone() }
            } else {
                WandbError::Write { path: paths.wandb_file.clone(), source }
            }
        })?;
        let output_log_path = paths.files_dir.join("output.log");
        let output_log = File::create(&output_log_path)
            .map_err(|source| WandbError::Write { path: output_log_path.clone(), source })?;
        paths.link_latest();

        let mut out = Vec::with_capacity(SPILL_BYTES + 64 * 1024);
        let framer = RecordFramer::start_file(&mut out);
        let mut w = Self {
            paths,
            file,
            framer,
            out,
            encoder: HistoryEncoder::default(),
            record: Vec::new(),
            next_num: 1,
            last_step: None,
            start_time_unix_ns: info.start_time_unix_ns,
            summary: SummaryState::default(),
            output_log: std::io::BufWriter::new(output_log),
            config: info.config.clone(),
            host: info.host.clone(),
            poisoned: false,
            finished: false,
        };
        let producer = format!("ringlog-wandb {}", env!("CARGO_PKG_VERSION"));
        w.push_record(RecordType::Header(HeaderRecord {
            version_info: Some(VersionInfo { producer, min_consumer: MIN_CONSUMER.to_owned() }),
        }));
        // W&B's client always puts an empty `_wandb` entry first in the run's config.
        let mut update = vec![ConfigItem { key: "_wandb".into(), nested_key: vec![], value_json: "{}".into() }];
        update.extend(info.config.iter().map(|(key, value)| ConfigItem {
            key: key.clone(),
            nested_key: vec![],
            value_json: run_files::config_value_json(value),
        }));
        w.push_record(RecordType::Run(RunRecord {
            run_id: info.run_id.clone(),
            project: info.project.clone(),
            config: Some(ConfigRecord { update, remove: vec![] }),
            run_group: info.group.clone(),
            display_name: info.name.clone(),
            notes: info.notes.clone(),
            tags: info.tags.clone(),
            host: info.host.clone(),
            start_time: Some(Timestamp::from_unix_ns(info.start_time_unix_ns)),
            ..Default::default()
        }));
        Ok(w)
    }

    /// The run's paths.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let w: ringlog_wandb::WandbWriter = unimplemented!();
    /// println!("{}", w.paths().wandb_file.display());
    /// ```
    pub fn paths(&self) -> &RunDir {
        &self.paths
    }

    /// Number of records written so far (the last record's `num`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let w: ringlog_wandb::WandbWriter = unimplemented!();
    /// assert!(w.records() >= 2); // header and run
    /// ```
    pub fn records(&self) -> u64 {
        (self.next_num - 1) as u64
    }

    /// The file offset the next record will start at (bytes written plus bytes buffered).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let w: ringlog_wandb::WandbWriter = unimplemented!();
    /// let block_left = ringlog_wandb::BLOCK_SIZE as u64 - w.file_offset() % ringlog_wandb::BLOCK_SIZE as u64;
    /// ```
    pub fn file_offset(&self) -> u64 {
        self.framer.file_offset()
    }

    /// Logs one history row: the `items` plus W&B's `_step`, `_runtime` (seconds since the
    /// run's start) and `_timestamp` (seconds since the Unix epoch), written as a summary
    /// update followed by the history record, as W&B orders them.
    ///
    /// Keys are written as W&B writes them: a one-element `nested_key`, `/` included
    /// (`train/loss` stays `train/loss`; W&B's UI makes the `train` section from it). An
    /// [`WandbValue::F32Array`] becomes a histogram (`key._type`, `key.values`, `key.bins`).
    /// A key given twice in one call is written twice; readers keep the later value.
    ///
    /// # Errors
    ///
    /// [`WandbError::StepNotIncreasing`] unless `step` is greater than the previous row's
    /// step; [`WandbError::EmptyKey`]; [`WandbError::ReservedKey`] for `_step`, `_runtime`,
    /// `_timestamp` and `_wandb`; [`WandbError::InvalidJson`]; [`WandbError::Write`] when the
    /// buffer had to be written and that failed. Nothing is written for a rejected row.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ringlog_wandb::WandbValue;
    /// # let mut w: ringlog_wandb::WandbWriter = unimplemented!();
    /// w.history(10, 1_796_137_118_000_000_000, &[("loss", WandbValue::F64(0.25)), ("tokens", WandbValue::I64(1 << 40))])?;
    /// # Ok::<(), ringlog_wandb::WandbError>(())
    /// ```
    pub fn history<K: AsRef<str>>(
        &mut self,
        step: i64,
        timestamp_unix_ns: u64,
        items: &[(K, WandbValue)],
    ) -> Result<(), WandbError> {
        self.history_with_json(step, timestamp_unix_ns, items, &[])
    }

    /// [`history`](Self::history), with the JSON text of some values written already (on
    /// another thread, say): `json[i]`, when not empty, is used for item `i` in place of
    /// formatting its value again, and must be what [`WandbValue::write_json`] writes for
    /// it. It is used only for numbers and booleans; items past `json`'s end, and every
    /// other value, are formatted here. Three more entries past the items, when given, are
    /// the texts of the row's `_runtime`, `_step` and `_timestamp` (see
    /// [`row_time_json`](Self::row_time_json)).
    ///
    /// # Errors
    ///
    /// As [`history`](Self::history).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ringlog_wandb::WandbValue;
    /// # let mut w: ringlog_wandb::WandbWriter = unimplemented!();
    /// let loss = WandbValue::F64(0.25);
    /// let mut text = Vec::new();
    /// loss.write_json(&mut text);
    /// w.history_with_json(10, 1_796_137_118_000_000_000, &[("loss", loss)], &[&text])?;
    /// # Ok::<(), ringlog_wandb::WandbError>(())
    /// ```
    pub fn history_with_json<K: AsRef<str>>(
        &mut self,
        step: i64,
        timestamp_unix_ns: u64,
        items: &[(K, WandbValue)],
        json: &[&[u8]],
    ) -> Result<(), WandbError> {
        self.check_usable()?;
        if let Some(previous) = self.last_step
            && step <= previous
        {
            return Err(WandbError::StepNotIncreasing { step, previous });
        }
        for (key, value) in items {
            check_key(key.as_ref())?;
            check_value(key.as_ref(), value)?;
        }
        self.encoder.clear();
        self.summary.begin_step();
        let text = |i: usize| json.get(i).copied().unwrap_or_default();
        for (i, (key, value)) in items.iter().enumerate() {
            self.add_item(key.as_ref(), value, text(i));
        }
        let [runtime, step_value, timestamp] = Self::row_time_values(self.start_time_unix_ns, step, timestamp_unix_ns);
        let n = items.len();
        self.add_item("_runtime", &runtime, text(n));
        self.add_item("_step", &step_value, text(n + 1));
        self.add_item("_timestamp", &timestamp, text(n + 2));

        let num = self.next_num;
        self.framer.append_parts(&self.encoder.summary_parts(num), &mut self.out);
        self.framer.append_parts(&self.encoder.history_parts(num + 1, step), &mut self.out);
        self.next_num += 2;
        self.last_step = Some(step);
        self.spill_if_full()
    }

    /// The values of a row's `_runtime` (seconds since the run's start), `_step` and
    /// `_timestamp` (seconds since the Unix epoch).
    fn row_time_values(start_time_unix_ns: u64, step: i64, timestamp_unix_ns: u64) -> [WandbValue; 3] {
        let runtime_s = timestamp_unix_ns.saturating_sub(start_time_unix_ns) as f64 / 1e9;
        [WandbValue::F64(runtime_s), WandbValue::I64(step), WandbValue::F64(timestamp_unix_ns as f64 / 1e9)]
    }

    /// Appends to `out` the JSON texts of the `_runtime`, `_step` and `_timestamp` items of
    /// a row of a run that started at `start_time_unix_ns`, and returns where each ends in
    /// `out`: the three entries [`history_with_json`](Self::history_with_json) takes after
    /// the items.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut out = Vec::new();
    /// let ends = ringlog_wandb::WandbWriter::row_time_json(1_000_000_000, 7, 3_500_000_000, &mut out);
    /// assert_eq!(&out[..ends[0]], b"2.5");
    /// assert_eq!(&out[ends[0]..ends[1]], b"7");
    /// assert_eq!(&out[ends[1]..ends[2]], b"3.5");
    /// ```
    pub fn row_time_json(start_time_unix_ns: u64, step: i64, timestamp_unix_ns: u64, out: &mut Vec<u8>) -> [usize; 3] {
        let values = Self::row_time_values(start_time_unix_ns, step, timestamp_unix_ns);
        values.map(|v| {
            v.write_json(out);
            out.len()
        })
    }

    /// The run's start time (Unix ns), as given in its [`RunInfo`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let w: ringlog_wandb::WandbWriter = unimplemented!();
    /// let start_ns = w.start_time_unix_ns();
    /// ```
    pub fn start_time_unix_ns(&self) -> u64 {
        self.start_time_unix_ns
    }

    /// Encodes one item of the current step and makes it the key's summary value. Plain
    /// numbers and booleans take the fast path: the key's item head comes from its summary
    /// slot (one lookup serves both) and the value is formatted once, or not at all when
    /// `json` (not empty) holds its text already.
    fn add_item(&mut self, key: &str, value: &WandbValue, json: &[u8]) {
        match value {
            WandbValue::F64(_) | WandbValue::I64(_) | WandbValue::Bool(_) => {
                let slot = self.summary.slot(key);
                let head = self.summary.item_head(slot);
                if json.is_empty() {
                    self.encoder.add_plain(head, |out| value.write_json(out));
                } else {
                    self.encoder.add_plain_text(head, json);
                }
                self.summary.set_plain(slot, value.clone());
            }
            _ => {
                let summary = &mut self.summary;
                self.encoder.add(key, value, |part, json| summary.set(key, part, json));
            }
        }
    }

    /// Sets summary values, as `run.summary[key] = value` does: a summary record with the
    /// `items`, and the same keys in `files/wandb-summary.json` at [`Self::finish`] (until a
    /// later history row logs the key again).
    ///
    /// # Errors
    ///
    /// [`WandbError::EmptyKey`], [`WandbError::ReservedKey`], [`WandbError::InvalidJson`],
    /// [`WandbError::Write`] when the buffer had to be written and that failed. Nothing is
    /// written for a rejected update.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ringlog_wandb::WandbValue;
    /// # let mut w: ringlog_wandb::WandbWriter = unimplemented!();
    /// w.summary(&[("best/acc", WandbValue::F64(0.93))])?;
    /// # Ok::<(), ringlog_wandb::WandbError>(())
    /// ```
    pub fn summary(&mut self, items: &[(&str, WandbValue)]) -> Result<(), WandbError> {
        self.check_usable()?;
        for (key, value) in items {
            check_key(key)?;
            check_value(key, value)?;
        }
        if items.is_empty() {
            return Ok(());
        }
        self.encoder.clear();
        self.summary.begin_step();
        for (key, value) in items {
            self.add_item(key, value, &[]);
        }
        let num = self.next_num;
        self.framer.append_parts(&self.encoder.summary_parts(num), &mut self.out);
        self.next_num += 1;
        self.spill_if_full()
    }

    /// Updates the run's config after the start, as `wandb.config.update(...)` does: a config
    /// record with the `items`, and the same keys in `files/config.yaml` at
    /// [`Self::finish`] (a key given again replaces its earlier value).
    ///
    /// # Errors
    ///
    /// [`WandbError::EmptyKey`], [`WandbError::InvalidJson`], [`WandbError::Write`] when the
    /// buffer had to be written and that failed. Nothing is written for a rejected update.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ringlog_wandb::WandbValue;
    /// # let mut w: ringlog_wandb::WandbWriter = unimplemented!();
    /// w.config(&[("batch_size", WandbValue::I64(64))])?;
    /// # Ok::<(), ringlog_wandb::WandbError>(())
    /// ```
    pub fn config(&mut self, items: &[(&str, WandbValue)]) -> Result<(), WandbError> {
        self.check_usable()?;
        for (key, value) in items {
            if key.is_empty() {
                return Err(WandbError::EmptyKey);
            }
            check_value(key, value)?;
        }
        let update = items
            .iter()
            .map(|(key, value)| ConfigItem {
                key: (*key).to_owned(),
                nested_key: vec![],
                value_json: run_files::config_value_json(value),
            })
            .collect();
        self.push_record(RecordType::Config(ConfigRecord { update, remove: vec![] }));
        for (key, value) in items {
            match self.config.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value.clone(),
                None => self.config.push(((*key).to_owned(), value.clone())),
            }
        }
        self.spill_if_full()
    }

    /// Logs one line of console output (a newline is added), to the `.wandb` file and to
    /// `files/output.log`.
    ///
    /// # Errors
    ///
    /// [`WandbError::Write`] when the buffer had to be written and that failed.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let mut w: ringlog_wandb::WandbWriter = unimplemented!();
    /// w.output_line(ringlog_wandb::Stream::Stderr, 1_796_137_118_000_000_000, "warning: lr is high")?;
    /// # Ok::<(), ringlog_wandb::WandbError>(())
    /// ```
    pub fn output_line(&mut self, stream: Stream, timestamp_unix_ns: u64, line: &str) -> Result<(), WandbError> {
        self.check_usable()?;
        let mut text = String::with_capacity(line.len() + 1);
        text.push_str(line);
        text.push('\n');
        self.push_record(RecordType::OutputRaw(OutputRawRecord {
            output_type: match stream {
                Stream::Stdout => OutputRawRecord::STDOUT,
                Stream::Stderr => OutputRawRecord::STDERR,
            },
            timestamp: Some(Timestamp::from_unix_ns(timestamp_unix_ns)),
            line: text,
        }));
        let log_path = &self.paths.files_dir;
        self.output_log
            .write_all(line.as_bytes())
            .and_then(|()| self.output_log.write_all(b"\n"))
            .map_err(|source| WandbError::Write { path: log_path.join("output.log"), source })?;
        self.spill_if_full()
    }

    /// Logs an alert.
    ///
    /// # Errors
    ///
    /// [`WandbError::Write`] when the buffer had to be written and that failed.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let mut w: ringlog_wandb::WandbWriter = unimplemented!();
    /// w.alert("loss is NaN", "step 1200", ringlog_wandb::AlertLevel::Error)?;
    /// # Ok::<(), ringlog_wandb::WandbError>(())
    /// ```
    pub fn alert(&mut self, title: &str, text: &str, level: AlertLevel) -> Result<(), WandbError> {
        self.check_usable()?;
        self.push_record(RecordType::Alert(AlertRecord {
            title: title.to_owned(),
            text: text.to_owned(),
            level: level.as_str().to_owned(),
            wait_duration: 0,
        }));
        self.spill_if_full()
    }

    /// Logs one sample of system metrics (W&B's names: `cpu`, `memory_percent`,
    /// `gpu.0.gpu`, ...).
    ///
    /// # Errors
    ///
    /// [`WandbError::Write`] when the buffer had to be written and that failed.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let mut w: ringlog_wandb::WandbWriter = unimplemented!();
    /// w.stats(1_796_137_118_000_000_000, &[("cpu", 12.5), ("memory_percent", 40.0)])?;
    /// # Ok::<(), ringlog_wandb::WandbError>(())
    /// ```
    pub fn stats(&mut self, timestamp_unix_ns: u64, items: &[(&str, f64)]) -> Result<(), WandbError> {
        self.check_usable()?;
        let item = items
            .iter()
            .map(|(key, v)| {
                let mut json = Vec::new();
                crate::value::write_f64(&mut json, *v);
                // write_f64 emits ASCII only.
                StatsItem { key: (*key).to_owned(), value_json: String::from_utf8(json).unwrap_or_default() }
            })
            .collect();
        self.push_record(RecordType::Stats(StatsRecord {
            stats_type: 0,
            timestamp: Some(Timestamp::from_unix_ns(timestamp_unix_ns)),
            item,
        }));
        self.spill_if_full()
    }

    /// Writes everything buffered to the file with `write(2)` (no fsync), and flushes
    /// `files/output.log`. After it returns, readers of the file see every record logged so
    /// far.
    ///
    /// # Errors
    ///
    /// [`WandbError::Write`]; after a failed write every later call returns
    /// [`WandbError::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let mut w: ringlog_wandb::WandbWriter = unimplemented!();
    /// w.flush()?;
    /// # Ok::<(), ringlog_wandb::WandbError>(())
    /// ```
    pub fn flush(&mut self) -> Result<(), WandbError> {
        self.check_usable()?;
        self.write_out()?;
        let path = self.paths.files_dir.join("output.log");
        self.output_log.flush().map_err(|source| WandbError::Write { path, source })
    }

    /// Ends the run: a summary update of `_wandb.runtime`, the exit record, the side files
    /// (`files/wandb-summary.json`, `files/config.yaml`, `files/wandb-metadata.json`), and an
    /// fsync of every file and of the run directory. Returns the run's paths.
    ///
    /// # Errors
    ///
    /// [`WandbError::Write`] or [`WandbError::Poisoned`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let w: ringlog_wandb::WandbWriter = unimplemented!();
    /// let paths = w.finish(ringlog_wandb::Outcome::Crashed { runtime_s: 12.0 })?;
    /// # Ok::<(), ringlog_wandb::WandbError>(())
    /// ```
    pub fn finish(mut self, outcome: Outcome) -> Result<RunDir, WandbError> {
        self.check_usable()?;
        let runtime_s = outcome.runtime_s();
        // Whole seconds, as W&B's int32 fields hold them; NaN and negatives become 0.
        let runtime_int =
            if runtime_s.is_finite() && runtime_s > 0.0 { runtime_s.min(i32::MAX as f64) as i32 } else { 0 };
        self.push_record(RecordType::Summary(SummaryRecord {
            update: vec![SummaryItem {
                key: String::new(),
                nested_key: vec!["_wandb".into(), "runtime".into()],
                value_json: runtime_int.to_string(),
            }],
            remove: vec![],
        }));
        self.push_record(RecordType::Exit(RunExitRecord { exit_code: outcome.exit_code(), runtime: runtime_int }));
        self.write_out()?;
        let wandb_file = self.paths.wandb_file.clone();
        self.file.sync_all().map_err(|source| WandbError::Write { path: wandb_file, source })?;
        let log_path = self.paths.files_dir.join("output.log");
        self.output_log
            .flush()
            .and_then(|()| self.output_log.get_ref().sync_all())
            .map_err(|source| WandbError::Write { path: log_path, source })?;

        let mut summary = Vec::new();
        self.summary.write_json(i64::from(runtime_int), &mut summary);
        write_synced(&self.paths.files_dir.join("wandb-summary.json"), &summary)?;
        write_synced(&self.paths.files_dir.join("config.yaml"), &run_files::config_yaml(&self.config))?;
        let started = UtcTime::from_unix_ns(self.start_time_unix_ns).rfc3339();
        write_synced(
            &self.paths.files_dir.join("wandb-metadata.json"),
            &run_files::metadata_json(&self.host, &started),
        )?;
        for dir in [&self.paths.files_dir, &self.paths.run_dir, &self.paths.wandb_dir] {
            sync_dir(dir)?;
        }
        self.finished = true;
        Ok(self.paths.clone())
    }

    /// Encodes a cold-path record with `prost` and frames it.
    fn push_record(&mut self, record_type: RecordType) {
        let record = Record { num: self.next_num, record_type: Some(record_type) };
        self.next_num += 1;
        self.record.clear();
        // Encoding into a Vec cannot run out of space.
        let _ = record.encode(&mut self.record);
        self.framer.append(&self.record, &mut self.out);
    }

    fn check_usable(&self) -> Result<(), WandbError> {
        if self.poisoned { Err(WandbError::Poisoned { path: self.paths.wandb_file.clone() }) } else { Ok(()) }
    }

    fn spill_if_full(&mut self) -> Result<(), WandbError> {
        if self.out.len() >= SPILL_BYTES { self.write_out() } else { Ok(()) }
    }

    fn write_out(&mut self) -> Result<(), WandbError> {
        if self.out.is_empty() {
            return Ok(());
        }
        if let Err(source) = self.file.write_all(&self.out) {
            self.poisoned = true;
            return Err(WandbError::Write { path: self.paths.wandb_file.clone(), source });
        }
        self.out.clear();
        Ok(())
    }
}

impl Drop for WandbWriter {
    /// A writer dropped without [`WandbWriter::finish`] writes what it buffered (best effort)
    /// and leaves the run without an exit record, which W&B shows as still running.
    fn drop(&mut self) {
        if !self.finished && !self.poisoned {
            let _ = self.write_out();
            let _ = self.output_log.flush();
        }
    }
}

/// Keys W&B keeps for itself: a history row or summary may not set them.
///
/// # Examples
/// ```
/// assert!(ringlog_wandb::RESERVED_KEYS.contains(&"_step"));
/// ```
pub const RESERVED_KEYS: [&str; 4] = ["_step", "_runtime", "_timestamp", "_wandb"];

fn check_key(key: &str) -> Result<(), WandbError> {
    if key.is_empty() {
        return Err(WandbError::EmptyKey);
    }
    if key.starts_with('_') && RESERVED_KEYS.contains(&key) {
        return Err(WandbError::ReservedKey(key.to_owned()));
    }
    Ok(())
}

fn check_value(key: &str, value: &WandbValue) -> Result<(), WandbError> {
    if let WandbValue::Json(text) = value
        && let Err(e) = serde_json::from_str::<serde_json::Value>(text)
    {
        return Err(WandbError::InvalidJson { key: key.to_owned(), reason: e.to_string() });
    }
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), WandbError> {
    let to_err = |source| WandbError::Write { path: path.to_path_buf(), source };
    let mut f = File::create(path).map_err(to_err)?;
    f.write_all(bytes).map_err(to_err)?;
    f.sync_all().map_err(to_err)
}

fn sync_dir(dir: &PathBuf) -> Result<(), WandbError> {
    // Directories can be opened and fsynced on Unix; elsewhere this is a no-op.
    #[cfg(unix)]
    {
        let to_err = |source| WandbError::Write { path: dir.clone(), source };
        File::open(dir).map_err(to_err)?.sync_all().map_err(to_err)?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

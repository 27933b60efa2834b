//! The subset of W&B's `wandb_internal.Record` protobuf that this crate writes.
//!
//! Hand-written `prost` messages (no `protoc`), with W&B's own field numbers. Every number was
//! checked against the descriptors shipped in `wandb==0.31.0` (`wandb/proto/wandb_internal_pb2`).
//! Fields this crate never sets are left out; protobuf readers skip what a message lacks, and
//! this writer never needs to read W&B-written records back.
//!
//! The hot path (history and summary records) does not build these structs: it encodes the
//! same bytes directly (see `history_encoding.rs`), and its tests decode those bytes with these
//! types.

/// `google.protobuf.Timestamp`: seconds and nanoseconds since the Unix epoch.
///
/// # Examples
///
/// ```
/// use ringlog_wandb::proto::Timestamp;
/// let t = Timestamp::from_unix_ns(1_500_000_000);
/// assert_eq!((t.seconds, t.nanos), (1, 500_000_000));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Timestamp {
    /// Whole seconds since the Unix epoch (field 1).
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second, 0..1e9 (field 2).
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// The timestamp of `unix_ns` nanoseconds since the Unix epoch.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringlog_wandb::proto::Timestamp;
    /// assert_eq!(Timestamp::from_unix_ns(0), Timestamp { seconds: 0, nanos: 0 });
    /// ```
    pub fn from_unix_ns(unix_ns: u64) -> Self {
        // u64 nanoseconds / 1e9 always fits in i64; the remainder is below 1e9 and fits in i32.
        Self { seconds: (unix_ns / 1_000_000_000) as i64, nanos: (unix_ns % 1_000_000_000) as i32 }
    }
}

/// `wandb_internal.Record`: one record of a `.wandb` file.
///
/// # Examples
///
/// ```
/// use prost::Message;
/// use ringlog_wandb::proto::{Record, RecordType, RunExitRecord};
/// let rec = Record { num: 7, record_type: Some(RecordType::Exit(RunExitRecord { exit_code: 0, runtime: 3 })) };
/// let bytes = rec.encode_to_vec();
/// assert_eq!(Record::decode(bytes.as_slice()).unwrap(), rec);
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct Record {
    /// Record number: 1, 2, 3 ... over every record of the file (field 1).
    #[prost(int64, tag = "1")]
    pub num: i64,
    /// What the record holds (the `record_type` oneof).
    #[prost(oneof = "RecordType", tags = "2, 3, 5, 7, 10, 13, 17, 18, 21")]
    pub record_type: Option<RecordType>,
}

/// The `record_type` oneof of [`Record`], with W&B's field numbers.
///
/// # Examples
///
/// ```
/// use ringlog_wandb::proto::{RecordType, HeaderRecord};
/// let header = RecordType::Header(HeaderRecord::default());
/// assert!(matches!(header, RecordType::Header(_)));
/// ```
#[allow(clippy::large_enum_variant, reason = "cold-path records, built once each; the hot path never builds these")]
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum RecordType {
    /// A history row (field 2).
    #[prost(message, tag = "2")]
    History(HistoryRecord),
    /// A summary update (field 3).
    #[prost(message, tag = "3")]
    Summary(SummaryRecord),
    /// A config update (field 5).
    #[prost(message, tag = "5")]
    Config(ConfigRecord),
    /// System metrics (field 7).
    #[prost(message, tag = "7")]
    Stats(StatsRecord),
    /// An alert (field 10).
    #[prost(message, tag = "10")]
    Alert(AlertRecord),
    /// Console output (field 13).
    #[prost(message, tag = "13")]
    OutputRaw(OutputRawRecord),
    /// Run metadata (field 17).
    #[prost(message, tag = "17")]
    Run(RunRecord),
    /// The run's exit (field 18).
    #[prost(message, tag = "18")]
    Exit(RunExitRecord),
    /// The file's header record (field 21).
    #[prost(message, tag = "21")]
    Header(HeaderRecord),
}

/// `wandb_internal.HeaderRecord`: the first record of a file.
///
/// # Examples
///
/// ```
/// use ringlog_wandb::proto::{HeaderRecord, VersionInfo};
/// let h = HeaderRecord { version_info: Some(VersionInfo { producer: "x".into(), min_consumer: "0.70.0".into() }) };
/// assert_eq!(h.version_info.unwrap().min_consumer, "0.70.0");
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct HeaderRecord {
    /// Who wrote the file and the oldest reader that understands it (field 1).
    #[prost(message, optional, tag = "1")]
    pub version_info: Option<VersionInfo>,
}

/// `wandb_internal.VersionInfo`.
///
/// # Examples
///
/// ```
/// let v = ringlog_wandb::proto::VersionInfo::default();
/// assert!(v.producer.is_empty());
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionInfo {
    /// The writer's name and version (field 1).
    #[prost(string, tag = "1")]
    pub producer: String,
    /// The oldest W&B version that reads the file (field 2).
    #[prost(string, tag = "2")]
    pub min_consumer: String,
}

/// `wandb_internal.RunRecord`: the run's identity and metadata.
///
/// # Examples
///
/// ```
/// let r = ringlog_wandb::proto::RunRecord { run_id: "abc".into(), ..Default::default() };
/// assert_eq!(r.run_id, "abc");
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct RunRecord {
    /// Run id, the `<id>` of the directory name (field 1).
    #[prost(string, tag = "1")]
    pub run_id: String,
    /// Entity (user or team); empty lets `wandb sync` use the default (field 2).
    #[prost(string, tag = "2")]
    pub entity: String,
    /// Project name (field 3).
    #[prost(string, tag = "3")]
    pub project: String,
    /// The run's config (field 4).
    #[prost(message, optional, tag = "4")]
    pub config: Option<ConfigRecord>,
    /// Run group (field 6).
    #[prost(string, tag = "6")]
    pub run_group: String,
    /// Job type (field 7).
    #[prost(string, tag = "7")]
    pub job_type: String,
    /// Display name (field 8).
    #[prost(string, tag = "8")]
    pub display_name: String,
    /// Notes (field 9).
    #[prost(string, tag = "9")]
    pub notes: String,
    /// Tags (field 10).
    #[prost(string, repeated, tag = "10")]
    pub tags: Vec<String>,
    /// Host name (field 13).
    #[prost(string, tag = "13")]
    pub host: String,
    /// When the run started (field 17).
    #[prost(message, optional, tag = "17")]
    pub start_time: Option<Timestamp>,
    /// Runtime in seconds (field 20).
    #[prost(int32, tag = "20")]
    pub runtime: i32,
}

/// `wandb_internal.ConfigRecord`.
///
/// # Examples
///
/// ```
/// use ringlog_wandb::proto::{ConfigItem, ConfigRecord};
/// let c = ConfigRecord { update: vec![ConfigItem { key: "lr".into(), nested_key: vec![], value_json: "0.1".into() }], remove: vec![] };
/// assert_eq!(c.update.len(), 1);
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct ConfigRecord {
    /// Keys set (field 1).
    #[prost(message, repeated, tag = "1")]
    pub update: Vec<ConfigItem>,
    /// Keys removed (field 2).
    #[prost(message, repeated, tag = "2")]
    pub remove: Vec<ConfigItem>,
}

/// `wandb_internal.ConfigItem`: one config key and its JSON value.
///
/// # Examples
///
/// ```
/// let i = ringlog_wandb::proto::ConfigItem { key: "lr".into(), nested_key: vec![], value_json: "0.1".into() };
/// assert_eq!(i.value_json, "0.1");
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct ConfigItem {
    /// Flat key (field 1); W&B's run record uses this form for config.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Key path (field 2), used instead of `key` for nested keys.
    #[prost(string, repeated, tag = "2")]
    pub nested_key: Vec<String>,
    /// The value as JSON text, with W&B's `NaN`/`Infinity` extensions (field 16).
    #[prost(string, tag = "16")]
    pub value_json: String,
}

/// `wandb_internal.SummaryRecord`.
///
/// # Examples
///
/// ```
/// let s = ringlog_wandb::proto::SummaryRecord::default();
/// assert!(s.update.is_empty());
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryRecord {
    /// Keys set (field 1).
    #[prost(message, repeated, tag = "1")]
    pub update: Vec<SummaryItem>,
    /// Keys removed (field 2).
    #[prost(message, repeated, tag = "2")]
    pub remove: Vec<SummaryItem>,
}

/// `wandb_internal.SummaryItem`: same shape (and field numbers) as [`HistoryItem`].
///
/// # Examples
///
/// ```
/// let i = ringlog_wandb::proto::SummaryItem { key: String::new(), nested_key: vec!["loss".into()], value_json: "1".into() };
/// assert_eq!(i.nested_key, ["loss"]);
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryItem {
    /// Flat key (field 1).
    #[prost(string, tag = "1")]
    pub key: String,
    /// Key path (field 2).
    #[prost(string, repeated, tag = "2")]
    pub nested_key: Vec<String>,
    /// JSON value (field 16).
    #[prost(string, tag = "16")]
    pub value_json: String,
}

/// `wandb_internal.HistoryRecord`: one history row.
///
/// # Examples
///
/// ```
/// use ringlog_wandb::proto::{HistoryRecord, HistoryStep};
/// let h = HistoryRecord { item: vec![], step: Some(HistoryStep { num: 3 }) };
/// assert_eq!(h.step.unwrap().num, 3);
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct HistoryRecord {
    /// The row's values (field 1).
    #[prost(message, repeated, tag = "1")]
    pub item: Vec<HistoryItem>,
    /// The row's step (field 2). W&B always sets it, even for step 0.
    #[prost(message, optional, tag = "2")]
    pub step: Option<HistoryStep>,
}

/// `wandb_internal.HistoryStep`.
///
/// # Examples
///
/// ```
/// assert_eq!(ringlog_wandb::proto::HistoryStep { num: 1 }.num, 1);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct HistoryStep {
    /// Step number (field 1).
    #[prost(int64, tag = "1")]
    pub num: i64,
}

/// `wandb_internal.HistoryItem`: one key and its JSON value.
///
/// W&B 0.31 writes every history item with `nested_key` (one element for a plain key, even one
/// holding `/`; two for a field of a logged object such as a histogram) and leaves `key` empty.
///
/// # Examples
///
/// ```
/// let i = ringlog_wandb::proto::HistoryItem { key: String::new(), nested_key: vec!["train/loss".into()], value_json: "0.5".into() };
/// assert_eq!(i.nested_key.len(), 1);
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct HistoryItem {
    /// Flat key (field 1).
    #[prost(string, tag = "1")]
    pub key: String,
    /// Key path (field 2).
    #[prost(string, repeated, tag = "2")]
    pub nested_key: Vec<String>,
    /// JSON value (field 16).
    #[prost(string, tag = "16")]
    pub value_json: String,
}

/// `wandb_internal.OutputRawRecord`: a piece of console output.
///
/// # Examples
///
/// ```
/// use ringlog_wandb::proto::OutputRawRecord;
/// let o = OutputRawRecord { output_type: OutputRawRecord::STDOUT, timestamp: None, line: "hi\n".into() };
/// assert_eq!(o.output_type, 1);
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct OutputRawRecord {
    /// [`Self::STDERR`] (0) or [`Self::STDOUT`] (1) (field 1, enum `OutputType`).
    #[prost(int32, tag = "1")]
    pub output_type: i32,
    /// When the output was written (field 2).
    #[prost(message, optional, tag = "2")]
    pub timestamp: Option<Timestamp>,
    /// The text (field 3).
    #[prost(string, tag = "3")]
    pub line: String,
}

impl OutputRawRecord {
    /// `OutputType.STDERR`.
    pub const STDERR: i32 = 0;
    /// `OutputType.STDOUT`.
    pub const STDOUT: i32 = 1;
}

/// `wandb_internal.RunExitRecord`: how the run ended.
///
/// # Examples
///
/// ```
/// let e = ringlog_wandb::proto::RunExitRecord { exit_code: 1, runtime: 10 };
/// assert_eq!(e.exit_code, 1);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct RunExitRecord {
    /// Process exit code; non-zero shows the run as failed (field 1).
    #[prost(int32, tag = "1")]
    pub exit_code: i32,
    /// Runtime in whole seconds (field 2).
    #[prost(int32, tag = "2")]
    pub runtime: i32,
}

/// `wandb_internal.StatsRecord`: one sample of system metrics.
///
/// # Examples
///
/// ```
/// let s = ringlog_wandb::proto::StatsRecord::default();
/// assert_eq!(s.stats_type, 0);
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct StatsRecord {
    /// `StatsType`: only `SYSTEM` (0) exists (field 1).
    #[prost(int32, tag = "1")]
    pub stats_type: i32,
    /// When the sample was taken (field 2).
    #[prost(message, optional, tag = "2")]
    pub timestamp: Option<Timestamp>,
    /// The metrics (field 3).
    #[prost(message, repeated, tag = "3")]
    pub item: Vec<StatsItem>,
}

/// `wandb_internal.StatsItem`.
///
/// # Examples
///
/// ```
/// let i = ringlog_wandb::proto::StatsItem { key: "cpu".into(), value_json: "12".into() };
/// assert_eq!(i.key, "cpu");
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct StatsItem {
    /// Metric name, e.g. `cpu` or `gpu.0.gpu` (field 1).
    #[prost(string, tag = "1")]
    pub key: String,
    /// JSON value (field 16).
    #[prost(string, tag = "16")]
    pub value_json: String,
}

/// `wandb_internal.AlertRecord`.
///
/// # Examples
///
/// ```
/// let a = ringlog_wandb::proto::AlertRecord { title: "t".into(), text: "x".into(), level: "WARN".into(), wait_duration: 0 };
/// assert_eq!(a.level, "WARN");
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct AlertRecord {
    /// Title (field 1).
    #[prost(string, tag = "1")]
    pub title: String,
    /// Body (field 2).
    #[prost(string, tag = "2")]
    pub text: String,
    /// `INFO`, `WARN` or `ERROR` (field 3).
    #[prost(string, tag = "3")]
    pub level: String,
    /// Seconds to wait before sending the same alert again (field 4).
    #[prost(int64, tag = "4")]
    pub wait_duration: i64,
}

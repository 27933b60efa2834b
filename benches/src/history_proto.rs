//! W&B-shaped protobuf messages for the `uds-protobuf` peer, declared with
//! `prost::Message` derives (no protoc).
//!
//! They mirror the subset of `wandb_internal.Record` that a `run.log` call
//! produces, with W&B's field numbers: `Record{num = 1, history = 2}`,
//! `HistoryRecord{item = 1, step = 2}`, `HistoryItem{key = 1, nested_key = 2,
//! value_json = 16}`, `HistoryStep{num = 1}`. Values travel as JSON text, as
//! W&B sends them.

/// `wandb_internal.Record`, reduced to what a history record uses.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WandbRecord {
    /// Record number.
    #[prost(int64, tag = "1")]
    pub num: i64,
    /// The history payload.
    #[prost(message, optional, tag = "2")]
    pub history: Option<HistoryRecord>,
}

/// `wandb_internal.HistoryRecord`: one logged step.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HistoryRecord {
    /// The metrics of this step.
    #[prost(message, repeated, tag = "1")]
    pub item: Vec<HistoryItem>,
    /// The step.
    #[prost(message, optional, tag = "2")]
    pub step: Option<HistoryStep>,
}

/// `wandb_internal.HistoryItem`: one metric, its value as JSON text.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HistoryItem {
    /// Metric name, e.g. `train/loss`.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Nested key path (unused here, as for flat keys in W&B).
    #[prost(string, repeated, tag = "2")]
    pub nested_key: Vec<String>,
    /// The value, JSON-encoded.
    #[prost(string, tag = "16")]
    pub value_json: String,
}

/// `wandb_internal.HistoryStep`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HistoryStep {
    /// Step number.
    #[prost(int64, tag = "1")]
    pub num: i64,
}

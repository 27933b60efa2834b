//! Records as JSON: the value mapping every exporter shares, and [`Row`], one
//! record with its key ids resolved to names.
//!
//! Values map the way W&B writes them: a finite float is a JSON number, a
//! non-finite one the string `"NaN"`, `"Infinity"` or `"-Infinity"` (JSON has
//! no such numbers); a float array is an array of numbers; JSON text is the
//! document it holds, or the text as a string if it does not parse.

use serde_json::{Map, Value as Json};

use crate::export::key_table::KeyTable;
use ringlog_ring::record::schema::{
    ArchivedAlertLevel, ArchivedItem, ArchivedStream, ArchivedValue, RecordKind, RecordRef,
};

/// Key of a row's step in exported history objects.
pub const STEP_FIELD: &str = "_step";
/// Key of a row's timestamp (Unix seconds, a float) in exported history objects.
pub const TIMESTAMP_FIELD: &str = "_timestamp";
/// Key of a row's lane in exported history objects.
pub const LANE_FIELD: &str = "_lane";

/// A float as JSON: a number when finite, else `"NaN"`, `"Infinity"` or `"-Infinity"`.
///
/// # Examples
/// ```
/// use ringlog_service::f64_json;
/// assert_eq!(f64_json(0.5), serde_json::json!(0.5));
/// assert_eq!(f64_json(f64::NEG_INFINITY), serde_json::json!("-Infinity"));
/// ```
pub fn f64_json(v: f64) -> Json {
    match serde_json::Number::from_f64(v) {
        Some(n) => Json::Number(n),
        None if v.is_nan() => Json::String("NaN".into()),
        None if v > 0.0 => Json::String("Infinity".into()),
        None => Json::String("-Infinity".into()),
    }
}

/// A logged value as JSON.
///
/// # Examples
/// ```
/// use ringlog_ring::Value;
/// use ringlog_service::value_json;
/// let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&Value::Json(r#"{"a":[1,2]}"#.into()))?;
/// let archived = rkyv::access::<ringlog_ring::record::schema::ArchivedValue, rkyv::rancor::Error>(&bytes)?;
/// assert_eq!(value_json(archived), serde_json::json!({"a": [1, 2]}));
///
/// let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&Value::F64(f64::NAN))?;
/// let archived = rkyv::access::<ringlog_ring::record::schema::ArchivedValue, rkyv::rancor::Error>(&bytes)?;
/// assert_eq!(value_json(archived), serde_json::json!("NaN"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn value_json(v: &ArchivedValue) -> Json {
    match v {
        ArchivedValue::F64(x) => f64_json(x.to_native()),
        ArchivedValue::I64(x) => Json::from(x.to_native()),
        ArchivedValue::Bool(b) => Json::Bool(*b),
        ArchivedValue::Str(s) => Json::String(s.as_str().to_owned()),
        ArchivedValue::F32Array(a) => Json::Array(a.iter().map(|x| f64_json(f64::from(x.to_native()))).collect()),
        ArchivedValue::Json(text) => {
            // serde_json bounds nesting depth, so hostile text cannot overflow the stack.
            serde_json::from_str(text.as_str()).unwrap_or_else(|_| Json::String(text.as_str().to_owned()))
        }
    }
}

/// One record with its key ids resolved: a history row, a summary or config
/// update, a system stats sample, an output line, an alert or the exit.
///
/// `values` holds, per kind:
/// - `Scalar1`, `Scalars`, `History`, `Summary`, `Config`, `Stats`: key name → value
///   (a key logged twice in one record keeps its last value);
/// - `Output`: `{"stream": "stdout" | "stderr", "line": ...}`;
/// - `Alert`: `{"level": "info" | "warn" | "error", "title": ..., "text": ...}`;
/// - `Exit`: `{"exit_code": ...}`.
///
/// # Examples
/// ```
/// use ringlog_ring::record::schema as record;
/// use ringlog_ring::{RecordKind, Scalar1};
/// use ringlog_service::{KeyTable, row};
/// let s = Scalar1 { ts_ns: 1_500_000_000, step: 3, value: 0.25, key: 0, reserved: 0 };
/// let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&s)?;
/// let rec = record::check(RecordKind::Scalar1, 1, &bytes)?;
/// let r = row(2, &rec, &KeyTable::new()).unwrap();
/// assert_eq!((r.kind, r.lane, r.step), (RecordKind::Scalar1, 2, Some(3)));
/// assert!(r.is_history());
/// assert_eq!(r.timestamp_secs(), 1.5);
/// assert_eq!(r.values["key#0@lane2"], 0.25);
/// assert_eq!(serde_json::Value::Object(r.into_json_object()), serde_json::json!({
///     "_step": 3, "_timestamp": 1.5, "_lane": 2, "key#0@lane2": 0.25,
/// }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Kind of the record the row came from.
    pub kind: RecordKind,
    /// Lane the record was logged on.
    pub lane: u16,
    /// Training step, for history rows.
    pub step: Option<i64>,
    /// Timestamp, Unix nanoseconds.
    pub ts_ns: u64,
    /// The values (see the type's docs).
    pub values: Map<String, Json>,
}

impl Row {
    /// Whether the row is a history row (from `Scalar1`, `Scalars` or `History`).
    ///
    /// # Examples
    /// See [`Row`].
    pub fn is_history(&self) -> bool {
        is_history(self.kind)
    }

    /// The timestamp in Unix seconds.
    ///
    /// # Examples
    /// See [`Row`].
    pub fn timestamp_secs(&self) -> f64 {
        self.ts_ns as f64 / 1e9
    }

    /// The row as one flat JSON object: `_step` (when the row has one),
    /// `_timestamp` (Unix seconds) and `_lane`, then the values. These three
    /// names are reserved: a logged key with one of them is shadowed.
    ///
    /// # Examples
    /// See [`Row`].
    pub fn into_json_object(self) -> Map<String, Json> {
        let timestamp = f64_json(self.timestamp_secs());
        let mut obj = self.values;
        if let Some(step) = self.step {
            obj.insert(STEP_FIELD.into(), Json::from(step));
        }
        obj.insert(TIMESTAMP_FIELD.into(), timestamp);
        obj.insert(LANE_FIELD.into(), Json::from(self.lane));
        obj
    }
}

/// Whether records of `kind` are history rows (`Scalar1`, `Scalars`, `History`).
pub(crate) fn is_history(kind: RecordKind) -> bool {
    matches!(kind, RecordKind::Scalar1 | RecordKind::Scalars | RecordKind::History)
}

/// The [`Row`] of `rec`, read from lane `lane`, with key ids resolved by `keys`
/// (undefined ids as [`unknown_key_name`](crate::unknown_key_name)); `None`
/// for a key definition, which is no row.
///
/// # Examples
/// See [`Row`].
pub fn row(lane: u16, rec: &RecordRef<'_>, keys: &KeyTable) -> Option<Row> {
    let mut values = Map::new();
    let (kind, step, ts_ns) = match rec {
        RecordRef::KeyDef(_) => return None,
        RecordRef::Scalar1(s) => {
            values.insert(keys.resolve(lane, s.key.to_native()).into_owned(), f64_json(s.value.to_native()));
            (RecordKind::Scalar1, Some(s.step.to_native()), s.ts_ns.to_native())
        }
        RecordRef::Scalars(s) => {
            for item in s.items.iter() {
                values.insert(keys.resolve(lane, item.key.to_native()).into_owned(), f64_json(item.value.to_native()));
            }
            (RecordKind::Scalars, Some(s.step.to_native()), s.ts_ns.to_native())
        }
        RecordRef::History(h) => {
            insert_items(&mut values, lane, h.items.as_slice(), keys);
            (RecordKind::History, Some(h.step.to_native()), h.ts_ns.to_native())
        }
        RecordRef::Summary(s) => {
            insert_items(&mut values, lane, s.items.as_slice(), keys);
            (RecordKind::Summary, None, s.ts_ns.to_native())
        }
        RecordRef::Config(c) => {
            insert_items(&mut values, lane, c.items.as_slice(), keys);
            (RecordKind::Config, None, c.ts_ns.to_native())
        }
        RecordRef::Stats(s) => {
            insert_items(&mut values, lane, s.items.as_slice(), keys);
            (RecordKind::Stats, None, s.ts_ns.to_native())
        }
        RecordRef::Output(o) => {
            let stream = match o.stream {
                ArchivedStream::Stdout => "stdout",
                ArchivedStream::Stderr => "stderr",
            };
            values.insert("stream".into(), Json::from(stream));
            values.insert("line".into(), Json::from(o.line.as_str()));
            (RecordKind::Output, None, o.ts_ns.to_native())
        }
        RecordRef::Alert(a) => {
            let level = match a.level {
                ArchivedAlertLevel::Info => "info",
                ArchivedAlertLevel::Warn => "warn",
                ArchivedAlertLevel::Error => "error",
            };
            values.insert("level".into(), Json::from(level));
            values.insert("title".into(), Json::from(a.title.as_str()));
            values.insert("text".into(), Json::from(a.text.as_str()));
            (RecordKind::Alert, None, a.ts_ns.to_native())
        }
        RecordRef::Exit(e) => {
            values.insert("exit_code".into(), Json::from(e.exit_code.to_native()));
            (RecordKind::Exit, None, e.ts_ns.to_native())
        }
    };
    Some(Row { kind, lane, step, ts_ns, values })
}

fn insert_items(values: &mut Map<String, Json>, lane: u16, items: &[ArchivedItem], keys: &KeyTable) {
    for item in items {
        values.insert(keys.resolve(lane, item.key.to_native()).into_owned(), value_json(&item.value));
    }
}

//! Logged values as [`WandbValue`]s, the value type of merged and downsampled history rows
//! (every export format downsamples the same rows), and back to JSON for JSONL and CSV.
//!
//! The mapping is exact: `F64` → `F64` (NaN and ±infinity kept), `I64` → `I64` (no rounding
//! through `f64`), `Bool` → `Bool`, `Str` → `Str`, `F32Array` → `F32Array` (a histogram in
//! W&B), `Json` → `Json` when the text parses as JSON, else `Str` with the text (the JSONL
//! export shows such text as a string too, see [`value_json`](crate::value_json)).

use ringlog_ring::record::schema::ArchivedValue;
use ringlog_wandb::WandbValue;
use serde_json::Value as Json;

use crate::export::record_json::f64_json;

/// A logged value as a [`WandbValue`].
///
/// # Examples
/// ```
/// use ringlog_ring::Value;
/// use ringlog_wandb::WandbValue;
/// let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&Value::I64(1 << 60))?;
/// let archived = rkyv::access::<ringlog_ring::record::schema::ArchivedValue, rkyv::rancor::Error>(&bytes)?;
/// assert_eq!(ringlog_service::wandb_value(archived), WandbValue::I64(1 << 60));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn wandb_value(v: &ArchivedValue) -> WandbValue {
    match v {
        ArchivedValue::F64(x) => WandbValue::F64(x.to_native()),
        ArchivedValue::I64(x) => WandbValue::I64(x.to_native()),
        ArchivedValue::Bool(b) => WandbValue::Bool(*b),
        ArchivedValue::Str(s) => WandbValue::Str(s.as_str().to_owned()),
        ArchivedValue::F32Array(a) => WandbValue::F32Array(a.iter().map(|x| x.to_native()).collect()),
        ArchivedValue::Json(text) => {
            let text = text.as_str();
            if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
                WandbValue::Json(text.to_owned())
            } else {
                WandbValue::Str(text.to_owned())
            }
        }
    }
}

/// A [`WandbValue`] as JSON, exactly as [`value_json`](crate::value_json) maps the logged
/// value it came from (non-finite floats as `"NaN"`, `"Infinity"`, `"-Infinity"`).
///
/// # Examples
/// ```
/// use ringlog_wandb::WandbValue;
/// use ringlog_service::wandb_value_json;
/// assert_eq!(wandb_value_json(&WandbValue::F64(f64::NAN)), serde_json::json!("NaN"));
/// assert_eq!(wandb_value_json(&WandbValue::Json("[1,2]".into())), serde_json::json!([1, 2]));
/// ```
pub fn wandb_value_json(v: &WandbValue) -> Json {
    match v {
        WandbValue::F64(x) => f64_json(*x),
        WandbValue::I64(x) => Json::from(*x),
        WandbValue::Bool(b) => Json::Bool(*b),
        WandbValue::Str(s) => Json::String(s.clone()),
        WandbValue::F32Array(a) => Json::Array(a.iter().map(|x| f64_json(f64::from(*x))).collect()),
        WandbValue::Json(text) => serde_json::from_str(text).unwrap_or_else(|_| Json::String(text.clone())),
    }
}

/// Heap bytes a value holds beyond its own size (for the reorder window's memory bound).
pub(crate) fn heap_bytes(v: &WandbValue) -> usize {
    match v {
        WandbValue::Str(s) | WandbValue::Json(s) => s.len(),
        WandbValue::F32Array(a) => a.len() * 4,
        WandbValue::F64(_) | WandbValue::I64(_) | WandbValue::Bool(_) => 0,
    }
}

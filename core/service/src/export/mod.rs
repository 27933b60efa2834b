//! Reading run logs back: JSONL, CSV and summary exports, listings, `tail`.

pub mod exporters;
pub mod key_table;
pub mod record_json;

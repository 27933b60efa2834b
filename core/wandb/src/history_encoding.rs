//! Direct protobuf encoding of the hot-path records: a step's summary update and history row.
//!
//! Building `prost` structs for every step would allocate two `String`s per item; instead the
//! items are encoded once into a reused buffer and that buffer becomes the body of both the
//! `SummaryRecord` (items as `update`, field 1) and the `HistoryRecord` (items as `item`,
//! field 1, plus `step`, field 2): `SummaryItem` and `HistoryItem` have the same fields
//! (`key`=1, `nested_key`=2, `value_json`=16). The bytes are the ones `prost` writes for the
//! same values; the tests decode them with the [`crate::proto`] types.
//!
//! Items are written the way `wandb-core` 0.31 writes them: the key path in `nested_key`, `key`
//! empty. A plain key is a one-element path even when it holds `/` (`train/loss` stays one
//! element; W&B's UI groups on `/` by itself); a histogram is three items with the paths
//! `[key, "_type"]`, `[key, "values"]` and `[key, "bins"]`.

use crate::histogram::Histogram;
use crate::value::WandbValue;

/// Tag of `Record.num` (field 1, varint).
const RECORD_NUM_TAG: u8 = 1 << 3;
/// Tag of `Record.history` (field 2, length-delimited).
const RECORD_HISTORY_TAG: u8 = (2 << 3) | 2;
/// Tag of `Record.summary` (field 3, length-delimited).
const RECORD_SUMMARY_TAG: u8 = (3 << 3) | 2;
/// Tag of `HistoryRecord.item` / `SummaryRecord.update` (field 1, length-delimited).
const ITEM_TAG: u8 = (1 << 3) | 2;
/// Tag of `HistoryRecord.step` (field 2, length-delimited).
const HISTORY_STEP_TAG: u8 = (2 << 3) | 2;
/// Tag of `HistoryStep.num` (field 1, varint).
const STEP_NUM_TAG: u8 = 1 << 3;
/// Tag of `*Item.nested_key` (field 2, length-delimited).
const NESTED_KEY_TAG: u8 = (2 << 3) | 2;
/// Tag of `*Item.value_json` (field 16, length-delimited): varint 130 = 0x82 0x01.
const VALUE_JSON_TAG: [u8; 2] = [0x82, 0x01];

/// Appends `v` as a protobuf varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Number of bytes `put_varint` writes for `v`.
pub(crate) fn varint_len(v: u64) -> usize {
    // 1 byte per started group of 7 bits, at least 1.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// The constant bytes of a plain item of `key` (a one-element key path): the `nested_key`
/// tag, length and bytes, then the `value_json` tag. [`HistoryEncoder::add_plain`] writes an
/// item from these and the value's text; the summary state keeps them per key.
pub(crate) fn plain_item_head(key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 8);
    out.push(NESTED_KEY_TAG);
    put_varint(&mut out, key.len() as u64);
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(&VALUE_JSON_TAG);
    out
}

/// Reused buffers for encoding one step's items and records.
#[derive(Debug, Default)]
pub(crate) struct HistoryEncoder {
    /// The encoded items of the current step (`item`/`update` entries with their tags).
    items: Vec<u8>,
    /// Scratch for one value's JSON text.
    value: Vec<u8>,
    /// Scratch for one record's payload.
    record: Vec<u8>,
}

impl HistoryEncoder {
    /// Starts a new step: forgets the previous step's items.
    pub(crate) fn clear(&mut self) {
        self.items.clear();
    }

    /// Adds one user item. `on_value` sees the key path suffix (`None` for a plain value,
    /// `Some("_type")` etc. for histogram parts) and the JSON text, for the summary state.
    pub(crate) fn add(&mut self, key: &str, value: &WandbValue, mut on_value: impl FnMut(Option<&str>, &[u8])) {
        match value {
            WandbValue::F32Array(values) => {
                let h = Histogram::from_f32(values);
                self.value.clear();
                self.value.extend_from_slice(b"\"histogram\"");
                Self::item(&mut self.items, &[key, "_type"], &self.value);
                on_value(Some("_type"), &self.value);
                self.value.clear();
                h.write_values(&mut self.value);
                Self::item(&mut self.items, &[key, "values"], &self.value);
                on_value(Some("values"), &self.value);
                self.value.clear();
                h.write_bins(&mut self.value);
                Self::item(&mut self.items, &[key, "bins"], &self.value);
                on_value(Some("bins"), &self.value);
            }
            other => {
                self.value.clear();
                other.write_json(&mut self.value);
                Self::item(&mut self.items, &[key], &self.value);
                on_value(None, &self.value);
            }
        }
    }

    /// Adds a plain item from its key's [`plain_item_head`] and the JSON text `write`
    /// appends: the same bytes as [`add`](Self::add) of a one-element key path.
    pub(crate) fn add_plain(&mut self, head: &[u8], write: impl FnOnce(&mut Vec<u8>)) {
        let mut json = std::mem::take(&mut self.value);
        json.clear();
        write(&mut json);
        self.add_plain_text(head, &json);
        self.value = json;
    }

    /// [`add_plain`](Self::add_plain) of a value whose JSON text is `json`.
    pub(crate) fn add_plain_text(&mut self, head: &[u8], json: &[u8]) {
        let body = head.len() + varint_len(json.len() as u64) + json.len();
        self.items.reserve(1 + varint_len(body as u64) + body);
        self.items.push(ITEM_TAG);
        put_varint(&mut self.items, body as u64);
        self.items.extend_from_slice(head);
        put_varint(&mut self.items, json.len() as u64);
        self.items.extend_from_slice(json);
    }

    fn item(out: &mut Vec<u8>, path: &[&str], json: &[u8]) {
        let mut body = 2 + varint_len(json.len() as u64) + json.len();
        for p in path {
            body += 1 + varint_len(p.len() as u64) + p.len();
        }
        out.push(ITEM_TAG);
        put_varint(out, body as u64);
        for p in path {
            out.push(NESTED_KEY_TAG);
            put_varint(out, p.len() as u64);
            out.extend_from_slice(p.as_bytes());
        }
        out.extend_from_slice(&VALUE_JSON_TAG);
        put_varint(out, json.len() as u64);
        out.extend_from_slice(json);
    }

    /// The payload of `Record{num, summary: SummaryRecord{update: <items>}}` (the tests check
    /// these bytes against `prost`'s).
    #[cfg(test)]
    pub(crate) fn summary_record(&mut self, num: i64) -> &[u8] {
        let [head, items] = self.summary_parts(num);
        let joined = [head, items].concat();
        self.record = joined;
        &self.record
    }

    /// [`summary_record`](Self::summary_record) as the parts to join: the record's head
    /// and the items (for [`RecordFramer::append_parts`](crate::RecordFramer::append_parts),
    /// which frames them without copying the items twice).
    pub(crate) fn summary_parts(&mut self, num: i64) -> [&[u8]; 2] {
        self.record.clear();
        self.record.push(RECORD_NUM_TAG);
        put_varint(&mut self.record, num as u64);
        self.record.push(RECORD_SUMMARY_TAG);
        put_varint(&mut self.record, self.items.len() as u64);
        [&self.record, &self.items]
    }

    /// The payload of `Record{num, history: HistoryRecord{item: <items>, step: {num: step}}}`.
    #[cfg(test)]
    pub(crate) fn history_record(&mut self, num: i64, step: i64) -> &[u8] {
        let [head, items, tail] = self.history_parts(num, step);
        let joined = [head, items, tail].concat();
        self.record = joined;
        &self.record
    }

    /// [`history_record`](Self::history_record) as the parts to join: the record's head,
    /// the items and the step.
    pub(crate) fn history_parts(&mut self, num: i64, step: i64) -> [&[u8]; 3] {
        // HistoryStep{num}: empty for step 0 (proto3 default), as W&B writes it.
        let step_body = if step == 0 { 0 } else { 1 + varint_len(step as u64) };
        let history_len = self.items.len() + 1 + varint_len(step_body as u64) + step_body;
        self.record.clear();
        self.record.push(RECORD_NUM_TAG);
        put_varint(&mut self.record, num as u64);
        self.record.push(RECORD_HISTORY_TAG);
        put_varint(&mut self.record, history_len as u64);
        let head_len = self.record.len();
        self.record.push(HISTORY_STEP_TAG);
        put_varint(&mut self.record, step_body as u64);
        if step != 0 {
            self.record.push(STEP_NUM_TAG);
            put_varint(&mut self.record, step as u64);
        }
        let (head, tail) = self.record.split_at(head_len);
        [head, &self.items, tail]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{HistoryItem, HistoryRecord, HistoryStep, Record, RecordType, SummaryItem, SummaryRecord};
    use prost::Message;

    fn item(path: &[&str], json: &str) -> HistoryItem {
        HistoryItem {
            key: String::new(),
            nested_key: path.iter().map(|s| s.to_string()).collect(),
            value_json: json.into(),
        }
    }

    #[test]
    fn varint_len_matches_encoding() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u32::MAX as u64, u64::MAX, (-1i64) as u64] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
            assert_eq!(out.len(), prost::encoding::encoded_len_varint(v));
        }
    }

    #[test]
    fn bytes_equal_what_prost_writes() {
        for step in [0i64, 1, 300, -5, i64::MAX] {
            let mut enc = HistoryEncoder::default();
            enc.add("train/loss", &WandbValue::F64(0.5), |_, _| {});
            enc.add("日本", &WandbValue::Str("ü".into()), |_, _| {});
            enc.add("h", &WandbValue::F32Array(vec![1.0, 2.0]), |_, _| {});
            enc.add_plain(&plain_item_head("_step"), |out| crate::value::write_i64(out, step));
            let long_key = "k".repeat(300);
            enc.add(&long_key, &WandbValue::I64(1 << 60), |_, _| {});
            let items =
                [item(&["train/loss"], "0.5"), item(&["日本"], "\"ü\""), item(&["h", "_type"], "\"histogram\"")];
            // The histogram's values/bins text is checked in histogram.rs; the expected record
            // takes those two items from the decode and compares every byte of the rest.
            let history = enc.history_record(7, step).to_vec();
            let decoded = Record::decode(history.as_slice()).expect("decodes");
            let Some(RecordType::History(h)) = &decoded.record_type else { panic!("not history") };
            assert_eq!(decoded.num, 7);
            assert_eq!(h.step, Some(HistoryStep { num: step }));
            assert_eq!(h.item[..3], items[..3]);
            assert_eq!(h.item[3].nested_key, ["h", "values"]);
            assert_eq!(h.item[5], item(&["_step"], &step.to_string()));
            assert_eq!(h.item[6], item(&[&long_key], "1152921504606846976"));
            let want = Record {
                num: 7,
                record_type: Some(RecordType::History(HistoryRecord {
                    item: h.item.clone(),
                    step: Some(HistoryStep { num: step }),
                })),
            };
            assert_eq!(history, want.encode_to_vec(), "step {step}");

            let summary = enc.summary_record(6).to_vec();
            let want = Record {
                num: 6,
                record_type: Some(RecordType::Summary(SummaryRecord {
                    update: h
                        .item
                        .iter()
                        .map(|i| SummaryItem {
                            key: i.key.clone(),
                            nested_key: i.nested_key.clone(),
                            value_json: i.value_json.clone(),
                        })
                        .collect(),
                    remove: vec![],
                })),
            };
            assert_eq!(summary, want.encode_to_vec());
        }
    }
}

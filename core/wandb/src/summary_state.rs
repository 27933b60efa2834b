//! The run's summary: the latest value of every key, for `files/wandb-summary.json`.
//!
//! Memory grows with the number of distinct keys, never with the number of steps. A step
//! usually logs the same keys in the same order as the step before, so each key's slot is
//! first looked up at the position it had last time (a string compare), and only on a miss in
//! the hash map. The slot also holds the key's encoded item head, so a history row encodes
//! each plain item with one lookup and one copy (see `WandbWriter::history`).

use std::collections::HashMap;

use crate::value::WandbValue;

/// The latest value of a key. Plain numbers are kept as numbers and formatted once, at
/// [`SummaryState::write_json`]: a history row sets every key of the row, and formatting each
/// value a second time (or copying its text) per row cost more than the row's encoding.
#[derive(Debug)]
enum Latest {
    /// JSON text (strings, histograms, JSON values).
    Json(Vec<u8>),
    /// A float, integer or boolean, written with [`WandbValue::write_json`].
    Plain(WandbValue),
}

/// One key's summary slot.
#[derive(Debug)]
struct Entry {
    key: String,
    latest: Latest,
    /// The key's constant item bytes for a plain (one-element path) value: `nested_key`
    /// (tag, length, key) then the `value_json` tag; see [`SummaryState::item_head`].
    item_head: Vec<u8>,
}

/// Latest value per key, in first-seen key order.
#[derive(Debug, Default)]
pub(crate) struct SummaryState {
    /// Slot index of each key in `entries`.
    slots: HashMap<String, usize>,
    entries: Vec<Entry>,
    /// Slot of the key seen at each item position of the previous step.
    recent: Vec<usize>,
    /// Item position within the current step.
    cursor: usize,
}

impl SummaryState {
    /// Starts a new step (resets the position used by the lookup cache).
    pub(crate) fn begin_step(&mut self) {
        self.cursor = 0;
    }

    /// The slot of `key`, created on first sight; advances the step's item position.
    pub(crate) fn slot(&mut self, key: &str) -> usize {
        if let Some(&slot) = self.recent.get(self.cursor)
            && self.entries[slot].key == key
        {
            self.cursor += 1;
            return slot;
        }
        let slot = match self.slots.get(key) {
            Some(&slot) => slot,
            None => {
                let item_head = crate::history_encoding::plain_item_head(key);
                self.entries.push(Entry { key: key.to_owned(), latest: Latest::Json(Vec::new()), item_head });
                self.slots.insert(key.to_owned(), self.entries.len() - 1);
                self.entries.len() - 1
            }
        };
        if self.cursor < self.recent.len() {
            self.recent[self.cursor] = slot;
        } else {
            self.recent.push(slot);
        }
        self.cursor += 1;
        slot
    }

    /// The constant item bytes of `slot`'s key for a plain value (see
    /// [`plain_item_head`](crate::history_encoding::plain_item_head)).
    pub(crate) fn item_head(&self, slot: usize) -> &[u8] {
        &self.entries[slot].item_head
    }

    /// Records `v`, a float, integer or boolean, as the latest value of `slot`'s key.
    pub(crate) fn set_plain(&mut self, slot: usize, v: WandbValue) {
        debug_assert!(matches!(v, WandbValue::F64(_) | WandbValue::I64(_) | WandbValue::Bool(_)));
        self.entries[slot].latest = Latest::Plain(v);
    }

    /// The JSON text buffer of `slot`, emptied (reusing its allocation when it held text).
    fn json_buf(&mut self, slot: usize) -> &mut Vec<u8> {
        let latest = &mut self.entries[slot].latest;
        match latest {
            Latest::Json(v) => v.clear(),
            _ => *latest = Latest::Json(Vec::new()),
        }
        match latest {
            Latest::Json(v) => v,
            _ => unreachable!("set just above"),
        }
    }

    /// Records `json` as the latest value of `key`. `part` is `None` for a plain value; for a
    /// histogram the parts arrive in the order `_type`, `values`, `bins` and are assembled into
    /// one JSON object.
    pub(crate) fn set(&mut self, key: &str, part: Option<&str>, json: &[u8]) {
        match part {
            None => {
                let slot = self.slot(key);
                self.json_buf(slot).extend_from_slice(json);
            }
            Some(part) => {
                // Only the first part moves the cursor, so a histogram takes one position.
                let value = if part == "_type" {
                    let slot = self.slot(key);
                    let value = self.json_buf(slot);
                    value.push(b'{');
                    value
                } else {
                    let Some(&slot) = self.slots.get(key) else { return };
                    let Latest::Json(value) = &mut self.entries[slot].latest else { return };
                    value.push(b',');
                    value
                };
                crate::value::write_json_string(value, part);
                value.push(b':');
                value.extend_from_slice(json);
                if part == "bins" {
                    value.push(b'}');
                }
            }
        }
    }

    /// The latest JSON text of `key`.
    #[cfg(test)]
    pub(crate) fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.slots.get(key).map(|&slot| {
            let mut out = Vec::new();
            self.entries[slot].latest.write(&mut out);
            out
        })
    }

    /// Writes `{"key": value, ..., "_wandb": {"runtime": runtime_s}}` (W&B's
    /// `wandb-summary.json` layout), keeping W&B's `NaN`/`Infinity` JSON extensions.
    pub(crate) fn write_json(&self, runtime_s: i64, out: &mut Vec<u8>) {
        out.push(b'{');
        for entry in &self.entries {
            crate::value::write_json_string(out, &entry.key);
            out.extend_from_slice(b": ");
            entry.latest.write(out);
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(b"\"_wandb\": {\"runtime\": ");
        crate::value::write_i64(out, runtime_s);
        out.extend_from_slice(b"}}\n");
    }
}

impl Latest {
    /// Appends the value's JSON text, as the history item wrote it.
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::Json(text) => out.extend_from_slice(text),
            Self::Plain(v) => v.write_json(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_value_and_first_seen_order() {
        let mut s = SummaryState::default();
        for step in 0..3 {
            s.begin_step();
            s.set("b", None, step.to_string().as_bytes());
            s.set("a", None, b"1");
            if step == 1 {
                s.set("c", None, b"\"x\"");
            }
        }
        s.begin_step();
        s.set("a", None, b"9");
        s.set("h", Some("_type"), b"\"histogram\"");
        s.set("h", Some("values"), b"[1]");
        s.set("h", Some("bins"), b"[0,1]");
        let slot = s.slot("x");
        s.set_plain(slot, WandbValue::F64(0.5));
        let slot = s.slot("n");
        s.set_plain(slot, WandbValue::I64(1 << 60));
        assert_eq!(s.get("a").as_deref(), Some(&b"9"[..]));
        assert_eq!(s.get("b").as_deref(), Some(&b"2"[..]));
        let mut out = Vec::new();
        s.write_json(5, &mut out);
        let text = String::from_utf8(out).expect("utf8");
        assert_eq!(
            text,
            "{\"b\": 2, \"a\": 9, \"c\": \"x\", \"h\": {\"_type\":\"histogram\",\"values\":[1],\"bins\":[0,1]}, \"x\": 0.5, \"n\": 1152921504606846976, \"_wandb\": {\"runtime\": 5}}\n"
        );
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(v["h"]["bins"][1], 1);
    }
}

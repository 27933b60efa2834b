//! The run's summary: the latest value of every key, for `files/wandb-summary.json`.
//!
//! Memory grows with the number of distinct keys, never with the number of steps. A step
//! usually logs the same keys in the same order as the step before, so each key's slot is
//! first looked up at the position it had last time (a string compare), and only on a miss in
//! the hash map.

use std::collections::HashMap;

/// Latest JSON text per key, in first-seen key order.
#[derive(Debug, Default)]
pub(crate) struct SummaryState {
    /// Slot index of each key in `entries`.
    slots: HashMap<String, usize>,
    /// (key, latest value as JSON text).
    entries: Vec<(String, Vec<u8>)>,
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

    fn slot(&mut self, key: &str) -> usize {
        if let Some(&slot) = self.recent.get(self.cursor)
            && self.entries[slot].0 == key
        {
            self.cursor += 1;
            return slot;
        }
        let slot = match self.slots.get(key) {
            Some(&slot) => slot,
            None => {
                self.entries.push((key.to_owned(), Vec::new()));
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

    /// Records `json` as the latest value of `key`. `part` is `None` for a plain value; for a
    /// histogram the parts arrive in the order `_type`, `values`, `bins` and are assembled into
    /// one JSON object.
    pub(crate) fn set(&mut self, key: &str, part: Option<&str>, json: &[u8]) {
        match part {
            None => {
                let slot = self.slot(key);
                let value = &mut self.entries[slot].1;
                value.clear();
                value.extend_from_slice(json);
            }
            Some(part) => {
                // Only the first part moves the cursor, so a histogram takes one position.
                let slot = if part == "_type" {
                    self.slot(key)
                } else {
                    match self.slots.get(key) {
                        Some(&slot) => slot,
                        None => return,
                    }
                };
                let value = &mut self.entries[slot].1;
                if part == "_type" {
                    value.clear();
                    value.push(b'{');
                } else {
                    value.push(b',');
                }
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
    pub(crate) fn get(&self, key: &str) -> Option<&[u8]> {
        self.slots.get(key).map(|&slot| self.entries[slot].1.as_slice())
    }

    /// Writes `{"key": value, ..., "_wandb": {"runtime": runtime_s}}` (W&B's
    /// `wandb-summary.json` layout), keeping W&B's `NaN`/`Infinity` JSON extensions.
    pub(crate) fn write_json(&self, runtime_s: i64, out: &mut Vec<u8>) {
        out.push(b'{');
        for (key, value) in &self.entries {
            crate::value::write_json_string(out, key);
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(b"\"_wandb\": {\"runtime\": ");
        crate::value::write_i64(out, runtime_s);
        out.extend_from_slice(b"}}\n");
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
        assert_eq!(s.get("a"), Some(&b"9"[..]));
        assert_eq!(s.get("b"), Some(&b"2"[..]));
        let mut out = Vec::new();
        s.write_json(5, &mut out);
        let text = String::from_utf8(out).expect("utf8");
        assert_eq!(
            text,
            "{\"b\": 2, \"a\": 9, \"c\": \"x\", \"h\": {\"_type\":\"histogram\",\"values\":[1],\"bins\":[0,1]}, \"_wandb\": {\"runtime\": 5}}\n"
        );
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(v["h"]["bins"][1], 1);
    }
}

//! The JSONL export's fast path for the two scalar kinds, which make up most
//! of a run: the line is written from the record's values, with no
//! `serde_json` map in between ([`ScalarLines`] on the reading thread takes the
//! record apart, [`LineFormatter`] on the writer thread of `jsonl_pipe` writes
//! it), with the field order and number formatting of the general path (a `serde_json` map:
//! fields sorted by name, `_step`, `_timestamp` and `_lane` shadowing logged
//! keys of those names, floats as `serde_json` prints them, non-finite floats
//! as the strings `"NaN"`, `"Infinity"` and `"-Infinity"`). The layout of a
//! line (which field goes where, the escaped names) depends only on the lane
//! and the record's key ids (and the key definitions seen so far), so it is
//! built once per lane and key list and reused until they change. The export
//! tests compare the output with the general path's values, and the
//! version-1 fixture test with the bytes an earlier build wrote.

use std::sync::Arc;

use crate::export::key_table::KeyTable;
use crate::export::record_json::{LANE_FIELD, STEP_FIELD, TIMESTAMP_FIELD};
use crate::export::sampling::Sampling;
use crate::runlog::reader::ScalarsEntry;
use ringlog_ring::record::schema::RecordRef;

/// One field of a line, in output order.
#[derive(Debug, Clone)]
enum Field {
    Step,
    Timestamp,
    Lane,
    /// The record's item `index` under this escaped name (with quotes and colon).
    Item {
        index: usize,
        name: Box<[u8]>,
    },
}

/// The layout of the lines of one lane and key list.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    ids: Vec<u32>,
    fields: Vec<Field>,
    /// No logged key is kept: the record writes no line.
    empty: bool,
}

/// The reading side of the fast path: takes scalar records apart and finds their line's
/// [`Layout`]; [`LineFormatter`] writes the line (on the JSONL writer thread).
#[derive(Default)]
pub(crate) struct ScalarLines {
    /// Last layout per lane.
    layouts: Vec<Option<Arc<Layout>>>,
    ids: Vec<u32>,
    values: Vec<f64>,
}

/// A scalar record ready to be written: its line's layout, and its values in
/// [`ScalarLines::values`].
pub(crate) struct ScalarLine {
    pub(crate) layout: Arc<Layout>,
    pub(crate) lane: u16,
    pub(crate) step: i64,
    pub(crate) ts_ns: u64,
}

/// What [`ScalarLines::take`] made of a record.
pub(crate) enum Taken {
    /// A scalar record whose line is to be written.
    Line(ScalarLine),
    /// A scalar record the selection leaves out.
    Skipped,
    /// Not a scalar record: the general path writes it.
    Other,
}

impl ScalarLines {
    /// Takes `rec` apart if it is a scalar record.
    pub(crate) fn take(&mut self, lane: u16, rec: &RecordRef<'_>, keys: &KeyTable, sampling: &Sampling) -> Taken {
        self.ids.clear();
        self.values.clear();
        let (step, ts_ns) = match rec {
            RecordRef::Scalar1(s) => {
                self.ids.push(s.key.to_native());
                self.values.push(s.value.to_native());
                (s.step.to_native(), s.ts_ns.to_native())
            }
            RecordRef::Scalars(s) => {
                for item in s.items.iter() {
                    self.ids.push(item.key.to_native());
                    self.values.push(item.value.to_native());
                }
                (s.step.to_native(), s.ts_ns.to_native())
            }
            RecordRef::KeyDef(_) => {
                // A (re)definition changes the names a cached layout holds.
                if let Some(slot) = self.layouts.get_mut(usize::from(lane)) {
                    *slot = None;
                }
                return Taken::Other;
            }
            _ => return Taken::Other,
        };
        self.line(lane, step, ts_ns, keys, sampling)
    }

    /// Takes apart a scalar record read straight from its block.
    pub(crate) fn take_entry(&mut self, s: &ScalarsEntry<'_>, keys: &KeyTable, sampling: &Sampling) -> Taken {
        self.ids.clear();
        self.values.clear();
        for item in s.items {
            self.ids.push(item.key);
            self.values.push(item.value);
        }
        self.line(s.lane, s.step, s.ts_ns, keys, sampling)
    }

    /// The values of the record taken last, in item order.
    pub(crate) fn values(&self) -> &[f64] {
        &self.values
    }

    /// The line of the scalars in `ids` and `values`, unless the selection leaves it out.
    fn line(&mut self, lane: u16, step: i64, ts_ns: u64, keys: &KeyTable, sampling: &Sampling) -> Taken {
        if !sampling.keeps_step(step) {
            return Taken::Skipped;
        }
        let l = usize::from(lane);
        if self.layouts.len() <= l {
            self.layouts.resize_with(l + 1, || None);
        }
        if self.layouts[l].as_ref().is_none_or(|layout| layout.ids != self.ids) {
            self.layouts[l] = Some(Arc::new(layout(lane, &self.ids, keys, sampling)));
        }
        let layout = self.layouts[l].as_ref().expect("set above");
        if layout.empty {
            return Taken::Skipped;
        }
        Taken::Line(ScalarLine { layout: Arc::clone(layout), lane, step, ts_ns })
    }
}

/// Writes the lines of scalar records from their layout and values.
#[derive(Default)]
pub(crate) struct LineFormatter {
    float: zmij::Buffer,
    int: itoa::Buffer,
}

impl LineFormatter {
    /// Appends the line (with its newline) of a record of `lane` at `step` and `ts_ns`
    /// whose items hold `values`, laid out as `layout` says.
    pub(crate) fn write(
        &mut self,
        out: &mut Vec<u8>,
        layout: &Layout,
        lane: u16,
        step: i64,
        ts_ns: u64,
        values: &[f64],
    ) {
        out.push(b'{');
        for (i, f) in layout.fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            match f {
                Field::Step => {
                    out.extend_from_slice(b"\"_step\":");
                    out.extend_from_slice(self.int.format(step).as_bytes());
                }
                Field::Timestamp => {
                    out.extend_from_slice(b"\"_timestamp\":");
                    push_f64(out, &mut self.float, ts_ns as f64 / 1e9);
                }
                Field::Lane => {
                    out.extend_from_slice(b"\"_lane\":");
                    out.extend_from_slice(self.int.format(lane).as_bytes());
                }
                Field::Item { index, name } => {
                    out.extend_from_slice(name);
                    // The layout was built for these key ids, one value per id.
                    push_f64(out, &mut self.float, values[*index]);
                }
            }
        }
        out.extend_from_slice(b"}\n");
    }
}

/// A float as `serde_json` writes `f64_json(v)`.
fn push_f64(out: &mut Vec<u8>, buf: &mut zmij::Buffer, v: f64) {
    out.extend_from_slice(if v.is_finite() {
        buf.format_finite(v).as_bytes()
    } else if v.is_nan() {
        b"\"NaN\""
    } else if v > 0.0 {
        b"\"Infinity\""
    } else {
        b"\"-Infinity\""
    });
}

/// The field order of a line with these key ids: by name, a later item of a name
/// replacing an earlier one, reserved names shadowed, unselected keys left out.
fn layout(lane: u16, ids: &[u32], keys: &KeyTable, sampling: &Sampling) -> Layout {
    let mut named: Vec<(String, Option<usize>)> = Vec::with_capacity(ids.len() + 3);
    for (index, &id) in ids.iter().enumerate() {
        let name = keys.resolve(lane, id).into_owned();
        if [STEP_FIELD, TIMESTAMP_FIELD, LANE_FIELD].contains(&name.as_str()) || !sampling.keeps_key(&name) {
            continue;
        }
        match named.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = Some(index),
            None => named.push((name, Some(index))),
        }
    }
    let empty = named.is_empty() && sampling.selects();
    for reserved in [STEP_FIELD, TIMESTAMP_FIELD, LANE_FIELD] {
        named.push((reserved.to_owned(), None));
    }
    named.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let fields = named
        .into_iter()
        .map(|(name, index)| match (index, name.as_str()) {
            (Some(index), _) => {
                let mut escaped = serde_json::to_vec(&name).expect("a string serializes");
                escaped.push(b':');
                Field::Item { index, name: escaped.into_boxed_slice() }
            }
            (None, STEP_FIELD) => Field::Step,
            (None, TIMESTAMP_FIELD) => Field::Timestamp,
            (None, _) => Field::Lane,
        })
        .collect();
    Layout { ids: ids.to_vec(), fields, empty }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails with `ryu` (which writes `1e20` where `serde_json` writes `1e+20`): the fast
    /// path and the general path must print every float the same way.
    #[test]
    fn floats_print_as_serde_json_prints_them() {
        let mut buf = zmij::Buffer::new();
        let mut x = 0x0bad_cafe_dead_beefu64;
        let mut values = vec![0.0, -0.0, 1.0, 0.1, 1e20, 1.5e-7, 1e16, 123456789.0, f64::MAX, 5e-324];
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(f64::from_bits(x));
        }
        for v in values.into_iter().filter(|v| v.is_finite()) {
            let mut fast = Vec::new();
            push_f64(&mut fast, &mut buf, v);
            assert_eq!(String::from_utf8(fast).expect("utf8"), serde_json::to_string(&v).expect("finite"), "{v:e}");
        }
    }
}

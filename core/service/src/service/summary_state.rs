//! A run's summary: the last value of each key plus record counts, kept up to
//! date record by record and written as `summary.json`.
//!
//! History records (`Scalar1`, `Scalars`, `History`) set a key's value until an
//! explicit `Summary` record sets that key; from then on the explicit value
//! wins and later history values of the key do not replace it (a later
//! `Summary` record does). Timing fields such as `_runtime` belong to the run's
//! metadata, not here.
//!
//! `summary.json` is one JSON object: each key → its last value, plus a
//! reserved `"_ringlog"` object (a logged key of that name is shadowed):
//!
//! ```text
//! {"train/loss": 0.12, ..., "_ringlog": {"counts": {"history_rows": 1000, ...}, "last_step": 999}}
//! ```

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use crate::export::key_table::KeyTable;
use crate::export::record_json::{f64_json, value_json};
use ringlog_ring::record::schema::{ArchivedItem, ArchivedValue, RecordRef};
use rkyv::rend::f32_le;

/// Name of the reserved object with counts in `summary.json`.
pub const SUMMARY_META_KEY: &str = "_ringlog";

/// Records seen by a [`SummaryState`], per kind.
///
/// # Examples
/// ```
/// let c = ringlog_service::SummaryCounts::default();
/// assert_eq!(c.history_rows + c.summary_updates, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SummaryCounts {
    /// Key definitions.
    pub key_defs: u64,
    /// History rows (`Scalar1`, `Scalars` and `History` records).
    pub history_rows: u64,
    /// `Summary` records.
    pub summary_updates: u64,
    /// `Config` records.
    pub config_updates: u64,
    /// Output lines.
    pub outputs: u64,
    /// System stats samples.
    pub stats: u64,
    /// Alerts.
    pub alerts: u64,
    /// Exit records.
    pub exits: u64,
}

/// Where a key's current summary value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Just inserted, no value yet.
    New,
    /// Set by a history record.
    History,
    /// Set by an explicit summary record; history no longer replaces it.
    Explicit,
}

/// A key's last value: a float or a float array as it came (converted to JSON
/// only when the summary is read, so the per-record cost in the service is a
/// store or one copy of the array into a reused buffer), or any other value as JSON.
///
/// Arrays are kept raw because converting them costs far more than copying:
/// a 1024-float array logged every step made JSON values of 1024 elements per
/// record, which took the service's fold thread ~20 µs a record (a perf
/// profile of `compare`'s `ringlog-e2e f32x1024` rows).
#[derive(Debug, Clone, PartialEq)]
enum Last {
    F64(f64),
    F32s(Vec<f32>),
    Json(Json),
}

impl Last {
    fn to_json(&self) -> Json {
        match self {
            Self::F64(v) => f64_json(*v),
            // As `value_json` converts an array.
            Self::F32s(v) => Json::Array(v.iter().map(|&x| f64_json(f64::from(x))).collect()),
            Self::Json(v) => v.clone(),
        }
    }
}

/// The running summary of one run.
///
/// Memory holds one value per distinct key: a float, the last float array
/// (raw), or a JSON value.
///
/// # Examples
/// ```
/// use ringlog_ring::record::schema as record;
/// use ringlog_ring::{KeyDef, RecordKind, Scalar1};
/// use ringlog_service::{KeyTable, SummaryState};
/// let def = rkyv::to_bytes::<rkyv::rancor::Error>(&KeyDef { id: 0, name: "loss".into() })?;
/// let mut keys = KeyTable::new();
/// let mut summary = SummaryState::new();
/// for (kind, bytes) in [(RecordKind::KeyDef, def)] {
///     let rec = record::check(kind, 1, &bytes)?;
///     keys.observe(0, &rec);
///     summary.observe(0, &rec, &keys);
/// }
/// for step in [0, 2, 1] {
///     let s = Scalar1 { ts_ns: 1, step, value: step as f64, key: 0, reserved: 0 };
///     let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&s)?;
///     summary.observe(0, &record::check(RecordKind::Scalar1, 1, &bytes)?, &keys);
/// }
/// let json = summary.to_json();
/// assert_eq!(json["loss"], 1.0); // the last value logged
/// assert_eq!(json["_ringlog"]["counts"]["history_rows"], 3);
/// assert_eq!(json["_ringlog"]["last_step"], 2); // the largest step, not the last one
/// assert_eq!((summary.counts().key_defs, summary.last_step()), (1, Some(2)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct SummaryState {
    /// Every key seen, in first-seen order: name, last value, where it came from.
    entries: Vec<(Box<str>, Last, Source)>,
    /// Name -> index into `entries`.
    index: HashMap<Box<str>, usize>,
    /// `[lane][key id]` -> index into `entries` + 1 (0: not resolved yet). The
    /// service folds tens of millions of items per second through here, so the
    /// per-item cost is two vector indexings, not a name hash and compare.
    /// A key definition for `(lane, id)` clears its slot (the name may change).
    slots: Vec<Vec<u32>>,
    counts: SummaryCounts,
    last_step: Option<i64>,
    /// Run log offset up to which records are folded in (`_ringlog.log_end`).
    log_end: Option<u64>,
}

/// Key ids above this are resolved by name every time instead of cached in
/// `slots` (a damaged id must not make the cache allocate gigabytes).
const MAX_CACHED_ID: u32 = ringlog_ring::MAX_KEYS;

impl SummaryState {
    /// An empty summary.
    ///
    /// # Examples
    /// ```
    /// let s = ringlog_service::SummaryState::new();
    /// assert_eq!(s.last_step(), None);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds in `rec`, read from lane `lane`; `keys` must already have
    /// observed every earlier record of the run (the key definitions).
    ///
    /// # Examples
    /// See [`SummaryState`].
    pub fn observe(&mut self, lane: u16, rec: &RecordRef<'_>, keys: &KeyTable) {
        let c = &mut self.counts;
        match rec {
            RecordRef::KeyDef(def) => {
                c.key_defs += 1;
                let id = def.id.to_native() as usize;
                if let Some(slot) = self.slots.get_mut(lane as usize).and_then(|l| l.get_mut(id)) {
                    *slot = 0;
                }
            }
            RecordRef::Scalar1(s) => {
                c.history_rows += 1;
                self.note_step(s.step.to_native());
                self.set_history(lane, s.key.to_native(), keys, || Last::F64(s.value.to_native()));
            }
            RecordRef::Scalars(s) => {
                c.history_rows += 1;
                self.note_step(s.step.to_native());
                for item in s.items.iter() {
                    self.set_history(lane, item.key.to_native(), keys, || Last::F64(item.value.to_native()));
                }
            }
            RecordRef::History(h) => {
                c.history_rows += 1;
                self.note_step(h.step.to_native());
                for item in h.items.iter() {
                    let key = item.key.to_native();
                    match &item.value {
                        ArchivedValue::F64(x) => self.set_history(lane, key, keys, || Last::F64(x.to_native())),
                        ArchivedValue::F32Array(a) => self.set_history_f32s(lane, key, keys, a.as_slice()),
                        other => self.set_history(lane, key, keys, || Last::Json(value_json(other))),
                    }
                }
            }
            RecordRef::Summary(s) => {
                c.summary_updates += 1;
                self.set_explicit(lane, s.items.as_slice(), keys);
            }
            RecordRef::Config(_) => c.config_updates += 1,
            RecordRef::Output(_) => c.outputs += 1,
            RecordRef::Stats(_) => c.stats += 1,
            RecordRef::Alert(_) => c.alerts += 1,
            RecordRef::Exit(_) => c.exits += 1,
        }
    }

    /// Folds in a scalar history row (`Scalar1` or `Scalars`) whose keys the next
    /// record of its lane sets again: only its count and step. Once that next record
    /// is observed, the state is what observing both would leave. Any other kind is
    /// left out (the caller passes only scalar rows).
    pub(crate) fn observe_superseded(&mut self, rec: &RecordRef<'_>) {
        let step = match rec {
            RecordRef::Scalar1(s) => s.step.to_native(),
            RecordRef::Scalars(s) => s.step.to_native(),
            _ => return,
        };
        self.counts.history_rows += 1;
        self.note_step(step);
    }

    /// The current summary value of `key`.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(ringlog_service::SummaryState::new().get("loss"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<Json> {
        self.index.get(key).map(|&i| self.entries[i].1.to_json())
    }

    /// Records seen, per kind.
    ///
    /// # Examples
    /// See [`SummaryState`].
    pub fn counts(&self) -> SummaryCounts {
        self.counts
    }

    /// The step of the last history row seen (the last in log order, which
    /// need not be the largest across lanes).
    ///
    /// # Examples
    /// See [`SummaryState`].
    pub fn last_step(&self) -> Option<i64> {
        self.last_step
    }

    /// The summary as written to `summary.json` (see the module docs).
    ///
    /// # Examples
    /// See [`SummaryState`].
    pub fn to_json(&self) -> Json {
        let mut obj: Map<String, Json> = self.entries.iter().map(|(k, v, _)| (k.to_string(), v.to_json())).collect();
        let mut meta = Map::new();
        meta.insert("counts".into(), serde_json::to_value(self.counts).unwrap_or(Json::Null));
        meta.insert("last_step".into(), self.last_step.map_or(Json::Null, Json::from));
        if let Some(end) = self.log_end {
            meta.insert("log_end".into(), Json::from(end));
        }
        let explicit: Vec<Json> =
            self.entries.iter().filter(|e| e.2 == Source::Explicit).map(|e| Json::from(e.0.as_ref())).collect();
        if !explicit.is_empty() {
            meta.insert("explicit".into(), Json::Array(explicit));
        }
        obj.insert(SUMMARY_META_KEY.into(), Json::Object(meta));
        Json::Object(obj)
    }

    /// Notes that every record before run log offset `end` is folded in; written as
    /// `_ringlog.log_end`, so a reader of a live or crashed run's `summary.json` folds
    /// only the records after it ([`SummaryState::from_json`]).
    ///
    /// # Examples
    /// ```
    /// let mut s = ringlog_service::SummaryState::new();
    /// s.set_log_end(4096);
    /// assert_eq!(s.to_json()["_ringlog"]["log_end"], 4096);
    /// assert_eq!(s.log_end(), Some(4096));
    /// ```
    pub fn set_log_end(&mut self, end: u64) {
        self.log_end = Some(end);
    }

    /// The run log offset the summary covers, if known.
    ///
    /// # Examples
    /// See [`SummaryState::set_log_end`].
    pub fn log_end(&self) -> Option<u64> {
        self.log_end
    }

    /// The state a `summary.json` was written from ([`SummaryState::to_json`]): every
    /// key's value, which of them an explicit summary set, the counts, the last step
    /// and the log offset covered. `None` if `json` is not such an object.
    ///
    /// # Examples
    /// ```
    /// let mut s = ringlog_service::SummaryState::new();
    /// s.set_log_end(64);
    /// let back = ringlog_service::SummaryState::from_json(&s.to_json()).unwrap();
    /// assert_eq!(back.to_json(), s.to_json());
    /// ```
    pub fn from_json(json: &Json) -> Option<Self> {
        let obj = json.as_object()?;
        let meta = obj.get(SUMMARY_META_KEY)?.as_object()?;
        let mut s = Self::new();
        s.counts = serde_json::from_value(meta.get("counts")?.clone()).ok()?;
        s.last_step = meta.get("last_step").and_then(Json::as_i64);
        s.log_end = meta.get("log_end").and_then(Json::as_u64);
        let explicit: Vec<&str> = meta
            .get("explicit")
            .and_then(Json::as_array)
            .map_or_else(Vec::new, |a| a.iter().filter_map(Json::as_str).collect());
        for (k, v) in obj.iter().filter(|(k, _)| k.as_str() != SUMMARY_META_KEY) {
            let i = s.entry(k);
            s.entries[i].1 = Last::Json(v.clone());
            s.entries[i].2 = if explicit.contains(&k.as_str()) { Source::Explicit } else { Source::History };
        }
        Some(s)
    }

    /// Writes [`to_json`](Self::to_json) to `path` atomically but without fsync: the
    /// service's periodic checkpoint of a live run (the finish writes durably).
    ///
    /// # Errors
    /// [`SummaryWriteError`].
    ///
    /// # Examples
    /// ```
    /// let dir = std::env::temp_dir().join(format!("ringlog-doc-checkpoint-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// ringlog_service::SummaryState::new().checkpoint(&dir.join("summary.json"))?;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn checkpoint(&self, path: &Path) -> Result<(), SummaryWriteError> {
        crate::runlog::run_meta::write_json_atomic(path, &self.to_json(), false).map_err(|source| SummaryWriteError {
            path: path.to_owned(),
            op: "writing it (temporary file, rename)",
            source,
        })
    }

    /// Writes [`to_json`](Self::to_json) to `path` atomically and durably: into
    /// a temporary file in the same directory, fsync, rename over `path`,
    /// fsync the directory. A reader sees the old file or the new one, never
    /// a mix; on error the old file is left as it was.
    ///
    /// # Errors
    /// [`SummaryWriteError`] naming the step that failed.
    ///
    /// # Examples
    /// ```
    /// let dir = std::env::temp_dir().join(format!("ringlog-doc-summary-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("summary.json");
    /// ringlog_service::SummaryState::new().write(&path)?;
    /// let back: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    /// assert_eq!(back["_ringlog"]["counts"]["history_rows"], 0);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write(&self, path: &Path) -> Result<(), SummaryWriteError> {
        crate::runlog::run_meta::write_json_atomic(path, &self.to_json(), true).map_err(|source| SummaryWriteError {
            path: path.to_owned(),
            op: "writing it (temporary file, fsync, rename, fsync of the directory)",
            source,
        })
    }

    /// `last_step` is the largest step seen, whatever order lanes arrive in.
    fn note_step(&mut self, step: i64) {
        self.last_step = Some(self.last_step.map_or(step, |s| s.max(step)));
    }

    /// Index into `entries` of `name`, inserting it (with a null value) if new.
    fn entry(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.entries.push((name.into(), Last::Json(Json::Null), Source::New));
        self.index.insert(name.into(), self.entries.len() - 1);
        self.entries.len() - 1
    }

    /// Index into `entries` of key `id` on `lane`, through the slot cache.
    #[inline]
    fn entry_of(&mut self, lane: u16, id: u32, keys: &KeyTable) -> usize {
        if id >= MAX_CACHED_ID {
            return self.entry(keys.resolve(lane, id).as_ref());
        }
        let (l, k) = (lane as usize, id as usize);
        if let Some(&slot) = self.slots.get(l).and_then(|s| s.get(k))
            && slot != 0
        {
            return slot as usize - 1;
        }
        let i = self.entry(keys.resolve(lane, id).as_ref());
        if self.slots.len() <= l {
            self.slots.resize_with(l + 1, Vec::new);
        }
        if self.slots[l].len() <= k {
            self.slots[l].resize(k + 1, 0);
        }
        self.slots[l][k] = i as u32 + 1;
        i
    }

    #[inline]
    fn set_history(&mut self, lane: u16, id: u32, keys: &KeyTable, value: impl FnOnce() -> Last) {
        let i = self.entry_of(lane, id, keys);
        let entry = &mut self.entries[i];
        if entry.2 != Source::Explicit {
            entry.1 = value();
            entry.2 = Source::History;
        }
    }

    /// [`Self::set_history`] for an array, copied into the key's buffer of the last array.
    fn set_history_f32s(&mut self, lane: u16, id: u32, keys: &KeyTable, values: &[f32_le]) {
        let i = self.entry_of(lane, id, keys);
        let entry = &mut self.entries[i];
        if entry.2 == Source::Explicit {
            return;
        }
        entry.2 = Source::History;
        if let Last::F32s(buf) = &mut entry.1 {
            buf.clear();
            buf.extend(values.iter().map(|x| x.to_native()));
        } else {
            entry.1 = Last::F32s(values.iter().map(|x| x.to_native()).collect());
        }
    }

    fn set_explicit(&mut self, lane: u16, items: &[ArchivedItem], keys: &KeyTable) {
        for item in items {
            let i = self.entry_of(lane, item.key.to_native(), keys);
            self.entries[i].1 = Last::Json(value_json(&item.value));
            self.entries[i].2 = Source::Explicit;
        }
    }
}

/// Writing `summary.json` failed.
///
/// # Examples
/// ```
/// let err = ringlog_service::SummaryState::new().write("/nonexistent-dir/summary.json".as_ref()).unwrap_err();
/// assert!(err.to_string().contains("/nonexistent-dir/summary.json"));
/// ```
#[derive(Debug, thiserror::Error)]
#[error("writing summary {}: {op} failed: {source}: check free space and permissions in the run directory", .path.display())]
pub struct SummaryWriteError {
    /// The summary file.
    pub path: PathBuf,
    /// The step that failed.
    pub op: &'static str,
    /// The OS error.
    #[source]
    pub source: io::Error,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringlog_ring::record::schema as record;
    use ringlog_ring::{History, Item, KeyDef, Record, Summary, Value};

    /// Serializes a record and lets the key table and the summary observe it on lane 0.
    macro_rules! observe {
        ($state:expr, $keys:expr, $rec:expr) => {{
            let r = $rec;
            let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&r).unwrap();
            let rec = record::check(kind_of(&r), ringlog_ring::RECORD_FORMAT_VERSION, &bytes).unwrap();
            $keys.observe(0, &rec);
            $state.observe(0, &rec, &$keys);
        }};
    }

    fn kind_of<R: Record>(_: &R) -> ringlog_ring::RecordKind {
        R::KIND
    }

    fn history(step: i64, value: Value) -> History {
        History { ts_ns: 1, step, items: vec![Item { key: 0, value }] }
    }

    #[test]
    fn history_arrays_and_floats_are_summarized_as_their_json_when_read() {
        let (mut s, mut keys) = (SummaryState::new(), KeyTable::new());
        observe!(s, keys, KeyDef { id: 0, name: "w".into() });
        observe!(s, keys, history(0, Value::F32Array(vec![1.0, 2.0, 3.0])));
        observe!(s, keys, history(1, Value::F32Array(vec![0.5, f32::NAN])));
        // The last array wins, converted as `value_json` converts it (NaN included).
        let expected = Json::Array(vec![f64_json(0.5), f64_json(f64::NAN)]);
        assert_eq!(s.get("w"), Some(expected));
        // A float after an array replaces it; a string goes through JSON.
        observe!(s, keys, history(2, Value::F64(0.25)));
        assert_eq!(s.get("w"), Some(Json::from(0.25)));
        observe!(s, keys, history(3, Value::Str("done".into())));
        assert_eq!(s.get("w"), Some(Json::from("done")));
        assert_eq!(s.counts().history_rows, 4);
    }

    #[test]
    fn an_explicit_summary_is_not_replaced_by_a_later_history_array() {
        let (mut s, mut keys) = (SummaryState::new(), KeyTable::new());
        observe!(s, keys, KeyDef { id: 0, name: "w".into() });
        observe!(s, keys, Summary { ts_ns: 1, items: vec![Item { key: 0, value: Value::I64(7) }] });
        observe!(s, keys, history(0, Value::F32Array(vec![1.0])));
        assert_eq!(s.get("w"), Some(Json::from(7)));
    }
}

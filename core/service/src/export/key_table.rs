//! Resolving interned key ids back to names, per lane.
//!
//! A producer interns each key name once by writing a [`KeyDef`](crate::KeyDef)
//! `{id, name}` frame into its own lane; later records carry only the id. Ids
//! are per lane, so the same id names different keys on different lanes. A
//! later producer process on the same lane starts its ids again from 0 and
//! redefines them, so a redefinition replaces the old name for that
//! `(lane, id)` from that point of the lane on. Readers therefore feed every
//! record to [`KeyTable::observe`] in lane order before resolving the ids of
//! the records that follow.

use std::borrow::Cow;

use ringlog_ring::record::schema::RecordRef;

use crate::export::lane_key_map::LaneKeyMap;

/// The names of the interned keys seen so far, per lane.
///
/// Memory grows with the number of distinct `(lane, id)` pairs only; a map
/// (not a vector indexed by id) keeps a damaged or hostile id such as
/// `u32::MAX` from costing memory.
///
/// # Examples
/// ```
/// use ringlog_ring::record::schema as record;
/// use ringlog_ring::{KeyDef, RecordKind};
/// use ringlog_service::KeyTable;
/// let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&KeyDef { id: 0, name: "train/loss".into() })?;
/// let rec = record::check(RecordKind::KeyDef, 1, &bytes)?;
///
/// let mut keys = KeyTable::new();
/// keys.observe(3, &rec);
/// assert_eq!(keys.name(3, 0), Some("train/loss"));
/// assert_eq!(keys.name(4, 0), None); // ids are per lane
/// assert_eq!(keys.resolve(4, 0), "key#0@lane4");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct KeyTable {
    /// `(lane, id) -> name`: the service looks up every item of every record
    /// here, so it is two vector indexings for ordinary ids (see [`LaneKeyMap`]).
    names: LaneKeyMap<Box<str>>,
    /// Pairs defined.
    len: usize,
}

impl KeyTable {
    /// An empty table.
    ///
    /// # Examples
    /// ```
    /// let keys = ringlog_service::KeyTable::new();
    /// assert!(keys.is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Learns the key definition in `rec` (read from lane `lane`); ignores
    /// every other kind of record.
    ///
    /// A definition of an id the lane already defined replaces the old name
    /// (a new producer process on the lane counts its ids from 0 again).
    ///
    /// # Examples
    /// ```
    /// use ringlog_ring::record::schema as record;
    /// use ringlog_ring::{KeyDef, RecordKind};
    /// use ringlog_service::KeyTable;
    /// let def = |id, name: &str| rkyv::to_bytes::<rkyv::rancor::Error>(&KeyDef { id, name: name.into() }).unwrap();
    /// let (first, second) = (def(0, "loss"), def(0, "acc"));
    /// let mut keys = KeyTable::new();
    /// keys.observe(0, &record::check(RecordKind::KeyDef, 1, &first)?);
    /// keys.observe(0, &record::check(RecordKind::KeyDef, 1, &second)?);
    /// assert_eq!(keys.name(0, 0), Some("acc"));
    /// assert_eq!(keys.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn observe(&mut self, lane: u16, rec: &RecordRef<'_>) {
        if let RecordRef::KeyDef(def) = rec {
            self.define(lane, def.id.to_native(), def.name.as_str());
        }
    }

    /// Learns that lane `lane` defined key `id` as `name` (from the run log's index).
    ///
    /// # Examples
    /// ```
    /// let mut keys = ringlog_service::KeyTable::new();
    /// keys.define(2, 0, "loss");
    /// assert_eq!(keys.name(2, 0), Some("loss"));
    /// ```
    pub fn define(&mut self, lane: u16, id: u32, name: &str) {
        if self.names.get(lane, id).is_some_and(|old| **old == *name) {
            return;
        }
        if self.names.insert(lane, id, name.into()).is_none() {
            self.len += 1;
        }
    }

    /// The name of key `id` on lane `lane`, if the lane defined it.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(ringlog_service::KeyTable::new().name(0, 7), None);
    /// ```
    #[inline]
    pub fn name(&self, lane: u16, id: u32) -> Option<&str> {
        self.names.get(lane, id).map(|n| &**n)
    }

    /// The name of key `id` on lane `lane`, or the placeholder
    /// [`unknown_key_name`] when the lane never defined it (its definition was
    /// in a damaged region of the log, say).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(ringlog_service::KeyTable::new().resolve(2, 7), "key#7@lane2");
    /// ```
    pub fn resolve(&self, lane: u16, id: u32) -> Cow<'_, str> {
        match self.name(lane, id) {
            Some(name) => Cow::Borrowed(name),
            None => Cow::Owned(unknown_key_name(lane, id)),
        }
    }

    /// Number of `(lane, id)` pairs defined.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(ringlog_service::KeyTable::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no key is defined.
    ///
    /// # Examples
    /// ```
    /// assert!(ringlog_service::KeyTable::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The name under which an undefined key id is exported: `key#<id>@lane<lane>`.
///
/// # Examples
/// ```
/// assert_eq!(ringlog_service::unknown_key_name(1, 42), "key#42@lane1");
/// ```
pub fn unknown_key_name(lane: u16, id: u32) -> String {
    format!("key#{id}@lane{lane}")
}

//! Interned keys of one lane, found by the key `str` object's address.
//!
//! The hot path looks a key up by the address of the `str` object the caller
//! passed: a literal key (`"loss"`) is the same object on every call, so a
//! lookup is one hash of a pointer, with no hashing or comparing of text. The
//! table holds a strong reference to every object it caches, so an address
//! cannot be reused by another object while it is cached. A second map, by
//! name, catches equal strings that are different objects (built keys,
//! nested `a/b` names); the address cache is cleared when it grows past
//! [`MAX_CACHED_OBJECTS`] (a caller that builds a new key object per call).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::client_api::KeyId;

/// Most key objects cached by address before the cache is cleared.
pub const MAX_CACHED_OBJECTS: usize = 4096;

/// One interned key.
pub struct KeyEntry {
    /// Id in this lane.
    pub id: KeyId,
    /// Full name (`a/b` when nested).
    pub name: Box<str>,
    /// Row epoch in which `row_slot` is valid (see `Row`).
    pub row_epoch: u32,
    /// Index of this key's item in the current row.
    pub row_slot: u32,
}

/// Hashes an object address: a multiply, the low bits of which are zero
/// for 16-byte aligned objects, hence the shift.
#[derive(Default)]
pub struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = ((n as u64) >> 4).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Keys interned on the current lane.
#[derive(Default)]
pub struct KeyTable {
    /// By local index.
    pub entries: Vec<KeyEntry>,
    by_name: HashMap<Box<str>, u32>,
    by_address: HashMap<usize, u32, BuildHasherDefault<AddressHasher>>,
    /// Keeps every cached key object alive, so its address stays its own.
    held: Vec<Py<PyString>>,
}

impl KeyTable {
    /// The local index of the key object at `address`, if cached.
    #[inline(always)]
    pub fn by_address(&self, address: usize) -> Option<u32> {
        self.by_address.get(&address).copied()
    }

    /// The local index of `name`, if interned.
    pub fn by_name(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// Adds a key interned as `id` (the caller wrote its definition).
    pub fn insert(&mut self, name: &str, id: KeyId) -> u32 {
        let idx = self.entries.len() as u32;
        self.entries.push(KeyEntry { id, name: name.into(), row_epoch: 0, row_slot: 0 });
        self.by_name.insert(name.into(), idx);
        idx
    }

    /// Caches `key`'s address for local index `idx`, holding a reference to it.
    pub fn remember(&mut self, key: &Bound<'_, PyString>, idx: u32) {
        if self.by_address.len() >= MAX_CACHED_OBJECTS {
            self.by_address.clear();
            self.held.clear();
        }
        self.by_address.insert(key.as_ptr() as usize, idx);
        self.held.push(key.clone().unbind());
    }

    /// Forgets everything (a new lane: ids start over).
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

//! A map keyed by `(lane, key id)`, the pair that names a key in a run log.
//!
//! Readers look up every item of every record by this pair, tens of millions of times a
//! second, so ids below [`DENSE_IDS`] (all of a normal run's: a producer counts its ids from
//! 0) live in a vector per lane, two indexings; larger ids (a damaged or hostile one such as
//! `u32::MAX`) go to a hash map, so no id can make the map allocate gigabytes.

use std::collections::HashMap;

/// Ids below this are kept in the vectors.
const DENSE_IDS: u32 = 1 << 16;

/// `(lane, key id) -> V`.
#[derive(Debug, Clone)]
pub(crate) struct LaneKeyMap<V> {
    dense: Vec<Vec<Option<V>>>,
    sparse: HashMap<(u16, u32), V>,
}

impl<V> Default for LaneKeyMap<V> {
    fn default() -> Self {
        Self { dense: Vec::new(), sparse: HashMap::new() }
    }
}

impl<V> LaneKeyMap<V> {
    /// The value of `(lane, id)`.
    #[inline]
    pub(crate) fn get(&self, lane: u16, id: u32) -> Option<&V> {
        if id < DENSE_IDS {
            self.dense.get(usize::from(lane))?.get(id as usize)?.as_ref()
        } else {
            self.sparse.get(&(lane, id))
        }
    }

    /// Sets the value of `(lane, id)`; returns the one it replaces.
    pub(crate) fn insert(&mut self, lane: u16, id: u32, value: V) -> Option<V> {
        if id >= DENSE_IDS {
            return self.sparse.insert((lane, id), value);
        }
        let (l, k) = (usize::from(lane), id as usize);
        if self.dense.len() <= l {
            self.dense.resize_with(l + 1, Vec::new);
        }
        let ids = &mut self.dense[l];
        if ids.len() <= k {
            ids.resize_with(k + 1, || None);
        }
        ids[k].replace(value)
    }

    /// Removes `(lane, id)`; returns its value.
    pub(crate) fn remove(&mut self, lane: u16, id: u32) -> Option<V> {
        if id >= DENSE_IDS {
            return self.sparse.remove(&(lane, id));
        }
        self.dense.get_mut(usize::from(lane))?.get_mut(id as usize)?.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_and_sparse_ids_behave_alike() {
        let mut m = LaneKeyMap::default();
        for id in [0u32, 7, DENSE_IDS - 1, DENSE_IDS, u32::MAX] {
            assert_eq!(m.get(3, id), None);
            assert_eq!(m.insert(3, id, (id, 1)), None);
            assert_eq!(m.insert(3, id, (id, 2)), Some((id, 1)));
            assert_eq!(m.get(3, id), Some(&(id, 2)));
            assert_eq!(m.get(4, id), None, "ids are per lane");
            assert_eq!(m.remove(3, id), Some((id, 2)));
            assert_eq!(m.get(3, id), None);
            assert_eq!(m.remove(3, id), None);
        }
    }
}

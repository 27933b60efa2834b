//! Which frames of a drained batch name only keys their lane defined.
//!
//! A record that names a key id its lane never defined passed framing and
//! validation but cannot be named: garbage from a scribbled or buggy producer,
//! which the drain thread drops (and counts) before it reaches the run log.
//! This runs for every frame the service drains, so the usual case (a run of
//! rows with the key list of the row before) costs a compare, not a lookup per key.

use crate::export::key_table::KeyTable;
use ringlog_ring::Batch;
use ringlog_ring::record::schema::RecordRef;

/// One flag per frame of `batch` (`true`: keep), or an empty vector when every
/// frame is kept, which allocates nothing. `keys` learns the batch's key
/// definitions on the way, in order: a frame may use a key defined before it in
/// the same batch, not one defined after it.
pub(crate) fn frames_to_keep(batch: &Batch, keys: &mut KeyTable) -> Vec<bool> {
    let mut keep: Vec<bool> = Vec::new();
    // The key list of the last `Scalars` record found defined, and its lane: the
    // next row usually has the same, and a key, once defined, stays defined.
    let mut known: (Option<u16>, Vec<u32>) = (None, Vec::new());
    for (i, f) in batch.frames().enumerate() {
        let rec = f.record();
        if let RecordRef::KeyDef(_) = rec {
            keys.observe(f.lane(), &rec);
        }
        let defined = |id: u32| keys.name(f.lane(), id).is_some();
        let ok = match rec {
            RecordRef::Scalar1(s) => defined(s.key.to_native()),
            RecordRef::Scalars(s) => {
                let same = known.0 == Some(f.lane())
                    && known.1.len() == s.items.len()
                    && known.1.iter().zip(s.items.iter()).all(|(k, i)| *k == i.key.to_native());
                same || {
                    let ok = s.items.iter().all(|i| defined(i.key.to_native()));
                    if ok {
                        known.0 = Some(f.lane());
                        known.1.clear();
                        known.1.extend(s.items.iter().map(|i| i.key.to_native()));
                    }
                    ok
                }
            }
            RecordRef::History(r) => r.items.iter().all(|i| defined(i.key.to_native())),
            RecordRef::Summary(r) => r.items.iter().all(|i| defined(i.key.to_native())),
            RecordRef::Config(r) => r.items.iter().all(|i| defined(i.key.to_native())),
            RecordRef::Stats(r) => r.items.iter().all(|i| defined(i.key.to_native())),
            _ => true,
        };
        if !ok && keep.is_empty() {
            keep.resize(i, true);
        }
        if !ok || !keep.is_empty() {
            keep.push(ok);
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    //! `only_frames_naming_defined_keys_are_kept` fails, each checked, for: a
    //! remembered key list that ignores its lane; one that compares only lengths;
    //! flags that start from `false` for the frames before the first rejected one.
    use super::*;
    use ringlog_ring::{FullPolicy, HeapRun, KeyId, Logged};

    /// Logs `items` (one: a `Scalar1`; more: a `Scalars`).
    fn log(p: &mut ringlog_ring::Producer, items: &[(KeyId, f64)]) {
        let logged = if items.len() == 1 { p.log_scalar1(0, items[0].0, items[0].1) } else { p.log_scalars(0, items) };
        assert_eq!(logged.unwrap(), Logged::Written);
    }

    #[test]
    fn only_frames_naming_defined_keys_are_kept() {
        let run = HeapRun::new(1 << 16, 3).unwrap();
        let mut a = run.claim(1, FullPolicy::default()).unwrap();
        let mut b = run.claim(2, FullPolicy::default()).unwrap();
        let (a0, a1) = (a.key("a/0").unwrap(), a.key("a/1").unwrap());
        let b0 = b.key("b/0").unwrap();
        log(&mut a, &[(a0, 1.0), (a1, 2.0)]);
        log(&mut a, &[(a0, 1.0), (a1, 2.0)]);
        log(&mut a, &[(a0, 1.0), (KeyId(7), 2.0)]);
        log(&mut a, &[(a1, 1.0), (a0, 2.0)]);
        log(&mut a, &[(a0, 1.0), (a1, 2.0)]);
        log(&mut a, &[(KeyId(9), 1.0)]);
        // Lane 2 defined id 0 only: lane 1's ids (0, 1) are not defined here.
        log(&mut b, &[(KeyId(0), 1.0), (KeyId(1), 2.0)]);
        log(&mut b, &[(b0, 1.0)]);
        // Per lane, in order: the key definitions, then the rows.
        let expected = [(1, vec![true, true, true, true, false, true, true, false]), (2, vec![true, false, true])];

        let mut consumer = run.consumer().unwrap();
        let mut batch = Batch::new(1 << 16);
        let mut keys = KeyTable::new();
        let mut got: std::collections::BTreeMap<u16, Vec<bool>> = Default::default();
        while consumer.read_batch(&mut batch) > 0 {
            let keep = frames_to_keep(&batch, &mut keys);
            let keep = if keep.is_empty() { vec![true; batch.frames().len()] } else { keep };
            assert_eq!(keep.len(), batch.frames().len());
            for (f, k) in batch.frames().zip(keep) {
                got.entry(f.lane()).or_default().push(k);
            }
            consumer.release();
        }
        assert_eq!(got.into_iter().collect::<Vec<_>>(), expected.to_vec());
    }
}

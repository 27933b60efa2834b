//! `MergedHistory`: lanes whose rows reach the log out of step order are merged into one
//! row per step; rows past the reorder window are dropped and counted, never reordered
//! wrongly; downsampled rows carry their window's last timestamp.

use ringlog_ring::Value;
use ringlog_ring::record::schema::{self as record, History, Item, KeyDef, RecordKind, Scalar1};
use ringlog_service::{KeyTable, MergedHistory};
use ringlog_wandb::{MergedRow, WandbValue};

/// One record as a log reader would hand it over: kind and rkyv bytes.
struct Rec {
    lane: u16,
    kind: RecordKind,
    bytes: rkyv::util::AlignedVec,
}

fn scalar(lane: u16, step: i64, key: u32, value: f64) -> Rec {
    let s = Scalar1 { ts_ns: 1_000 + step as u64, step, value, key, reserved: 0 };
    Rec { lane, kind: RecordKind::Scalar1, bytes: rkyv::to_bytes::<rkyv::rancor::Error>(&s).expect("rkyv") }
}

fn key_def(lane: u16, id: u32, name: &str) -> Rec {
    let d = KeyDef { id, name: name.into() };
    Rec { lane, kind: RecordKind::KeyDef, bytes: rkyv::to_bytes::<rkyv::rancor::Error>(&d).expect("rkyv") }
}

/// Feeds `recs` through a merger; returns the rows and the late-row count.
fn merge(recs: &[Rec], merged: MergedHistory) -> (Vec<MergedRow<WandbValue>>, u64, u64) {
    let mut merged = merged;
    let mut keys = KeyTable::new();
    let mut rows = Vec::new();
    let mut emit = |row| {
        rows.push(row);
        Ok::<(), ()>(())
    };
    for r in recs {
        let rec = record::check(r.kind, 1, &r.bytes).expect("valid record");
        keys.observe(r.lane, &rec);
        merged.observe(r.lane, &rec, &keys, &mut emit).expect("emit");
    }
    let (late, dropped) = (merged.late_rows(), merged.dropped_items());
    merged.finish(&mut emit).expect("emit");
    (rows, late, dropped)
}

/// Lane 1 logs all its steps before lane 0's reach the log (one drain each).
fn skewed_lanes(steps: i64) -> Vec<Rec> {
    let mut recs = vec![key_def(1, 0, "b/loss"), key_def(0, 0, "a/loss")];
    recs.extend((0..steps).map(|s| scalar(1, s, 0, s as f64 + 0.5)));
    recs.extend((0..steps).map(|s| scalar(0, s, 0, s as f64)));
    recs
}

#[test]
fn skew_within_the_window_merges_one_row_per_step() {
    let (rows, late, _) = merge(&skewed_lanes(100), MergedHistory::new(None));
    assert_eq!(late, 0);
    assert_eq!(rows.len(), 100);
    for (s, row) in rows.iter().enumerate() {
        assert_eq!(row.step, s as i64);
        let get = |k: &str| row.items.iter().find(|(key, _)| **key == *k).map(|(_, v)| v.clone());
        assert_eq!(get("a/loss"), Some(WandbValue::F64(s as f64)));
        assert_eq!(get("b/loss"), Some(WandbValue::F64(s as f64 + 0.5)));
    }
}

#[test]
fn skew_past_the_window_drops_and_counts_late_rows_and_keeps_steps_increasing() {
    // A window of one byte releases every row at once: lane 0's steps 0..=98 arrive after
    // lane 1's step 99 was released. Step 99 itself is still merged into the last row.
    let (rows, late, _) = merge(&skewed_lanes(100), MergedHistory::new(None).with_window_bytes(1));
    assert_eq!(late, 99);
    assert_eq!(rows.len(), 100);
    assert!(rows.windows(2).all(|w| w[0].step < w[1].step));
    assert_eq!(rows[99].items.len(), 2, "step 99 holds both lanes");
    assert!(rows[..99].iter().all(|r| r.items.len() == 1));
}

#[test]
fn a_trainer_going_back_to_an_earlier_step_loses_only_those_rows() {
    let mut recs = vec![key_def(0, 0, "loss")];
    recs.extend((0..10).map(|s| scalar(0, s, 0, s as f64)));
    recs.extend((5..15).map(|s| scalar(0, s, 0, 100.0 + s as f64)));
    // With a tiny window, steps 5..=8 of the second pass are late; 9 merges (the later
    // timestamp wins on a clash, equal here, so the later lane id, the same: last pushed).
    let (rows, late, _) = merge(&recs, MergedHistory::new(None).with_window_bytes(1));
    assert_eq!(late, 4);
    assert_eq!(rows.iter().map(|r| r.step).collect::<Vec<_>>(), (0..15).collect::<Vec<_>>());
    // With the default window the rows are reordered and merged: no loss.
    let (rows, late, _) = merge(&recs, MergedHistory::new(None));
    assert_eq!((rows.len(), late), (15, 0));
    assert_eq!(rows[5].items, vec![("loss".into(), WandbValue::F64(105.0))]);
}

#[test]
fn reserved_and_undefined_keys() {
    let h = History {
        ts_ns: 5,
        step: 0,
        items: vec![
            Item { key: 0, value: Value::I64(1) },
            Item { key: 1, value: Value::Str("x".into()) },
            Item { key: 7, value: Value::Bool(true) },
        ],
    };
    let recs = vec![
        key_def(0, 0, "_step"),
        key_def(0, 1, "name"),
        Rec { lane: 0, kind: RecordKind::History, bytes: rkyv::to_bytes::<rkyv::rancor::Error>(&h).expect("rkyv") },
    ];
    let (rows, _, dropped) = merge(&recs, MergedHistory::new(None));
    assert_eq!(dropped, 1, "_step is W&B's own");
    assert_eq!(
        rows[0].items,
        vec![("name".into(), WandbValue::Str("x".into())), ("key#7@lane0".into(), WandbValue::Bool(true))]
    );
}

#[test]
fn downsampled_rows_carry_the_last_timestamp_of_their_window() {
    let mut recs = vec![key_def(0, 0, "loss")];
    recs.extend((0..10).map(|s| scalar(0, s, 0, s as f64)));
    let (rows, _, _) = merge(&recs, MergedHistory::new(Some((4, true))));
    assert_eq!(
        rows.iter().map(|r| (r.step, r.timestamp_unix_ns)).collect::<Vec<_>>(),
        [(3, 1_003), (7, 1_007), (9, 1_009)]
    );
    let mean = rows[2].items.iter().find(|(k, _)| &**k == "loss/mean").map(|(_, v)| v.clone());
    assert_eq!(mean, Some(WandbValue::F64(8.5)));
}

/// A lane that redefines a key id (a new producer process counts its ids from 0 again) names
/// that id's later values with the new name, earlier ones with the old, for an id in the
/// per-lane vector and for one far above it (the map); other lanes' ids are untouched.
/// Fails if a name cached for `(lane, id)` outlives the redefinition, or is shared across lanes.
#[test]
fn a_redefined_key_id_names_the_values_after_it() {
    for id in [0u32, 1 << 20] {
        let recs = vec![
            key_def(0, id, "loss"),
            key_def(1, id, "rank1/loss"),
            scalar(0, 0, id, 1.0),
            scalar(1, 0, id, 1.5),
            key_def(0, id, "acc"),
            scalar(0, 1, id, 2.0),
            scalar(1, 1, id, 2.5),
        ];
        let (rows, ..) = merge(&recs, MergedHistory::new(None).step_ordered());
        let names = |row: &MergedRow<WandbValue>| row.items.iter().map(|(k, _)| k.to_string()).collect::<Vec<_>>();
        assert_eq!(rows.len(), 2, "id {id}");
        assert_eq!(names(&rows[0]), ["loss", "rank1/loss"], "id {id}");
        assert_eq!(names(&rows[1]), ["acc", "rank1/loss"], "id {id}");
    }
}

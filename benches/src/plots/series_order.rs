//! The order series and categories appear in: known transports and record
//! shapes in the order `compare` runs them, unknown names after, by name.

use crate::case::{RecordShape, Transport};

/// Sort key of a transport name: its position in [`Transport::ALL`], unknown
/// names last (then by name).
fn transport_rank(name: &str) -> (usize, &str) {
    (Transport::ALL.iter().position(|t| t.as_str() == name).unwrap_or(usize::MAX), name)
}

/// Sort key of a record shape name: its position in [`RecordShape::ALL`],
/// unknown names last (then by name).
fn record_rank(name: &str) -> (usize, &str) {
    (RecordShape::ALL.iter().position(|r| r.as_str() == name).unwrap_or(usize::MAX), name)
}

/// The distinct transport names of `names`, in series order.
pub(crate) fn transports<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    distinct(names, transport_rank)
}

/// The distinct record shape names of `names`, in category order.
pub(crate) fn records<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    distinct(names, record_rank)
}

fn distinct<'a>(names: impl Iterator<Item = &'a str>, rank: fn(&str) -> (usize, &str)) -> Vec<String> {
    let mut v: Vec<&str> = names.collect();
    v.sort_by(|a, b| rank(a).cmp(&rank(b)));
    v.dedup();
    v.into_iter().map(str::to_owned).collect()
}

/// The axis label of a record shape: its name and what it holds.
pub(crate) fn record_label(record: &str) -> String {
    match record {
        "scalar1" => "scalar1 (1 scalar)".to_owned(),
        "scalar8" => "scalar8 (8 scalars)".to_owned(),
        "f32x1024" => "f32x1024 (4 KiB tensor)".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_keep_the_run_order_and_unknown_ones_follow() {
        let t = transports(["zeta", "uds-protobuf", "ringlog", "alpha", "ringlog"].into_iter());
        assert_eq!(t[0], "ringlog");
        assert_eq!(t[1], "uds-protobuf");
        assert_eq!(&t[2..], ["alpha", "zeta"]);
        assert_eq!(records(["f32x1024", "scalar1"].into_iter()), ["scalar1", "f32x1024"]);
    }
}

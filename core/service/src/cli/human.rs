//! Sizes, counts, rates and times in human units, for the CLI's tables.

/// `1536` -> `1.5 KiB`; below 1 KiB the exact byte count.
pub(super) fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{} {}", three_digits(v), UNITS[unit])
}

/// `1_250_000` -> `1.25 M`; below 1000 the exact count.
pub(super) fn count(n: u64) -> String {
    si(n as f64)
}

/// Records per second: `4_630_000.0` -> `4.63 M/s`.
pub(super) fn rate(per_s: f64) -> String {
    format!("{}/s", si(per_s))
}

fn si(v: f64) -> String {
    const UNITS: [&str; 6] = ["k", "M", "G", "T", "P", "E"];
    if !v.is_finite() || v.abs() < 1000.0 {
        return if v.fract() == 0.0 || !v.is_finite() { format!("{v}") } else { format!("{v:.1}") };
    }
    let mut v = v / 1000.0;
    let mut unit = 0;
    while v.abs() >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    format!("{} {}", three_digits(v), UNITS[unit])
}

/// Three significant digits: `1.234` -> `1.23`, `12.34` -> `12.3`, `123.4` -> `123`.
fn three_digits(v: f64) -> String {
    match v.abs() {
        a if a < 10.0 => format!("{v:.2}"),
        a if a < 100.0 => format!("{v:.1}"),
        _ => format!("{v:.0}"),
    }
}

/// Unix ms as `2026-12-01 20:35:27` (UTC).
pub(super) fn utc_time(unix_ms: u64) -> String {
    let t = ringlog_ring::protocol::utc_time::UtcTime::from_unix_ns(unix_ms.saturating_mul(1_000_000));
    format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", t.year, t.month, t.day, t.hour, t.minute, t.second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.50 KiB");
        assert_eq!(bytes(627 * 1024 * 1024), "627 MiB");
        assert_eq!(bytes(u64::MAX), "16.0 EiB");
        assert_eq!(count(999), "999");
        assert_eq!(count(40_031), "40.0 k");
        assert_eq!(count(1_250_000), "1.25 M");
        assert_eq!(rate(4_630_000.0), "4.63 M/s");
        assert_eq!(rate(12.5), "12.5/s");
        assert_eq!(utc_time(1_796_137_118_413), "2026-12-01 14:58:38");
    }
}

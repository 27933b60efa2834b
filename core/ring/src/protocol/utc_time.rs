//! UTC calendar fields of a Unix timestamp, for run directory names (ringlog's and
//! W&B's `YYYYMMDD_HHMMSS`) and metadata.

/// A UTC date and time split into calendar fields.
///
/// # Examples
/// ```
/// use ringlog_ring::protocol::utc_time::UtcTime;
/// let t = UtcTime::from_unix_ns(1_796_137_118_413_454_000);
/// assert_eq!((t.year, t.month, t.day), (2026, 12, 1));
/// assert_eq!(t.dir_stamp(), "20261201_145838");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    /// Year (proleptic Gregorian).
    pub year: i64,
    /// Month, 1 to 12.
    pub month: u32,
    /// Day of the month, 1 to 31.
    pub day: u32,
    /// Hour, 0 to 23.
    pub hour: u32,
    /// Minute, 0 to 59.
    pub minute: u32,
    /// Second, 0 to 59.
    pub second: u32,
    /// Microseconds within the second.
    pub micros: u32,
}

impl UtcTime {
    /// The UTC calendar time of `unix_ns` nanoseconds since the Unix epoch.
    ///
    /// # Examples
    /// ```
    /// # use ringlog_ring::protocol::utc_time::UtcTime;
    /// assert_eq!(UtcTime::from_unix_ns(0).year, 1970);
    /// ```
    pub fn from_unix_ns(unix_ns: u64) -> Self {
        let secs = (unix_ns / 1_000_000_000) as i64;
        let micros = ((unix_ns % 1_000_000_000) / 1000) as u32;
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u32;
        // Days since 1970-01-01 to a proleptic Gregorian date (the "civil from days"
        // computation on 400-year eras, shifted so years start on March 1st).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self { year, month, day, hour: rem / 3600, minute: rem / 60 % 60, second: rem % 60, micros }
    }

    /// `YYYYMMDD_HHMMSS`, as in W&B's run directory names.
    ///
    /// # Examples
    /// ```
    /// # use ringlog_ring::protocol::utc_time::UtcTime;
    /// assert_eq!(UtcTime::from_unix_ns(0).dir_stamp(), "19700101_000000");
    /// ```
    pub fn dir_stamp(&self) -> String {
        format!("{:04}{:02}{:02}_{:02}{:02}{:02}", self.year, self.month, self.day, self.hour, self.minute, self.second)
    }

    /// RFC 3339 with microseconds, e.g. `2026-12-01T14:58:38.413454Z`.
    ///
    /// # Examples
    /// ```
    /// # use ringlog_ring::protocol::utc_time::UtcTime;
    /// assert_eq!(UtcTime::from_unix_ns(0).rfc3339(), "1970-01-01T00:00:00.000000Z");
    /// ```
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.micros
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        // 1796137118.413454 s is the start_time W&B wrote for offline-run-20261201_145838.
        let t = UtcTime::from_unix_ns(1_796_137_118_413_454_000);
        assert_eq!(t.dir_stamp(), "20261201_145838");
        assert_eq!(t.rfc3339(), "2026-12-01T14:58:38.413454Z");
        assert_eq!(UtcTime::from_unix_ns(0).rfc3339(), "1970-01-01T00:00:00.000000Z");
        // 2000-02-29 (a leap day in a century leap year).
        assert_eq!(UtcTime::from_unix_ns(951_782_400 * 1_000_000_000).dir_stamp(), "20000229_000000");
        assert_eq!(UtcTime::from_unix_ns(u64::MAX).year, 2554);
    }
}

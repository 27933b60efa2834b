//! The value axes: log scale with a grid line at every decade, or linear
//! from zero with a grid line at every round step; and the number formats of
//! their labels.

use plotters::coord::combinators::{IntoLogRange, LogCoord};
use plotters::coord::types::RangedCoordf64;

use super::ticked_axis::TickedAxis;

/// A log axis from a decade at or below the lowest value to at least the
/// next decade above the highest one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LogAxis {
    /// The lowest decade at or below every value.
    pub lo: f64,
    /// The top: the decade at or above every value, or `headroom` times the
    /// highest value if that is higher (room for labels above it).
    pub hi: f64,
    /// Each decade from `lo` up to `hi`: the labelled grid lines.
    pub decades: Vec<f64>,
    /// 2 to 9 times each decade, up to `hi`: the light grid lines.
    pub minor: Vec<f64>,
}

impl LogAxis {
    /// The axis over the positive finite `values`, its top at least
    /// `headroom` times the highest; `None` when there are no such values.
    pub(crate) fn spanning(values: impl Iterator<Item = f64>, headroom: f64) -> Option<Self> {
        let (lo, hi) = values
            .filter(|v| v.is_finite() && *v > 0.0)
            .fold(None, |acc: Option<(f64, f64)>, v| Some(acc.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v)))))?;
        let first = lo.log10().floor() as i32;
        let last = (hi.log10().ceil() as i32).max(first + 1);
        let top = 10f64.powi(last).max(hi * headroom);
        let decades: Vec<f64> = (first..).map(|e| 10f64.powi(e)).take_while(|&d| d <= top * (1.0 + 1e-9)).collect();
        let minor = decades.iter().flat_map(|d| (2..10).map(move |m| d * f64::from(m))).filter(|&m| m <= top).collect();
        Some(LogAxis { lo: decades[0], hi: top, decades, minor })
    }
}

impl LogAxis {
    /// The plotters coordinate of the axis: log scale, grid lines at
    /// [`LogAxis::decades`] and [`LogAxis::minor`].
    pub(crate) fn coord(&self) -> TickedAxis<LogCoord<f64>> {
        TickedAxis::new((self.lo..self.hi).log_scale(), self.decades.clone(), self.minor.clone())
    }
}

/// A linear axis from 0 to a little above the highest value, with grid lines
/// at round steps (1, 2 or 5 times a power of ten).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LinearAxis {
    /// The top: 1.15 times the highest value (room for labels above it).
    pub hi: f64,
    /// 0 and each step up to `hi`: the labelled grid lines.
    pub ticks: Vec<f64>,
}

impl LinearAxis {
    /// The axis from 0 over `max` (positive), with about five to ten steps.
    pub(crate) fn up_to(max: f64) -> Self {
        let hi = if max > 0.0 && max.is_finite() { max * 1.15 } else { 1.0 };
        let rough = hi / 6.0;
        let power = 10f64.powi(rough.log10().floor() as i32);
        let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|&s| s >= rough).unwrap_or(10.0 * power);
        let ticks = (0..).map(|i| f64::from(i) * step).take_while(|&t| t <= hi).collect();
        LinearAxis { hi, ticks }
    }

    /// The plotters coordinate of the axis.
    pub(crate) fn coord(&self) -> TickedAxis<RangedCoordf64> {
        TickedAxis::new(0.0..self.hi, self.ticks.clone(), vec![])
    }
}

/// `x` with three significant digits, trailing zeros dropped: `2.5`, `250`,
/// `0.012`.
pub(crate) fn significant(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let decimals = (2 - x.abs().log10().floor() as i32).max(0) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s }
}

/// `x` with an SI prefix: `250`, `25k`, `2.5M`, `1G`.
pub(crate) fn si(x: f64) -> String {
    for (scale, prefix) in [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")] {
        if x.abs() >= scale {
            return format!("{}{prefix}", significant(x / scale));
        }
    }
    significant(x)
}

/// A duration in nanoseconds in the unit that reads best: `250 ns`, `2.5 µs`,
/// `40 ms`.
pub(crate) fn duration_ns(ns: f64) -> String {
    for (scale, unit) in [(1e9, "s"), (1e6, "ms"), (1e3, "µs")] {
        if ns >= scale {
            return format!("{} {unit}", significant(ns / scale));
        }
    }
    format!("{} ns", significant(ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_run_from_decade_to_decade() {
        let a = LogAxis::spanning([0.0, 150.0, 2.3e6, f64::NAN].into_iter(), 1.0).unwrap();
        assert_eq!((a.lo, a.hi), (100.0, 1e7));
        assert_eq!(a.decades.len(), 6);
        assert_eq!(a.minor.len(), 5 * 8);
        let one = LogAxis::spanning([1000.0].into_iter(), 1.0).unwrap();
        assert_eq!((one.lo, one.hi), (1000.0, 10_000.0));
        let room = LogAxis::spanning([1000.0, 9000.0].into_iter(), 4.0).unwrap();
        assert_eq!((room.lo, room.hi), (1000.0, 36_000.0));
        assert_eq!(room.decades, [1000.0, 10_000.0]);
        assert_eq!(room.minor.last(), Some(&30_000.0));
        assert!(LogAxis::spanning([0.0, -1.0].into_iter(), 1.0).is_none());
    }

    #[test]
    fn linear_axes_step_roundly() {
        let a = LinearAxis::up_to(4.23e6);
        assert_eq!(a.ticks, [0.0, 1e6, 2e6, 3e6, 4e6]);
        assert!(a.hi > 4.23e6);
        assert_eq!(LinearAxis::up_to(90.0).ticks.len(), 6); // 0, 20, ... 100
        assert_eq!(LinearAxis::up_to(0.0).hi, 1.0);
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(significant(2.5), "2.5");
        assert_eq!(significant(0.012), "0.012");
        assert_eq!(significant(250.4), "250");
        assert_eq!(si(2.5e7), "25M");
        assert_eq!(si(1e9), "1G");
        assert_eq!(si(150.0), "150");
        assert_eq!(duration_ns(250.0), "250 ns");
        assert_eq!(duration_ns(2_500.0), "2.5 µs");
        assert_eq!(duration_ns(4.0e7), "40 ms");
    }
}

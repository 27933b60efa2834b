//! An axis whose grid lines and labels sit exactly at given values.
//!
//! plotters' own `with_key_points` does this too, but its wrapper of a plain
//! `f64` range loses the label formatting `configure_mesh` requires; this one
//! declares default formatting, and every plot sets its own label formatter.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};

/// `inner`'s mapping from values to pixels, with grid lines at `bold`
/// (labelled) and `light` (unlabelled).
pub(crate) struct TickedAxis<R: Ranged<ValueType = f64>> {
    inner: R,
    bold: Vec<f64>,
    light: Vec<f64>,
}

impl<R: Ranged<ValueType = f64>> TickedAxis<R> {
    /// `inner` with labelled grid lines at `bold` and light ones at `light`.
    pub(crate) fn new(inner: impl Into<R>, bold: Vec<f64>, light: Vec<f64>) -> Self {
        TickedAxis { inner: inner.into(), bold, light }
    }
}

impl<R: Ranged<ValueType = f64>> Ranged for TickedAxis<R> {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() { self.light.clone() } else { self.bold.clone() }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }

    fn axis_pixel_range(&self, limit: (i32, i32)) -> Range<i32> {
        self.inner.axis_pixel_range(limit)
    }
}

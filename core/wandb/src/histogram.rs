//! A 64-bin histogram computed exactly as `wandb.Histogram(np.array(values, dtype=np.float32))`.
//!
//! `wandb.Histogram(seq)` calls `np.histogram(seq, bins=64)`. For a float32 array numpy works in
//! float32: the range is the array's minimum and maximum (widened by 0.5 on each side when they
//! are equal, `0..1` when the array is empty), the 65 edges are
//! `linspace(min, max, 65, dtype=float32)` — edge `i` is `f32(f32(i) * f32((max - min) / 64)) +
//! min`, the last edge is `max` itself — and a value falls in bin `i` when
//! `edge[i] <= value < edge[i + 1]` (the last bin includes `max`). W&B stores the counts as
//! `values` and the edges, widened to float64, as `bins`.

/// Number of bins `wandb.Histogram` uses by default.
pub(crate) const BINS: usize = 64;

/// Counts and edges of one histogram.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Histogram {
    /// Number of samples in each bin.
    pub(crate) counts: [u64; BINS],
    /// The `BINS + 1` bin edges, in float32 like numpy's.
    pub(crate) edges: [f32; BINS + 1],
}

impl Histogram {
    /// The histogram of the finite values in `values`.
    pub(crate) fn from_f32(values: &[f32]) -> Self {
        let mut min = f32::INFINITY;
        let mut max = f32::NEG_INFINITY;
        for &v in values.iter().filter(|v| v.is_finite()) {
            min = min.min(v);
            max = max.max(v);
        }
        let (first, last) = if min > max {
            (0.0f32, 1.0f32)
        } else if min == max {
            (min - 0.5, max + 0.5)
        } else {
            (min, max)
        };
        let mut edges = [0f32; BINS + 1];
        let delta = last - first;
        let step = delta / BINS as f32;
        for (i, edge) in edges.iter_mut().enumerate().take(BINS) {
            *edge = if step == 0.0 {
                // numpy's linspace path for a zero step: (i / div) * delta.
                (i as f32 / BINS as f32) * delta + first
            } else {
                (i as f32) * step + first
            };
        }
        edges[BINS] = last;

        let mut counts = [0u64; BINS];
        let span = f64::from(last) - f64::from(first);
        for &v in values.iter().filter(|v| v.is_finite()) {
            // An estimate, then corrected against the float32 edges so the bin is exactly the
            // one with edge[i] <= v < edge[i + 1].
            let estimate = if span > 0.0 { (f64::from(v) - f64::from(first)) / span * BINS as f64 } else { 0.0 };
            let mut i = if estimate.is_finite() { (estimate as usize).min(BINS - 1) } else { 0 };
            while i > 0 && v < edges[i] {
                i -= 1;
            }
            while i < BINS - 1 && v >= edges[i + 1] {
                i += 1;
            }
            counts[i] += 1;
        }
        Self { counts, edges }
    }

    /// Appends the counts as a JSON array.
    pub(crate) fn write_values(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        let mut buf = itoa::Buffer::new();
        for (i, c) in self.counts.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(buf.format(*c).as_bytes());
        }
        out.push(b']');
    }

    /// Appends the edges as a JSON array of floats, formatted as W&B formats floats.
    pub(crate) fn write_bins(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, e) in self.edges.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            crate::value::write_f64(out, f64::from(*e));
        }
        out.push(b']');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_histogram_wandb_wrote() {
        // wandb.Histogram(np.array([1.0, 2.0, 2.5, 7.0], dtype=np.float32)) in wandb 0.31.0.
        let h = Histogram::from_f32(&[1.0, 2.0, 2.5, 7.0]);
        let mut counts = [0u64; 64];
        counts[0] = 1;
        counts[10] = 1;
        counts[16] = 1;
        counts[63] = 1;
        assert_eq!(h.counts, counts);
        assert_eq!(h.edges[1], 1.09375);
        assert_eq!(h.edges[64], 7.0);
    }

    #[test]
    fn equal_values_widen_by_half() {
        // wandb.Histogram(np.array([5.0, 5.0], dtype=np.float32)): edges 4.5..5.5, both in bin 32.
        let h = Histogram::from_f32(&[5.0, 5.0]);
        assert_eq!(h.edges[0], 4.5);
        assert_eq!(h.edges[1], 4.515625);
        assert_eq!(h.edges[64], 5.5);
        assert_eq!(h.counts[32], 2);
        assert_eq!(h.counts.iter().sum::<u64>(), 2);
    }

    #[test]
    fn empty_and_non_finite_samples_do_not_panic() {
        let h = Histogram::from_f32(&[]);
        assert_eq!((h.edges[0], h.edges[64]), (0.0, 1.0));
        assert_eq!(h.counts.iter().sum::<u64>(), 0);
        let h = Histogram::from_f32(&[f32::NAN, f32::INFINITY, 3.0]);
        assert_eq!(h.counts.iter().sum::<u64>(), 1);
        let h = Histogram::from_f32(&[f32::MIN, f32::MAX, 0.0]);
        assert_eq!(h.counts.iter().sum::<u64>(), 3);
    }

    #[test]
    fn every_value_is_counted_once_in_its_edge_interval() {
        let values: Vec<f32> = (0..10_000).map(|i| ((i * 7919) % 10_007) as f32 * 0.37 - 1000.0).collect();
        let h = Histogram::from_f32(&values);
        assert_eq!(h.counts.iter().sum::<u64>(), values.len() as u64);
        let mut want = [0u64; 64];
        for &v in &values {
            let i = (0..64).rev().find(|&i| v >= h.edges[i]).unwrap_or(0);
            want[i] += 1;
        }
        assert_eq!(h.counts, want);
    }
}

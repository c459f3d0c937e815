//! Histogram of |x| for one tensor over all calibration frames: [`BINS`] equal bins over
//! `[0, range)`.
//!
//! The first batch with a non-zero value sets the range (its max |x|, plus a margin so that max
//! falls inside the last bin). A later value at or beyond the range doubles it, merging bin
//! pairs, as often as needed. Merging pairs is exact: the result equals the histogram built at
//! the final range from the start (`x * (BINS / range)` only halves when the range doubles, and
//! `floor(y / 2) == floor(floor(y) / 2)`), so the order of the frames does not matter beyond
//! which one sets the first range.

/// Bins of every histogram, as TensorRT's and pytorch-quantization's calibrators use.
pub const BINS: usize = 2048;

/// The first range is the first max |x| times this. The margin is far below one bin (1/2048),
/// and it keeps max |x| itself strictly below the range, so that value lands in the last bin
/// without clamping (clamping would break the exact merge above).
const RANGE_MARGIN: f64 = 1.0 + 1.0 / (1u64 << 20) as f64;

#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    bins: Vec<u64>,
    /// 0 while every value seen was zero: zeros fall in bin 0 whatever the range becomes.
    range: f64,
    amax: f32,
    count: u64,
}

/// A batch with NaN or infinite values; nothing of it was added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{count} non-finite value(s) (NaN or infinity), the first at index {first_index}")]
pub struct NonFinite {
    pub count: usize,
    pub first_index: usize,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            bins: vec![0; BINS],
            range: 0.0,
            amax: 0.0,
            count: 0,
        }
    }
}

impl Histogram {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds |x| of every value of `xs`, or none of them if any is NaN or infinite.
    pub fn add(&mut self, xs: &[f32]) -> Result<(), NonFinite> {
        let mut bad = xs.iter().enumerate().filter(|(_, x)| !x.is_finite());
        if let Some((first_index, _)) = bad.next() {
            return Err(NonFinite {
                count: 1 + bad.count(),
                first_index,
            });
        }
        let batch_max = xs.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        self.amax = self.amax.max(batch_max);
        self.count += xs.len() as u64;
        if batch_max == 0.0 {
            self.bins[0] += xs.len() as u64;
            return Ok(());
        }
        if self.range == 0.0 {
            self.range = f64::from(batch_max) * RANGE_MARGIN;
        }
        while f64::from(batch_max) >= self.range {
            self.double_range();
        }
        let per_unit = BINS as f64 / self.range;
        for x in xs {
            // Below BINS for every x < range (see the module doc); min() only guards the index.
            let bin = (f64::from(x.abs()) * per_unit) as usize;
            self.bins[bin.min(BINS - 1)] += 1;
        }
        Ok(())
    }

    fn double_range(&mut self) {
        for i in 0..BINS / 2 {
            self.bins[i] = self.bins[2 * i] + self.bins[2 * i + 1];
        }
        self.bins[BINS / 2..].fill(0);
        self.range *= 2.0;
    }

    /// The exact max |x| seen (0 before any non-zero value).
    pub fn amax(&self) -> f32 {
        self.amax
    }

    /// Values added, zeros included.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Counts of the [`BINS`] bins; bin `k` holds `k * bin_width() <= |x| < (k + 1) * bin_width()`
    /// (up to one rounding of `|x| * (BINS / range)`).
    pub fn bins(&self) -> &[u64] {
        &self.bins
    }

    /// 0 while every value seen was zero.
    pub fn bin_width(&self) -> f64 {
        self.range / BINS as f64
    }

    /// Edge `k` (0..=BINS) of the bins as an f32, rounded once from its exact f64 value, as
    /// pytorch-quantization's `calib_bin_edges[k]`. Past `f32::MAX` (a range doubled from values
    /// near it) it is `f32::MAX`, so an amax stays finite.
    pub(crate) fn edge(&self, k: usize) -> f32 {
        (self.range * k as f64 / BINS as f64).min(f64::from(f32::MAX)) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_engine::rng::SplitMix64;

    #[test]
    fn first_batch_sets_the_range_and_its_max_is_in_the_last_bin() {
        let mut h = Histogram::new();
        h.add(&[0.0, -1.0, 0.5, 3.0, -3.0]).unwrap();
        assert_eq!(h.amax(), 3.0);
        assert_eq!(h.count(), 5);
        assert!(h.bin_width() * BINS as f64 > 3.0);
        let b = h.bins();
        assert_eq!((b[0], b[BINS - 1]), (1, 2));
        assert_eq!(b.iter().sum::<u64>(), 5);
        // |-1| and 0.5 sit a third and a sixth of the way up.
        assert_eq!(b[682], 1);
        assert_eq!(b[341], 1);
    }

    #[test]
    fn zeros_only_count_in_bin_zero_with_amax_zero() {
        let mut h = Histogram::new();
        h.add(&[0.0, -0.0, 0.0]).unwrap();
        h.add(&[]).unwrap();
        assert_eq!(
            (h.amax(), h.count(), h.bins()[0], h.bin_width()),
            (0.0, 3, 3, 0.0)
        );
        // A later non-zero batch keeps them in bin 0.
        h.add(&[2.0]).unwrap();
        assert_eq!((h.bins()[0], h.bins()[BINS - 1], h.amax()), (3, 1, 2.0));
    }

    #[test]
    fn non_finite_input_is_refused_and_nothing_is_added() {
        let mut h = Histogram::new();
        h.add(&[1.0]).unwrap();
        let before = h.clone();
        let e = h
            .add(&[0.5, f32::NAN, 2.0, f32::INFINITY, f32::NEG_INFINITY])
            .unwrap_err();
        assert_eq!(
            e,
            NonFinite {
                count: 3,
                first_index: 1
            }
        );
        assert_eq!(h, before);
        assert!(e.to_string().contains("index 1"), "{e}");
    }

    /// Batches of growing magnitude, so the range doubles many times, against a histogram of
    /// the same values whose first value already sets the final range.
    #[test]
    fn doubling_equals_the_histogram_built_at_the_final_range() {
        let mut rng = SplitMix64::new(7);
        let first = 0.3f32;
        let mut batches = vec![vec![first]];
        for b in 0..40 {
            let scale = 0.3 * 1.25f32.powi(b);
            batches.push((0..500).map(|_| rng.uniform(-scale, scale)).collect());
        }
        let mut grown = Histogram::new();
        for b in &batches {
            grown.add(b).unwrap();
        }
        let doublings = (grown.bin_width() * BINS as f64 / (f64::from(first) * RANGE_MARGIN))
            .log2()
            .round() as i32;
        assert!(doublings >= 5, "only {doublings} doublings");
        let mut direct = Histogram::new();
        direct.add(&[first * 2f32.powi(doublings)]).unwrap();
        assert_eq!(direct.bin_width(), grown.bin_width());
        for b in &batches {
            direct.add(b).unwrap();
        }
        // direct holds one extra value, first * 2^d, which is in its last bin.
        let mut expected = grown.bins().to_vec();
        expected[BINS - 1] += 1;
        assert_eq!(direct.bins(), &expected[..]);
        assert_eq!(direct.count(), grown.count() + 1);
        assert_eq!(grown.count(), 1 + 40 * 500);
        assert_eq!(grown.bins().iter().sum::<u64>(), grown.count());
        let max = batches.iter().flatten().fold(0.0f32, |m, x| m.max(x.abs()));
        assert_eq!(grown.amax(), max);
    }

    /// Values exactly on bin edges and at the range, where rounding could put them one bin off.
    #[test]
    fn doubling_is_exact_on_bin_edges() {
        let mut grown = Histogram::new();
        grown.add(&[1.0]).unwrap();
        let w = grown.bin_width();
        let edges: Vec<f32> = (0..4 * BINS).map(|k| (k as f64 * w) as f32).collect();
        grown.add(&edges).unwrap();
        let mut direct = Histogram::new();
        direct.add(&[4.0]).unwrap();
        direct.add(&[1.0]).unwrap();
        direct.add(&edges).unwrap();
        assert_eq!(grown.bin_width(), direct.bin_width());
        let mut expected = grown.bins().to_vec();
        expected[BINS - 1] += 1;
        assert_eq!(direct.bins(), &expected[..]);
    }

    #[test]
    fn value_equal_to_the_range_doubles_it() {
        let mut h = Histogram::new();
        h.add(&[1.0]).unwrap();
        let range = (h.bin_width() * BINS as f64) as f32;
        assert!(
            f64::from(range) >= h.bin_width() * BINS as f64,
            "range is an f32 here"
        );
        h.add(&[range]).unwrap();
        assert_eq!(
            h.bin_width() * BINS as f64,
            2.0 * f64::from(1.0f32) * RANGE_MARGIN
        );
        assert_eq!((h.bins()[BINS / 2 - 1], h.bins()[BINS / 2]), (1, 1));
    }

    #[test]
    fn huge_values_keep_finite_edges() {
        let mut h = Histogram::new();
        h.add(&[1.0]).unwrap();
        h.add(&[f32::MAX, -f32::MAX]).unwrap();
        assert_eq!(h.amax(), f32::MAX);
        assert_eq!(h.edge(BINS), f32::MAX);
        assert_eq!(h.bins()[BINS - 1], 2);
    }
}

//! How a tensor's range (amax, its scale `amax / 127`) is chosen from its histogram.
//!
//! Entropy and percentile reproduce NVIDIA's pytorch-quantization
//! (`tools/pytorch-quantization/pytorch_quantization/calib/histogram.py` of NVIDIA/TensorRT,
//! `_compute_amax_entropy` and `_compute_amax_percentile`), which replicates TensorRT's
//! EntropyCalibration2, down to its floating-point order where a near tie could depend on it:
//! `tools/reference/calib_ref.py` holds that code, and `tests/reference.rs` compares the two on
//! the histograms of `tests/fixtures/`.

use crate::histogram::{Histogram, BINS};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Algorithm {
    /// The clipping threshold whose 128-level quantization keeps the distribution closest in
    /// KL divergence (TensorRT's EntropyCalibration2, its default).
    #[default]
    Entropy,
    /// The bin edge below which this percent of the values lie.
    Percentile(f64),
    /// The exact max |x|: nothing clipped.
    MinMax,
}

pub const DEFAULT_PERCENTILE: f64 = 99.99;

/// Scale of tensors whose amax is 0 (every calibration value was zero), or below
/// `127 * MIN_SCALE`. Zeros stay exact zeros at any scale; a power of two has an exact, finite
/// reciprocal (quantizing multiplies by it), and this one is far below any real tensor's scale.
pub const MIN_SCALE: f32 = 1.0 / (1u32 << 24) as f32;

/// The INT8 scale of a tensor of range `amax`: `amax / 127`, at least [`MIN_SCALE`].
pub fn scale(amax: f32) -> f32 {
    // max() also turns a NaN into MIN_SCALE.
    (amax / 127.0).max(MIN_SCALE)
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "unknown calibration algorithm {0:?}: expected entropy, minmax, percentile (99.99) or \
     percentile:P with 0 < P <= 100"
)]
pub struct UnknownAlgorithm(String);

impl Algorithm {
    /// The name in the cache header and logs, which [`FromStr`] reads back:
    /// `entropy`, `minmax`, `percentile-99.99`.
    pub fn name(&self) -> String {
        match self {
            Algorithm::Entropy => "entropy".into(),
            Algorithm::Percentile(p) => format!("percentile-{p}"),
            Algorithm::MinMax => "minmax".into(),
        }
    }

    /// The range of the values of `h`. 0 when they were all zero (or there were none).
    pub fn amax(&self, h: &Histogram) -> f32 {
        if h.amax() == 0.0 {
            return 0.0;
        }
        match *self {
            Algorithm::Entropy => entropy_edge(h.bins()).map_or(h.amax(), |i| h.edge(i)),
            Algorithm::Percentile(p) => h.edge(percentile_edge(h.bins(), p)),
            Algorithm::MinMax => h.amax(),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    /// `entropy`, `minmax`, `percentile` (99.99), `percentile:P` (the CLI) or `percentile-P`
    /// (the cache header).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownAlgorithm(s.to_string());
        match s {
            "entropy" => Ok(Algorithm::Entropy),
            "minmax" => Ok(Algorithm::MinMax),
            "percentile" => Ok(Algorithm::Percentile(DEFAULT_PERCENTILE)),
            _ => {
                let p = s
                    .strip_prefix("percentile:")
                    .or_else(|| s.strip_prefix("percentile-"))
                    .ok_or_else(unknown)?;
                // p = 0 would clip everything: amax 0.
                match p.parse::<f64>() {
                    Ok(p) if p > 0.0 && p <= 100.0 => Ok(Algorithm::Percentile(p)),
                    _ => Err(unknown()),
                }
            }
        }
    }
}

/// Quantization levels of one sign of int8: 2^(8 - 1).
const LEVELS: usize = 128;

/// `_compute_amax_entropy(hist, edges, num_bits=8, unsigned=False, stride=1, start_bin=128)`:
/// the index `i` of the edge to clip at, or `None` where pytorch-quantization's answer is
/// meaningless (see below).
///
/// For each candidate `i` in 128..=BINS, the reference distribution is `bins[..i]` with the
/// counts of `bins[i..]` (the clipped outliers) added to its last bin; the candidate is
/// `bins[..i]` quantized to 128 levels, each level spreading its count evenly over its
/// non-empty bins (empty bins stay empty). The last `i` of least KL divergence wins; it is
/// infinite where outliers land in an empty last bin. Quirk kept: `bins[0]` is replaced by
/// `bins[1]` first (bin 0 holds every zero, often most of a ReLU output).
///
/// `None` when `bins[1..128]` are all empty: the smallest candidates then quantize nothing,
/// their divergence is 0/0 = NaN, and numpy's argmin picks NaN, so the reference answers an
/// arbitrary edge. The caller uses the exact max |x| instead.
fn entropy_edge(hist: &[u64]) -> Option<usize> {
    let mut bins = hist.to_vec();
    bins[0] = bins[1];
    if bins[1..LEVELS].iter().all(|&c| c == 0) {
        return None;
    }
    let total: u64 = bins.iter().sum();
    // Count of bins[i..], kept for the next i at the end of each step.
    let mut outliers = total - bins[..LEVELS].iter().sum::<u64>();
    let mut candidate = vec![0.0f64; BINS];
    let mut terms = vec![0.0f64; BINS];
    let mut best = (f64::INFINITY, BINS);
    for i in LEVELS..=BINS {
        // Level of bin j: np.digitize(j, np.linspace(0, i, 129)) - 1, which is exactly
        // floor(128 j / i) (the linspace points k * i / 128 are exact in f64).
        let level = |j: usize| j * LEVELS / i;
        let mut level_sum = [0.0f64; LEVELS];
        let mut level_nonempty = [0u32; LEVELS];
        for (j, &c) in bins[..i].iter().enumerate() {
            if c != 0 {
                level_sum[level(j)] += c as f64;
                level_nonempty[level(j)] += 1;
            }
        }
        for (j, &c) in bins[..i].iter().enumerate() {
            candidate[j] = if c == 0 {
                0.0
            } else {
                level_sum[level(j)] / f64::from(level_nonempty[level(j)])
            };
        }
        // scipy.stats.entropy(p, q): each normalized by its numpy sum, then sum(rel_entr(p, q)).
        // The reference's sum is the total count, an integer, exact in any order.
        let candidate_sum = numpy_sum(&candidate[..i]);
        for (j, term) in terms[..i].iter_mut().enumerate() {
            let reference = bins[j] + if j == i - 1 { outliers } else { 0 };
            let p = reference as f64 / total as f64;
            let q = candidate[j] / candidate_sum;
            *term = if p == 0.0 {
                0.0
            } else if q == 0.0 {
                f64::INFINITY
            } else {
                p * (p / q).ln()
            };
        }
        let divergence = numpy_sum(&terms[..i]);
        // `<=`: the last of equal minima, as the reference's argmin over the reversed list.
        if divergence <= best.0 {
            best = (divergence, i);
        }
        outliers -= bins.get(i).copied().unwrap_or(0);
    }
    Some(best.1)
}

/// `np.sum` of a contiguous f64 array: numpy's pairwise summation (`pairwise_sum` of its
/// `loops_utils.h`: blocks of at most 128 summed in 8 interleaved partial sums, halves split at a
/// multiple of 8). Divergences of neighbouring candidates can differ in the last bits only, so
/// the argmin is reproduced only with the same order of additions.
fn numpy_sum(xs: &[f64]) -> f64 {
    let n = xs.len();
    if n < 8 {
        xs.iter().fold(0.0, |s, x| s + x)
    } else if n <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&xs[..8]);
        let whole = n - n % 8;
        for block in xs[8..whole].chunks_exact(8) {
            for (r, x) in r.iter_mut().zip(block) {
                *r += x;
            }
        }
        let s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        xs[whole..].iter().fold(s, |s, x| s + x)
    } else {
        let half = n / 2 - (n / 2) % 8;
        numpy_sum(&xs[..half]) + numpy_sum(&xs[half..])
    }
}

/// `_compute_amax_percentile(hist, edges, p)`: the first `idx` where the running sum of
/// `count / total` reaches `p / 100` (`np.searchsorted(np.cumsum(hist / total), p / 100)`),
/// whose edge `edges[idx]` is the *lower* edge of the bin where the percentile falls. So
/// percentile 100 clips the last non-empty bin unless rounding leaves the running sum below 1,
/// in which case `idx` is past the end and the edge is the top of the range. A `p` outside
/// (0, 100] (only by building the variant directly) needs no special case: below 0 gives edge
/// 0, above 100 or NaN the top.
fn percentile_edge(hist: &[u64], p: f64) -> usize {
    let total = hist.iter().sum::<u64>() as f64;
    let target = p / 100.0;
    let mut cdf = 0.0;
    for (k, &c) in hist.iter().enumerate() {
        cdf += c as f64 / total;
        if cdf >= target {
            return k;
        }
    }
    hist.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_the_cli_forms_parse() {
        for a in [
            Algorithm::Entropy,
            Algorithm::MinMax,
            Algorithm::Percentile(99.99),
            Algorithm::Percentile(99.9),
            Algorithm::Percentile(100.0),
            Algorithm::Percentile(0.001),
        ] {
            assert_eq!(a.name().parse::<Algorithm>(), Ok(a), "{a}");
        }
        assert_eq!(Algorithm::Percentile(99.99).name(), "percentile-99.99");
        assert_eq!("percentile".parse(), Ok(Algorithm::Percentile(99.99)));
        assert_eq!("percentile:99.9".parse(), Ok(Algorithm::Percentile(99.9)));
        assert_eq!("percentile:100".parse(), Ok(Algorithm::Percentile(100.0)));
        assert_eq!(Algorithm::default(), Algorithm::Entropy);
        for bad in [
            "",
            "Entropy",
            "max",
            "percentile:",
            "percentile:0",
            "percentile:100.5",
            "percentile:-1",
            "percentile:NaN",
            "percentile:inf",
            "percentile99",
        ] {
            let e = bad.parse::<Algorithm>().unwrap_err();
            assert!(e.to_string().contains("percentile:P"), "{e}");
        }
    }

    #[test]
    fn scale_is_amax_over_127_and_never_zero() {
        assert_eq!(scale(127.0), 1.0);
        assert_eq!(scale(1.0).to_bits(), (1.0f32 / 127.0).to_bits());
        assert_eq!(scale(0.0), MIN_SCALE);
        assert_eq!(scale(f32::NAN), MIN_SCALE);
        assert_eq!(scale(1e-30), MIN_SCALE);
        assert_eq!(1.0 / MIN_SCALE, 16_777_216.0);
    }

    fn histogram(values: &[f32]) -> Histogram {
        let mut h = Histogram::new();
        h.add(values).unwrap();
        h
    }

    #[test]
    fn minmax_is_the_exact_max() {
        let h = histogram(&[0.25, -7.125, 3.0, 1e-3]);
        assert_eq!(Algorithm::MinMax.amax(&h), 7.125);
        // The histogram's top edge is a little above it.
        assert!(h.edge(BINS) > 7.125);
    }

    #[test]
    fn no_data_or_only_zeros_give_amax_zero() {
        for h in [Histogram::new(), histogram(&[0.0; 10])] {
            for a in [
                Algorithm::Entropy,
                Algorithm::Percentile(99.99),
                Algorithm::MinMax,
            ] {
                assert_eq!(a.amax(&h), 0.0);
            }
        }
    }

    #[test]
    fn percentile_100_keeps_all_but_the_last_bin_or_everything() {
        // 1000 values of 1.0, and 3.0, the max, alone in the last bin.
        let mut values = vec![1.0f32; 1000];
        values.push(3.0);
        let h = histogram(&values);
        let last = h.bins().iter().rposition(|&c| c != 0).unwrap();
        assert_eq!(last, BINS - 1);
        // Whichever way the running sum rounds, nothing below the last non-empty bin is
        // clipped, and at most that bin is.
        let amax = Algorithm::Percentile(100.0).amax(&h);
        assert!(amax == h.edge(last) || amax == h.edge(BINS), "{amax}");
        assert!(amax > 1.0);
        // Here 1000/1001 + 1/1001 rounds to exactly 1.0: the reference clips the last bin.
        assert_eq!(amax, h.edge(BINS - 1));
        // One bin's worth of percent less still keeps the 1.0s.
        let amax = Algorithm::Percentile(99.0).amax(&h);
        let one = h.bins().iter().position(|&c| c != 0).unwrap();
        assert_eq!(amax, h.edge(one));
    }

    #[test]
    fn percentile_picks_the_lower_edge_of_the_bin_reaching_it() {
        // Ten equal bins' worth of values: 10%, 20%, ... of the count at successive bins.
        let mut values = Vec::new();
        for k in 1..=10 {
            values.extend(std::iter::repeat_n(k as f32, 100));
        }
        let h = histogram(&values);
        let bin_of = |x: f32| (f64::from(x) / h.bin_width()) as usize;
        assert_eq!(Algorithm::Percentile(50.0).amax(&h), h.edge(bin_of(5.0)));
        assert_eq!(Algorithm::Percentile(50.1).amax(&h), h.edge(bin_of(6.0)));
        assert!(Algorithm::Percentile(50.0).amax(&h) < 5.0);
    }

    #[test]
    fn entropy_of_data_in_few_top_bins_falls_back_to_the_max() {
        // Zeros and values in the top half only: bins 1..128 empty.
        let h = histogram(&[0.0, 0.0, 0.7, 1.0]);
        assert_eq!(entropy_edge(h.bins()), None);
        assert_eq!(Algorithm::Entropy.amax(&h), 1.0);
    }

    #[test]
    fn entropy_of_a_flat_histogram_keeps_everything() {
        // Every bin equally full: quantizing loses nothing at i = 2048 (each level's bins are
        // equal), while any clip piles the outliers on one bin.
        let w = 1.0f64 / BINS as f64;
        let values: Vec<f32> = (0..BINS).map(|k| ((k as f64 + 0.5) * w) as f32).collect();
        let h = histogram(&values);
        assert!(h.bins().iter().all(|&c| c == 1));
        assert_eq!(entropy_edge(h.bins()), Some(BINS));
    }

    #[test]
    fn numpy_sum_adds_in_numpys_order() {
        // np.sum(1 / np.arange(1, 1001, dtype=np.float64)) with numpy 2.4.6, as f64 bits; a
        // plain left-to-right sum differs in the last bit.
        let xs: Vec<f64> = (1..=1000).map(|k| 1.0 / f64::from(k)).collect();
        assert_eq!(numpy_sum(&xs).to_bits(), 0x401d_f11f_45f4_e61a);
        assert_ne!(xs.iter().sum::<f64>().to_bits(), 0x401d_f11f_45f4_e61a);
    }

    #[test]
    fn numpy_sum_matches_plain_sums_of_integers() {
        for n in [0, 1, 7, 8, 9, 100, 128, 129, 1000, 2048] {
            let xs: Vec<f64> = (0..n).map(|k| (k % 13) as f64).collect();
            let plain: f64 = xs.iter().sum();
            assert_eq!(numpy_sum(&xs), plain, "n = {n}");
        }
    }
}

#!/usr/bin/env python3
"""Reference INT8 calibration ranges for edge-calib (calib/), from NVIDIA's pytorch-quantization.

`_compute_amax_entropy` and `_compute_amax_percentile` below follow
NVIDIA/TensorRT tools/pytorch-quantization/pytorch_quantization/calib/histogram.py
(Apache-2.0), step for step and with the same NumPy/SciPy calls, so that floating-point
results match too. Only the torch wrapping of the result is left out, and the entropy function
also returns its divergences (to see NaNs). pytorch-quantization's entropy is its replication
of TensorRT's EntropyCalibration2.

Subcommands:
  gen            write the fixture histograms (deterministic) to stdout
  amax FIXTURE   print the reference amax of every fixture histogram and algorithm

Fixture format, one block per histogram:
  histogram NAME
  first HEX      f32 bit pattern of the first value added; it sets the range to
                 first * (1 + 2^-20) (edge-calib's rule: that value falls in the last bin)
  doublings D    the range doubled D times after that: range = first * (1 + 2^-20) * 2^D
  counts K:C ... the non-zero bins of 2048, `first` included (in bin 2047 >> D)
Bin edges are np.linspace(0, range, 2049), as edge-calib's.

Needs numpy and scipy (`pip install numpy scipy`).
"""

from __future__ import annotations

import struct
import sys
from collections import Counter

import numpy as np
from scipy.stats import entropy

BINS = 2048
RANGE_MARGIN = 1.0 + 2.0**-20
PERCENTILES = [99.99, 99.9, 99.0, 50.0, 100.0]


# --------------------------------------------------------------------------
# pytorch-quantization (see the module docstring)
# --------------------------------------------------------------------------


def _compute_amax_entropy(calib_hist, calib_bin_edges, num_bits, unsigned, stride=1, start_bin=128):
    """Returns (amax, divergences): the amax minimizing the KL divergence of the histogram."""

    def _normalize_distr(distr):
        # Kept as in the original: it rebinds a local and normalizes nothing. scipy's entropy
        # normalizes both distributions itself.
        summ = np.sum(distr)
        if summ != 0:
            distr = distr / summ

    bins = calib_hist[:]
    bins[0] = bins[1]

    total_data = np.sum(bins)

    divergences = []
    arguments = []

    # 128 levels + sign for num_bits=8
    nbins = 1 << (num_bits - 1 + int(unsigned))

    starting = start_bin
    stop = len(bins)

    new_density_counts = np.zeros(nbins, dtype=np.float64)

    for i in range(starting, stop + 1, stride):
        new_density_counts.fill(0)
        space = np.linspace(0, i, num=nbins + 1)
        digitized_space = np.digitize(range(i), space) - 1

        digitized_space[bins[:i] == 0] = -1

        for idx, digitized in enumerate(digitized_space):
            if digitized != -1:
                new_density_counts[digitized] += bins[idx]

        counter = Counter(digitized_space)
        for key, val in counter.items():
            if key != -1:
                new_density_counts[key] = new_density_counts[key] / val

        new_density = np.zeros(i, dtype=np.float64)
        for idx, digitized in enumerate(digitized_space):
            if digitized != -1:
                new_density[idx] = new_density_counts[digitized]

        total_counts_new = np.sum(new_density) + np.sum(bins[i:])
        _normalize_distr(new_density)

        reference_density = np.array(bins[: len(digitized_space)])
        reference_density[-1] += np.sum(bins[i:])

        total_counts_old = np.sum(reference_density)
        if round(total_counts_new) != total_data or round(total_counts_old) != total_data:
            raise RuntimeError(
                "Count mismatch! total_counts_new={}, total_counts_old={}, total_data={}".format(
                    total_counts_new, total_counts_old, total_data
                )
            )

        _normalize_distr(reference_density)

        ent = entropy(reference_density, new_density)
        divergences.append(ent)
        arguments.append(i)

    divergences = np.array(divergences)
    last_argmin = len(divergences) - 1 - np.argmin(divergences[::-1])
    calib_amax = calib_bin_edges[last_argmin * stride + starting]
    return calib_amax.item(), divergences


def _compute_amax_percentile(calib_hist, calib_bin_edges, percentile):
    """Returns the amax that clips the percentile fraction of the collected data."""
    if percentile < 0 or percentile > 100:
        raise ValueError("Invalid percentile. Must be in range 0 <= percentile <= 100.")

    total = calib_hist.sum()
    cdf = np.cumsum(calib_hist / total)
    idx = np.searchsorted(cdf, percentile / 100)
    calib_amax = calib_bin_edges[idx]
    return calib_amax.item()


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------


def f32_bits(x) -> str:
    return struct.pack(">f", float(np.float32(x))).hex()


def from_bits(h: str) -> float:
    return struct.unpack(">f", bytes.fromhex(h))[0]


def hist_of_samples(x):
    """Counts of |x| in edge-calib's bins, the range set by max |x| (added first), no doubling."""
    x = np.abs(np.asarray(x, dtype=np.float32))
    m = float(x.max())
    per_unit = BINS / (m * RANGE_MARGIN)
    idx = np.minimum((x.astype(np.float64) * per_unit).astype(np.int64), BINS - 1)
    return np.bincount(idx, minlength=BINS), m, 0


def hist_of_counts(counts: dict[int, int], doublings=0):
    """Given counts, first value 1.0 (in bin 2047 >> doublings; with doublings, the top half
    must hold data, the values that doubled the range)."""
    assert counts.get((BINS - 1) >> doublings, 0) >= 1
    assert doublings == 0 or max(counts) >= BINS // 2
    h = np.zeros(BINS, dtype=np.int64)
    for k, c in counts.items():
        h[k] = c
    return h, 1.0, doublings


def fixtures():
    rng = np.random.default_rng(20240611)
    yield "half_normal", hist_of_samples(rng.standard_normal(200_000))
    yield "laplace", hist_of_samples(rng.laplace(size=200_000))
    relu = np.maximum(rng.standard_normal(200_000), 0) * (rng.random(200_000) < 0.6)
    yield "relu_mostly_zero", hist_of_samples(relu)
    yield "single_outlier", hist_of_samples(np.append(rng.standard_normal(100_000), 200.0))
    yield "uniform", hist_of_samples(rng.random(100_000))
    bimodal = np.concatenate([rng.normal(0.5, 0.1, 50_000), rng.normal(3.0, 0.3, 5_000)])
    yield "bimodal", hist_of_samples(bimodal)
    sparse = {int(k): int(rng.integers(1, 1000)) for k in rng.choice(BINS - 1, 200, replace=False)}
    sparse[BINS - 1] = 3
    yield "sparse_random_bins", hist_of_counts(sparse)
    # At most one non-empty bin per quantization level for many candidates: exact ties at
    # divergence 0, where the last argmin decides.
    every16 = {k: 100 + (k % 7) for k in range(16, BINS, 16)}
    every16[BINS - 1] = 1
    yield "every_16th_bin", hist_of_counts(every16)
    # A doubled range with empty top bins and one non-empty bin in 16 (all at 15 mod 16, as the
    # first value's bin 1023): every candidate from just past the data to 2048 quantizes
    # without loss, divergence exactly 0, and the last of those ties (2048) wins.
    ties = {k: 50 + (k % 5) for k in range(15, 1104, 16)}
    yield "doubled_exact_ties", hist_of_counts(ties, doublings=1)
    yield "few_bins", hist_of_counts({0: 5000, 3: 10, 90: 7, BINS - 1: 1})
    # bins[1:128] empty: divergences are NaN for the first candidates.
    yield "top_bins_only", hist_of_counts({0: 100, 1500: 20, BINS - 1: 1})
    yield "constant", hist_of_counts({BINS - 1: 1000})


def gen():
    print("# edge-calib reference histograms, written by: tools/reference/calib_ref.py gen")
    print(f"# numpy {np.__version__}; see the format in calib_ref.py's docstring")
    for name, (hist, first, doublings) in fixtures():
        nz = np.nonzero(hist)[0]
        print(f"histogram {name}")
        print(f"first {f32_bits(first)}")
        print(f"doublings {doublings}")
        print("counts " + " ".join(f"{k}:{hist[k]}" for k in nz))


def read_fixtures(path):
    out = []
    with open(path) as f:
        for line in f:
            words = line.split()
            if not words or words[0].startswith("#"):
                continue
            if words[0] == "histogram":
                out.append({"name": words[1]})
            elif words[0] == "first":
                out[-1]["first"] = from_bits(words[1])
            elif words[0] == "doublings":
                out[-1]["doublings"] = int(words[1])
            elif words[0] == "counts":
                h = np.zeros(BINS, dtype=np.int64)
                for kc in words[1:]:
                    k, c = kc.split(":")
                    h[int(k)] = int(c)
                out[-1]["hist"] = h
            else:
                raise ValueError(f"{path}: unexpected line {line!r}")
    return out


def amax(path):
    import scipy

    print(f"# reference amax of {path}, written by: tools/reference/calib_ref.py amax {path}")
    print(f"# numpy {np.__version__}, scipy {scipy.__version__}")
    print("# NAME ALGORITHM EDGE_INDEX AMAX(f64 repr of the edge)")
    print("# entropy-nan: some divergences were NaN, the answer is numpy's argmin over NaN")
    for fx in read_fixtures(path):
        edges = np.linspace(0, fx["first"] * RANGE_MARGIN * 2 ** fx["doublings"], BINS + 1)
        index = {float(e): i for i, e in enumerate(edges)}
        a, div = _compute_amax_entropy(fx["hist"].copy(), edges, 8, False)
        algo = "entropy-nan" if np.isnan(div).any() else "entropy"
        print(f"{fx['name']} {algo} {index[a]} {a!r}")
        for p in PERCENTILES:
            a = _compute_amax_percentile(fx["hist"].copy(), edges, p)
            print(f"{fx['name']} percentile-{p:g} {index[a]} {a!r}")


def main():
    if sys.argv[1:] == ["gen"]:
        gen()
    elif len(sys.argv) == 3 and sys.argv[1] == "amax":
        amax(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

//! Entropy and percentile ranges against NVIDIA pytorch-quantization's, as computed by
//! `tools/reference/calib_ref.py` (NumPy + SciPy) on the histograms of `fixtures/`; see
//! `fixtures/README.md` for how both files were made.
//!
//! Each fixture histogram is rebuilt through `Histogram::add`: its first value (which sets the
//! range), then for every bin as many values at the bin's centre (of the final range) as it
//! counts, which double the range as the fixture says. Both sides pick a bin edge, so the ranges
//! must be equal, not close.

use edge_calib::{Algorithm, Histogram, BINS};

struct Fixture {
    name: String,
    first: f32,
    doublings: i32,
    counts: Vec<u64>,
}

fn fixture_path(file: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(file)
}

/// Lines of `file` without comments and blank lines, split into words.
fn lines(file: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(fixture_path(file)).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

fn fixtures() -> Vec<Fixture> {
    let mut out: Vec<Fixture> = Vec::new();
    for words in lines("histograms.txt") {
        match words[0].as_str() {
            "histogram" => out.push(Fixture {
                name: words[1].clone(),
                first: 0.0,
                doublings: 0,
                counts: vec![0; BINS],
            }),
            "first" => {
                let last = out.last_mut().unwrap();
                last.first = f32::from_bits(u32::from_str_radix(&words[1], 16).unwrap());
            }
            "doublings" => out.last_mut().unwrap().doublings = words[1].parse().unwrap(),
            "counts" => {
                let last = out.last_mut().unwrap();
                for kc in &words[1..] {
                    let (k, c) = kc.split_once(':').unwrap();
                    last.counts[k.parse::<usize>().unwrap()] = c.parse().unwrap();
                }
            }
            other => panic!("histograms.txt: unexpected {other}"),
        }
    }
    out
}

fn histogram(f: &Fixture) -> Histogram {
    let mut h = Histogram::new();
    h.add(&[f.first]).unwrap();
    let w = h.bin_width() * 2f64.powi(f.doublings);
    let first_bin = (BINS - 1) >> f.doublings;
    let mut values = Vec::new();
    for (k, &c) in f.counts.iter().enumerate() {
        let n = if k == first_bin { c - 1 } else { c };
        let centre = ((k as f64 + 0.5) * w) as f32;
        values.extend(std::iter::repeat_n(centre, n as usize));
    }
    h.add(&values).unwrap();
    assert_eq!(h.bin_width(), w, "{}: range", f.name);
    assert_eq!(h.bins(), &f.counts[..], "{}: histogram rebuilt", f.name);
    h
}

#[test]
fn entropy_and_percentile_equal_pytorch_quantization() {
    let fixtures = fixtures();
    assert_eq!(fixtures.len(), 12);
    let mut checked = 0;
    let mut fallbacks = 0;
    for words in lines("reference_amax.txt") {
        let [name, algorithm, edge, amax] = &words[..] else {
            panic!("reference_amax.txt: {words:?}");
        };
        let f = fixtures.iter().find(|f| &f.name == name).unwrap();
        let h = histogram(f);
        let reference = amax.parse::<f64>().unwrap() as f32;
        let what = format!("{name} {algorithm} (reference: edge {edge}, {reference})");
        if algorithm == "entropy-nan" {
            // The reference's divergences had NaNs there and numpy's argmin picked one; we
            // take the max |x| instead (algorithm.rs, entropy_edge).
            assert_eq!(Algorithm::Entropy.amax(&h), h.amax(), "{what}");
            fallbacks += 1;
        } else {
            let a: Algorithm = algorithm.parse().unwrap();
            assert_eq!(a.amax(&h).to_bits(), reference.to_bits(), "{what}");
        }
        checked += 1;
    }
    assert_eq!((checked, fallbacks), (12 * 6, 2));
}

//! The calibration cache: a text file of one INT8 scale per tensor, in TensorRT's line format,
//! so a cache TensorRT wrote can be read and ours can be read by TensorRT's tools.
//!
//! ```text
//! EDGE-INFER-CALIB-1 entropy graph=9c1f2e3d4a5b6c7d
//! input: 3c010a14
//! (Unnamed Layer* 3) [Convolution]_output: 3d0b7086
//! ```
//!
//! - Line 1, ours: `EDGE-INFER-CALIB-1 <algorithm> graph=<hash>`: the [`Algorithm`] name
//!   (`entropy`, `minmax`, `percentile-99.99`) and the graph hash as 16 lowercase hex digits, so
//!   a cache made for another model or other weights is noticed. TensorRT's
//!   `TRT-<version>-<calibrator>` (`TRT-8601-EntropyCalibration2`) is read too; it has no graph
//!   hash, so only the tensor names can be checked.
//! - Then one `<tensor name>: <scale>` line per tensor. The scale (amax / 127) is the f32 bit
//!   pattern in hex, big-endian as written (1.0 is `3f800000`): exact, so a cache reads back bit
//!   for bit. Names may hold `:` and spaces (TensorRT's `(Unnamed Layer* 3) [Convolution]_output`,
//!   TF's `input_1:0`): a line splits at its last `": "`.
//! - Blank lines may end the file, nowhere else.
//!
//! We write exactly 8 hex digits and only finite scales > 0. TensorRT does not pad its hex, and
//! writes `0` for a tensor it found uniformly zero (seen in TensorRT 8.4 caches): a TensorRT cache
//! may have 1 to 8 digits and scale 0, which the caller must treat as "no range".

use crate::algorithm::Algorithm;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const MAGIC: &str = "EDGE-INFER-CALIB-1";

#[derive(Debug, Clone, PartialEq)]
pub struct CalibCache {
    pub header: Header,
    /// In file order; names are unique.
    pub scales: Vec<(String, f32)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    Edge { algorithm: String, graph_hash: u64 },
    TensorRt { version: String, calibrator: String },
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// `line` counts from 1; for a cache being written, the line it would have been on.
    #[error("line {line}: {problem}")]
    Line { line: usize, problem: String },
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        source: Box<CacheError>,
    },
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Names the path itself.
    #[error(transparent)]
    Write(edge_engine::Error),
}

impl CacheError {
    fn line(line: usize, problem: String) -> Self {
        CacheError::Line { line, problem }
    }

    fn in_file(self, path: &Path) -> Self {
        CacheError::File {
            path: path.to_path_buf(),
            source: Box::new(self),
        }
    }
}

impl CalibCache {
    pub fn parse(text: &str) -> Result<CalibCache, CacheError> {
        let mut lines = text.lines().zip(1..);
        let header = match lines.next() {
            Some((line, _)) => parse_header(line).map_err(|p| CacheError::line(1, p))?,
            None => return Err(CacheError::line(1, "empty: no header".into())),
        };
        let mut entries = Entries::default();
        let mut blank = None;
        for (line, n) in lines {
            if line.trim().is_empty() {
                blank = blank.or(Some(n));
                continue;
            }
            let at = |p| CacheError::line(n, p);
            if let Some(b) = blank {
                return Err(CacheError::line(b, "blank line between entries".into()));
            }
            let (name, hex) = line.rsplit_once(": ").ok_or_else(|| {
                at(format!(
                    "no \": \" between a tensor name and its scale: {}",
                    quoted(line)
                ))
            })?;
            let scale = parse_scale(&header, hex).map_err(at)?;
            entries.push(&header, name, scale, n).map_err(at)?;
        }
        Ok(CalibCache {
            header,
            scales: entries.scales,
        })
    }

    /// The file's text. Refuses (with the line it would be on) whatever would not read back as
    /// this cache: an empty name or one with a line break, a duplicate, a scale that is not
    /// finite and > 0 (or 0, in a TensorRT cache), a header with an unknown algorithm.
    pub fn to_text(&self) -> Result<String, CacheError> {
        check_header(&self.header).map_err(|p| CacheError::line(1, p))?;
        let mut text = match &self.header {
            Header::Edge {
                algorithm,
                graph_hash,
            } => format!("{MAGIC} {algorithm} graph={graph_hash:016x}\n"),
            Header::TensorRt {
                version,
                calibrator,
            } => format!("TRT-{version}-{calibrator}\n"),
        };
        let mut entries = Entries::default();
        for ((name, scale), n) in self.scales.iter().zip(2..) {
            if name.contains('\n') {
                let problem = format!("tensor name {} has a line break", quoted(name));
                return Err(CacheError::line(n, problem));
            }
            entries
                .push(&self.header, name, *scale, n)
                .map_err(|p| CacheError::line(n, p))?;
            // Infallible: writing to a String.
            let _ = writeln!(text, "{name}: {:08x}", scale.to_bits());
        }
        Ok(text)
    }

    pub fn read(path: &Path) -> Result<CalibCache, CacheError> {
        let text = std::fs::read_to_string(path).map_err(|source| CacheError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|e| e.in_file(path))
    }

    /// Writes atomically: a reader sees the old file or the whole new one.
    pub fn write(&self, path: &Path) -> Result<(), CacheError> {
        let text = self.to_text().map_err(|e| e.in_file(path))?;
        edge_engine::atomic_file::write(path, text.as_bytes()).map_err(CacheError::Write)
    }

    pub fn get(&self, name: &str) -> Option<f32> {
        self.scales.iter().find(|(n, _)| n == name).map(|&(_, s)| s)
    }
}

fn parse_header(line: &str) -> Result<Header, String> {
    let header = if let Some(rest) = line.strip_prefix("TRT-") {
        let (version, calibrator) = rest.split_once('-').unwrap_or((rest, ""));
        Header::TensorRt {
            version: version.into(),
            calibrator: calibrator.into(),
        }
    } else {
        let words: Vec<&str> = line.split(' ').collect();
        match words[..] {
            [MAGIC, algorithm, graph] => {
                let hex = graph.strip_prefix("graph=").unwrap_or("");
                let lowercase_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
                if hex.len() != 16 || !hex.bytes().all(lowercase_hex) {
                    return Err(format!(
                        "{}: the graph hash is not graph=<16 lowercase hex digits>",
                        quoted(graph)
                    ));
                }
                Header::Edge {
                    algorithm: algorithm.into(),
                    // Infallible after the check above.
                    graph_hash: u64::from_str_radix(hex, 16).unwrap_or_default(),
                }
            }
            [w, ..] if w.starts_with("EDGE-INFER-CALIB-") && w != MAGIC => {
                return Err(format!(
                    "{}: a cache format this build cannot read (it reads {MAGIC})",
                    quoted(w)
                ))
            }
            _ => {
                return Err(format!(
                    "not a calibration cache header: expected \"{MAGIC} <algorithm> \
                     graph=<16 hex digits>\" or TensorRT's \"TRT-<version>-<calibrator>\", found {}",
                    quoted(line)
                ))
            }
        }
    };
    check_header(&header)?;
    Ok(header)
}

fn check_header(header: &Header) -> Result<(), String> {
    match header {
        Header::Edge { algorithm, .. } => match algorithm.parse::<Algorithm>() {
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        },
        Header::TensorRt {
            version,
            calibrator,
        } => {
            let digits = !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit());
            let name =
                !calibrator.is_empty() && calibrator.bytes().all(|b| b.is_ascii_alphanumeric());
            if digits && name {
                Ok(())
            } else {
                Err(format!(
                    "TensorRT header TRT-{version}-{calibrator} is not TRT-<digits>-<calibrator \
                     name>"
                ))
            }
        }
    }
}

fn parse_scale(header: &Header, hex: &str) -> Result<f32, String> {
    let digits = match header {
        Header::Edge { .. } => 8..=8,
        Header::TensorRt { .. } => 1..=8,
    };
    if !digits.contains(&hex.len()) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let want = if digits.start() == digits.end() {
            "8 hex digits"
        } else {
            "1 to 8 hex digits"
        };
        return Err(format!(
            "scale {} is not {want} (an f32 bit pattern)",
            quoted(hex)
        ));
    }
    // Infallible after the check above.
    Ok(f32::from_bits(
        u32::from_str_radix(hex, 16).unwrap_or_default(),
    ))
}

/// The entries so far, checked as both reading and writing need.
#[derive(Default)]
struct Entries {
    scales: Vec<(String, f32)>,
    /// Line of each name.
    lines: HashMap<String, usize>,
}

impl Entries {
    fn push(&mut self, header: &Header, name: &str, scale: f32, line: usize) -> Result<(), String> {
        if name.is_empty() {
            return Err("empty tensor name".into());
        }
        let zero_ok = matches!(header, Header::TensorRt { .. });
        if !scale.is_finite() || scale.is_sign_negative() || (scale == 0.0 && !zero_ok) {
            return Err(format!(
                "tensor {}: scale {scale:e} ({:08x}) is not finite and {}",
                quoted(name),
                scale.to_bits(),
                if zero_ok { ">= 0" } else { "> 0" }
            ));
        }
        if let Some(first) = self.lines.insert(name.to_string(), line) {
            return Err(format!(
                "tensor {} again (first on line {first})",
                quoted(name)
            ));
        }
        self.scales.push((name.to_string(), scale));
        Ok(())
    }
}

/// `s` in quotes for a message, cut short: a line of a binary file can be megabytes long.
fn quoted(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}...", &s[..cut]),
        None => format!("{s:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_engine::rng::SplitMix64;

    fn line_of(e: CacheError) -> (usize, String) {
        match e {
            CacheError::Line { line, problem } => (line, problem),
            e => panic!("not a line error: {e}"),
        }
    }

    #[test]
    fn random_scales_round_trip_bit_exact() {
        let mut rng = SplitMix64::new(11);
        let mut scales = Vec::new();
        while scales.len() < 5000 {
            let s = f32::from_bits(rng.next_u64() as u32);
            if s.is_finite() && s > 0.0 {
                scales.push((format!("t{}: x", scales.len()), s));
            }
        }
        // And the extremes.
        for s in [
            f32::MIN_POSITIVE,
            f32::from_bits(1),
            f32::MAX,
            1.0,
            1.0 / 127.0,
        ] {
            scales.push((format!("edge {s:e}"), s));
        }
        let cache = CalibCache {
            header: Header::Edge {
                algorithm: "percentile-99.99".into(),
                graph_hash: 0x0123_4567_89ab_cdef,
            },
            scales,
        };
        let text = cache.to_text().unwrap();
        assert!(text.starts_with("EDGE-INFER-CALIB-1 percentile-99.99 graph=0123456789abcdef\n"));
        assert!(text.contains("edge 1e0: 3f800000\n"), "{text:.200}");
        let back = CalibCache::parse(&text).unwrap();
        assert_eq!(back.header, cache.header);
        assert_eq!(back.scales.len(), cache.scales.len());
        for ((n1, s1), (n2, s2)) in cache.scales.iter().zip(&back.scales) {
            assert_eq!((n1, s1.to_bits()), (n2, s2.to_bits()));
        }
    }

    #[test]
    fn reads_a_tensorrt_cache() {
        // 3c010a14: sign 0, exponent 0x78 = 120 (2^-7), mantissa 0x010a14 = 68116, so
        // (1 + 68116 / 2^23) * 2^-7 = 0.0078760...; times 127: 1.00025..., TensorRT's scale of a
        // [-1, 1] input. 3f800000 is 1.0; 0 is TensorRT's "uniformly zero" tensor.
        let text = "TRT-8601-EntropyCalibration2\n\
                    input: 3c010a14\n\
                    (Unnamed Layer* 3) [Convolution]_output: 3d0b7086\n\
                    input_1:0: 3f800000\n\
                    a: b: c: 40000000\n\
                    (Unnamed Layer* 64) [Shuffle]_output: 0\n\
                    \n\n";
        let cache = CalibCache::parse(text).unwrap();
        assert_eq!(
            cache.header,
            Header::TensorRt {
                version: "8601".into(),
                calibrator: "EntropyCalibration2".into()
            }
        );
        let input = cache.get("input").unwrap();
        assert_eq!(input, (1.0 + 68116.0 / 8388608.0) / 128.0);
        assert!((input * 127.0 - 1.000_25).abs() < 1e-5, "{input}");
        assert_eq!(cache.get("input_1:0"), Some(1.0));
        assert_eq!(cache.get("a: b: c"), Some(2.0));
        assert_eq!(cache.get("(Unnamed Layer* 64) [Shuffle]_output"), Some(0.0));
        assert_eq!(
            cache.get("(Unnamed Layer* 3) [Convolution]_output"),
            Some(f32::from_bits(0x3d0b7086))
        );
        assert_eq!(cache.get("missing"), None);
        assert_eq!(cache.scales.len(), 5);
        // TensorRT 10's five-digit version, with CRLF line ends.
        let cache = CalibCache::parse("TRT-100300-EntropyCalibration2\r\nx: 3c010a14\r\n").unwrap();
        assert_eq!(cache.get("x"), Some(input));
    }

    #[test]
    fn each_malformed_line_is_named() {
        let edge = "EDGE-INFER-CALIB-1 entropy graph=00000000000000ff\n";
        let trt = "TRT-8601-EntropyCalibration2\n";
        let cases: &[(&str, String, usize, &str)] = &[
            ("empty file", String::new(), 1, "no header"),
            (
                "unknown header",
                "calibration\na: 3f800000\n".into(),
                1,
                "not a calibration cache header",
            ),
            (
                "newer format",
                "EDGE-INFER-CALIB-2 entropy graph=00000000000000ff\n".into(),
                1,
                "cannot read",
            ),
            (
                "short hash",
                "EDGE-INFER-CALIB-1 entropy graph=ff\n".into(),
                1,
                "16 lowercase hex",
            ),
            (
                "uppercase hash",
                "EDGE-INFER-CALIB-1 entropy graph=00000000000000FF\n".into(),
                1,
                "16 lowercase hex",
            ),
            (
                "unknown algorithm",
                "EDGE-INFER-CALIB-1 kl graph=00000000000000ff\n".into(),
                1,
                "unknown calibration algorithm",
            ),
            (
                "two spaces",
                "EDGE-INFER-CALIB-1  entropy graph=00000000000000ff\n".into(),
                1,
                "header",
            ),
            (
                "bad TRT version",
                "TRT-86x1-EntropyCalibration2\n".into(),
                1,
                "TRT-<digits>",
            ),
            ("no TRT calibrator", "TRT-8601\n".into(), 1, "TRT-<digits>"),
            (
                "no separator",
                format!("{edge}a: 3f800000\nb 3f800000\n"),
                3,
                "no \": \"",
            ),
            (
                "colon without space",
                format!("{edge}a:3f800000\n"),
                2,
                "no \": \"",
            ),
            (
                "7 digits",
                format!("{edge}a: 3f80000\n"),
                2,
                "not 8 hex digits",
            ),
            (
                "not hex",
                format!("{edge}a: 3f80000g\n"),
                2,
                "not 8 hex digits",
            ),
            (
                "trailing space",
                format!("{edge}a: 3f800000 \n"),
                2,
                "not 8 hex digits",
            ),
            (
                "9 TRT digits",
                format!("{trt}a: 3f8000000\n"),
                2,
                "1 to 8 hex digits",
            ),
            ("zero in ours", format!("{edge}a: 00000000\n"), 2, "> 0"),
            ("negative", format!("{edge}a: bf800000\n"), 2, "> 0"),
            (
                "negative zero in TRT",
                format!("{trt}a: 80000000\n"),
                2,
                ">= 0",
            ),
            (
                "infinity",
                format!("{edge}a: 3f800000\nb: 7f800000\n"),
                3,
                "not finite",
            ),
            ("NaN in TRT", format!("{trt}a: 7fc00000\n"), 2, "not finite"),
            (
                "empty name",
                format!("{edge}: 3f800000\n"),
                2,
                "empty tensor name",
            ),
            (
                "duplicate",
                format!("{edge}a: 3f800000\nb: 3f800000\na: 40000000\n"),
                4,
                "first on line 2",
            ),
            (
                "inner blank line",
                format!("{edge}a: 3f800000\n\nb: 3f800000\n"),
                3,
                "blank line",
            ),
        ];
        for (what, text, line, needle) in cases {
            let (got, problem) = line_of(CalibCache::parse(text).unwrap_err());
            assert_eq!(got, *line, "{what}: {problem}");
            assert!(problem.contains(needle), "{what}: {problem}");
        }
    }

    #[test]
    fn a_cache_that_would_not_read_back_is_not_written() {
        let cache = |algorithm: &str, scales: &[(&str, f32)]| CalibCache {
            header: Header::Edge {
                algorithm: algorithm.into(),
                graph_hash: 1,
            },
            scales: scales.iter().map(|&(n, s)| (n.to_string(), s)).collect(),
        };
        let cases = [
            (cache("entropy", &[("a", 1.0), ("b", 0.0)]), 3),
            (cache("entropy", &[("a", f32::NAN)]), 2),
            (cache("entropy", &[("a", 1.0), ("a", 2.0)]), 3),
            (cache("entropy", &[("", 1.0)]), 2),
            (cache("entropy", &[("a\nb", 1.0)]), 2),
            (cache("fast", &[("a", 1.0)]), 1),
        ];
        for (c, line) in cases {
            assert_eq!(line_of(c.to_text().unwrap_err()).0, line, "{c:?}");
        }
        // TensorRT's zero scale is kept, padded.
        let trt = CalibCache {
            header: Header::TensorRt {
                version: "8601".into(),
                calibrator: "EntropyCalibration2".into(),
            },
            scales: vec![("z".into(), 0.0)],
        };
        assert_eq!(
            trt.to_text().unwrap(),
            "TRT-8601-EntropyCalibration2\nz: 00000000\n"
        );
    }

    #[test]
    fn read_and_write_name_the_file() {
        let dir = std::env::temp_dir().join(format!("edge-calib-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("model.calib");
        let cache = CalibCache {
            header: Header::Edge {
                algorithm: "minmax".into(),
                graph_hash: u64::MAX,
            },
            scales: vec![("conv 1: out".into(), 0.5)],
        };
        cache.write(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "EDGE-INFER-CALIB-1 minmax graph=ffffffffffffffff\nconv 1: out: 3f000000\n"
        );
        assert_eq!(CalibCache::read(&path).unwrap(), cache);

        std::fs::write(
            &path,
            "EDGE-INFER-CALIB-1 minmax graph=ffffffffffffffff\nx: 1\n",
        )
        .unwrap();
        let e = CalibCache::read(&path).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}: line 2: ", path.display())),
            "{e}"
        );

        let missing = dir.join("missing.calib");
        let e = CalibCache::read(&missing).unwrap_err().to_string();
        assert!(e.starts_with(&missing.display().to_string()), "{e}");

        let bad = CalibCache {
            scales: vec![("x".into(), -1.0)],
            ..cache
        };
        let e = bad.write(&path).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}: line 2: ", path.display())),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

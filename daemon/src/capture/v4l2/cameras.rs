//! `edge-infer cameras`: every V4L2 capture device with its formats, sizes and rates.

use super::*;

/// A V4L2 capture device as `edge-infer cameras` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct CameraInfo {
    pub path: String,
    pub driver: String,
    pub card: String,
    pub bus: String,
    /// Capture formats in the driver's order.
    pub formats: Vec<FormatInfo>,
    /// Why the device could not be opened or used (then the other fields may be empty).
    pub problem: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FormatInfo {
    pub fourcc: [u8; 4],
    pub description: String,
    pub compressed: bool,
    /// The format as edge-infer knows it; None if edge-infer cannot read it.
    pub pixel_format: Option<PixelFormat>,
    pub sizes: Vec<SizeInfo>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SizeInfo {
    /// One size and its frame rates, fastest first.
    Discrete {
        width: u32,
        height: u32,
        rates: Rates,
    },
    /// Any size in a range (rates as at the largest size).
    Stepwise {
        min: (u32, u32),
        max: (u32, u32),
        step: (u32, u32),
        rates: Rates,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Rates {
    /// Frames per second, fastest first.
    Discrete(Vec<f32>),
    /// Any rate between these.
    Range { min_fps: f32, max_fps: f32 },
    /// The driver does not enumerate rates.
    Unknown,
}

impl CameraInfo {
    /// Reads what `path` offers; devices that are not video capture devices give None.
    pub fn probe(path: &str) -> Option<CameraInfo> {
        let mut info = CameraInfo {
            path: path.to_string(),
            driver: String::new(),
            card: String::new(),
            bus: String::new(),
            formats: Vec::new(),
            problem: None,
        };
        let device = match Device::with_path(path) {
            Ok(d) => d,
            Err(e) => {
                info.problem = Some(match open_error(path, e) {
                    CaptureError::Disconnected(m) | CaptureError::Unusable(m) => m,
                    e => e.to_string(),
                });
                return Some(info);
            }
        };
        let caps = device.query_caps().ok()?;
        if !caps
            .capabilities
            .intersects(Caps::VIDEO_CAPTURE | Caps::VIDEO_CAPTURE_MPLANE)
        {
            return None;
        }
        info.driver = caps.driver;
        info.card = caps.card;
        info.bus = caps.bus;
        if let Err(why) = check_capabilities(caps.capabilities) {
            info.problem = Some(format!("it {why}"));
            return Some(info);
        }
        for desc in device.enum_formats().unwrap_or_default() {
            let sizes = device
                .enum_framesizes(desc.fourcc)
                .unwrap_or_default()
                .into_iter()
                .map(|s| match s.size {
                    FrameSizeEnum::Discrete(d) => SizeInfo::Discrete {
                        width: d.width,
                        height: d.height,
                        rates: rates(&device, desc.fourcc, d.width, d.height),
                    },
                    FrameSizeEnum::Stepwise(s) => SizeInfo::Stepwise {
                        min: (s.min_width, s.min_height),
                        max: (s.max_width, s.max_height),
                        step: (s.step_width, s.step_height),
                        rates: rates(&device, desc.fourcc, s.max_width, s.max_height),
                    },
                })
                .collect();
            info.formats.push(FormatInfo {
                fourcc: desc.fourcc.repr,
                description: desc.description,
                compressed: desc.flags.contains(FormatFlags::COMPRESSED),
                pixel_format: PixelFormat::from_fourcc(desc.fourcc.repr),
                sizes,
            });
        }
        Some(info)
    }

    /// The listing `edge-infer cameras` prints for this device.
    pub fn describe(&self) -> String {
        self.to_string()
    }
}

fn rates(device: &Device, fourcc: FourCC, width: u32, height: u32) -> Rates {
    let Ok(intervals) = device.enum_frameintervals(fourcc, width, height) else {
        return Rates::Unknown;
    };
    let mut discrete = Vec::new();
    for i in intervals {
        match i.interval {
            FrameIntervalEnum::Discrete(f) => discrete.extend(interval_to_fps(f)),
            FrameIntervalEnum::Stepwise(s) => {
                return Rates::Range {
                    min_fps: interval_to_fps(s.max).unwrap_or(0.0),
                    max_fps: interval_to_fps(s.min).unwrap_or(0.0),
                }
            }
        }
    }
    if discrete.is_empty() {
        return Rates::Unknown;
    }
    discrete.sort_by(|a, b| b.total_cmp(a));
    discrete.dedup();
    Rates::Discrete(discrete)
}

/// Every V4L2 video capture device under /dev, in node order.
pub fn list_cameras() -> Vec<CameraInfo> {
    let mut nodes: Vec<(u32, String)> = std::fs::read_dir("/dev")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let n = name.strip_prefix("video")?.parse().ok()?;
            Some((n, format!("/dev/{name}")))
        })
        .collect();
    nodes.sort();
    nodes
        .iter()
        .filter_map(|(_, p)| CameraInfo::probe(p))
        .collect()
}

impl fmt::Display for Rates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rates::Discrete(r) => {
                let r: Vec<String> = r.iter().map(|r| format!("{}", Fps(*r))).collect();
                write!(f, "{} fps", r.join(", "))
            }
            Rates::Range { min_fps, max_fps } => {
                write!(f, "{}..{} fps", Fps(*min_fps), Fps(*max_fps))
            }
            Rates::Unknown => f.write_str("rates not listed"),
        }
    }
}

/// A frame rate printed with at most two decimals and no trailing zeros: 30, 29.97, 7.5.
pub(super) struct Fps(pub(super) f32);

impl fmt::Display for Fps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = format!("{:.2}", self.0);
        f.write_str(s.trim_end_matches('0').trim_end_matches('.'))
    }
}

impl fmt::Display for CameraInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path)?;
        if !self.card.is_empty() {
            write!(f, ": {} (driver {}, {})", self.card, self.driver, self.bus)?;
        }
        writeln!(f)?;
        if let Some(p) = &self.problem {
            writeln!(f, "  not usable: {p}")?;
        }
        let mut other = Vec::new();
        for fmt in &self.formats {
            let Some(pf) = fmt.pixel_format else {
                other.push(fourcc_str(fmt.fourcc));
                continue;
            };
            writeln!(
                f,
                "  {:<6} {} ({})",
                pf.name(),
                fourcc_str(fmt.fourcc),
                fmt.description
            )?;
            for size in &fmt.sizes {
                match size {
                    SizeInfo::Discrete {
                        width,
                        height,
                        rates,
                    } => writeln!(f, "    {:>11}  {rates}", format!("{width}x{height}"))?,
                    SizeInfo::Stepwise {
                        min,
                        max,
                        step,
                        rates,
                    } => writeln!(
                        f,
                        "    {}x{} to {}x{} in steps of {}x{}  {rates}",
                        min.0, min.1, max.0, max.1, step.0, step.1
                    )?,
                }
            }
        }
        if self.problem.is_none() && self.formats.iter().all(|f| f.pixel_format.is_none()) {
            writeln!(f, "  none of its formats is one edge-infer reads")?;
        }
        if !other.is_empty() {
            writeln!(
                f,
                "  also offers (edge-infer does not read these): {}",
                other.join(" ")
            )?;
        }
        Ok(())
    }
}

//! Synthetic-scene datasets on disk: `images/NNNNNN.png` and YOLO-format labels
//! `labels/NNNNNN.txt` (`class cx cy w h`, normalized), plus `classes.names`. Scene `i` of
//! seed `s` is the same scene the `synthetic:scenes:s` camera shows as frame `i`.

use crate::scene::{Scene, Truth, CLASSES};
use edge_engine::{Error, Result};
use std::path::{Path, PathBuf};

/// Shapes per scene at most.
pub const MAX_SHAPES: usize = 6;

/// The scene behind image `index` of a dataset made with `seed`.
pub fn scene(seed: u64, index: u64, width: usize, height: usize) -> Scene {
    Scene::random(
        seed.wrapping_mul(0x9E37_79B9).wrapping_add(index),
        width,
        height,
        MAX_SHAPES,
    )
}

pub fn label_text(truth: &[Truth], width: usize, height: usize) -> String {
    let (w, h) = (width as f32, height as f32);
    truth
        .iter()
        .map(|t| {
            format!(
                "{} {:.6} {:.6} {:.6} {:.6}\n",
                t.class,
                (t.x1 + t.x2) / 2.0 / w,
                (t.y1 + t.y2) / 2.0 / h,
                (t.x2 - t.x1) / w,
                (t.y2 - t.y1) / h
            )
        })
        .collect()
}

/// Writes `count` scenes; every file atomically. `progress(i)` after each.
pub fn synth(
    out: &Path,
    count: u64,
    seed: u64,
    width: usize,
    height: usize,
    mut progress: impl FnMut(u64),
) -> Result<()> {
    let (images, labels) = (out.join("images"), out.join("labels"));
    for d in [&images, &labels] {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    let names: String = CLASSES.iter().map(|c| format!("{c}\n")).collect();
    edge_engine::atomic_file::write(&out.join("classes.names"), names.as_bytes())?;
    let mut rgb = vec![0u8; width * height * 3];
    let mut truth = Vec::new();
    for i in 0..count {
        let s = scene(seed, i, width, height);
        s.render(&mut rgb);
        s.truth(&mut truth);
        let mut png = Vec::new();
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(
                &rgb,
                width as u32,
                height as u32,
                image::ExtendedColorType::Rgb8,
            )
            .map_err(|e| Error::Input(format!("encoding image {i}: {e}")))?;
        edge_engine::atomic_file::write(&images.join(format!("{i:06}.png")), &png)?;
        edge_engine::atomic_file::write(
            &labels.join(format!("{i:06}.txt")),
            label_text(&truth, width, height).as_bytes(),
        )?;
        progress(i);
    }
    Ok(())
}

use image::ImageEncoder;

/// One image of a dataset with its ground truth in pixels.
pub struct Sample {
    pub image: PathBuf,
    pub truth: Vec<Truth>,
}

/// Lists a dataset's images (sorted) with their labels; errors name the file and line.
pub fn load(dir: &Path) -> Result<Vec<Sample>> {
    let images = dir.join("images");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&images)
        .map_err(|e| Error::io(&images, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "png" || e == "jpg"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::Input(format!("{}: no images", images.display())));
    }
    let mut out = Vec::with_capacity(files.len());
    for image in files {
        let stem = image
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let label = dir.join("labels").join(format!("{stem}.txt"));
        let text = std::fs::read_to_string(&label).map_err(|e| Error::io(&label, e))?;
        let (w, h) = image::image_dimensions(&image)
            .map_err(|e| Error::Input(format!("{}: {e}", image.display())))?;
        let (w, h) = (w as f32, h as f32);
        let mut truth = Vec::new();
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let bad = |what: &str| Error::Input(format!("{}:{}: {what}", label.display(), n + 1));
            let v: Vec<f32> = line
                .split_whitespace()
                .map(|x| {
                    x.parse::<f32>()
                        .map_err(|_| bad("expected numbers: class cx cy w h"))
                })
                .collect::<Result<_>>()?;
            let [class, cx, cy, bw, bh] = v[..] else {
                return Err(bad("expected 5 fields: class cx cy w h"));
            };
            if class < 0.0
                || class.fract() != 0.0
                || v[1..].iter().any(|x| !(0.0..=1.0).contains(x))
            {
                return Err(bad(
                    "class must be a whole number and coordinates within 0..1",
                ));
            }
            truth.push(Truth {
                class: class as usize,
                x1: (cx - bw / 2.0) * w,
                y1: (cy - bh / 2.0) * h,
                x2: (cx + bw / 2.0) * w,
                y2: (cy + bh / 2.0) * h,
            });
        }
        out.push(Sample { image, truth });
    }
    Ok(out)
}

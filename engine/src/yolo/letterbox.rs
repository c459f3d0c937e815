//! Letterboxing: the frame scaled to fit the network input with its aspect ratio kept,
//! centred between bars. The same numbers map boxes back to frame pixels.

use crate::model::Preprocess;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Letterbox {
    pub src_w: usize,
    pub src_h: usize,
    /// Size of the scaled frame inside the network input.
    pub inner_w: usize,
    pub inner_h: usize,
    /// Where the scaled frame starts in the network input.
    pub pad_x: usize,
    pub pad_y: usize,
}

impl Letterbox {
    /// `letterbox = false` stretches the frame over the whole input.
    pub fn new(src_w: usize, src_h: usize, net_w: usize, net_h: usize, letterbox: bool) -> Self {
        let (inner_w, inner_h) = if !letterbox || src_w == 0 || src_h == 0 {
            (net_w, net_h)
        } else if net_w * src_h <= net_h * src_w {
            (net_w, ((src_h * net_w + src_w / 2) / src_w).clamp(1, net_h))
        } else {
            (((src_w * net_h + src_h / 2) / src_h).clamp(1, net_w), net_h)
        };
        Letterbox {
            src_w,
            src_h,
            inner_w,
            inner_h,
            pad_x: (net_w - inner_w) / 2,
            pad_y: (net_h - inner_h) / 2,
        }
    }

    /// A box corner from network-input pixels to frame pixels, clamped to the frame.
    pub fn to_source(&self, x: f32, y: f32) -> (f32, f32) {
        let sx = (x - self.pad_x as f32) * self.src_w as f32 / self.inner_w as f32;
        let sy = (y - self.pad_y as f32) * self.src_h as f32 / self.inner_h as f32;
        (
            sx.clamp(0.0, self.src_w as f32),
            sy.clamp(0.0, self.src_h as f32),
        )
    }

    /// Fills the NHWC network input (`net_w` x `net_h` x 3) from a packed RGB8 frame with
    /// bilinear scaling, bars of `pre.pad_value`, and `(v / 255 - mean) / std`.
    pub fn fill_rgb8(&self, rgb: &[u8], pre: &Preprocess, net_w: usize, dst: &mut [f32]) {
        let net_h = dst.len() / (3 * net_w);
        let norm = |c: usize, v: f32| (v / 255.0 - pre.mean[c]) / pre.std[c];
        for y in 0..net_h {
            let row = &mut dst[y * net_w * 3..][..net_w * 3];
            let iy = y.wrapping_sub(self.pad_y);
            if iy >= self.inner_h {
                row.fill(pre.pad_value);
                continue;
            }
            let (y0, y1, fy) = sample(iy, self.inner_h, self.src_h);
            for x in 0..net_w {
                let px = &mut row[x * 3..x * 3 + 3];
                let ix = x.wrapping_sub(self.pad_x);
                if ix >= self.inner_w {
                    px.fill(pre.pad_value);
                    continue;
                }
                let (x0, x1, fx) = sample(ix, self.inner_w, self.src_w);
                for (c, out) in px.iter_mut().enumerate() {
                    let at = |yy: usize, xx: usize| rgb[(yy * self.src_w + xx) * 3 + c] as f32;
                    let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
                    let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
                    *out = norm(c, top * (1.0 - fy) + bottom * fy);
                }
            }
        }
    }
}

/// Source pixels and weight for output pixel `i` of `out` when scaling from `src`
/// (pixel centres aligned).
fn sample(i: usize, out: usize, src: usize) -> (usize, usize, f32) {
    let pos = ((i as f32 + 0.5) * src as f32 / out as f32 - 0.5).max(0.0);
    let p0 = (pos as usize).min(src - 1);
    let p1 = (p0 + 1).min(src - 1);
    (p0, p1, pos - p0 as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wide_frame_gets_bars_above_and_below() {
        // 1280x720 into 416x416: scale 416/1280 = 0.325, inner height 234, bars of 91.
        let lb = Letterbox::new(1280, 720, 416, 416, true);
        assert_eq!(
            (lb.inner_w, lb.inner_h, lb.pad_x, lb.pad_y),
            (416, 234, 0, 91)
        );
        // The network's centre is the frame's centre; the top of the picture is frame row 0.
        assert_eq!(lb.to_source(208.0, 208.0), (640.0, 720.0 * 117.0 / 234.0));
        assert_eq!(lb.to_source(0.0, 91.0), (0.0, 0.0));
        assert_eq!(
            lb.to_source(416.0, 0.0),
            (1280.0, 0.0),
            "clamped into the frame"
        );
    }

    #[test]
    fn fill_scales_pads_and_normalizes() {
        // A 2x1 frame (red, blue) into a 4x4 input: inner 4x2 starting at row 1.
        let lb = Letterbox::new(2, 1, 4, 4, true);
        assert_eq!((lb.inner_w, lb.inner_h, lb.pad_y), (4, 2, 1));
        let mut dst = vec![0.0; 4 * 4 * 3];
        lb.fill_rgb8(&[255, 0, 0, 0, 0, 255], &Preprocess::default(), 4, &mut dst);
        assert_eq!(&dst[..12], &[0.5; 12], "top bar");
        // Row 1: x=0 samples pure red, x=1 is 3/4 red + 1/4 blue (bilinear, centres aligned).
        assert_eq!(&dst[12..15], &[1.0, 0.0, 0.0]);
        let px1 = &dst[15..18];
        assert!(
            (px1[0] - 0.75).abs() < 1e-6 && (px1[2] - 0.25).abs() < 1e-6,
            "{px1:?}"
        );
        assert_eq!(&dst[36..], &[0.5; 12], "bottom bar");
    }
}

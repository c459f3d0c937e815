//! Letterboxing: the frame scaled to fit the network input with its aspect ratio kept,
//! centred between bars. The same numbers map boxes back to frame pixels (the daemon's
//! converter fills the input from them).

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
}

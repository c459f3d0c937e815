//! Synthetic scenes: shapes of several classes on textured, noisy backgrounds, with exact
//! ground-truth boxes. Seeded and deterministic. The `synthetic:shapes` camera renders them
//! in motion; `edge-infer dataset synth` writes them as a training set for the demo model.

use edge_engine::rng::SplitMix64;

pub const CLASSES: [&str; 4] = ["circle", "square", "triangle", "star"];

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    pub class: usize,
    /// Centre and radius (half the circumscribed box side) in pixels.
    pub cx: f32,
    pub cy: f32,
    pub radius: f32,
    pub rotation: f32,
    pub color: [u8; 3],
    /// Pixels per frame, for the moving camera.
    pub vx: f32,
    pub vy: f32,
    pub spin: f32,
}

/// A ground-truth box in pixels, clipped to the frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Truth {
    pub class: usize,
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

#[derive(Clone, Debug)]
pub struct Scene {
    pub width: usize,
    pub height: usize,
    pub shapes: Vec<Shape>,
    background: Background,
    noise_seed: u64,
    /// Gaussian-ish blur radius in pixels (0: sharp).
    pub blur: usize,
    noise: f32,
}

#[derive(Clone, Copy, Debug)]
struct Background {
    base: [f32; 3],
    tint: [f32; 3],
    /// Stripe/checker frequency and angle for texture.
    freq: f32,
    angle: f32,
    checker: bool,
}

impl Scene {
    /// A random scene of 1 to `max_shapes` shapes; later shapes may overlap (occlude)
    /// earlier ones.
    pub fn random(seed: u64, width: usize, height: usize, max_shapes: usize) -> Scene {
        let mut r = SplitMix64::new(seed ^ 0x5EED_5CE4E);
        let min_side = width.min(height) as f32;
        let count = 1 + (r.next_u64() as usize) % max_shapes.max(1);
        let background = Background {
            base: [
                r.uniform(0.0, 200.0),
                r.uniform(0.0, 200.0),
                r.uniform(0.0, 200.0),
            ],
            tint: [
                r.uniform(-40.0, 40.0),
                r.uniform(-40.0, 40.0),
                r.uniform(-40.0, 40.0),
            ],
            freq: r.uniform(0.02, 0.3),
            angle: r.uniform(0.0, std::f32::consts::PI),
            checker: r.unit() < 0.3,
        };
        let mut shapes = Vec::with_capacity(count);
        for _ in 0..count {
            let radius = r.uniform(0.05, 0.22) * min_side;
            let speed = r.uniform(0.0, 0.006) * min_side;
            let dir = r.uniform(0.0, std::f32::consts::TAU);
            // Colours far enough from the background to be visible.
            let mut color = [0u8; 3];
            for (c, b) in color.iter_mut().zip(background.base) {
                let v = (b + if r.unit() < 0.5 { -1.0 } else { 1.0 } * r.uniform(60.0, 160.0))
                    .rem_euclid(256.0);
                *c = v as u8;
            }
            shapes.push(Shape {
                class: (r.next_u64() % CLASSES.len() as u64) as usize,
                cx: r.uniform(radius * 0.5, width as f32 - radius * 0.5),
                cy: r.uniform(radius * 0.5, height as f32 - radius * 0.5),
                radius,
                rotation: r.uniform(0.0, std::f32::consts::TAU),
                color,
                vx: speed * dir.cos(),
                vy: speed * dir.sin(),
                spin: r.uniform(-0.05, 0.05),
            });
        }
        Scene {
            width,
            height,
            shapes,
            background,
            noise_seed: r.next_u64(),
            blur: if r.unit() < 0.3 { 1 } else { 0 },
            noise: r.uniform(0.0, 12.0),
        }
    }

    /// Moves every shape one frame on, bouncing off the borders.
    pub fn step(&mut self) {
        let (w, h) = (self.width as f32, self.height as f32);
        for s in &mut self.shapes {
            s.cx += s.vx;
            s.cy += s.vy;
            s.rotation += s.spin;
            if s.cx < 0.0 || s.cx > w {
                s.vx = -s.vx;
                s.cx = s.cx.clamp(0.0, w);
            }
            if s.cy < 0.0 || s.cy > h {
                s.vy = -s.vy;
                s.cy = s.cy.clamp(0.0, h);
            }
        }
        self.noise_seed = self.noise_seed.wrapping_add(1);
    }

    /// Boxes of the shapes, tight around what is drawn, clipped to the frame; shapes mostly
    /// hidden behind later ones or outside the frame are left out.
    pub fn truth(&self, out: &mut Vec<Truth>) {
        out.clear();
        for (i, s) in self.shapes.iter().enumerate() {
            let (x1, y1, x2, y2) = bounds(s);
            let (cx1, cy1) = (x1.max(0.0), y1.max(0.0));
            let (cx2, cy2) = (x2.min(self.width as f32), y2.min(self.height as f32));
            if cx2 - cx1 < 4.0 || cy2 - cy1 < 4.0 {
                continue;
            }
            let area = (x2 - x1) * (y2 - y1);
            if (cx2 - cx1) * (cy2 - cy1) < 0.4 * area {
                continue;
            }
            if self.occluded_fraction(i) > 0.6 {
                continue;
            }
            out.push(Truth {
                class: s.class,
                x1: cx1,
                y1: cy1,
                x2: cx2,
                y2: cy2,
            });
        }
    }

    fn occluded_fraction(&self, i: usize) -> f32 {
        let s = &self.shapes[i];
        let (x1, y1, x2, y2) = bounds(s);
        let (mut inside, mut hidden) = (0, 0);
        let n = 12;
        for yi in 0..n {
            for xi in 0..n {
                let x = x1 + (x2 - x1) * (xi as f32 + 0.5) / n as f32;
                let y = y1 + (y2 - y1) * (yi as f32 + 0.5) / n as f32;
                if covers(s, x, y) {
                    inside += 1;
                    if self.shapes[i + 1..].iter().any(|o| covers(o, x, y)) {
                        hidden += 1;
                    }
                }
            }
        }
        if inside == 0 {
            1.0
        } else {
            hidden as f32 / inside as f32
        }
    }

    /// Renders packed RGB8 (`width * height * 3`) into `rgb`. Allocates nothing.
    pub fn render(&self, rgb: &mut [u8]) {
        let (w, h) = (self.width, self.height);
        let bg = self.background;
        let (ca, sa) = (bg.angle.cos(), bg.angle.sin());
        let mut noise = SplitMix64::new(self.noise_seed);
        for y in 0..h {
            for x in 0..w {
                let (xf, yf) = (x as f32 + 0.5, y as f32 + 0.5);
                let t = (xf * ca + yf * sa) * bg.freq;
                let pattern = if bg.checker {
                    let c = ((xf * bg.freq * 0.5) as i64 + (yf * bg.freq * 0.5) as i64) & 1;
                    c as f32
                } else {
                    0.5 + 0.5 * t.sin()
                };
                let mut px: [f32; 3] = std::array::from_fn(|c| bg.base[c] + bg.tint[c] * pattern);
                // Later shapes are drawn over earlier ones; 2x2 supersampling for soft edges.
                for s in &self.shapes {
                    let r = s.radius;
                    if (xf - s.cx).abs() > r + 1.0 || (yf - s.cy).abs() > r + 1.0 {
                        continue;
                    }
                    let mut cover = 0.0;
                    for (dx, dy) in [(-0.25, -0.25), (0.25, -0.25), (-0.25, 0.25), (0.25, 0.25)] {
                        if covers(s, xf + dx, yf + dy) {
                            cover += 0.25;
                        }
                    }
                    if cover > 0.0 {
                        for (p, col) in px.iter_mut().zip(s.color) {
                            *p = *p * (1.0 - cover) + col as f32 * cover;
                        }
                    }
                }
                let n = (noise.unit() - 0.5) * 2.0 * self.noise;
                let o = (y * w + x) * 3;
                for c in 0..3 {
                    rgb[o + c] = (px[c] + n).clamp(0.0, 255.0) as u8;
                }
            }
        }
        if self.blur > 0 {
            box_blur(rgb, w, h);
        }
    }
}

/// A 3x3 box blur in place, one row of history kept on the stack per channel.
fn box_blur(rgb: &mut [u8], w: usize, h: usize) {
    // Horizontal then vertical 1-2-1 passes, reading a neighbour before it is overwritten.
    for y in 0..h {
        let row = &mut rgb[y * w * 3..(y + 1) * w * 3];
        for c in 0..3 {
            let mut prev = row[c];
            for x in 0..w {
                let cur = row[x * 3 + c];
                let next = if x + 1 < w { row[(x + 1) * 3 + c] } else { cur };
                row[x * 3 + c] = ((prev as u16 + 2 * cur as u16 + next as u16) / 4) as u8;
                prev = cur;
            }
        }
    }
    for x in 0..w {
        for c in 0..3 {
            let mut prev = rgb[x * 3 + c];
            for y in 0..h {
                let at = (y * w + x) * 3 + c;
                let cur = rgb[at];
                let next = if y + 1 < h { rgb[at + w * 3] } else { cur };
                rgb[at] = ((prev as u16 + 2 * cur as u16 + next as u16) / 4) as u8;
                prev = cur;
            }
        }
    }
}

/// Whether point (x, y) is inside the shape.
fn covers(s: &Shape, x: f32, y: f32) -> bool {
    let (dx, dy) = (x - s.cx, y - s.cy);
    let (c, sn) = (s.rotation.cos(), s.rotation.sin());
    // Into the shape's frame.
    let (u, v) = (dx * c + dy * sn, -dx * sn + dy * c);
    let r = s.radius;
    match s.class {
        0 => u * u + v * v <= r * r,
        1 => {
            let half = r * std::f32::consts::FRAC_1_SQRT_2;
            u.abs() <= half && v.abs() <= half
        }
        2 => in_polygon(&polygon::<3>(r, 1.0), u, v),
        _ => in_polygon(&polygon::<10>(r, 0.45), u, v),
    }
}

/// A regular polygon (N corners) or, with `inner` < 1, a star of N/2 points.
fn polygon<const N: usize>(r: f32, inner: f32) -> [(f32, f32); N] {
    let mut p = [(0.0, 0.0); N];
    for (i, pt) in p.iter_mut().enumerate() {
        let a = -std::f32::consts::FRAC_PI_2 + i as f32 * std::f32::consts::TAU / N as f32;
        let rr = if inner < 1.0 && i % 2 == 1 {
            r * inner
        } else {
            r
        };
        *pt = (rr * a.cos(), rr * a.sin());
    }
    p
}

fn in_polygon(p: &[(f32, f32)], x: f32, y: f32) -> bool {
    let mut inside = false;
    let mut j = p.len() - 1;
    for i in 0..p.len() {
        let ((xi, yi), (xj, yj)) = (p[i], p[j]);
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// The tight box of a shape as drawn (its rotated outline).
fn bounds(s: &Shape) -> (f32, f32, f32, f32) {
    let (c, sn) = (s.rotation.cos(), s.rotation.sin());
    let r = s.radius;
    let corners: &[(f32, f32)] = match s.class {
        0 => return (s.cx - r, s.cy - r, s.cx + r, s.cy + r),
        1 => {
            let h = r * std::f32::consts::FRAC_1_SQRT_2;
            &[(-h, -h), (h, -h), (h, h), (-h, h)]
        }
        2 => &polygon::<3>(r, 1.0),
        _ => &polygon::<10>(r, 0.45),
    };
    let (mut x1, mut y1, mut x2, mut y2) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for &(u, v) in corners {
        // Back from the shape's frame: inverse of the rotation in `covers`.
        let x = s.cx + u * c - v * sn;
        let y = s.cy + u * sn + v * c;
        x1 = x1.min(x);
        y1 = y1.min(y);
        x2 = x2.max(x);
        y2 = y2.max(y);
    }
    (x1, y1, x2, y2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_pixels_and_boxes() {
        let (a, b) = (Scene::random(7, 96, 64, 5), Scene::random(7, 96, 64, 5));
        let (mut pa, mut pb) = (vec![0u8; 96 * 64 * 3], vec![0u8; 96 * 64 * 3]);
        a.render(&mut pa);
        b.render(&mut pb);
        assert_eq!(pa, pb);
        let c = Scene::random(8, 96, 64, 5);
        let mut pc = vec![0u8; 96 * 64 * 3];
        c.render(&mut pc);
        assert_ne!(pa, pc);
    }

    #[test]
    fn boxes_are_tight_around_the_drawn_pixels() {
        // One unrotated square on a flat background, no noise or blur: its box must be the
        // extent of the pixels whose colour changed.
        let mut s = Scene::random(1, 64, 64, 1);
        s.shapes = vec![Shape {
            class: 1,
            cx: 30.0,
            cy: 20.0,
            radius: 10.0 * std::f32::consts::SQRT_2,
            rotation: 0.0,
            color: [255, 255, 255],
            vx: 0.0,
            vy: 0.0,
            spin: 0.0,
        }];
        s.noise = 0.0;
        s.blur = 0;
        s.background.tint = [0.0; 3];
        s.background.base = [0.0; 3];
        let mut rgb = vec![0u8; 64 * 64 * 3];
        s.render(&mut rgb);
        let lit: Vec<(usize, usize)> = (0..64 * 64)
            .filter(|p| rgb[p * 3] > 127)
            .map(|p| (p % 64, p / 64))
            .collect();
        let (xmin, xmax) = (
            lit.iter().map(|p| p.0).min().unwrap(),
            lit.iter().map(|p| p.0).max().unwrap(),
        );
        let (ymin, ymax) = (
            lit.iter().map(|p| p.1).min().unwrap(),
            lit.iter().map(|p| p.1).max().unwrap(),
        );
        assert_eq!((xmin, xmax, ymin, ymax), (20, 39, 10, 29));
        let mut t = Vec::new();
        s.truth(&mut t);
        assert_eq!(t.len(), 1);
        let b = t[0];
        assert!(
            (b.x1 - 20.0).abs() < 0.01
                && (b.x2 - 40.0).abs() < 0.01
                && (b.y1 - 10.0).abs() < 0.01
                && (b.y2 - 30.0).abs() < 0.01,
            "{b:?}"
        );
    }

    #[test]
    fn a_fully_hidden_shape_has_no_box() {
        let mut s = Scene::random(3, 64, 64, 1);
        let big = Shape {
            class: 0,
            cx: 32.0,
            cy: 32.0,
            radius: 30.0,
            rotation: 0.0,
            color: [9, 9, 9],
            vx: 0.0,
            vy: 0.0,
            spin: 0.0,
        };
        let small = Shape {
            class: 1,
            radius: 5.0,
            ..big
        };
        s.shapes = vec![small, big];
        let mut t = Vec::new();
        s.truth(&mut t);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].class, 0);
    }

    #[test]
    fn shapes_bounce_and_stay_in_the_frame() {
        let mut s = Scene::random(11, 80, 60, 6);
        for _ in 0..2000 {
            s.step();
        }
        for sh in &s.shapes {
            assert!((0.0..=80.0).contains(&sh.cx) && (0.0..=60.0).contains(&sh.cy));
        }
    }
}

//! Annotated frames for a person to look at: boxes in a colour per class and a label with
//! the class name and score, drawn on an RGB8 image with a built-in 3x5 pixel font.

/// Glyphs of the 3x5 font: five rows of three bits (MSB left) per character.
fn glyph(c: char) -> [u8; 5] {
    match c.to_ascii_uppercase() {
        'A' => [0b010, 0b101, 0b111, 0b101, 0b101],
        'B' => [0b110, 0b101, 0b110, 0b101, 0b110],
        'C' => [0b011, 0b100, 0b100, 0b100, 0b011],
        'D' => [0b110, 0b101, 0b101, 0b101, 0b110],
        'E' => [0b111, 0b100, 0b110, 0b100, 0b111],
        'F' => [0b111, 0b100, 0b110, 0b100, 0b100],
        'G' => [0b011, 0b100, 0b101, 0b101, 0b011],
        'H' => [0b101, 0b101, 0b111, 0b101, 0b101],
        'I' => [0b111, 0b010, 0b010, 0b010, 0b111],
        'J' => [0b001, 0b001, 0b001, 0b101, 0b010],
        'K' => [0b101, 0b101, 0b110, 0b101, 0b101],
        'L' => [0b100, 0b100, 0b100, 0b100, 0b111],
        'M' => [0b101, 0b111, 0b111, 0b101, 0b101],
        'N' => [0b101, 0b111, 0b111, 0b111, 0b101],
        'O' => [0b010, 0b101, 0b101, 0b101, 0b010],
        'P' => [0b110, 0b101, 0b110, 0b100, 0b100],
        'Q' => [0b010, 0b101, 0b101, 0b111, 0b011],
        'R' => [0b110, 0b101, 0b110, 0b101, 0b101],
        'S' => [0b011, 0b100, 0b010, 0b001, 0b110],
        'T' => [0b111, 0b010, 0b010, 0b010, 0b010],
        'U' => [0b101, 0b101, 0b101, 0b101, 0b111],
        'V' => [0b101, 0b101, 0b101, 0b101, 0b010],
        'W' => [0b101, 0b101, 0b111, 0b111, 0b101],
        'X' => [0b101, 0b101, 0b010, 0b101, 0b101],
        'Y' => [0b101, 0b101, 0b010, 0b010, 0b010],
        'Z' => [0b111, 0b001, 0b010, 0b100, 0b111],
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b110, 0b001, 0b010, 0b100, 0b111],
        '3' => [0b110, 0b001, 0b010, 0b001, 0b110],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b110, 0b001, 0b110],
        '6' => [0b011, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b010, 0b010, 0b010],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b110],
        '.' => [0, 0, 0, 0, 0b010],
        '-' => [0, 0, 0b111, 0, 0],
        '_' => [0, 0, 0, 0, 0b111],
        _ => [0; 5],
    }
}

/// A bright, distinct colour per class.
pub fn class_colour(class: usize) -> [u8; 3] {
    const PALETTE: [[u8; 3]; 8] = [
        [255, 56, 56],
        [72, 249, 10],
        [0, 194, 255],
        [255, 178, 29],
        [207, 210, 49],
        [146, 204, 23],
        [61, 219, 134],
        [255, 55, 199],
    ];
    PALETTE[class % PALETTE.len()]
}

pub struct Canvas<'a> {
    pub rgb: &'a mut [u8],
    pub width: usize,
    pub height: usize,
}

impl Canvas<'_> {
    fn put(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            let o = (y as usize * self.width + x as usize) * 3;
            self.rgb[o..o + 3].copy_from_slice(&c);
        }
    }

    /// A rectangle outline `thickness` pixels wide, inside the box.
    pub fn rect(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, c: [u8; 3], thickness: i64) {
        let (x1, y1, x2, y2) = (
            x1.round() as i64,
            y1.round() as i64,
            x2.round() as i64 - 1,
            y2.round() as i64 - 1,
        );
        for t in 0..thickness {
            for x in x1..=x2 {
                self.put(x, y1 + t, c);
                self.put(x, y2 - t, c);
            }
            for y in y1..=y2 {
                self.put(x1 + t, y, c);
                self.put(x2 - t, y, c);
            }
        }
    }

    /// Text on a filled background, `scale` pixels per font pixel, top-left at (x, y).
    pub fn label(&mut self, x: i64, y: i64, text: &str, fg: [u8; 3], bg: [u8; 3], scale: i64) {
        let w = (text.chars().count() as i64 * 4 + 1) * scale;
        let h = 7 * scale;
        for yy in 0..h {
            for xx in 0..w {
                self.put(x + xx, y + yy, bg);
            }
        }
        for (i, ch) in text.chars().enumerate() {
            let g = glyph(ch);
            for (row, bits) in g.iter().enumerate() {
                for col in 0..3 {
                    if bits & (0b100 >> col) != 0 {
                        for sy in 0..scale {
                            for sx in 0..scale {
                                self.put(
                                    x + (1 + i as i64 * 4 + col) * scale + sx,
                                    y + (1 + row as i64) * scale + sy,
                                    fg,
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Draws every detection: its box and "name 0.87" above it (inside the frame).
pub fn draw(
    rgb: &mut [u8],
    width: usize,
    height: usize,
    dets: &[edge_engine::yolo::Detection],
    name: impl Fn(usize) -> String,
) {
    let mut canvas = Canvas { rgb, width, height };
    let scale = (width.min(height) / 240).max(1) as i64;
    for d in dets {
        let c = class_colour(d.class as usize);
        canvas.rect(d.x1, d.y1, d.x2, d.y2, c, scale);
        let text = format!("{} {:.2}", name(d.class as usize), d.score);
        let y = (d.y1 as i64 - 7 * scale).max(0);
        canvas.label(d.x1.max(0.0) as i64, y, &text, [0, 0, 0], c, scale);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_box_outline_covers_exactly_its_border() {
        let mut rgb = vec![0u8; 10 * 10 * 3];
        Canvas {
            rgb: &mut rgb,
            width: 10,
            height: 10,
        }
        .rect(2.0, 3.0, 6.0, 8.0, [9, 9, 9], 1);
        let lit = |x: usize, y: usize| rgb[(y * 10 + x) * 3] == 9;
        assert!(lit(2, 3) && lit(5, 3) && lit(2, 7) && lit(5, 7), "corners");
        assert!(
            !lit(3, 4) && !lit(6, 3) && !lit(2, 8),
            "inside and outside stay"
        );
    }

    #[test]
    fn glyphs_are_drawn_where_their_bits_say() {
        let mut rgb = vec![0u8; 8 * 7 * 3];
        Canvas {
            rgb: &mut rgb,
            width: 8,
            height: 7,
        }
        .label(0, 0, "1", [255, 255, 255], [1, 1, 1], 1);
        // '1' = 010 / 110 / 010 / 010 / 111, drawn from (1, 1).
        let on = |x: usize, y: usize| rgb[(y * 8 + x) * 3] == 255;
        assert!(on(2, 1) && !on(1, 1) && on(1, 2) && on(2, 2) && on(1, 5) && on(3, 5));
        assert_eq!(rgb[0], 1, "background filled");
    }
}

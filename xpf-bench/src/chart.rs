//! The PNG chart: firewall CPU ns per packet per configuration, one panel
//! per scenario, bars at the median with min–max whiskers. Drawn on a plain
//! RGB raster with the public-domain 8×8 bitmap font of `font8x8` (no
//! system font needed) and encoded with the `png` crate.

use std::path::Path;

use font8x8::legacy::BASIC_LEGACY;

use crate::backend::Scenario;
use crate::error::{BenchError, Result};
use crate::report::Row;

type Rgb = [u8; 3];

const BLACK: Rgb = [0, 0, 0];
const GRID: Rgb = [220, 220, 220];
const DARK: Rgb = [60, 60, 60];

/// Colour of a configuration's bars.
pub fn config_color(config: &str) -> Rgb {
    match config {
        "kernel" => [140, 140, 140],
        "nftables" => [52, 101, 164],
        "nftables-masq" => [245, 121, 0],
        "xpf-ebpf" => [78, 154, 6],
        "xpf-userspace" => [117, 80, 123],
        _ => [193, 125, 17],
    }
}

/// An RGB raster.
#[derive(Debug, Clone)]
pub struct Canvas {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    /// A white canvas.
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            pixels: vec![255; width * height * 3],
        }
    }

    /// The colour at (x, y).
    pub fn get(&self, x: usize, y: usize) -> Rgb {
        let i = (y * self.width + x) * 3;
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
    }

    fn put(&mut self, x: usize, y: usize, c: Rgb) {
        if x < self.width && y < self.height {
            let i = (y * self.width + x) * 3;
            self.pixels[i..i + 3].copy_from_slice(&c);
        }
    }

    /// Fills a rectangle (clipped).
    pub fn rect(&mut self, x: usize, y: usize, w: usize, h: usize, c: Rgb) {
        for yy in y..(y + h).min(self.height) {
            for xx in x..(x + w).min(self.width) {
                self.put(xx, yy, c);
            }
        }
    }

    /// Draws ASCII text (other characters as '?', '–' as '-', '×' as 'x')
    /// with its top-left corner at (x, y), each font pixel `scale` wide.
    /// Returns the width drawn.
    pub fn text(&mut self, x: usize, y: usize, s: &str, scale: usize, c: Rgb) -> usize {
        let mut cx = x;
        for ch in s.chars() {
            let ch = match ch {
                '–' | '—' => '-',
                '×' => 'x',
                c if c.is_ascii() => c,
                _ => '?',
            };
            let glyph = BASIC_LEGACY[ch as usize];
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits & (1 << col) != 0 {
                        self.rect(cx + col * scale, y + row * scale, scale, scale, c);
                    }
                }
            }
            cx += 8 * scale;
        }
        cx - x
    }

    /// Encodes the canvas as PNG.
    pub fn to_png(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let err = |e: png::EncodingError| BenchError::parse("PNG encoding", e.to_string());
        {
            let mut enc = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc.write_header().map_err(err)?;
            w.write_image_data(&self.pixels).map_err(err)?;
        }
        Ok(out)
    }
}

fn nice_max(v: f64) -> f64 {
    if !v.is_finite() || v <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * mag >= v {
            return step * mag;
        }
    }
    10.0 * mag
}

const WIDTH: usize = 1000;
const LABEL_W: usize = 240;
const PLOT_X: usize = LABEL_W + 10;
const PLOT_W: usize = 620;
const ROW_H: usize = 30;
const BAR_H: usize = 16;

/// Draws the chart of `rows` (every scenario with at least one finite row).
pub fn render(rows: &[Row], title: &str, subtitle: &str) -> Canvas {
    let panels: Vec<(Scenario, Vec<&Row>)> = Scenario::ALL
        .into_iter()
        .map(|s| {
            (
                s,
                rows.iter()
                    .filter(|r| r.scenario == s && r.median.is_finite())
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, r)| !r.is_empty())
        .collect();
    let height = 70
        + panels
            .iter()
            .map(|(_, r)| 60 + r.len() * ROW_H)
            .sum::<usize>()
        + 10;
    let mut c = Canvas::new(WIDTH, height);
    c.text(10, 10, title, 2, BLACK);
    c.text(10, 34, subtitle, 1, DARK);
    let mut y = 60;
    for (scenario, prows) in panels {
        let unit = if scenario == Scenario::TcpBulk {
            "ns per 1500 B"
        } else {
            "ns per packet"
        };
        c.text(
            10,
            y + 6,
            &format!("{} ({unit})", scenario.name()),
            2,
            BLACK,
        );
        y += 30;
        let vmax = nice_max(
            prows
                .iter()
                .map(|r| r.max.max(r.median))
                .fold(0.0, f64::max),
        );
        let px = |v: f64| PLOT_X + ((v / vmax).clamp(0.0, 1.0) * PLOT_W as f64) as usize;
        let plot_h = prows.len() * ROW_H;
        for k in 0..=4 {
            let v = vmax * f64::from(k) / 4.0;
            let x = px(v);
            c.rect(x, y, 1, plot_h, GRID);
            c.text(
                x.saturating_sub(8),
                y + plot_h + 4,
                &format!("{v:.0}"),
                1,
                DARK,
            );
        }
        for (i, r) in prows.iter().enumerate() {
            let top = y + i * ROW_H + (ROW_H - BAR_H) / 2;
            c.text(10, top, &r.config, 2, BLACK);
            let color = config_color(&r.config);
            let end = px(r.median);
            c.rect(PLOT_X, top, end - PLOT_X, BAR_H, color);
            // whisker: min–max line with end caps
            let (lo, hi) = (px(r.min), px(r.max));
            let mid = top + BAR_H / 2;
            c.rect(lo, mid, hi.saturating_sub(lo) + 1, 2, BLACK);
            c.rect(lo, top + 2, 2, BAR_H - 4, BLACK);
            c.rect(hi, top + 2, 2, BAR_H - 4, BLACK);
            c.text(
                hi.max(end) + 8,
                top + 4,
                &format!("{:.0} ({:.0}-{:.0})", r.median, r.min, r.max),
                1,
                BLACK,
            );
        }
        c.rect(PLOT_X, y, 1, plot_h, BLACK);
        y += plot_h + 30;
    }
    c
}

/// Renders and writes the chart.
pub fn write(path: &Path, rows: &[Row], title: &str, subtitle: &str) -> Result<()> {
    let png = render(rows, title, subtitle).to_png()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| BenchError::Io {
            action: "creating",
            path: dir.to_owned(),
            source,
        })?;
    }
    std::fs::write(path, png).map_err(|source| BenchError::Io {
        action: "writing",
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(config: &str, median: f64) -> Row {
        Row {
            scenario: Scenario::Established,
            config: config.into(),
            n: 3,
            median,
            min: median * 0.9,
            max: median * 1.1,
            vs_kernel: None,
            vs_nftables: None,
            mpps: 1.0,
            offered_mpps: 1.0,
            gbps: 0.0,
            sessions: None,
        }
    }

    #[test]
    fn chart_is_a_png_with_a_bar_per_configuration() {
        let rows = vec![row("kernel", 300.0), row("nftables", 900.0)];
        let canvas = render(&rows, "title", "subtitle");
        let png = canvas.to_png().unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().unwrap();
        assert_eq!(reader.info().width as usize, WIDTH);
        assert_eq!(reader.info().height as usize, canvas.height);
        // Both bars are drawn in their colours, the longer one further right.
        let rightmost = |color: Rgb| {
            (0..canvas.height)
                .flat_map(|y| (0..canvas.width).map(move |x| (x, y)))
                .filter(|&(x, y)| canvas.get(x, y) == color)
                .map(|(x, _)| x)
                .max()
        };
        let k = rightmost(config_color("kernel")).expect("kernel bar drawn");
        let n = rightmost(config_color("nftables")).expect("nftables bar drawn");
        assert!(n > k, "nftables bar ({n}) longer than kernel's ({k})");
    }

    #[test]
    fn rows_without_a_figure_draw_no_bar() {
        let rows = vec![row("kernel", f64::NAN)];
        let canvas = render(&rows, "t", "s");
        let drawn = (0..canvas.height)
            .flat_map(|y| (0..canvas.width).map(move |x| (x, y)))
            .any(|(x, y)| canvas.get(x, y) == config_color("kernel"));
        assert!(!drawn);
    }

    #[test]
    fn axis_maximum_is_a_round_number_above_the_data() {
        assert_eq!(nice_max(730.0), 1000.0);
        assert_eq!(nice_max(180.0), 200.0);
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(2400.0), 2500.0);
    }
}

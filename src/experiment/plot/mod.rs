//! Plots of a run: accuracy per epoch for every model, as a PNG (and the other figures of a
//! run folder: free energy, traffic, spike rasters, and a sweep's accuracy per swept value).
//!
//! This module owns what every figure shares: the embedded font, the palette, writing a PNG
//! atomically, and the chart set-up (white canvas, title, margins, label areas, and the legend,
//! drawn in a band right of the chart so that it never covers data). Every axis names its unit
//! (or says the quantity is dimensionless).
//! Each figure lives in its own file: [`accuracy`], [`sweep`], [`energy`] (free energy and EP
//! energy), [`spikes`] (CUBA and conversion rasters), [`microcircuit`] (its raster and rates box plot),
//! [`probes`] (recorded state variables), [`spc`] (spiking predictive coding's error rates by tick and one image's raster),
//! [`stdp`] (receptive fields and the training curve of spike-timing learning) and [`heatmap`]
//! (traffic).
//!
//! Labels are drawn with an embedded DejaVu Sans (`data/fonts/`), registered once with
//! plotters' `ab_glyph` backend, so plots render the same on a machine without fonts.

pub mod accuracy;
pub mod energy;
pub mod heatmap;
pub mod microcircuit;
pub mod probes;
pub mod spc;
pub mod spikes;
pub mod stdp;
pub mod sweep;

use std::error::Error;
use std::ops::Range;
use std::path::Path;
use std::sync::Once;

use plotters::coord::ranged1d::{AsRangedCoord, DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor;
use plotters::style::FontStyle;

pub use accuracy::{accuracy_png, accuracy_vs_ticks_png};
pub use energy::{ep_energy_png, free_energy_png};
pub use heatmap::traffic_heatmap_png;
pub use microcircuit::{microcircuit_raster_png, rates_box_png};
pub use probes::probes_png;
pub use spc::{error_rates_png, spc_raster_png};
pub use spikes::{cuba_raster_png, spike_raster_png};
pub use stdp::{receptive_fields_png, stdp_curve_png, weights_png};
pub use sweep::{sweep_png, SweepAxis, SweepSeries};

static FONT: &[u8] = include_bytes!("../../../data/fonts/DejaVuSans.ttf");
/// Registers the embedded font exactly once per process; `Once` because plotters keeps a
/// process-wide font table and registering twice is wasted work.
static REGISTER: Once = Once::new();

/// Why a plot could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("{path}: cannot draw plot: {message}")]
pub struct PlotError {
    /// The image file.
    pub path: std::path::PathBuf,
    /// What the drawing library said.
    pub message: String,
}

fn register_font() {
    REGISTER.call_once(|| {
        // The bytes are a valid TrueType font compiled into the binary.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

/// What drawing one figure returns (plotters' errors, boxed).
type Drawn = Result<(), Box<dyn Error>>;

/// A drawing area on a PNG file.
type Area<'p> = DrawingArea<BitMapBackend<'p>, Shift>;

/// A two-dimensional chart on a PNG file.
type Chart<'a, 'p, X, Y> = ChartContext<'a, BitMapBackend<'p>, Cartesian2d<X, Y>>;

/// Runs `draw` on a temporary file beside `path`, then renames it into place: never half a
/// PNG on disk. Errors name `path`.
fn write_png(path: &Path, draw: impl FnOnce(&Path) -> Drawn) -> Result<(), PlotError> {
    register_font();
    let err = |e: &dyn std::fmt::Display| PlotError {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let stem = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    // The `.png` ending tells the bitmap backend the format.
    let tmp = dir.join(format!(".{stem}-{}.tmp.png", std::process::id()));
    draw(&tmp).map_err(|e| err(&e))?;
    std::fs::rename(&tmp, path).map_err(|e| err(&e))
}

/// A white canvas of `size` pixels on the PNG at `path`.
fn canvas(path: &Path, size: (u32, u32)) -> Result<Area<'_>, Box<dyn Error>> {
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    Ok(root)
}

/// A chart's frame: its caption (text, font size) if any, margin and label areas.
struct Frame<'t> {
    caption: Option<(&'t str, u32)>,
    margin: u32,
    x_label_area: u32,
    y_label_area: u32,
}

impl<'t> Frame<'t> {
    /// A full-size figure's chart frame (its title is the [`Figure`]'s): margin 16, 48 pixels
    /// of x labels and `y_label_area` of y labels.
    fn figure(y_label_area: u32) -> Self {
        Frame {
            caption: None,
            margin: 16,
            x_label_area: 48,
            y_label_area,
        }
    }

    /// A raster panel's frame: 18-pixel caption (if any), margin 10, label areas 32 x 56.
    fn panel(caption: Option<&'t str>) -> Self {
        Frame {
            caption: caption.map(|c| (c, 18)),
            margin: 10,
            x_label_area: 32,
            y_label_area: 56,
        }
    }

    /// Builds the chart on `area` with axes `x` and `y`.
    fn build<'a, 'p, X: AsRangedCoord, Y: AsRangedCoord>(
        &self,
        area: &'a Area<'p>,
        x: X,
        y: Y,
    ) -> Result<Chart<'a, 'p, X::CoordDescType, Y::CoordDescType>, Box<dyn Error>> {
        let mut builder = ChartBuilder::on(area);
        if let Some((text, size)) = self.caption {
            builder.caption(text, ("sans-serif", size));
        }
        builder
            .margin(self.margin)
            .x_label_area_size(self.x_label_area)
            .y_label_area_size(self.y_label_area);
        Ok(builder.build_cartesian_2d(x, y)?)
    }
}

/// Font size of legend labels, in pixels.
const LEGEND_FONT: u32 = 15;
/// Pixels of a legend entry's sample, of the gaps around it, and of one entry's row.
const LEGEND_SAMPLE: i32 = 28;
const LEGEND_PAD: i32 = 10;
const LEGEND_ROW: i32 = 24;
/// The widest a legend band grows (longer labels are cut with "…").
const LEGEND_MAX_WIDTH: u32 = 380;

/// What a legend entry shows left of its label.
#[derive(Clone, Copy, Debug)]
enum Sample {
    /// A line in this style.
    Line(ShapeStyle),
    /// A line in this style with a dot of its colour on it (a series drawn with markers).
    LineDot(ShapeStyle),
    /// A filled square of this colour (raster dots, heat-map cells).
    Swatch(RGBAColor),
    /// Nothing (a note such as "... and 3 more lines").
    Blank,
}

/// A legend: an optional heading and one row per entry, drawn in a band right of the chart
/// so that it never covers data.
#[derive(Debug, Default)]
struct Legend {
    heading: Option<String>,
    entries: Vec<(String, Sample)>,
}

impl Legend {
    /// Adds an entry.
    fn add(&mut self, label: impl Into<String>, sample: Sample) {
        self.entries.push((label.into(), sample));
    }

    /// The rows drawn: the heading (if any) then the entries.
    fn rows(&self) -> usize {
        self.entries.len() + usize::from(self.heading.is_some())
    }

    /// The width in pixels of the band this legend needs (0 when it has no rows), at most
    /// [`LEGEND_MAX_WIDTH`].
    fn width(&self) -> u32 {
        if self.rows() == 0 {
            return 0;
        }
        let font = ("sans-serif", LEGEND_FONT).into_font();
        let text = |s: &str| font.box_size(s).map_or(s.len() as u32 * 9, |b| b.0);
        let entries = self
            .entries
            .iter()
            .map(|(l, _)| text(l) + (LEGEND_SAMPLE + LEGEND_PAD) as u32)
            .max()
            .unwrap_or(0);
        let heading = self.heading.as_deref().map_or(0, text);
        (entries.max(heading) + 3 * LEGEND_PAD as u32).min(LEGEND_MAX_WIDTH)
    }

    /// Draws the legend in `band` (its own strip of the canvas), its top `top` pixels down.
    fn draw(&self, band: &Area<'_>, top: i32) -> Drawn {
        if self.rows() == 0 {
            return Ok(());
        }
        let (w, _) = band.dim_in_pixel();
        let font = ("sans-serif", LEGEND_FONT).into_font();
        let fits = |s: &str, room: i32| fit_text(&font, s, room.max(0) as u32);
        let x0 = LEGEND_PAD / 2;
        let x1 = w as i32 - LEGEND_PAD / 2;
        let height = self.rows() as i32 * LEGEND_ROW + LEGEND_PAD;
        band.draw(&Rectangle::new(
            [(x0, top), (x1, top + height)],
            RGBColor(160, 160, 160).stroke_width(1),
        ))?;
        let mut y = top + LEGEND_PAD / 2 + LEGEND_ROW / 2;
        let style = TextStyle::from(font.clone()).pos(text_anchor::Pos::new(
            text_anchor::HPos::Left,
            text_anchor::VPos::Center,
        ));
        if let Some(h) = &self.heading {
            let h = fits(h, x1 - x0 - LEGEND_PAD);
            band.draw(&Text::new(h, (x0 + LEGEND_PAD / 2, y), style.clone()))?;
            y += LEGEND_ROW;
        }
        let sx = x0 + LEGEND_PAD / 2;
        let tx = sx + LEGEND_SAMPLE + LEGEND_PAD / 2;
        for (label, sample) in &self.entries {
            match *sample {
                Sample::Line(s) => {
                    band.draw(&PathElement::new(vec![(sx, y), (sx + LEGEND_SAMPLE, y)], s))?;
                }
                Sample::LineDot(s) => {
                    band.draw(&PathElement::new(vec![(sx, y), (sx + LEGEND_SAMPLE, y)], s))?;
                    band.draw(&Circle::new(
                        (sx + LEGEND_SAMPLE / 2, y),
                        4,
                        s.color.filled(),
                    ))?;
                }
                Sample::Swatch(c) => {
                    let h = LEGEND_ROW / 2 - 3;
                    band.draw(&Rectangle::new(
                        [(sx + 4, y - h), (sx + LEGEND_SAMPLE - 4, y + h)],
                        c.filled(),
                    ))?;
                }
                Sample::Blank => {}
            }
            let label = fits(label, x1 - tx - LEGEND_PAD / 2);
            band.draw(&Text::new(label, (tx, y), style.clone()))?;
            y += LEGEND_ROW;
        }
        Ok(())
    }
}

/// `text`, cut to fit `room` pixels in `font` (ending in "…" when cut).
fn fit_text(font: &FontDesc<'_>, text: &str, room: u32) -> String {
    let width = |s: &str| font.box_size(s).map_or(s.len() as u32 * 9, |b| b.0);
    if width(text) <= room {
        return text.to_owned();
    }
    let mut chars: Vec<char> = text.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let cut: String = chars.iter().collect::<String>() + "…";
        if width(&cut) <= room {
            return cut;
        }
    }
    String::new()
}

/// A figure's areas: the whole canvas (to present), the chart's area left and the legend's
/// band right (empty when there is no legend), both under the title.
struct Figure<'p> {
    root: Area<'p>,
    chart: Area<'p>,
    band: Area<'p>,
}

impl<'p> Figure<'p> {
    /// A white canvas at `path`: `title` (24 pixels) centred across the top, a chart area
    /// `size.0` pixels wide and, right of it, a band as wide as `legend` needs, so the canvas
    /// is `size.0` plus that wide and `size.1` high.
    fn new(
        path: &'p Path,
        size: (u32, u32),
        title: &str,
        legend: &Legend,
    ) -> Result<Self, Box<dyn Error>> {
        let root = canvas(path, (size.0 + legend.width(), size.1))?;
        let below = root.margin(8, 0, 0, 0).titled(title, ("sans-serif", 24))?;
        let (chart, band) = below.split_horizontally(size.0);
        Ok(Figure { root, chart, band })
    }
}

/// A number as a short tick label: "0", a plain decimal between 0.001 and a million (at most six
/// significant digits, no trailing zeros), else like "1e-4" or "2.5e6".
fn number_label(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return if x.is_finite() {
            "0".to_owned()
        } else {
            x.to_string()
        };
    }
    // Six significant digits, so 10^-2 computed as 0.010000000000000002 reads "0.01".
    let magnitude = x.abs().log10().floor() as i32;
    let scale = 10f64.powi(5 - magnitude);
    let rounded = (x * scale).round() / scale;
    let x = if rounded.is_finite() { rounded } else { x };
    if (1e-3..1e6).contains(&x.abs()) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// Round tick values on [lo, hi]: steps of 1, 2 or 5 times a power of ten, at most ten ticks.
fn nice_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = hi - lo;
    if span.is_nan() || span <= 0.0 || span.is_infinite() {
        return vec![lo];
    }
    let raw = span / 10.0;
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|s| span / s <= 10.0)
        .unwrap_or(10.0 * power);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// An axis whose positions map linearly to pixels, with its own labelled ticks (bold grid
/// lines) and minor grid lines (light): a sweep's x axis (linear, log with a break, or
/// categories), and log axes drawn as log10 of the value ([`log_axis`]).
#[derive(Clone, Debug, PartialEq)]
struct Ticked {
    /// The range of positions drawn.
    lo: f64,
    hi: f64,
    /// Positions of labelled ticks.
    ticks: Vec<f64>,
    /// Positions of minor grid lines.
    minor: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let t = (v - self.lo) / (self.hi - self.lo);
        limit.0 + ((limit.1 - limit.0) as f64 * t + 1e-3).floor() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.minor.clone()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// Light grid lines at 2..9 times each power of ten, as log10 positions in (`lo`, `hi`).
fn minor_log_lines(lo: f64, hi: f64) -> Vec<f64> {
    (lo.floor() as i32..=hi.ceil() as i32)
        .flat_map(|d| (2..10).map(move |m| (f64::from(m) * 10f64.powi(d)).log10()))
        .filter(|&u| u > lo && u < hi)
        .collect()
}

/// A log axis over values [`lo`, `hi`] (both > 0), drawn as log10 of the value: ticks at powers
/// of ten (every so many when they are more than ten), or where the range holds fewer than
/// three, at 1, 2 and 5 times them (then 1, 2, 3 and 5, then every integer mantissa, then round
/// numbers); minor lines at 2..9 times powers of ten. Label ticks with `number_label(10^u)`.
fn log_axis(lo: f64, hi: f64) -> Ticked {
    let (lo, hi) = (lo.log10(), hi.log10());
    let inside = |mantissas: &[f64]| -> Vec<f64> {
        (lo.floor() as i32..=hi.ceil() as i32)
            .flat_map(|d| mantissas.iter().map(move |m| (m * 10f64.powi(d)).log10()))
            .filter(|&u| u >= lo - 1e-9 && u <= hi + 1e-9)
            .collect()
    };
    let decades = inside(&[1.0]);
    let every = decades.len() / 10 + 1;
    let mut ticks: Vec<f64> = decades.iter().copied().step_by(every).collect();
    let all = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
    for mantissas in [&[1.0, 2.0, 5.0][..], &[1.0, 2.0, 3.0, 5.0], &all] {
        if ticks.len() < 3 {
            ticks = inside(mantissas);
        }
    }
    if ticks.len() < 3 {
        ticks = nice_ticks(10f64.powf(lo), 10f64.powf(hi))
            .into_iter()
            .filter(|v| *v > 0.0)
            .map(f64::log10)
            .collect();
    }
    Ticked {
        lo,
        hi,
        ticks,
        minor: minor_log_lines(lo, hi),
    }
}

/// Formats an axis value as a whole number.
fn whole(x: &f64) -> String {
    format!("{}", x.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(number_label(0.0), "0");
        assert_eq!(number_label(10f64.powf(-2.0)), "0.01");
        assert_eq!(number_label(0.001), "0.001");
        assert_eq!(number_label(1e-4), "1e-4");
        assert_eq!(number_label(2.5e7), "2.5e7");
        assert_eq!(number_label(5.0), "5");
        assert_eq!(number_label(-0.25), "-0.25");
        assert_eq!(number_label(1.0 / 3.0), "0.333333");
        assert!(number_label(f64::MIN_POSITIVE).starts_with("2.225"));
    }

    #[test]
    fn log_axes_always_have_ticks() {
        let labels = |a: &Ticked| -> Vec<String> {
            a.ticks
                .iter()
                .map(|u| number_label(10f64.powf(*u)))
                .collect()
        };
        // Several decades: powers of ten.
        assert_eq!(labels(&log_axis(0.05, 200.0)), ["0.1", "1", "10", "100"]);
        // About a decade: 1, 2 and 5 times powers of ten.
        assert_eq!(labels(&log_axis(0.8, 6.0)), ["1", "2", "5"]);
        // Less than that: round numbers.
        assert_eq!(
            labels(&log_axis(1.9, 3.3)),
            ["2", "2.2", "2.4", "2.6", "2.8", "3", "3.2"]
        );
        let narrow = log_axis(2.41, 2.52);
        assert!(narrow.ticks.len() >= 2, "{:?}", labels(&narrow));
        assert!(narrow
            .ticks
            .iter()
            .all(|u| *u >= narrow.lo && *u <= narrow.hi));
        // Minor lines at 2..9 times powers of ten.
        let a = log_axis(1.0, 100.0);
        assert_eq!(a.minor.len(), 16);
        assert!(a.minor.iter().all(|u| *u > 0.0 && *u < 2.0));
    }

    #[test]
    fn long_legend_labels_are_cut_to_fit() {
        register_font();
        let font = ("sans-serif", LEGEND_FONT).into_font();
        assert_eq!(fit_text(&font, "short", 200), "short");
        let cut = fit_text(&font, &"long label ".repeat(20), 200);
        assert!(cut.ends_with('…') && font.box_size(&cut).expect("font").0 <= 200);
        let mut legend = Legend::default();
        assert_eq!(legend.width(), 0);
        legend.add("a", Sample::Swatch(BLACK.to_rgba()));
        let narrow = legend.width();
        legend.add("x".repeat(300), Sample::Swatch(BLACK.to_rgba()));
        assert!(narrow > 0 && legend.width() == LEGEND_MAX_WIDTH);
    }
}

//! Plots of a run: accuracy per epoch for every model, as a PNG (and the other figures of a
//! run folder: free energy, traffic, spike rasters, and a sweep's accuracy per swept value).
//!
//! This module owns what every figure shares: the embedded font, the palette, writing a PNG
//! atomically, and the chart set-up (white canvas, caption, margins, label areas, legend box).
//! Each figure lives in its own file: [`accuracy`], [`sweep`], [`energy`] (free energy and EP
//! energy), [`spikes`] (CUBA and conversion rasters) and [`heatmap`] (traffic).
//!
//! Labels are drawn with an embedded DejaVu Sans (`data/fonts/`), registered once with
//! plotters' `ab_glyph` backend, so plots render the same on a machine without fonts.

pub mod accuracy;
pub mod energy;
pub mod heatmap;
pub mod spikes;
pub mod sweep;

use std::error::Error;
use std::path::Path;
use std::sync::Once;

use plotters::coord::ranged1d::AsRangedCoord;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

pub use accuracy::accuracy_png;
pub use energy::{ep_energy_png, free_energy_png};
pub use heatmap::traffic_heatmap_png;
pub use spikes::{cuba_raster_png, spike_raster_png};
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
    /// A full-size figure's frame (900 pixels wide): 24-pixel caption, margin 16, 44 pixels of
    /// x labels and `y_label_area` of y labels.
    fn figure(caption: &'t str, y_label_area: u32) -> Self {
        Frame {
            caption: Some((caption, 24)),
            margin: 16,
            x_label_area: 44,
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

/// Draws the legend box of `chart` at `position` (white, framed, 15-pixel labels).
fn draw_legend<'a, 'p: 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, BitMapBackend<'p>, CT>,
    position: SeriesLabelPosition,
) -> Drawn {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()?;
    Ok(())
}

/// A legend entry's sample: a 20-pixel line in `style`.
fn legend_line(style: ShapeStyle) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style)
}

/// Formats an axis value as a whole number.
fn whole(x: &f64) -> String {
    format!("{}", x.round() as i64)
}

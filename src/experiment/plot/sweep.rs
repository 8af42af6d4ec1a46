//! The sweep figure: test accuracy against a swept value, one line per series.

use std::path::Path;

use plotters::prelude::*;

use super::accuracy::accuracy_floor;
use super::{canvas, draw_legend, legend_line, write_png, Drawn, Frame, PlotError, COLORS};

/// The x axis of a sweep plot ([`sweep_png`]).
#[derive(Clone, Debug, PartialEq)]
pub enum SweepAxis {
    /// Numbers, on a linear axis spanning these values.
    Numeric(Vec<f64>),
    /// Anything else: one evenly spaced category per name, in this order (point x = the
    /// category's index).
    Categorical(Vec<String>),
}

/// One line of a sweep plot: its legend label and its (x, test accuracy) points.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepSeries {
    /// Legend label (a model, and the values of the other swept keys).
    pub label: String,
    /// Points in drawing order.
    pub points: Vec<(f64, f64)>,
}

/// Legend entries drawn at most (every series is drawn).
const MAX_LEGEND: usize = 12;

/// Draws test accuracy against a swept value, one line per series, as a PNG at `path`, in the
/// look of [`super::accuracy_png`]. `title` heads the plot; `key` labels the x axis.
pub fn sweep_png(
    title: &str,
    key: &str,
    axis: &SweepAxis,
    series: &[SweepSeries],
    path: &Path,
) -> Result<(), PlotError> {
    write_png(path, |tmp| draw_sweep(title, key, axis, series, tmp))
}

impl SweepAxis {
    /// The x range drawn and how many labels to ask for.
    fn range(&self) -> (f64, f64, usize) {
        match self {
            SweepAxis::Numeric(values) => {
                let finite = values.iter().copied().filter(|v| v.is_finite());
                let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                    (a.min(v), b.max(v))
                });
                let (lo, hi) = if lo <= hi { (lo, hi) } else { (0.0, 1.0) };
                let pad = if hi > lo { (hi - lo) * 0.05 } else { 0.5 };
                (lo - pad, hi + pad, 10)
            }
            SweepAxis::Categorical(names) => {
                (-0.5, names.len().max(1) as f64 - 0.5, names.len() + 1)
            }
        }
    }

    /// The label at `x`: a number without trailing zeros, or the category's name at its index
    /// (nothing between categories).
    fn label(&self, x: &f64) -> String {
        match self {
            SweepAxis::Numeric(_) => {
                let s = format!("{x:.4}");
                let s = s.trim_end_matches('0').trim_end_matches('.');
                if s == "-0" {
                    "0".to_owned()
                } else {
                    s.to_owned()
                }
            }
            SweepAxis::Categorical(names) => {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
                    names[i as usize].clone()
                } else {
                    String::new()
                }
            }
        }
    }
}

fn draw_sweep(
    title: &str,
    key: &str,
    axis: &SweepAxis,
    series: &[SweepSeries],
    path: &Path,
) -> Drawn {
    let (x_lo, x_hi, x_labels) = axis.range();
    let lowest = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|y| y.is_finite())
        .fold(1.0f64, f64::min);
    let y_min = accuracy_floor(lowest);
    let root = canvas(path, (900, 560))?;
    let mut chart = Frame::figure(title, 64).build(&root, x_lo..x_hi, y_min..1.0f64)?;
    chart
        .configure_mesh()
        .x_desc(key)
        .y_desc("test accuracy")
        .x_labels(x_labels)
        .x_label_formatter(&|x| axis.label(x))
        .y_label_formatter(&|y| format!("{y:.3}"))
        .label_style(("sans-serif", 15))
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let drawn = chart.draw_series(LineSeries::new(s.points.clone(), color.stroke_width(3)))?;
        if i < MAX_LEGEND {
            drawn
                .label(s.label.clone())
                .legend(legend_line(color.stroke_width(3)));
        }
        chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
    }
    if !series.is_empty() {
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    }
    root.present()?;
    Ok(())
}

//! The figures of a spike-timing learning run: the learned input weights as a grid of
//! receptive fields (one 28x28 patch per excitatory neuron), the training curve (accuracy
//! against training images seen, with the test accuracy marked), and the plastic weights of
//! a recurrent network before and after (a histogram each).

use std::path::Path;

use plotters::prelude::*;

use super::{write_png, Drawn, Figure, Frame, Legend, PlotError, Sample, COLORS};
use crate::models::diehl_cook::DiehlCookResults;
use crate::spike::plasticity::WeightFigures;

/// Draws `weights` (`pixels x neurons`, a row per pixel, `pixels = side x side`) as a grid
/// of one patch per neuron, white (0) to black (`w_max`), into a PNG at `path`.
pub fn receptive_fields_png(
    weights: &[f32],
    neurons: usize,
    w_max: f32,
    title: &str,
    path: &Path,
) -> Result<(), PlotError> {
    write_png(path, |tmp| draw_fields(weights, neurons, w_max, title, tmp))
}

fn draw_fields(weights: &[f32], neurons: usize, w_max: f32, title: &str, path: &Path) -> Drawn {
    let pixels = weights.len() / neurons.max(1);
    let side = (pixels as f64).sqrt().round() as usize;
    let cols = (neurons as f64).sqrt().ceil().max(1.0) as usize;
    let rows = neurons.div_ceil(cols).max(1);
    // Each weight a square of `scale` pixels, patches 2 pixels apart.
    let scale = (1200 / (cols * (side + 2)).max(1)).clamp(1, 8);
    let cell = side * scale + 2;
    let (w, h) = ((cols * cell + 20) as u32, (rows * cell + 60) as u32);
    let fig = Figure::new(path, (w, h), title, &Legend::default())?;
    let area = fig.chart.margin(10, 10, 10, 10);
    let shade = |x: f32| {
        let t = (x / w_max.max(f32::MIN_POSITIVE)).clamp(0.0, 1.0);
        let g = (255.0 * (1.0 - t)) as u8;
        RGBColor(g, g, g)
    };
    for j in 0..neurons {
        let (r, c) = (j / cols, j % cols);
        let (x0, y0) = ((c * cell) as i32, (r * cell) as i32);
        for p in 0..side * side {
            let (py, px) = ((p / side) as i32, (p % side) as i32);
            let x = x0 + px * scale as i32;
            let y = y0 + py * scale as i32;
            let color = shade(weights[p * neurons + j]);
            area.draw(&Rectangle::new(
                [(x, y), (x + scale as i32, y + scale as i32)],
                color.filled(),
            ))?;
        }
    }
    fig.root.present()?;
    Ok(())
}

/// Draws the training curve of `r` (accuracy of each window of training images, labelled by
/// the window before) and the final test accuracy as a dashed level, into a PNG at `path`.
pub fn stdp_curve_png(r: &DiehlCookResults, title: &str, path: &Path) -> Result<(), PlotError> {
    write_png(path, |tmp| draw_curve(r, title, tmp))
}

fn draw_curve(r: &DiehlCookResults, title: &str, path: &Path) -> Drawn {
    let mut legend = Legend::default();
    legend.add(
        "training (labels from the window before)",
        Sample::LineDot(COLORS[0].stroke_width(2)),
    );
    legend.add(
        format!("test {:.4}", r.test_accuracy),
        Sample::Line(COLORS[1].stroke_width(2)),
    );
    let fig = Figure::new(path, (900, 560), title, &legend)?;
    let most = r.curve.last().map_or(1, |p| p.images).max(1) as f64;
    let mut chart = Frame::figure(64).build(&fig.chart, 0f64..most * 1.02, 0f64..1.0f64)?;
    chart
        .configure_mesh()
        .x_desc("training images seen")
        .y_desc("accuracy (fraction correct)")
        .y_label_formatter(&|y| format!("{y:.1}"))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .label_style(("sans-serif", 15))
        .draw()?;
    let pts: Vec<(f64, f64)> = r
        .curve
        .iter()
        .map(|p| (p.images as f64, p.accuracy))
        .collect();
    chart.draw_series(LineSeries::new(pts.clone(), COLORS[0].stroke_width(2)))?;
    chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, COLORS[0].filled())))?;
    chart.draw_series(LineSeries::new(
        [(0.0, r.test_accuracy), (most * 1.02, r.test_accuracy)],
        COLORS[1].stroke_width(2),
    ))?;
    legend.draw(&fig.band, 16)?;
    fig.root.present()?;
    Ok(())
}

/// Draws the plastic weights' histograms at the start and at the end of a run (`w`), over
/// the rule's bounds, into a PNG at `path`.
pub fn weights_png(w: &WeightFigures, title: &str, path: &Path) -> Result<(), PlotError> {
    write_png(path, |tmp| draw_weights(w, title, tmp))
}

fn draw_weights(w: &WeightFigures, title: &str, path: &Path) -> Drawn {
    let mut legend = Legend::default();
    legend.add(
        format!("start (mean {:.4})", w.mean_start),
        Sample::Line(COLORS[0].stroke_width(2)),
    );
    legend.add(
        format!("end (mean {:.4})", w.mean_end),
        Sample::Line(COLORS[1].stroke_width(2)),
    );
    let fig = Figure::new(path, (900, 560), title, &legend)?;
    let [lo, hi] = w.bounds;
    let bins = w.histogram_end.len().max(1);
    let width = (hi - lo) / bins as f64;
    // Only the bins with weights in them, and two on each side.
    let used = |h: &[u64]| {
        let first = h.iter().position(|&n| n > 0).unwrap_or(0);
        let last = h.iter().rposition(|&n| n > 0).unwrap_or(bins - 1);
        (first, last)
    };
    let (a, b) = (used(&w.histogram_start), used(&w.histogram_end));
    let first = a.0.min(b.0).saturating_sub(2);
    let last = (a.1.max(b.1) + 3).min(bins);
    let (x0, x1) = (lo + first as f64 * width, lo + last as f64 * width);
    let most = w
        .histogram_start
        .iter()
        .chain(&w.histogram_end)
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mut chart = Frame::figure(72).build(&fig.chart, x0..x1, 0f64..most * 1.05)?;
    chart
        .configure_mesh()
        .x_desc(format!(
            "weight (mV of current jump; bounds [{lo:.4}, {hi:.4}]), {} synapses: {}",
            w.synapses,
            w.projections.join(", ")
        ))
        .y_desc("synapses")
        .x_label_formatter(&|x| format!("{x:.2}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style(("sans-serif", 15))
        .draw()?;
    for (k, h) in [&w.histogram_start, &w.histogram_end]
        .into_iter()
        .enumerate()
    {
        // A step outline per histogram.
        let mut pts = vec![(x0, 0.0)];
        for (b, &n) in h.iter().enumerate().take(last).skip(first) {
            let x = lo + b as f64 * width;
            pts.push((x, n as f64));
            pts.push((x + width, n as f64));
        }
        pts.push((x1, 0.0));
        chart.draw_series(LineSeries::new(pts, COLORS[k].stroke_width(2)))?;
    }
    legend.draw(&fig.band, 16)?;
    fig.root.present()?;
    Ok(())
}

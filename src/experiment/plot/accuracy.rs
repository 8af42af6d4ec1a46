//! The accuracy figures of a run: train (thin) and test (thick) accuracy per epoch of every
//! model, and a converted network's test accuracy against the ticks it ran.

use std::path::Path;

use plotters::prelude::*;

use super::{whole, write_png, Drawn, Figure, Frame, Legend, PlotError, Sample, COLORS};
use crate::experiment::results::Results;

/// Draws train (thin) and test (thick) accuracy per epoch of every model into a PNG at `path`.
pub fn accuracy_png(results: &Results, path: &Path) -> Result<(), PlotError> {
    write_png(path, |tmp| draw_accuracy(results, tmp))
}

/// The lower end of an accuracy axis whose lowest point is `lowest`: 0.02 below it, rounded
/// down to a multiple of 0.02, at least 0.
pub(super) fn accuracy_floor(lowest: f64) -> f64 {
    ((lowest - 0.02).max(0.0) * 50.0).floor() / 50.0
}

fn draw_accuracy(results: &Results, path: &Path) -> Drawn {
    let epochs = results
        .models
        .values()
        .map(|m| m.epochs.len())
        .max()
        .unwrap_or(0)
        .max(1);
    let lowest = results
        .models
        .values()
        .flat_map(|m| {
            m.epochs
                .iter()
                .flat_map(|e| [e.train_accuracy, e.test_accuracy])
        })
        .fold(1.0f64, f64::min);
    let y_min = accuracy_floor(lowest);
    let mut legend = Legend::default();
    for (i, label) in results.models.keys().enumerate() {
        let color = COLORS[i % COLORS.len()];
        legend.add(
            format!("{label} test"),
            Sample::LineDot(color.stroke_width(3)),
        );
        legend.add(
            format!("{label} train"),
            Sample::Line(color.mix(0.45).stroke_width(1)),
        );
    }
    let caption = format!("{}: accuracy per epoch", results.name);
    let fig = Figure::new(path, (900, 560), &caption, &legend)?;
    let mut chart =
        Frame::figure(64).build(&fig.chart, 0.5f64..epochs as f64 + 0.5, y_min..1.0f64)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("accuracy (fraction correct)")
        .x_labels(epochs.min(20))
        .x_label_formatter(&whole)
        .y_label_formatter(&|y| format!("{y:.3}"))
        .label_style(("sans-serif", 15))
        .draw()?;
    for (i, model) in results.models.values().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let test: Vec<(f64, f64)> = model
            .epochs
            .iter()
            .map(|e| (e.epoch as f64, e.test_accuracy))
            .collect();
        let train: Vec<(f64, f64)> = model
            .epochs
            .iter()
            .map(|e| (e.epoch as f64, e.train_accuracy))
            .collect();
        chart.draw_series(LineSeries::new(test.clone(), color.stroke_width(3)))?;
        chart.draw_series(test.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
        // Small dots too, so that a single epoch's train accuracy shows.
        chart.draw_series(
            train
                .iter()
                .map(|&p| Circle::new(p, 2, color.mix(0.45).filled())),
        )?;
        chart.draw_series(LineSeries::new(train, color.mix(0.45).stroke_width(1)))?;
    }
    legend.draw(&fig.band, 16)?;
    fig.root.present()?;
    Ok(())
}

/// Draws a converted spiking network's test accuracy against the ticks simulated per image
/// (a log axis when they span a decade), with the ANN's accuracy (`ann`) as a dashed level,
/// into a PNG at `path`.
pub fn accuracy_vs_ticks_png(
    points: &[crate::spike::convert::ConversionPoint],
    ann: Option<f64>,
    path: &Path,
) -> Result<(), PlotError> {
    write_png(path, |tmp| draw_vs_ticks(points, ann, tmp))
}

fn draw_vs_ticks(
    points: &[crate::spike::convert::ConversionPoint],
    ann: Option<f64>,
    path: &Path,
) -> Drawn {
    let mut legend = Legend::default();
    legend.add(
        "spiking network",
        Sample::LineDot(COLORS[0].stroke_width(2)),
    );
    if let Some(a) = ann {
        legend.add(
            format!("ANN {a:.4}"),
            Sample::Line(COLORS[1].stroke_width(2)),
        );
    }
    let title = "Converted network: test accuracy against ticks per image";
    let fig = Figure::new(path, (900, 520), title, &legend)?;
    let pts: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (p.ticks.max(1) as f64, p.test_accuracy))
        .collect();
    let lowest = pts.iter().map(|p| p.1).chain(ann).fold(1.0, f64::min);
    let most = pts.iter().map(|p| p.0).fold(1.0, f64::max);
    let least = pts.iter().map(|p| p.0).fold(most, f64::min);
    let y = accuracy_floor(lowest)..1.0;
    // Labels at the ticks measured only (the log axis's own crowd near powers of ten).
    let keys: Vec<f64> = pts.iter().map(|p| p.0).collect();
    let x = (least * 0.8..most * 1.25).log_scale().with_key_points(keys);
    let mut chart = Frame::figure(64).build(&fig.chart, x, y)?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .x_desc("ticks per test image (log scale)")
        .y_desc("test accuracy (fraction correct)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.2}"))
        .label_style(("sans-serif", 15))
        .draw()?;
    chart.draw_series(LineSeries::new(pts.clone(), COLORS[0].stroke_width(2)))?;
    chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, COLORS[0].filled())))?;
    if let Some(a) = ann {
        let dashes = DashedLineSeries::new(
            [(least * 0.8, a), (most * 1.25, a)],
            8,
            6,
            COLORS[1].stroke_width(2),
        );
        chart.draw_series(dashes)?;
    }
    legend.draw(&fig.band, 16)?;
    fig.root.present()?;
    Ok(())
}

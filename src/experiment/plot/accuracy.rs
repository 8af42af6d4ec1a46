//! The accuracy figure of a run: train (thin) and test (thick) accuracy per epoch of every
//! model.

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

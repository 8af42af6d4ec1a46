//! The figures of spiking predictive coding: error-population rates by tick of a training
//! batch (one line per layer), and a raster of one training image's spikes (per layer, its
//! value neurons and its error neurons), the settle and learn ticks marked.

use std::path::Path;

use plotters::prelude::*;

use super::COLORS;
use super::{
    number_label, whole, write_png, Area, Drawn, Figure, Frame, Legend, PlotError, Sample,
};
use crate::experiment::results::{PcRecord, Results};
use crate::learn::spc_record::{Population, SpcRaster, TickRates};

/// Colours of the value, positive-error and negative-error spikes.
const VALUE: RGBColor = COLORS[2];
const ERROR_POS: RGBColor = COLORS[1];
const ERROR_NEG: RGBColor = COLORS[0];

/// Draws model `label`'s error-population rates by tick as a PNG at `path`: per layer, the
/// mean spikes per error neuron and tick (positive and negative together) over the last
/// epoch's training images (solid) and the first epoch's (dashed, when there are more); the
/// first `settle_ticks` ticks carry no error, the label is clamped after them.
pub fn error_rates_png(
    results: &Results,
    label: &str,
    settle_ticks: usize,
    path: &Path,
) -> Result<(), PlotError> {
    write_png(path, |tmp| {
        draw_error_rates(results, label, settle_ticks, tmp)
    })
}

/// Error neurons' spikes per neuron and tick (both signs).
fn error_rate(r: &TickRates) -> Vec<f64> {
    r.error_pos
        .iter()
        .zip(&r.error_neg)
        .map(|(p, n)| p + n)
        .collect()
}

/// The name of layer `l` of `layers`.
fn layer_name(l: usize, layers: usize) -> String {
    if l == layers {
        format!("output (layer {l})")
    } else {
        format!("hidden layer {l}")
    }
}

fn draw_error_rates(results: &Results, label: &str, settle: usize, path: &Path) -> Drawn {
    let records: Vec<&PcRecord> = results
        .models
        .get(label)
        .map(|m| m.pc.iter().filter(|r| r.tick_rates.is_some()).collect())
        .unwrap_or_default();
    let rates = |r: &PcRecord| r.tick_rates.clone().unwrap_or_default();
    let last = records.last().map(|r| rates(r)).unwrap_or_default();
    let first = (records.len() > 1).then(|| rates(records[0]));
    let ticks = last
        .iter()
        .map(|r| r.error_pos.len())
        .max()
        .unwrap_or(1)
        .max(2);
    let top = last
        .iter()
        .chain(first.iter().flatten())
        .flat_map(error_rate)
        .fold(0.0f64, f64::max);
    let top = if top > 0.0 { top * 1.1 } else { 1.0 };
    let epochs = (
        records.first().map(|r| r.epoch),
        records.last().map(|r| r.epoch),
    );
    let legend = error_legend(&last, epochs);
    let caption = format!(
        "{}: {label} error-neuron rates by tick of a training batch",
        results.name
    );
    let fig = Figure::new(path, (900, 560), &caption, &legend)?;
    let mut chart = Frame::figure(72).build(&fig.chart, 0f64..(ticks - 1) as f64, 0f64..top)?;
    chart
        .configure_mesh()
        .x_desc(format!(
            "tick of the batch (0-{} settle: no errors; from {settle} learn: label clamped)",
            settle.saturating_sub(1)
        ))
        .x_labels(ticks.min(11))
        .x_label_formatter(&whole)
        .y_desc("error spikes per neuron per tick (+ and -, mean per image)")
        .y_label_formatter(&|y| number_label(*y))
        .label_style(("sans-serif", 15))
        .draw()?;
    let boundary = settle as f64 - 0.5;
    chart.draw_series(DashedLineSeries::new(
        [(boundary, 0.0), (boundary, top)],
        6,
        5,
        RGBColor(120, 120, 120).stroke_width(1),
    ))?;
    for (i, r) in last.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts = error_rate(r)
            .into_iter()
            .enumerate()
            .map(|(t, v)| (t as f64, v));
        chart.draw_series(LineSeries::new(pts, color.stroke_width(3)))?;
    }
    for (i, r) in first.iter().flatten().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<(f64, f64)> = error_rate(r)
            .into_iter()
            .enumerate()
            .map(|(t, v)| (t as f64, v))
            .collect();
        chart.draw_series(DashedLineSeries::new(pts, 8, 6, color.stroke_width(2)))?;
    }
    legend.draw(&fig.band, 16)?;
    fig.root.present()?;
    Ok(())
}

/// The error-rate figure's legend: a line per layer of `last`, and which epochs are drawn
/// solid and dashed (`epochs`: the first and the last; dashed only when they differ).
fn error_legend(last: &[TickRates], epochs: (Option<usize>, Option<usize>)) -> Legend {
    let mut legend = Legend::default();
    for (i, r) in last.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        legend.add(
            layer_name(r.layer, last.len()),
            Sample::Line(color.stroke_width(3)),
        );
    }
    let (first, latest) = (epochs.0.unwrap_or(0), epochs.1.unwrap_or(0));
    legend.add(format!("solid: epoch {latest}"), Sample::Blank);
    if first != latest {
        legend.add(format!("dashed: epoch {first}"), Sample::Blank);
    }
    legend
}

/// Draws `raster` (epoch `epoch` of model `name`) as a PNG at `path`: per layer a panel of its
/// value neurons and one of its error neurons (positive and negative spikes in two colours),
/// ticks across; the first learn tick marked.
pub fn spc_raster_png(
    raster: &SpcRaster,
    name: &str,
    epoch: usize,
    path: &Path,
) -> Result<(), PlotError> {
    write_png(path, |tmp| draw_raster(raster, name, epoch, tmp))
}

fn draw_raster(raster: &SpcRaster, name: &str, epoch: usize, path: &Path) -> Drawn {
    let mut legend = Legend::default();
    legend.add("value neuron spike", Sample::Swatch(VALUE.to_rgba()));
    legend.add("error neuron, + spike", Sample::Swatch(ERROR_POS.to_rgba()));
    legend.add("error neuron, - spike", Sample::Swatch(ERROR_NEG.to_rgba()));
    legend.add("dashed: first learn tick", Sample::Blank);
    legend.add("(label clamped)", Sample::Blank);
    let caption =
        format!("{name}: the spikes of one training image (first of epoch {epoch}'s last batch)");
    // A panel of value neurons and one of error neurons per hidden layer; the output's value
    // neurons do not fire, so it has its error panel only.
    let layers = raster.widths.len();
    let panels: Vec<(usize, bool)> = (1..=layers)
        .flat_map(|l| [(l, true), (l, false)])
        .filter(|&(l, value)| !(value && l == layers))
        .collect();
    let height = 230 * panels.len().max(1) as u32;
    let fig = Figure::new(path, (1100, height), &caption, &legend)?;
    let areas = fig.chart.split_evenly((panels.len().max(1), 1));
    for (&(l, value), area) in panels.iter().zip(&areas) {
        draw_panel(area, raster, l, value)?;
    }
    legend.draw(&fig.band, 16)?;
    fig.root.present()?;
    Ok(())
}

/// Layer `l`'s value neurons (`value`) or error neurons, ticks across, neurons down.
fn draw_panel(area: &Area<'_>, raster: &SpcRaster, l: usize, value: bool) -> Drawn {
    let n = raster.widths.get(l - 1).copied().unwrap_or(1).max(1);
    let spikes = raster
        .spikes
        .iter()
        .filter(|s| s.layer as usize == l && (s.population == Population::Value) == value);
    let count = |p: Population| spikes.clone().filter(|s| s.population == p).count();
    let name = layer_name(l, raster.widths.len());
    let caption = if value {
        format!(
            "{name}: {n} value neurons, {} spikes",
            count(Population::Value)
        )
    } else {
        format!(
            "{name}: {n} error neurons, {} + and {} - spikes",
            count(Population::ErrorPos),
            count(Population::ErrorNeg)
        )
    };
    let (ticks, n) = (raster.ticks.max(1) as f64, n as f64);
    let mut chart = Frame::panel(Some(&caption)).build(area, 0f64..ticks, n..0f64)?;
    chart
        .configure_mesh()
        .x_desc("tick of the batch")
        .y_desc("neuron")
        .x_labels(ticks.min(21.0) as usize)
        .y_labels(5)
        .x_label_formatter(&whole)
        .y_label_formatter(&whole)
        .disable_mesh()
        .label_style(("sans-serif", 13))
        .draw()?;
    chart.draw_series(spikes.map(|s| {
        let color = match s.population {
            Population::Value => VALUE,
            Population::ErrorPos => ERROR_POS,
            Population::ErrorNeg => ERROR_NEG,
        };
        let (t, row) = (f64::from(s.tick), f64::from(s.neuron));
        Rectangle::new([(t + 0.1, row), (t + 0.9, row + 1.0)], color.filled())
    }))?;
    // Over the spikes, so that it shows across dense value panels too.
    let learn = raster.settle_ticks as f64;
    chart.draw_series(DashedLineSeries::new(
        [(learn, 0.0), (learn, n)],
        6,
        5,
        BLACK.stroke_width(2),
    ))?;
    Ok(())
}

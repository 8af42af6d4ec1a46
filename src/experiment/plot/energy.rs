//! The energy figures of the layer-actor learning rules: predictive coding's free energy per
//! inference step (one line per epoch) and equilibrium propagation's energy at the free fixed
//! point per epoch.

use std::path::Path;

use plotters::prelude::*;

use super::{
    log_axis, number_label, whole, write_png, Drawn, Figure, Frame, Legend, PlotError, Sample,
    COLORS,
};
use crate::experiment::results::{PcRecord, Results};

/// Draws the free energy per inference step of a predictive-coding model (one line per epoch,
/// log scale) as a PNG at `path`: how far inference settles each batch, and how that changes as
/// the network learns.
pub fn free_energy_png(results: &Results, label: &str, path: &Path) -> Result<(), PlotError> {
    write_png(path, |tmp| draw_free_energy(results, label, tmp))
}

/// The records of model `label` (none if there is no such model).
fn records<'r>(results: &'r Results, label: &str) -> &'r [PcRecord] {
    results.models.get(label).map(|m| &m.pc[..]).unwrap_or(&[])
}

/// What one entry of the free energy stands for, and the x axis's description: an inference
/// step of PC, or a tick of spiking PC's training batch (its errors start at the first learn
/// tick, the first non-zero entry).
fn step_axis(records: &[PcRecord]) -> (&'static str, String) {
    if !records.iter().any(|r| r.tick_rates.is_some()) {
        let desc = "inference step (count; 0 = forward sweep)";
        return ("inference step", desc.to_owned());
    }
    let settle = records
        .iter()
        .find_map(|r| r.free_energy.iter().position(|&e| e > 0.0))
        .unwrap_or(0);
    let desc =
        format!("tick of a training batch (errors from tick {settle}, the first learn tick)");
    ("tick", desc)
}

fn draw_free_energy(results: &Results, label: &str, path: &Path) -> Drawn {
    let records = records(results, label);
    let steps = records
        .iter()
        .map(|r| r.free_energy.len())
        .max()
        .unwrap_or(1)
        .max(2);
    let values = records.iter().flat_map(|r| r.free_energy.iter().copied());
    let (lo, hi) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if hi > 0.0 {
        (lo * 0.8, hi * 1.25)
    } else {
        (1e-3, 1.0)
    };
    let n = records.len().max(1);
    // Early epochs light, late epochs dark.
    let shade = |i: usize| 0.25 + 0.75 * (i + 1) as f64 / n as f64;
    let mut legend = Legend::default();
    // Every epoch in the legend when few, else the first and the last.
    let few = records.len() <= 12;
    for (i, r) in records.iter().enumerate() {
        if few || i == 0 || i + 1 == records.len() {
            let color = COLORS[0].mix(shade(i));
            legend.add(
                format!("epoch {}", r.epoch),
                Sample::Line(color.stroke_width(2)),
            );
        }
    }
    if records.len() > 1 {
        legend.heading = Some("darker = later".to_owned());
    }
    let (per, x_desc) = step_axis(records);
    let caption = format!("{}: {label} free energy per {per}", results.name);
    let fig = Figure::new(path, (900, 560), &caption, &legend)?;
    // The y axis is log10 of F, with its own ticks (plotters' log axis has none within a
    // decade).
    let mut chart =
        Frame::figure(72).build(&fig.chart, 0f64..(steps - 1) as f64, log_axis(lo, hi))?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .x_labels(steps.min(11))
        .x_label_formatter(&whole)
        .y_desc("free energy F, mean per example (a.u., log scale)")
        .y_label_formatter(&|u| number_label(10f64.powf(*u)))
        .label_style(("sans-serif", 15))
        .draw()?;
    for (i, r) in records.iter().enumerate() {
        let color = COLORS[0].mix(shade(i));
        let pts: Vec<(f64, f64)> = r
            .free_energy
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite() && **v > 0.0)
            .map(|(t, &v)| (t as f64, v.log10()))
            .collect();
        chart.draw_series(LineSeries::new(pts, color.stroke_width(2)))?;
    }
    legend.draw(&fig.band, 16)?;
    fig.root.present()?;
    Ok(())
}

/// Draws an equilibrium-propagation model's energy at the free fixed point, mean per
/// example, against the epoch, as a PNG at `path` (`pc[].free_energy[0]` of `label`): the
/// energy landscape's depth at the network's answers as it learns.
pub fn ep_energy_png(results: &Results, label: &str, path: &Path) -> Result<(), PlotError> {
    write_png(path, |tmp| draw_ep_energy(results, label, tmp))
}

fn draw_ep_energy(results: &Results, label: &str, path: &Path) -> Drawn {
    let records = records(results, label);
    let pts: Vec<(f64, f64)> = records
        .iter()
        .filter_map(|r| r.free_energy.first().map(|&e| (r.epoch as f64, e)))
        .filter(|(_, e)| e.is_finite())
        .collect();
    let (lo, hi) = pts
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &(_, v)| {
            (a.min(v), b.max(v))
        });
    let (lo, hi) = if lo.is_finite() {
        let pad = ((hi - lo) * 0.1).max(1e-3);
        (lo - pad, hi + pad)
    } else {
        (-1.0, 1.0)
    };
    let epochs = records.len().max(1);
    let caption = format!("{}: {label} energy at the free fixed point", results.name);
    let fig = Figure::new(path, (900, 560), &caption, &Legend::default())?;
    let mut chart = Frame::figure(72).build(&fig.chart, 0.5f64..epochs as f64 + 0.5, lo..hi)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_labels(epochs.min(20))
        .x_label_formatter(&whole)
        .y_desc("energy E(s0), mean per example (a.u.)")
        .y_label_formatter(&|y| format!("{y:.2}"))
        .label_style(("sans-serif", 15))
        .draw()?;
    let color = COLORS[0];
    chart.draw_series(LineSeries::new(pts.clone(), color.stroke_width(3)))?;
    chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
    fig.root.present()?;
    Ok(())
}

//! The cortical microcircuit's figures: a raster of a sample of every population (layers
//! from 2/3 at the top to 6 at the bottom, excitatory blue, inhibitory red) and a box plot of
//! each population's per-neuron rates beside the published reference.

use std::path::Path;

use plotters::prelude::*;

use super::PlotError;
use super::{whole, write_png, Drawn, Figure, Frame, Legend, Sample, COLORS};
use crate::models::microcircuit::model::{is_excitatory, POPULATIONS};
use crate::models::microcircuit::MicrocircuitRun;

/// Draws the raster at `path`.
pub fn microcircuit_raster_png(run: &MicrocircuitRun, path: &Path) -> Result<(), PlotError> {
    write_png(path, |tmp| draw_raster(run, tmp))
}

/// Each population's sampled neurons as consecutive rows, population by population: the
/// first row of each and the rows in all.
fn rows(run: &MicrocircuitRun) -> ([usize; 9], Vec<usize>) {
    let (mut first, mut sample) = ([0; 9], [0; 8]);
    for &(_, g) in &run.raster {
        let p = run.starts.partition_point(|&s| s <= g as usize) - 1;
        sample[p] = sample[p].max(g as usize - run.starts[p] + 1);
    }
    for p in 0..8 {
        first[p + 1] = first[p] + sample[p];
    }
    let row = run
        .raster
        .iter()
        .map(|&(_, g)| {
            let p = run.starts.partition_point(|&s| s <= g as usize) - 1;
            first[p] + g as usize - run.starts[p]
        })
        .collect();
    (first, row)
}

fn draw_raster(run: &MicrocircuitRun, path: &Path) -> Drawn {
    let dt = crate::models::microcircuit::model::LIF.dt_ms;
    let (t0, t1) = (
        run.raster_ticks.start as f64 * dt,
        (run.raster_ticks.end as f64 * dt).max(run.raster_ticks.start as f64 * dt + dt),
    );
    let (first, row) = rows(run);
    let total = first[8].max(1) as f64;
    let mut legend = Legend::default();
    legend.add(
        "excitatory neuron spike",
        Sample::Swatch(COLORS[0].to_rgba()),
    );
    legend.add(
        "inhibitory neuron spike",
        Sample::Swatch(COLORS[1].to_rgba()),
    );
    let caption = format!(
        "Cortical microcircuit: {} neurons, {} synapses; a sample of each population",
        run.stats.neurons, run.stats.synapses
    );
    let fig = Figure::new(path, (1200, 900), &caption, &legend)?;
    let mut chart = Frame::figure(70).build(&fig.chart, t0..t1, total..0.0)?;
    // Each population's name at the middle of its rows.
    let label = |y: &f64| {
        (0..8)
            .find(|&p| {
                first[p + 1] > first[p] && (*y - (first[p] + first[p + 1]) as f64 / 2.0).abs() < 0.5
            })
            .map_or(String::new(), |p| POPULATIONS[p].to_owned())
    };
    chart
        .configure_mesh()
        .x_desc("time (ms)")
        .y_desc("population (sampled neurons)")
        .x_label_formatter(&whole)
        .y_labels(0)
        .disable_mesh()
        .label_style(("sans-serif", 14))
        .draw()?;
    for p in 0..8 {
        let mid = ((first[p] + first[p + 1]) as f64 / 2.0).round();
        chart.draw_series(std::iter::once(Text::new(
            label(&mid),
            (t0, mid),
            ("sans-serif", 13).into_font().color(&BLACK),
        )))?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(t0, first[p + 1] as f64), (t1, first[p + 1] as f64)],
            BLACK.mix(0.3),
        )))?;
    }
    for (&(t, g), &r) in run.raster.iter().zip(&row) {
        let p = run.starts.partition_point(|&s| s <= g as usize) - 1;
        let color = if is_excitatory(p) {
            COLORS[0]
        } else {
            COLORS[1]
        };
        chart.draw_series(std::iter::once(Circle::new(
            (f64::from(t) * dt, r as f64 + 0.5),
            1,
            color.filled(),
        )))?;
    }
    legend.draw(&fig.band, 10)?;
    fig.root.present()?;
    Ok(())
}

/// Draws the rates box plot at `path`.
pub fn rates_box_png(run: &MicrocircuitRun, path: &Path) -> Result<(), PlotError> {
    write_png(path, |tmp| draw_box(run, tmp))
}

/// The `q`-quantile of sorted values (linear interpolation).
fn quantile(sorted: &[f32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let x = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
    let f = x - lo as f64;
    f64::from(sorted[lo]) * (1.0 - f) + f64::from(sorted[hi]) * f
}

fn draw_box(run: &MicrocircuitRun, path: &Path) -> Drawn {
    let sorted: Vec<Vec<f32>> = run
        .rates
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.sort_by(f32::total_cmp);
            r
        })
        .collect();
    let top = sorted
        .iter()
        .map(|r| quantile(r, 0.95))
        .chain(
            run.stats
                .populations
                .iter()
                .filter_map(|p| p.reference_rate_hz),
        )
        .fold(1.0, f64::max)
        * 1.15;
    let mut legend = Legend::default();
    legend.add(
        "quartiles (box) and median",
        Sample::Swatch(COLORS[0].mix(0.4)),
    );
    legend.add("5th-95th percentile", Sample::Line(BLACK.stroke_width(1)));
    legend.add("mean", Sample::LineDot(COLORS[2].stroke_width(0)));
    legend.add(
        "reference (NEST, full scale)",
        Sample::LineDot(BLACK.stroke_width(0)),
    );
    let fig = Figure::new(
        path,
        (1100, 650),
        "Firing rates per population, after the transient",
        &legend,
    )?;
    let mut chart = Frame::figure(70).build(&fig.chart, -0.5f64..7.5, 0f64..top)?;
    chart
        .configure_mesh()
        .x_desc("population")
        .y_desc("rate (Hz)")
        .x_labels(8)
        .x_label_formatter(&|x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && (0.0..8.0).contains(&i) {
                POPULATIONS[i as usize].to_owned()
            } else {
                String::new()
            }
        })
        .label_style(("sans-serif", 14))
        .draw()?;
    for (p, r) in sorted.iter().enumerate() {
        draw_one_box(&mut chart, p as f64, r, run.stats.populations.get(p))?;
    }
    legend.draw(&fig.band, 10)?;
    fig.root.present()?;
    Ok(())
}

type BoxChart<'a, 'p> = super::Chart<
    'a,
    'p,
    plotters::coord::types::RangedCoordf64,
    plotters::coord::types::RangedCoordf64,
>;

/// One population's box, whiskers, mean and reference at `x`.
fn draw_one_box(
    chart: &mut BoxChart<'_, '_>,
    x: f64,
    r: &[f32],
    stats: Option<&crate::spike::record::PopulationStats>,
) -> Drawn {
    let (q1, med, q3) = (quantile(r, 0.25), quantile(r, 0.5), quantile(r, 0.75));
    let (lo, hi) = (quantile(r, 0.05), quantile(r, 0.95));
    let w = 0.3;
    chart.draw_series(std::iter::once(Rectangle::new(
        [(x - w, q1), (x + w, q3)],
        COLORS[0].mix(0.4).filled(),
    )))?;
    for seg in [
        vec![(x - w, med), (x + w, med)],
        vec![(x, lo), (x, q1)],
        vec![(x, q3), (x, hi)],
        vec![(x - w / 2.0, lo), (x + w / 2.0, lo)],
        vec![(x - w / 2.0, hi), (x + w / 2.0, hi)],
    ] {
        chart.draw_series(std::iter::once(PathElement::new(
            seg,
            BLACK.stroke_width(1),
        )))?;
    }
    if let Some(s) = stats {
        chart.draw_series(std::iter::once(Circle::new(
            (x, s.rate_hz),
            5,
            COLORS[2].filled(),
        )))?;
        if let Some(reference) = s.reference_rate_hz {
            chart.draw_series(std::iter::once(Circle::new(
                (x + w + 0.08, reference),
                5,
                BLACK.filled(),
            )))?;
        }
    }
    Ok(())
}

//! Spike rasters: the CUBA network's (with its population rate) and a converted network's
//! (one panel per test image, layers stacked).

use std::path::Path;

use plotters::prelude::*;

use super::{whole, write_png, Area, Drawn, Figure, Frame, Legend, PlotError, Sample, COLORS};
use crate::spike::convert::{ConversionReport, RASTER_IMAGES};
use crate::spike::tally::{SpikingRun, RASTER_TICKS};

/// Draws a recurrent network's spikes at `path`: a raster (time across, neuron down; excitatory
/// and inhibitory neurons in two colours) over the first [`RASTER_TICKS`] ticks, and
/// under it the population rate in 1 ms bins.
pub fn cuba_raster_png(run: &SpikingRun, path: &Path) -> Result<(), PlotError> {
    write_png(path, |tmp| draw_cuba(run, tmp))
}

fn draw_cuba(run: &SpikingRun, path: &Path) -> Drawn {
    let st = &run.stats;
    let dt_ms = crate::models::cuba::LIF.dt_ms;
    let shown_ms = (st.sim_s * 1000.0).min(RASTER_TICKS as f64 * dt_ms);
    let mut legend = Legend::default();
    legend.add(
        "excitatory neuron spike",
        Sample::Swatch(COLORS[0].to_rgba()),
    );
    legend.add(
        "inhibitory neuron spike",
        Sample::Swatch(COLORS[1].to_rgba()),
    );
    legend.add("population rate", Sample::Line(COLORS[2].stroke_width(2)));
    let caption = format!(
        "CUBA: {} neurons (first 80 % excitatory), {} spikes, mean rate {:.2} Hz",
        st.neurons, st.spikes, st.mean_rate_hz
    );
    let fig = Figure::new(path, (1200, 900), &caption, &legend)?;
    let (top, bottom) = fig.chart.split_vertically(610);
    draw_cuba_raster(&top, run, shown_ms)?;
    draw_cuba_rate(&bottom, run, shown_ms)?;
    legend.draw(&fig.band, 10)?;
    fig.root.present()?;
    Ok(())
}

/// The raster panel: excitatory spikes blue, inhibitory red, over `shown_ms`.
fn draw_cuba_raster(area: &Area<'_>, run: &SpikingRun, shown_ms: f64) -> Drawn {
    let st = &run.stats;
    let dt_ms = crate::models::cuba::LIF.dt_ms;
    let n = st.neurons.max(1);
    let excitatory = (n * 4 / 5) as u32;
    let caption = format!("spikes over the first {shown_ms:.0} ms");
    let mut chart =
        Frame::panel(Some(&caption)).build(area, 0f64..shown_ms.max(dt_ms), 0f64..n as f64)?;
    chart
        .configure_mesh()
        .x_desc("time (ms)")
        .y_desc("neuron index")
        .x_label_formatter(&whole)
        .y_label_formatter(&whole)
        .disable_mesh()
        .label_style(("sans-serif", 13))
        .draw()?;
    for (pick, color) in [(true, COLORS[0]), (false, COLORS[1])] {
        chart.draw_series(
            run.raster
                .iter()
                .filter(|s| (s.1 < excitatory) == pick)
                .map(|&(t, i)| Pixel::new((f64::from(t) * dt_ms, f64::from(i)), color.to_rgba())),
        )?;
    }
    Ok(())
}

/// The population rate panel: spikes per neuron per second in 1 ms bins over `shown_ms`.
fn draw_cuba_rate(area: &Area<'_>, run: &SpikingRun, shown_ms: f64) -> Drawn {
    let dt_ms = crate::models::cuba::LIF.dt_ms;
    let n = run.stats.neurons.max(1);
    let bins = shown_ms.ceil().max(1.0) as usize;
    let mut counts = vec![0u32; bins];
    for &(t, _) in &run.raster {
        let b = ((f64::from(t) * dt_ms) as usize).min(bins - 1);
        counts[b] += 1;
    }
    // Spikes per neuron per second in each 1 ms bin.
    let rates: Vec<f64> = counts
        .iter()
        .map(|&c| f64::from(c) / n as f64 * 1000.0)
        .collect();
    let top_rate = rates.iter().copied().fold(1.0, f64::max) * 1.1;
    let mut rate = Frame::panel(Some("population rate in 1 ms bins")).build(
        area,
        0f64..shown_ms.max(dt_ms),
        0f64..top_rate,
    )?;
    rate.configure_mesh()
        .x_desc("time (ms)")
        .y_desc("rate (Hz = spikes/neuron/s)")
        .x_label_formatter(&whole)
        .label_style(("sans-serif", 13))
        .draw()?;
    rate.draw_series(LineSeries::new(
        rates.iter().enumerate().map(|(b, &r)| (b as f64 + 0.5, r)),
        COLORS[2].stroke_width(2),
    ))?;
    Ok(())
}

/// Draws a spike raster of a converted network at `path`: one panel per test image, ticks
/// across, neurons down (layers stacked, input side at the top, each layer in its own colour).
pub fn spike_raster_png(report: &ConversionReport, path: &Path) -> Result<(), PlotError> {
    write_png(path, |tmp| draw_raster(report, tmp))
}

fn draw_raster(report: &ConversionReport, path: &Path) -> Drawn {
    let layers = report.widths.len();
    let mut legend = Legend::default();
    for (l, w) in report.widths.iter().enumerate() {
        let name = if l + 1 == layers {
            format!("output layer ({w} neurons)")
        } else {
            format!("hidden layer {} ({w} neurons)", l + 1)
        };
        legend.add(name, Sample::Swatch(COLORS[l % COLORS.len()].to_rgba()));
    }
    let caption = format!(
        "spikes of the first {RASTER_IMAGES} test images (layers stacked, output at the bottom)"
    );
    let fig = Figure::new(path, (1200, 420 * RASTER_IMAGES as u32), &caption, &legend)?;
    let panels = fig.chart.split_evenly((RASTER_IMAGES, 1));
    for (img, panel) in panels.iter().enumerate() {
        draw_raster_panel(panel, report, img)?;
    }
    legend.draw(&fig.band, 10)?;
    fig.root.present()?;
    Ok(())
}

/// Test image `img`'s panel: every layer's spikes, layers stacked from the input side down.
fn draw_raster_panel(panel: &Area<'_>, report: &ConversionReport, img: usize) -> Drawn {
    let total: usize = report.widths.iter().sum();
    let caption = format!("test image {img}");
    let mut chart =
        Frame::panel(Some(&caption)).build(panel, 0f64..report.ticks as f64, total as f64..0f64)?;
    chart
        .configure_mesh()
        .x_desc("time (ticks)")
        .y_desc("neuron index (layers stacked)")
        .x_label_formatter(&whole)
        .y_label_formatter(&whole)
        .disable_mesh()
        .label_style(("sans-serif", 13))
        .draw()?;
    let mut offset = 0usize;
    for (l, spikes) in report.raster.iter().enumerate() {
        let color = COLORS[l % COLORS.len()];
        // The output layer is small: draw its spikes larger.
        let size = if l + 1 == report.raster.len() { 3 } else { 1 };
        chart.draw_series(
            spikes
                .iter()
                .filter(|s| s.0 as usize == img)
                .map(|&(_, t, n)| {
                    Circle::new(
                        (f64::from(t) + 0.5, (offset + n as usize) as f64 + 0.5),
                        size,
                        color.filled(),
                    )
                }),
        )?;
        offset += report.widths.get(l).copied().unwrap_or(0);
    }
    Ok(())
}

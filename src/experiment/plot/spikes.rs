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
        "spikes of the first {RASTER_IMAGES} test images (hidden layers stacked; the output layer in its own strip)"
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

/// Test image `img`'s panel: the hidden layers' spikes stacked from the input side down,
/// and under them the output layer in a strip of its own (a tenth of the neurons would
/// otherwise get a few pixels), one row per output neuron (class).
fn draw_raster_panel(panel: &Area<'_>, report: &ConversionReport, img: usize) -> Drawn {
    let layers = report.raster.len();
    let hidden: usize = report.widths.iter().take(layers.saturating_sub(1)).sum();
    let outputs = report.widths.last().copied().unwrap_or(0).max(1);
    let height = panel.dim_in_pixel().1 as i32;
    let (upper, lower) = panel.split_vertically(height * 3 / 5);
    let caption = format!("test image {img}");
    let ticks = 0f64..report.ticks as f64;
    let mut top =
        Frame::panel(Some(&caption)).build(&upper, ticks.clone(), hidden.max(1) as f64..0f64)?;
    top.configure_mesh()
        .y_desc("hidden neuron (layers stacked)")
        .x_label_formatter(&|_| String::new())
        .y_label_formatter(&whole)
        .disable_mesh()
        .label_style(("sans-serif", 13))
        .draw()?;
    let mut bottom = Frame::panel(None).build(&lower, ticks, outputs as f64..0f64)?;
    bottom
        .configure_mesh()
        .x_desc("time (ticks)")
        .y_desc("output neuron")
        .x_label_formatter(&whole)
        .y_label_formatter(&whole)
        .y_labels(outputs.min(10) / 2 + 1)
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .label_style(("sans-serif", 13))
        .draw()?;
    let mut offset = 0usize;
    for (l, spikes) in report.raster.iter().enumerate() {
        let color = COLORS[l % COLORS.len()];
        let mine = spikes.iter().filter(|s| s.0 as usize == img);
        if l + 1 == layers {
            // One short bar per output spike, on its neuron's row.
            bottom.draw_series(mine.map(|&(_, t, n)| {
                let (x, y) = (f64::from(t), n as f64);
                Rectangle::new([(x, y + 0.15), (x + 1.0, y + 0.85)], color.filled())
            }))?;
        } else {
            top.draw_series(mine.map(|&(_, t, n)| {
                Circle::new(
                    (f64::from(t) + 0.5, (offset + n as usize) as f64 + 0.5),
                    1,
                    color.filled(),
                )
            }))?;
        }
        offset += report.widths.get(l).copied().unwrap_or(0);
    }
    Ok(())
}

//! Plots of a run: accuracy per epoch for every model, as a PNG (and the other figures of a
//! run folder: free energy, traffic, spike rasters, and a sweep's accuracy per swept value).
//!
//! Labels are drawn with an embedded DejaVu Sans (`data/fonts/`), registered once with
//! plotters' `ab_glyph` backend, so plots render the same on a machine without fonts.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

use crate::experiment::results::Results;

static FONT: &[u8] = include_bytes!("../../data/fonts/DejaVuSans.ttf");
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

/// Runs `draw` on a temporary file beside `path`, then renames it into place: never half a
/// PNG on disk. Errors name `path`.
fn write_png(
    path: &Path,
    draw: impl FnOnce(&Path) -> Result<(), Box<dyn std::error::Error>>,
) -> Result<(), PlotError> {
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

/// Draws train (thin) and test (thick) accuracy per epoch of every model into a PNG at `path`.
pub fn accuracy_png(results: &Results, path: &Path) -> Result<(), PlotError> {
    write_png(path, |tmp| draw_accuracy(results, tmp))
}

fn draw_accuracy(results: &Results, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let err = |e: &dyn std::fmt::Display| -> Box<dyn std::error::Error> { e.to_string().into() };
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
    let y_min = ((lowest - 0.02).max(0.0) * 50.0).floor() / 50.0;
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{}: accuracy per epoch", results.name),
            ("sans-serif", 24),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0.5f64..epochs as f64 + 0.5, y_min..1.0f64)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("accuracy")
        .x_labels(epochs.min(20))
        .x_label_formatter(&|x| format!("{}", x.round() as i64))
        .y_label_formatter(&|y| format!("{y:.3}"))
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(|e| err(&e))?;
    for (i, (label, model)) in results.models.iter().enumerate() {
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
        chart
            .draw_series(LineSeries::new(test.clone(), color.stroke_width(3)))
            .map_err(|e| err(&e))?
            .label(format!("{label} test"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
        chart
            .draw_series(test.iter().map(|&p| Circle::new(p, 4, color.filled())))
            .map_err(|e| err(&e))?;
        chart
            .draw_series(LineSeries::new(train, color.mix(0.45).stroke_width(1)))
            .map_err(|e| err(&e))?
            .label(format!("{label} train"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.mix(0.45).stroke_width(1))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

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
/// look of [`accuracy_png`]. `title` heads the plot; `key` labels the x axis.
pub fn sweep_png(
    title: &str,
    key: &str,
    axis: &SweepAxis,
    series: &[SweepSeries],
    path: &Path,
) -> Result<(), PlotError> {
    write_png(path, |tmp| draw_sweep(title, key, axis, series, tmp))
}

fn draw_sweep(
    title: &str,
    key: &str,
    axis: &SweepAxis,
    series: &[SweepSeries],
    path: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let err = |e: &dyn std::fmt::Display| -> Box<dyn std::error::Error> { e.to_string().into() };
    let (x_lo, x_hi, x_labels) = match axis {
        SweepAxis::Numeric(values) => {
            let finite = values.iter().copied().filter(|v| v.is_finite());
            let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
            let (lo, hi) = if lo <= hi { (lo, hi) } else { (0.0, 1.0) };
            let pad = if hi > lo { (hi - lo) * 0.05 } else { 0.5 };
            (lo - pad, hi + pad, 10)
        }
        SweepAxis::Categorical(names) => (-0.5, names.len().max(1) as f64 - 0.5, names.len() + 1),
    };
    let lowest = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|y| y.is_finite())
        .fold(1.0f64, f64::min);
    let y_min = ((lowest - 0.02).max(0.0) * 50.0).floor() / 50.0;
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x_lo..x_hi, y_min..1.0f64)
        .map_err(|e| err(&e))?;
    let x_format = |x: &f64| match axis {
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
    };
    chart
        .configure_mesh()
        .x_desc(key)
        .y_desc("test accuracy")
        .x_labels(x_labels)
        .x_label_formatter(&x_format)
        .y_label_formatter(&|y| format!("{y:.3}"))
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(|e| err(&e))?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let drawn = chart
            .draw_series(LineSeries::new(s.points.clone(), color.stroke_width(3)))
            .map_err(|e| err(&e))?;
        if i < MAX_LEGEND {
            drawn.label(s.label.clone()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
        }
        chart
            .draw_series(s.points.iter().map(|&p| Circle::new(p, 4, color.filled())))
            .map_err(|e| err(&e))?;
    }
    if !series.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// Draws the free energy per inference step of a predictive-coding model (one line per epoch,
/// log scale) as a PNG at `path`: how far inference settles each batch, and how that changes as
/// the network learns.
pub fn free_energy_png(results: &Results, label: &str, path: &Path) -> Result<(), PlotError> {
    write_png(path, |tmp| draw_free_energy(results, label, tmp))
}

fn draw_free_energy(
    results: &Results,
    label: &str,
    path: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let err = |e: &dyn std::fmt::Display| -> Box<dyn std::error::Error> { e.to_string().into() };
    let records = results.models.get(label).map(|m| &m.pc[..]).unwrap_or(&[]);
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
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{}: {label} free energy per inference step", results.name),
            ("sans-serif", 24),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(0f64..(steps - 1) as f64, (lo..hi).log_scale())
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("inference step (0 = forward sweep)")
        .x_label_formatter(&|x| format!("{}", x.round() as i64))
        .y_desc("mean F per example")
        .y_label_formatter(&|y| format!("{y:.3}"))
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(|e| err(&e))?;
    let n = records.len().max(1);
    for (i, r) in records.iter().enumerate() {
        // Early epochs light, late epochs dark.
        let shade = 0.25 + 0.75 * (i + 1) as f64 / n as f64;
        let color = COLORS[0].mix(shade);
        let pts: Vec<(f64, f64)> = r
            .free_energy
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite() && **v > 0.0)
            .map(|(t, &v)| (t as f64, v))
            .collect();
        let series = chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(|e| err(&e))?;
        if i == 0 || i + 1 == records.len() {
            series
                .label(format!("epoch {}", r.epoch))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// Draws an equilibrium-propagation model's energy at the free fixed point, mean per
/// example, against the epoch, as a PNG at `path` (`pc[].free_energy[0]` of `label`): the
/// energy landscape's depth at the network's answers as it learns.
pub fn ep_energy_png(results: &Results, label: &str, path: &Path) -> Result<(), PlotError> {
    write_png(path, |tmp| draw_ep_energy(results, label, tmp))
}

fn draw_ep_energy(
    results: &Results,
    label: &str,
    path: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let err = |e: &dyn std::fmt::Display| -> Box<dyn std::error::Error> { e.to_string().into() };
    let records = results.models.get(label).map(|m| &m.pc[..]).unwrap_or(&[]);
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
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{}: {label} energy at the free fixed point", results.name),
            ("sans-serif", 24),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(0.5f64..epochs as f64 + 0.5, lo..hi)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_labels(epochs.min(20))
        .x_label_formatter(&|x| format!("{}", x.round() as i64))
        .y_desc("mean E(s0) per example")
        .y_label_formatter(&|y| format!("{y:.2}"))
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(|e| err(&e))?;
    let color = COLORS[0];
    chart
        .draw_series(LineSeries::new(pts.clone(), color.stroke_width(3)))
        .map_err(|e| err(&e))?;
    chart
        .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// Draws a recurrent network's spikes at `path`: a raster (time across, neuron down; excitatory
/// and inhibitory neurons in two colours) over the first [`crate::spike::snn::RASTER_TICKS`] ticks, and
/// under it the population rate in 1 ms bins.
pub fn cuba_raster_png(run: &crate::spike::snn::CubaRun, path: &Path) -> Result<(), PlotError> {
    write_png(path, |tmp| draw_cuba(run, tmp))
}

fn draw_cuba(
    run: &crate::spike::snn::CubaRun,
    path: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let err = |e: &dyn std::fmt::Display| -> Box<dyn std::error::Error> { e.to_string().into() };
    let st = &run.stats;
    let dt_ms = crate::spike::lif::LifParams::CUBA.dt_ms;
    let shown_ms = (st.sim_s * 1000.0).min(crate::spike::snn::RASTER_TICKS as f64 * dt_ms);
    let n = st.neurons.max(1);
    let excitatory = (n * 4 / 5) as u32;
    let root = BitMapBackend::new(path, (1200, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (top, bottom) = root.split_vertically(640);
    let mut chart = ChartBuilder::on(&top)
        .caption(
            format!(
                "{} neurons, {} spikes ({:.2} Hz): excitatory blue, inhibitory red",
                st.neurons, st.spikes, st.mean_rate_hz
            ),
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(32)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..shown_ms.max(dt_ms), 0f64..n as f64)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("time (ms)")
        .y_desc("neuron")
        .x_label_formatter(&|x| format!("{}", x.round() as i64))
        .y_label_formatter(&|y| format!("{}", y.round() as i64))
        .disable_mesh()
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|e| err(&e))?;
    for (pick, color) in [(true, COLORS[0]), (false, COLORS[1])] {
        chart
            .draw_series(
                run.raster
                    .iter()
                    .filter(|s| (s.1 < excitatory) == pick)
                    .map(|&(t, i)| {
                        Pixel::new((f64::from(t) * dt_ms, f64::from(i)), color.to_rgba())
                    }),
            )
            .map_err(|e| err(&e))?;
    }
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
    let mut rate = ChartBuilder::on(&bottom)
        .margin(10)
        .x_label_area_size(32)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..shown_ms.max(dt_ms), 0f64..top_rate)
        .map_err(|e| err(&e))?;
    rate.configure_mesh()
        .x_desc("time (ms)")
        .y_desc("rate (Hz)")
        .x_label_formatter(&|x| format!("{}", x.round() as i64))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|e| err(&e))?;
    rate.draw_series(LineSeries::new(
        rates.iter().enumerate().map(|(b, &r)| (b as f64 + 0.5, r)),
        COLORS[2].stroke_width(1),
    ))
    .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// Draws a spike raster of a converted network at `path`: one panel per test image, ticks
/// across, neurons down (layers stacked, input side at the top, each layer in its own colour).
pub fn spike_raster_png(
    report: &crate::spike::convert::ConversionReport,
    path: &Path,
) -> Result<(), PlotError> {
    write_png(path, |tmp| draw_raster(report, tmp))
}

fn draw_raster(
    report: &crate::spike::convert::ConversionReport,
    path: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let err = |e: &dyn std::fmt::Display| -> Box<dyn std::error::Error> { e.to_string().into() };
    let images = crate::spike::convert::RASTER_IMAGES;
    let total: usize = report.widths.iter().sum();
    let root = BitMapBackend::new(path, (1200, 420 * images as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let panels = root.split_evenly((images, 1));
    for (img, panel) in panels.iter().enumerate() {
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!("test image {img}: spikes per tick (layers stacked, output at the bottom)"),
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(32)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..report.ticks as f64, total as f64..0f64)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("tick")
            .y_desc("neuron")
            .x_label_formatter(&|x| format!("{}", x.round() as i64))
            .y_label_formatter(&|y| format!("{}", y.round() as i64))
            .disable_mesh()
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| err(&e))?;
        let mut offset = 0usize;
        for (l, spikes) in report.raster.iter().enumerate() {
            let color = COLORS[l % COLORS.len()];
            // The output layer is small: draw its spikes larger.
            let size = if l + 1 == report.raster.len() { 3 } else { 1 };
            chart
                .draw_series(
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
                )
                .map_err(|e| err(&e))?;
            offset += report.widths.get(l).copied().unwrap_or(0);
        }
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// Draws who sends how many bytes to whom as a heat map PNG at `path`: senders down, receivers
/// across, colour by log10 of bytes (all kinds together). Networks of more than 48 actors are
/// shown in 64 groups of consecutive ids. `names[id]` names actor `id`.
pub fn traffic_heatmap_png(
    traffic: &crate::runtime::traffic::Traffic,
    names: &[String],
    path: &Path,
) -> Result<(), PlotError> {
    write_png(path, |tmp| draw_heatmap(traffic, names, tmp))
}

fn draw_heatmap(
    traffic: &crate::runtime::traffic::Traffic,
    names: &[String],
    path: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let err = |e: &dyn std::fmt::Display| -> Box<dyn std::error::Error> { e.to_string().into() };
    let n = names.len().max(1);
    let groups = n.min(64);
    let group = |id: usize| id * groups / n;
    let mut bytes = vec![0f64; groups * groups];
    for e in &traffic.per_edge {
        bytes[group(e.from_id) * groups + group(e.to_id)] += e.bytes as f64;
    }
    let max = bytes.iter().copied().fold(0.0, f64::max).max(1.0).log10();
    let label = |g: usize| -> String {
        if groups == n {
            names[g].clone()
        } else {
            let lo = g * n / groups;
            let hi = ((g + 1) * n / groups).max(lo + 1) - 1;
            format!("{lo}-{hi}")
        }
    };
    let root = BitMapBackend::new(path, (900, 820)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "traffic: {} messages, {} (darker = more bytes, log scale)",
                traffic.totals.messages,
                human_bytes(traffic.totals.bytes as f64)
            ),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(90)
        .y_label_area_size(110)
        .build_cartesian_2d(
            (0..groups - 1).into_segmented(),
            (0..groups - 1).into_segmented(),
        )
        .map_err(|e| err(&e))?;
    let step = (groups / 16).max(1);
    let seg_label = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(g) if g % step == 0 && *g < groups => label(*g),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("receiver")
        .y_desc("sender")
        .x_labels(groups)
        .y_labels(groups)
        .x_label_formatter(&seg_label)
        .y_label_formatter(&seg_label)
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(|e| err(&e))?;
    let cells: Vec<(usize, usize, f64)> = (0..groups)
        .flat_map(|s| (0..groups).map(move |r| (s, r)))
        .map(|(s, r)| (s, r, bytes[s * groups + r]))
        .collect();
    chart
        .draw_series(cells.iter().map(|&(s, r, b)| {
            let color = if b <= 0.0 {
                RGBColor(245, 245, 245)
            } else {
                // light yellow (few bytes) to dark purple (most), by log10(bytes)
                let t = (b.log10() / max).clamp(0.0, 1.0);
                let mix = |a: f64, z: f64| (a + (z - a) * t) as u8;
                RGBColor(mix(253.0, 68.0), mix(231.0, 1.0), mix(37.0, 84.0))
            };
            Rectangle::new(
                [
                    (SegmentValue::Exact(r), SegmentValue::Exact(s)),
                    (SegmentValue::Exact(r + 1), SegmentValue::Exact(s + 1)),
                ],
                color.filled(),
            )
        }))
        .map_err(|e| err(&e))?;
    if groups <= 12 {
        // Small networks: write the bytes in each non-empty cell.
        chart
            .draw_series(cells.iter().filter(|c| c.2 > 0.0).map(|&(s, r, b)| {
                Text::new(
                    human_bytes(b),
                    (SegmentValue::CenterOf(r), SegmentValue::CenterOf(s)),
                    ("sans-serif", 16)
                        .into_font()
                        .color(&WHITE)
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                )
            }))
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

fn human_bytes(b: f64) -> String {
    match b {
        b if b >= 1e9 => format!("{:.1} GB", b / 1e9),
        b if b >= 1e6 => format!("{:.1} MB", b / 1e6),
        b if b >= 1e3 => format!("{:.1} kB", b / 1e3),
        b => format!("{b:.0} B"),
    }
}

//! The probes figure: one panel per `[[probe]]`, its recorded units' traces against time
//! (at most [`LINES`] units drawn per panel, the first ones).

use std::path::Path;

use plotters::prelude::*;

use super::{number_label, write_png, Drawn, Figure, Frame, Legend, PlotError, COLORS};
use crate::message::probe::ProbeArray;

/// Units drawn per panel.
pub const LINES: usize = 8;

/// Draws `probes` as a PNG at `path`: one panel per probe, one line per unit (the first
/// [`LINES`]), x in `time_unit` (each row's time is its tick or step times `time_scale`).
pub fn probes_png(
    probes: &[ProbeArray],
    title: &str,
    (time_scale, time_unit): (f64, &str),
    path: &Path,
) -> Result<(), PlotError> {
    write_png(path, |tmp| {
        draw(probes, title, (time_scale, time_unit), tmp)
    })
}

fn draw(probes: &[ProbeArray], title: &str, (scale, unit): (f64, &str), path: &Path) -> Drawn {
    let n = probes.len().max(1);
    let fig = Figure::new(path, (1000, 60 + 260 * n as u32), title, &Legend::default())?;
    let panels = fig.chart.split_evenly((n, 1));
    for (p, area) in probes.iter().zip(panels.iter()) {
        let cols = p.columns();
        let rows = p.times.len();
        let x0 = p.times.first().map_or(0.0, |&t| t as f64 * scale);
        let x1 = p
            .times
            .last()
            .map_or(1.0, |&t| t as f64 * scale)
            .max(x0 + 1e-9);
        let drawn = cols.min(LINES);
        let values = (0..rows).flat_map(|r| p.values[r * cols..r * cols + drawn].iter());
        let (lo, hi) = values
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(f64::from(v)), b.max(f64::from(v)))
            });
        let (lo, hi) = if lo.is_finite() {
            let pad = ((hi - lo) * 0.05).max(1e-6);
            (lo - pad, hi + pad)
        } else {
            (0.0, 1.0)
        };
        let shown = if cols > drawn {
            format!(", first {drawn} of {cols} units")
        } else {
            String::new()
        };
        let caption = format!("{} ({}{shown})", p.name, p.variable.name());
        let mut chart = Frame::panel(Some(&caption)).build(area, x0..x1, lo..hi)?;
        let y_desc = match p.variable.unit() {
            "" => p.variable.name().to_owned(),
            u => format!("{} ({u})", p.variable.name()),
        };
        chart
            .configure_mesh()
            .x_desc(if unit == "step" {
                "inference step (global)".to_owned()
            } else {
                format!("time ({unit})")
            })
            .y_desc(y_desc)
            .x_label_formatter(&|x| number_label(*x))
            .y_label_formatter(&|y| number_label(*y))
            .label_style(("sans-serif", 13))
            .draw()?;
        for c in 0..drawn {
            let pts = (0..rows)
                .map(|r| (p.times[r] as f64 * scale, f64::from(p.values[r * cols + c])))
                .filter(|(_, v)| v.is_finite());
            let color = COLORS[c % COLORS.len()];
            chart.draw_series(LineSeries::new(pts, color.stroke_width(1)))?;
        }
    }
    fig.root.present()?;
    Ok(())
}

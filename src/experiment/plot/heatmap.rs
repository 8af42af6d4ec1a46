//! The traffic heat map: bytes sent per (sender, receiver) pair of actors, grouped when the
//! network is large.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{canvas, write_png, Drawn, Frame, PlotError};
use crate::runtime::traffic::Traffic;

/// Draws who sends how many bytes to whom as a heat map PNG at `path`: senders down, receivers
/// across, colour by log10 of bytes (all kinds together). Networks of more than 48 actors are
/// shown in 64 groups of consecutive ids. `names[id]` names actor `id`.
pub fn traffic_heatmap_png(
    traffic: &Traffic,
    names: &[String],
    path: &Path,
) -> Result<(), PlotError> {
    write_png(path, |tmp| draw_heatmap(traffic, names, tmp))
}

/// Bytes per (sender group, receiver group) of `n` actors in `groups` groups of consecutive
/// ids, row-major by sender.
fn grouped_bytes(traffic: &Traffic, n: usize, groups: usize) -> Vec<f64> {
    let group = |id: usize| id * groups / n;
    let mut bytes = vec![0f64; groups * groups];
    for e in &traffic.per_edge {
        bytes[group(e.from_id) * groups + group(e.to_id)] += e.bytes as f64;
    }
    bytes
}

/// A cell's colour: light grey when empty, else light yellow (few bytes) to dark purple
/// (`max_log10` bytes), by log10(bytes).
fn cell_color(b: f64, max_log10: f64) -> RGBColor {
    if b <= 0.0 {
        RGBColor(245, 245, 245)
    } else {
        let t = (b.log10() / max_log10).clamp(0.0, 1.0);
        let mix = |a: f64, z: f64| (a + (z - a) * t) as u8;
        RGBColor(mix(253.0, 68.0), mix(231.0, 1.0), mix(37.0, 84.0))
    }
}

fn draw_heatmap(traffic: &Traffic, names: &[String], path: &Path) -> Drawn {
    let n = names.len().max(1);
    let groups = n.min(64);
    let bytes = grouped_bytes(traffic, n, groups);
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
    let root = canvas(path, (900, 820))?;
    let caption = format!(
        "traffic: {} messages, {} (darker = more bytes, log scale)",
        traffic.totals.messages,
        human_bytes(traffic.totals.bytes as f64)
    );
    let frame = Frame {
        caption: Some((&caption, 22)),
        margin: 16,
        x_label_area: 90,
        y_label_area: 110,
    };
    let mut chart = frame.build(
        &root,
        (0..groups - 1).into_segmented(),
        (0..groups - 1).into_segmented(),
    )?;
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
        .draw()?;
    let cells: Vec<(usize, usize, f64)> = (0..groups)
        .flat_map(|s| (0..groups).map(move |r| (s, r)))
        .map(|(s, r)| (s, r, bytes[s * groups + r]))
        .collect();
    chart.draw_series(cells.iter().map(|&(s, r, b)| {
        Rectangle::new(
            [
                (SegmentValue::Exact(r), SegmentValue::Exact(s)),
                (SegmentValue::Exact(r + 1), SegmentValue::Exact(s + 1)),
            ],
            cell_color(b, max).filled(),
        )
    }))?;
    if groups <= 12 {
        // Small networks: write the bytes in each non-empty cell.
        chart.draw_series(cells.iter().filter(|c| c.2 > 0.0).map(|&(s, r, b)| {
            Text::new(
                human_bytes(b),
                (SegmentValue::CenterOf(r), SegmentValue::CenterOf(s)),
                ("sans-serif", 16)
                    .into_font()
                    .color(&WHITE)
                    .pos(Pos::new(HPos::Center, VPos::Center)),
            )
        }))?;
    }
    root.present()?;
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

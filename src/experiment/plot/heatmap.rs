//! The traffic heat map: bytes sent per (sender, receiver) pair of actors, grouped when the
//! network is large.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{write_png, Drawn, Figure, Frame, Legend, PlotError, Sample};
use crate::runtime::traffic::Traffic;

/// Draws who sends how many bytes to whom as a heat map PNG at `path`: senders down, receivers
/// across, colour by log10 of bytes (all kinds together). Networks of more than 64 actors are
/// shown in 64 groups of consecutive ids. The colour key sits right of the map. `names[id]` names actor `id`.
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

/// Every how many groups a label goes across and down, so that neighbouring labels neither
/// overlap across (the widest label plus a gap per label) nor crowd down (16 at most).
fn label_steps(groups: usize, label: &dyn Fn(usize) -> String) -> (usize, usize) {
    let font = ("sans-serif", 12).into_font();
    let widest = (0..groups)
        .map(|g| font.box_size(&label(g)).map_or(0, |b| b.0))
        .max()
        .unwrap_or(0);
    let cell = f64::from(900 - 2 * 16 - 110) / groups as f64;
    let across = ((f64::from(widest) + 8.0) / cell).ceil() as usize;
    (across, (groups / 16).max(1))
}

/// The axis titles: actors by name, or actor id ranges when actors are grouped.
fn axis_titles(one_per_actor: bool) -> (&'static str, &'static str) {
    if one_per_actor {
        ("receiver (actor)", "sender (actor)")
    } else {
        ("receiver (actor id range)", "sender (actor id range)")
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
    let caption = format!("traffic: {} messages, {}", traffic.totals.messages, {
        human_bytes(traffic.totals.bytes as f64)
    });
    let fig = Figure::new(path, (900, 820), &caption, &colour_key(max))?;
    let frame = Frame {
        caption: None,
        margin: 16,
        x_label_area: 50,
        y_label_area: 110,
    };
    let (who_x, who_y) = axis_titles(groups == n);
    let mut chart = frame.build(
        &fig.chart,
        (0..groups - 1).into_segmented(),
        (0..groups - 1).into_segmented(),
    )?;
    let (across, down) = label_steps(groups, &label);
    let every = |step: usize| {
        move |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(g) if g % step == 0 && *g < groups => label(*g),
            _ => String::new(),
        }
    };
    let (x_label, y_label) = (every(across.max(down)), every(down));
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(who_x)
        .y_desc(who_y)
        .x_labels(groups)
        .y_labels(groups)
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
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
    colour_key(max).draw(&fig.band, 16)?;
    fig.root.present()?;
    Ok(())
}

/// The colour key of a heat map whose darkest cell is 10^`max_log10` bytes: "none", a swatch
/// per power of ten of bytes up to it (every other one or fewer when they are many), and the
/// darkest cell's bytes.
fn colour_key(max_log10: f64) -> Legend {
    let mut key = Legend {
        heading: Some("bytes sent (log scale)".to_owned()),
        entries: Vec::new(),
    };
    key.add("none", Sample::Swatch(cell_color(0.0, max_log10).to_rgba()));
    let top = max_log10.floor().max(0.0) as i32;
    let every = (top / 8 + 1).max(1);
    for k in (0..=top).filter(|k| k % every == 0) {
        let b = 10f64.powi(k);
        key.add(
            power_of_ten_bytes(k),
            Sample::Swatch(cell_color(b, max_log10).to_rgba()),
        );
    }
    if max_log10 - f64::from(top) > 0.1 {
        let b = 10f64.powf(max_log10);
        key.add(
            format!("{} (most)", human_bytes(b)),
            Sample::Swatch(cell_color(b, max_log10).to_rgba()),
        );
    }
    key
}

/// 10^`k` bytes as "1 B", "10 B", "100 B", "1 kB", ..., "100 GB", then "1e12 B".
fn power_of_ten_bytes(k: i32) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    match UNITS.get((k / 3) as usize) {
        Some(unit) if k >= 0 => format!("{} {unit}", 10u32.pow((k % 3) as u32)),
        _ => format!("1e{k} B"),
    }
}

fn human_bytes(b: f64) -> String {
    match b {
        b if b >= 1e9 => format!("{:.1} GB", b / 1e9),
        b if b >= 1e6 => format!("{:.1} MB", b / 1e6),
        b if b >= 1e3 => format!("{:.1} kB", b / 1e3),
        b => format!("{b:.0} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_colour_key_counts_powers_of_ten_of_bytes() {
        assert_eq!(power_of_ten_bytes(0), "1 B");
        assert_eq!(power_of_ten_bytes(4), "10 kB");
        assert_eq!(power_of_ten_bytes(11), "100 GB");
        assert_eq!(power_of_ten_bytes(12), "1e12 B");
        let key = colour_key(3.5);
        let labels: Vec<&str> = key.entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            labels,
            ["none", "1 B", "10 B", "100 B", "1 kB", "3.2 kB (most)"]
        );
        // Many decades: every other one, and the largest cell.
        let key = colour_key(10.5);
        assert!(key.entries.len() <= 10);
        assert_eq!(key.entries[2].0, "100 B");
        assert_eq!(
            key.entries.last().map(|e| e.0.as_str()),
            Some("31.6 GB (most)")
        );
    }
}

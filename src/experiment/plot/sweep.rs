//! The sweep figure: test accuracy against a swept value, one line per series.
//!
//! The x axis is categorical for strings, and for numbers linear or, when the values span
//! decades, logarithmic ([`SweepAxis::scale`] says which). A logarithmic axis cannot hold 0, so
//! a swept 0 is drawn one decade left of the smallest positive value, past a break in the axis
//! (`//` on the axis, a dashed grid line, dashed line segments across it), with the tick label
//! "0" and the axis label saying so.

use std::path::Path;

use plotters::prelude::*;

use super::{
    minor_log_lines, nice_ticks, number_label, write_png, Drawn, Figure, Frame, Legend, PlotError,
    Sample, Ticked, COLORS,
};

/// The x axis of a sweep plot ([`sweep_png`]).
#[derive(Clone, Debug, PartialEq)]
pub enum SweepAxis {
    /// Numbers, on a linear or logarithmic axis ([`SweepAxis::scale`]) spanning these values.
    Numeric(Vec<f64>),
    /// Anything else: one evenly spaced category per name, in this order (point x = the
    /// category's index).
    Categorical(Vec<String>),
}

/// How a sweep plot's x axis places values ([`SweepAxis::scale`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum XScale {
    /// Position = value.
    Linear,
    /// Position = log10(value); a swept 0 sits at `zero` (one decade left of the smallest
    /// positive value, past the axis break), `None` when 0 is not swept.
    Log {
        /// The position of 0, if 0 is one of the values.
        zero: Option<f64>,
    },
    /// Position = the category's index.
    Categorical,
}

/// How far left of the smallest positive value (in decades) a swept 0 is drawn on a log axis.
const ZERO_GAP_DECADES: f64 = 1.0;

/// Values spanning at least this ratio (largest / smallest positive) get a log axis.
const LOG_RATIO: f64 = 10.0;

/// Tick labels at the swept values themselves, unless there are more than this many.
const MAX_VALUE_TICKS: usize = 12;

/// Tick labels at the swept values only if neighbours are at least this fraction of the axis
/// apart (else round numbers or decades).
const MIN_TICK_GAP: f64 = 0.06;

/// Legend entries drawn at most (every series is drawn; a last row counts the rest).
const MAX_LEGEND: usize = 16;

/// Whether numeric sweep values get a logarithmic axis: every value is >= 0; the positive ones
/// (at least two different) span a factor of at least 10, largest over smallest; and they sit
/// at least as evenly on a log axis as on a linear one (smallest gap between neighbours over the
/// largest, compared on log10 of the values and on the values). So 1e-4, 1e-3, 1e-2 and
/// 0, 0.01, 0.1 get a log axis but 1, 2, ..., 10 stays linear. Zeros are allowed (drawn past a
/// break); a negative value forces a linear axis.
pub fn spans_decades(values: &[f64]) -> bool {
    if values.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return false;
    }
    let positive: Vec<f64> = values.iter().copied().filter(|v| *v > 0.0).collect();
    let (lo, hi) = positive
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
    if hi <= lo || hi / lo < LOG_RATIO {
        return false;
    }
    let logs: Vec<f64> = positive.iter().map(|v| v.log10()).collect();
    evenness(&logs) >= evenness(&positive) - 1e-9
}

/// How evenly `xs` are spread: the smallest gap between neighbours (sorted, repeats dropped)
/// over the largest, 1 for evenly spaced values and for fewer than three.
fn evenness(xs: &[f64]) -> f64 {
    let mut xs = xs.to_vec();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let gaps = xs.windows(2).map(|w| w[1] - w[0]);
    let (small, large) = gaps.fold((f64::INFINITY, 0.0f64), |(a, b), g| (a.min(g), b.max(g)));
    if large > 0.0 && small.is_finite() {
        small / large
    } else {
        1.0
    }
}

/// The smallest positive value of `values` (infinity if none).
fn min_positive(values: &[f64]) -> f64 {
    values
        .iter()
        .copied()
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min)
}

impl SweepAxis {
    /// How this axis places values: categorical for names; for numbers logarithmic when they
    /// span decades ([`spans_decades`]), else linear.
    pub fn scale(&self) -> XScale {
        match self {
            SweepAxis::Categorical(_) => XScale::Categorical,
            SweepAxis::Numeric(values) if spans_decades(values) => XScale::Log {
                zero: values
                    .contains(&0.0)
                    .then(|| min_positive(values).log10() - ZERO_GAP_DECADES),
            },
            SweepAxis::Numeric(_) => XScale::Linear,
        }
    }

    /// Where a point with x value `x` is drawn (a category's index for a categorical axis);
    /// `None` if it cannot be drawn (not finite, or negative on a log axis).
    pub fn position(&self, x: f64) -> Option<f64> {
        if !x.is_finite() {
            return None;
        }
        match self.scale() {
            XScale::Linear | XScale::Categorical => Some(x),
            XScale::Log { zero } if x == 0.0 => zero,
            XScale::Log { .. } if x > 0.0 => Some(x.log10()),
            XScale::Log { .. } => None,
        }
    }

    /// The position of the axis break (halfway between 0 and the smallest positive value), if
    /// the axis is logarithmic with a swept 0.
    fn break_at(&self) -> Option<f64> {
        match self.scale() {
            XScale::Log { zero: Some(z) } => Some(z + ZERO_GAP_DECADES / 2.0),
            _ => None,
        }
    }

    /// The positions of the values, in axis order.
    fn positions(&self) -> Vec<f64> {
        let mut p: Vec<f64> = match self {
            SweepAxis::Numeric(values) => values.iter().filter_map(|&v| self.position(v)).collect(),
            SweepAxis::Categorical(names) => (0..names.len()).map(|i| i as f64).collect(),
        };
        p.sort_by(f64::total_cmp);
        p.dedup();
        p
    }

    /// The x coordinate drawn: the range of positions (padded), labelled ticks and minor grid
    /// lines.
    fn coord(&self) -> Ticked {
        let positions = self.positions();
        let scale = self.scale();
        // Padded by 5 % of the span each side (a tenth of a decade at least on a log axis).
        let (lo, hi) = match (positions.first(), positions.last()) {
            _ if scale == XScale::Categorical => (-0.5, positions.len().max(1) as f64 - 0.5),
            (Some(&a), Some(&b)) if b > a => {
                let pad = (b - a) * 0.05;
                let pad = if matches!(scale, XScale::Log { .. }) {
                    pad.max(0.1)
                } else {
                    pad
                };
                (a - pad, b + pad)
            }
            (Some(&a), _) => (a - 0.5, a + 0.5),
            _ => (0.0, 1.0),
        };
        let spaced = positions.len() <= MAX_VALUE_TICKS
            && positions
                .windows(2)
                .all(|w| w[1] - w[0] >= MIN_TICK_GAP * (hi - lo));
        let ticks = match scale {
            XScale::Categorical => positions,
            _ if spaced => positions,
            XScale::Linear => nice_ticks(lo, hi),
            XScale::Log { zero } => {
                let first = lo.ceil() as i64;
                let last = hi.floor() as i64;
                let every = ((last - first) / 10 + 1).max(1);
                let decades = (first..=last)
                    .filter(|d| (d - first) % every == 0)
                    .map(|d| d as f64)
                    .filter(|&d| self.break_at().is_none_or(|b| d > b));
                zero.into_iter().chain(decades).collect()
            }
        };
        // Log axes get light grid lines at 2..9 times each power of ten (right of the break).
        let minor = match scale {
            XScale::Log { .. } => minor_log_lines(self.break_at().unwrap_or(lo).max(lo), hi),
            _ => Vec::new(),
        };
        Ticked {
            lo,
            hi,
            ticks,
            minor,
        }
    }

    /// The tick label at position `x`: a number ("0" for a swept zero on a log axis), or the
    /// category's name at its index (nothing between categories).
    fn label(&self, x: f64) -> String {
        match self.scale() {
            XScale::Linear => number_label(x),
            XScale::Log { zero } => match zero {
                Some(z) if (x - z).abs() < 1e-9 => "0".to_owned(),
                _ => number_label(10f64.powf(x)),
            },
            XScale::Categorical => {
                let SweepAxis::Categorical(names) = self else {
                    return String::new();
                };
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
                    names[i as usize].clone()
                } else {
                    String::new()
                }
            }
        }
    }

    /// The x axis description: `key`, what it is and its unit when known, and for a log axis
    /// a note on the scale (and on 0).
    pub fn description(&self, key: &str) -> String {
        let base = match key_meaning(key) {
            Some(m) => format!("{key}: {m}"),
            None => key.to_owned(),
        };
        match self.scale() {
            XScale::Log { zero: Some(_) } => {
                format!("{base}; log scale, 0 drawn left of the // break")
            }
            XScale::Log { zero: None } => format!("{base}; log scale"),
            _ => base,
        }
    }
}

/// What a scenario key means and its unit ("dimensionless" where it has none), for the keys a
/// sweep is likely to vary; `None` for others (the axis then shows the key alone).
pub fn key_meaning(key: &str) -> Option<&'static str> {
    KEY_MEANINGS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, meaning)| *meaning)
}

/// Scenario keys and what they mean, with their unit ([`key_meaning`]).
const KEY_MEANINGS: &[(&str, &str)] = &[
    ("seed", "random seed (an identifier, no unit)"),
    ("data.train_limit", "training examples (count)"),
    ("data.test_limit", "test examples (count)"),
    ("data.classes", "classes (count)"),
    ("network.layers", "layer widths (neurons)"),
    ("network.activation", "activation function"),
    ("network.init", "weight initialisation"),
    ("train.epochs", "epochs (count)"),
    ("train.batch_size", "batch size (examples)"),
    ("train.optimizer", "optimizer"),
    ("train.lr", "learning rate (dimensionless)"),
    ("train.momentum", "momentum coefficient (dimensionless)"),
    ("train.loss", "loss function"),
    ("train.schedule", "learning-rate schedule"),
    ("algorithm.kind", "learning rule"),
    ("algorithm.inference_steps", "inference steps T (count)"),
    (
        "algorithm.inference_rate",
        "inference rate gamma (dimensionless)",
    ),
    ("algorithm.feedback", "feedback pathway"),
    ("algorithm.kp_init", "Kolen-Pollack initial B"),
    (
        "algorithm.kp_decay",
        "Kolen-Pollack decay (fraction per batch)",
    ),
    ("algorithm.free_steps", "free-phase steps T (count)"),
    ("algorithm.nudged_steps", "nudged-phase steps K (count)"),
    ("algorithm.beta", "nudging strength beta (dimensionless)"),
    ("algorithm.step", "relaxation rate eps (dimensionless)"),
    ("runtime.workers", "worker threads (count)"),
    ("runtime.shards", "actors per hidden layer (count)"),
    ("runtime.schedule", "schedule"),
    (
        "runtime.settle_tolerance",
        "settle tolerance (fraction of the energy)",
    ),
    (
        "runtime.max_updates",
        "most updates per neighbour per batch (count)",
    ),
    ("runtime.settle_quiet_ms", "settle quiet time (ms)"),
    (
        "checkpoint.every_batches",
        "batches between checkpoints (count)",
    ),
    ("faults.drop", "drop probability (per message)"),
    ("faults.duplicate", "duplication probability (per message)"),
    (
        "faults.delay.mean",
        "mean delay (in faults.delay.unit: steps or us)",
    ),
    ("faults.delay.kind", "delay distribution"),
    ("faults.reorder", "reorder window (steps)"),
    ("convert.percentile", "normalisation percentile (%)"),
    (
        "convert.normalise_examples",
        "normalisation examples (count)",
    ),
    ("convert.input", "input coding"),
    (
        "convert.poisson_max_rate",
        "input firing probability per tick at intensity 1",
    ),
];

/// Draws test accuracy against a swept value, one line per series, as a PNG at `path`, in the
/// look of [`super::accuracy_png`]. `title` heads the plot; `key` (with its meaning and unit
/// when known, [`key_meaning`]) labels the x axis. The legend sits right of the chart.
pub fn sweep_png(
    title: &str,
    key: &str,
    axis: &SweepAxis,
    series: &[SweepSeries],
    path: &Path,
) -> Result<(), PlotError> {
    write_png(path, |tmp| draw_sweep(title, key, axis, series, tmp))
}

/// One line of a sweep plot: its legend label and its (x, test accuracy) points.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepSeries {
    /// Legend label (a model, and the values of the other swept keys).
    pub label: String,
    /// Points in drawing order.
    pub points: Vec<(f64, f64)>,
}

/// One legend line per series (colour by position), at most [`MAX_LEGEND`] and a count of the
/// rest.
fn sweep_legend(series: &[SweepSeries]) -> Legend {
    let mut legend = Legend::default();
    for (i, s) in series.iter().enumerate().take(MAX_LEGEND) {
        let color = COLORS[i % COLORS.len()];
        legend.add(s.label.clone(), Sample::LineDot(color.stroke_width(3)));
    }
    if series.len() > MAX_LEGEND {
        legend.add(
            format!("... and {} more lines", series.len() - MAX_LEGEND),
            Sample::Blank,
        );
    }
    legend
}

/// The y range of a sweep plot: the data's range and a tenth of it on each side (at least
/// 0.002), within [0, 1], so that a change of a few tenths of a point is visible.
fn data_range(ys: &[f64]) -> std::ops::Range<f64> {
    let lo = ys.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !(lo.is_finite() && hi.is_finite()) {
        return 0.0..1.0;
    }
    let pad = (0.1 * (hi - lo)).max(0.002);
    (lo - pad).max(0.0)..(hi + pad).min(1.0)
}

fn draw_sweep(
    title: &str,
    key: &str,
    axis: &SweepAxis,
    series: &[SweepSeries],
    path: &Path,
) -> Drawn {
    let coord = axis.coord();
    let ys: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|y| y.is_finite())
        .collect();
    let legend = sweep_legend(series);
    let fig = Figure::new(path, (900, 560), title, &legend)?;
    let y = data_range(&ys);
    let (y_min, y_max) = (y.start, y.end);
    let mut chart = Frame::figure(64).build(&fig.chart, coord, y)?;
    chart
        .configure_mesh()
        .x_desc(axis.description(key))
        .y_desc("test accuracy (fraction correct)")
        .x_label_formatter(&|x| axis.label(*x))
        .y_label_formatter(&|y| format!("{y:.3}"))
        .label_style(("sans-serif", 15))
        .draw()?;
    let brk = axis.break_at();
    if let Some(b) = brk {
        // A dashed grid line at the break, and "//" across the x axis.
        chart.draw_series(DashedLineSeries::new(
            [(b, y_min), (b, y_max)],
            6,
            5,
            RGBColor(120, 120, 120).stroke_width(1),
        ))?;
        let (px, py) = chart.backend_coord(&(b, y_min));
        fig.root.draw(&Rectangle::new(
            [(px - 5, py - 2), (px + 5, py + 2)],
            WHITE.filled(),
        ))?;
        for dx in [-4, 2] {
            fig.root.draw(&PathElement::new(
                vec![(px + dx - 3, py + 7), (px + dx + 3, py - 7)],
                BLACK.stroke_width(2),
            ))?;
        }
    }
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter_map(|&(x, y)| axis.position(x).map(|u| (u, y)))
            .collect();
        // Segments that cross the break are dashed: their slope is not to scale.
        let (across, along): (Vec<_>, Vec<_>) = pts
            .windows(2)
            .partition(|w| brk.is_some_and(|b| (w[0].0 - b) * (w[1].0 - b) < 0.0));
        for w in across {
            chart.draw_series(DashedLineSeries::new(
                [w[0], w[1]],
                8,
                6,
                color.stroke_width(3),
            ))?;
        }
        for w in along {
            chart.draw_series(LineSeries::new([w[0], w[1]], color.stroke_width(3)))?;
        }
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
    }
    legend.draw(&fig.band, 16)?;
    fig.root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(v: &[f64]) -> SweepAxis {
        SweepAxis::Numeric(v.to_vec())
    }

    #[test]
    fn values_spanning_a_decade_or_more_get_a_log_axis() {
        assert!(spans_decades(&[0.0, 0.01, 0.1]));
        assert!(spans_decades(&[1e-4, 1e-3, 1e-2]));
        assert!(spans_decades(&[0.1, 1.0]));
        assert!(spans_decades(&[0.0, 1.0, 10.0]));
        // A sweep's y axis spans its data: 0.962 to 0.965 is not drawn on 0.94..1.
        let r = data_range(&[0.962, 0.965, 0.9635]);
        assert!(
            (r.start - 0.960).abs() < 1e-9 && (r.end - 0.967).abs() < 1e-9,
            "{r:?}"
        );
        assert_eq!(data_range(&[]), 0.0..1.0);
        assert!(spans_decades(&[0.001, 0.003, 0.01, 0.03, 0.1]));
        // Evenly spaced values stay linear, whatever their span.
        let integers: Vec<f64> = (1..=10).map(f64::from).collect();
        assert!(!spans_decades(&integers));
        let tens: Vec<f64> = (0..=10).map(|i| f64::from(i) * 10.0).collect();
        assert!(!spans_decades(&tens));
        // Narrow ranges, one positive value, negatives, nothing: linear.
        assert!(!spans_decades(&[0.0, 1.0, 5.0]));
        assert!(!spans_decades(&[0.001, 0.003]));
        assert!(!spans_decades(&[0.0, 0.1]));
        assert!(!spans_decades(&[0.1, 0.1]));
        assert!(!spans_decades(&[-1.0, 0.01, 1.0]));
        assert!(!spans_decades(&[]));
        assert_eq!(numeric(&[0.0, 1.0, 5.0]).scale(), XScale::Linear);
        assert_eq!(
            SweepAxis::Categorical(vec!["a".into()]).scale(),
            XScale::Categorical
        );
        assert_eq!(
            numeric(&[1e-4, 1e-3, 1e-2]).scale(),
            XScale::Log { zero: None }
        );
    }

    #[test]
    fn zero_sits_one_decade_left_of_the_smallest_positive_value() {
        let axis = numeric(&[0.0, 0.01, 0.1]);
        let close = |a: Option<f64>, b: f64| (a.expect("drawn") - b).abs() < 1e-12;
        assert!(close(axis.position(0.01), -2.0));
        assert!(close(axis.position(0.1), -1.0));
        assert!(close(axis.position(0.0), -3.0));
        assert!(close(axis.break_at(), -2.5));
        assert_eq!(axis.position(-1.0), None);
        assert_eq!(axis.label(-3.0), "0");
        assert_eq!(axis.label(-2.0), "0.01");
        assert_eq!(axis.label(-1.0), "0.1");
        // The ticks are the swept values; the range holds them all.
        let c = axis.coord();
        assert_eq!(c.ticks.len(), 3);
        assert!(c.lo < -3.0 && c.hi > -1.0);
        // Minor lines only right of the break.
        assert!(!c.minor.is_empty() && c.minor.iter().all(|&u| u > -2.5));
        assert!(axis
            .description("faults.drop")
            .contains("0 drawn left of the // break"));
        // Linear axes place values as they are.
        let lin = numeric(&[0.0, 1.0, 5.0]);
        assert_eq!(lin.position(5.0), Some(5.0));
        assert_eq!(lin.position(0.0), Some(0.0));
        assert_eq!(lin.break_at(), None);
        assert_eq!(lin.coord().ticks, [0.0, 1.0, 5.0]);
    }

    #[test]
    fn crowded_values_get_round_ticks_instead() {
        let values: Vec<f64> = (0..30).map(f64::from).collect();
        let axis = numeric(&values);
        assert_eq!(axis.scale(), XScale::Linear);
        let ticks = axis.coord().ticks;
        assert_eq!(ticks, [0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0]);
        let values: Vec<f64> = (0..30).map(|i| 1e-6 * 2f64.powi(i)).collect();
        let axis = numeric(&values);
        assert_eq!(axis.scale(), XScale::Log { zero: None });
        let ticks = axis.coord().ticks;
        assert!(ticks.iter().all(|t| t.fract() == 0.0), "decades: {ticks:?}");
        assert_eq!(axis.label(-3.0), "0.001");
        assert_eq!(axis.label(-5.0), "1e-5");
    }

    #[test]
    fn known_keys_name_their_unit_and_are_scenario_keys() {
        let docs = include_str!("../../../docs/scenarios.md");
        for key in [
            "faults.drop",
            "train.lr",
            "faults.delay.mean",
            "algorithm.beta",
        ] {
            let meaning = key_meaning(key).expect("known");
            assert!(
                meaning.contains('(') || meaning.contains("probability"),
                "{key}: {meaning}"
            );
        }
        // Every key described is one a scenario accepts.
        for (key, _) in KEY_MEANINGS {
            let documented = docs.contains(&format!("`{key}`"))
                || key
                    .rsplit_once('.')
                    .is_some_and(|(k, _)| docs.contains(&format!("`{k}`")));
            assert!(documented, "{key} is not in docs/scenarios.md");
        }
        assert_eq!(key_meaning("no.such.key"), None);
        assert_eq!(numeric(&[1.0]).description("x.y"), "x.y");
    }
}

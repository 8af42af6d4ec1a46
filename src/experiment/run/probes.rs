//! Writes what a run's probes recorded: `probes.safetensors` (per probe `NAME` as
//! `time x units` F32, `NAME.time` F64 in the time unit, `NAME.units` U32), `probes.png`,
//! and the summaries for results.json.

use super::RunError;
use crate::experiment::results::ProbeSummary;
use crate::experiment::run_dir::RunDir;
use crate::message::probe::ProbeArray;

/// The time axis of a run's probes: how long one tick (or step) is, in `unit`.
#[derive(Clone, Copy, Debug)]
pub struct TimeAxis {
    /// Length of one tick or step in `unit`.
    pub scale: f64,
    /// `ms` (spiking networks) or `step` (inference steps of layer actors).
    pub unit: &'static str,
}

/// Writes `probes.safetensors` and `probes.png` for `arrays` (nothing when there are none)
/// and returns their summaries.
pub fn write_probes(
    dir: &RunDir,
    title: &str,
    arrays: &[ProbeArray],
    time: TimeAxis,
) -> Result<Vec<ProbeSummary>, RunError> {
    if arrays.is_empty() {
        return Ok(Vec::new());
    }
    dir.write("probes.safetensors", &serialize(arrays, time.scale))?;
    let title = format!("{title}: probes");
    crate::experiment::plot::probes_png(
        arrays,
        &title,
        (time.scale, time.unit),
        &dir.path().join("probes.png"),
    )?;
    Ok(arrays.iter().map(|a| summary(a, time)).collect())
}

/// The summary of one probe.
pub fn summary(a: &ProbeArray, time: TimeAxis) -> ProbeSummary {
    let finite: Vec<f64> = a
        .values
        .iter()
        .filter(|v| v.is_finite())
        .map(|&v| f64::from(v))
        .collect();
    let at = |t: Option<&u64>| t.map_or(0.0, |&t| t as f64 * time.scale);
    ProbeSummary {
        name: a.name.clone(),
        variable: a.variable.name().to_owned(),
        unit: a.variable.unit().to_owned(),
        units: a.units.clone(),
        samples: a.times.len(),
        time_unit: time.unit.to_owned(),
        first_time: at(a.times.first()),
        last_time: at(a.times.last()),
        mean: finite.iter().sum::<f64>() / finite.len().max(1) as f64,
    }
}

/// The arrays as safetensors bytes.
fn serialize(arrays: &[ProbeArray], scale: f64) -> Vec<u8> {
    use safetensors::tensor::{Dtype, TensorView};
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for a in arrays {
        let rows = a.times.len();
        let values = a.values.iter().flat_map(|v| v.to_le_bytes()).collect();
        owned.push((a.name.clone(), Dtype::F32, vec![rows, a.columns()], values));
        let times = a
            .times
            .iter()
            .flat_map(|&t| (t as f64 * scale).to_le_bytes())
            .collect();
        owned.push((format!("{}.time", a.name), Dtype::F64, vec![rows], times));
        if !a.units.is_empty() {
            let units = a.units.iter().flat_map(|u| u.to_le_bytes()).collect();
            owned.push((
                format!("{}.units", a.name),
                Dtype::U32,
                vec![a.units.len()],
                units,
            ));
        }
    }
    let views = owned.iter().map(|(name, dtype, shape, bytes)| {
        let view = TensorView::new(*dtype, shape.clone(), bytes);
        (
            name.clone(),
            view.expect("shapes match the bytes by construction"),
        )
    });
    safetensors::tensor::serialize(views, None).expect("serialising in-memory tensors cannot fail")
}

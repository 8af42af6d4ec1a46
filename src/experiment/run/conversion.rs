//! ANN-to-SNN conversion (`algorithm.kind = "snn-convert"`): a checkpoint or the baseline
//! just trained, normalised and run as integrate-and-fire actors for each tick count.

use super::{write_complete, RunError, Stage};
use crate::experiment::results::Results;
use crate::math::matrix::Threads;
use crate::math::mlp::Mlp;

/// The network to convert: `convert.checkpoint`, or the baseline's last epoch; its widths
/// must be the scenario's.
fn network_to_convert(run: &Stage<'_>, baseline: &[Mlp]) -> Result<Mlp, RunError> {
    let scenario = run.scenario;
    let checkpoint = &scenario.convert().checkpoint;
    let net = match checkpoint {
        Some(path) => crate::experiment::checkpoint::load_mlp(path, scenario.activation())
            .map_err(RunError::CheckpointFile)?,
        None => baseline.last().expect("at least one epoch").clone(),
    };
    if net.widths() != scenario.layers() {
        return Err(RunError::Checkpoint {
            path: checkpoint.clone().unwrap_or_default(),
            message: format!(
                "the network has widths {:?}, the scenario's network.layers are {:?}",
                net.widths(),
                scenario.layers()
            ),
        });
    }
    Ok(net)
}

/// Writes the (training) results, then converts the network, records the ANN's accuracy and
/// each tick count's, and draws the spike raster.
pub(super) fn convert(
    run: &Stage<'_>,
    baseline: &[Mlp],
    results: &mut Results,
) -> Result<(), RunError> {
    let scenario = run.scenario;
    write_complete(results, run.dir)?;
    let net = network_to_convert(run, baseline)?;
    let ann = crate::learn::backprop::evaluate(&net, &run.data.test, scenario.loss(), Threads::ONE);
    results.ann_test_accuracy = Some(ann.accuracy);
    let cv = scenario.convert();
    let snn = crate::spike::convert::normalise(
        &net,
        &run.data.train,
        cv.percentile,
        cv.normalise_examples,
    );
    // The converted network, for export (`axon.to_nir`): integrate-and-fire units, threshold 1,
    // reset by subtraction, the pixels as a constant input current.
    let meta = [
        ("model", "snn".to_owned()),
        (
            "neuron",
            "integrate-and-fire, v += W s + b per tick".to_owned(),
        ),
        ("v_threshold", "1".to_owned()),
        ("reset", "subtract".to_owned()),
    ];
    run.dir.write(
        "checkpoints/snn/converted.safetensors",
        &crate::experiment::checkpoint::to_safetensors(&snn, &meta),
    )?;
    let report = crate::spike::convert::run_converted(
        &snn,
        &run.data.test,
        &cv.sorted_ticks(),
        cv.input(scenario.seed()),
        scenario.runtime_config(),
    )?;
    crate::experiment::plot::spike_raster_png(&report, &run.dir.path().join("raster.png"))?;
    crate::experiment::plot::accuracy_vs_ticks_png(
        &report.points,
        results.ann_test_accuracy,
        &run.dir.path().join("accuracy_vs_ticks.png"),
    )?;
    super::spiking::record_traffic(scenario, &report.traffic, run.dir, results, None)?;
    results.conversion = report.points;
    Ok(())
}

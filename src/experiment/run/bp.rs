//! The synchronous backprop baseline: training with a checkpoint, results and plot after
//! every epoch, and (for `algorithm.kind = "bp"`) the final network evaluated by actors.

use std::time::Instant;

use super::{checkpoint, write_complete, write_traffic, Observer, RunError, RunOptions, Stage};
use crate::data::dataset::Dataset;
use crate::experiment::plot::accuracy_png;
use crate::experiment::results::{EpochRecord, Results};
use crate::experiment::run_dir::RunDir;
use crate::experiment::scenario::Scenario;
use crate::learn::backprop::Backprop;
use crate::math::mlp::Mlp;

/// Trains the BP baseline under `label`, writing checkpoints, results and the plot after
/// every epoch; returns the network after each epoch.
pub(super) fn train_bp(
    scenario: &Scenario,
    data: &Dataset,
    dir: &RunDir,
    label: &str,
    results: &mut Results,
    observer: &mut dyn Observer,
    opts: &RunOptions,
) -> Result<Vec<Mlp>, RunError> {
    let cfg = scenario.train_config();
    if let Some(nets) = finished_baseline(scenario, dir, label, results) {
        return Ok(nets);
    }
    results.model(label, "bp").epochs.clear();
    let mut learner = Backprop::new(super::initial_network(scenario), cfg);
    checkpoint(dir, label, 0, learner.net())?;
    let batches = data.train.len().div_ceil(cfg.batch_size);
    let mut nets = Vec::with_capacity(cfg.epochs);
    for epoch in 1..=cfg.epochs {
        observer.epoch_start(label, epoch, cfg.epochs, batches);
        let start = Instant::now();
        let train =
            learner.train_epoch(&data.train, epoch, &mut |done, _| observer.batch_done(done));
        let wall_s = start.elapsed().as_secs_f64();
        let test = learner.evaluate(&data.test);
        let record = EpochRecord {
            epoch,
            train_loss: train.loss,
            train_accuracy: train.accuracy,
            test_loss: test.loss,
            test_accuracy: test.accuracy,
            wall_s,
        };
        results.model(label, "bp").epochs.push(record);
        checkpoint(dir, label, epoch, learner.net())?;
        dir.write("results.json", results.to_json().as_bytes())?;
        accuracy_png(results, &dir.path().join("accuracy.png"))?;
        observer.epoch_end(label, &record);
        nets.push(learner.net().clone());
        if epoch < cfg.epochs && opts.stop_requested() {
            return Err(RunError::Interrupted {
                dir: dir.path().to_owned(),
            });
        }
    }
    Ok(nets)
}

/// On resume: the baseline's networks after each epoch, read back from its checkpoints, if
/// it had finished every epoch.
fn finished_baseline(
    scenario: &Scenario,
    dir: &RunDir,
    label: &str,
    results: &Results,
) -> Option<Vec<Mlp>> {
    let epochs = scenario.epochs();
    if results.models.get(label)?.epochs.len() != epochs {
        return None;
    }
    (1..=epochs)
        .map(|e| {
            let path = dir
                .path()
                .join("checkpoints")
                .join(label)
                .join(format!("epoch-{e}.safetensors"));
            crate::experiment::checkpoint::load_mlp(&path, scenario.activation()).ok()
        })
        .collect()
}

/// `algorithm.kind = "bp"`: the training results go to disk first (a failure of the actors
/// keeps them), then the final network is evaluated by message passing.
pub(super) fn evaluate_baseline(
    run: &Stage<'_>,
    baseline: &[Mlp],
    results: &mut Results,
) -> Result<(), RunError> {
    write_complete(results, run.dir)?;
    let net = baseline.last().expect("at least one epoch");
    let label = run.scenario.kind().name();
    evaluate_with_actors(run, net, label, results)
}

/// Evaluates the final network by message passing, records its accuracy and the traffic in
/// `results`, and writes `traffic.png` (and the sampled event log if `[trace] sample` is set).
fn evaluate_with_actors(
    run: &Stage<'_>,
    net: &Mlp,
    label: &str,
    results: &mut Results,
) -> Result<(), RunError> {
    let config = run.scenario.runtime_config();
    let eval = crate::learn::inference::evaluate_by_messages(
        net,
        &run.data.test,
        run.scenario.loss(),
        config,
    )?;
    if let Some(m) = results.models.get_mut(label) {
        m.actor_test_accuracy = Some(eval.stats.accuracy);
    }
    let report = eval.report;
    write_traffic(&report, run.dir, config.trace_sample)?;
    results.traffic = Some(report.traffic);
    Ok(())
}

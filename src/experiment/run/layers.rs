//! Training on layer actors (`pc`, `zil`, `ep`, `cep`): the coordinator's events become
//! progress, resumable checkpoints, per-epoch records, checkpoints and plots.

use super::{
    checkpoint, initial_network, weight_gap, write_traffic, Observer, RunError, RunOptions, Stage,
    RESUME_FILE,
};
use crate::cluster::Ranks;
use crate::experiment::plot::accuracy_png;
use crate::experiment::results::{EpochRecord, PcRecord, Results};
use crate::experiment::run_dir::RunDir;
use crate::learn::coordinator::resume::ResumeState;
use crate::learn::coordinator::{LayerEpoch, TrainControl, TrainEvent, TrainPlan};
use crate::learn::spc_record::{RasterSpike, SpcRaster};
use crate::learn::train::train_layers_on;
use crate::math::mlp::Mlp;
use crate::message::probe::ProbePlan;

/// Trains the layer actors under the algorithm's name (rank 0's part on several `ranks`);
/// `baseline` holds the BP network after each epoch when the baseline ran.
pub(super) fn train_actors(
    run: &Stage<'_>,
    baseline: &[Mlp],
    results: &mut Results,
    observer: &mut dyn Observer,
    (opts, ranks): (&RunOptions, &mut Ranks),
    resume: Option<ResumeState>,
) -> Result<(), RunError> {
    let (scenario, data, dir) = (run.scenario, run.data, run.dir);
    let label = scenario.kind().name();
    check_resume_plan(run, resume.as_ref())?;
    let init = initial_network(scenario);
    checkpoint(dir, label, 0, &init)?;
    let first_epoch = resume.as_ref().map_or(1, |r| r.position.epoch);
    let control = TrainControl {
        checkpoint_every: Some(scenario.checkpoint_every()),
        resume,
        stop: opts.stop.clone(),
        panic: scenario.panic(),
    };
    let epochs = scenario.epochs();
    let plan = plan_of(scenario);
    let batches = data.train.len().div_ceil(scenario.batch_size());
    let mut failure: Option<RunError> = None;
    observer.epoch_start(label, first_epoch, epochs, batches);
    let config = scenario.runtime_config();
    let mut probes = probe_store(scenario, opts);
    let trained = train_layers_on(
        ranks,
        &init,
        (&data.train, &data.test),
        plan,
        scenario.layer_config(data.train.len()),
        config,
        &control,
        &mut |ev| match ev {
            TrainEvent::BatchDone { done, .. } => observer.batch_done(done),
            TrainEvent::Probe(chunk) => take_probe(chunk, &mut probes, opts),
            TrainEvent::Checkpoint(mut state) => {
                state.results = results.to_json();
                if let Err(err) = dir.write(RESUME_FILE, &state.to_bytes()) {
                    failure.get_or_insert(err.into());
                }
            }
            TrainEvent::Epoch(e) => {
                let record = push_epoch(results, label, baseline, &e);
                if let Err(err) = write_epoch(run, label, &e, results, "free_energy.png") {
                    failure.get_or_insert(err);
                }
                observer.epoch_end(label, &record);
                if e.epoch < epochs {
                    observer.epoch_start(label, e.epoch + 1, epochs, batches);
                }
            }
        },
    );
    if let Some(err) = failure {
        return Err(err);
    }
    let report = match trained {
        Err(crate::run_error::NetworkRunError::Interrupted) => {
            return Err(RunError::Interrupted {
                dir: dir.path().to_owned(),
            })
        }
        Err(crate::run_error::NetworkRunError::Restore(message)) => {
            return Err(RunError::Resume {
                dir: dir.path().to_owned(),
                message: format!("{}: {message}", dir.path().join(RESUME_FILE).display()),
            })
        }
        other => other?,
    };
    write_traffic(&report, dir, config.trace_sample)?;
    results.traffic = Some(report.traffic);
    results.probes = super::probes::write_probes(dir, scenario.name(), &probes.arrays(), STEPS)?;
    Ok(())
}

/// Trains `run`'s layer actors as the twin of the run's own model (rate PC beside spiking
/// PC): same data order and seed, no resumable checkpoints (the run's own stay), and its
/// traffic kept in its model's entry (`traffic` stays the run's own).
pub(super) fn train_twin(
    run: &Stage<'_>,
    results: &mut Results,
    observer: &mut dyn Observer,
    (opts, ranks): (&RunOptions, &mut Ranks),
) -> Result<(), RunError> {
    let (scenario, data, dir) = (run.scenario, run.data, run.dir);
    let label = scenario.kind().name();
    let init = initial_network(scenario);
    let control = TrainControl {
        checkpoint_every: None,
        resume: None,
        stop: opts.stop.clone(),
        panic: None,
    };
    let epochs = scenario.epochs();
    let batches = data.train.len().div_ceil(scenario.batch_size());
    let mut failure: Option<RunError> = None;
    observer.epoch_start(label, 1, epochs, batches);
    let trained = train_layers_on(
        ranks,
        &init,
        (&data.train, &data.test),
        plan_of(scenario),
        scenario.layer_config(data.train.len()),
        scenario.runtime_config(),
        &control,
        &mut |ev| match ev {
            TrainEvent::BatchDone { done, .. } => observer.batch_done(done),
            TrainEvent::Checkpoint(_) | TrainEvent::Probe(_) => {}
            TrainEvent::Epoch(e) => {
                let record = push_epoch(results, label, &[], &e);
                if let Err(err) = write_epoch(run, label, &e, results, "free_energy_pc.png") {
                    failure.get_or_insert(err);
                }
                observer.epoch_end(label, &record);
                if e.epoch < epochs {
                    observer.epoch_start(label, e.epoch + 1, epochs, batches);
                }
            }
        },
    );
    if let Some(err) = failure {
        return Err(err);
    }
    let report = match trained {
        Err(crate::run_error::NetworkRunError::Interrupted) => {
            return Err(RunError::Interrupted {
                dir: dir.path().to_owned(),
            })
        }
        other => other?,
    };
    results.model(label, label).traffic = Some(report.traffic);
    Ok(())
}

/// The time axis of layer probes: global inference steps.
const STEPS: super::probes::TimeAxis = super::probes::TimeAxis {
    scale: 1.0,
    unit: "step",
};

/// The store of the scenario's probes; a live view is told what they are.
fn probe_store(
    scenario: &crate::experiment::scenario::Scenario,
    opts: &RunOptions,
) -> crate::message::probe::ProbeStore {
    let plans = scenario.probes();
    if let Some(live) = &opts.live {
        let event = crate::experiment::live::LiveEvent::Probes(plans.clone(), 1.0, "step");
        live.send(event);
    }
    ProbePlan::store(&plans)
}

/// A probe chunk from the coordinator: to the live view, if any, and into the store.
fn take_probe(
    chunk: crate::message::ProbeChunk,
    store: &mut crate::message::probe::ProbeStore,
    opts: &RunOptions,
) {
    if let Some(live) = &opts.live {
        live.send(crate::experiment::live::LiveEvent::Probe(chunk.clone()));
    }
    store.add(chunk);
}

/// What the layer actors train on and for how long.
fn plan_of(scenario: &crate::experiment::scenario::Scenario) -> TrainPlan {
    TrainPlan {
        epochs: scenario.epochs(),
        batch_size: scenario.batch_size(),
        seed: scenario.seed(),
        weights: scenario.network().init,
    }
}

/// Another rank of an MPI job: runs the layer actors placed on it (restored from `resume`
/// when the run continues); rank 0 trains the baseline, prints and writes the run folder.
pub(super) fn train_other_rank(
    scenario: &crate::experiment::scenario::Scenario,
    data: &crate::data::dataset::Dataset,
    resume: Option<ResumeState>,
    ranks: &mut Ranks,
) -> Result<super::RunSummary, RunError> {
    let control = TrainControl {
        checkpoint_every: Some(scenario.checkpoint_every()),
        resume,
        stop: None,
        panic: scenario.panic(),
    };
    train_layers_on(
        ranks,
        &initial_network(scenario),
        (&data.train, &data.test),
        plan_of(scenario),
        scenario.layer_config(data.train.len()),
        scenario.runtime_config(),
        &control,
        &mut |_| {},
    )?;
    Ok(super::RunSummary {
        dir: std::path::PathBuf::new(),
        results: Results::for_scenario(scenario),
    })
}

/// A resume checkpoint's position must be one of this run (its epochs, batches and layers).
fn check_resume_plan(run: &Stage<'_>, resume: Option<&ResumeState>) -> Result<(), RunError> {
    let Some(state) = resume else {
        return Ok(());
    };
    let (scenario, data, dir) = (run.scenario, run.data, run.dir);
    let batches = data.train.len().div_ceil(scenario.batch_size());
    let layers = scenario.layers().len() - 1;
    let file = dir.path().join(RESUME_FILE);
    state
        .check_plan(&file, scenario.epochs(), batches, layers)
        .map_err(|e| RunError::Resume {
            dir: dir.path().to_owned(),
            message: e.to_string(),
        })
}

/// Records an epoch of model `label`: accuracy and loss, and the layer-actor figures (free
/// energy, the weight gap to the baseline's same epoch, gradient and feedback gaps).
fn push_epoch(results: &mut Results, label: &str, baseline: &[Mlp], e: &LayerEpoch) -> EpochRecord {
    let record = EpochRecord {
        epoch: e.epoch,
        train_loss: e.train_loss,
        train_accuracy: e.train_accuracy,
        test_loss: e.test_loss,
        test_accuracy: e.test_accuracy,
        wall_s: e.wall_s,
    };
    let model = results.model(label, label);
    model.epochs.push(record);
    model.pc.push(PcRecord {
        epoch: e.epoch,
        free_energy: e.free_energy.clone(),
        weight_gap: baseline.get(e.epoch - 1).map(|bp| weight_gap(&e.net, bp)),
        grad_gap: e.grad_gap.clone(),
        feedback_gap: e.feedback_gap.clone(),
        spikes_per_image: e.spikes_per_image,
        synaptic_events_per_image: e.synaptic_events_per_image,
        tick_rates: e.tick_rates.clone(),
    });
    record
}

/// Writes an epoch's checkpoint, `results.json`, `accuracy.png` and the energy plot
/// (`energy.png` for EP; for PC `free_energy`, the file named, so that a rate twin does not
/// overwrite the spiking model's).
fn write_epoch(
    run: &Stage<'_>,
    label: &str,
    e: &LayerEpoch,
    results: &Results,
    free_energy: &str,
) -> Result<(), RunError> {
    let dir = run.dir;
    checkpoint(dir, label, e.epoch, &e.net)?;
    dir.write("results.json", results.to_json().as_bytes())?;
    accuracy_png(results, &dir.path().join("accuracy.png"))?;
    if run.scenario.kind().is_ep() {
        let path = dir.path().join("energy.png");
        crate::experiment::plot::ep_energy_png(results, label, &path)?;
    } else {
        let path = dir.path().join(free_energy);
        crate::experiment::plot::free_energy_png(results, label, &path)?;
    }
    if let Some(raster) = &e.raster {
        write_spc_figures(dir, results, label, raster, e.epoch)?;
    }
    Ok(())
}

/// Spiking PC's figures of an epoch: `error_rates.png` (from `results`), and the raster of
/// one training image, `spc_raster.png` and `spc_raster.safetensors`.
fn write_spc_figures(
    dir: &RunDir,
    results: &Results,
    label: &str,
    raster: &SpcRaster,
    epoch: usize,
) -> Result<(), RunError> {
    use crate::experiment::plot::{error_rates_png, spc_raster_png};
    let path = dir.path().join("error_rates.png");
    error_rates_png(results, label, raster.settle_ticks, &path)?;
    spc_raster_png(
        raster,
        &results.name,
        epoch,
        &dir.path().join("spc_raster.png"),
    )?;
    dir.write("spc_raster.safetensors", &raster_safetensors(raster, epoch))?;
    Ok(())
}

/// `raster` as safetensors (U32 throughout): `layer`, `tick`, `neuron` and `population` (one
/// entry per spike, in that order; population 0 value, 1 positive error, 2 negative error),
/// `widths` (neurons per layer), `ticks` (ticks per training batch, settle ticks among them)
/// and `epoch`. No metadata: its map's order would differ from run to run.
fn raster_safetensors(raster: &SpcRaster, epoch: usize) -> Vec<u8> {
    use safetensors::tensor::{Dtype, TensorView};
    let words =
        |v: &mut dyn Iterator<Item = u32>| -> Vec<u8> { v.flat_map(u32::to_le_bytes).collect() };
    let column = |f: fn(&RasterSpike) -> u32| words(&mut raster.spikes.iter().map(f));
    let columns = [
        ("layer", column(|s| s.layer)),
        ("tick", column(|s| s.tick)),
        ("neuron", column(|s| s.neuron)),
        ("population", column(|s| s.population as u32)),
        (
            "widths",
            words(&mut raster.widths.iter().map(|&w| w as u32)),
        ),
        (
            "ticks",
            words(
                &mut [raster.ticks, raster.settle_ticks]
                    .iter()
                    .map(|&t| t as u32),
            ),
        ),
        ("epoch", words(&mut std::iter::once(epoch as u32))),
    ];
    let views = columns.iter().map(|(name, bytes)| {
        let view = TensorView::new(Dtype::U32, vec![bytes.len() / 4], bytes);
        (*name, view.expect("lengths agree by construction"))
    });
    safetensors::tensor::serialize(views, None).expect("serialising in-memory tensors cannot fail")
}

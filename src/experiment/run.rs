//! Running a scenario end to end: data, model, training, and the run folder's files.
//!
//! [`run`] loads and checks the data, creates the [`RunDir`], writes the resolved scenario
//! and the initial weights (`epoch-0`), then after every epoch writes a checkpoint,
//! `results.json` and `accuracy.png`, so a run stopped at any point keeps every epoch it
//! finished. Progress is reported to an [`Observer`] (the CLI draws bars with it).

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::data::dataset::{DataError, Dataset};
use crate::experiment::checkpoint::to_safetensors;
use crate::experiment::plot::{accuracy_png, PlotError};
use crate::experiment::results::{EpochRecord, PcRecord, Results};
use crate::experiment::run_dir::{RunDir, RunDirError};
use crate::experiment::scenario::{AlgorithmKind, Baseline, Scenario, ScenarioError};
use crate::learn::backprop::{Backprop, TrainConfig};
use crate::math::matrix::Threads;
use crate::math::mlp::Mlp;
use crate::math::optimizer::OptimizerConfig;
use crate::math::rng::SeededRng;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The scenario is invalid (bad input).
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The data is missing or malformed (bad input).
    #[error(transparent)]
    Data(#[from] DataError),
    /// The run folder could not be created or written.
    #[error(transparent)]
    Output(#[from] RunDirError),
    /// A plot could not be drawn.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// The actor runtime failed (a panicking, stalled or diverging actor); files written so far
    /// are kept.
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
    /// A checkpoint to convert could not be read, or does not fit the scenario (bad input).
    #[error("{path}: {message}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The sampled event log could not be written.
    #[error(transparent)]
    Trace(#[from] crate::runtime::trace_log::TraceError),
    /// The run was stopped on request (Ctrl-C) after a final checkpoint; it can be resumed.
    #[error(
        "interrupted: finished epochs and a resumable checkpoint are in {dir}; continue with \
         axon run FILE --resume {dir}"
    )]
    Interrupted {
        /// The run folder.
        dir: PathBuf,
    },
    /// `--resume` was given a folder that does not fit the scenario (bad input).
    #[error("cannot resume {dir}: {message}")]
    Resume {
        /// The run folder.
        dir: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl RunError {
    /// Whether the user's input (scenario, data, output folder choice) caused the failure,
    /// as opposed to the machine (disk full, …). The CLI exits with 2 for these, 1 otherwise.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            RunError::Scenario(_)
                | RunError::Data(_)
                | RunError::Checkpoint { .. }
                | RunError::Resume { .. }
                | RunError::Output(RunDirError::NotEmpty { .. })
        )
    }
}

/// Hooks for showing progress. All methods default to doing nothing.
pub trait Observer {
    /// The data is loaded.
    fn data_loaded(&mut self, _data: &Dataset) {}
    /// The run folder exists.
    fn run_dir(&mut self, _path: &Path) {}
    /// Model `label` starts epoch `epoch` of `epochs`, which has `batches` batches.
    fn epoch_start(&mut self, _label: &str, _epoch: usize, _epochs: usize, _batches: usize) {}
    /// `done` batches of the current epoch are finished.
    fn batch_done(&mut self, _done: usize) {}
    /// An epoch is finished and evaluated.
    fn epoch_end(&mut self, _label: &str, _record: &EpochRecord) {}
}

/// An observer that shows nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Observer for Silent {}

/// Where a run writes, and how it can be stopped.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The run folder; default `runs/NAME-TIMESTAMP`.
    pub out: Option<PathBuf>,
    /// Continue the run in this folder (written by an earlier run of the same scenario) from
    /// its last resumable checkpoint; `out` is then ignored.
    pub resume: Option<PathBuf>,
    /// Set it (for example from a Ctrl-C handler) to stop gracefully: actor runs finish the
    /// batches in flight, save a final checkpoint and return [`RunError::Interrupted`]; the BP
    /// baseline stops after its current epoch.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl RunOptions {
    fn stop_requested(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// Where the resumable checkpoint lives in a run folder.
pub const RESUME_FILE: &str = "checkpoints/resume.safetensors";

/// What a finished run reports.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// The run folder.
    pub dir: PathBuf,
    /// Everything measured (as written to `results.json`).
    pub results: Results,
}

/// Loads the data a scenario names and checks the network against it.
pub fn load_data(scenario: &Scenario) -> Result<Dataset, RunError> {
    let d = &scenario.file.data;
    let data = Dataset::load(&d.dir, &d.load_options())?;
    scenario.check_data(data.rows, data.cols, data.classes)?;
    Ok(data)
}

/// The initial network of a scenario (the same for every learner given the same seed).
pub fn initial_network(scenario: &Scenario) -> Mlp {
    let n = &scenario.file.network;
    let mut rng = SeededRng::stream(scenario.file.seed, "weights");
    Mlp::new(&n.layers, n.activation, n.init, &mut rng)
}

/// The baseline's training configuration from a scenario.
pub fn train_config(scenario: &Scenario) -> TrainConfig {
    let t = &scenario.file.train;
    TrainConfig {
        batch_size: t.batch_size,
        lr: scenario.lr,
        schedule: t.schedule,
        epochs: t.epochs,
        loss: t.loss,
        optimizer: OptimizerConfig {
            kind: t.optimizer,
            momentum: scenario.momentum,
            ..OptimizerConfig::default()
        },
        seed: scenario.file.seed,
        threads: Threads(scenario.workers),
    }
}

fn checkpoint(dir: &RunDir, label: &str, epoch: usize, net: &Mlp) -> Result<(), RunError> {
    let meta = [
        ("epoch", epoch.to_string()),
        ("activation", net.activation().name().to_owned()),
        ("model", label.to_owned()),
    ];
    dir.write(
        Path::new("checkpoints")
            .join(label)
            .join(format!("epoch-{epoch}.safetensors")),
        &to_safetensors(net, &meta),
    )?;
    Ok(())
}

/// Evaluates the final network by message passing, records its accuracy and the traffic in
/// `results`, and writes `traffic.png` (and the sampled event log if `[trace] sample` is set).
fn evaluate_with_actors(
    scenario: &Scenario,
    net: &Mlp,
    data: &Dataset,
    dir: &RunDir,
    label: &str,
    results: &mut Results,
) -> Result<(), RunError> {
    let config = scenario.runtime_config();
    let eval = crate::learn::inference::evaluate_by_messages(
        net,
        &data.test,
        scenario.file.train.loss,
        config,
    )?;
    if let Some(m) = results.models.get_mut(label) {
        m.actor_test_accuracy = Some(eval.stats.accuracy);
    }
    let report = eval.report;
    write_traffic(&report, dir, config.trace_sample)?;
    results.traffic = Some(report.traffic);
    Ok(())
}

/// Trains the BP baseline under `label`, writing checkpoints, results and the plot after
/// every epoch; returns the network after each epoch.
fn train_bp(
    scenario: &Scenario,
    data: &Dataset,
    dir: &RunDir,
    label: &str,
    results: &mut Results,
    observer: &mut dyn Observer,
    opts: &RunOptions,
) -> Result<Vec<Mlp>, RunError> {
    let cfg = train_config(scenario);
    if let Some(nets) = finished_baseline(scenario, dir, label, results) {
        return Ok(nets);
    }
    results.model(label, "bp").epochs.clear();
    let mut learner = Backprop::new(initial_network(scenario), cfg);
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
    let epochs = scenario.file.train.epochs;
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
            crate::experiment::checkpoint::load_mlp(&path, scenario.file.network.activation).ok()
        })
        .collect()
}

/// Per layer, `||a - b|| / ||b||` over weights and biases.
pub fn weight_gap(a: &Mlp, b: &Mlp) -> Vec<f64> {
    crate::learn::pc::relative_gap(a.layers(), b.layers())
}

/// Writes the traffic plot and, if sampled, the event log of an actor run.
fn write_traffic(
    report: &crate::runtime::RunReport<crate::message::Message>,
    dir: &RunDir,
    sample: u64,
) -> Result<(), RunError> {
    crate::experiment::plot::traffic_heatmap_png(
        &report.traffic,
        &report.names,
        &dir.path().join("traffic.png"),
    )?;
    if sample > 0 {
        crate::runtime::trace_log::write_jsonl(
            &dir.path().join("trace.jsonl"),
            &report.trace,
            &report.names,
        )?;
        crate::runtime::trace_log::write_chrome_trace(
            &dir.path().join("trace.json"),
            &report.trace,
            &report.names,
        )?;
    }
    Ok(())
}

/// Trains the predictive-coding actors under `label`; `baseline` holds the BP network after
/// each epoch when the baseline ran.
#[allow(clippy::too_many_arguments)]
fn train_actors(
    scenario: &Scenario,
    data: &Dataset,
    dir: &RunDir,
    label: &str,
    baseline: &[Mlp],
    results: &mut Results,
    observer: &mut dyn Observer,
    opts: &RunOptions,
    resume: Option<crate::experiment::checkpoint::ResumeState>,
) -> Result<(), RunError> {
    use crate::learn::coordinator::{train_pc_with, PcEvent, PcPlan, TrainControl};
    check_resume_plan(scenario, data, dir, resume.as_ref())?;
    let init = initial_network(scenario);
    checkpoint(dir, label, 0, &init)?;
    let first_epoch = resume.as_ref().map_or(1, |r| r.position.epoch);
    let control = TrainControl {
        checkpoint_every: Some(scenario.file.checkpoint.every_batches),
        resume,
        stop: opts.stop.clone(),
        panic: scenario.file.faults.panic_actor.clone().map(|a| {
            let after = scenario.file.faults.panic_after_batches.unwrap_or(1);
            (a, after)
        }),
    };
    let t = &scenario.file.train;
    let plan = PcPlan {
        epochs: t.epochs,
        batch_size: t.batch_size,
        seed: scenario.file.seed,
    };
    let batches = data.train.len().div_ceil(t.batch_size);
    let algorithm = scenario.file.algorithm.kind.name();
    let ep = matches!(
        scenario.file.algorithm.kind,
        AlgorithmKind::Ep | AlgorithmKind::Cep
    );
    let mut failure: Option<RunError> = None;
    observer.epoch_start(label, first_epoch, t.epochs, batches);
    let config = scenario.runtime_config();
    let trained = train_pc_with(
        &init,
        &data.train,
        &data.test,
        plan,
        scenario.pc_config(data.train.len()),
        config,
        &control,
        &mut |ev| match ev {
            PcEvent::BatchDone { done, .. } => observer.batch_done(done),
            PcEvent::Checkpoint(mut state) => {
                state.results = results.to_json();
                if let Err(err) = dir.write(RESUME_FILE, &state.to_bytes()) {
                    failure.get_or_insert(err.into());
                }
            }
            PcEvent::Epoch(e) => {
                let record = EpochRecord {
                    epoch: e.epoch,
                    train_loss: e.train_loss,
                    train_accuracy: e.train_accuracy,
                    test_loss: e.test_loss,
                    test_accuracy: e.test_accuracy,
                    wall_s: e.wall_s,
                };
                let model = results.model(label, algorithm);
                model.epochs.push(record);
                model.pc.push(PcRecord {
                    epoch: e.epoch,
                    free_energy: e.free_energy.clone(),
                    weight_gap: baseline.get(e.epoch - 1).map(|bp| weight_gap(&e.net, bp)),
                    grad_gap: e.grad_gap.clone(),
                    feedback_gap: e.feedback_gap.clone(),
                });
                let written = checkpoint(dir, label, e.epoch, &e.net)
                    .and_then(|()| Ok(dir.write("results.json", results.to_json().as_bytes())?))
                    .and_then(|_| Ok(accuracy_png(results, &dir.path().join("accuracy.png"))?))
                    .and_then(|()| {
                        let drawn = if ep {
                            let path = dir.path().join("energy.png");
                            crate::experiment::plot::ep_energy_png(results, label, &path)
                        } else {
                            let path = dir.path().join("free_energy.png");
                            crate::experiment::plot::free_energy_png(results, label, &path)
                        };
                        Ok(drawn?)
                    });
                if let Err(err) = written {
                    failure.get_or_insert(err);
                }
                observer.epoch_end(label, &record);
                if e.epoch < t.epochs {
                    observer.epoch_start(label, e.epoch + 1, t.epochs, batches);
                }
            }
        },
    );
    if let Some(err) = failure {
        return Err(err);
    }
    let report = match trained {
        Err(crate::runtime::RuntimeError::Interrupted) => {
            return Err(RunError::Interrupted {
                dir: dir.path().to_owned(),
            })
        }
        Err(crate::runtime::RuntimeError::Restore(message)) => {
            return Err(RunError::Resume {
                dir: dir.path().to_owned(),
                message: format!("{}: {message}", dir.path().join(RESUME_FILE).display()),
            })
        }
        other => other?,
    };
    write_traffic(&report, dir, config.trace_sample)?;
    results.traffic = Some(report.traffic);
    Ok(())
}

/// A resume checkpoint's position must be one of this run (its epochs, batches and layers).
fn check_resume_plan(
    scenario: &Scenario,
    data: &Dataset,
    dir: &RunDir,
    resume: Option<&crate::experiment::checkpoint::ResumeState>,
) -> Result<(), RunError> {
    let Some(state) = resume else {
        return Ok(());
    };
    let t = &scenario.file.train;
    let batches = data.train.len().div_ceil(t.batch_size);
    let layers = scenario.file.network.layers.len() - 1;
    let file = dir.path().join(RESUME_FILE);
    state
        .check_plan(&file, t.epochs, batches, layers)
        .map_err(|e| RunError::Resume {
            dir: dir.path().to_owned(),
            message: e.to_string(),
        })
}

/// The CUBA spiking network: no data, no training; `snn` in results.json.
fn run_cuba_scenario(
    scenario: &Scenario,
    opts: &RunOptions,
    observer: &mut dyn Observer,
) -> Result<RunSummary, RunError> {
    let dir = RunDir::create(opts.out.as_deref(), &scenario.name)?;
    observer.run_dir(dir.path());
    dir.write("scenario.toml", scenario.to_toml().as_bytes())?;
    let mut results = Results::new(&scenario.name, scenario.file.seed);
    let run = crate::spike::snn::run_cuba(
        &scenario.file.cuba,
        scenario.file.seed,
        scenario.file.runtime.shards,
        scenario.runtime_config(),
    )?;
    results.snn = Some(run.stats.clone());
    results.complete();
    dir.write("results.json", results.to_json().as_bytes())?;
    crate::experiment::plot::cuba_raster_png(&run, &dir.path().join("raster.png"))?;
    Ok(RunSummary {
        dir: dir.path().to_owned(),
        results,
    })
}

/// Opens `path` to continue the run in it: the scenario must be the one it started with; the
/// resumable checkpoint is read if there is one (none: the run starts over in the folder).
fn open_for_resume(
    scenario: &Scenario,
    path: &Path,
) -> Result<(RunDir, Option<crate::experiment::checkpoint::ResumeState>), RunError> {
    let bad = |message: String| RunError::Resume {
        dir: path.to_owned(),
        message,
    };
    let dir = RunDir::open(path).map_err(|e| bad(e.to_string()))?;
    let saved = std::fs::read_to_string(path.join("scenario.toml"))
        .map_err(|e| bad(format!("scenario.toml: {e} (is this a run folder?)")))?;
    if saved != scenario.to_toml() {
        return Err(bad(
            "its scenario.toml differs from this scenario (give the same file and the same \
             --set overrides as the run that wrote it)"
                .to_owned(),
        ));
    }
    let finished = std::fs::read_to_string(path.join("results.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Results>(&t).ok())
        .is_some_and(|r| r.status == "complete");
    if finished {
        return Err(bad(
            "the run is already complete (results.json says so): nothing to resume".to_owned(),
        ));
    }
    let file = path.join(RESUME_FILE);
    if !file.exists() {
        return Ok((dir, None));
    }
    let state =
        crate::experiment::checkpoint::ResumeState::read(&file).map_err(|e| bad(e.to_string()))?;
    Ok((dir, Some(state)))
}

/// Runs a validated scenario to the end.
pub fn run(
    scenario: &Scenario,
    opts: &RunOptions,
    observer: &mut dyn Observer,
) -> Result<RunSummary, RunError> {
    if scenario.file.algorithm.kind == AlgorithmKind::Cuba {
        return run_cuba_scenario(scenario, opts, observer);
    }
    let data = load_data(scenario)?;
    observer.data_loaded(&data);
    let (dir, resume) = match &opts.resume {
        Some(path) => open_for_resume(scenario, path)?,
        None => (RunDir::create(opts.out.as_deref(), &scenario.name)?, None),
    };
    observer.run_dir(dir.path());
    dir.write("scenario.toml", scenario.to_toml().as_bytes())?;

    let kind = scenario.file.algorithm.kind;
    let label = kind.name();
    let mut results = match &resume {
        Some(state) => serde_json::from_str(&state.results).map_err(|e| RunError::Resume {
            dir: dir.path().to_owned(),
            message: format!("{RESUME_FILE} holds unreadable results: {e}"),
        })?,
        None => Results::new(&scenario.name, scenario.file.seed),
    };
    let results_path = Path::new("results.json");
    let convert_trained =
        kind == AlgorithmKind::SnnConvert && scenario.file.convert.checkpoint.is_none();
    let with_bp = kind == AlgorithmKind::Bp
        || convert_trained
        || scenario.file.compare.baseline == Baseline::Bp;
    if with_bp {
        results.model("bp", "bp");
    }
    if kind != AlgorithmKind::SnnConvert {
        results.model(label, kind.name());
    }
    dir.write(results_path, results.to_json().as_bytes())?;

    let baseline = if with_bp {
        train_bp(scenario, &data, &dir, "bp", &mut results, observer, opts)?
    } else {
        Vec::new()
    };
    match kind {
        AlgorithmKind::Bp => {
            // The training results are on disk before the actors run: a failure there keeps them.
            results.complete();
            dir.write(results_path, results.to_json().as_bytes())?;
            let net = baseline.last().expect("at least one epoch");
            evaluate_with_actors(scenario, net, &data, &dir, label, &mut results)?;
        }
        AlgorithmKind::Cuba => unreachable!("spiking runs return above"),
        AlgorithmKind::SnnConvert => {
            results.complete();
            dir.write(results_path, results.to_json().as_bytes())?;
            let net = match &scenario.file.convert.checkpoint {
                Some(path) => {
                    crate::experiment::checkpoint::load_mlp(path, scenario.file.network.activation)
                        .map_err(|e| RunError::Checkpoint {
                            path: path.clone(),
                            message: e.to_string(),
                        })?
                }
                None => baseline.last().expect("at least one epoch").clone(),
            };
            if net.widths() != scenario.file.network.layers {
                return Err(RunError::Checkpoint {
                    path: scenario.file.convert.checkpoint.clone().unwrap_or_default(),
                    message: format!(
                        "the network has widths {:?}, the scenario's network.layers are {:?}",
                        net.widths(),
                        scenario.file.network.layers
                    ),
                });
            }
            let ann = crate::learn::backprop::evaluate(
                &net,
                &data.test,
                scenario.file.train.loss,
                Threads::ONE,
            );
            results.ann_test_accuracy = Some(ann.accuracy);
            let cv = &scenario.file.convert;
            let snn = crate::spike::convert::normalise(
                &net,
                &data.train,
                cv.percentile,
                cv.normalise_examples,
            );
            let mut ticks = cv.ticks.clone();
            ticks.sort_unstable();
            ticks.dedup();
            let input = match cv.input {
                crate::experiment::scenario::InputCoding::Constant => {
                    crate::spike::convert::Input::Constant
                }
                crate::experiment::scenario::InputCoding::Poisson => {
                    crate::spike::convert::Input::Poisson {
                        max_rate: cv.poisson_max_rate,
                        seed: scenario.file.seed,
                    }
                }
            };
            let report = crate::spike::convert::run_converted(
                &snn,
                &data.test,
                &ticks,
                input,
                scenario.runtime_config(),
            )?;
            crate::experiment::plot::spike_raster_png(&report, &dir.path().join("raster.png"))?;
            results.conversion = report.points;
        }
        AlgorithmKind::Pc | AlgorithmKind::Zil | AlgorithmKind::Ep | AlgorithmKind::Cep => {
            train_actors(
                scenario,
                &data,
                &dir,
                label,
                &baseline,
                &mut results,
                observer,
                opts,
                resume,
            )?;
        }
    }
    results.complete();
    dir.write(results_path, results.to_json().as_bytes())?;
    Ok(RunSummary {
        dir: dir.path().to_owned(),
        results,
    })
}

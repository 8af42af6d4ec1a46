//! Running a scenario end to end: data, model, training, and the run folder's files.
//!
//! [`run`] loads and checks the data, creates the [`RunDir`], writes the resolved scenario
//! and the initial weights (`epoch-0`), then after every epoch writes a checkpoint,
//! `results.json` and `accuracy.png`, so a run stopped at any point keeps every epoch it
//! finished. Progress is reported to an [`Observer`] (the CLI draws bars with it). Each
//! algorithm's run is its own file: `bp` (the synchronous baseline), `layers` (PC, Z-IL,
//! EP and C-EP on layer actors), `spiking` (the CUBA network), `stdp` (Diehl & Cook's
//! spike-timing learning) and `conversion`
//! (ANN-to-SNN conversion).

mod bp;
mod conversion;
mod layers;
mod outcome;
pub mod probes;
mod spiking;
mod stdp;
mod watched;

use std::path::{Path, PathBuf};

use crate::cluster::Ranks;
use crate::data::dataset::{DataError, Dataset};
use crate::experiment::checkpoint::to_safetensors;
use crate::experiment::plot::PlotError;
use crate::experiment::results::{EpochRecord, Results};
use crate::experiment::run_dir::{RunDir, RunDirError};
use crate::experiment::scenario::{AlgorithmKind, Baseline, Scenario, ScenarioError};
use crate::learn::coordinator::resume::ResumeState;
use crate::math::mlp::Mlp;
pub use watched::LiveObserver;

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
    /// The actor runtime or the run of actors failed (a panicking, stalled or diverging
    /// actor, a failure across ranks); files written so far are kept.
    #[error(transparent)]
    Runtime(#[from] crate::run_error::NetworkRunError),
    /// A checkpoint to convert could not be read, or does not fit the scenario (bad input).
    #[error("{path}: {message}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A checkpoint to convert could not be read (its error names the file).
    #[error(transparent)]
    CheckpointFile(crate::experiment::checkpoint::CheckpointError),
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
    /// A spiking run was stopped on request (Ctrl-C) before its end: the figures of what was
    /// simulated are written, with `"status": "interrupted"`.
    #[error(
        "stopped after {simulated_s} s simulated: the figures of that part are in {dir} \
         (status \"interrupted\")"
    )]
    Stopped {
        /// The run folder.
        dir: PathBuf,
        /// Simulated seconds.
        simulated_s: f64,
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

impl From<crate::runtime::RuntimeError> for RunError {
    fn from(e: crate::runtime::RuntimeError) -> Self {
        RunError::Runtime(e.into())
    }
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
                | RunError::CheckpointFile(_)
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

/// An error's message with every cause of its chain that the message does not already
/// quote, as the CLI prints it (sweeps and the Python package use it too).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !msg.contains(&text) {
            msg = format!("{msg}: {text}");
        }
        cause = c.source();
    }
    msg
}

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
    /// Tell a live view what happens (`axon run --live`): probe samples, spiking progress.
    pub live: Option<crate::experiment::live::LiveSender>,
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
    let d = scenario.data();
    let data = Dataset::load(&d.dir, &d.load_options())?;
    scenario.check_data(data.rows, data.cols, data.classes)?;
    Ok(data)
}

/// The initial network of a scenario (the same for every learner given the same seed;
/// [`Scenario::initial_network`]).
pub fn initial_network(scenario: &Scenario) -> Mlp {
    scenario.initial_network()
}

/// Writes `checkpoints/LABEL/epoch-EPOCH.safetensors`.
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
    write_traffic_of(&report.traffic, &report.trace, &report.names, dir, sample)
}

/// [`write_traffic`] from the traffic, sampled events and actor names.
fn write_traffic_of(
    traffic: &crate::runtime::traffic::Traffic,
    trace: &[crate::runtime::trace_log::TraceEvent<crate::message::MessageKind>],
    names: &[String],
    dir: &RunDir,
    sample: u64,
) -> Result<(), RunError> {
    write_traffic_files(dir.path(), (traffic, trace, names), sample)
}

/// Writes `traffic.png` (the per-edge heat map) into the folder `dir`, and with `sample` >
/// 0 the sampled events as `trace.jsonl` (for `axon trace summarize`) and `trace.json`
/// (Perfetto), as a run folder holds them; `names` names the actors by id. For runs
/// without a run folder (a NIR graph from Python).
pub fn write_traffic_files(
    dir: &Path,
    (traffic, trace, names): (
        &crate::runtime::traffic::Traffic,
        &[crate::runtime::trace_log::TraceEvent<crate::message::MessageKind>],
        &[String],
    ),
    sample: u64,
) -> Result<(), RunError> {
    crate::experiment::plot::traffic_heatmap_png(traffic, names, &dir.join("traffic.png"))?;
    if sample > 0 {
        crate::runtime::trace_log::write_jsonl(&dir.join("trace.jsonl"), trace, names)?;
        crate::runtime::trace_log::write_chrome_trace(&dir.join("trace.json"), trace, names)?;
    }
    Ok(())
}

/// Opens `path` to continue the run in it: the scenario must be the one it started with; the
/// resumable checkpoint is read if there is one (none: the run starts over in the folder).
fn open_for_resume(
    scenario: &Scenario,
    path: &Path,
) -> Result<(RunDir, Option<ResumeState>), RunError> {
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
    let state = ResumeState::read(&file).map_err(|e| bad(e.to_string()))?;
    Ok((dir, Some(state)))
}

/// The results a run starts from: the resumed run's, or new ones; with an entry for every
/// model the run trains (`bp` first when the baseline trains), written to `results.json`.
fn start_results(
    scenario: &Scenario,
    dir: &RunDir,
    resume: Option<&ResumeState>,
    with_bp: bool,
) -> Result<Results, RunError> {
    let kind = scenario.kind();
    let mut results = match resume {
        Some(state) => serde_json::from_str(&state.results).map_err(|e| RunError::Resume {
            dir: dir.path().to_owned(),
            message: format!("{RESUME_FILE} holds unreadable results: {e}"),
        })?,
        None => Results::for_scenario(scenario),
    };
    if with_bp {
        results.model("bp", "bp");
    }
    if kind != AlgorithmKind::SnnConvert {
        results.model(kind.name(), kind.name());
    }
    dir.write("results.json", results.to_json().as_bytes())?;
    Ok(results)
}

/// Whether the run trains the BP baseline: for `bp`, for a conversion without a
/// checkpoint, and when `compare.baseline = "bp"`.
fn trains_baseline(scenario: &Scenario) -> bool {
    let kind = scenario.kind();
    let convert_trained =
        kind == AlgorithmKind::SnnConvert && scenario.convert().checkpoint.is_none();
    kind == AlgorithmKind::Bp || convert_trained || scenario.baseline() == Baseline::Bp
}

/// Marks the results complete and writes them.
fn write_complete(results: &mut Results, dir: &RunDir) -> Result<(), RunError> {
    results.complete();
    dir.write("results.json", results.to_json().as_bytes())?;
    Ok(())
}

/// Spiking PC against its rate twin: what each crossed between actors per image presented
/// (training and test images, every epoch), spikes and time ([`PerImage`]).
///
/// [`PerImage`]: crate::experiment::results::PerImage
fn compare_per_image(scenario: &Scenario, data: &Dataset, results: &mut Results) {
    use crate::experiment::results::PerImage;
    let images = ((data.train.len() + data.test.len()) * scenario.epochs()) as f64;
    let own = results.traffic.clone();
    let twin = results.models.get("pc").and_then(|m| m.traffic.clone());
    let spc = own.and_then(|t| PerImage::of(results, "spc", &t, images));
    let pc = twin.and_then(|t| PerImage::of(results, "pc", &t, images));
    results.per_image = spc.into_iter().chain(pc).collect();
}

/// What every stage of a run after training the baseline works on.
struct Stage<'a> {
    scenario: &'a Scenario,
    data: &'a Dataset,
    dir: &'a RunDir,
}

/// Runs a validated scenario to the end on `ranks` ([`Ranks::single`] for one process; the
/// scenario's `runtime.shard_ranks` pins their shards). Across several ranks only rank 0
/// writes the run folder; the others return their rank's figures. The folder's results.json
/// says `"running"` until the run ends; a run that fails or is interrupted says so there
/// (`"failed"` with its error, `"interrupted"` with the reason) before the error returns. An
/// `opts.out` that holds such a run is reused: resumed from its checkpoint when the scenario
/// is the same and has one, emptied and started over otherwise.
pub fn run(
    scenario: &Scenario,
    opts: &RunOptions,
    observer: &mut dyn Observer,
    ranks: &mut Ranks,
) -> Result<RunSummary, RunError> {
    let mut opts = opts.clone();
    outcome::reuse_folder(scenario, &mut opts, ranks.is_root())?;
    let mut watch = outcome::FolderWatch {
        inner: observer,
        dir: None,
    };
    let ran = run_in_folder(scenario, &opts, &mut watch, ranks);
    if let (Err(e), Some(dir), true) = (&ran, &watch.dir, ranks.is_root()) {
        outcome::record_end(scenario, dir, e);
    }
    ran
}

/// [`run`] once the folder to reuse, if any, is settled.
fn run_in_folder(
    scenario: &Scenario,
    opts: &RunOptions,
    observer: &mut dyn Observer,
    ranks: &mut Ranks,
) -> Result<RunSummary, RunError> {
    ranks.pin_shards(Some(scenario.shard_ranks().to_vec()));
    match scenario.kind() {
        AlgorithmKind::Cuba => return spiking::run_cuba_scenario(scenario, opts, observer, ranks),
        AlgorithmKind::Microcircuit => {
            return spiking::run_microcircuit_scenario(scenario, opts, observer, ranks)
        }
        AlgorithmKind::StdpMnist => {
            return stdp::run_stdp_scenario(scenario, opts, observer, ranks)
        }
        _ => {}
    }
    let data = load_data(scenario)?;
    if !ranks.is_root() && scenario.kind().is_layer_actors() {
        let resume = match &opts.resume {
            Some(path) => open_for_resume(scenario, path)?.1,
            None => None,
        };
        return layers::train_other_rank(scenario, &data, resume, ranks);
    }
    observer.data_loaded(&data);
    let (dir, resume) = match &opts.resume {
        Some(path) => open_for_resume(scenario, path)?,
        None => (RunDir::create(opts.out.as_deref(), scenario.name())?, None),
    };
    observer.run_dir(dir.path());
    dir.write("scenario.toml", scenario.to_toml().as_bytes())?;
    let with_bp = trains_baseline(scenario);
    let mut results = start_results(scenario, &dir, resume.as_ref(), with_bp)?;
    let baseline = if with_bp {
        bp::train_bp(scenario, &data, &dir, "bp", &mut results, observer, opts)?
    } else {
        Vec::new()
    };
    let run = Stage {
        scenario,
        data: &data,
        dir: &dir,
    };
    train_stage(
        &run,
        &baseline,
        &mut results,
        observer,
        (opts, ranks),
        resume,
    )?;
    write_complete(&mut results, &dir)?;
    Ok(RunSummary {
        dir: dir.path().to_owned(),
        results,
    })
}

/// Trains (or, for `bp` and `snn-convert`, evaluates or converts) what `run`'s scenario asks
/// for, once the baseline is trained.
fn train_stage(
    run: &Stage<'_>,
    baseline: &[Mlp],
    results: &mut Results,
    observer: &mut dyn Observer,
    (opts, ranks): (&RunOptions, &mut Ranks),
    resume: Option<ResumeState>,
) -> Result<(), RunError> {
    let scenario = run.scenario;
    match scenario.kind() {
        AlgorithmKind::Bp => bp::evaluate_baseline(run, baseline, results)?,
        AlgorithmKind::Cuba | AlgorithmKind::Microcircuit | AlgorithmKind::StdpMnist => {
            unreachable!("spiking runs return above")
        }
        AlgorithmKind::SnnConvert => conversion::convert(run, baseline, results)?,
        AlgorithmKind::Pc
        | AlgorithmKind::Zil
        | AlgorithmKind::Ep
        | AlgorithmKind::Cep
        | AlgorithmKind::Spc => {
            layers::train_actors(
                run,
                baseline,
                results,
                observer,
                (opts, &mut *ranks),
                resume,
            )?;
            if scenario.baseline() == Baseline::Pc {
                let twin = scenario.rate_pc_twin()?;
                let twin_run = Stage {
                    scenario: &twin,
                    ..*run
                };
                layers::train_twin(&twin_run, results, observer, (opts, ranks))?;
                compare_per_image(scenario, run.data, results);
            }
        }
    }
    Ok(())
}

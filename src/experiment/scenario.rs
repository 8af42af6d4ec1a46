//! Scenarios: the TOML files that describe a run, their overrides, and their validation.
//!
//! [`ScenarioFile`] is the raw form: exactly the file's keys (unknown keys are errors), every
//! key optional with the default documented on its field. [`Scenario`] is the validated form
//! the rest of axon takes: numbers are in range, names are known, and nothing is `NaN`.
//! [`Scenario::load`] reads a file, applies `--set key=value` overrides by dotted path, and
//! validates. The resolved file (defaults filled in) is what a run saves beside its results.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::math::activation::Activation;
use crate::math::loss::Loss;
use crate::math::mlp::Init;
use crate::math::optimizer::{OptimizerKind, Schedule};

/// What is wrong with a scenario.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: cannot read scenario: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key, or a value of the wrong type.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (it names the key, line and column).
        message: String,
    },
    /// A `--set` argument is malformed.
    #[error("--set {arg}: {reason}")]
    BadOverride {
        /// The argument as given.
        arg: String,
        /// What is wrong.
        reason: String,
    },
    /// The file has a `[sweep]` table, and the caller takes a single scenario.
    #[error(
        "{path}: has a [sweep] table (one run per combination of its values); only `axon run` \
         and `axon validate` expand sweeps"
    )]
    HasSweep {
        /// The file.
        path: PathBuf,
    },
    /// A value is out of its allowed range.
    #[error("{key} = {value}: {rule}")]
    Invalid {
        /// Dotted key.
        key: String,
        /// The value as given.
        value: String,
        /// What is allowed.
        rule: String,
    },
}

/// Upper bounds that keep a typo from asking for more memory or threads than any machine has.
const MAX_LAYERS: usize = 1000;
const MAX_WIDTH: usize = 10_000_000;
const MAX_PARAMETERS: u128 = 1_000_000_000;
const MAX_EPOCHS: usize = 1_000_000;
const MAX_BATCH: usize = 1_000_000;
const MAX_MAILBOX: usize = 1 << 24;
const MAX_WORKERS: usize = 4096;

fn invalid(key: &str, value: impl std::fmt::Display, rule: &str) -> ScenarioError {
    ScenarioError::Invalid {
        key: key.to_owned(),
        value: value.to_string(),
        rule: rule.to_owned(),
    }
}

/// A scenario file as written (raw form). Every key is optional; `Default` holds the defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScenarioFile {
    /// Name of the run; the run folder is `runs/NAME-TIMESTAMP`. Letters, digits, `-`, `_`, `.`.
    /// Default: the scenario file's stem.
    pub name: Option<String>,
    /// Seed of every random choice (weights, data order). Default 1.
    pub seed: u64,
    /// Where the data comes from.
    pub data: DataSection,
    /// The network's shape.
    pub network: NetworkSection,
    /// How it is trained.
    pub train: TrainSection,
    /// Which learning algorithm.
    pub algorithm: AlgorithmSection,
    /// How the run uses the machine.
    pub runtime: RuntimeSection,
    /// Message-event sampling.
    pub trace: TraceSection,
    /// What the actor model is compared with.
    pub compare: CompareSection,
    /// The CUBA network, for `algorithm.kind = "cuba"`.
    pub cuba: crate::spike::snn::CubaConfig,
    /// ANN-to-SNN conversion, for `algorithm.kind = "snn-convert"`.
    pub convert: ConvertSection,
    /// Resumable checkpoints of actor training runs.
    pub checkpoint: CheckpointSection,
    /// Fault injection into actor runs.
    pub faults: FaultsSection,
}

/// `[checkpoint]`: resumable checkpoints (`checkpoints/resume.safetensors`) of PC and Z-IL
/// runs, for `axon run FILE --resume RUNDIR`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointSection {
    /// Also save after every this many training batches, >= 0 (0: only at the end of each
    /// epoch). Default 100.
    pub every_batches: usize,
}

impl Default for CheckpointSection {
    fn default() -> Self {
        Self { every_batches: 100 }
    }
}

/// `[faults]`: faults injected on purpose, to test what a run survives.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultsSection {
    /// The actor (`layer-2`, or `layer-2.1` when sharded) that panics after
    /// `panic_after_batches` training batches. Default: none.
    pub panic_actor: Option<String>,
    /// Training batches the panicking actor finishes first, >= 1. Default 1.
    pub panic_after_batches: Option<usize>,
    /// Delay of each inference message between layer actors (`runtime.schedule = "async"`):
    /// `{ kind = "fixed" | "uniform" | "exponential", mean = 0.0, unit = "steps" | "us" }`.
    /// Default: none.
    pub delay: crate::runtime::faults::DelayConfig,
    /// Probability that an inference message is lost, in [0, 1). Default 0.
    pub drop: f64,
    /// Probability that an inference message arrives twice, in [0, 1]. Default 0.
    pub duplicate: f64,
    /// Reorder window in steps: each message waits an extra 0..=reorder steps. Default 0.
    pub reorder: u32,
}

impl FaultsSection {
    /// The faults each inference edge injects.
    pub fn links(&self) -> crate::runtime::faults::LinkFaults {
        crate::runtime::faults::LinkFaults {
            delay: self.delay,
            drop: self.drop,
            duplicate: self.duplicate,
            reorder: self.reorder,
        }
    }
}

/// `[convert]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConvertSection {
    /// A safetensors checkpoint to convert (relative to the current directory); default: train
    /// the network by BP in the same run, as `[train]` says.
    pub checkpoint: Option<PathBuf>,
    /// Tick counts at which accuracy is read (one simulation of the largest). Default
    /// `[10, 25, 50, 100, 200]`.
    pub ticks: Vec<usize>,
    /// Percentile of each layer's activations used to normalise it, in (0, 100]. Default 99.9.
    pub percentile: f64,
    /// Training examples used for the normalisation. Default 10000.
    pub normalise_examples: usize,
    /// How pixels drive the first layer: `constant` (a current equal to the pixel values) or
    /// `poisson` (a spike train per pixel). Default `constant`.
    pub input: InputCoding,
    /// Poisson input: firing probability per tick of a pixel of intensity 1, in (0, 1]
    /// (each input spike's weight is divided by it, so the expected current stays the
    /// same). Default 1.0.
    pub poisson_max_rate: f64,
}

/// `convert.input`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputCoding {
    /// A constant current.
    Constant,
    /// Poisson (Bernoulli per tick) spike trains.
    Poisson,
}

impl Default for ConvertSection {
    fn default() -> Self {
        Self {
            checkpoint: None,
            ticks: vec![10, 25, 50, 100, 200],
            percentile: 99.9,
            normalise_examples: 10_000,
            input: InputCoding::Constant,
            poisson_max_rate: 1.0,
        }
    }
}

impl Default for ScenarioFile {
    fn default() -> Self {
        Self {
            name: None,
            seed: 1,
            data: DataSection::default(),
            network: NetworkSection::default(),
            train: TrainSection::default(),
            algorithm: AlgorithmSection::default(),
            runtime: RuntimeSection::default(),
            trace: TraceSection::default(),
            compare: CompareSection::default(),
            cuba: crate::spike::snn::CubaConfig::default(),
            convert: ConvertSection::default(),
            checkpoint: CheckpointSection::default(),
            faults: FaultsSection::default(),
        }
    }
}

/// `[data]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataSection {
    /// Folder holding the four IDX files (optionally `.gz`). Relative paths are taken from the
    /// current directory. Default `data/mnist`.
    pub dir: PathBuf,
    /// Use only the first N training examples. Default: all.
    pub train_limit: Option<usize>,
    /// Use only the first N test examples. Default: all.
    pub test_limit: Option<usize>,
    /// Number of classes. Default: largest label + 1.
    pub classes: Option<usize>,
}

impl DataSection {
    /// What [`crate::data::dataset::Dataset::load`] takes from this section besides the folder.
    pub fn load_options(&self) -> crate::data::dataset::LoadOptions {
        crate::data::dataset::LoadOptions {
            train_limit: self.train_limit,
            test_limit: self.test_limit,
            classes: self.classes,
        }
    }
}

impl Default for DataSection {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("data/mnist"),
            train_limit: None,
            test_limit: None,
            classes: None,
        }
    }
}

/// `[network]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSection {
    /// Layer widths, input and output included. Default `[784, 256, 256, 10]`.
    pub layers: Vec<usize>,
    /// Hidden activation: `relu` | `sigmoid` | `tanh`. Default `relu`.
    pub activation: Activation,
    /// Weight initialisation: `kaiming` | `xavier`. Default `kaiming`.
    pub init: Init,
}

impl Default for NetworkSection {
    fn default() -> Self {
        Self {
            layers: vec![784, 256, 256, 10],
            activation: Activation::Relu,
            init: Init::Kaiming,
        }
    }
}

/// `[train]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSection {
    /// Passes over the training set. Default 10.
    pub epochs: usize,
    /// Examples per minibatch (the last batch of an epoch may be smaller). Default 64.
    pub batch_size: usize,
    /// `sgd` | `momentum` | `adam`. Default `adam`.
    pub optimizer: OptimizerKind,
    /// Learning rate, finite and > 0. Default 0.001.
    pub lr: f64,
    /// Momentum coefficient for `optimizer = "momentum"`, in [0, 1). Default 0.9.
    pub momentum: f64,
    /// `cross-entropy` | `mse`. Default `cross-entropy`.
    pub loss: Loss,
    /// Learning-rate schedule: `constant` | `cosine` (decay to 0 over the run). Default `constant`.
    pub schedule: Schedule,
}

impl Default for TrainSection {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 64,
            optimizer: OptimizerKind::Adam,
            lr: 1e-3,
            momentum: 0.9,
            loss: Loss::CrossEntropy,
            schedule: Schedule::Constant,
        }
    }
}

/// Learning algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlgorithmKind {
    /// Synchronous backpropagation (the baseline).
    Bp,
    /// Standard predictive coding (inference learning) on layer actors.
    Pc,
    /// Zero-divergence inference learning (Song et al. 2020) on layer actors: equals BP.
    Zil,
    /// The CUBA spiking network (`[cuba]`; no data, no training).
    Cuba,
    /// ANN-to-SNN conversion (`[convert]`): a trained ReLU network (a checkpoint, or trained
    /// by BP in the same run) runs as integrate-and-fire actors.
    SnnConvert,
    /// Equilibrium propagation (Scellier & Bengio 2017) on layer actors: free phase, nudged
    /// phase, contrastive update.
    Ep,
    /// Equilibrium propagation with continual weight updates (Ernoult et al. 2020): the update
    /// applied at every nudged step.
    Cep,
}

impl AlgorithmKind {
    /// The scenario name.
    pub fn name(self) -> &'static str {
        match self {
            AlgorithmKind::Bp => "bp",
            AlgorithmKind::Pc => "pc",
            AlgorithmKind::Zil => "zil",
            AlgorithmKind::Cuba => "cuba",
            AlgorithmKind::SnnConvert => "snn-convert",
            AlgorithmKind::Ep => "ep",
            AlgorithmKind::Cep => "cep",
        }
    }
}

/// `[algorithm]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlgorithmSection {
    /// `bp` (synchronous backprop) | `pc` (standard predictive coding on actors) | `zil`
    /// (zero-divergence inference learning on actors). Default `bp`.
    pub kind: AlgorithmKind,
    /// `pc`: inference steps `T` per batch, 1..=10000. Default 20.
    pub inference_steps: usize,
    /// `pc`: inference rate `gamma`, finite, in (0, 2]. Default 0.1. (`zil` uses 1 unless set.)
    pub inference_rate: Option<f64>,
    /// `transpose` (oracle, counted as weight transport) | `kolen-pollack` | `random`
    /// (feedback alignment) | `direct` (DFA). Default `transpose`.
    pub feedback: crate::learn::pc_layer::Feedback,
    /// Kolen-Pollack weight decay `lambda` on `W` and `B`, in [0, 1). Default 0.
    pub kp_decay: f64,
    /// Kolen-Pollack initial `B`: `shared-seed` (equal to `W^T`, no message) | `random`.
    /// Default `shared-seed`.
    pub kp_init: crate::learn::pc_layer::KpInit,
    /// Start value nodes from a forward sweep. Default true (`false` is a negative control).
    pub forward_init: bool,
    /// Apply each update before that step's feedback is sent. Default false (`true` is a
    /// negative control that breaks Z-IL's equality with BP).
    pub update_before_feedback: bool,
    /// `ep`, `cep`: steps of the free phase `T`, 1..=10000. Default 20.
    pub free_steps: usize,
    /// `ep`, `cep`: steps of the nudged phase `K`, 1..=10000. Default 4.
    pub nudged_steps: usize,
    /// `ep`, `cep`: nudging strength `beta`, finite, in (0, 10]. Default 0.5.
    pub beta: f64,
    /// `ep`, `cep`: draw the sign of `beta` at random per training batch. Default false.
    pub random_sign_beta: bool,
    /// `ep`, `cep`: relaxation rate `eps` of a step, in (0, 1]. Default 0.5.
    pub step: f64,
    /// `ep`, `cep`: learning rate of each weight layer, one per layer (`W_1` first); default
    /// `train.lr` for every layer.
    pub layer_lr: Option<Vec<f64>>,
}

impl Default for AlgorithmSection {
    fn default() -> Self {
        Self {
            kind: AlgorithmKind::Bp,
            inference_steps: 20,
            inference_rate: None,
            feedback: crate::learn::pc_layer::Feedback::Transpose,
            kp_decay: 0.0,
            kp_init: crate::learn::pc_layer::KpInit::SharedSeed,
            forward_init: true,
            update_before_feedback: false,
            free_steps: 20,
            nudged_steps: 4,
            beta: 0.5,
            random_sign_beta: false,
            step: 0.5,
            layer_lr: None,
        }
    }
}

/// How actors are scheduled in time (`runtime.schedule`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimeSchedule {
    /// Every message carries its step; an actor computes step `t + 1` once it holds all of
    /// step `t` from its neighbours. Deterministic for a seed.
    Lockstep,
    /// An actor updates whenever a message arrives, from the latest values it holds; a batch
    /// learns once every actor reports that its local energy changes less than
    /// `runtime.settle_tolerance` per update (no barrier per step). Timing-dependent.
    Async,
}

/// `[compare]`: what the actor model is measured against.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompareSection {
    /// `bp`: also train the synchronous backprop baseline on the same data order, seed and
    /// initial weights (results.json then holds both, with the per-layer weight gap each
    /// epoch) | `none`. Default `none`.
    pub baseline: Baseline,
    /// Check every batch: the gradient each actor forms against backprop's from the same
    /// weights on the same batch (`grad_gap` in results.json; slow). Default false.
    pub check_gradients: bool,
}

impl Default for CompareSection {
    fn default() -> Self {
        Self {
            baseline: Baseline::None,
            check_gradients: false,
        }
    }
}

/// A baseline to compare with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Baseline {
    /// No baseline.
    None,
    /// Synchronous backprop.
    Bp,
}

/// `[runtime]`: how actors run. (The synchronous `bp` baseline uses only `workers`.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeSection {
    /// Threads to use, >= 1. Default: all cores. The BP baseline uses at most this many.
    pub workers: Option<usize>,
    /// `tokio` (tasks; default) | `threads` (one OS thread per actor) | `inline` (one thread,
    /// fixed order).
    pub executor: crate::runtime::Executor,
    /// Data messages a mailbox holds before senders wait, >= 1. Default 1024.
    pub mailbox_capacity: usize,
    /// Seconds without any actor handling a message before the run fails as stalled, > 0.
    /// Default 10.
    pub stall_timeout_s: f64,
    /// Actors per hidden layer, >= 1 (at most the layer's width: one actor per neuron).
    /// Default 1.
    pub shards: usize,
    /// `lockstep` | `async` (PC only; see [`TimeSchedule`]). Default `lockstep`.
    pub schedule: TimeSchedule,
    /// Async: an actor is settled when its local energy changes by at most this fraction per
    /// update, in (0, 1). Default 0.001.
    pub settle_tolerance: f64,
    /// Async: most updates an actor makes per training batch for each neighbouring layer it
    /// hears from (then it counts as settled), >= 1; 0 means `algorithm.inference_steps` (the
    /// depth lockstep uses). Default 0.
    pub max_updates: usize,
    /// Async: an actor that has received nothing for this many milliseconds counts as
    /// settled (so a lost message cannot hold a batch forever), > 0. Default 2.
    pub settle_quiet_ms: f64,
}

impl Default for RuntimeSection {
    fn default() -> Self {
        Self {
            workers: None,
            executor: crate::runtime::Executor::Tokio,
            mailbox_capacity: 1024,
            stall_timeout_s: 10.0,
            shards: 1,
            schedule: TimeSchedule::Lockstep,
            settle_tolerance: 1e-3,
            max_updates: 0,
            settle_quiet_ms: 2.0,
        }
    }
}

/// `[trace]`: the sampled message-event log of actor runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceSection {
    /// Log 1 in N messages (send and receive time, edge, kind, bytes, step, mailbox depth) to
    /// `trace.jsonl` and `trace.json` (Chrome trace); 0 (default) logs none.
    pub sample: u64,
}

/// A validated scenario: every field is in range.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The resolved raw form (defaults filled in), as saved beside results.
    pub file: ScenarioFile,
    /// Run name (never empty, safe in a file name).
    pub name: String,
    /// Threads to use, >= 1.
    pub workers: usize,
    /// Learning rate as the optimisers take it.
    pub lr: f32,
    /// Momentum coefficient as the optimisers take it.
    pub momentum: f32,
}

/// Parses a `--set` value: TOML syntax (`3`, `0.1`, `[784, 10]`, `"adam"`, `true`), or a bare
/// word taken as a string (`adam`).
fn parse_override_value(text: &str) -> toml::Value {
    let doc = format!("v = {text}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(text.to_owned())),
        Err(_) => toml::Value::String(text.to_owned()),
    }
}

/// Applies one `KEY=VALUE` override to a parsed scenario table.
pub fn apply_override(table: &mut toml::Table, arg: &str) -> Result<(), ScenarioError> {
    let bad = |reason: &str| ScenarioError::BadOverride {
        arg: arg.to_owned(),
        reason: reason.to_owned(),
    };
    let (key, value) = arg
        .split_once('=')
        .ok_or_else(|| bad("expected KEY=VALUE, for example train.epochs=1"))?;
    let key = key.trim();
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(bad("the key must be a dotted path such as train.lr"));
    }
    let (last, path) = parts.split_last().expect("split always yields one part");
    let mut cur = table;
    for (i, p) in path.iter().enumerate() {
        let entry = cur
            .entry((*p).to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry.as_table_mut().ok_or_else(|| {
            bad(&format!(
                "{} is a value, not a section",
                parts[..=i].join(".")
            ))
        })?;
    }
    cur.insert((*last).to_owned(), parse_override_value(value.trim()));
    Ok(())
}

impl Scenario {
    /// Reads `path`, applies `overrides` (`KEY=VALUE`, dotted keys) and validates. A file with
    /// a `[sweep]` table is an error ([`ScenarioError::HasSweep`]): it describes many runs
    /// (see [`crate::experiment::sweep`]).
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ScenarioError::Parse {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?;
        if table.contains_key("sweep") {
            return Err(ScenarioError::HasSweep {
                path: path.to_owned(),
            });
        }
        if overrides.is_empty() {
            // From the text itself, so that errors point into the file as written.
            let file: ScenarioFile = toml::from_str(&text).map_err(|e| ScenarioError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
            return Self::validate_named(path, file);
        }
        for o in overrides {
            apply_override(&mut table, o)?;
        }
        Self::from_table_in(path, table, "after --set overrides: ")
    }

    /// Validates a parsed scenario table (overrides already applied, no `[sweep]` table).
    /// `path` names the file in errors, and its stem is the default name.
    pub fn from_table(path: &Path, table: toml::Table) -> Result<Self, ScenarioError> {
        Self::from_table_in(path, table, "")
    }

    /// [`Scenario::from_table`], with `context` before the parser's message.
    fn from_table_in(
        path: &Path,
        table: toml::Table,
        context: &str,
    ) -> Result<Self, ScenarioError> {
        let parse_err = |message: String| ScenarioError::Parse {
            path: path.to_owned(),
            message,
        };
        // Through text (not `Value::try_into`): the parser's errors then quote the offending
        // line.
        let merged = toml::to_string(&table).map_err(|e| parse_err(e.to_string()))?;
        let file: ScenarioFile =
            toml::from_str(&merged).map_err(|e| parse_err(format!("{context}{e}")))?;
        Self::validate_named(path, file)
    }

    /// Names a raw scenario after its file when it has no `name`, then validates it.
    fn validate_named(path: &Path, mut file: ScenarioFile) -> Result<Self, ScenarioError> {
        if file.name.is_none() {
            file.name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        }
        Self::validate(file)
    }

    /// Parses and validates scenario text (no file, no overrides).
    pub fn from_toml(text: &str) -> Result<Self, ScenarioError> {
        let file: ScenarioFile = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            path: PathBuf::from("<scenario>"),
            message: e.to_string(),
        })?;
        Self::validate(file)
    }

    /// Checks every field of a raw scenario.
    pub fn validate(mut file: ScenarioFile) -> Result<Self, ScenarioError> {
        let name = file.name.clone().unwrap_or_else(|| "axon".to_owned());
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(invalid(
                "name",
                format!("{name:?}"),
                "must be non-empty and use only letters, digits, '-', '_' and '.' (it names the run folder)",
            ));
        }
        file.name = Some(name.clone());
        for (key, v) in [
            ("data.train_limit", file.data.train_limit),
            ("data.test_limit", file.data.test_limit),
        ] {
            if v == Some(0) {
                return Err(invalid(
                    key,
                    0,
                    "must be >= 1 (leave it out to use all examples)",
                ));
            }
        }
        if let Some(c) = file.data.classes {
            if !(2..=256).contains(&c) {
                return Err(invalid(
                    "data.classes",
                    c,
                    "must be between 2 and 256 (labels are bytes)",
                ));
            }
        }
        let layers = &file.network.layers;
        if layers.len() < 2 {
            return Err(invalid(
                "network.layers",
                format!("{layers:?}"),
                "needs at least two widths: the input size and the number of classes, e.g. [784, 10]",
            ));
        }
        if let Some(i) = layers.iter().position(|&w| w == 0) {
            return Err(invalid(
                &format!("network.layers[{i}]"),
                0,
                "every width must be >= 1",
            ));
        }
        if layers.len() > MAX_LAYERS {
            return Err(invalid(
                "network.layers",
                format!("{} widths", layers.len()),
                &format!("at most {MAX_LAYERS} widths"),
            ));
        }
        if let Some(i) = layers.iter().position(|&w| w > MAX_WIDTH) {
            return Err(invalid(
                &format!("network.layers[{i}]"),
                layers[i],
                &format!("every width must be <= {MAX_WIDTH}"),
            ));
        }
        let params: u128 = layers
            .windows(2)
            .map(|w| (w[0] as u128 + 1) * w[1] as u128)
            .sum();
        if params > MAX_PARAMETERS {
            return Err(invalid(
                "network.layers",
                format!("{layers:?}"),
                &format!(
                    "that is {params} weights; at most {MAX_PARAMETERS} (4 bytes each, times \
                     the optimiser's copies)"
                ),
            ));
        }
        let t = &file.train;
        if t.epochs == 0 || t.epochs > MAX_EPOCHS {
            return Err(invalid(
                "train.epochs",
                t.epochs,
                &format!("must be between 1 and {MAX_EPOCHS}"),
            ));
        }
        if t.batch_size == 0 || t.batch_size > MAX_BATCH {
            return Err(invalid(
                "train.batch_size",
                t.batch_size,
                &format!("must be between 1 and {MAX_BATCH}"),
            ));
        }
        if !(t.lr.is_finite() && t.lr > 0.0 && t.lr < 1e3) {
            return Err(invalid(
                "train.lr",
                fmt_f64(t.lr),
                "must be a finite number > 0 (and < 1000)",
            ));
        }
        if !(t.momentum.is_finite() && (0.0..1.0).contains(&t.momentum)) {
            return Err(invalid(
                "train.momentum",
                fmt_f64(t.momentum),
                "must be a finite number in [0, 1)",
            ));
        }
        let a = &file.algorithm;
        if !(1..=10_000).contains(&a.inference_steps) {
            return Err(invalid(
                "algorithm.inference_steps",
                a.inference_steps,
                "must be between 1 and 10000",
            ));
        }
        if let Some(g) = a.inference_rate {
            if !(g.is_finite() && g > 0.0 && g <= 2.0) {
                return Err(invalid(
                    "algorithm.inference_rate",
                    fmt_f64(g),
                    "must be a finite number in (0, 2] (0.1 is typical for pc; zil needs 1)",
                ));
            }
        }
        if !(a.kp_decay.is_finite() && (0.0..1.0).contains(&a.kp_decay)) {
            return Err(invalid(
                "algorithm.kp_decay",
                fmt_f64(a.kp_decay),
                "must be a finite number in [0, 1)",
            ));
        }
        Self::validate_ep(&file)?;
        let c = &file.cuba;
        if c.neurons < 5 {
            return Err(invalid(
                "cuba.neurons",
                c.neurons,
                "must be >= 5 (80 % excitatory, 20 % inhibitory)",
            ));
        }
        if !(c.p_connect.is_finite() && c.p_connect > 0.0 && c.p_connect < 1.0) {
            return Err(invalid(
                "cuba.p_connect",
                fmt_f64(c.p_connect),
                "must be a probability in (0, 1)",
            ));
        }
        let expected = (c.neurons as f64).powi(2) * c.p_connect;
        if c.neurons > 10_000_000 || expected > 1e9 {
            return Err(invalid(
                "cuba.neurons",
                c.neurons,
                &format!(
                    "with p_connect {} that is {expected:.2e} synapses; at most 10,000,000 \
                     neurons and 1e9 expected synapses (4 bytes each)",
                    fmt_f64(c.p_connect)
                ),
            ));
        }
        for (key, v) in [("cuba.we_mv", c.we_mv), ("cuba.wi_mv", c.wi_mv)] {
            if !(v.is_finite() && v.abs() < 1e3) {
                return Err(invalid(
                    key,
                    fmt_f64(v),
                    "must be a finite weight in mV (|w| < 1000)",
                ));
            }
        }
        if !(c.duration_ms.is_finite() && c.duration_ms >= 0.1 && c.duration_ms <= 3.6e6) {
            return Err(invalid(
                "cuba.duration_ms",
                fmt_f64(c.duration_ms),
                "must be a simulated time in ms between 0.1 (one tick) and 3600000",
            ));
        }
        let cv = &file.convert;
        if cv.ticks.is_empty() || cv.ticks.iter().any(|&t| t == 0 || t > 100_000) {
            return Err(invalid(
                "convert.ticks",
                format!("{:?}", cv.ticks),
                "must list tick counts between 1 and 100000, e.g. [10, 25, 50, 100, 200]",
            ));
        }
        if !(cv.percentile.is_finite() && cv.percentile > 0.0 && cv.percentile <= 100.0) {
            return Err(invalid(
                "convert.percentile",
                fmt_f64(cv.percentile),
                "must be in (0, 100]",
            ));
        }
        if !(cv.poisson_max_rate.is_finite()
            && cv.poisson_max_rate > 0.0
            && cv.poisson_max_rate <= 1.0)
        {
            return Err(invalid(
                "convert.poisson_max_rate",
                fmt_f64(cv.poisson_max_rate),
                "must be a firing probability per tick in (0, 1]",
            ));
        }
        if cv.normalise_examples == 0 {
            return Err(invalid("convert.normalise_examples", 0, "must be >= 1"));
        }
        if file.runtime.shards == 0 {
            return Err(invalid(
                "runtime.shards",
                0,
                "must be >= 1 (the number of actors per hidden layer)",
            ));
        }
        let cap = file.runtime.mailbox_capacity;
        if cap == 0 || cap > MAX_MAILBOX {
            return Err(invalid(
                "runtime.mailbox_capacity",
                cap,
                &format!("must be between 1 and {MAX_MAILBOX}"),
            ));
        }
        let stall = file.runtime.stall_timeout_s;
        if !(stall.is_finite() && stall > 0.0 && stall <= 86_400.0) {
            return Err(invalid(
                "runtime.stall_timeout_s",
                fmt_f64(stall),
                "must be a finite number of seconds > 0 (and at most 86400)",
            ));
        }
        if file.checkpoint.every_batches > MAX_EPOCHS {
            return Err(invalid(
                "checkpoint.every_batches",
                file.checkpoint.every_batches,
                &format!("must be at most {MAX_EPOCHS} (0 saves at epoch ends only)"),
            ));
        }
        if let Some(actor) = &file.faults.panic_actor {
            let layers = file.network.layers.len() - 1;
            let ok = actor
                .strip_prefix("layer-")
                .and_then(|rest| {
                    let (l, shard) = rest.split_once('.').unwrap_or((rest, "0"));
                    Some((l.parse::<usize>().ok()?, shard.parse::<usize>().ok()?))
                })
                .is_some_and(|(l, _)| (1..=layers).contains(&l));
            if !ok {
                return Err(invalid(
                    "faults.panic_actor",
                    format!("{actor:?}"),
                    &format!("must name a layer actor, layer-1 to layer-{layers} (layer-L.S when sharded)"),
                ));
            }
        }
        let fl = &file.faults;
        for (key, v, top) in [
            ("faults.drop", fl.drop, 1.0 - f64::EPSILON),
            ("faults.duplicate", fl.duplicate, 1.0),
        ] {
            if !(v.is_finite() && (0.0..=top).contains(&v)) {
                return Err(invalid(key, fmt_f64(v), "must be a probability in [0, 1)"));
            }
        }
        let mean = fl.delay.mean;
        if !(mean.is_finite() && (0.0..=1e9).contains(&mean)) {
            return Err(invalid(
                "faults.delay.mean",
                fmt_f64(mean),
                "must be a finite delay >= 0 (steps or microseconds, as faults.delay.unit says)",
            ));
        }
        if fl.reorder > 1_000_000 {
            return Err(invalid(
                "faults.reorder",
                fl.reorder,
                "must be at most 1000000 steps",
            ));
        }
        let rt = &file.runtime;
        if rt.schedule == TimeSchedule::Lockstep && fl.links().any() {
            return Err(invalid(
                "runtime.schedule",
                "\"lockstep\"",
                "must be \"async\" to inject faults.delay, drop, duplicate or reorder (lockstep \
                 waits for every message, so a dropped one would stall it)",
            ));
        }
        if rt.schedule == TimeSchedule::Async && file.algorithm.kind != AlgorithmKind::Pc {
            return Err(invalid(
                "runtime.schedule",
                "\"async\"",
                "works with algorithm.kind = \"pc\" only (Z-IL's exactness needs lockstep)",
            ));
        }
        let tol = rt.settle_tolerance;
        if !(tol.is_finite() && tol > 0.0 && tol < 1.0) {
            return Err(invalid(
                "runtime.settle_tolerance",
                fmt_f64(tol),
                "must be in (0, 1): the relative change of an actor's local energy per update \
                 below which it counts as settled",
            ));
        }
        let q = rt.settle_quiet_ms;
        if !(q.is_finite() && q > 0.0 && q <= 60_000.0) {
            return Err(invalid(
                "runtime.settle_quiet_ms",
                fmt_f64(q),
                "must be a number of milliseconds in (0, 60000]",
            ));
        }
        if rt.max_updates > 1_000_000 {
            return Err(invalid(
                "runtime.max_updates",
                rt.max_updates,
                "must be at most 1000000 (0: algorithm.inference_steps)",
            ));
        }
        if file.faults.panic_after_batches == Some(0) {
            return Err(invalid("faults.panic_after_batches", 0, "must be >= 1"));
        }
        let workers = match file.runtime.workers {
            Some(0) => {
                return Err(invalid(
                    "runtime.workers",
                    0,
                    "must be >= 1 (leave it out to use all cores)",
                ))
            }
            Some(n) if n > MAX_WORKERS => {
                return Err(invalid(
                    "runtime.workers",
                    n,
                    &format!("must be at most {MAX_WORKERS} threads"),
                ))
            }
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        Ok(Self {
            name,
            workers,
            lr: t.lr as f32,
            momentum: t.momentum as f32,
            file,
        })
    }

    /// The `ep` / `cep` keys, and what equilibrium propagation cannot combine with.
    fn validate_ep(file: &ScenarioFile) -> Result<(), ScenarioError> {
        let a = &file.algorithm;
        for (key, v) in [
            ("algorithm.free_steps", a.free_steps),
            ("algorithm.nudged_steps", a.nudged_steps),
        ] {
            if !(1..=10_000).contains(&v) {
                return Err(invalid(key, v, "must be between 1 and 10000"));
            }
        }
        if !(a.beta.is_finite() && a.beta > 0.0 && a.beta <= 10.0) {
            return Err(invalid(
                "algorithm.beta",
                fmt_f64(a.beta),
                "must be a finite number in (0, 10] (its sign flips with random_sign_beta)",
            ));
        }
        if !(a.step.is_finite() && a.step > 0.0 && a.step <= 1.0) {
            return Err(invalid(
                "algorithm.step",
                fmt_f64(a.step),
                "must be a finite relaxation rate in (0, 1]",
            ));
        }
        let weights = file.network.layers.len() - 1;
        if let Some(rates) = &a.layer_lr {
            if rates.len() != weights {
                return Err(invalid(
                    "algorithm.layer_lr",
                    format!("{rates:?}"),
                    &format!(
                        "needs one rate per weight layer: {weights} for network.layers {:?}",
                        file.network.layers
                    ),
                ));
            }
            if let Some(i) = rates
                .iter()
                .position(|r| !(r.is_finite() && *r > 0.0 && *r < 1e3))
            {
                return Err(invalid(
                    &format!("algorithm.layer_lr[{i}]"),
                    fmt_f64(rates[i]),
                    "must be a finite number > 0 (and < 1000)",
                ));
            }
        }
        if !matches!(a.kind, AlgorithmKind::Ep | AlgorithmKind::Cep) {
            return Ok(());
        }
        let kind = a.kind.name();
        if !file.network.activation.bounded() {
            return Err(invalid(
                "network.activation",
                format!("{:?}", file.network.activation.name()),
                &format!(
                    "{kind} needs a bounded rho (its Hopfield energy is unbounded below with \
                     relu): use \"hard-sigmoid\" (Scellier & Bengio) or \"shifted-sigmoid\" \
                     (the C-EP paper's)"
                ),
            ));
        }
        if file.train.loss != crate::math::loss::Loss::Mse {
            return Err(invalid(
                "train.loss",
                format!("{:?}", file.train.loss.name()),
                &format!("must be \"mse\" for {kind}: its cost is 1/2 ||y - s_out||^2"),
            ));
        }
        if a.feedback == crate::learn::pc_layer::Feedback::Direct {
            return Err(invalid(
                "algorithm.feedback",
                "\"direct\"",
                &format!(
                    "{kind} couples neighbouring layers: use \"transpose\" (oracle), \
                     \"kolen-pollack\" or \"random\""
                ),
            ));
        }
        if a.kp_decay != 0.0 {
            return Err(invalid(
                "algorithm.kp_decay",
                fmt_f64(a.kp_decay),
                &format!("must be 0 for {kind} (its Kolen-Pollack copies take no decay)"),
            ));
        }
        if file.compare.check_gradients {
            return Err(invalid(
                "compare.check_gradients",
                "true",
                &format!("works with pc and zil only ({kind} has its own gradient check test)"),
            ));
        }
        Ok(())
    }

    /// Checks the network against the data it will see: the first width must equal the
    /// image size, the last the number of classes.
    pub fn check_data(
        &self,
        rows: usize,
        cols: usize,
        classes: usize,
    ) -> Result<(), ScenarioError> {
        let layers = &self.file.network.layers;
        let pixels = rows * cols;
        if layers[0] != pixels {
            return Err(invalid(
                "network.layers[0]",
                layers[0],
                &format!("must equal the data's image size, {rows}x{cols} = {pixels} pixels"),
            ));
        }
        let last = layers.len() - 1;
        if layers[last] != classes {
            return Err(invalid(
                &format!("network.layers[{last}]"),
                layers[last],
                &format!("must equal the number of classes in the data, {classes}"),
            ));
        }
        Ok(())
    }

    /// The actor runtime's configuration from `[runtime]` and `[trace]`.
    pub fn runtime_config(&self) -> crate::runtime::RuntimeConfig {
        crate::runtime::RuntimeConfig {
            executor: self.file.runtime.executor,
            workers: self.workers,
            mailbox_capacity: self.file.runtime.mailbox_capacity,
            stall_timeout: std::time::Duration::from_secs_f64(self.file.runtime.stall_timeout_s),
            trace_sample: self.file.trace.sample,
        }
    }

    /// The predictive-coding actors' configuration (for `pc` and `zil`), given the number of
    /// training examples (for the learning-rate schedule's length).
    pub fn pc_config(&self, train_examples: usize) -> crate::learn::pc_layer::PcConfig {
        let f = &self.file;
        let a = &f.algorithm;
        let zil = a.kind == AlgorithmKind::Zil;
        let batches = train_examples.div_ceil(f.train.batch_size) * f.train.epochs;
        crate::learn::pc_layer::PcConfig {
            zil,
            steps: a.inference_steps,
            gamma: a.inference_rate.unwrap_or(if zil { 1.0 } else { 0.1 }) as f32,
            forward_init: a.forward_init,
            update_before_feedback: a.update_before_feedback,
            feedback: a.feedback,
            kp_decay: a.kp_decay as f32,
            kp_init: a.kp_init,
            shards: f.runtime.shards,
            loss: f.train.loss,
            activation: f.network.activation,
            optimizer: crate::math::optimizer::OptimizerConfig {
                kind: f.train.optimizer,
                momentum: self.momentum,
                ..crate::math::optimizer::OptimizerConfig::default()
            },
            lr: self.lr,
            schedule: f.train.schedule,
            total_batches: batches,
            check_gradients: f.compare.check_gradients,
            asynchronous: (f.runtime.schedule == TimeSchedule::Async).then(|| {
                crate::learn::pc_layer::AsyncSchedule {
                    settle_tolerance: f.runtime.settle_tolerance as f32,
                    max_updates: if f.runtime.max_updates == 0 {
                        a.inference_steps.max(1) as u64
                    } else {
                        f.runtime.max_updates as u64
                    },
                    faults: f.faults.links(),
                    seed: f.seed,
                    quiet: std::time::Duration::from_secs_f64(f.runtime.settle_quiet_ms * 1e-3),
                }
            }),
            ep: matches!(a.kind, AlgorithmKind::Ep | AlgorithmKind::Cep).then(|| {
                crate::learn::ep::EpConfig {
                    continual: a.kind == AlgorithmKind::Cep,
                    free_steps: a.free_steps,
                    nudged_steps: a.nudged_steps,
                    beta: a.beta as f32,
                    random_sign_beta: a.random_sign_beta,
                    step: a.step as f32,
                    layer_lr: match &a.layer_lr {
                        Some(r) => r.iter().map(|&v| v as f32).collect(),
                        None => vec![self.lr; f.network.layers.len() - 1],
                    },
                }
            }),
        }
    }

    /// The resolved scenario as TOML (defaults filled in).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(&self.file).expect("a validated scenario always serialises")
    }
}

fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_round_trip() {
        let s = Scenario::from_toml("").expect("defaults are valid");
        assert_eq!(s.file.network.layers, vec![784, 256, 256, 10]);
        let again = Scenario::from_toml(&s.to_toml()).expect("resolved file reloads");
        assert_eq!(again.file, s.file);
    }

    #[test]
    fn errors_name_key_value_and_rule() {
        let e = Scenario::from_toml("[train]\nlr = nan\n").expect_err("NaN lr");
        assert_eq!(
            e.to_string(),
            "train.lr = NaN: must be a finite number > 0 (and < 1000)"
        );
        let e = Scenario::from_toml("[train]\nlr = -0.1\n").expect_err("negative lr");
        assert!(e.to_string().starts_with("train.lr = -0.1:"), "{e}");
        let e = Scenario::from_toml("[train]\nlearning_rate = 0.1\n").expect_err("unknown key");
        assert!(
            e.to_string().contains("unknown field `learning_rate`"),
            "{e}"
        );
        let e = Scenario::from_toml("[train]\nepochs = \"ten\"\n").expect_err("wrong type");
        assert!(e.to_string().contains("epochs"), "{e}");
        let e =
            Scenario::from_toml("[network]\nactivation = \"gelu\"\n").expect_err("unknown name");
        assert!(e.to_string().contains("relu"), "{e}");
    }

    #[test]
    fn overrides_set_nested_keys() {
        let mut t: toml::Table = "[train]\nepochs = 3\n".parse().expect("valid toml");
        apply_override(&mut t, "train.epochs=1").expect("ok");
        apply_override(&mut t, "network.layers=[784,64,10]").expect("ok");
        apply_override(&mut t, "train.optimizer=sgd").expect("ok");
        let f: ScenarioFile = toml::Value::Table(t).try_into().expect("valid scenario");
        assert_eq!(f.train.epochs, 1);
        assert_eq!(f.network.layers, vec![784, 64, 10]);
        assert_eq!(f.train.optimizer, OptimizerKind::Sgd);
        let mut t = toml::Table::new();
        assert!(apply_override(&mut t, "train.epochs").is_err());
        assert!(apply_override(&mut t, "seed=1").is_ok());
        assert!(apply_override(&mut t, "seed.x=1").is_err());
    }

    #[test]
    fn data_mismatch_says_both_numbers() {
        let s = Scenario::from_toml("[network]\nlayers = [100, 10]\n").expect("valid");
        let e = s.check_data(28, 28, 10).expect_err("mismatch");
        assert_eq!(
            e.to_string(),
            "network.layers[0] = 100: must equal the data's image size, 28x28 = 784 pixels"
        );
    }
}

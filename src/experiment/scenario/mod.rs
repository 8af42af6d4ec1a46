//! Scenarios: the TOML files that describe a run, their overrides, and their validation.
//!
//! [`ScenarioFile`] is the raw form: exactly the file's keys (unknown keys are errors), every
//! key optional with the default documented on its field. Each section is its own file here,
//! its struct beside the `validate` that checks it ([`data`], [`network`], [`train`],
//! [`algorithm`], [`runtime`] with `[trace]`, [`faults`], [`cuba`], [`microcircuit`], [`convert`], [`compare`]
//! with `[checkpoint]`); this module checks what combines sections. [`Scenario`] is the
//! validated form the rest of axon takes: numbers are in range, names are known, nothing is
//! `NaN`, and it hands out resolved values and configurations, not raw fields.
//! [`Scenario::load`] ([`load`]) reads a file, applies `--set key=value` overrides by dotted
//! path, and validates. The resolved file (defaults filled in) is what a run saves beside its
//! results.

pub mod algorithm;
pub mod compare;
pub mod convert;
pub mod cuba;
pub mod data;
pub mod faults;
pub mod load;
pub mod microcircuit;
pub mod network;
pub mod probe;
#[cfg(test)]
mod reference_ranges;
#[cfg(test)]
mod reference_tests;
mod resolve;
pub mod runtime;
pub mod setup;
pub mod spc;
pub mod stdp;
#[cfg(test)]
mod tests;
pub mod train;
mod unused;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use algorithm::{AlgorithmKind, AlgorithmSection};
pub use compare::{Baseline, CheckpointSection, CompareSection};
pub use convert::{ConvertSection, InputCoding};
pub use cuba::CubaSection;
pub use data::DataSection;
pub use faults::FaultsSection;
pub use load::apply_override;
pub use microcircuit::{Drive, MicrocircuitSection};
pub use network::NetworkSection;
pub use probe::ProbeSection;
pub use runtime::{RuntimeSection, TimeSchedule, TraceSection};
pub use setup::{ExecutorChoice, Setup};
pub use spc::SpcSection;
pub use stdp::{PlasticitySection, StdpMnistSection};
pub use train::TrainSection;

use crate::math::activation::Activation;
use crate::math::loss::Loss;

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

/// The most epochs (and checkpoint interval in batches) a scenario may ask for.
const MAX_EPOCHS: usize = 1_000_000;

fn invalid(key: &str, value: impl std::fmt::Display, rule: &str) -> ScenarioError {
    ScenarioError::Invalid {
        key: key.to_owned(),
        value: value.to_string(),
        rule: rule.to_owned(),
    }
}

fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else {
        v.to_string()
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
    pub cuba: CubaSection,
    /// The cortical microcircuit, for `algorithm.kind = "microcircuit"`.
    pub microcircuit: MicrocircuitSection,
    /// Diehl & Cook's network, for `algorithm.kind = "stdp-mnist"`.
    pub stdp_mnist: StdpMnistSection,
    /// `[spc]`: spiking predictive coding.
    pub spc: SpcSection,
    /// The plastic synapses' rule (`stdp-mnist`).
    pub plasticity: PlasticitySection,
    /// ANN-to-SNN conversion, for `algorithm.kind = "snn-convert"`.
    pub convert: ConvertSection,
    /// Resumable checkpoints of actor training runs.
    pub checkpoint: CheckpointSection,
    /// Fault injection into actor runs.
    pub faults: FaultsSection,
    /// `[[probe]]`: state variables the actors record.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub probe: Vec<ProbeSection>,
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
            cuba: CubaSection::default(),
            microcircuit: MicrocircuitSection::default(),
            stdp_mnist: StdpMnistSection::default(),
            spc: SpcSection::default(),
            plasticity: PlasticitySection::default(),
            convert: ConvertSection::default(),
            checkpoint: CheckpointSection::default(),
            faults: FaultsSection::default(),
            probe: Vec::new(),
        }
    }
}

/// A validated scenario: every field is in range. It hands out resolved values and
/// configurations; the raw form is only saved ([`Scenario::to_toml`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The resolved raw form (defaults filled in), as saved beside results.
    file: ScenarioFile,
    /// Run name (never empty, safe in a file name).
    name: String,
    /// Threads to use, >= 1.
    workers: usize,
    /// The executor, workers and shards (`runtime.executor = "auto"` resolved).
    setup: Setup,
}

impl ScenarioFile {
    /// The run name (`axon` when none is given), checked: it names the run folder.
    fn checked_name(&self) -> Result<String, ScenarioError> {
        let name = self.name.clone().unwrap_or_else(|| "axon".to_owned());
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
        Ok(name)
    }

    /// `[plasticity]` against the model: `stdp-mnist` learns on its input, `cuba` and the
    /// microcircuit on the projections `on` names, and nothing else has plastic synapses.
    fn check_plasticity(&self) -> Result<(), ScenarioError> {
        let p = &self.plasticity;
        let rule = p.plasticity()?;
        match self.algorithm.kind {
            AlgorithmKind::StdpMnist => p.check_stdp_mnist(),
            AlgorithmKind::Cuba | AlgorithmKind::Microcircuit => {
                if p.on.is_none() && rule != crate::spike::plasticity::Plasticity::diehl_cook() {
                    return Err(invalid(
                        "plasticity.on",
                        "unset",
                        "names the synapses that learn, e.g. on = [\"E->E\"]; without it \
                         [plasticity] would do nothing",
                    ));
                }
                self.plastic_projections().map(|_| ())
            }
            kind if p.on.is_some()
                || rule != crate::spike::plasticity::Plasticity::diehl_cook() =>
            {
                Err(invalid(
                    "plasticity",
                    "set",
                    &format!(
                        "algorithm.kind = \"{}\" has no plastic synapses (stdp-mnist, cuba and \
                         microcircuit do); remove [plasticity]",
                        kind.name()
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// The plastic projections of `cuba` or the microcircuit (`None`: none learn).
    fn plastic_projections(
        &self,
    ) -> Result<Option<crate::spike::plasticity::PlasticProjections>, ScenarioError> {
        let kind = self.algorithm.kind;
        let populations: Vec<stdp::NamedPopulation> = match kind {
            AlgorithmKind::Cuba => {
                let n = self.cuba.neurons as u32;
                let e = self.cuba.neurons as u32 * 4 / 5;
                vec![("E", 0..e, true), ("I", e..n, false)]
            }
            AlgorithmKind::Microcircuit => {
                use crate::models::microcircuit::model::{is_excitatory, POPULATIONS};
                let starts = self.microcircuit.config().model().starts();
                (0..8)
                    .map(|p| {
                        let r = starts[p] as u32..starts[p + 1] as u32;
                        (POPULATIONS[p], r, is_excitatory(p))
                    })
                    .collect()
            }
            _ => return Ok(None),
        };
        self.plasticity.projections(kind.name(), &populations)
    }
}

/// The most shards `runtime.executor = "auto"` gives the model: spiking networks one per
/// [`SYNAPSES_PER_SHARD`] synapses; layer actors one per [`ROWS_PER_SHARD`] neurons of the
/// narrowest hidden layer (smaller shards were measured slower than one); anything else one.
fn auto_shard_limit(f: &ScenarioFile) -> usize {
    let kind = f.algorithm.kind;
    let synapses = match kind {
        AlgorithmKind::Cuba => {
            let n = f.cuba.neurons as f64;
            Some((n * n * f.cuba.p_connect) as u64)
        }
        AlgorithmKind::Microcircuit => Some(f.microcircuit.config().model().total_synapses()),
        AlgorithmKind::StdpMnist => Some(784 * f.stdp_mnist.n_exc as u64),
        _ => None,
    };
    if let Some(synapses) = synapses {
        return usize::try_from(synapses / SYNAPSES_PER_SHARD)
            .unwrap_or(usize::MAX)
            .max(1);
    }
    let layers = &f.network.layers;
    if !kind.is_layer_actors() || layers.len() < 3 {
        return 1;
    }
    let narrowest = layers[1..layers.len() - 1]
        .iter()
        .copied()
        .min()
        .unwrap_or(0);
    (narrowest / ROWS_PER_SHARD).max(1)
}

/// Neurons a layer shard keeps at the least under `runtime.executor = "auto"`: two shards of
/// 128 (pc-mnist's 256-wide layers) ran 1.5x faster than one actor on 2 cores, two of 64
/// (the quickstart's 128) 2.3x slower.
pub const ROWS_PER_SHARD: usize = 128;

/// Synapses a population shard holds at the least under `runtime.executor = "auto"`: CUBA at
/// 4,000 neurons (320,000 synapses, 15-25 ms of work a simulated second) ran no faster on two
/// shards than on one, CUBA at 40,000 (3.2 M) and the microcircuit at 0.1 scale ran 1.3-1.7x
/// faster.
pub const SYNAPSES_PER_SHARD: u64 = 1_000_000;

impl Scenario {
    /// Checks every section of a raw scenario, then what combines sections. The first
    /// problem found is the error.
    pub fn validate(mut file: ScenarioFile) -> Result<Self, ScenarioError> {
        let name = file.checked_name()?;
        file.name = Some(name.clone());
        let f = &file;
        f.check_unused()?;
        f.data.validate()?;
        f.network.validate()?;
        f.train.validate()?;
        f.algorithm.validate(&f.network)?;
        f.algorithm
            .check_ep_fits(&f.network, &f.train, &f.compare)?;
        f.cuba.validate()?;
        f.microcircuit.validate(f.algorithm.kind)?;
        f.stdp_mnist.validate()?;
        if f.algorithm.kind == AlgorithmKind::Spc {
            f.spc.validate(f.algorithm.feedback)?;
        } else if f.compare.baseline == Baseline::Pc {
            return Err(invalid(
                "compare.baseline",
                "\"pc\"",
                "only algorithm.kind = \"spc\" compares with rate PC; use \"bp\" or \"none\"",
            ));
        }
        f.check_plasticity()?;
        f.convert.validate()?;
        f.runtime.validate()?;
        f.checkpoint.validate()?;
        f.faults.validate(f.network.weight_layers())?;
        f.runtime.check_schedule(&f.faults, f.algorithm.kind)?;
        f.runtime.validate_settling()?;
        f.faults.validate_panic_after()?;
        let workers = f.runtime.resolve_workers()?;
        let most = auto_shard_limit(f);
        let setup = Setup::resolve(f.runtime.executor, workers, f.runtime.shards, most);
        let scenario = Self {
            name,
            workers,
            file,
            setup,
        };
        scenario.check_shard_ranks()?;
        scenario.check_probes()?;
        scenario.file.check_unused_keys()?;
        Ok(scenario)
    }

    /// `[[probe]]`s resolve, on actors that record them (population shards, layer actors).
    fn check_probes(&self) -> Result<(), ScenarioError> {
        let plans = self.file.probe_plans()?;
        let f = &self.file;
        if !plans.is_empty() && f.runtime.schedule == TimeSchedule::Async {
            return Err(invalid(
                "probe",
                "set",
                "probes record layers under the lockstep schedule; remove runtime.schedule = \"async\" or the probes",
            ));
        }
        if !plans.is_empty() && f.algorithm.kind == AlgorithmKind::Cuba {
            let n = f.cuba.neurons;
            if self.shards() >= n && n > 1 {
                return Err(invalid(
                    "probe",
                    "set",
                    "probes record population shards; one actor per neuron (runtime.shards =                      cuba.neurons) records none yet: set runtime.shards below cuba.neurons",
                ));
            }
        }
        Ok(())
    }

    /// What the `[[probe]]`s record (validated).
    pub fn probes(&self) -> Vec<crate::message::probe::ProbePlan> {
        self.file.probe_plans().expect("validated")
    }

    /// `runtime.shard_ranks` gives one rank per unit spread over ranks, if any.
    fn check_shard_ranks(&self) -> Result<(), ScenarioError> {
        let (pinned, units) = (self.shard_ranks(), self.rank_units());
        if pinned.is_empty() || pinned.len() == units {
            return Ok(());
        }
        let what = if self.kind().is_layer_actors() {
            "layer shards (runtime.shards per hidden layer, one output shard)"
        } else {
            "population shards (runtime.shards)"
        };
        Err(invalid(
            "runtime.shard_ranks",
            format!("{pinned:?}"),
            &format!(
                "must give one rank per shard: {} entries for {units} {what}",
                pinned.len()
            ),
        ))
    }

    /// Run name (never empty, safe in a file name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Seed of every random choice (weights, data order).
    pub fn seed(&self) -> u64 {
        self.file.seed
    }

    /// The same scenario with another seed (any seed is valid).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.file.seed = seed;
        self
    }

    /// Threads to use, >= 1 (`runtime.workers`, or all cores).
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The learning algorithm.
    pub fn kind(&self) -> AlgorithmKind {
        self.file.algorithm.kind
    }

    /// Where the data comes from (validated).
    pub fn data(&self) -> &DataSection {
        &self.file.data
    }

    /// The network's shape (validated: at least two widths, none zero).
    pub fn network(&self) -> &NetworkSection {
        &self.file.network
    }

    /// Layer widths, input and output included.
    pub fn layers(&self) -> &[usize] {
        &self.file.network.layers
    }

    /// The hidden activation.
    pub fn activation(&self) -> Activation {
        self.file.network.activation
    }

    /// Passes over the training set, >= 1.
    pub fn epochs(&self) -> usize {
        self.file.train.epochs
    }

    /// Examples per minibatch, >= 1.
    pub fn batch_size(&self) -> usize {
        self.file.train.batch_size
    }

    /// The loss.
    pub fn loss(&self) -> Loss {
        self.file.train.loss
    }

    /// Whether the synchronous backprop baseline also trains.
    pub fn baseline(&self) -> Baseline {
        self.file.compare.baseline
    }

    /// A spiking PC scenario's rate-coded twin (`compare.baseline = "pc"`): the same file as
    /// `algorithm.kind = "pc"`, with no baseline of its own.
    pub fn rate_pc_twin(&self) -> Result<Scenario, ScenarioError> {
        let mut f = self.file.clone();
        f.algorithm.kind = AlgorithmKind::Pc;
        f.compare.baseline = Baseline::None;
        f.spc = SpcSection::default();
        Scenario::validate(f)
    }

    /// Actors per hidden layer (population actors for `cuba`), >= 1.
    pub fn shards(&self) -> usize {
        self.setup.shards
    }

    /// The executor, workers and shards this run uses (`auto` resolved).
    pub fn setup(&self) -> Setup {
        self.setup
    }

    /// What spreads over MPI ranks, one or more per rank: population shards for spiking
    /// networks, layer shards for the layer actors (a hidden layer has `runtime.shards` of
    /// them, at most one per neuron; the output layer one).
    pub fn rank_units(&self) -> usize {
        if !self.kind().is_layer_actors() {
            return self.shards();
        }
        let widths = self.layers();
        (1..widths.len())
            .map(|l| {
                if l + 1 == widths.len() {
                    1
                } else {
                    self.shards().clamp(1, widths[l])
                }
            })
            .sum()
    }

    /// Diehl & Cook's network (`[stdp_mnist]` and `[plasticity]`, validated) as the model
    /// takes it.
    pub fn stdp_mnist(&self) -> crate::models::diehl_cook::DiehlCookConfig {
        self.file
            .plasticity
            .config(&self.file.stdp_mnist)
            .expect("validated")
    }

    /// The CUBA network (`[cuba]` and `[plasticity]`, validated) as the model takes it.
    pub fn cuba(&self) -> crate::models::cuba::CubaConfig {
        let mut c = self.file.cuba.config();
        c.plasticity = self.file.plastic_projections().expect("validated");
        c.probes.plans = self.probes();
        c
    }

    /// The rank of each population shard, or of each layer shard, across MPI ranks (empty:
    /// balanced).
    pub fn shard_ranks(&self) -> &[usize] {
        &self.file.runtime.shard_ranks
    }

    /// The cortical microcircuit (`[microcircuit]`, validated) as the model takes it.
    pub fn microcircuit(&self) -> crate::models::microcircuit::MicrocircuitConfig {
        let mut c = self.file.microcircuit.config();
        c.plasticity = self.file.plastic_projections().expect("validated");
        c.probes.plans = self.probes();
        c
    }

    /// The conversion's settings (validated; [`ConvertSection::sorted_ticks`] and
    /// [`ConvertSection::input`] resolve them).
    pub fn convert(&self) -> &ConvertSection {
        &self.file.convert
    }

    /// Save a resumable checkpoint after every this many training batches (0: at epoch ends).
    pub fn checkpoint_every(&self) -> usize {
        self.file.checkpoint.every_batches
    }

    /// The actor that panics on purpose, and the training batches it finishes first.
    pub fn panic(&self) -> Option<(String, usize)> {
        self.file.faults.panic()
    }

    /// The resolved scenario as TOML (defaults filled in).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(&self.file).expect("a validated scenario always serialises")
    }
}

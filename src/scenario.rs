//! Scenarios: the TOML files that describe a run, their overrides, and their validation.
//!
//! [`ScenarioFile`] is the raw form: exactly the file's keys (unknown keys are errors), every
//! key optional with the default documented on its field. [`Scenario`] is the validated form
//! the rest of axon takes: numbers are in range, names are known, and nothing is `NaN`.
//! [`Scenario::load`] reads a file, applies `--set key=value` overrides by dotted path, and
//! validates. The resolved file (defaults filled in) is what a run saves beside its results.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::loss::Loss;
use crate::mlp::Init;
use crate::optimizer::{OptimizerKind, Schedule};

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
}

impl AlgorithmKind {
    /// The scenario name.
    pub fn name(self) -> &'static str {
        match self {
            AlgorithmKind::Bp => "bp",
        }
    }
}

/// `[algorithm]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlgorithmSection {
    /// `bp`. Default `bp`.
    pub kind: AlgorithmKind,
}

impl Default for AlgorithmSection {
    fn default() -> Self {
        Self {
            kind: AlgorithmKind::Bp,
        }
    }
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
}

impl Default for RuntimeSection {
    fn default() -> Self {
        Self {
            workers: None,
            executor: crate::runtime::Executor::Tokio,
            mailbox_capacity: 1024,
            stall_timeout_s: 10.0,
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
    /// Reads `path`, applies `overrides` (`KEY=VALUE`, dotted keys) and validates.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.to_owned(),
            source,
        })?;
        let parse_err = |message: String| ScenarioError::Parse {
            path: path.to_owned(),
            message,
        };
        let mut file: ScenarioFile = if overrides.is_empty() {
            toml::from_str(&text).map_err(|e| parse_err(e.to_string()))?
        } else {
            let mut table: toml::Table = text
                .parse()
                .map_err(|e: toml::de::Error| parse_err(e.to_string()))?;
            for o in overrides {
                apply_override(&mut table, o)?;
            }
            let merged = toml::to_string(&table).map_err(|e| parse_err(e.to_string()))?;
            toml::from_str(&merged).map_err(|e| parse_err(format!("after --set overrides: {e}")))?
        };
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
        let t = &file.train;
        if t.epochs == 0 {
            return Err(invalid("train.epochs", 0, "must be >= 1"));
        }
        if t.batch_size == 0 {
            return Err(invalid("train.batch_size", 0, "must be >= 1"));
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
        if file.runtime.mailbox_capacity == 0 {
            return Err(invalid("runtime.mailbox_capacity", 0, "must be >= 1"));
        }
        let stall = file.runtime.stall_timeout_s;
        if !(stall.is_finite() && stall > 0.0 && stall <= 86_400.0) {
            return Err(invalid(
                "runtime.stall_timeout_s",
                fmt_f64(stall),
                "must be a finite number of seconds > 0 (and at most 86400)",
            ));
        }
        let workers = match file.runtime.workers {
            Some(0) => {
                return Err(invalid(
                    "runtime.workers",
                    0,
                    "must be >= 1 (leave it out to use all cores)",
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

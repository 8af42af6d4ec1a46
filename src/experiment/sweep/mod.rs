//! Scenario sweeps: a scenario's `[sweep]` table, the combinations it expands to, running them
//! in parallel, and the sweep folder's summary (`sweep.json`, `sweep.md`, `sweep-KEY.png`).
//!
//! ```toml
//! [sweep]
//! "algorithm.feedback" = ["transpose", "kolen-pollack", "random", "direct"]
//! "train.lr" = [0.001, 0.003]
//! ```
//! Each key is a dotted scenario path, each value a non-empty array. The sweep is their
//! cartesian product, first key outermost, keys in file order. Each combination is the base
//! scenario (the file without `[sweep]`, `--set` overrides applied) with the combination's
//! values applied as further overrides ([`crate::experiment::scenario::apply_override`]). [`Sweep::load`]
//! validates every combination before anything runs; [`Sweep::run`] runs them, `jobs` at a
//! time, each into its own run folder `SWEEP_DIR/KEY=VALUE,KEY=VALUE/` (the last component of
//! each key), and rewrites `sweep.json` and `sweep.md` after every finished combination. A
//! failing combination does not stop the others.

mod run;
mod table;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use crate::data::dataset::Dataset;
use crate::experiment::plot::PlotError;
use crate::experiment::run::RunError;
use crate::experiment::run_dir::RunDirError;
use crate::experiment::scenario::{apply_override, DataSection, Scenario, ScenarioError};

/// The most combinations a sweep may have.
pub const MAX_COMBINATIONS: usize = 10_000;

/// Longest combination folder name before it is shortened (and numbered).
const MAX_FOLDER: usize = 150;

/// What is wrong with a sweep, or why it could not finish.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The base scenario cannot be read or parsed, or a `--set` override is malformed.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The `[sweep]` table is malformed.
    #[error("{path}: [sweep] {message}")]
    Table {
        /// The scenario file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A combination is not a valid scenario, or does not fit its data.
    #[error("[sweep] combination {number} of {total} ({assignments}): {source}")]
    Combination {
        /// 1-based position in combination order.
        number: usize,
        /// Number of combinations.
        total: usize,
        /// The combination's values, `KEY = VALUE, ...`.
        assignments: String,
        /// What is wrong.
        source: Box<RunError>,
    },
    /// The sweep folder or its tables could not be written.
    #[error(transparent)]
    Output(#[from] RunDirError),
    /// A sweep plot could not be drawn.
    #[error(transparent)]
    Plot(#[from] PlotError),
}

impl SweepError {
    /// Whether the user's input caused the failure (the CLI exits with 2), as opposed to the
    /// machine (1).
    pub fn is_bad_input(&self) -> bool {
        match self {
            SweepError::Scenario(_) | SweepError::Table { .. } => true,
            SweepError::Combination { source, .. } => source.is_bad_input(),
            SweepError::Output(e) => matches!(e, RunDirError::NotEmpty { .. }),
            SweepError::Plot(_) => false,
        }
    }
}

/// One point of a sweep: its values and the validated scenario they make.
#[derive(Clone, Debug, PartialEq)]
pub struct Combination {
    /// 1-based position in combination order.
    pub number: usize,
    /// `(dotted key, value)` for every swept key, in file order.
    pub values: Vec<(String, toml::Value)>,
    /// Subfolder of the sweep folder this combination's run writes (see [`folder_name`]).
    pub folder: String,
    /// The base scenario with this combination's values applied.
    pub scenario: Scenario,
}

/// A scenario file with a `[sweep]` table, expanded and validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Sweep {
    /// The scenario file.
    pub path: PathBuf,
    /// The swept keys (dotted paths), in file order.
    pub keys: Vec<String>,
    /// Each key's values, in file order.
    pub values: Vec<Vec<toml::Value>>,
    /// Every combination, first key outermost.
    pub combinations: Vec<Combination>,
}

/// How a sweep runs.
#[derive(Clone, Debug, Default)]
pub struct SweepOptions {
    /// The sweep folder; default `runs/NAME-TIMESTAMP`.
    pub out: Option<PathBuf>,
    /// Combinations run at once (at least 1).
    pub jobs: usize,
    /// Set it (Ctrl-C) to stop: running combinations stop gracefully (as a single run does,
    /// with a final checkpoint) and no new one starts.
    pub stop: Option<std::sync::Arc<AtomicBool>>,
}

/// Where a combination stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RowStatus {
    /// Not started.
    Pending,
    /// Started, not finished (an interrupted sweep leaves these).
    Running,
    /// Finished.
    Complete,
    /// Stopped with an error (`error` says which).
    Failed,
}

impl RowStatus {
    /// The status's name in `sweep.json`.
    pub fn name(self) -> &'static str {
        match self {
            RowStatus::Pending => "pending",
            RowStatus::Running => "running",
            RowStatus::Complete => "complete",
            RowStatus::Failed => "failed",
        }
    }
}

/// What one model of a combination reached.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelRow {
    /// Test accuracy after the last epoch.
    pub test_accuracy: Option<f64>,
    /// Epochs trained.
    pub epochs: usize,
    /// Training seconds over all epochs.
    pub wall_s: f64,
}

/// One combination in `sweep.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepRow {
    /// 1-based position in combination order.
    pub combination: usize,
    /// The combination's run folder, relative to the sweep folder.
    pub folder: String,
    /// Swept key (dotted) to value.
    pub values: BTreeMap<String, serde_json::Value>,
    /// `pending`, `running`, `complete` or `failed`.
    pub status: RowStatus,
    /// Why a failed combination failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The combination's `algorithm.kind` (the model whose traffic `messages` counts).
    pub algorithm: String,
    /// Per model label (`bp`, `pc`, ...), once complete.
    pub models: BTreeMap<String, ModelRow>,
    /// `traffic.weight_transport_bytes` of the run, when it used actors.
    pub weight_transport_bytes: Option<u64>,
    /// `traffic.totals.messages`.
    pub messages: Option<u64>,
    /// `traffic.totals.bytes`.
    pub bytes: Option<u64>,
    /// Wall seconds of the whole run (data loading, training, evaluation, files).
    pub run_s: Option<f64>,
}

/// What a finished sweep reports.
#[derive(Clone, Debug)]
pub struct SweepSummary {
    /// The sweep folder.
    pub dir: PathBuf,
    /// One row per combination, in combination order.
    pub rows: Vec<SweepRow>,
    /// `sweep.md`'s text.
    pub markdown: String,
    /// The plots written, one per swept key.
    pub plots: Vec<PathBuf>,
}

impl SweepSummary {
    /// Number of failed combinations.
    pub fn failed(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.status == RowStatus::Failed)
            .count()
    }
}

/// Combinations to run at once by default: the cores divided by the threads each run uses
/// (`workers_per_run`, a scenario's resolved `runtime.workers`), at least 1.
pub fn default_jobs(workers_per_run: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / workers_per_run.max(1)).max(1)
}

/// A swept value as a short label: strings bare, arrays joined by `-`, others as JSON.
pub fn value_label(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => {
            items.iter().map(value_label).collect::<Vec<_>>().join("-")
        }
        other => other.to_string(),
    }
}

/// A TOML value as JSON (non-finite floats and datetimes become strings).
pub fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or_else(|| J::String(f.to_string()), J::Number)
        }
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

fn last_component(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

/// The run folder name of a combination: `KEY=VALUE` per swept key joined by `,`, with the
/// last dotted component of each key and every character outside `[A-Za-z0-9._=,-]` replaced
/// by `_`, e.g. `feedback=kolen-pollack,lr=0.001`. [`Sweep`] numbers names that are too long
/// or that two combinations share.
pub fn folder_name(values: &[(String, toml::Value)]) -> String {
    values
        .iter()
        .map(|(k, v)| format!("{}={}", last_component(k), value_label(&toml_to_json(v))))
        .collect::<Vec<_>>()
        .join(",")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '=' | ',' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `KEY = VALUE, ...` for error messages.
fn assignments(values: &[(String, toml::Value)]) -> String {
    values
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The values of combination `index` (0-based): first key outermost.
fn combination_values(
    keys: &[String],
    values: &[Vec<toml::Value>],
    mut index: usize,
) -> Vec<(String, toml::Value)> {
    let mut picked = vec![0; keys.len()];
    for (k, vs) in values.iter().enumerate().rev() {
        picked[k] = index % vs.len();
        index /= vs.len();
    }
    keys.iter()
        .zip(values)
        .zip(picked)
        .map(|((k, vs), i)| (k.clone(), vs[i].clone()))
        .collect()
}

/// Where each leaf key of the `[sweep]` table starts in `text` (dotted key to byte offset):
/// `toml::Table` keeps keys sorted, the file's order comes from the parser's spans.
fn key_offsets(text: &str) -> HashMap<String, usize> {
    fn walk(prefix: &str, t: &toml::de::DeTable<'_>, out: &mut HashMap<String, usize>) {
        for (k, v) in t.iter() {
            let key = if prefix.is_empty() {
                k.get_ref().to_string()
            } else {
                format!("{prefix}.{}", k.get_ref())
            };
            match v.get_ref() {
                toml::de::DeValue::Table(inner) => walk(&key, inner, out),
                _ => {
                    out.insert(key, k.span().start);
                }
            }
        }
    }
    let mut out = HashMap::new();
    if let Ok(doc) = toml::de::DeTable::parse(text) {
        for (k, v) in doc.get_ref().iter() {
            if k.get_ref().as_ref() == "sweep" {
                if let toml::de::DeValue::Table(t) = v.get_ref() {
                    walk("", t, &mut out);
                }
            }
        }
    }
    out
}

/// Flattens the `[sweep]` table into `(dotted key, value)`: an unquoted dotted key
/// (`algorithm.feedback = [...]`) is a nested table.
fn flatten(prefix: &str, table: toml::Table, out: &mut Vec<(String, toml::Value)>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(inner) => flatten(&key, inner, out),
            other => out.push((key, other)),
        }
    }
}

/// The `[sweep]` table's keys in file order and each key's values, checked: dotted paths
/// that can be swept, each once, each a non-empty array of distinct values, and at most
/// [`MAX_COMBINATIONS`] combinations.
fn swept_keys(
    path: &Path,
    text: &str,
    table: toml::Value,
) -> Result<(Vec<String>, Vec<Vec<toml::Value>>), SweepError> {
    let bad = |message: String| SweepError::Table {
        path: path.to_owned(),
        message,
    };
    let toml::Value::Table(table) = table else {
        return Err(bad(
            "must be a table of \"KEY\" = [VALUES], e.g. \"train.lr\" = [0.001, 0.01]".into(),
        ));
    };
    let mut entries = Vec::new();
    flatten("", table, &mut entries);
    if entries.is_empty() {
        return Err(bad(
            "has no keys; add \"KEY\" = [VALUES], e.g. \"train.lr\" = [0.001, 0.01]".into(),
        ));
    }
    let offsets = key_offsets(text);
    entries.sort_by_key(|(k, _)| offsets.get(k).copied().unwrap_or(usize::MAX));
    let mut keys = Vec::new();
    let mut values = Vec::new();
    let mut total: usize = 1;
    for (key, value) in entries {
        let list = swept_values(&key, value, &keys).map_err(bad)?;
        total = total.saturating_mul(list.len());
        keys.push(key);
        values.push(list);
    }
    if total > MAX_COMBINATIONS {
        let sizes: Vec<String> = values.iter().map(|v| v.len().to_string()).collect();
        return Err(bad(format!(
            "{} combinations ({}): at most {MAX_COMBINATIONS}",
            if total == usize::MAX {
                "too many".to_owned()
            } else {
                total.to_string()
            },
            sizes.join(" x ")
        )));
    }
    Ok((keys, values))
}

/// One swept key's values, checked (`earlier`: the keys before it); the error is the
/// `[sweep]` table's message.
fn swept_values(
    key: &str,
    value: toml::Value,
    earlier: &[String],
) -> Result<Vec<toml::Value>, String> {
    if key.split('.').any(str::is_empty) {
        return Err(format!(
            "\"{key}\": a key must be a dotted scenario path such as \"train.lr\""
        ));
    }
    if key == "name" || key == "sweep" || key.starts_with("sweep.") {
        return Err(format!(
            "\"{key}\" cannot be swept (every combination shares the name; its folder \
             is named from its values)"
        ));
    }
    if earlier.iter().any(|k| k == key) {
        return Err(format!("\"{key}\" is given twice"));
    }
    let toml::Value::Array(list) = value else {
        return Err(format!(
            "\"{key}\" = {value}: must be an array of values, e.g. \"{key}\" = [{value}]"
        ));
    };
    if list.is_empty() {
        return Err(format!("\"{key}\" = []: must list at least one value"));
    }
    for (i, v) in list.iter().enumerate() {
        if list[..i].contains(v) {
            return Err(format!("\"{key}\": the value {v} is listed twice"));
        }
    }
    Ok(list)
}

/// Every combination of `values` applied to `base`, validated, first key outermost.
fn expand(
    path: &Path,
    base: &toml::Table,
    keys: &[String],
    values: &[Vec<toml::Value>],
) -> Result<Vec<Combination>, SweepError> {
    let total = values.iter().map(Vec::len).product();
    let mut combinations = Vec::with_capacity(total);
    for index in 0..total {
        let picked = combination_values(keys, values, index);
        let combination_err = |source: RunError| SweepError::Combination {
            number: index + 1,
            total,
            assignments: assignments(&picked),
            source: Box::new(source),
        };
        let mut table = base.clone();
        for (k, v) in &picked {
            apply_override(&mut table, &format!("{k}={v}")).map_err(|e| {
                combination_err(
                    match e {
                        // Not a `--set` argument: say which key and value.
                        ScenarioError::BadOverride { reason, .. } => ScenarioError::Invalid {
                            key: k.clone(),
                            value: v.to_string(),
                            rule: reason,
                        },
                        other => other,
                    }
                    .into(),
                )
            })?;
        }
        let scenario = Scenario::from_table(path, table).map_err(|e| combination_err(e.into()))?;
        combinations.push(Combination {
            number: index + 1,
            folder: folder_name(&picked),
            values: picked,
            scenario,
        });
    }
    Ok(combinations)
}

/// Folder names must be distinct and short: numbers the ones that are not.
fn number_folders(combinations: &mut [Combination]) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for c in combinations.iter() {
        *seen.entry(c.folder.clone()).or_default() += 1;
    }
    for c in combinations.iter_mut() {
        if seen[&c.folder] > 1 || c.folder.len() > MAX_FOLDER {
            c.folder.truncate(MAX_FOLDER - 10);
            c.folder = format!("{}-{}", c.folder, c.number);
        }
    }
}

impl Sweep {
    /// Reads the scenario at `path`: `Ok(None)` if it has no `[sweep]` table, otherwise the
    /// sweep with `overrides` (`--set KEY=VALUE`) applied to the base scenario and every
    /// combination validated.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Option<Self>, SweepError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text, overrides)
    }

    /// [`Sweep::load`] on scenario text; `path` names the file in errors and its stem is the
    /// default name.
    pub fn parse(
        path: &Path,
        text: &str,
        overrides: &[String],
    ) -> Result<Option<Self>, SweepError> {
        let mut base: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ScenarioError::Parse {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?;
        let Some(table) = base.remove("sweep") else {
            return Ok(None);
        };
        let (keys, values) = swept_keys(path, text, table)?;
        for o in overrides {
            apply_override(&mut base, o)?;
        }
        let mut combinations = expand(path, &base, &keys, &values)?;
        number_folders(&mut combinations);
        Ok(Some(Self {
            path: path.to_owned(),
            keys,
            values,
            combinations,
        }))
    }

    /// The run name every combination shares (the sweep folder is `runs/NAME-TIMESTAMP`).
    pub fn name(&self) -> &str {
        self.combinations
            .first()
            .map_or("sweep", |c| c.scenario.name())
    }

    /// The most threads any one combination's run uses (its resolved `runtime.workers`).
    pub fn workers_per_run(&self) -> usize {
        self.combinations
            .iter()
            .map(|c| c.scenario.workers())
            .max()
            .unwrap_or(1)
    }

    /// Loads the data of every combination (each distinct `[data]` section once) and checks
    /// each network against it, as a run would before training.
    pub fn check_data(&self) -> Result<(), SweepError> {
        let total = self.combinations.len();
        let mut loaded: Vec<(DataSection, (usize, usize, usize))> = Vec::new();
        for c in &self.combinations {
            if c.scenario.kind().is_spiking_network() {
                continue;
            }
            let err = |source: RunError| SweepError::Combination {
                number: c.number,
                total,
                assignments: assignments(&c.values),
                source: Box::new(source),
            };
            let shape = match loaded.iter().find(|(d, _)| d == c.scenario.data()) {
                Some(&(_, shape)) => shape,
                None => {
                    let d = c.scenario.data();
                    let data =
                        Dataset::load(&d.dir, &d.load_options()).map_err(|e| err(e.into()))?;
                    let shape = (data.rows, data.cols, data.classes);
                    loaded.push((d.clone(), shape));
                    shape
                }
            };
            c.scenario
                .check_data(shape.0, shape.1, shape.2)
                .map_err(|e| err(e.into()))?;
        }
        Ok(())
    }
}

pub use table::markdown;

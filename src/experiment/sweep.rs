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

use std::collections::{BTreeMap, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::dataset::Dataset;
use crate::experiment::plot::{PlotError, SweepAxis, SweepSeries};
use crate::experiment::run::{RunError, RunOptions, RunSummary, Silent};
use crate::experiment::run_dir::{RunDir, RunDirError};
use crate::experiment::scenario::{
    apply_override, AlgorithmKind, DataSection, Scenario, ScenarioError,
};

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
            if key.split('.').any(str::is_empty) {
                return Err(bad(format!(
                    "\"{key}\": a key must be a dotted scenario path such as \"train.lr\""
                )));
            }
            if key == "name" || key == "sweep" || key.starts_with("sweep.") {
                return Err(bad(format!(
                    "\"{key}\" cannot be swept (every combination shares the name; its folder \
                     is named from its values)"
                )));
            }
            if keys.contains(&key) {
                return Err(bad(format!("\"{key}\" is given twice")));
            }
            let toml::Value::Array(list) = value else {
                return Err(bad(format!(
                    "\"{key}\" = {value}: must be an array of values, e.g. \"{key}\" = [{value}]"
                )));
            };
            if list.is_empty() {
                return Err(bad(format!("\"{key}\" = []: must list at least one value")));
            }
            for (i, v) in list.iter().enumerate() {
                if list[..i].contains(v) {
                    return Err(bad(format!("\"{key}\": the value {v} is listed twice")));
                }
            }
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
        for o in overrides {
            apply_override(&mut base, o)?;
        }
        let mut combinations = Vec::with_capacity(total);
        for index in 0..total {
            let picked = combination_values(&keys, &values, index);
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
            let scenario =
                Scenario::from_table(path, table).map_err(|e| combination_err(e.into()))?;
            combinations.push(Combination {
                number: index + 1,
                folder: folder_name(&picked),
                values: picked,
                scenario,
            });
        }
        // Folder names must be distinct and short: number the ones that are not.
        let mut seen: HashMap<String, usize> = HashMap::new();
        for c in &combinations {
            *seen.entry(c.folder.clone()).or_default() += 1;
        }
        for c in &mut combinations {
            if seen[&c.folder] > 1 || c.folder.len() > MAX_FOLDER {
                c.folder.truncate(MAX_FOLDER - 10);
                c.folder = format!("{}-{}", c.folder, c.number);
            }
        }
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
            .map_or("sweep", |c| c.scenario.name.as_str())
    }

    /// The most threads any one combination's run uses (its resolved `runtime.workers`).
    pub fn workers_per_run(&self) -> usize {
        self.combinations
            .iter()
            .map(|c| c.scenario.workers)
            .max()
            .unwrap_or(1)
    }

    /// Loads the data of every combination (each distinct `[data]` section once) and checks
    /// each network against it, as a run would before training.
    pub fn check_data(&self) -> Result<(), SweepError> {
        let total = self.combinations.len();
        let mut loaded: Vec<(DataSection, (usize, usize, usize))> = Vec::new();
        for c in &self.combinations {
            let f = &c.scenario.file;
            if f.algorithm.kind == AlgorithmKind::Cuba {
                continue;
            }
            let err = |source: RunError| SweepError::Combination {
                number: c.number,
                total,
                assignments: assignments(&c.values),
                source: Box::new(source),
            };
            let shape = match loaded.iter().find(|(d, _)| *d == f.data) {
                Some(&(_, shape)) => shape,
                None => {
                    let d = &f.data;
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

    /// Runs every combination, `opts.jobs` at a time, each into its own folder of the sweep
    /// folder, and writes `sweep.json` and `sweep.md` (after every finished combination) and
    /// one `sweep-KEY.png` per swept key (at the end). `on_done` hears of each finished
    /// combination with the number finished so far. A failed combination is a `failed` row,
    /// not an error; errors are the sweep folder's own.
    pub fn run(
        &self,
        opts: &SweepOptions,
        on_done: &(dyn Fn(usize, &SweepRow) + Sync),
    ) -> Result<SweepSummary, SweepError> {
        let dir = RunDir::create(opts.out.as_deref(), self.name())?;
        let rows: Vec<SweepRow> = self.combinations.iter().map(pending_row).collect();
        write_tables(&dir, &self.keys, &rows)?;
        struct State {
            rows: Vec<SweepRow>,
            finished: usize,
            error: Option<SweepError>,
        }
        let state = Mutex::new(State {
            rows,
            finished: 0,
            error: None,
        });
        let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let jobs = opts.jobs.clamp(1, self.combinations.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..jobs {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let interrupted = opts.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst));
                    if i >= self.combinations.len() || stop.load(Ordering::SeqCst) || interrupted {
                        break;
                    }
                    let c = &self.combinations[i];
                    {
                        let mut s = lock();
                        s.rows[i].status = RowStatus::Running;
                        if let Err(e) = write_tables(&dir, &self.keys, &s.rows) {
                            s.error.get_or_insert(e);
                            stop.store(true, Ordering::SeqCst);
                        }
                    }
                    let start = Instant::now();
                    let out = RunOptions {
                        out: Some(dir.path().join(&c.folder)),
                        stop: opts.stop.clone(),
                        ..RunOptions::default()
                    };
                    let result = catch_unwind(AssertUnwindSafe(|| {
                        crate::experiment::run::run(&c.scenario, &out, &mut Silent)
                    }));
                    let mut row = pending_row(c);
                    row.run_s = Some(start.elapsed().as_secs_f64());
                    match result {
                        Ok(Ok(summary)) => fill_row(&mut row, &summary),
                        Ok(Err(e)) => fail_row(&mut row, error_text(&e)),
                        Err(panic) => fail_row(&mut row, panic_text(panic.as_ref())),
                    }
                    let mut s = lock();
                    s.rows[i] = row;
                    s.finished += 1;
                    if let Err(e) = write_tables(&dir, &self.keys, &s.rows) {
                        s.error.get_or_insert(e);
                        stop.store(true, Ordering::SeqCst);
                    }
                    on_done(s.finished, &s.rows[i]);
                });
            }
        });
        let state = state.into_inner().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = state.error {
            return Err(e);
        }
        let mut plots = Vec::new();
        for k in 0..self.keys.len() {
            let (axis, series) = self.plot_series(k, &state.rows);
            let key = &self.keys[k];
            let path = dir.path().join(format!("sweep-{}.png", sanitise(key)));
            crate::experiment::plot::sweep_png(
                &format!("{}: test accuracy against {key}", self.name()),
                key,
                &axis,
                &series,
                &path,
            )?;
            plots.push(path);
        }
        Ok(SweepSummary {
            dir: dir.path().to_owned(),
            markdown: markdown(&self.keys, &state.rows),
            rows: state.rows,
            plots,
        })
    }

    /// The x axis of key `k`'s plot, and one series per model label and combination of the
    /// other keys' values, from the complete rows.
    fn plot_series(&self, k: usize, rows: &[SweepRow]) -> (SweepAxis, Vec<SweepSeries>) {
        let key = &self.keys[k];
        let axis_values: Vec<serde_json::Value> = self.values[k].iter().map(toml_to_json).collect();
        let numbers: Option<Vec<f64>> = axis_values
            .iter()
            .map(|v| v.as_f64().filter(|x| x.is_finite()))
            .collect();
        let axis = match numbers {
            Some(xs) => SweepAxis::Numeric(xs),
            None => SweepAxis::Categorical(axis_values.iter().map(value_label).collect()),
        };
        let mut series: Vec<SweepSeries> = Vec::new();
        let mut by_label: HashMap<String, usize> = HashMap::new();
        for row in rows.iter().filter(|r| r.status == RowStatus::Complete) {
            let Some(value) = row.values.get(key) else {
                continue;
            };
            let x = match &axis {
                SweepAxis::Numeric(_) => value.as_f64(),
                SweepAxis::Categorical(_) => axis_values
                    .iter()
                    .position(|v| v == value)
                    .map(|i| i as f64),
            };
            let Some(x) = x else { continue };
            let others: Vec<String> = self
                .keys
                .iter()
                .filter(|o| *o != key)
                .map(|o| {
                    let v = row.values.get(o).map_or_else(String::new, value_label);
                    format!("{}={v}", last_component(o))
                })
                .collect();
            for (model, m) in &row.models {
                let Some(acc) = m.test_accuracy else { continue };
                let label = if others.is_empty() {
                    model.clone()
                } else {
                    format!("{model}, {}", others.join(", "))
                };
                let idx = *by_label.entry(label.clone()).or_insert_with(|| {
                    series.push(SweepSeries {
                        label,
                        points: Vec::new(),
                    });
                    series.len() - 1
                });
                series[idx].points.push((x, acc));
            }
        }
        for s in &mut series {
            s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        (axis, series)
    }
}

fn sanitise(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '=' | ',' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn pending_row(c: &Combination) -> SweepRow {
    SweepRow {
        combination: c.number,
        folder: c.folder.clone(),
        values: c
            .values
            .iter()
            .map(|(k, v)| (k.clone(), toml_to_json(v)))
            .collect(),
        status: RowStatus::Pending,
        error: None,
        algorithm: c.scenario.file.algorithm.kind.name().to_owned(),
        models: BTreeMap::new(),
        weight_transport_bytes: None,
        messages: None,
        bytes: None,
        run_s: None,
    }
}

fn fill_row(row: &mut SweepRow, summary: &RunSummary) {
    let r = &summary.results;
    row.status = RowStatus::Complete;
    row.models = r
        .models
        .iter()
        .map(|(label, m)| {
            (
                label.clone(),
                ModelRow {
                    test_accuracy: m.final_.map(|f| f.test_accuracy),
                    epochs: m.epochs.len(),
                    wall_s: m.epochs.iter().map(|e| e.wall_s).sum(),
                },
            )
        })
        .collect();
    // Built without the `counters` feature, nothing was counted: the row leaves them blank.
    if let Some(t) = r.traffic.as_ref().filter(|t| t.counters) {
        row.weight_transport_bytes = Some(t.weight_transport_bytes);
        row.messages = Some(t.totals.messages);
        row.bytes = Some(t.totals.bytes);
    }
}

fn fail_row(row: &mut SweepRow, error: String) {
    row.status = RowStatus::Failed;
    row.error = Some(error);
}

/// An error with every cause of its chain that its message does not already quote.
fn error_text(e: &RunError) -> String {
    let mut msg = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !msg.contains(&text) {
            msg = format!("{msg}: {text}");
        }
        cause = c.source();
    }
    msg
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    format!("panicked: {what}")
}

fn write_tables(dir: &RunDir, keys: &[String], rows: &[SweepRow]) -> Result<(), SweepError> {
    let json = serde_json::to_string_pretty(rows).expect("sweep rows always serialise");
    dir.write("sweep.json", json.as_bytes())?;
    dir.write("sweep.md", markdown(keys, rows).as_bytes())?;
    Ok(())
}

fn human_bytes(b: u64) -> String {
    let b = b as f64;
    match b {
        b if b >= 1e9 => format!("{:.1} GB", b / 1e9),
        b if b >= 1e6 => format!("{:.1} MB", b / 1e6),
        b if b >= 1e3 => format!("{:.1} kB", b / 1e3),
        b => format!("{b:.0} B"),
    }
}

/// A table cell: no `|` or line breaks.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// `sweep.md`: a markdown table with one row per combination and model, in combination order:
/// the swept values, the model, its final test accuracy, epochs and training seconds, the
/// run's traffic (on the row of the model that sent it: weight transport, messages, bytes) and
/// the status (`failed: <error>` for a failed combination).
pub fn markdown(keys: &[String], rows: &[SweepRow]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut header = vec!["#".to_owned()];
    header.extend(keys.iter().map(|k| cell(k)));
    header.extend(
        [
            "model",
            "test acc",
            "epochs",
            "train s",
            "weight transport",
            "messages",
            "bytes",
            "status",
        ]
        .map(str::to_owned),
    );
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let rule: Vec<&str> = header
        .iter()
        .enumerate()
        .map(|(i, _)| {
            if i == 0 || i > keys.len() + 1 && i < header.len() - 1 {
                "---:"
            } else {
                "---"
            }
        })
        .collect();
    let _ = writeln!(out, "| {} |", rule.join(" | "));
    for row in rows {
        let mut lead = vec![row.combination.to_string()];
        lead.extend(keys.iter().map(|k| {
            cell(
                &row.values
                    .get(k)
                    .map_or_else(|| "-".to_owned(), value_label),
            )
        }));
        let status = match (&row.status, &row.error) {
            (RowStatus::Failed, Some(e)) => cell(&format!("failed: {e}")),
            (s, _) => s.name().to_owned(),
        };
        let traffic = [
            row.weight_transport_bytes.map(human_bytes),
            row.messages.map(|m| m.to_string()),
            row.bytes.map(human_bytes),
        ]
        .map(|v| v.unwrap_or_else(|| "-".to_owned()));
        let dash = || "-".to_owned();
        if row.models.is_empty() {
            let mut cells = lead.clone();
            cells.extend(["-", "-", "-", "-"].map(str::to_owned));
            cells.extend(traffic.clone());
            cells.push(status.clone());
            let _ = writeln!(out, "| {} |", cells.join(" | "));
            continue;
        }
        // The traffic belongs to the model of `algorithm.kind` (or the first, if none is).
        let owner = if row.models.contains_key(&row.algorithm) {
            row.algorithm.clone()
        } else {
            row.models.keys().next().cloned().unwrap_or_default()
        };
        for (label, m) in &row.models {
            let mut cells = lead.clone();
            cells.push(cell(label));
            cells.push(m.test_accuracy.map_or_else(dash, |a| format!("{a:.4}")));
            cells.push(m.epochs.to_string());
            cells.push(format!("{:.2}", m.wall_s));
            if *label == owner {
                cells.extend(traffic.clone());
            } else {
                cells.extend([dash(), dash(), dash()]);
            }
            cells.push(status.clone());
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sweep(text: &str) -> Result<Option<Sweep>, SweepError> {
        Sweep::parse(Path::new("s.toml"), text, &[])
    }

    fn table_error(text: &str) -> String {
        let e = sweep(text).expect_err("a bad [sweep] table");
        assert!(e.is_bad_input(), "{e}");
        assert!(matches!(e, SweepError::Table { .. }), "{e}");
        e.to_string()
    }

    #[test]
    fn no_sweep_table_is_none() {
        assert!(sweep("seed = 2\n").expect("valid").is_none());
    }

    #[test]
    fn combinations_follow_file_order_first_key_outermost() {
        // Keys in file order, not sorted: "train.lr" comes before "algorithm.feedback".
        let s = sweep(
            "[algorithm]\nkind = \"pc\"\n[sweep]\n\"train.lr\" = [0.01, 0.001]\n\
             \"algorithm.feedback\" = [\"transpose\", \"random\", \"direct\"]\n",
        )
        .expect("valid")
        .expect("a sweep");
        assert_eq!(s.keys, ["train.lr", "algorithm.feedback"]);
        assert_eq!(s.combinations.len(), 6);
        let folders: Vec<&str> = s.combinations.iter().map(|c| c.folder.as_str()).collect();
        assert_eq!(
            folders,
            [
                "lr=0.01,feedback=transpose",
                "lr=0.01,feedback=random",
                "lr=0.01,feedback=direct",
                "lr=0.001,feedback=transpose",
                "lr=0.001,feedback=random",
                "lr=0.001,feedback=direct",
            ]
        );
        let c = &s.combinations[4];
        assert_eq!(c.number, 5);
        assert_eq!(c.scenario.file.train.lr, 0.001);
        assert_eq!(
            c.scenario.file.algorithm.feedback,
            crate::learn::pc_layer::Feedback::Random
        );
        assert_eq!(c.scenario.name, "s", "the file's stem");
        // The resolved scenario has no [sweep] table.
        assert!(!c.scenario.to_toml().contains("sweep"));
    }

    #[test]
    fn unquoted_dotted_keys_and_seed_sweep_and_overrides() {
        let s = Sweep::parse(
            Path::new("x.toml"),
            "[sweep]\nseed = [1, 2]\ntrain.epochs = [1, 3]\n",
            &["train.lr=0.5".to_owned(), "seed=9".to_owned()],
        )
        .expect("valid")
        .expect("a sweep");
        assert_eq!(s.keys, ["seed", "train.epochs"]);
        let seeds: Vec<u64> = s
            .combinations
            .iter()
            .map(|c| c.scenario.file.seed)
            .collect();
        assert_eq!(seeds, [1, 1, 2, 2], "the sweep's values win over --set");
        assert!(s
            .combinations
            .iter()
            .all(|c| c.scenario.file.train.lr == 0.5));
        assert_eq!(s.combinations[1].folder, "seed=1,epochs=3");
    }

    #[test]
    fn folder_names_are_sanitised_and_distinct() {
        let v = |k: &str, t: &str| {
            (
                k.to_owned(),
                format!("v = {t}").parse::<toml::Table>().expect("toml")["v"].clone(),
            )
        };
        assert_eq!(
            folder_name(&[
                v("network.layers", "[784, 16, 10]"),
                v("train.optimizer", "\"a b/c\"")
            ]),
            "layers=784-16-10,optimizer=a_b_c"
        );
        assert_eq!(
            folder_name(&[v("a.b", "true"), v("c", "1.5")]),
            "b=true,c=1.5"
        );
        // "a/b" and "a_b" collide once sanitised: every such folder is numbered.
        let s = sweep("[sweep]\n\"train.optimizer\" = [\"sgd\", \"adam\"]\n\"data.dir\" = [\"a/b\", \"a_b\"]\n")
            .expect("valid")
            .expect("a sweep");
        let folders: Vec<&str> = s.combinations.iter().map(|c| c.folder.as_str()).collect();
        assert_eq!(
            folders,
            [
                "optimizer=sgd,dir=a_b-1",
                "optimizer=sgd,dir=a_b-2",
                "optimizer=adam,dir=a_b-3",
                "optimizer=adam,dir=a_b-4"
            ]
        );
    }

    #[test]
    fn malformed_sweep_tables_are_errors() {
        assert!(table_error("sweep = 3\n").contains("must be a table"));
        assert!(table_error("[sweep]\n").contains("has no keys"));
        let e = table_error("[sweep]\n\"train.lr\" = 0.1\n");
        assert!(e.contains("\"train.lr\" = 0.1: must be an array"), "{e}");
        assert!(table_error("[sweep]\n\"train.lr\" = []\n").contains("at least one value"));
        assert!(table_error("[sweep]\nname = [\"a\", \"b\"]\n").contains("cannot be swept"));
        assert!(table_error("[sweep]\n\"sweep.x\" = [1]\n").contains("cannot be swept"));
        assert!(table_error("[sweep]\n\"train..lr\" = [1]\n").contains("dotted scenario path"));
        assert!(table_error("[sweep]\nseed = [1, 2, 1]\n").contains("listed twice"));
        let e = table_error("[sweep]\n\"train.lr\" = [0.1, 0.01]\ntrain.lr = [1.0]\n");
        assert!(e.contains("given twice"), "{e}");
        let many: Vec<String> = (0..101).map(|i| i.to_string()).collect();
        let e = table_error(&format!(
            "[sweep]\nseed = [{0}]\n\"train.epochs\" = [{0}]\n",
            many.join(", ")
        ));
        assert!(
            e.contains("10201 combinations (101 x 101): at most 10000"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_value_names_its_combination_key_and_value() {
        let e = sweep("[sweep]\n\"train.epochs\" = [1, 2]\n\"train.lr\" = [0.1, -1.0]\n")
            .expect_err("negative lr");
        assert!(e.is_bad_input());
        assert_eq!(
            e.to_string(),
            "[sweep] combination 2 of 4 (train.epochs = 1, train.lr = -1.0): \
             train.lr = -1: must be a finite number > 0 (and < 1000)"
        );
        let e = sweep("[sweep]\n\"algorithm.feedback\" = [\"transpose\", \"mirror\"]\n")
            .expect_err("unknown variant");
        let text = e.to_string();
        assert!(
            text.starts_with("[sweep] combination 2 of 2 (algorithm.feedback = \"mirror\"):")
                && text.contains("unknown variant `mirror`"),
            "{text}"
        );
        let e = sweep("[sweep]\n\"train.nope\" = [1]\n").expect_err("unknown key");
        assert!(e.to_string().contains("unknown field `nope`"), "{e}");
        let e = sweep("seed = 1\n[sweep]\n\"seed.x\" = [1]\n").expect_err("seed is a value");
        assert!(
            e.to_string()
                .ends_with("seed.x = 1: seed is a value, not a section"),
            "{e}"
        );
    }

    #[test]
    fn loading_a_sweep_as_one_scenario_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s.toml");
        std::fs::write(&path, "[sweep]\nseed = [1, 2]\n").expect("write");
        let e = Scenario::load(&path, &[]).expect_err("a sweep file");
        assert!(matches!(e, ScenarioError::HasSweep { .. }), "{e}");
        assert!(e.to_string().contains("[sweep] table"), "{e}");
    }

    fn row(number: usize, values: &[(&str, serde_json::Value)], acc: &[(&str, f64)]) -> SweepRow {
        SweepRow {
            combination: number,
            folder: String::new(),
            values: values
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            status: RowStatus::Complete,
            error: None,
            algorithm: "pc".to_owned(),
            models: acc
                .iter()
                .map(|(m, a)| {
                    (
                        (*m).to_owned(),
                        ModelRow {
                            test_accuracy: Some(*a),
                            epochs: 1,
                            wall_s: 0.5,
                        },
                    )
                })
                .collect(),
            weight_transport_bytes: Some(2_500_000),
            messages: Some(42),
            bytes: Some(9_000_000),
            run_s: Some(1.0),
        }
    }

    #[test]
    fn markdown_has_a_row_per_combination_and_model() {
        use serde_json::json;
        let keys = ["algorithm.feedback".to_owned()];
        let mut failed = row(2, &[("algorithm.feedback", json!("random"))], &[]);
        failed.status = RowStatus::Failed;
        failed.error = Some("stalled | for 10 s\nthen gave up".to_owned());
        let rows = [
            row(
                1,
                &[("algorithm.feedback", json!("transpose"))],
                &[("bp", 0.91), ("pc", 0.9)],
            ),
            failed,
        ];
        let md = markdown(&keys, &rows);
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines.len(), 5, "{md}");
        assert_eq!(
            lines[0],
            "| # | algorithm.feedback | model | test acc | epochs | train s | weight transport | messages | bytes | status |"
        );
        assert_eq!(
            lines[2],
            "| 1 | transpose | bp | 0.9100 | 1 | 0.50 | - | - | - | complete |"
        );
        assert_eq!(
            lines[3],
            "| 1 | transpose | pc | 0.9000 | 1 | 0.50 | 2.5 MB | 42 | 9.0 MB | complete |"
        );
        assert!(
            lines[4].starts_with("| 2 | random | - |")
                && lines[4].ends_with("failed: stalled \\| for 10 s then gave up |"),
            "{}",
            lines[4]
        );
    }

    #[test]
    fn plot_series_split_by_model_and_other_keys() {
        let s =
            sweep("[sweep]\n\"algorithm.feedback\" = [\"random\", \"direct\"]\nseed = [2, 1]\n")
                .expect("valid")
                .expect("a sweep");
        let rows: Vec<SweepRow> = s
            .combinations
            .iter()
            .map(|c| {
                let values: Vec<(&str, serde_json::Value)> = c
                    .values
                    .iter()
                    .map(|(k, v)| (k.as_str(), toml_to_json(v)))
                    .collect();
                row(c.number, &values, &[("pc", 0.5 + c.number as f64 / 10.0)])
            })
            .collect();
        let (axis, series) = s.plot_series(0, &rows);
        assert_eq!(
            axis,
            SweepAxis::Categorical(vec!["random".into(), "direct".into()])
        );
        let labels: Vec<&str> = series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["pc, seed=2", "pc, seed=1"]);
        assert_eq!(series[0].points, [(0.0, 0.6), (1.0, 0.8)]);
        let (axis, series) = s.plot_series(1, &rows);
        assert_eq!(axis, SweepAxis::Numeric(vec![2.0, 1.0]));
        // Sorted by x: seed 1 (combination 2) before seed 2 (combination 1).
        assert_eq!(series[0].label, "pc, feedback=random");
        assert_eq!(series[0].points, [(1.0, 0.7), (2.0, 0.6)]);
    }
}

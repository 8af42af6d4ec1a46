//! Running a sweep: its combinations `jobs` at a time on scoped threads, each into its own
//! run folder, the tables rewritten after each, and one plot per swept key at the end.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use super::table::{fail_row, fill_row, markdown, pending_row, sanitise, write_tables};
use super::{last_component, toml_to_json, value_label, Combination, Sweep, SweepError};
use super::{RowStatus, SweepOptions, SweepRow, SweepSummary};
use crate::experiment::plot::{SweepAxis, SweepSeries};
use crate::experiment::run::{RunError, RunOptions, Silent};
use crate::experiment::run_dir::RunDir;

/// The rows as the workers fill them in.
struct State {
    rows: Vec<SweepRow>,
    finished: usize,
    error: Option<SweepError>,
}

/// What every worker of a running sweep shares.
struct Workers<'a> {
    dir: &'a RunDir,
    opts: &'a SweepOptions,
    state: Mutex<State>,
    /// The next combination to claim.
    next: AtomicUsize,
    /// Set when the sweep folder cannot be written: no new combination starts.
    stop: AtomicBool,
    on_done: &'a (dyn Fn(usize, &SweepRow) + Sync),
}

impl Workers<'_> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Rewrites the tables from `s.rows`; a failure stops the sweep.
    fn write(&self, sweep: &Sweep, s: &mut State) {
        if let Err(e) = write_tables(self.dir, &sweep.keys, &s.rows) {
            s.error.get_or_insert(e);
            self.stop.store(true, Ordering::SeqCst);
        }
    }

    /// Claims and runs combinations until none is left or the sweep stops.
    fn work(&self, sweep: &Sweep) {
        loop {
            let i = self.next.fetch_add(1, Ordering::SeqCst);
            let interrupted = self
                .opts
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::SeqCst));
            if i >= sweep.combinations.len() || self.stop.load(Ordering::SeqCst) || interrupted {
                break;
            }
            {
                let mut s = self.lock();
                s.rows[i].status = RowStatus::Running;
                self.write(sweep, &mut s);
            }
            let row = run_one(&sweep.combinations[i], self.dir, self.opts);
            let mut s = self.lock();
            s.rows[i] = row;
            s.finished += 1;
            self.write(sweep, &mut s);
            (self.on_done)(s.finished, &s.rows[i]);
        }
    }
}

/// Runs one combination into its folder; its row, complete or failed (a panic included).
fn run_one(c: &Combination, dir: &RunDir, opts: &SweepOptions) -> SweepRow {
    let start = Instant::now();
    let out = RunOptions {
        out: Some(dir.path().join(&c.folder)),
        stop: opts.stop.clone(),
        ..RunOptions::default()
    };
    // A sweep's runs each run in one process.
    let single = &mut crate::cluster::Ranks::single();
    let result = catch_unwind(AssertUnwindSafe(|| {
        crate::experiment::run::run(&c.scenario, &out, &mut Silent, single)
    }));
    let mut row = pending_row(c);
    row.run_s = Some(start.elapsed().as_secs_f64());
    match result {
        Ok(Ok(summary)) => fill_row(&mut row, &summary),
        Ok(Err(e)) => fail_row(&mut row, error_text(&e)),
        Err(panic) => fail_row(&mut row, panic_text(panic.as_ref())),
    }
    row
}

/// An error with every cause of its chain that its message does not already quote.
fn error_text(e: &RunError) -> String {
    crate::experiment::run::error_chain(e)
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    format!("panicked: {what}")
}

impl Sweep {
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
        let workers = Workers {
            dir: &dir,
            opts,
            state: Mutex::new(State {
                rows,
                finished: 0,
                error: None,
            }),
            next: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            on_done,
        };
        let jobs = opts.jobs.clamp(1, self.combinations.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..jobs {
                scope.spawn(|| workers.work(self));
            }
        });
        let state = workers
            .state
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(e) = state.error {
            return Err(e);
        }
        let plots = self.write_plots(&dir, &state.rows)?;
        Ok(SweepSummary {
            dir: dir.path().to_owned(),
            markdown: markdown(&self.keys, &state.rows),
            rows: state.rows,
            plots,
        })
    }

    /// Draws `sweep-KEY.png` for every swept key.
    fn write_plots(
        &self,
        dir: &RunDir,
        rows: &[SweepRow],
    ) -> Result<Vec<std::path::PathBuf>, SweepError> {
        let mut plots = Vec::new();
        for k in 0..self.keys.len() {
            let (axis, series) = self.plot_series(k, rows);
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
        Ok(plots)
    }

    /// The x axis of key `k`'s plot, and one series per model label and combination of the
    /// other keys' values, from the complete rows.
    pub(super) fn plot_series(&self, k: usize, rows: &[SweepRow]) -> (SweepAxis, Vec<SweepSeries>) {
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
        let mut models: Vec<String> = Vec::new();
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
                    models.push(model.clone());
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
        (axis, merge_constant(series, &models))
    }
}

/// One line (labelled with the model alone) for a model whose lines are all the same, such
/// as a BP baseline that does not depend on the other swept keys: it would draw as one line
/// with a legend entry per combination.
fn merge_constant(series: Vec<SweepSeries>, models: &[String]) -> Vec<SweepSeries> {
    let same = |m: &str| {
        let mut of_model = series.iter().zip(models).filter(|(_, n)| *n == m);
        let first = of_model.next().map(|(s, _)| &s.points);
        let (count, alike) = of_model.fold((1, true), |(c, a), (s, _)| {
            (c + 1, a && Some(&s.points) == first)
        });
        count > 1 && alike
    };
    let mut out: Vec<SweepSeries> = Vec::new();
    let mut merged: Vec<&str> = Vec::new();
    for (s, m) in series.iter().zip(models) {
        if !same(m) {
            out.push(s.clone());
        } else if !merged.contains(&m.as_str()) {
            merged.push(m);
            out.push(SweepSeries {
                label: m.clone(),
                points: s.points.clone(),
            });
        }
    }
    out
}

//! What the live view knows of a run ([`LiveState`]): status, progress, epoch curves, the
//! latest probe samples and spikes (bounded), a sweep's finished points, and the final
//! results.json; served as one JSON document.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{json, Value};

use super::LiveEvent;
use crate::experiment::results::EpochRecord;
use crate::message::probe::{ProbeChunk, ProbeVariable};

/// Samples kept per probe (the latest).
pub const KEEP_SAMPLES: usize = 600;
/// Units drawn per probe (the first).
pub const KEEP_UNITS: usize = 8;
/// Spikes kept for the raster (the latest).
pub const KEEP_SPIKES: usize = 2_000;

/// One probe as the page draws it: the latest samples of its first units.
#[derive(Debug, Default)]
struct LiveProbe {
    name: String,
    variable: Option<ProbeVariable>,
    labels: Vec<u32>,
    rows: BTreeMap<u64, Vec<f32>>,
}

/// The live view's state (see the module doc).
#[derive(Debug, Default)]
pub struct LiveState {
    name: String,
    kind: String,
    dir: String,
    status: String,
    error: Option<String>,
    /// Updates applied.
    pub updates: u64,
    /// Updates the run dropped because the queue was full.
    pub dropped: u64,
    label: String,
    epoch: usize,
    epochs: usize,
    batches: usize,
    done: usize,
    ticks: u64,
    total_ticks: u64,
    curves: BTreeMap<String, Vec<EpochRecord>>,
    time_scale: f64,
    time_unit: &'static str,
    probes: Vec<LiveProbe>,
    raster: VecDeque<(u64, u32)>,
    sweep: Vec<Value>,
    results: Option<Value>,
}

impl LiveState {
    /// The run folder, once the run has one.
    pub fn dir(&self) -> Option<std::path::PathBuf> {
        (!self.dir.is_empty()).then(|| self.dir.clone().into())
    }

    /// Folds one event in.
    pub fn apply(&mut self, ev: LiveEvent) {
        self.updates += 1;
        match ev {
            LiveEvent::Started { name, kind, dir } => {
                (self.name, self.kind) = (name, kind);
                self.dir = dir.display().to_string();
                self.status = "running".into();
            }
            LiveEvent::Probes(plans, scale, unit) => {
                (self.time_scale, self.time_unit) = (scale, unit);
                self.probes = plans
                    .iter()
                    .map(|p| LiveProbe {
                        name: p.name.clone(),
                        variable: Some(p.variable),
                        labels: p.labels.clone(),
                        rows: BTreeMap::new(),
                    })
                    .collect();
            }
            LiveEvent::Probe(c) => self.add_probe(&c),
            LiveEvent::Ticks(done, total) => {
                self.ticks = self.ticks.max(done);
                self.total_ticks = total;
            }
            LiveEvent::EpochStart {
                label,
                epoch,
                epochs,
                batches,
            } => {
                (self.label, self.epoch, self.epochs) = (label, epoch, epochs);
                (self.batches, self.done) = (batches, 0);
            }
            LiveEvent::BatchDone(done) => self.done = done,
            LiveEvent::EpochEnd(label, record) => {
                self.curves.entry(label).or_default().push(*record);
            }
            LiveEvent::SweepPoint(v) => self.sweep.push(v),
            LiveEvent::Finished(Ok(results)) => {
                self.status = results["status"].as_str().unwrap_or("complete").to_owned();
                let why = results["error"].as_str().or(results["reason"].as_str());
                self.error = why.map(str::to_owned);
                self.results = Some(results);
            }
            LiveEvent::Finished(Err(e)) => {
                self.status = "failed".into();
                self.error = Some(e);
            }
        }
    }

    /// A finished run, from its results.json (`axon view`).
    pub fn finished(name: &str, dir: &std::path::Path, results: Value) -> Self {
        let mut s = LiveState::default();
        s.apply(LiveEvent::Started {
            name: name.to_owned(),
            kind: String::new(),
            dir: dir.to_owned(),
        });
        if let Some(models) = results["models"].as_object() {
            for (label, m) in models {
                let epochs = m["epochs"].as_array().cloned().unwrap_or_default();
                let records = epochs
                    .into_iter()
                    .filter_map(|e| serde_json::from_value::<EpochRecord>(e).ok());
                s.curves.insert(label.clone(), records.collect());
            }
        }
        s.apply(LiveEvent::Finished(Ok(results)));
        s
    }

    fn add_probe(&mut self, c: &ProbeChunk) {
        let end = c.times.last().copied().unwrap_or(0) + 1;
        if self.time_unit == "ms" {
            self.ticks = self.ticks.max(end);
        }
        let Some(p) = self.probes.get_mut(usize::from(c.probe)) else {
            return;
        };
        let scalar = p.variable.is_some_and(ProbeVariable::is_scalar);
        let spikes = p.variable == Some(ProbeVariable::Spikes);
        let per = if scalar { 1 } else { c.columns.len() };
        let width = if scalar {
            1
        } else {
            p.labels.len().min(KEEP_UNITS)
        };
        for (k, &t) in c.times.iter().enumerate() {
            let vals = &c.values[k * per..(k + 1) * per];
            if spikes {
                // Spikes are shown in the raster only (no traces to keep).
                for (&col, &v) in c.columns.iter().zip(vals) {
                    if v > 0.0 {
                        self.raster.push_back((t, p.labels[col as usize]));
                    }
                }
                continue;
            }
            let row = p.rows.entry(t).or_insert_with(|| vec![f32::NAN; width]);
            if scalar {
                row[0] = if row[0].is_nan() {
                    vals[0]
                } else {
                    row[0] + vals[0]
                };
            } else {
                for (&col, &v) in c.columns.iter().zip(vals) {
                    if let Some(slot) = row.get_mut(col as usize) {
                        *slot = v;
                    }
                }
            }
        }
        while p.rows.len() > KEEP_SAMPLES {
            p.rows.pop_first();
        }
        while self.raster.len() > KEEP_SPIKES {
            self.raster.pop_front();
        }
    }

    /// The state as the page reads it.
    pub fn to_json(&self) -> Value {
        let scale = if self.time_scale > 0.0 {
            self.time_scale
        } else {
            1.0
        };
        let probes: Vec<Value> = self
            .probes
            .iter()
            .map(|p| {
                let v = p.variable.unwrap_or(ProbeVariable::V);
                json!({
                    "name": p.name,
                    "variable": v.name(),
                    "unit": v.unit(),
                    "units": p.labels.iter().take(KEEP_UNITS).collect::<Vec<_>>(),
                    "times": p.rows.keys().map(|&t| t as f64 * scale).collect::<Vec<_>>(),
                    "values": p.rows.values().map(|r| r.iter().map(|x| if x.is_finite() { json!(x) } else { Value::Null }).collect::<Vec<_>>()).collect::<Vec<_>>(),
                })
            })
            .collect();
        let curves: BTreeMap<&String, Value> = self
            .curves
            .iter()
            .map(|(k, v)| (k, serde_json::to_value(v).unwrap_or(Value::Null)))
            .collect();
        json!({
            "name": self.name,
            "kind": self.kind,
            "dir": self.dir,
            "status": if self.status.is_empty() { "starting" } else { &self.status },
            "error": self.error,
            "updates": self.updates,
            "dropped": self.dropped,
            "progress": {
                "label": self.label, "epoch": self.epoch, "epochs": self.epochs,
                "batches": self.batches, "done": self.done,
                "ticks": self.ticks, "total_ticks": self.total_ticks,
            },
            "curves": curves,
            "time_unit": self.time_unit,
            "probes": probes,
            "raster": self.raster.iter().map(|&(t, n)| json!([t as f64 * scale, n])).collect::<Vec<_>>(),
            "sweep": self.sweep,
            "results": self.results,
        })
    }
}

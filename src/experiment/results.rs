//! `results.json`: what a run measured, in a schema tools can rely on.
//!
//! ```json
//! {"name": "bp-mnist", "seed": 1, "status": "complete",
//!  "models": {"bp": {"algorithm": "bp",
//!                    "epochs": [{"epoch": 1, "train_loss": 0.21, "train_accuracy": 0.936,
//!                                "test_loss": 0.12, "test_accuracy": 0.962, "wall_s": 0.41}],
//!                    "final": {"test_accuracy": 0.962, "wall_s": 0.41}}}}
//! ```
//! Accuracies are fractions in `[0, 1]`. `wall_s` of an epoch is its training time without
//! evaluation; `final.wall_s` is the sum over epochs. The file is rewritten (atomically)
//! after every epoch, so a run that ends early leaves the epochs it finished, with
//! `"final": null` and a status that says why: `"running"` until it ends (and after a crash
//! or kill -9), `"failed"` with the `error` chain, or `"interrupted"` (Ctrl-C, SIGTERM, a
//! lost rank) with the `reason`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::runtime::traffic::Traffic;

/// A whole run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Scenario name.
    pub name: String,
    /// Scenario seed.
    pub seed: u64,
    /// `running` until the run ends, then `complete`, `failed` (with [`Results::error`]) or
    /// `interrupted` (with [`Results::reason`]).
    pub status: String,
    /// A failed run: the error, with its causes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// An interrupted run: why it stopped and how to go on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The executor, workers and shards the actors ran on (`runtime.executor = "auto"`
    /// resolved); absent in results written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<crate::experiment::scenario::Setup>,
    /// One entry per trained model, by label (`bp`, …).
    pub models: BTreeMap<String, ModelResults>,
    /// Message traffic of runs that use actors (absent for the synchronous baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<Traffic>,
    /// Spiking runs: neurons, synapses, spikes, synaptic events, mean rate, simulated and
    /// wall seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snn: Option<crate::spike::stats::SnnStats>,
    /// Spike-timing learning runs (`stdp-mnist`): accuracy, labels, training curve, spikes and
    /// wall time per image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdp: Option<crate::models::diehl_cook::DiehlCookResults>,
    /// Conversion runs: the ANN's test accuracy before conversion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ann_test_accuracy: Option<f64>,
    /// Conversion runs: accuracy and activity of the spiking network at each tick count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conversion: Vec<crate::spike::convert::ConversionPoint>,
    /// Spiking PC against rate PC (`compare.baseline = "pc"`): per model, what crossed
    /// between actors per image, spikes, and time per epoch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_image: Vec<PerImage>,
    /// What each `[[probe]]` recorded (the arrays are in `probes.safetensors`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<ProbeSummary>,
}

/// One probe of the run, summarised (`probes` in results.json).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeSummary {
    /// Its name: the key of its array in `probes.safetensors`.
    pub name: String,
    /// The variable (`v`, `values`, ...).
    pub variable: String,
    /// The variable's unit ("" when it has none).
    pub unit: String,
    /// The units' indices in the target (empty for a scalar such as `free_energy`).
    pub units: Vec<u32>,
    /// Rows recorded.
    pub samples: usize,
    /// The unit of the time axis (`ms` or `step`).
    pub time_unit: String,
    /// First and last sample's time.
    pub first_time: f64,
    /// See `first_time`.
    pub last_time: f64,
    /// Mean of the finite values recorded.
    pub mean: f64,
}

/// What one model of a spiking-against-rate comparison cost per image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerImage {
    /// The model's label (`spc`, `pc`).
    pub model: String,
    /// Final test accuracy.
    pub test_accuracy: f64,
    /// Bytes of inference messages (spikes, activities, errors, weight copies) crossing
    /// between actors per image presented (training and test images, every epoch): the
    /// energy proxy.
    pub bytes_per_image: f64,
    /// Inference messages per image presented.
    pub messages_per_image: f64,
    /// Spikes fired per training image (spiking PC only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spikes_per_image: Option<f64>,
    /// Synaptic events per training image (spiking PC only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synaptic_events_per_image: Option<f64>,
    /// Mean training seconds per epoch.
    pub wall_s_per_epoch: f64,
}

/// Message kinds that carry inference (what the energy proxy counts).
const INFERENCE_KINDS: [&str; 4] = ["spike", "activity", "error", "weight_transport"];

impl PerImage {
    /// The figures of model `label` of `results`, given its `traffic` and the images it saw.
    pub fn of(results: &Results, label: &str, traffic: &Traffic, images: f64) -> Option<Self> {
        let m = results.models.get(label)?;
        let (bytes, messages) = INFERENCE_KINDS
            .iter()
            .filter_map(|k| traffic.per_kind.get(*k))
            .fold((0u64, 0u64), |(b, n), t| (b + t.bytes, n + t.messages));
        let last = m.pc.last();
        Some(PerImage {
            model: label.to_owned(),
            test_accuracy: m.epochs.last().map_or(0.0, |e| e.test_accuracy),
            bytes_per_image: bytes as f64 / images.max(1.0),
            messages_per_image: messages as f64 / images.max(1.0),
            spikes_per_image: last.and_then(|p| p.spikes_per_image),
            synaptic_events_per_image: last.and_then(|p| p.synaptic_events_per_image),
            wall_s_per_epoch: m.epochs.iter().map(|e| e.wall_s).sum::<f64>()
                / m.epochs.len().max(1) as f64,
        })
    }
}

/// One model's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelResults {
    /// The algorithm that trained it (`bp`, …).
    pub algorithm: String,
    /// One record per finished epoch.
    pub epochs: Vec<EpochRecord>,
    /// Summary once all epochs are done; `null` before.
    #[serde(rename = "final")]
    pub final_: Option<FinalRecord>,
    /// Test accuracy of the final network evaluated by message passing (input, layer and
    /// readout actors); equals `final.test_accuracy` when the actors are correct.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_test_accuracy: Option<f64>,
    /// Actor-trained models (PC, Z-IL, EP, C-EP): per epoch, the free energy by inference step
    /// (EP: the energy at the free fixed point), the weight gap to the BP baseline, the gap
    /// between feedback copies and forward weights and (with gradient checks) the gradient gap.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pc: Vec<PcRecord>,
    /// The message traffic of a model trained beside the run's own (`compare.baseline =
    /// "pc"`: rate PC's, while `traffic` is the spiking network's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<Traffic>,
}

/// What a predictive-coding model adds to an epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PcRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean free energy per example at each inference step (`sum 0.5 ||eps||^2 + loss`),
    /// averaged over the epoch's batches; entry 0 is the forward sweep. For `ep` and `cep`
    /// one value: the mean energy `E(s^0)` per example at the free fixed point.
    pub free_energy: Vec<f64>,
    /// Per layer, `||W_pc - W_bp|| / ||W_bp||` (weights and biases) after this epoch, when
    /// the BP baseline runs beside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_gap: Option<Vec<f64>>,
    /// Per layer, the largest relative gap over the epoch's batches between the gradient the
    /// actors formed and backprop's from the same weights on the same batch
    /// (`compare.check_gradients`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_gap: Option<Vec<f64>>,
    /// Per hidden layer, `||B_l - W_{l+1}^T|| / ||W_{l+1}||` after this epoch: the gap between
    /// the feedback copy of a connection and its forward weights (absent for direct feedback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback_gap: Option<Vec<f64>>,
    /// Spiking PC: spikes fired per training image (input, value and error neurons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spikes_per_image: Option<f64>,
    /// Spiking PC: synaptic events per training image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synaptic_events_per_image: Option<f64>,
    /// Spiking PC: per layer, mean spikes per neuron and training image at each tick of a
    /// training batch (settle ticks first), for value, positive and negative error neurons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tick_rates: Option<Vec<crate::learn::spc_record::TickRates>>,
}

/// One epoch.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (each measured before its update).
    pub train_loss: f64,
    /// Fraction of training examples classified right during the epoch (before each update).
    pub train_accuracy: f64,
    /// Mean loss on the test split after the epoch.
    pub test_loss: f64,
    /// Fraction of the test split classified right after the epoch.
    pub test_accuracy: f64,
    /// Seconds of training in this epoch, evaluation excluded.
    pub wall_s: f64,
}

/// The end of a model's run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinalRecord {
    /// Test accuracy after the last epoch.
    pub test_accuracy: f64,
    /// Total training seconds over all epochs.
    pub wall_s: f64,
}

impl Results {
    /// An empty record for a run.
    pub fn new(name: &str, seed: u64) -> Self {
        Self {
            name: name.to_owned(),
            seed,
            status: "running".to_owned(),
            error: None,
            reason: None,
            setup: None,
            models: BTreeMap::new(),
            traffic: None,
            snn: None,
            stdp: None,
            ann_test_accuracy: None,
            conversion: Vec::new(),
            per_image: Vec::new(),
            probes: Vec::new(),
        }
    }

    /// An empty record for a run of `scenario`, with its setup.
    pub fn for_scenario(scenario: &crate::experiment::scenario::Scenario) -> Self {
        Self {
            setup: Some(scenario.setup()),
            ..Self::new(scenario.name(), scenario.seed())
        }
    }

    /// The model with this label, created empty if new.
    pub fn model(&mut self, label: &str, algorithm: &str) -> &mut ModelResults {
        self.models
            .entry(label.to_owned())
            .or_insert_with(|| ModelResults {
                algorithm: algorithm.to_owned(),
                epochs: Vec::new(),
                final_: None,
                actor_test_accuracy: None,
                pc: Vec::new(),
                traffic: None,
            })
    }

    /// Marks every model finished, filling `final` from its epochs.
    pub fn complete(&mut self) {
        for m in self.models.values_mut() {
            if let Some(last) = m.epochs.last() {
                m.final_ = Some(FinalRecord {
                    test_accuracy: last.test_accuracy,
                    wall_s: m.epochs.iter().map(|e| e.wall_s).sum(),
                });
            }
        }
        self.status = "complete".to_owned();
    }

    /// A plain-text table of the models (final test accuracy, seconds per epoch, largest
    /// weight gap to BP) and a summary of the actor traffic, for the end of a run.
    pub fn summary_table(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        if !self.models.is_empty() {
            let _ = writeln!(
                out,
                "{:<8} {:>6} {:>10} {:>10} {:>12}",
                "model", "epochs", "test acc", "s/epoch", "weight gap"
            );
        }
        for (label, m) in &self.models {
            let acc = m
                .final_
                .map_or_else(|| "-".to_owned(), |f| format!("{:.4}", f.test_accuracy));
            let per_epoch = if m.epochs.is_empty() {
                "-".to_owned()
            } else {
                let s: f64 = m.epochs.iter().map(|e| e.wall_s).sum();
                format!("{:.2}", s / m.epochs.len() as f64)
            };
            let gap = m.pc.last().and_then(|r| r.weight_gap.as_ref()).map_or_else(
                || "-".to_owned(),
                |g| format!("{:.3}", g.iter().fold(0.0f64, |a, &b| a.max(b))),
            );
            let _ = writeln!(
                out,
                "{label:<8} {:>6} {acc:>10} {per_epoch:>10} {gap:>12}",
                m.epochs.len()
            );
        }
        if let Some(t) = &self.traffic {
            write_traffic_summary(&mut out, t);
        }
        if !self.per_image.is_empty() {
            let _ = writeln!(
                out,
                "{:<8} {:>10} {:>14} {:>12} {:>12} {:>16} {:>10}",
                "model",
                "test acc",
                "bytes/image",
                "msgs/image",
                "spikes/img",
                "syn events/img",
                "s/epoch"
            );
        }
        for p in &self.per_image {
            let opt = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"));
            let _ = writeln!(
                out,
                "{:<8} {:>10.4} {:>14.0} {:>12.1} {:>12} {:>16} {:>10.2}",
                p.model,
                p.test_accuracy,
                p.bytes_per_image,
                p.messages_per_image,
                opt(p.spikes_per_image),
                opt(p.synaptic_events_per_image),
                p.wall_s_per_epoch
            );
        }
        out
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("results always serialise")
    }
}

/// Appends the traffic lines of [`Results::summary_table`]: totals, per kind, weight transport
/// and, for asynchronous runs, what the injected faults did.
fn write_traffic_summary(out: &mut String, t: &Traffic) {
    use std::fmt::Write;
    if t.counters {
        write_counted_traffic(out, t);
    } else {
        let _ = writeln!(
            out,
            "traffic: not counted (built without the `counters` feature)"
        );
    }
    if let Some(f) = &t.faults {
        let c = &f.totals;
        let _ = writeln!(
            out,
            "  async: {:.1} updates per actor per batch; {} inference messages: {} dropped, \
                 {} duplicated, {} delayed ({} reordered), {} late, {} stale",
            f.mean_updates_per_batch,
            c.messages,
            c.dropped,
            c.duplicated,
            c.delayed,
            c.reordered,
            c.late,
            c.stale
        );
    }
}

/// The counted part of the traffic summary: totals, each kind, weight transport.
fn write_counted_traffic(out: &mut String, t: &Traffic) {
    use std::fmt::Write;
    let _ = writeln!(
        out,
        "traffic: {} messages, {:.1} MB",
        t.totals.messages,
        t.totals.bytes as f64 / 1e6
    );
    for (kind, tally) in &t.per_kind {
        let _ = writeln!(
            out,
            "  {kind:<17} {:>10} messages {:>12.1} MB",
            tally.messages,
            tally.bytes as f64 / 1e6
        );
    }
    let _ = writeln!(
        out,
        "  weight transport: {:.1} MB{}",
        t.weight_transport_bytes as f64 / 1e6,
        if t.weight_transport_bytes == 0 {
            " (fully local)"
        } else {
            " (oracle feedback reads forward weights)"
        }
    );
}

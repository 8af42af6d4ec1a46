//! Where a learning run stands, for a resume: the coordinator's [`Position`] in the data and
//! its partial epoch sums, and the [`ResumeState`] (position, every actor's [`StateBag`], the
//! results so far) that a checkpoint holds. The file format is `experiment::checkpoint`'s.

use std::collections::BTreeMap;

use crate::state::StateBag;

/// Where a predictive-coding run stands in its data, and its sums over the unfinished epoch.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    /// The epoch to continue (1-based).
    pub epoch: usize,
    /// The next training batch of that epoch (0-based; the order is a function of seed and
    /// epoch, so this is the whole data position).
    pub next_batch: usize,
    /// The next global step number.
    pub next_step: u64,
    /// Sums over the epoch's finished batches.
    pub train_loss: f64,
    /// Correct training predictions so far.
    pub train_correct: usize,
    /// Training examples so far.
    pub train_n: usize,
    /// Free energy per step, summed.
    pub energy: Vec<f64>,
    /// Training seconds so far in the epoch.
    pub wall_s: f64,
    /// Worst gradient gap per layer so far.
    pub grad_gap: Vec<f64>,
    /// Batches finished in the epoch.
    pub batches_done: usize,
    /// Spiking PC: spikes and synaptic events so far.
    #[serde(default)]
    pub spikes: u64,
    /// Synaptic events so far.
    #[serde(default)]
    pub events: u64,
    /// Spiking PC: spikes per layer, tick and population so far (`ticks x 3` a layer).
    #[serde(default)]
    pub tick_counts: Vec<Vec<u64>>,
}

/// Everything needed to continue a run: actor states, the coordinator's position, and the
/// results written so far (JSON).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResumeState {
    /// The coordinator's position.
    pub position: Position,
    /// Each actor's state, by actor name (`layer-2.0`).
    pub actors: BTreeMap<String, StateBag>,
    /// `results.json` as it was when the checkpoint was taken.
    pub results: String,
}

impl Position {
    /// What makes this position impossible for any run (`None` if nothing): epoch 0, a
    /// negative, non-finite or absurd time, non-finite sums, more correct predictions than
    /// examples, a NaN or negative gradient gap.
    pub fn problem(&self) -> Option<String> {
        if self.epoch == 0 {
            return Some("epoch 0 (epochs count from 1)".to_owned());
        }
        if !(0.0..1e9).contains(&self.wall_s) {
            return Some(format!("wall_s = {:e} is not a training time", self.wall_s));
        }
        if !self.train_loss.is_finite() || self.energy.iter().any(|e| !e.is_finite()) {
            return Some("a non-finite training loss or energy sum".to_owned());
        }
        if self.train_correct > self.train_n {
            return Some(format!(
                "{} correct of {} training examples",
                self.train_correct, self.train_n
            ));
        }
        if self.grad_gap.iter().any(|g| g.is_nan() || *g < 0.0) {
            return Some(format!("gradient gaps {:?}", self.grad_gap));
        }
        None
    }
}

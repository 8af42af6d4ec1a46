//! `[compare]` and `[checkpoint]`: what an actor run is measured against, and how often it
//! saves a resumable checkpoint.

use serde::{Deserialize, Serialize};

use super::{invalid, ScenarioError, MAX_EPOCHS};

/// `[compare]`: what the actor model is measured against.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompareSection {
    /// `none` | `bp` | `pc`. Default `none`. `bp` also trains the synchronous backprop
    /// baseline on the same data order, seed and initial weights (results.json then holds
    /// both, with the per-layer weight gap each epoch); `pc` (only with `spc`) trains rate PC
    /// on layer actors after the spiking network, with the same keys, seed and data order.
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
    /// Rate predictive coding on layer actors, with the same `[algorithm]` keys (for
    /// `spc`: the spiking network against its rate-coded twin).
    Pc,
}

/// `[checkpoint]`: resumable checkpoints (`checkpoints/resume.safetensors`) of layer-actor
/// runs, for `axon run FILE --resume RUNDIR`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointSection {
    /// Also save after every this many training batches, 0..=1000000 (0: only at the end of
    /// each epoch). Default 100.
    pub every_batches: usize,
}

impl Default for CheckpointSection {
    fn default() -> Self {
        Self { every_batches: 100 }
    }
}

impl CheckpointSection {
    /// Checks the interval.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        if self.every_batches > MAX_EPOCHS {
            return Err(invalid(
                "checkpoint.every_batches",
                self.every_batches,
                &format!("must be at most {MAX_EPOCHS} (0 saves at epoch ends only)"),
            ));
        }
        Ok(())
    }
}

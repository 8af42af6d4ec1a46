//! `[faults]`: faults injected on purpose (a panicking actor; delayed, lost, duplicated and
//! reordered inference messages), to test what a run survives.

use serde::{Deserialize, Serialize};

use super::{fmt_f64, invalid, ScenarioError};
use crate::runtime::faults::{DelayConfig, LinkFaults};

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
    /// `{ kind, mean = 0.0, unit }` with `kind` one of `fixed` | `uniform` | `exponential`
    /// and `unit` one of `steps` | `us`. Default: none.
    pub delay: DelayConfig,
    /// Probability that an inference message is lost, in [0, 1). Default 0.
    pub drop: f64,
    /// Probability that an inference message arrives twice, in [0, 1] (1: every message
    /// arrives twice). Default 0.
    pub duplicate: f64,
    /// Reorder window in steps: each message waits an extra 0..=reorder steps, at most
    /// 1000000. Default 0.
    pub reorder: u32,
}

impl FaultsSection {
    /// The faults each inference edge injects.
    pub fn links(&self) -> LinkFaults {
        LinkFaults {
            delay: self.delay,
            drop: self.drop,
            duplicate: self.duplicate,
            reorder: self.reorder,
        }
    }

    /// The actor that panics on purpose and the training batches it finishes first.
    pub fn panic(&self) -> Option<(String, usize)> {
        let after = self.panic_after_batches.unwrap_or(1);
        self.panic_actor.clone().map(|a| (a, after))
    }

    /// Checks the panicking actor's name against the network's `weight_layers`, and the
    /// message faults.
    pub fn validate(&self, weight_layers: usize) -> Result<(), ScenarioError> {
        if let Some(actor) = &self.panic_actor {
            let layers = weight_layers;
            let ok = crate::learn::layer::LayerName::parse(actor)
                .is_some_and(|name| (1..=layers).contains(&name.layer));
            if !ok {
                return Err(invalid(
                    "faults.panic_actor",
                    format!("{actor:?}"),
                    &format!("must name a layer actor, layer-1 to layer-{layers} (layer-L.S when sharded)"),
                ));
            }
        }
        self.validate_messages()
    }

    /// Checks the drop and duplicate probabilities, the delay and the reorder window.
    fn validate_messages(&self) -> Result<(), ScenarioError> {
        if !(self.drop.is_finite() && (0.0..1.0).contains(&self.drop)) {
            return Err(invalid(
                "faults.drop",
                fmt_f64(self.drop),
                "must be a probability in [0, 1)",
            ));
        }
        if !(self.duplicate.is_finite() && (0.0..=1.0).contains(&self.duplicate)) {
            return Err(invalid(
                "faults.duplicate",
                fmt_f64(self.duplicate),
                "must be a probability in [0, 1]",
            ));
        }
        let mean = self.delay.mean;
        if !(mean.is_finite() && (0.0..=1e9).contains(&mean)) {
            return Err(invalid(
                "faults.delay.mean",
                fmt_f64(mean),
                "must be a finite delay >= 0 (steps or microseconds, as faults.delay.unit says)",
            ));
        }
        if self.reorder > 1_000_000 {
            return Err(invalid(
                "faults.reorder",
                self.reorder,
                "must be at most 1000000 steps",
            ));
        }
        Ok(())
    }

    /// Checks `panic_after_batches`.
    pub fn validate_panic_after(&self) -> Result<(), ScenarioError> {
        if self.panic_after_batches == Some(0) {
            return Err(invalid("faults.panic_after_batches", 0, "must be >= 1"));
        }
        Ok(())
    }
}

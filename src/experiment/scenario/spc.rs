//! `[spc]`: spiking predictive coding's schedule and thresholds as written, their rules, and
//! the [`SpcConfig`] of `learn::spc_layer` they resolve to.

use serde::{Deserialize, Serialize};

use super::{fmt_f64, invalid, ScenarioError};
use crate::learn::layer::Feedback;
use crate::learn::spc_layer::SpcConfig;

/// `[spc]`: for `algorithm.kind = "spc"` (`scenarios/spc-mnist.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpcSection {
    /// Ticks per batch in which value neurons follow their input (evaluation runs only
    /// these), 1..=10000. Default 20.
    pub settle_ticks: usize,
    /// Ticks per training batch after those, label clamped, 1..=10000. Default 20.
    pub learn_ticks: usize,
    /// Ticks of the synaptic trace (running mean, then exponential), 1..=10000. Default 5.
    pub trace_ticks: usize,
    /// Threshold of the hidden layers' error neurons, (0, 100]. Default 0.5 (0.1 and 0.3
    /// lost accuracy in longer runs).
    pub error_threshold: f64,
    /// Threshold of the output's error neurons, (0, 100]. Default 1.
    pub output_threshold: f64,
    /// The activity a value neuron's top rate (a spike every tick) stands for, (0, 1000]:
    /// it fires `min(f(x) / max_value, 1)` a tick. Default 1.
    pub max_value: f64,
    /// Refuse any feedback mode that needs weight transport. Default true.
    pub require_local: bool,
}

impl Default for SpcSection {
    fn default() -> Self {
        SpcSection {
            settle_ticks: 20,
            learn_ticks: 20,
            trace_ticks: 5,
            error_threshold: 0.5,
            output_threshold: 1.0,
            max_value: 1.0,
            require_local: true,
        }
    }
}

impl SpcSection {
    /// Checks the keys, and the feedback mode against `require_local`.
    pub fn validate(&self, feedback: Feedback) -> Result<(), ScenarioError> {
        for (key, v) in [
            ("spc.settle_ticks", self.settle_ticks),
            ("spc.learn_ticks", self.learn_ticks),
            ("spc.trace_ticks", self.trace_ticks),
        ] {
            if !(1..=10_000).contains(&v) {
                return Err(invalid(key, v, "must be 1..=10000 ticks"));
            }
        }
        for (key, v) in [
            ("spc.error_threshold", self.error_threshold),
            ("spc.output_threshold", self.output_threshold),
        ] {
            if !(v.is_finite() && v > 0.0 && v <= 100.0) {
                return Err(invalid(key, fmt_f64(v), "must be a threshold in (0, 100]"));
            }
        }
        let mv = self.max_value;
        if !(mv.is_finite() && mv > 0.0 && mv <= 1000.0) {
            return Err(invalid(
                "spc.max_value",
                fmt_f64(mv),
                "must be in (0, 1000]",
            ));
        }
        if self.require_local && feedback == Feedback::Transpose {
            return Err(invalid(
                "algorithm.feedback",
                "\"transpose\"",
                "copies the forward weights (weight transport), which spc.require_local = true \
                 refuses; use \"kolen-pollack\" or \"random\", or set spc.require_local = false",
            ));
        }
        if feedback == Feedback::Direct {
            return Err(invalid(
                "algorithm.feedback",
                "\"direct\"",
                "spiking PC feeds errors back layer by layer; use \"kolen-pollack\" or \"random\"",
            ));
        }
        Ok(())
    }

    /// The layer actors' settings these keys describe.
    pub fn config(&self) -> SpcConfig {
        SpcConfig {
            settle_ticks: self.settle_ticks,
            learn_ticks: self.learn_ticks,
            trace_ticks: self.trace_ticks,
            error_threshold: self.error_threshold as f32,
            output_threshold: self.output_threshold as f32,
            max_value: self.max_value as f32,
        }
    }
}

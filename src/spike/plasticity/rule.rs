//! The learning rules of [`crate::spike::plasticity`]: what a presynaptic and a postsynaptic
//! spike do to a weight, given the traces the owner keeps ([`Plasticity`]).
//!
//! Traces decay exponentially, `x <- x exp(-dt / tau)` each tick, and jump at their neuron's
//! spikes: `x <- x + 1` with all-to-all interactions, `x <- 1` with nearest-spike ones.
//! Presynaptic traces are `r1` (`tau_plus`) and `r2` (`tau_x`), postsynaptic ones `o1`
//! (`tau_minus`) and `o2` (`tau_y`). At a presynaptic spike the weight is depressed, at a
//! postsynaptic spike potentiated, each scaled by the weight dependence `f(w)` and clipped to
//! `[w_min, w_max]`:
//!
//! | rule | presynaptic spike | postsynaptic spike |
//! |---|---|---|
//! | pair (Bi & Poo 1998; Song et al. 2000) | `w -= f-(w) A- o1` | `w += f+(w) A+ r1` |
//! | triplet (Pfister & Gerstner 2006) | `w -= f-(w) o1 (A2- + A3- r2')` | `w += f+(w) r1 (A2+ + A3+ o2')` |
//! | presynaptic (Diehl & Cook 2015) | none | `w += f+(w) eta (r1 - x_tar)` |
//!
//! (`r2'`, `o2'`: the trace just before this spike's own jump.) Weight dependence: additive
//! `f+ = f- = 1`; multiplicative `f+ = w_max - w`, `f- = w - w_min`; power law
//! `f+ = (w_max - w)^mu`, `f- = (w - w_min)^mu`.

use serde::Serialize;

/// How a trace jumps at its neuron's spike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TraceMode {
    /// `x <- x + 1`: every earlier spike pairs with every later one.
    AllToAll,
    /// `x <- 1`: a spike pairs with the nearest spike of the other side only.
    Nearest,
}

/// How the size of a change depends on the weight.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeightDependence {
    /// `f+ = f- = 1` (hard bounds only).
    Additive,
    /// `f+ = w_max - w`, `f- = w - w_min` (soft bounds).
    Multiplicative,
    /// `f+ = (w_max - w)^mu`, `f- = (w - w_min)^mu`.
    PowerLaw {
        /// The exponent, > 0.
        mu: f32,
    },
}

/// A spike-timing rule and its constants (amplitudes are magnitudes; depression subtracts).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "rule")]
pub enum StdpRule {
    /// Pair-based STDP.
    Pair {
        /// Potentiation amplitude `A+`.
        a_plus: f32,
        /// Depression amplitude `A-`.
        a_minus: f32,
        /// Presynaptic trace time constant, ms.
        tau_plus_ms: f32,
        /// Postsynaptic trace time constant, ms.
        tau_minus_ms: f32,
    },
    /// Triplet STDP (Pfister & Gerstner 2006).
    Triplet {
        /// Pair potentiation `A2+`.
        a2_plus: f32,
        /// Triplet potentiation `A3+` (post-pre-post).
        a3_plus: f32,
        /// Pair depression `A2-`.
        a2_minus: f32,
        /// Triplet depression `A3-` (pre-post-pre).
        a3_minus: f32,
        /// `r1`'s time constant, ms.
        tau_plus_ms: f32,
        /// `r2`'s time constant, ms.
        tau_x_ms: f32,
        /// `o1`'s time constant, ms.
        tau_minus_ms: f32,
        /// `o2`'s time constant, ms.
        tau_y_ms: f32,
    },
    /// Diehl & Cook's presynaptic-trace rule: potentiation at a postsynaptic spike by how far
    /// the presynaptic trace is above a target (below it: depression).
    Presynaptic {
        /// Learning rate `eta`.
        eta: f32,
        /// Target trace `x_tar`.
        x_target: f32,
        /// `r1`'s time constant, ms.
        tau_pre_ms: f32,
    },
}

impl StdpRule {
    /// The rule's name as a scenario writes it (`pair`, `triplet`, `presynaptic`).
    pub fn name(&self) -> &'static str {
        match self {
            StdpRule::Pair { .. } => "pair",
            StdpRule::Triplet { .. } => "triplet",
            StdpRule::Presynaptic { .. } => "presynaptic",
        }
    }
}

/// A plasticity rule the owner of a synapse applies: the rule, how traces jump, the weight
/// dependence and the bounds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Plasticity {
    /// The spike-timing rule.
    pub rule: StdpRule,
    /// How traces jump.
    pub traces: TraceMode,
    /// How a change scales with the weight.
    pub dependence: WeightDependence,
    /// Smallest weight.
    pub w_min: f32,
    /// Largest weight.
    pub w_max: f32,
}

/// A plasticity setting that cannot work.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key} = {value}: {reason}")]
pub struct PlasticityError {
    /// The parameter.
    pub key: &'static str,
    /// Its value.
    pub value: f32,
    /// What it must be.
    pub reason: &'static str,
}

impl Plasticity {
    /// The presynaptic and postsynaptic time constants (ms) of the traces the rule reads;
    /// `0` marks a trace it does not use.
    pub fn taus(&self) -> ([f32; 2], [f32; 2]) {
        match self.rule {
            StdpRule::Pair {
                tau_plus_ms,
                tau_minus_ms,
                ..
            } => ([tau_plus_ms, 0.0], [tau_minus_ms, 0.0]),
            StdpRule::Triplet {
                tau_plus_ms,
                tau_x_ms,
                tau_minus_ms,
                tau_y_ms,
                a3_minus,
                a3_plus,
                ..
            } => (
                [tau_plus_ms, if a3_minus != 0.0 { tau_x_ms } else { 0.0 }],
                [tau_minus_ms, if a3_plus != 0.0 { tau_y_ms } else { 0.0 }],
            ),
            StdpRule::Presynaptic { tau_pre_ms, .. } => ([tau_pre_ms, 0.0], [0.0, 0.0]),
        }
    }

    /// Checks the constants: finite, time constants > 0, amplitudes >= 0, bounds in order,
    /// a power-law exponent > 0.
    pub fn validate(&self) -> Result<(), PlasticityError> {
        let err = |key, value, reason| Err(PlasticityError { key, value, reason });
        for (key, tau) in self.time_constants() {
            if !(tau.is_finite() && tau > 0.0) {
                return err(key, tau, "a time constant must be finite and > 0 ms");
            }
        }
        for (key, a) in self.amplitudes() {
            if !(a.is_finite() && a >= 0.0) {
                return err(
                    key,
                    a,
                    "an amplitude must be finite and >= 0 (depression subtracts)",
                );
            }
        }
        if !(self.w_min.is_finite() && self.w_max.is_finite()) {
            return err("w_max", self.w_max, "the bounds must be finite");
        }
        if self.w_min >= self.w_max {
            return err("w_min", self.w_min, "must be below w_max");
        }
        if let WeightDependence::PowerLaw { mu } = self.dependence {
            if !(mu.is_finite() && mu > 0.0) {
                return err("mu", mu, "a power-law exponent must be finite and > 0");
            }
        }
        Ok(())
    }

    /// The rule's time constants by name.
    fn time_constants(&self) -> Vec<(&'static str, f32)> {
        match self.rule {
            StdpRule::Pair {
                tau_plus_ms,
                tau_minus_ms,
                ..
            } => vec![("tau_plus_ms", tau_plus_ms), ("tau_minus_ms", tau_minus_ms)],
            StdpRule::Triplet {
                tau_plus_ms,
                tau_x_ms,
                tau_minus_ms,
                tau_y_ms,
                ..
            } => vec![
                ("tau_plus_ms", tau_plus_ms),
                ("tau_x_ms", tau_x_ms),
                ("tau_minus_ms", tau_minus_ms),
                ("tau_y_ms", tau_y_ms),
            ],
            StdpRule::Presynaptic { tau_pre_ms, .. } => vec![("tau_pre_ms", tau_pre_ms)],
        }
    }

    /// The rule's amplitudes by name (and the presynaptic rule's target).
    fn amplitudes(&self) -> Vec<(&'static str, f32)> {
        match self.rule {
            StdpRule::Pair {
                a_plus, a_minus, ..
            } => vec![("a_plus", a_plus), ("a_minus", a_minus)],
            StdpRule::Triplet {
                a2_plus,
                a3_plus,
                a2_minus,
                a3_minus,
                ..
            } => vec![
                ("a2_plus", a2_plus),
                ("a3_plus", a3_plus),
                ("a2_minus", a2_minus),
                ("a3_minus", a3_minus),
            ],
            StdpRule::Presynaptic { eta, x_target, .. } => {
                vec![("eta", eta), ("x_target", x_target)]
            }
        }
    }

    /// How much a trace jumps from `x` at its neuron's spike.
    #[inline]
    pub fn jump(&self, x: f32) -> f32 {
        match self.traces {
            TraceMode::AllToAll => x + 1.0,
            TraceMode::Nearest => 1.0,
        }
    }

    /// `f+(w)`.
    #[inline]
    pub fn f_plus(&self, w: f32) -> f32 {
        match self.dependence {
            WeightDependence::Additive => 1.0,
            WeightDependence::Multiplicative => self.w_max - w,
            WeightDependence::PowerLaw { mu } => (self.w_max - w).max(0.0).powf(mu),
        }
    }

    /// `f-(w)`.
    #[inline]
    pub fn f_minus(&self, w: f32) -> f32 {
        match self.dependence {
            WeightDependence::Additive => 1.0,
            WeightDependence::Multiplicative => w - self.w_min,
            WeightDependence::PowerLaw { mu } => (w - self.w_min).max(0.0).powf(mu),
        }
    }

    /// The depression factor of a presynaptic spike (before `f-`): what multiplies into the
    /// weight's decrease given the postsynaptic trace `o1` and the spike's own `r2'`.
    #[inline]
    pub fn pre_factor(&self, o1: f32, r2: f32) -> f32 {
        match self.rule {
            StdpRule::Pair { a_minus, .. } => a_minus * o1,
            StdpRule::Triplet {
                a2_minus, a3_minus, ..
            } => o1 * (a2_minus + a3_minus * r2),
            StdpRule::Presynaptic { .. } => 0.0,
        }
    }

    /// The potentiation factor of a postsynaptic spike (before `f+`), given the presynaptic
    /// trace `r1` and the spike's own `o2'`.
    #[inline]
    pub fn post_factor(&self, r1: f32, o2: f32) -> f32 {
        match self.rule {
            StdpRule::Pair { a_plus, .. } => a_plus * r1,
            StdpRule::Triplet {
                a2_plus, a3_plus, ..
            } => r1 * (a2_plus + a3_plus * o2),
            StdpRule::Presynaptic { eta, x_target, .. } => eta * (r1 - x_target),
        }
    }

    /// `w` after a presynaptic spike that sees the postsynaptic trace `o1` and its own `r2'`.
    #[inline]
    pub fn depressed(&self, w: f32, o1: f32, r2: f32) -> f32 {
        self.clip(w - self.f_minus(w) * self.pre_factor(o1, r2))
    }

    /// `w` after a postsynaptic spike that sees the presynaptic trace `r1` and its own `o2'`.
    #[inline]
    pub fn potentiated(&self, w: f32, r1: f32, o2: f32) -> f32 {
        self.clip(w + self.f_plus(w) * self.post_factor(r1, o2))
    }

    /// Whether a presynaptic spike can change a weight.
    pub fn depresses(&self) -> bool {
        !matches!(self.rule, StdpRule::Presynaptic { .. })
    }

    /// Clips `w` into the bounds.
    #[inline]
    pub fn clip(&self, w: f32) -> f32 {
        w.clamp(self.w_min, self.w_max)
    }

    /// Diehl & Cook's published code's rule on input-to-excitatory synapses: the minimal
    /// triplet rule with nearest-spike traces (`nu_pre` = 0.0001 as `A2-`, `nu_post` = 0.01 as
    /// `A3+`, `tau_pre` 20 ms, `tau_post1` 20 ms, `tau_post2` 40 ms), additive, `w` in [0, 1].
    pub fn diehl_cook() -> Self {
        Plasticity {
            rule: StdpRule::Triplet {
                a2_plus: 0.0,
                a3_plus: 0.01,
                a2_minus: 0.0001,
                a3_minus: 0.0,
                tau_plus_ms: 20.0,
                tau_x_ms: 20.0,
                tau_minus_ms: 20.0,
                tau_y_ms: 40.0,
            },
            traces: TraceMode::Nearest,
            dependence: WeightDependence::Additive,
            w_min: 0.0,
            w_max: 1.0,
        }
    }
}

#[cfg(test)]
mod tests;

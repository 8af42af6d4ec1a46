//! Optimisers (SGD, momentum, Adam) and learning-rate schedules, applied per parameter
//! tensor so that each actor can own the optimiser state of exactly the synapses it holds.
//!
//! All optimisers *descend*: they are handed `dLoss/dparam` and subtract. Conventions follow
//! PyTorch: momentum keeps `v = mu v + g` and steps `lr v`; Adam uses bias-corrected moments
//! with `eps` added outside the square root.

use serde::{Deserialize, Serialize};

/// Which update rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// `w -= lr g`.
    Sgd,
    /// Heavy-ball momentum: `v = mu v + g; w -= lr v`.
    Momentum,
    /// Adam (Kingma & Ba 2015).
    Adam,
}

/// How the learning rate changes over a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// The same rate at every step.
    Constant,
    /// Cosine decay from `lr` at the first batch to 0 after the last:
    /// `lr_t = lr * (1 + cos(pi t / T)) / 2`.
    Cosine,
}

impl Schedule {
    /// The rate at batch step `step` of `total` (0-based).
    pub fn rate(self, base: f32, step: usize, total: usize) -> f32 {
        match self {
            Schedule::Constant => base,
            Schedule::Cosine => {
                let frac = step as f64 / total.max(1) as f64;
                (f64::from(base) * 0.5 * (1.0 + (std::f64::consts::PI * frac).cos())) as f32
            }
        }
    }
}

/// Hyper-parameters of an optimiser.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OptimizerConfig {
    /// Update rule.
    pub kind: OptimizerKind,
    /// Momentum coefficient `mu` (momentum only), in `[0, 1)`.
    pub momentum: f32,
    /// Adam's first-moment decay.
    pub beta1: f32,
    /// Adam's second-moment decay.
    pub beta2: f32,
    /// Adam's denominator guard.
    pub eps: f32,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            kind: OptimizerKind::Sgd,
            momentum: 0.9,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// Optimiser state for a fixed list of parameter tensors ("slots").
#[derive(Clone, Debug)]
pub struct Optimizer {
    cfg: OptimizerConfig,
    step: i32,
    first: Vec<Vec<f32>>,
    second: Vec<Vec<f32>>,
}

impl Optimizer {
    /// State for tensors of the given lengths.
    pub fn new(cfg: OptimizerConfig, sizes: &[usize]) -> Self {
        let zeros = |on: bool| {
            sizes
                .iter()
                .map(|&n| if on { vec![0.0; n] } else { Vec::new() })
                .collect()
        };
        Self {
            cfg,
            step: 0,
            first: zeros(cfg.kind != OptimizerKind::Sgd),
            second: zeros(cfg.kind == OptimizerKind::Adam),
        }
    }

    /// Starts a new optimisation step (call once per batch, before the updates).
    pub fn begin_step(&mut self) {
        self.step = self.step.saturating_add(1);
    }

    /// Applies one update to tensor `slot` with gradient `grad` at rate `lr`.
    pub fn update(&mut self, slot: usize, param: &mut [f32], grad: &[f32], lr: f32) {
        debug_assert_eq!(param.len(), grad.len());
        match self.cfg.kind {
            OptimizerKind::Sgd => {
                for (p, &g) in param.iter_mut().zip(grad) {
                    *p -= lr * g;
                }
            }
            OptimizerKind::Momentum => {
                let mu = self.cfg.momentum;
                for ((p, &g), v) in param.iter_mut().zip(grad).zip(&mut self.first[slot]) {
                    *v = mu * *v + g;
                    *p -= lr * *v;
                }
            }
            OptimizerKind::Adam => {
                let OptimizerConfig {
                    beta1, beta2, eps, ..
                } = self.cfg;
                let t = self.step.max(1);
                let c1 = 1.0 / (1.0 - beta1.powi(t));
                let c2 = 1.0 / (1.0 - beta2.powi(t));
                let m = &mut self.first[slot];
                let v = &mut self.second[slot];
                for (((p, &g), m), v) in param.iter_mut().zip(grad).zip(m).zip(v) {
                    *m = beta1 * *m + (1.0 - beta1) * g;
                    *v = beta2 * *v + (1.0 - beta2) * g * g;
                    *p -= lr * (*m * c1) / ((*v * c2).sqrt() + eps);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam_first_step_moves_by_lr() {
        // With bias correction, Adam's first step is lr * g / (|g| + eps) = lr * sign(g).
        let cfg = OptimizerConfig {
            kind: OptimizerKind::Adam,
            ..Default::default()
        };
        let mut opt = Optimizer::new(cfg, &[2]);
        let mut p = [1.0, 1.0];
        opt.begin_step();
        opt.update(0, &mut p, &[0.5, -2.0], 0.01);
        assert!(
            (p[0] - 0.99).abs() < 1e-6 && (p[1] - 1.01).abs() < 1e-6,
            "{p:?}"
        );
    }

    #[test]
    fn momentum_accumulates() {
        let cfg = OptimizerConfig {
            kind: OptimizerKind::Momentum,
            momentum: 0.5,
            ..Default::default()
        };
        let mut opt = Optimizer::new(cfg, &[1]);
        let mut p = [0.0];
        for _ in 0..2 {
            opt.begin_step();
            opt.update(0, &mut p, &[1.0], 0.1);
        }
        // v1 = 1, v2 = 1.5: p = -0.1 - 0.15
        assert!((p[0] + 0.25).abs() < 1e-7);
    }

    #[test]
    fn cosine_decays_to_zero() {
        assert_eq!(Schedule::Cosine.rate(0.1, 0, 10), 0.1);
        assert!((Schedule::Cosine.rate(0.1, 5, 10) - 0.05).abs() < 1e-7);
        assert!(Schedule::Cosine.rate(0.1, 10, 10).abs() < 1e-7);
        assert_eq!(Schedule::Constant.rate(0.1, 7, 10), 0.1);
    }
}

//! `[train]`: epochs, batches, the optimiser, the loss and the learning-rate schedule.

use serde::{Deserialize, Serialize};

use super::{fmt_f64, invalid, ScenarioError, MAX_EPOCHS};
use crate::math::loss::Loss;
use crate::math::optimizer::{OptimizerKind, Schedule};

const MAX_BATCH: usize = 1_000_000;

/// `[train]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSection {
    /// Passes over the training set, 1..=1000000. Default 10.
    pub epochs: usize,
    /// Examples per minibatch (the last batch of an epoch may be smaller), 1..=1000000.
    /// Default 64.
    pub batch_size: usize,
    /// `sgd` | `momentum` | `adam`. Default `adam`.
    pub optimizer: OptimizerKind,
    /// Learning rate, finite and > 0 (and < 1000). Default 0.001.
    pub lr: f64,
    /// Momentum coefficient for `optimizer = "momentum"`, in [0, 1). Default 0.9.
    pub momentum: f64,
    /// `cross-entropy` | `mse`. Default `cross-entropy`.
    pub loss: Loss,
    /// Learning-rate schedule: `constant` | `cosine`. Default `constant`. (`cosine` decays
    /// the rate to 0 over the run.)
    pub schedule: Schedule,
}

impl Default for TrainSection {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 64,
            optimizer: OptimizerKind::Adam,
            lr: 1e-3,
            momentum: 0.9,
            loss: Loss::CrossEntropy,
            schedule: Schedule::Constant,
        }
    }
}

impl TrainSection {
    /// Checks the epoch and batch counts, the learning rate and the momentum.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        if self.epochs == 0 || self.epochs > MAX_EPOCHS {
            return Err(invalid(
                "train.epochs",
                self.epochs,
                &format!("must be between 1 and {MAX_EPOCHS}"),
            ));
        }
        if self.batch_size == 0 || self.batch_size > MAX_BATCH {
            return Err(invalid(
                "train.batch_size",
                self.batch_size,
                &format!("must be between 1 and {MAX_BATCH}"),
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr < 1e3) {
            return Err(invalid(
                "train.lr",
                fmt_f64(self.lr),
                "must be a finite number > 0 (and < 1000)",
            ));
        }
        if !(self.momentum.is_finite() && (0.0..1.0).contains(&self.momentum)) {
            return Err(invalid(
                "train.momentum",
                fmt_f64(self.momentum),
                "must be a finite number in [0, 1)",
            ));
        }
        Ok(())
    }
}

//! `[convert]`: ANN-to-SNN conversion (`algorithm.kind = "snn-convert"`): which network, how
//! it is normalised, how pixels drive it, and when accuracy is read.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{fmt_f64, invalid, ScenarioError};

/// `[convert]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConvertSection {
    /// A safetensors checkpoint to convert (relative to the current directory); default: train
    /// the network by BP in the same run, as `[train]` says.
    pub checkpoint: Option<PathBuf>,
    /// Tick counts (1..=100000) at which accuracy is read (one simulation of the largest).
    /// Default `[10, 25, 50, 100, 200]`.
    pub ticks: Vec<usize>,
    /// Percentile of each layer's activations used to normalise it, in (0, 100]. Default 99.9.
    pub percentile: f64,
    /// Training examples used for the normalisation, >= 1. Default 10000.
    pub normalise_examples: usize,
    /// How pixels drive the first layer: `constant` | `poisson`. Default `constant`. A current
    /// equal to the pixel values, or a spike train per pixel.
    pub input: InputCoding,
    /// Poisson input: firing probability per tick of a pixel of intensity 1, in (0, 1]
    /// (each input spike's weight is divided by it, so the expected current stays the
    /// same). Default 1.0.
    pub poisson_max_rate: f64,
}

/// `convert.input`: the scenario's name of a [`crate::spike::convert::Input`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputCoding {
    /// A constant current.
    Constant,
    /// Poisson (Bernoulli per tick) spike trains.
    Poisson,
}

impl Default for ConvertSection {
    fn default() -> Self {
        Self {
            checkpoint: None,
            ticks: vec![10, 25, 50, 100, 200],
            percentile: 99.9,
            normalise_examples: 10_000,
            input: InputCoding::Constant,
            poisson_max_rate: 1.0,
        }
    }
}

impl ConvertSection {
    /// Checks the ticks, the percentile, the Poisson rate and the example count.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        if self.ticks.is_empty() || self.ticks.iter().any(|&t| t == 0 || t > 100_000) {
            return Err(invalid(
                "convert.ticks",
                format!("{:?}", self.ticks),
                "must list tick counts between 1 and 100000, e.g. [10, 25, 50, 100, 200]",
            ));
        }
        let p = self.percentile;
        if !(p.is_finite() && p > 0.0 && p <= 100.0) {
            return Err(invalid(
                "convert.percentile",
                fmt_f64(p),
                "must be in (0, 100]",
            ));
        }
        let rate = self.poisson_max_rate;
        if !(rate.is_finite() && rate > 0.0 && rate <= 1.0) {
            return Err(invalid(
                "convert.poisson_max_rate",
                fmt_f64(rate),
                "must be a firing probability per tick in (0, 1]",
            ));
        }
        if self.normalise_examples == 0 {
            return Err(invalid("convert.normalise_examples", 0, "must be >= 1"));
        }
        Ok(())
    }

    /// The tick counts, ascending, each once.
    pub fn sorted_ticks(&self) -> Vec<usize> {
        let mut ticks = self.ticks.clone();
        ticks.sort_unstable();
        ticks.dedup();
        ticks
    }

    /// The input coding as the converted network takes it (Poisson trains seeded by `seed`).
    pub fn input(&self, seed: u64) -> crate::spike::convert::Input {
        match self.input {
            InputCoding::Constant => crate::spike::convert::Input::Constant,
            InputCoding::Poisson => crate::spike::convert::Input::Poisson {
                max_rate: self.poisson_max_rate,
                seed,
            },
        }
    }
}

//! `[algorithm]`: which learning algorithm, and the keys of predictive coding, Kolen-Pollack
//! feedback and equilibrium propagation.

use serde::{Deserialize, Serialize};

use super::{fmt_f64, invalid, CompareSection, NetworkSection, ScenarioError, TrainSection};
use crate::learn::layer::{Feedback, KpInit};

/// Learning algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlgorithmKind {
    /// Synchronous backpropagation (the baseline).
    Bp,
    /// Standard predictive coding (inference learning) on layer actors.
    Pc,
    /// Zero-divergence inference learning (Song et al. 2020) on layer actors: equals BP.
    Zil,
    /// The CUBA spiking network (`[cuba]`; no data, no training).
    Cuba,
    /// The Potjans & Diesmann cortical microcircuit (`[microcircuit]`; no data, no training).
    Microcircuit,
    /// ANN-to-SNN conversion (`[convert]`): a trained ReLU network (a checkpoint, or trained
    /// by BP in the same run) runs as integrate-and-fire actors.
    SnnConvert,
    /// Equilibrium propagation (Scellier & Bengio 2017) on layer actors: free phase, nudged
    /// phase, contrastive update.
    Ep,
    /// Equilibrium propagation with continual weight updates (Ernoult et al. 2020): the update
    /// applied at every nudged step.
    Cep,
    /// Diehl & Cook's unsupervised MNIST network (`[stdp_mnist]`, `[plasticity]`):
    /// spike-timing learning on actors.
    StdpMnist,
    /// Spiking predictive coding on layer actors (`[spc]`): value and error neurons that
    /// exchange only spikes, with local feedback synapses.
    Spc,
}

impl AlgorithmKind {
    /// The scenario name.
    pub fn name(self) -> &'static str {
        match self {
            AlgorithmKind::Bp => "bp",
            AlgorithmKind::Pc => "pc",
            AlgorithmKind::Zil => "zil",
            AlgorithmKind::Cuba => "cuba",
            AlgorithmKind::Microcircuit => "microcircuit",
            AlgorithmKind::SnnConvert => "snn-convert",
            AlgorithmKind::Ep => "ep",
            AlgorithmKind::Cep => "cep",
            AlgorithmKind::StdpMnist => "stdp-mnist",
            AlgorithmKind::Spc => "spc",
        }
    }

    /// Whether it is a spiking network simulation (`cuba`, `microcircuit`): no data, no
    /// training.
    pub fn is_spiking_network(self) -> bool {
        matches!(self, AlgorithmKind::Cuba | AlgorithmKind::Microcircuit)
    }

    /// Whether it trains layer actors (`pc`, `zil`, `ep`, `cep`): the learning runs that
    /// spread over MPI ranks.
    pub fn is_layer_actors(self) -> bool {
        matches!(
            self,
            AlgorithmKind::Pc
                | AlgorithmKind::Zil
                | AlgorithmKind::Ep
                | AlgorithmKind::Cep
                | AlgorithmKind::Spc
        )
    }

    /// Whether it is equilibrium propagation (`ep` or `cep`).
    pub fn is_ep(self) -> bool {
        matches!(self, AlgorithmKind::Ep | AlgorithmKind::Cep)
    }
}

/// `[algorithm]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlgorithmSection {
    /// `bp` | `pc` | `zil` | `cuba` | `microcircuit` | `snn-convert` | `ep` | `cep` |
    /// `stdp-mnist` | `spc`. Default `bp`. Synchronous backprop; predictive coding and zero-divergence inference learning on
    /// layer actors; the CUBA spiking network (`[cuba]`); the cortical microcircuit
    /// (`[microcircuit]`); ANN-to-SNN conversion (`[convert]`);
    /// equilibrium propagation, and its continual-update variant, on layer actors; Diehl &
    /// Cook's network learning by STDP (`[stdp_mnist]`, `[plasticity]`); spiking predictive
    /// coding (`[spc]`).
    pub kind: AlgorithmKind,
    /// `pc`: inference steps `T` per batch, 1..=10000. Default 20.
    pub inference_steps: usize,
    /// `pc`: inference rate `gamma`, finite, in (0, 2]. Default 0.1. (`zil` uses 1 unless set.)
    pub inference_rate: Option<f64>,
    /// `transpose` | `kolen-pollack` | `random` | `direct`. Default `transpose`. The oracle
    /// `W^T` (counted as weight transport); Kolen-Pollack; fixed random `B` (feedback
    /// alignment); the output error straight to every hidden layer (DFA).
    pub feedback: Feedback,
    /// Kolen-Pollack weight decay `lambda` on `W` and `B`, in [0, 1). Default 0.
    pub kp_decay: f64,
    /// Kolen-Pollack initial `B`: `shared-seed` | `random`. Default `shared-seed` (equal to
    /// `W^T`, no message).
    pub kp_init: KpInit,
    /// Start value nodes from a forward sweep. Default true (`false` is a negative control).
    pub forward_init: bool,
    /// Apply each update before that step's feedback is sent. Default false (`true` is a
    /// negative control that breaks Z-IL's equality with BP).
    pub update_before_feedback: bool,
    /// `ep`, `cep`: steps of the free phase `T`, 1..=10000. Default 20.
    pub free_steps: usize,
    /// `ep`, `cep`: steps of the nudged phase `K`, 1..=10000. Default 4.
    pub nudged_steps: usize,
    /// `ep`, `cep`: nudging strength `beta`, finite, in (0, 10]. Default 0.5.
    pub beta: f64,
    /// `ep`, `cep`: draw the sign of `beta` at random per training batch. Default false.
    pub random_sign_beta: bool,
    /// `ep`, `cep`: relaxation rate `eps` of a step, in (0, 1]. Default 0.5.
    pub step: f64,
    /// `ep`, `cep`: learning rate of each weight layer, one per layer (`W_1` first); default
    /// `train.lr` for every layer.
    pub layer_lr: Option<Vec<f64>>,
}

impl Default for AlgorithmSection {
    fn default() -> Self {
        Self {
            kind: AlgorithmKind::Bp,
            inference_steps: 20,
            inference_rate: None,
            feedback: Feedback::Transpose,
            kp_decay: 0.0,
            kp_init: KpInit::SharedSeed,
            forward_init: true,
            update_before_feedback: false,
            free_steps: 20,
            nudged_steps: 4,
            beta: 0.5,
            random_sign_beta: false,
            step: 0.5,
            layer_lr: None,
        }
    }
}

impl AlgorithmSection {
    /// Checks every key's range; `network` (already valid) gives the number of weight layers
    /// `layer_lr` must match.
    pub fn validate(&self, network: &NetworkSection) -> Result<(), ScenarioError> {
        if !(1..=10_000).contains(&self.inference_steps) {
            return Err(invalid(
                "algorithm.inference_steps",
                self.inference_steps,
                "must be between 1 and 10000",
            ));
        }
        if let Some(g) = self.inference_rate {
            if !(g.is_finite() && g > 0.0 && g <= 2.0) {
                return Err(invalid(
                    "algorithm.inference_rate",
                    fmt_f64(g),
                    "must be a finite number in (0, 2] (0.1 is typical for pc; zil needs 1)",
                ));
            }
        }
        if !(self.kp_decay.is_finite() && (0.0..1.0).contains(&self.kp_decay)) {
            return Err(invalid(
                "algorithm.kp_decay",
                fmt_f64(self.kp_decay),
                "must be a finite number in [0, 1)",
            ));
        }
        self.validate_ep_keys()?;
        self.validate_layer_lr(network)
    }

    /// The `ep` / `cep` phase lengths, `beta` and `step`.
    fn validate_ep_keys(&self) -> Result<(), ScenarioError> {
        for (key, v) in [
            ("algorithm.free_steps", self.free_steps),
            ("algorithm.nudged_steps", self.nudged_steps),
        ] {
            if !(1..=10_000).contains(&v) {
                return Err(invalid(key, v, "must be between 1 and 10000"));
            }
        }
        if !(self.beta.is_finite() && self.beta > 0.0 && self.beta <= 10.0) {
            return Err(invalid(
                "algorithm.beta",
                fmt_f64(self.beta),
                "must be a finite number in (0, 10] (its sign flips with random_sign_beta)",
            ));
        }
        if !(self.step.is_finite() && self.step > 0.0 && self.step <= 1.0) {
            return Err(invalid(
                "algorithm.step",
                fmt_f64(self.step),
                "must be a finite relaxation rate in (0, 1]",
            ));
        }
        Ok(())
    }

    /// One finite, positive rate per weight layer.
    fn validate_layer_lr(&self, network: &NetworkSection) -> Result<(), ScenarioError> {
        let Some(rates) = &self.layer_lr else {
            return Ok(());
        };
        let weights = network.weight_layers();
        if rates.len() != weights {
            return Err(invalid(
                "algorithm.layer_lr",
                format!("{rates:?}"),
                &format!(
                    "needs one rate per weight layer: {weights} for network.layers {:?}",
                    network.layers
                ),
            ));
        }
        if let Some(i) = rates
            .iter()
            .position(|r| !(r.is_finite() && *r > 0.0 && *r < 1e3))
        {
            return Err(invalid(
                &format!("algorithm.layer_lr[{i}]"),
                fmt_f64(rates[i]),
                "must be a finite number > 0 (and < 1000)",
            ));
        }
        Ok(())
    }

    /// What equilibrium propagation cannot combine with (nothing to check for other kinds).
    pub fn check_ep_fits(
        &self,
        network: &NetworkSection,
        train: &TrainSection,
        compare: &CompareSection,
    ) -> Result<(), ScenarioError> {
        if !self.kind.is_ep() {
            return Ok(());
        }
        let kind = self.kind.name();
        if !network.activation.bounded() {
            return Err(invalid(
                "network.activation",
                format!("{:?}", network.activation.name()),
                &format!(
                    "{kind} needs a bounded rho (its Hopfield energy is unbounded below with \
                     relu): use \"hard-sigmoid\" (Scellier & Bengio) or \"shifted-sigmoid\" \
                     (the C-EP paper's)"
                ),
            ));
        }
        if train.loss != crate::math::loss::Loss::Mse {
            return Err(invalid(
                "train.loss",
                format!("{:?}", train.loss.name()),
                &format!("must be \"mse\" for {kind}: its cost is 1/2 ||y - s_out||^2"),
            ));
        }
        if self.feedback == Feedback::Direct {
            return Err(invalid(
                "algorithm.feedback",
                "\"direct\"",
                &format!(
                    "{kind} couples neighbouring layers: use \"transpose\" (oracle), \
                     \"kolen-pollack\" or \"random\""
                ),
            ));
        }
        if self.kp_decay != 0.0 {
            return Err(invalid(
                "algorithm.kp_decay",
                fmt_f64(self.kp_decay),
                &format!("must be 0 for {kind} (its Kolen-Pollack copies take no decay)"),
            ));
        }
        if compare.check_gradients {
            return Err(invalid(
                "compare.check_gradients",
                "true",
                &format!("works with pc and zil only ({kind} has its own gradient check test)"),
            ));
        }
        Ok(())
    }
}

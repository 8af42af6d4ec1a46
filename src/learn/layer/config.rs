//! What every layer actor of a run agrees on before it starts: the [`LayerConfig`] (learning
//! rule, feedback mode, optimiser, schedule), the feedback modes, the asynchronous schedule's
//! settings and how a layer is cut into shards.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::math::activation::Activation;
use crate::math::loss::Loss;
use crate::math::optimizer::{OptimizerConfig, Schedule};

/// Where a hidden layer's feedback synapses `B` come from (`algorithm.feedback`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Feedback {
    /// Oracle: `B = W_above^T`, copied by `WeightTransport` messages (counted).
    Transpose,
    /// `B` learns by the same local rule (and decay) as `W_above^T` (Akrout et al. 2019).
    KolenPollack,
    /// Fixed random `B` (feedback alignment, Lillicrap et al. 2016).
    Random,
    /// The output error goes straight to every hidden layer through fixed random `B` (DFA).
    Direct,
}

impl Feedback {
    /// The scenario name.
    pub fn name(self) -> &'static str {
        match self {
            Feedback::Transpose => "transpose",
            Feedback::KolenPollack => "kolen-pollack",
            Feedback::Random => "random",
            Feedback::Direct => "direct",
        }
    }
}

/// How Kolen-Pollack feedback synapses start (`algorithm.kp_init`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KpInit {
    /// Both actors derive the same initial values from the shared seed: `B = W^T` from the
    /// start, with no message.
    SharedSeed,
    /// `B` starts from its own random draw and converges towards `W^T`.
    Random,
}

/// Everything a layer-actor run's actors agree on before it starts (predictive coding, Z-IL,
/// the asynchronous schedule, EP and C-EP alike).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerConfig {
    /// Zero-divergence inference learning instead of standard PC.
    pub zil: bool,
    /// Inference steps `T` of standard PC (Z-IL uses `L - 1` after the forward sweep).
    pub steps: usize,
    /// Inference rate `gamma` (Z-IL needs 1).
    pub gamma: f32,
    /// Initialise value nodes by a forward sweep (`false`: from zero; a negative control).
    pub forward_init: bool,
    /// Apply each update before that step's feedback is sent (a negative control).
    pub update_before_feedback: bool,
    /// Feedback mode.
    pub feedback: Feedback,
    /// Weight decay `lambda` of Kolen-Pollack, applied to `W` and `B` alike: each update
    /// multiplies both by `1 - lambda * lr_t / lr` (the decay follows the learning-rate
    /// schedule, as AdamW's does), so `B - W^T` shrinks by that factor per batch.
    pub kp_decay: f32,
    /// How Kolen-Pollack `B` starts.
    pub kp_init: KpInit,
    /// Shards per hidden layer (clamped to the layer's width).
    pub shards: usize,
    /// Output loss.
    pub loss: Loss,
    /// Hidden activation.
    pub activation: Activation,
    /// Optimiser each actor runs on its own synapses.
    pub optimizer: OptimizerConfig,
    /// Base learning rate.
    pub lr: f32,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Training batches over the whole run (the schedule's length).
    pub total_batches: usize,
    /// Report every batch's weights and gradients so the coordinator can compare them with
    /// backprop's gradient from the same weights (exactness checks; slow).
    pub check_gradients: bool,
    /// The asynchronous schedule (`None`: lockstep).
    pub asynchronous: Option<AsyncSchedule>,
    /// Equilibrium propagation instead of predictive coding (`algorithm.kind = "ep"` or
    /// `"cep"`): the layers are `EpLayerActor`s, `activation` is `rho`,
    /// and `zil`, `steps`, `gamma`, `loss` and the PC switches do not apply.
    pub ep: Option<crate::learn::ep::EpConfig>,
    /// Spiking predictive coding instead (`algorithm.kind = "spc"`): the layers are
    /// `SpcLayer`s exchanging spikes; `steps` and `forward_init` do not apply.
    pub spc: Option<SpcConfig>,
    /// What `[[probe]]`s record of the layers (predictive coding's layer actors).
    pub probes: Vec<crate::message::probe::ProbePlan>,
}

/// The schedule and thresholds of spiking predictive coding (`[spc]`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpcConfig {
    /// Ticks per batch in which the value neurons follow their input (evaluation's ticks).
    pub settle_ticks: usize,
    /// Ticks per training batch after those, with the label clamped: errors spike, value
    /// neurons relax, spike counts are taken for learning.
    pub learn_ticks: usize,
    /// Ticks of the synaptic trace's running mean (then an exponential of this time constant).
    pub trace_ticks: usize,
    /// Threshold of the hidden layers' error neurons.
    pub error_threshold: f32,
    /// Threshold of the output's error neurons.
    pub output_threshold: f32,
    /// The activity a value neuron's top rate (one spike a tick) stands for: it fires at
    /// `min(f(x) / max_value, 1)` a tick, and its targets weigh its spikes by `max_value`.
    pub max_value: f32,
}

impl SpcConfig {
    /// The last tick of a training batch.
    pub fn last_step(&self) -> usize {
        self.settle_ticks + self.learn_ticks - 1
    }

    /// The threshold of a layer's error neurons (the output's when `output`).
    pub fn threshold(&self, output: bool) -> f32 {
        if output {
            self.output_threshold
        } else {
            self.error_threshold
        }
    }
}

/// The asynchronous schedule's settings (`runtime.schedule = "async"`; see the module doc).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AsyncSchedule {
    /// An actor is settled when `|E - E_prev| <= tolerance * max(|E|, |E_prev|)` for its local
    /// energy `E` over its last update (and it holds no delayed message).
    pub settle_tolerance: f32,
    /// Most updates an actor makes per training batch for each layer it hears from (so a
    /// hidden layer between two others makes up to twice as many); then it counts as settled.
    pub max_updates: u64,
    /// The faults each inference edge injects.
    pub faults: crate::runtime::faults::LinkFaults,
    /// Seed of the per-edge fault streams.
    pub seed: u64,
    /// An actor that has heard nothing for this long counts as settled (a lost message must
    /// not hold a batch forever); held delayed messages are then released.
    pub quiet: std::time::Duration,
}

impl LayerConfig {
    /// The last step of a training batch for a network of `layers` weight layers.
    pub fn last_step(&self, layers: usize) -> usize {
        if let Some(spc) = &self.spc {
            spc.last_step()
        } else if self.zil {
            layers - 1
        } else {
            self.steps
        }
    }
}

/// The neurons of shard `s` of `k` over a layer of `width`.
pub fn shard_range(width: usize, k: usize, s: usize) -> Range<usize> {
    s * width / k..(s + 1) * width / k
}

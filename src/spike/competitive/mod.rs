//! Competitive (winner-take-all) layers on actors, as Diehl & Cook (2015) build them: a
//! [`CompetitiveShard`] owns a range of excitatory conductance-based LIF neurons, their
//! dense plastic synapses from an input population ([`DenseProjection`](crate::spike::plasticity::DenseProjection)), their adaptive
//! thresholds, and one inhibitory partner per excitatory neuron (excited one-to-one; it
//! inhibits every excitatory neuron but its own partner).
//!
//! **Schedule.** Presentations follow one another: the coordinator's phase word
//! ([`Phase::Present`](crate::message::Phase::Present)) says whether the shard learns, and the input's window
//! ([`Message::Input`](crate::message::Message::Input)) carries the input spikes; a presentation is `present + rest` ticks
//! (the input only during the first `present`). Within it, shards run in lockstep: at tick
//! `g` a shard first applies the inhibitory spikes of tick `g - 1` from every shard (their
//! count, so the sums do not depend on the sharding), then integrates and fires, delivers the
//! input spikes of this tick (presynaptic plasticity), excites its inhibitory partners, applies
//! postsynaptic plasticity and threshold growth, and sends its inhibitory spikes of tick `g` to
//! the other shards (one [`Message::Spike`](crate::message::Message::Spike) each: the shard's index, then local indices). At a
//! presentation's end it reports its excitatory neurons' spike counts
//! ([`ReportData::Responses`](crate::message::ReportData::Responses)). With one shard no spike message is needed at all.

mod shard;

pub use shard::CompetitiveShard;

use serde::Serialize;

use crate::spike::conductance::CobaParams;
use crate::spike::plasticity::Plasticity;

/// What a competitive layer is made of, shared by its shards.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CompetitiveParams {
    /// Excitatory neurons (their base threshold; the adaptive `theta` adds to it).
    pub exc: CobaParams,
    /// Inhibitory neurons.
    pub inh: CobaParams,
    /// Initial membrane potentials, mV: excitatory, inhibitory.
    pub v0_mv: (f32, f32),
    /// Weight of excitatory neuron `j` onto inhibitory neuron `j` (added to its `ge`).
    pub w_exc_inh: f32,
    /// Weight of inhibitory neuron `j` onto every other excitatory neuron (added to `gi`).
    pub w_inh_exc: f32,
    /// The input synapses' rule (`None`: fixed weights).
    pub plasticity: Option<Plasticity>,
    /// Adaptive threshold: initial theta, increment per spike (mV), time constant (ms).
    pub theta: (f32, f32, f32),
    /// Each excitatory neuron's input weights are scaled to sum to this before each learning
    /// presentation (`None`: no normalisation).
    pub normalise_to: Option<f32>,
    /// Ticks of a presentation with input, then without.
    pub present_ticks: u32,
    /// Ticks of rest after the input.
    pub rest_ticks: u32,
}

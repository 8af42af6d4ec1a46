//! Synaptic plasticity that stays local: the learning rules ([`rule`]: pair-based and
//! triplet STDP, Diehl & Cook's presynaptic-trace rule, with additive, multiplicative or
//! power-law weight dependence and hard bounds), the spike traces they read, a dense
//! plastic projection owned by the receiving shard, with optional per-synapse delays
//! ([`dense`]), plastic sparse synapses of a recurrent network's population shards and neuron
//! actors ([`sparse`]), and the neuron's own homeostasis ([`homeostasis`]: an adaptive
//! threshold).
//!
//! Locality: the actor that owns a synapse (the one that receives through it) updates it
//! from what it already receives. Presynaptic traces are kept from the spike events that
//! arrive, postsynaptic traces from the owner's own spikes; no extra message is sent and no
//! other actor's state is read.

pub mod dense;
pub mod homeostasis;
pub mod rule;
pub mod sparse;

pub use dense::DenseProjection;
pub use homeostasis::AdaptiveThreshold;
pub use rule::{Plasticity, PlasticityError, StdpRule, TraceMode, WeightDependence};
pub use sparse::{PlasticProjections, Projection, SparsePlasticity, SynapseTraces, WeightFigures};

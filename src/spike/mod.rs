//! Spiking networks: the LIF neuron as pure functions, recurrent LIF networks on actors
//! (population shards, one actor per neuron, the CUBA benchmark) and ANN-to-SNN conversion.

pub mod convert;
pub mod lif;
pub mod snn;

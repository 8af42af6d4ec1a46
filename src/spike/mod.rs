//! Spiking networks: the LIF neuron as pure functions ([`lif`]), recurrent LIF networks on
//! actors ([`population`] shards, one actor per neuron in [`neuron_actor`], the CUBA benchmark
//! in [`cuba`]) and ANN-to-SNN conversion ([`convert`]).

pub mod convert;
pub mod cuba;
pub mod lif;
pub mod neuron_actor;
pub mod population;

//! The spiking core, which names no model: the LIF neuron as pure functions ([`lif`]),
//! recurrent LIF networks on actors ([`population`] shards with their external [`drive`] and
//! [`record`], how spikes act without per-synapse weights in `coupling`; one actor per
//! neuron in [`neuron_actor`], wired and run by `neuron_network`), what a run counted and
//! measured ([`tally`], [`stats`]), ANN-to-SNN conversion ([`convert`]) and NIR graphs on
//! actors ([`nir`]). Models built on it live in `src/models/`.

pub mod competitive;
pub mod conductance;
pub mod convert;
pub(crate) mod coupling;
pub mod drive;
pub mod lif;
pub mod neuron_actor;
pub(crate) mod neuron_network;
pub mod nir;
pub mod plasticity;
pub mod poisson_source;
pub mod population;
pub mod probe_sink;
pub mod record;
pub mod stats;
pub mod tally;

//! Spiking networks: the LIF neuron as pure functions ([`lif`]), recurrent LIF networks on
//! actors ([`population`] shards with their external [`drive`] and [`record`], one actor per
//! neuron in [`neuron_actor`]), the CUBA benchmark in [`cuba`], the Potjans & Diesmann
//! cortical microcircuit in [`microcircuit`], and ANN-to-SNN conversion ([`convert`]).

pub mod convert;
pub mod drive;
pub mod lif;
pub mod neuron_actor;
pub mod nir;
pub mod population;
pub mod record;

// Moved to `crate::models`; re-exported until the paths are updated.
pub use crate::models::{cuba, microcircuit};

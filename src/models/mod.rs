//! Spiking models built on the spiking core ([`crate::spike`]): the CUBA benchmark
//! ([`cuba`]) and the Potjans & Diesmann cortical microcircuit ([`microcircuit`]).

pub mod cuba;
pub mod microcircuit;

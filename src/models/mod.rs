//! Spiking models, each a short module on top of the spiking core ([`crate::spike`]), and the
//! one place where a model is registered: the CUBA benchmark ([`cuba`]) and the Potjans &
//! Diesmann cortical microcircuit ([`microcircuit`]), and Diehl & Cook's unsupervised MNIST
//! network with spike-timing learning ([`diehl_cook`]).
//!
//! # What a model is
//! A model is the description of one network and nothing else: its configuration (a plain
//! struct, `Serialize` so the ranks of a run agree on it; a scenario's `[name]` section
//! resolves to it), the parameters and seeded random streams that
//! draw its neurons and synapses, and a run function from (configuration, seed, shards,
//! [`RuntimeConfig`](crate::runtime::RuntimeConfig)) to what it measured: a
//! [`SpikingRun`](crate::spike::tally::SpikingRun), or its own type holding an
//! [`SnnStats`](crate::spike::stats::SnnStats) (`"snn"` in results.json) and its extras. It
//! builds its network from the core's parts and owns none of them:
//!
//! - neurons: [`LifParams`](crate::spike::lif::LifParams) and
//!   [`LifState`](crate::spike::lif::LifState);
//! - shards: [`Population`](crate::spike::population::Population) actors with their incoming
//!   synapses in a [`SynapseTable`](crate::spike::population::SynapseTable) (shared weights by
//!   source kind through `spike::coupling::Coupling`, or a weight and delay per synapse),
//!   external input from [`drive`](crate::spike::drive) and per-population statistics from
//!   [`record`](crate::spike::record);
//! - one actor per neuron: `spike::neuron_network::NeuronNetwork`;
//! - figures: `spike::tally::collect` sums what the actors counted into an
//!   [`SnnStats`](crate::spike::stats::SnnStats) and a raster.
//!
//! The core imports no model: no file under `src/spike/` names `crate::models` (or
//! `crate::experiment`), so a model can change, or a new one arrive, without touching it.
//!
//! # Adding a model
//! 1. Write `src/models/<name>.rs` (or `src/models/<name>/` when it needs several files)
//!    opening with a `//!` line saying what it owns: its configuration, its network drawn from
//!    the seed, its run function on the core's parts, and its tests beside it.
//! 2. Register it here: `pub mod <name>;`, and one bullet in the list above.
//! 3. To run it from a scenario (outside the library's spiking core): its raw section in
//!    `experiment/scenario/<name>.rs` (serde, `deny_unknown_fields`, validated there and
//!    translated into the model's configuration, like `[cuba]`'s `CubaSection`), an
//!    `algorithm.kind` value, and a
//!    runner in `experiment/run/spiking.rs` that calls `models::<name>` and writes the run
//!    folder.
//! 4. Name the module in `src/lib.rs`'s map and in the tree of `docs/architecture.md`
//!    (`tests/layout.rs` checks both).
//!
//! A model that needs a new kind of actor or synapse (plasticity, say) adds that part to the
//! core as a generic piece, named for what it is, not for the model.

pub mod cuba;
pub mod diehl_cook;
pub mod microcircuit;

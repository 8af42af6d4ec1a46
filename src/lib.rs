//! axon: neural networks that learn and spike by message passing.
//!
//! Real MNIST (or any IDX data set), scenarios, the synchronous backprop (BP) baseline every
//! local-learning result is compared against, an actor runtime, and predictive coding (standard
//! PC, Z-IL, local feedback modes) and equilibrium propagation learnt by layer actors that
//! exchange only messages, and spiking networks (LIF populations, the CUBA benchmark, the cortical microcircuit,
//! ANN-to-SNN conversion) whose actors exchange spike events. A scenario file
//! ([`experiment::scenario::Scenario`]) describes a run; [`experiment::run::run`] trains it and
//! writes a run folder with the resolved scenario, `results.json`, plots and safetensors
//! checkpoints.
//!
//! # Layout
//! One folder per layer of the design, one concept per file; every file opens with a line
//! saying what it owns. `tests/layout.rs` checks that this map names every module in the tree.
//! - [`runtime`]: the actor runtime; knows nothing of learning or spiking. `actor` (the trait
//!   and its `Context`), `payload` (what the runtime reads of a message), `mailbox`, `network`
//!   (the description of a network and its report), `executor` (tokio, threads, inline),
//!   `cell` (a running actor), `supervisor` (panics, stalls, non-finite stops), `traffic`
//!   (per-edge counters), `trace_log` (sampled events, Chrome trace), `faults` (on edges),
//!   `memory` (resident, peak and available memory).
//! - [`cluster`]: one network over several processes (MPI ranks): `ranks` (the handle a run
//!   is given), `ranked` (the one sequence of a run over ranks), `placement` (which rank
//!   holds which shard), `bridge` (the actor exchanging a window's spikes across ranks),
//!   `remote` (stand-ins for other ranks' actors and the port carrying learning runs'
//!   messages point to point), `wire` (the frame format of messages between ranks),
//!   `threads` (ranks as threads, for tests), `mpi` (the transport, `mpi` feature).
//! - [`message`]: the message vocabulary every actor speaks (activity, errors, spikes, control,
//!   reports, weight transport) and `synapses`, the weights that never leave their actor except
//!   as a counted `WeightCopy`.
//! - [`math`]: `matrix` (faer), `rng` (the seeded RNG), `activation`, `loss`, `optimizer`, `mlp`
//!   (exact forward and backward).
//! - [`data`]: `idx` (the file format and its checks) and `dataset` (splits, batches).
//! - [`learn`]: `backprop` (the synchronous baseline), `pc` and `ep` (the maths of predictive
//!   coding and Z-IL, of EP and C-EP), `layer` (the kit every layer actor embeds), `pc_layer`
//!   and `ep_layer` (the rules as actors), `coordinator`, `wiring` (a layer-actor network),
//!   `train` (a layer-actor run) and `inference` (a trained network evaluated by messages).
//! - [`spike`]: `lif` (the neuron maths), `population` (shard actors, their synapse tables and
//!   delay rings), `drive` (DC and Poisson input), `record` (rates, CV, synchrony, rasters),
//!   `neuron_actor` (one actor per neuron and a clock), `cuba` (the benchmark network),
//!   `microcircuit` (the Potjans & Diesmann model and its parallel build), `convert`
//!   (ANN-to-SNN), `nir` (NIR graphs on actors, one per node, for the Python package).
//! - [`experiment`]: `scenario` (one file per TOML section), `run` (one file per algorithm
//!   family), `sweep`, `run_dir`, `results`, `checkpoint`, `plot`, `bench` and `stress`.

#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]

pub mod cluster;
pub mod data;
pub mod experiment;
pub mod learn;
pub mod math;
pub mod message;
pub mod runtime;
pub mod spike;

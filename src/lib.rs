//! axon: neural networks that learn and spike by message passing.
//!
//! Real MNIST (or any IDX data set), scenarios, the synchronous backprop (BP) baseline every
//! local-learning result is compared against, an actor runtime, and predictive coding (standard
//! PC, Z-IL, local feedback modes) and equilibrium propagation learnt by layer actors that
//! exchange only messages, and spiking networks (LIF populations, ANN-to-SNN conversion, and the
//! CUBA benchmark and the cortical microcircuit as models on them) whose actors exchange spike
//! events. A scenario file ([`experiment::scenario::Scenario`]) describes a run; [`experiment::run::run`] trains it and
//! writes a run folder with the resolved scenario, `results.json`, plots and safetensors
//! checkpoints.
//!
//! # Layout
//! One folder per layer of the design, one concept per file; every file opens with a line
//! saying what it owns. `tests/layout.rs` checks that this map names every module in the tree,
//! and `tests/imports.rs` that imports point down the layers (from the bottom: `state`, `io`,
//! `math`, `data`, `runtime`, `run_error`, `message`, `cluster`, `learn`, `spike`, `models`,
//! `experiment`, `bench`) with no cycle between files.
//! - [`state`]: an actor's own state as named values (`StateBag`), the bottom of the tree: it
//!   imports nothing of the crate.
//! - [`io`]: files written whole or not at all (`write_atomic`).
//! - [`runtime`]: the actor runtime; knows nothing of learning or spiking. `actor` (the trait
//!   and its `Context`), `payload` (what the runtime reads of a message), `mailbox`, `network`
//!   (the description of a network, the typed handles of its actors, its report), `executor`
//!   (tokio, threads, and the local scheduler that inline and pinned share), `cell` (a
//!   running actor), `progress` (what an actor tells its supervisor), `supervisor` (panics,
//!   stalls, stop requests), `traffic` (per-edge counters), `trace_log` (sampled events,
//!   Chrome trace), `faults` (on edges), `memory` (resident, peak and available memory; a prefetch hint).
//! - [`run_error`]: why a run of an actor network failed: the runtime's errors or the run's
//!   own (interrupted, restore, ranks, conservation), for `learn`, `spike` and `experiment`.
//! - [`cluster`]: one network over several processes (MPI ranks): `ranks` (the handle a run
//!   is given), `ranked` (the one sequence of a run over ranks), `placement` (which rank
//!   holds which shard), `bridge` (the actor exchanging a window's spikes across ranks),
//!   `remote` (stand-ins for other ranks' actors and the port carrying learning runs'
//!   messages point to point), `shard_traffic` (a ranked shard run's traffic summed over
//!   ranks as one process's), `wire` (the frame format of messages between ranks),
//!   `threads` (ranks as threads, for tests), `mpi` (the transport, `mpi` feature).
//! - [`message`]: the message vocabulary every actor speaks (activity, errors, spikes, control,
//!   reports, weight transport), `synapses`, the weights that never leave their actor except
//!   as a counted `WeightCopy`, `bits`, a tick's spikes packed one bit per neuron, `spikes`,
//!   a tick's spikes as a list of indices (one held inline), and `probe`, what an actor
//!   records of its own state for a `[[probe]]`.
//! - [`math`]: `matrix` (faer), `rng` (the seeded RNG), `normals` (Box–Muller in blocks), `activation`, `loss`, `optimizer`, `mlp`
//!   (exact forward and backward).
//! - [`data`]: `idx` (the file format and its checks) and `dataset` (splits, batches).
//! - [`learn`]: `backprop` (the synchronous baseline), `pc` and `ep` (the maths of predictive
//!   coding and Z-IL, of EP and C-EP), `layer` (the kit every layer actor embeds), `pc_layer`,
//!   `spc_layer` (spiking PC) and `ep_layer` (the rules as actors), `spc_record` (what spiking
//!   PC records for its figures), `coordinator`, `wiring` (a layer-actor network),
//!   `train` (a layer-actor run) and `inference` (a trained network evaluated by messages).
//! - [`spike`]: the spiking core, which names no model: `lif` (the neuron maths), `population`
//!   (shard actors, their synapse tables and delay rings), `coupling` (how a spike acts
//!   without per-synapse weights), `drive` (DC and Poisson input), `record` (rates, CV,
//!   synchrony, rasters), `neuron_actor` (one actor per neuron and a clock), `probe_sink`
//!   (the actor that takes a spiking network's probe samples),
//!   `conductance` (the conductance-based LIF neuron), `plasticity` (STDP rules, traces,
//!   plastic dense projections, adaptive thresholds), `poisson_source` (an input population
//!   driven by images), `competitive` (winner-take-all shards with plastic input synapses),
//!   `neuron_network` (such a network wired and run), `tally` (what the actors counted,
//!   collected into a run's figures and raster), `stats` (`SnnStats`, `"snn"` in
//!   results.json), `convert` (ANN-to-SNN), `nir` (NIR graphs on actors, one per node, for
//!   the Python package).
//! - [`models`]: spiking models on the core, registered in one place: `cuba` (the benchmark
//!   network), `microcircuit` (the Potjans & Diesmann model and its parallel build),
//!   `diehl_cook` (unsupervised MNIST by spike-timing learning: configuration, coordinator,
//!   labels, ranked: the network over MPI ranks).
//! - [`experiment`]: `scenario` (one file per TOML section), `run` (one file per algorithm
//!   family), `sweep`, `run_dir`, `results`, `checkpoint`, `plot` and `live` (the live view:
//!   its events, state and web server).
//! - [`bench`](mod@bench): the benchmarks behind `axon bench`, what runs each workload and computes its
//!   rows: `training` (BP and layer-actor epochs), `snn` (the CUBA network), `stress` (the
//!   message runtime against the bare channels), `scale` (speed-up per worker count) and
//!   `exchange` (one window between MPI ranks). It takes scenarios, plots and the run
//!   folder's errors from `experiment`, never `experiment::run`.

#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]

pub mod bench;
pub mod cluster;
pub mod data;
pub mod experiment;
pub mod io;
pub mod learn;
pub mod math;
pub mod message;
pub mod models;
pub mod run_error;
pub mod runtime;
pub mod spike;
pub mod state;

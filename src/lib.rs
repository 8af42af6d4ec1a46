//! axon: neural networks that learn and spike by message passing.
//!
//! Real MNIST (or any IDX data set), scenarios, the synchronous backprop (BP) baseline every
//! local-learning result is compared against, an actor runtime, and predictive coding (standard
//! PC, Z-IL, local feedback modes) learnt by layer actors that exchange only messages, and
//! spiking networks (LIF populations, the CUBA benchmark, ANN-to-SNN conversion) whose actors
//! exchange spike events. A scenario file ([`scenario::Scenario`]) describes a run; [`run::run`] trains it and
//! writes a run folder with the resolved scenario, `results.json`, `accuracy.png` and
//! safetensors checkpoints.
//!
//! # Layout
//! - [`idx`]: the IDX file format, with every check a user's file needs.
//! - [`dataset`]: train and test splits loaded from a folder of IDX files; batching.
//! - [`scenario`]: raw and validated scenario files, `--set` overrides.
//! - [`matrix`]: row-major `f32` matrices; the only module that names the GEMM crate (faer).
//! - [`rng`]: the seeded random source (ChaCha8, Box–Muller, Fisher–Yates).
//! - [`activation`]: hidden-layer nonlinearities and their derivatives.
//! - [`loss`]: softmax cross-entropy and squared error.
//! - [`mlp`]: the MLP's exact forward and backward maths (public: later learners reuse it).
//! - [`optimizer`]: SGD, momentum, Adam and learning-rate schedules, per tensor.
//! - [`backprop`]: the synchronous BP trainer and evaluation; the shared data order.
//! - [`checkpoint`]: weights as safetensors (`layers.I.weight`, `layers.I.bias`).
//! - [`results`]: the `results.json` schema.
//! - [`plot`]: accuracy plots with an embedded font.
//! - [`run_dir`]: the run folder and atomic file writes.
//! - [`run`]: a scenario run end to end, with progress hooks.
//! - [`sweep`]: `[sweep]` tables: every combination of swept values, run in parallel, tabulated
//!   and plotted.
//! - [`bench`]: timing of BP and PC epochs for `axon bench`.
//! - [`message`]: the message vocabulary and what the runtime reads of any message.
//! - [`actor`]: the `Actor` trait and the `Context` handlers send through.
//! - [`mailbox`]: addresses and mailboxes; the only module that names the channel crates.
//! - [`runtime`]: network descriptions, the tokio / threads / inline executors, supervision.
//! - [`traffic`]: per-edge message counters and the merged traffic report.
//! - [`trace_log`]: sampled message events, their JSONL and Chrome trace files, latency summaries.
//! - [`pc`]: predictive-coding maths on a batch and the Z-IL schedule (pure functions).
//! - [`pc_layer`]: the predictive-coding layer-shard actor (value nodes, errors, synapses,
//!   feedback modes, the lockstep protocol).
//! - [`ep`]: equilibrium propagation (EP, C-EP) maths: energy, relaxation step, contrastive
//!   update, and a synchronous reference network.
//! - [`ep_layer`]: the equilibrium-propagation layer-shard actor (states, synapses, feedback
//!   copies, free and nudged phases).
//! - [`coordinator`]: the coordinator actor, the wiring of a PC network and [`coordinator::train_pc`].
//! - [`inference`]: a trained MLP evaluated by message passing (input, layer, readout actors).
//! - [`stress`]: message-passing stress benchmarks against the bare channels.
//! - [`lif`]: the LIF neuron model as pure functions (exact integration, reset, refractoriness).
//! - [`snn`]: recurrent LIF networks on actors (population shards, one actor per neuron) and CUBA.
//! - [`convert`]: ANN-to-SNN conversion run live on integrate-and-fire layer actors.

#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]

pub mod activation;
pub mod actor;
pub mod backprop;
pub mod bench;
pub mod checkpoint;
pub mod convert;
pub mod coordinator;
pub mod dataset;
pub mod ep;
pub mod ep_layer;
pub mod faults;
pub mod idx;
pub mod inference;
pub mod lif;
pub mod loss;
pub mod mailbox;
pub mod matrix;
pub mod message;
pub mod mlp;
pub mod optimizer;
pub mod pc;
pub mod pc_layer;
pub mod plot;
pub mod results;
pub mod rng;
pub mod run;
pub mod run_dir;
pub mod runtime;
pub mod scenario;
pub mod snn;
pub mod stress;
pub mod sweep;
pub mod trace_log;
pub mod traffic;

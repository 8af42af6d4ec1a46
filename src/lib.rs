//! axon: neural networks that learn and spike by message passing.
//!
//! Real MNIST (or any IDX data set), scenarios, the synchronous backprop (BP) baseline every
//! local-learning result is compared against, an actor runtime, and predictive coding (standard
//! PC, Z-IL, local feedback modes) and equilibrium propagation learnt by layer actors that
//! exchange only messages, and spiking networks (LIF populations, the CUBA benchmark, ANN-to-SNN
//! conversion) whose actors exchange spike events. A scenario file
//! ([`experiment::scenario::Scenario`]) describes a run; [`experiment::run::run`] trains it and
//! writes a run folder with the resolved scenario, `results.json`, plots and safetensors
//! checkpoints.
//!
//! # Layout
//! - [`runtime`]: actors, mailboxes, the network description and its executors, supervision,
//!   traffic counters, the trace log, fault injection on edges. Knows nothing of learning.
//! - [`message`]: the message vocabulary every actor speaks (activity, errors, spikes, control,
//!   reports, weight transport) and what the runtime reads of it.
//! - [`math`]: matrices (faer), the seeded RNG, activations, losses, optimisers, MLP maths.
//! - [`data`]: IDX files and data sets.
//! - [`learn`]: backprop, predictive coding, equilibrium propagation, their layer actors, the
//!   coordinator, inference by message passing.
//! - [`spike`]: LIF neurons, spiking networks on actors, CUBA, ANN-to-SNN conversion.
//! - [`experiment`]: scenarios, runs, sweeps, run folders, results, checkpoints, plots and
//!   benchmarks.

#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]

pub mod data;
pub mod experiment;
pub mod learn;
pub mod math;
pub mod message;
pub mod runtime;
pub mod spike;

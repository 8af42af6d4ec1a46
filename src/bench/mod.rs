//! The benchmarks behind `axon bench`: what runs each workload and computes its rows and
//! tables (the CLI in `cli/bench` only parses flags, prints and picks exit codes).
//!
//! - [`training`]: seconds per training epoch of the BP baseline (`axon bench bp`) and of a
//!   scenario's predictive-coding layer actors beside it (`axon bench pc`).
//! - [`snn`]: the CUBA network on each executor, worker count and sharding (`axon bench snn`).
//! - [`stress`]: the actor runtime's message patterns against the bare channels (`axon bench
//!   messages`).
//! - [`scale`]: wall time, speed-up and efficiency per workload, executor and worker count
//!   (`axon bench scale`).
//! - [`exchange`]: the cost of one exchange window between MPI ranks (`axon bench exchange`).

pub mod exchange;
pub mod scale;
pub mod snn;
pub mod stress;
pub mod training;

pub use training::{bench_bp, bench_pc, BpBenchConfig, BpBenchReport, PcBenchRow};

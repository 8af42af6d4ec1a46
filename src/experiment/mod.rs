//! Experiments: scenario files, a run end to end, sweeps, the run folder, `results.json`,
//! checkpoints, plots, and the benchmarks behind `axon bench`.

pub mod bench;
pub mod checkpoint;
pub mod plot;
pub mod results;
pub mod run;
pub mod run_dir;
pub mod scenario;
pub mod stress;
pub mod sweep;

//! Experiments: scenario files, a run end to end, sweeps, the run folder, `results.json`,
//! checkpoints and plots. (The benchmarks behind `axon bench` are in [`crate::bench`].)

pub mod checkpoint;
pub mod live;
pub mod plot;
pub mod results;
pub mod run;
pub mod run_dir;
pub mod scenario;
pub mod sweep;

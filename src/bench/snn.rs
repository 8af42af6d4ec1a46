//! `axon bench snn`: the CUBA network on each setup (executor, workers, shards) and seed, its
//! spikes, rate and simulation wall time.

use crate::models::cuba::{run_cuba, run_cuba_delayed, CubaConfig};
use crate::run_error::NetworkRunError;
use crate::runtime::{Executor, RuntimeConfig};
use crate::spike::stats::SnnStats;

/// One run of the table: a setup, a seed and what the run counted.
#[derive(Clone, Debug)]
pub struct SnnBenchRow {
    /// The executor, lower case.
    pub executor: String,
    /// Worker threads.
    pub workers: usize,
    /// Population shards.
    pub shards: usize,
    /// The connectivity seed.
    pub seed: u64,
    /// Spikes, synaptic events, rate and wall time of the run.
    pub snn: SnnStats,
}

/// Runs the default CUBA network for `duration_ms` on each of `setups` (executor, workers,
/// shards) and each seed, calling `on_row` as each run is done; returns the rows. With
/// `delays` (MIN, MAX ticks) every synapse gets a delay drawn uniformly from that range.
pub fn bench_snn(
    seeds: &[u64],
    setups: &[(Executor, usize, usize)],
    duration_ms: f64,
    delays: Option<(u16, u16)>,
    on_row: &mut dyn FnMut(&SnnBenchRow),
) -> Result<Vec<SnnBenchRow>, NetworkRunError> {
    let cfg = CubaConfig {
        duration_ms,
        ..CubaConfig::default()
    };
    let mut rows = Vec::new();
    for &(executor, workers, shards) in setups {
        for &seed in seeds {
            let runtime = RuntimeConfig {
                executor,
                workers,
                ..RuntimeConfig::default()
            };
            let run = match delays {
                Some(d) => run_cuba_delayed(&cfg, seed, shards, runtime, d),
                None => run_cuba(&cfg, seed, shards, runtime),
            };
            let row = SnnBenchRow {
                executor: format!("{executor:?}").to_lowercase(),
                workers,
                shards,
                seed,
                snn: run?.stats,
            };
            on_row(&row);
            rows.push(row);
        }
    }
    Ok(rows)
}

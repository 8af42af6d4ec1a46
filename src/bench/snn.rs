//! `axon bench snn`: the CUBA network on each setup (executor, workers, shards) and seed, its
//! spikes, rate and simulation wall time (the best of a few runs, taken in rounds over every
//! setup so that a machine's slow spells fall on all of them alike).

use crate::models::cuba::{run_cuba, run_cuba_delayed, CubaConfig, LIF};
use crate::run_error::NetworkRunError;
use crate::runtime::{Executor, RuntimeConfig};
use crate::spike::lif::LifNeuron;
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
    /// Spikes, synaptic events, rate and wall time of the run (the fastest of its runs).
    pub snn: SnnStats,
    /// The slowest run's wall time over the fastest's, minus one (0 with one run).
    pub spread: f64,
}

/// Runs the default CUBA network for `duration_ms` on each of `setups` (executor, workers,
/// shards) and each seed, `repeats` rounds over all of them, calling `on_row` as each row is
/// done (in the last round); returns the rows, each with its fastest run. With `delays` (MIN,
/// MAX ticks) every synapse gets a delay drawn uniformly from that range.
pub fn bench_snn(
    seeds: &[u64],
    setups: &[(Executor, usize, usize)],
    duration_ms: f64,
    delays: Option<(u16, u16)>,
    repeats: usize,
    on_row: &mut dyn FnMut(&SnnBenchRow),
) -> Result<Vec<SnnBenchRow>, NetworkRunError> {
    let cfg = CubaConfig {
        duration_ms,
        ..CubaConfig::default()
    };
    let cases: Vec<_> = setups
        .iter()
        .flat_map(|&setup| seeds.iter().map(move |&seed| (setup, seed)))
        .collect();
    let mut rows: Vec<SnnBenchRow> = Vec::with_capacity(cases.len());
    let mut slowest = vec![0.0f64; cases.len()];
    let rounds = repeats.max(1);
    for round in 0..rounds {
        for (k, &((executor, workers, shards), seed)) in cases.iter().enumerate() {
            let runtime = RuntimeConfig {
                executor,
                workers,
                ..RuntimeConfig::default()
            };
            let snn = match delays {
                Some(d) => run_cuba_delayed(&cfg, seed, shards, runtime, d),
                None => run_cuba(&cfg, seed, shards, runtime),
            }?
            .stats;
            slowest[k] = slowest[k].max(snn.wall_s);
            match rows.get_mut(k) {
                Some(row) if row.snn.wall_s <= snn.wall_s => {}
                Some(row) => row.snn = snn,
                None => rows.push(SnnBenchRow {
                    executor: format!("{executor:?}").to_lowercase(),
                    workers,
                    shards,
                    seed,
                    snn,
                    spread: 0.0,
                }),
            }
            if round + 1 == rounds {
                let row = &mut rows[k];
                row.spread = slowest[k] / row.snn.wall_s.max(1e-12) - 1.0;
                on_row(row);
            }
        }
    }
    Ok(rows)
}

/// Seconds that the LIF arithmetic of `neurons` CUBA neurons over `duration_ms` takes alone,
/// with no message and no input: one neuron after another, each advanced `chain` ticks per
/// call of [`crate::spike::lif::Propagator::steps`], as a neuron actor catches up (potentials
/// spread between reset and threshold; CUBA's rest lies above its threshold, so they fire).
/// Each tick depends on the last, so a long chain runs at the latency of its adds and
/// multiplies; chains of one tick let the core overlap neighbouring neurons. One actor per
/// neuron on one worker computes every tick of every neuron this way (bit for bit as the
/// population's vectorised loop does), in calls of one tick to hundreds: its time lies
/// above the arithmetic's, whatever its messages cost.
pub fn lif_arithmetic_s(neurons: usize, duration_ms: f64, chain: u64) -> f64 {
    let prop = LIF.propagator();
    let ticks = (duration_ms / LIF.dt_ms).round() as u64;
    let span = LIF.v_threshold_mv - LIF.v_reset_mv;
    let mut states: Vec<LifNeuron> = (0..neurons)
        .map(|i| LifNeuron::new((LIF.v_reset_mv + span * i as f64 / neurons as f64) as f32))
        .collect();
    let chain = chain.clamp(1, ticks.max(1));
    let start = std::time::Instant::now();
    let mut done = 0;
    let mut fired = 0u64;
    while done < ticks {
        let k = chain.min(ticks - done);
        for n in &mut states {
            fired += u64::from(prop.steps(n, k));
        }
        done += k;
    }
    std::hint::black_box(fired);
    start.elapsed().as_secs_f64()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_arithmetic_alone_is_timed_for_any_chain() {
        for chain in [0, 1, 7, 1_000_000] {
            let s = super::lif_arithmetic_s(10, 2.0, chain);
            assert!(s.is_finite() && s >= 0.0, "{chain}: {s}");
        }
    }
}

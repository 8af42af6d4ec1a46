//! What a spiking run measured ([`SnnStats`], `"snn"` in results.json) and how it was spread
//! over ranks ([`RankFigures`]), whatever the model.

use serde::{Deserialize, Serialize};

use crate::spike::record::PopulationStats;

/// What a spiking run measured (`"snn"` in results.json).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SnnStats {
    /// Neurons.
    pub neurons: usize,
    /// Synapses.
    pub synapses: usize,
    /// Spikes fired.
    pub spikes: u64,
    /// Spikes delivered to a synapse.
    pub synaptic_events: u64,
    /// Spikes per neuron per simulated second.
    pub mean_rate_hz: f64,
    /// Simulated seconds.
    pub sim_s: f64,
    /// Wall seconds of the simulation loop (network construction excluded).
    pub wall_s: f64,
    /// Wall seconds to build the network (connectivity, state).
    pub build_s: f64,
    /// Messages the actors handled (spike lists, and with one actor per neuron also the
    /// clock's ticks and the neurons' reports).
    #[serde(default)]
    pub messages: u64,
    /// Real-time factor: wall seconds of the loop per simulated second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtf: Option<f64>,
    /// Bytes of the shards' synapses and delay rings (the microcircuit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_bytes: Option<u64>,
    /// The process's peak resident memory, bytes (the microcircuit; Linux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
    /// Peak resident memory per synapse, everything included (the microcircuit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_per_synapse: Option<f64>,
    /// Seconds each shard spent stepping rather than waiting for the others' spikes (the
    /// microcircuit): how well the work is balanced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shard_busy_s: Vec<f64>,
    /// What the plastic weights did, when synapses learned (`[plasticity]` on `cuba` or the
    /// microcircuit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plasticity: Option<crate::spike::plasticity::WeightFigures>,
    /// How the run was spread over ranks (processes), when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranks: Option<RankFigures>,
    /// Each population after the transient (the microcircuit).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub populations: Vec<PopulationStats>,
}

/// How a spiking run was spread over ranks (`snn.ranks` in results.json).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RankFigures {
    /// Ranks (processes).
    pub ranks: usize,
    /// The rank of each population shard (the placement).
    pub shard_rank: Vec<usize>,
    /// Exchanges between ranks (one all-gather per window).
    pub exchanges: u64,
    /// Seconds each rank spent in the exchanges, waiting for the others included.
    pub exchange_wait_s: Vec<f64>,
    /// Bytes of spikes the ranks put into the exchanges, all ranks together.
    pub exchange_bytes: u64,
}

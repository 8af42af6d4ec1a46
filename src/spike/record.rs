//! What a spiking network's populations did ([`SpikeRecord`] per shard, [`PopulationStats`]
//! for the run): spike counts and inter-spike intervals per neuron, population spike counts
//! in bins (for synchrony), and a raster of a sample of neurons per population.

use serde::{Deserialize, Serialize};

/// Spike counts of at most this many neurons per population enter the synchrony measure
/// (Potjans & Diesmann 2014 use 1000).
pub const SYNCHRONY_SAMPLE: usize = 1000;
/// Bin of the population spike count for synchrony, ticks (3 ms at 0.1 ms).
pub const SYNCHRONY_BIN_TICKS: u64 = 30;

/// How a population behaved after the transient (`snn.populations` in results.json).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PopulationStats {
    /// Its name (`L2/3E`, ...).
    pub name: String,
    /// Neurons.
    pub neurons: usize,
    /// Mean firing rate, Hz.
    pub rate_hz: f64,
    /// The published model's rate at full scale, Hz (NEST 2022), when there is one.
    pub reference_rate_hz: Option<f64>,
    /// Mean coefficient of variation of the inter-spike intervals, over neurons with at
    /// least two intervals (1 for a Poisson process); `None` when no neuron has two.
    pub cv_isi: Option<f64>,
    /// Variance over mean of the spike count of up to [`SYNCHRONY_SAMPLE`] neurons in 3 ms
    /// bins (about 1 when asynchronous, larger when neurons fire together).
    pub synchrony: Option<f64>,
}

/// A shard's record of its neurons' spikes from tick `from` on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SpikeRecord {
    from: u64,
    offset: u32,
    /// Per local neuron: population, and whether it is in the synchrony / raster sample.
    class: Vec<u8>,
    sync: Vec<bool>,
    sampled: Vec<bool>,
    raster_until: u64,
    classes: usize,
    count: Vec<u32>,
    last: Vec<u64>,
    isi_sum: Vec<f64>,
    isi_sq: Vec<f64>,
    /// `bins x classes` spike counts of the synchrony sample.
    bins: Vec<u32>,
    /// (tick, neuron) of the sampled neurons' spikes in `from..raster_until`.
    pub raster: Vec<(u32, u32)>,
}

impl SpikeRecord {
    /// A record of the neurons `offset..` of a network whose populations start at
    /// `starts` (each population `starts[p]..starts[p + 1]`), from tick `from` to `ticks`;
    /// the raster keeps the first `raster[p]` neurons of each population until
    /// `raster_until`.
    pub fn new(
        local: std::ops::Range<usize>,
        starts: &[usize],
        (from, ticks): (u64, u64),
        raster: &[usize],
        raster_until: u64,
    ) -> Self {
        let classes = starts.len() - 1;
        let pop = |g: usize| starts.partition_point(|&s| s <= g) - 1;
        let n = local.len();
        let mut r = SpikeRecord {
            from,
            offset: local.start as u32,
            class: Vec::with_capacity(n),
            sync: Vec::with_capacity(n),
            sampled: Vec::with_capacity(n),
            raster_until,
            classes,
            count: vec![0; n],
            last: vec![u64::MAX; n],
            isi_sum: vec![0.0; n],
            isi_sq: vec![0.0; n],
            bins: vec![
                0;
                ticks.saturating_sub(from).div_ceil(SYNCHRONY_BIN_TICKS) as usize * classes
            ],
            raster: Vec::new(),
        };
        for g in local {
            let p = pop(g);
            r.class.push(p as u8);
            r.sync.push(g - starts[p] < SYNCHRONY_SAMPLE);
            r.sampled.push(g - starts[p] < raster[p]);
        }
        r
    }

    /// The global index of the first neuron recorded.
    pub fn first_neuron(&self) -> u32 {
        self.offset
    }

    /// Records the neurons (global indices) that fired at `tick`.
    pub fn record(&mut self, tick: u64, fired: &[u32]) {
        if tick < self.from {
            return;
        }
        let bin = ((tick - self.from) / SYNCHRONY_BIN_TICKS) as usize * self.classes;
        for &g in fired {
            let i = (g - self.offset) as usize;
            self.count[i] += 1;
            if self.last[i] != u64::MAX {
                let isi = (tick - self.last[i]) as f64;
                self.isi_sum[i] += isi;
                self.isi_sq[i] += isi * isi;
            }
            self.last[i] = tick;
            if self.sync[i] {
                self.bins[bin + self.class[i] as usize] += 1;
            }
            if self.sampled[i] && tick < self.raster_until {
                self.raster.push((tick as u32, g));
            }
        }
    }
}

/// The run's populations from every shard's record: `names[p]`, sizes from `starts`, and
/// what was recorded: `(ticks, seconds)` (fewer than planned when a run stopped early).
/// Also returns each population's per-neuron rates (Hz), for plots.
pub fn summarize(
    records: &[&SpikeRecord],
    names: &[&str],
    starts: &[usize],
    (ticks, seconds): (u64, f64),
    reference_hz: Option<&[f64]>,
) -> (Vec<PopulationStats>, Vec<Vec<f32>>) {
    let classes = names.len();
    let mut rates = vec![Vec::new(); classes];
    let (mut cv_sum, mut cv_n) = (vec![0.0; classes], vec![0usize; classes]);
    let bins = records.first().map_or(0, |r| r.bins.len() / classes.max(1));
    let bins = bins.min(ticks.div_ceil(SYNCHRONY_BIN_TICKS) as usize);
    let mut series = vec![vec![0u64; bins]; classes];
    for r in records {
        for i in 0..r.count.len() {
            let p = r.class[i] as usize;
            rates[p].push((f64::from(r.count[i]) / seconds.max(1e-12)) as f32);
            let intervals = f64::from(r.count[i].saturating_sub(1));
            if intervals >= 2.0 {
                let mean = r.isi_sum[i] / intervals;
                let var = (r.isi_sq[i] / intervals - mean * mean).max(0.0);
                cv_sum[p] += var.sqrt() / mean;
                cv_n[p] += 1;
            }
        }
        for (b, chunk) in r.bins.chunks(classes).take(bins).enumerate() {
            for (p, &c) in chunk.iter().enumerate() {
                series[p][b] += u64::from(c);
            }
        }
    }
    let stats = (0..classes)
        .map(|p| {
            let n = starts[p + 1] - starts[p];
            let total: f64 = rates[p].iter().map(|&x| f64::from(x)).sum();
            PopulationStats {
                name: names[p].to_owned(),
                neurons: n,
                rate_hz: total / n.max(1) as f64,
                reference_rate_hz: reference_hz.map(|r| r[p]),
                cv_isi: (cv_n[p] > 0).then(|| cv_sum[p] / cv_n[p] as f64),
                synchrony: fano(&series[p]),
            }
        })
        .collect();
    (stats, rates)
}

/// Variance over mean of a count series; `None` when empty or silent.
fn fano(xs: &[u64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().map(|&x| x as f64).sum::<f64>() / n;
    if mean <= 0.0 {
        return None;
    }
    let var = xs.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    Some(var / mean)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two shards' records of a regular neuron and a silent one summarize to the right
    /// rates, a CV of 0 for the clock-like neuron, and the raster sample only.
    #[test]
    fn rates_cv_and_raster_sample() {
        let starts = [0, 2, 4];
        let mut a = SpikeRecord::new(0..3, &starts, (10, 1010), &[1, 1], 500);
        let mut b = SpikeRecord::new(3..4, &starts, (10, 1010), &[1, 1], 500);
        for t in (0..1010).step_by(100) {
            a.record(t, &[0, 2]);
            b.record(t, &[3]);
        }
        let (stats, rates) = summarize(&[&a, &b], &["A", "B"], &starts, (1000, 0.1), None);
        // Ticks 100..1000: 10 spikes in 0.1 s = 100 Hz for neuron 0, 0 for neuron 1.
        assert_eq!(rates[0], vec![100.0, 0.0]);
        assert!((stats[0].rate_hz - 50.0).abs() < 1e-9);
        assert_eq!(stats[0].cv_isi, Some(0.0));
        assert_eq!(stats[1].neurons, 2);
        assert_eq!(
            a.raster.iter().map(|&(_, g)| g).collect::<Vec<_>>(),
            vec![0, 2, 0, 2, 0, 2, 0, 2],
            "first neuron of each population, before tick 500"
        );
        assert!(b.raster.is_empty());
    }
}

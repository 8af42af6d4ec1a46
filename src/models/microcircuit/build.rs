//! Builds the microcircuit's synapses, in parallel and the same for any sharding.
//!
//! 1. **In-degrees**: each projection's fixed total number of synapses falls on uniformly
//!    drawn targets (NEST's `fixed_total_number`, multapses and autapses allowed), one seeded
//!    stream per projection, projections in parallel: for each neuron, its synapses from each
//!    population.
//! 2. **Synapses**: each postsynaptic neuron draws its sources (uniform in the presynaptic
//!    population), weights (normal, relative sd 0.1, redrawn until of the right sign) and
//!    delays (normal, relative sd 0.5, redrawn until at least half a tick, rounded to ticks)
//!    from its own streams (ChaCha stream = neuron index), so what it draws depends on nothing
//!    else. A shard stores its synapses by presynaptic neuron in compact arrays (target u16,
//!    delay u8, weight f32: 7 bytes a synapse; targets in u32 in a shard of more than
//!    65,536 neurons, delays in u16 when the means are too long for a byte): a counting pass sizes each row per chunk of neurons, then a filling pass
//!    draws every chunk's synapses in batches and writes each batch row by row, chunks in
//!    parallel. Rows keep postsynaptic order, whatever the chunking.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::model::{is_excitatory, Model, REFERENCE_RATES_HZ};
use crate::math::rng::SeededRng;
use crate::spike::population::{Delays, SynapseTable, Targets};

/// What every shard's synapses are drawn from.
pub(super) struct Wiring<'a> {
    pub(super) model: &'a Model,
    pub(super) seed: u64,
    pub(super) starts: [usize; 9],
    /// Per neuron, its synapses from each population.
    pub(super) in_degrees: Vec<[u32; 8]>,
    pub(super) dt_ms: f64,
    pub(super) threads: usize,
    /// Synapses a filling chunk draws before it writes them out ([`BATCH_SYNAPSES`]).
    pub(super) batch: usize,
}

impl<'a> Wiring<'a> {
    /// Draws the in-degrees of `model`'s neurons (step 1), on `threads` threads.
    pub(super) fn new(model: &'a Model, seed: u64, dt_ms: f64, threads: usize) -> Self {
        let starts = model.starts();
        let jobs: Vec<(usize, usize)> = (0..64)
            .map(|k| (k / 8, k % 8))
            .filter(|&(a, b)| model.synapses[a][b] > 0 && model.neurons[a] > 0)
            .collect();
        let counts = parallel(jobs.len(), threads, |j| {
            let (a, b) = jobs[j];
            let n = model.neurons[a] as u64;
            let mut rng = SeededRng::substream(seed, "microcircuit/in-degrees", (a * 8 + b) as u64);
            let mut c = vec![0u32; n as usize];
            for _ in 0..model.synapses[a][b] {
                c[rng.below(n) as usize] += 1;
            }
            c
        });
        let mut in_degrees = vec![[0u32; 8]; model.total_neurons()];
        for (&(a, b), c) in jobs.iter().zip(counts) {
            for (i, k) in c.into_iter().enumerate() {
                in_degrees[starts[a] + i][b] = k;
            }
        }
        Wiring {
            model,
            seed,
            starts,
            in_degrees,
            dt_ms,
            threads,
            batch: BATCH_SYNAPSES,
        }
    }

    /// Synapses into the neurons of `range`.
    pub(super) fn synapses_in(&self, range: Range<usize>) -> u64 {
        self.in_degrees[range]
            .iter()
            .flatten()
            .map(|&k| u64::from(k))
            .sum()
    }

    /// The population of neuron `i`.
    pub(super) fn population(&self, i: usize) -> usize {
        self.starts.partition_point(|&s| s <= i) - 1
    }

    /// `k` contiguous ranges of neurons with about equal work: the input each neuron expects
    /// (in-degree x the reference rate of the source) plus its integration and drive.
    pub(super) fn balanced_ranges(&self, k: usize) -> Vec<Range<usize>> {
        let n = self.in_degrees.len();
        let k = k.clamp(1, n.max(1));
        let cost = |d: &[u32; 8]| {
            7500.0
                + d.iter()
                    .zip(REFERENCE_RATES_HZ)
                    .map(|(&c, r)| f64::from(c) * r)
                    .sum::<f64>()
        };
        let total: f64 = self.in_degrees.iter().map(cost).sum();
        let mut cuts = vec![0];
        let mut acc = 0.0;
        for (i, d) in self.in_degrees.iter().enumerate() {
            acc += cost(d);
            let s = cuts.len();
            // Cut after `i` once past the share, leaving a neuron for every later shard.
            if s < k && acc >= total * s as f64 / k as f64 && n - (i + 1) >= k - s {
                cuts.push(i + 1);
            }
        }
        while cuts.len() < k {
            // Too few cuts (tiny networks): split the last range.
            let last = *cuts.last().unwrap_or(&0);
            cuts.push(last + (n - last) / 2);
        }
        cuts.push(n);
        cuts.windows(2).map(|w| w[0]..w[1]).collect()
    }

    /// Calls `f(source, delay_ticks, weight_mv)` for each synapse into neuron `i`, in draw
    /// order; without `values`, only sources are drawn (delay and weight are 0).
    fn synapses_into(&self, i: usize, values: bool, mut f: impl FnMut(usize, u16, f32)) {
        let m = self.model;
        let a = self.population(i);
        let mut src = SeededRng::substream(self.seed, "microcircuit/sources", i as u64);
        let mut wd =
            values.then(|| SeededRng::substream(self.seed, "microcircuit/weights", i as u64));
        for b in 0..8 {
            let (s0, nb) = (self.starts[b], m.neurons[b] as u64);
            let (w_mean, d_mean) = (
                m.weight_mv[a][b],
                m.delay_ms[usize::from(!is_excitatory(b))],
            );
            for _ in 0..self.in_degrees[i][b] {
                let s = s0 + src.below(nb) as usize;
                match wd.as_mut() {
                    Some(r) => f(s, self.delay(r, d_mean), weight(r, w_mean)),
                    None => f(s, 0, 0.0),
                }
            }
        }
    }

    /// A delay around `mean` ms (relative sd 0.5), redrawn until at least half a tick, in
    /// ticks (NEST rounds delays to the resolution).
    fn delay(&self, rng: &mut SeededRng, mean: f64) -> u16 {
        loop {
            let d = mean + mean * super::model::DELAY_REL_SD * rng.normal();
            if d >= 0.5 * self.dt_ms {
                return (d / self.dt_ms).round().clamp(1.0, f64::from(u16::MAX)) as u16;
            }
        }
    }

    /// The longest delay (ticks) to make room for, which sets the width a table stores
    /// delays in: 20 standard deviations above the longer mean. A draw beyond the width
    /// (with one byte, odds below 1e-88 a synapse) is clamped to its largest value, as one
    /// beyond `u16::MAX` always was.
    fn longest_delay(&self) -> u16 {
        let mean = self.model.delay_ms.iter().copied().fold(0.0, f64::max);
        let ticks = mean * (1.0 + 20.0 * super::model::DELAY_REL_SD) / self.dt_ms;
        ticks.ceil().clamp(1.0, f64::from(u16::MAX)) as u16
    }

    /// The synapses into `range`, by presynaptic neuron (step 2).
    pub(super) fn shard_table(&self, range: Range<usize>) -> SynapseTable {
        let n = self.in_degrees.len();
        let pieces = (self.threads * 4).clamp(1, range.len().max(1));
        let chunks: Vec<Range<usize>> = (0..pieces)
            .map(|c| {
                let len = range.len();
                range.start + c * len / pieces..range.start + (c + 1) * len / pieces
            })
            .collect();
        // Counting pass: each chunk's synapses per presynaptic neuron.
        let mut cursors = parallel(chunks.len(), self.threads, |c| {
            let mut count = vec![0u32; n];
            for i in chunks[c].clone() {
                self.synapses_into(i, false, |s, _, _| count[s] += 1);
            }
            count
        });
        // Row offsets, and where each chunk starts writing in each row.
        let mut offsets = Vec::with_capacity(n + 1);
        let mut pos = 0u32;
        for j in 0..n {
            offsets.push(pos);
            for cur in cursors.iter_mut() {
                let k = cur[j];
                cur[j] = pos;
                pos += k;
            }
        }
        offsets.push(pos);
        let len = pos as usize;
        let mut delays = Delays::zeroed(len, self.longest_delay());
        let mut targets = Targets::zeroed(len, range.len());
        let mut weights = vec![0f32; len];
        let out = Rows {
            targets: match &mut targets {
                Targets::Narrow(t) => TargetsAt::Narrow(t.as_mut_ptr()),
                Targets::Wide(t) => TargetsAt::Wide(t.as_mut_ptr()),
            },
            delays: match &mut delays {
                Delays::Narrow(d) => DelaysAt::Narrow(d.as_mut_ptr()),
                Delays::Wide(d) => DelaysAt::Wide(d.as_mut_ptr()),
            },
            weights: weights.as_mut_ptr(),
        };
        let cursors: Vec<std::sync::Mutex<Vec<u32>>> =
            cursors.into_iter().map(std::sync::Mutex::new).collect();
        parallel(chunks.len(), self.threads, |c| {
            let mut cur = cursors[c].lock().unwrap_or_else(|p| p.into_inner());
            let mut batch = Batch::new(n, self.batch);
            for i in chunks[c].clone() {
                let local = (i - range.start) as u32;
                self.synapses_into(i, true, |s, d, w| batch.push(s as u32, local, d, w));
                if batch.src.len() >= self.batch {
                    batch.write_out(&mut cur, &out);
                }
            }
            batch.write_out(&mut cur, &out);
        });
        SynapseTable::from_rows(offsets, targets, delays, weights)
    }
}

/// A weight around `mean` (relative sd 0.1), redrawn until it has `mean`'s sign.
fn weight(rng: &mut SeededRng, mean: f64) -> f32 {
    loop {
        let w = mean + mean.abs() * super::model::WEIGHT_REL_SD * rng.normal();
        if w * mean.signum() >= 0.0 {
            return w as f32;
        }
    }
}

/// The three arrays of a table being filled from several threads at disjoint positions.
struct Rows {
    targets: TargetsAt,
    delays: DelaysAt,
    weights: *mut f32,
}

/// Where the targets of a table being filled go, in the width the table stores them.
#[derive(Clone, Copy)]
enum TargetsAt {
    Narrow(*mut u16),
    Wide(*mut u32),
}

/// Where the delays of a table being filled go, in the width the table stores them.
#[derive(Clone, Copy)]
enum DelaysAt {
    Narrow(*mut u8),
    Wide(*mut u16),
}

// SAFETY: threads write disjoint positions only (see `Rows::write`'s callers), and the
// arrays outlive the scope the threads run in.
unsafe impl Sync for Rows {}

impl Rows {
    /// # Safety
    /// `p` is in bounds and written by no other thread.
    unsafe fn write(&self, p: usize, target: u32, delay: u16, weight: f32) {
        unsafe {
            // A narrow table's shard has at most 65,536 neurons: its local targets fit.
            match self.targets {
                TargetsAt::Narrow(t) => *t.add(p) = target as u16,
                TargetsAt::Wide(t) => *t.add(p) = target,
            }
            match self.delays {
                DelaysAt::Narrow(d) => *d.add(p) = delay.min(Delays::NARROW_MAX) as u8,
                DelaysAt::Wide(d) => *d.add(p) = delay,
            }
            *self.weights.add(p) = weight;
        }
    }
}

/// Synapses a filling chunk draws before it writes them into the table, row by row.
pub(super) const BATCH_SYNAPSES: usize = 1 << 19;

/// A filling chunk's synapses drawn but not yet written: written one at a time where they
/// go, they land all over the table (a cache and TLB miss each, half the build's time at
/// full scale); sorted by row first (a stable counting sort, so each row keeps the order
/// one at a time gives), they sweep it once per batch, a few synapses per row at a time.
struct Batch {
    src: Vec<u32>,
    post: Vec<u32>,
    delay: Vec<u16>,
    weight: Vec<f32>,
    /// The batch's positions, sorted by row.
    order: Vec<u32>,
    /// Per row, where its synapses start in `order`.
    starts: Vec<u32>,
}

impl Batch {
    /// An empty batch of `size` synapses for a table of `rows` rows.
    fn new(rows: usize, size: usize) -> Self {
        Batch {
            src: Vec::with_capacity(size),
            post: Vec::with_capacity(size),
            delay: Vec::with_capacity(size),
            weight: Vec::with_capacity(size),
            order: Vec::with_capacity(size),
            starts: vec![0; rows + 1],
        }
    }

    fn push(&mut self, src: u32, post: u32, delay: u16, weight: f32) {
        self.src.push(src);
        self.post.push(post);
        self.delay.push(delay);
        self.weight.push(weight);
    }

    /// Writes the batch into `out` row by row, each row's synapses at its chunk's cursor
    /// (`cur`), and empties it.
    fn write_out(&mut self, cur: &mut [u32], out: &Rows) {
        self.starts.fill(0);
        for &s in &self.src {
            self.starts[s as usize + 1] += 1;
        }
        for r in 1..self.starts.len() {
            self.starts[r] += self.starts[r - 1];
        }
        self.order.resize(self.src.len(), 0);
        for (k, &s) in self.src.iter().enumerate() {
            let at = &mut self.starts[s as usize];
            self.order[*at as usize] = k as u32;
            *at += 1;
        }
        for &k in &self.order {
            let k = k as usize;
            let s = self.src[k] as usize;
            let p = cur[s] as usize;
            cur[s] += 1;
            // SAFETY: `p` is below the table's length and no other chunk writes it (each
            // chunk owns the positions its counting pass reserved in every row).
            unsafe { out.write(p, self.post[k], self.delay[k], self.weight[k]) };
        }
        self.src.clear();
        self.post.clear();
        self.delay.clear();
        self.weight.clear();
    }
}

/// `f(0..jobs)` on up to `threads` threads; results in job order.
fn parallel<T: Send>(jobs: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let mut out: Vec<Option<T>> = (0..jobs).map(|_| None).collect();
    let slots: Vec<std::sync::Mutex<&mut Option<T>>> =
        out.iter_mut().map(std::sync::Mutex::new).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, jobs.max(1)) {
            scope.spawn(|| loop {
                let j = next.fetch_add(1, Ordering::Relaxed);
                if j >= jobs {
                    break;
                }
                let r = f(j);
                **slots[j].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
            });
        }
    });
    drop(slots);
    out.into_iter().flatten().collect()
}

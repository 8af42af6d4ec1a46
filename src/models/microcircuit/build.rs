//! Builds the microcircuit's synapses, in parallel and the same for any sharding.
//!
//! 1. **In-degrees**: each projection's fixed total number of synapses falls on uniformly
//!    drawn targets (NEST's `fixed_total_number`, multapses and autapses allowed), one seeded
//!    stream per projection, projections in parallel: for each neuron, its synapses from each
//!    population.
//! 2. **Synapses**: each postsynaptic neuron draws its sources (uniform in the presynaptic
//!    population), weights (normal, relative sd 0.1, redrawn until of the right sign) and
//!    delays (normal, relative sd 0.5, redrawn until at least half a tick, rounded to ticks)
//!    from its own streams (ChaCha stream = neuron index; the normals in blocks of thirty-two,
//!    [`NormalBlocks`]), so what it draws depends on nothing else. A shard stores its synapses by presynaptic neuron in compact arrays (target u16,
//!    delay u8, weight f32: 7 bytes a synapse; targets in u32 in a shard of more than
//!    65,536 neurons, delays in u16 when the means are too long for a byte): a counting pass sizes each row per chunk of neurons, then a filling pass
//!    draws every chunk's synapses in batches and writes each batch row by row, chunks in
//!    parallel. Rows keep postsynaptic order, whatever the chunking.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::model::{is_excitatory, Model, REFERENCE_RATES_HZ};
use crate::math::normals::NormalBlocks;
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
        let mut wd = values.then(|| {
            NormalBlocks::new(SeededRng::substream(
                self.seed,
                "microcircuit/weights",
                i as u64,
            ))
        });
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
    fn delay(&self, rng: &mut NormalBlocks, mean: f64) -> u16 {
        loop {
            let d = mean + mean * super::model::DELAY_REL_SD * rng.normal();
            if d >= 0.5 * self.dt_ms {
                return round_positive(d / self.dt_ms).clamp(1.0, f64::from(u16::MAX)) as u16;
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
        let w = &mut weights[..];
        let at = range.start;
        match (&mut targets, &mut delays) {
            (Targets::Narrow(t), Delays::Narrow(d)) => {
                self.fill(at, &chunks, cursors, Rows::new(t, d, w))
            }
            (Targets::Narrow(t), Delays::Wide(d)) => {
                self.fill(at, &chunks, cursors, Rows::new(t, d, w))
            }
            (Targets::Wide(t), Delays::Narrow(d)) => {
                self.fill(at, &chunks, cursors, Rows::new(t, d, w))
            }
            (Targets::Wide(t), Delays::Wide(d)) => {
                self.fill(at, &chunks, cursors, Rows::new(t, d, w))
            }
        }
        SynapseTable::from_rows(offsets, targets, delays, weights)
    }

    /// The filling pass: each chunk draws its synapses (`chunks`, neurons from `first` on)
    /// and writes them at its cursors (`cursors`, from the counting pass) into `out`.
    fn fill<T: TargetWord, D: DelayWord>(
        &self,
        first: usize,
        chunks: &[Range<usize>],
        cursors: Vec<Vec<u32>>,
        out: Rows<T, D>,
    ) {
        let n = self.in_degrees.len();
        let cursors: Vec<std::sync::Mutex<Vec<u32>>> =
            cursors.into_iter().map(std::sync::Mutex::new).collect();
        parallel(chunks.len(), self.threads, |c| {
            let mut cur = cursors[c].lock().unwrap_or_else(|p| p.into_inner());
            let mut batch = Batch::new(n, self.batch);
            for i in chunks[c].clone() {
                let local = (i - first) as u32;
                self.synapses_into(i, true, |s, d, w| batch.push(s as u32, local, d, w));
                if batch.len() >= self.batch {
                    // SAFETY: chunk `c`'s cursors start where its counting pass reserved
                    // room in each row, and it writes exactly the synapses it counted.
                    unsafe { batch.write_out(&mut cur, &out) };
                }
            }
            // SAFETY: as above.
            unsafe { batch.write_out(&mut cur, &out) };
        });
    }
}

/// A weight around `mean` (relative sd 0.1), redrawn until it has `mean`'s sign.
fn weight(rng: &mut NormalBlocks, mean: f64) -> f32 {
    loop {
        let w = mean + mean.abs() * super::model::WEIGHT_REL_SD * rng.normal();
        if w * mean.signum() >= 0.0 {
            return w as f32;
        }
    }
}

/// `x.round()` for `x >= 0.5` (ties away from zero), without the library call `round` is on
/// x86-64 without SSE4.1: `x - trunc(x)` is exact there.
fn round_positive(x: f64) -> f64 {
    let t = x as u64 as f64;
    if x - t >= 0.5 {
        t + 1.0
    } else {
        t
    }
}

/// The three arrays of a table being filled from several threads at disjoint positions, in
/// the widths the table stores them (`T` targets, `D` delays).
struct Rows<T, D> {
    targets: *mut T,
    delays: *mut D,
    weights: *mut f32,
}

// SAFETY: threads write disjoint positions only (see `Batch::write_out`), and the arrays
// outlive the scope the threads run in.
unsafe impl<T, D> Sync for Rows<T, D> {}

impl<T, D> Rows<T, D> {
    fn new(targets: &mut [T], delays: &mut [D], weights: &mut [f32]) -> Self {
        Rows {
            targets: targets.as_mut_ptr(),
            delays: delays.as_mut_ptr(),
            weights: weights.as_mut_ptr(),
        }
    }
}

/// A target as a table stores it: a narrow table's shard has at most 65,536 neurons, so its
/// local targets fit in two bytes.
trait TargetWord: Copy {
    fn from_local(local: u32) -> Self;
}

impl TargetWord for u16 {
    fn from_local(local: u32) -> Self {
        local as u16
    }
}

impl TargetWord for u32 {
    fn from_local(local: u32) -> Self {
        local
    }
}

/// A delay as a table stores it: one byte holds at most [`Delays::NARROW_MAX`] ticks.
trait DelayWord: Copy {
    fn from_ticks(ticks: u16) -> Self;
}

impl DelayWord for u8 {
    fn from_ticks(ticks: u16) -> Self {
        ticks.min(Delays::NARROW_MAX) as u8
    }
}

impl DelayWord for u16 {
    fn from_ticks(ticks: u16) -> Self {
        ticks
    }
}

/// Synapses a filling chunk draws before it writes them into the table, row by row.
pub(super) const BATCH_SYNAPSES: usize = 1 << 19;

/// One drawn synapse, without its row: its local target, delay (ticks) and weight.
#[derive(Clone, Copy, Default)]
struct Drawn {
    post: u32,
    weight: f32,
    delay: u16,
}

/// A filling chunk's synapses drawn but not yet written: written one at a time where they
/// go, they land all over the table (a cache and TLB miss each, half the build's time at
/// full scale); grouped by row first (a stable counting sort that moves whole synapses, so
/// each row keeps the order one at a time gives and the write reads them in sequence), they
/// sweep it once per batch, a few synapses per row at a time.
struct Batch {
    /// Each synapse's row, in draw order.
    src: Vec<u32>,
    /// The synapses, in draw order.
    drawn: Vec<Drawn>,
    /// The synapses grouped by row.
    sorted: Vec<Drawn>,
    /// Per row, the batch's synapses in it (counted as they are drawn).
    counts: Vec<u32>,
    /// Per row, where its synapses go in `sorted` (then where they end).
    ends: Vec<u32>,
}

impl Batch {
    /// An empty batch of `size` synapses for a table of `rows` rows.
    fn new(rows: usize, size: usize) -> Self {
        Batch {
            src: Vec::with_capacity(size),
            drawn: Vec::with_capacity(size),
            sorted: Vec::with_capacity(size),
            counts: vec![0; rows],
            ends: vec![0; rows],
        }
    }

    fn push(&mut self, src: u32, post: u32, delay: u16, weight: f32) {
        self.src.push(src);
        self.drawn.push(Drawn {
            post,
            weight,
            delay,
        });
        self.counts[src as usize] += 1;
    }

    fn len(&self) -> usize {
        self.src.len()
    }

    /// Writes the batch into `out` row by row, each row's synapses at its chunk's cursor
    /// (`cur`), and empties it.
    ///
    /// # Safety
    /// Every row's cursor, advanced by the batch's synapses in it, stays within the positions
    /// this chunk reserved in that row, which no other thread writes.
    unsafe fn write_out<T: TargetWord, D: DelayWord>(&mut self, cur: &mut [u32], out: &Rows<T, D>) {
        let mut pos = 0u32;
        for (end, &c) in self.ends.iter_mut().zip(&self.counts) {
            *end = pos;
            pos += c;
        }
        self.sorted.resize(self.drawn.len(), Drawn::default());
        for (&s, &d) in self.src.iter().zip(&self.drawn) {
            let at = &mut self.ends[s as usize];
            self.sorted[*at as usize] = d;
            *at += 1;
        }
        let mut from = 0usize;
        for (row, c) in self.counts.iter_mut().enumerate() {
            let k = *c as usize;
            if k == 0 {
                continue;
            }
            *c = 0;
            let p = cur[row] as usize;
            cur[row] += k as u32;
            for (j, d) in self.sorted[from..from + k].iter().enumerate() {
                // SAFETY: the caller's contract: `p + j` is this chunk's, in bounds.
                unsafe {
                    *out.targets.add(p + j) = T::from_local(d.post);
                    *out.delays.add(p + j) = D::from_ticks(d.delay);
                    *out.weights.add(p + j) = d.weight;
                }
            }
            from += k;
        }
        self.src.clear();
        self.drawn.clear();
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

#[cfg(test)]
mod round_tests {
    use super::round_positive;

    #[test]
    fn rounds_as_the_library_does() {
        let mut rng = crate::math::rng::SeededRng::new(3);
        let ties = [
            0.5,
            1.5,
            2.5,
            0.499_999_999_999_999_94,
            4_503_599_627_370_495.5,
        ];
        let drawn = (0..100_000).map(|_| 0.5 + 300.0 * rng.uniform());
        for x in ties.into_iter().chain(drawn) {
            assert_eq!(round_positive(x), x.round(), "{x}");
        }
    }
}

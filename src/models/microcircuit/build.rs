//! Builds the microcircuit's synapses, in parallel and the same for any sharding.
//!
//! 1. **Cells**: each projection's fixed total number of synapses falls on uniformly drawn
//!    (source, target) pairs (NEST's `fixed_total_number`, multapses and autapses allowed),
//!    one seeded stream per projection, projections in parallel. Targets are counted only by
//!    *block*: runs of `BLOCK` (1,024) neurons of one population, set by the model, never by the
//!    sharding. A cell is one source's synapses into one block. Each projection first draws
//!    every synapse's target (how many fall in each block), then each block's synapses'
//!    sources: two passes whose counters stay in cache.
//! 2. **Synapses**: each cell draws, from its own place in its source's stream (ChaCha stream =
//!    source, cells `CELL_WORDS` apart), its targets uniformly in the block, sorts them, and
//!    then draws in that order their delays (normal, relative sd 0.5, redrawn until at least
//!    half a tick, rounded to ticks) and weights (normal, relative sd 0.1, redrawn until of the
//!    right sign; the normals in blocks of thirty-two, [`NormalBlocks`]). What a cell draws
//!    depends on nothing else. A shard stores its synapses by presynaptic neuron in compact
//!    arrays (target u16, delay u8, weight f32: 7 bytes a synapse; targets in u32 in a shard
//!    of more than 65,536 neurons, delays in u16 when the means are too long for a byte). The
//!    cells give every row's length (a shard that holds part of a block draws that block's
//!    targets to count its part), so threads write disjoint runs of whole rows in sequence,
//!    with no pass that counts synapses and no scatter. A shard holding part of a block draws
//!    the whole cell and keeps its part. A thread then sorts each row it wrote by delay,
//!    stably (so by delay, then target), for the runs of one delay that a shard queues when a
//!    spike is delivered. Rows are the same for any sharding, and two adjacent shards' rows
//!    merge by delay into the rows of their union.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::model::{is_excitatory, Model, REFERENCE_RATES_HZ};
use crate::math::normals::NormalBlocks;
use crate::math::rng::SeededRng;
use crate::spike::population::{sort_row_by_delay, Delays, RowScratch, SynapseTable, Targets};

/// Neurons in a block (the last block of a population may hold fewer).
pub(super) const BLOCK: usize = 1024;

/// How far apart (ChaCha words) the cells of one source draw in its stream: far beyond what a
/// cell can use, so cells never overlap.
const CELL_WORDS: u128 = 1 << 40;

/// What every shard's synapses are drawn from.
pub(super) struct Wiring<'a> {
    pub(super) model: &'a Model,
    pub(super) seed: u64,
    pub(super) starts: [usize; 9],
    /// Where each block starts, then the number of neurons: no block spans two populations.
    pub(super) blocks: Vec<usize>,
    /// Per source neuron, its synapses into each block: `cells[source * blocks + block]`.
    pub(super) cells: Vec<u32>,
    pub(super) dt_ms: f64,
    pub(super) threads: usize,
}

impl<'a> Wiring<'a> {
    /// Draws the cells of `model`'s network (step 1), on `threads` threads.
    pub(super) fn new(model: &'a Model, seed: u64, dt_ms: f64, threads: usize) -> Self {
        let starts = model.starts();
        let n = model.total_neurons();
        // first[a]..first[a + 1]: population a's blocks.
        let mut blocks = Vec::new();
        let mut first = [0usize; 9];
        for a in 0..8 {
            first[a] = blocks.len();
            blocks.extend((starts[a]..starts[a + 1]).step_by(BLOCK));
        }
        first[8] = blocks.len();
        blocks.push(n);
        let nb = first[8];
        let jobs: Vec<(usize, usize)> = (0..64)
            .map(|k| (k / 8, k % 8))
            .filter(|&(a, b)| {
                model.synapses[a][b] > 0 && model.neurons[a] > 0 && model.neurons[b] > 0
            })
            .collect();
        let counts = parallel(jobs.len(), threads, |j| {
            let (a, b) = jobs[j];
            let (na, ns) = (model.neurons[a] as u32, model.neurons[b] as u32);
            let width = first[a + 1] - first[a];
            let mut rng = SeededRng::substream(seed, "microcircuit/cells", (a * 8 + b) as u64);
            // First each block's share of the projection, then each block's sources: two
            // passes whose counters stay in cache, where one would scatter over them all.
            let mut per_block = vec![0u64; width];
            for _ in 0..model.synapses[a][b] {
                per_block[rng.below_u32(na) as usize / BLOCK] += 1;
            }
            let mut c = vec![0u32; ns as usize * width];
            let mut sources = vec![0u32; ns as usize];
            for (k, &m) in per_block.iter().enumerate() {
                sources.fill(0);
                for _ in 0..m {
                    sources[rng.below_u32(ns) as usize] += 1;
                }
                for (s, &x) in sources.iter().enumerate() {
                    c[s * width + k] = x;
                }
            }
            c
        });
        let mut cells = vec![0u32; n * nb];
        for (&(a, b), c) in jobs.iter().zip(counts) {
            let width = first[a + 1] - first[a];
            for (s, row) in c.chunks_exact(width).enumerate() {
                let at = (starts[b] + s) * nb + first[a];
                cells[at..at + width].copy_from_slice(row);
            }
        }
        Wiring {
            model,
            seed,
            starts,
            blocks,
            cells,
            dt_ms,
            threads,
        }
    }

    /// The number of neurons.
    pub(super) fn neurons(&self) -> usize {
        *self.blocks.last().unwrap_or(&0)
    }

    /// The number of blocks.
    fn block_count(&self) -> usize {
        self.blocks.len() - 1
    }

    /// Source `j`'s cells (its synapses into each block).
    fn cells_of(&self, j: usize) -> &[u32] {
        let nb = self.block_count();
        &self.cells[j * nb..(j + 1) * nb]
    }

    /// The blocks that hold any neuron of `range`.
    fn blocks_over(&self, range: &Range<usize>) -> Range<usize> {
        if range.is_empty() {
            return 0..0;
        }
        let first = self.blocks.partition_point(|&s| s <= range.start) - 1;
        let end = self.blocks.partition_point(|&s| s < range.end);
        first..end
    }

    /// Synapses into the neurons of `range`.
    pub(super) fn synapses_in(&self, range: Range<usize>) -> u64 {
        self.row_lengths(&range).iter().map(|&k| u64::from(k)).sum()
    }

    /// The population of neuron `i`.
    pub(super) fn population(&self, i: usize) -> usize {
        self.starts.partition_point(|&s| s <= i) - 1
    }

    /// `k` contiguous ranges of neurons with about equal work: the input each neuron expects
    /// (its block's mean in-degree from each population x that population's reference rate)
    /// plus its integration and drive.
    pub(super) fn balanced_ranges(&self, k: usize) -> Vec<Range<usize>> {
        let n = self.neurons();
        let k = k.clamp(1, n.max(1));
        let mut input = vec![0.0f64; self.block_count()];
        for j in 0..n {
            let rate = REFERENCE_RATES_HZ[self.population(j)];
            for (x, &c) in input.iter_mut().zip(self.cells_of(j)) {
                *x += f64::from(c) * rate;
            }
        }
        let per_neuron: Vec<f64> = (0..self.block_count())
            .map(|c| input[c] / (self.blocks[c + 1] - self.blocks[c]) as f64)
            .collect();
        let block_of = |i: usize| self.blocks.partition_point(|&s| s <= i) - 1;
        let cost = |i: usize| 7500.0 + per_neuron[block_of(i)];
        let total: f64 = (0..n).map(cost).sum();
        let mut cuts = vec![0];
        let mut acc = 0.0;
        for i in 0..n {
            acc += cost(i);
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

    /// Normals and integers drawn from source `j`'s stream.
    fn source_stream(&self, j: usize) -> NormalBlocks {
        NormalBlocks::new(SeededRng::substream(
            self.seed,
            "microcircuit/synapses",
            j as u64,
        ))
    }

    /// Source `j`'s targets in block `c`, block-relative and sorted, into `targets`, drawn
    /// from the cell's place in the source's stream `rng`; the cell's values follow them.
    fn cell_targets(&self, j: usize, c: usize, rng: &mut NormalBlocks, cell: &mut Cell) {
        let Cell { targets, scratch } = cell;
        let k = self.cells_of(j)[c];
        let len = (self.blocks[c + 1] - self.blocks[c]) as u32;
        rng.seek(c as u128 * CELL_WORDS);
        targets.clear();
        targets.extend((0..k).map(|_| rng.below_u32(len) as u16));
        sort_targets(targets, scratch);
    }

    /// The part of block `c` in `range`, block-relative.
    fn part(&self, c: usize, range: &Range<usize>) -> Range<u16> {
        let (b0, b1) = (self.blocks[c], self.blocks[c + 1]);
        let lo = range.start.clamp(b0, b1) - b0;
        let hi = range.end.clamp(b0, b1) - b0;
        lo as u16..hi as u16
    }

    /// Each source's synapses into `range` (the length of its row in the shard's table).
    fn row_lengths(&self, range: &Range<usize>) -> Vec<u32> {
        let over = self.blocks_over(range);
        let n = self.neurons();
        let pieces = (self.threads * 4).clamp(1, n.max(1));
        let parts = parallel(pieces, self.threads, |p| {
            let mut cell = Cell::default();
            (n * p / pieces..n * (p + 1) / pieces)
                .map(|j| {
                    let cells = self.cells_of(j);
                    let mut rng = None;
                    let mut len = 0;
                    for c in over.clone() {
                        let part = self.part(c, range);
                        let whole = (self.blocks[c + 1] - self.blocks[c]) as u16;
                        if cells[c] == 0 || (part.start == 0 && part.end == whole) {
                            len += cells[c];
                            continue;
                        }
                        let r = rng.get_or_insert_with(|| self.source_stream(j));
                        self.cell_targets(j, c, r, &mut cell);
                        len += cell.targets.iter().filter(|t| part.contains(t)).count() as u32;
                    }
                    len
                })
                .collect::<Vec<u32>>()
        });
        parts.concat()
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
        let lengths = self.row_lengths(&range);
        let mut offsets = Vec::with_capacity(lengths.len() + 1);
        let mut pos = 0u64;
        for &k in &lengths {
            offsets.push(pos as u32);
            pos += u64::from(k);
        }
        assert!(
            pos <= u64::from(u32::MAX),
            "a shard holds at most 2^32 - 1 synapses"
        );
        offsets.push(pos as u32);
        // Runs of whole rows with about equal numbers of synapses, one thread's job each.
        let pieces = (self.threads * 4) as u64;
        let mut chunks: Vec<usize> = (0..=pieces)
            .map(|p| offsets.partition_point(|&o| u64::from(o) * pieces < pos * p))
            .collect();
        chunks[0] = 0;
        *chunks.last_mut().unwrap_or(&mut 0) = lengths.len();
        chunks.dedup();
        let len = pos as usize;
        let mut delays = Delays::zeroed(len, self.longest_delay());
        let mut targets = Targets::zeroed(len, range.len());
        let mut weights = vec![0f32; len];
        let w = &mut weights[..];
        let job = Job {
            range: &range,
            offsets: &offsets,
            chunks: &chunks,
        };
        match (&mut targets, &mut delays) {
            (Targets::Narrow(t), Delays::Narrow(d)) => self.fill(&job, Rows::new(t, d, w)),
            (Targets::Narrow(t), Delays::Wide(d)) => self.fill(&job, Rows::new(t, d, w)),
            (Targets::Wide(t), Delays::Narrow(d)) => self.fill(&job, Rows::new(t, d, w)),
            (Targets::Wide(t), Delays::Wide(d)) => self.fill(&job, Rows::new(t, d, w)),
        }
        SynapseTable::from_rows(offsets, targets, delays, weights)
    }

    /// Draws the synapses of the rows `job` names and writes them into `out`, a run of whole
    /// rows per thread.
    fn fill<T: TargetWord, D: DelayWord>(&self, job: &Job<'_>, out: Rows<T, D>) {
        let m = self.model;
        let over = self.blocks_over(job.range);
        parallel(job.chunks.len().saturating_sub(1), self.threads, |p| {
            let mut cell = Cell::default();
            let mut scratch = RowScratch::default();
            for j in job.chunks[p]..job.chunks[p + 1] {
                let (mut pos, end) = (job.offsets[j] as usize, job.offsets[j + 1] as usize);
                let row = pos..end;
                let b = self.population(j);
                let d_mean = m.delay_ms[usize::from(!is_excitatory(b))];
                let cells = self.cells_of(j);
                let mut rng = self.source_stream(j);
                for c in over.clone() {
                    if cells[c] == 0 {
                        continue;
                    }
                    self.cell_targets(j, c, &mut rng, &mut cell);
                    let w_mean = m.weight_mv[self.population(self.blocks[c])][b];
                    let part = self.part(c, job.range);
                    let targets = &cell.targets;
                    let lo = targets.partition_point(|&t| t < part.start);
                    let hi = targets.partition_point(|&t| t < part.end);
                    assert!(pos + (hi - lo) <= end, "row {j} overruns its length");
                    // Values in target order; those past the part are never needed.
                    for (x, &t) in targets[..hi].iter().enumerate() {
                        let (d, w) = (self.delay(&mut rng, d_mean), weight(&mut rng, w_mean));
                        if x >= lo {
                            let local = (self.blocks[c] + usize::from(t) - job.range.start) as u32;
                            // SAFETY: `pos` is in row `j`, which only this thread writes.
                            unsafe { out.write(pos, local, d, w) };
                            pos += 1;
                        }
                    }
                }
                assert_eq!(pos, end, "row {j} is one its length said");
                // SAFETY: row `j` is this thread's alone, and written in full.
                let parts = unsafe { out.row(row) };
                sort_row_by_delay(parts, usize::from(self.longest_delay()), &mut scratch);
            }
        });
    }
}

/// A cell's targets as they are drawn and sorted, and room to sort them in.
#[derive(Default)]
struct Cell {
    targets: Vec<u16>,
    scratch: Vec<u16>,
}

/// Bits of a block-relative target, sorted in two counting passes of half as many.
const TARGET_BITS: u32 = 10;
const _: () = assert!(BLOCK <= 1 << TARGET_BITS);

/// Sorts block-relative targets (below `2^TARGET_BITS`): a radix sort of two counting passes,
/// a few operations a target where a comparison sort takes several times as many.
fn sort_targets(t: &mut [u16], scratch: &mut Vec<u16>) {
    const HALF: u32 = TARGET_BITS / 2;
    const MASK: u16 = (1 << HALF) - 1;
    if t.len() <= 16 {
        t.sort_unstable();
        return;
    }
    scratch.resize(t.len(), 0);
    let (mut low, mut high) = ([0u32; 1 << HALF], [0u32; 1 << HALF]);
    for &x in t.iter() {
        low[usize::from(x & MASK)] += 1;
        high[usize::from((x >> HALF) & MASK)] += 1;
    }
    let starts = |count: &mut [u32; 1 << HALF]| {
        let mut at = 0;
        for c in count.iter_mut() {
            (*c, at) = (at, at + *c);
        }
    };
    starts(&mut low);
    starts(&mut high);
    for &x in t.iter() {
        let at = &mut low[usize::from(x & MASK)];
        scratch[*at as usize] = x;
        *at += 1;
    }
    for &x in scratch.iter() {
        let at = &mut high[usize::from((x >> HALF) & MASK)];
        t[*at as usize] = x;
        *at += 1;
    }
}

/// The rows a shard's filling pass writes: its neurons, its row offsets, and the runs of
/// rows (`chunks[p]..chunks[p + 1]`) its threads take.
struct Job<'a> {
    range: &'a Range<usize>,
    offsets: &'a [u32],
    chunks: &'a [usize],
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
    let t = x as i64 as f64;
    // Without a branch: the fraction is random, so a branch on it would mispredict half the
    // time.
    t + f64::from(u8::from(x - t >= 0.5))
}

/// The three arrays of a table being filled from several threads at disjoint positions, in
/// the widths the table stores them (`T` targets, `D` delays).
struct Rows<T, D> {
    targets: *mut T,
    delays: *mut D,
    weights: *mut f32,
    len: usize,
}

// SAFETY: threads write disjoint positions only (see `Wiring::fill`), and the arrays
// outlive the scope the threads run in.
unsafe impl<T, D> Sync for Rows<T, D> {}

impl<T: TargetWord, D: DelayWord> Rows<T, D> {
    fn new(targets: &mut [T], delays: &mut [D], weights: &mut [f32]) -> Self {
        assert!(targets.len() == weights.len() && delays.len() == weights.len());
        Rows {
            targets: targets.as_mut_ptr(),
            delays: delays.as_mut_ptr(),
            weights: weights.as_mut_ptr(),
            len: weights.len(),
        }
    }

    /// The synapses of `r`, to rearrange.
    ///
    /// # Safety
    /// No other thread writes or reads `r` while the slices live.
    #[allow(clippy::mut_from_ref)]
    unsafe fn row(&self, r: Range<usize>) -> (&mut [T], &mut [D], &mut [f32]) {
        assert!(r.start <= r.end && r.end <= self.len);
        // SAFETY: in bounds (checked) and, by the caller's contract, this thread's alone.
        unsafe {
            (
                std::slice::from_raw_parts_mut(self.targets.add(r.start), r.len()),
                std::slice::from_raw_parts_mut(self.delays.add(r.start), r.len()),
                std::slice::from_raw_parts_mut(self.weights.add(r.start), r.len()),
            )
        }
    }

    /// Writes one synapse at `at`.
    ///
    /// # Safety
    /// No other thread writes or reads `at` meanwhile.
    unsafe fn write(&self, at: usize, local: u32, delay: u16, weight: f32) {
        assert!(at < self.len);
        // SAFETY: in bounds (checked) and, by the caller's contract, this thread's alone.
        unsafe {
            *self.targets.add(at) = T::from_local(local);
            *self.delays.add(at) = D::from_ticks(delay);
            *self.weights.add(at) = weight;
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
trait DelayWord: Copy + Into<usize> {
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
    use super::{round_positive, sort_targets, BLOCK};

    #[test]
    fn targets_sort_as_a_comparison_sort_does() {
        let mut rng = crate::math::rng::SeededRng::new(8);
        let mut scratch = Vec::new();
        for len in (0..300).chain([1000, 5000]) {
            let mut t: Vec<u16> = (0..len).map(|_| rng.below(BLOCK as u64) as u16).collect();
            let mut want = t.clone();
            want.sort_unstable();
            sort_targets(&mut t, &mut scratch);
            assert_eq!(t, want, "{len}");
        }
    }

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

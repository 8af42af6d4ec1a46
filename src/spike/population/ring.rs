//! [`DelayRing`]: a shard's delayed input (per future tick, the synaptic events that land at
//! its end, in arrival order) and the bookkeeping of its exchange windows.
//!
//! A delivered spike appends each synapse's (target, weight) to the queue of the slot its
//! delay reaches: writes in sequence, where adding into a dense `slots x neurons` ring landed
//! all over several megabytes. When a slot falls due, its events are summed per neuron into a
//! zeroed array the size of the shard (which stays in cache), in arrival order, so every sum is
//! the one the dense ring held, bit for bit.
//!
//! Where weights do not move, a spike queues instead one entry per run of its row's synapses
//! that share a delay ([`DelayRuns`]), and the run's targets and weights are read from the
//! table when the slot falls due: the same events in the same order, so the same sums, without
//! writing and reading each event through the queue.

use super::runs::DelayRuns;
use super::synapses::{DelayRow, TargetRow};
use crate::message::Spikes;
use crate::runtime::memory::prefetch;
use crate::spike::coupling::Coupling;
use crate::spike::lif::LifState;
use crate::spike::plasticity::SparsePlasticity;
use crate::spike::population::SynapseTable;

/// A shard's delayed input and window bookkeeping (when synapses carry delays).
#[derive(Debug)]
pub(super) struct DelayRing {
    /// Ticks per exchange window: the minimum delay.
    pub(super) window: u64,
    /// Ring slots: the maximum delay (a spike lands at most that far ahead).
    slots: usize,
    /// Events landing at the end of tick `t`, in slot `t % slots`: excitatory (or signed)
    /// input in lane `slot`, inhibitory input in lane `slots + slot` when there are two
    /// currents.
    queues: Queues,
    /// Whether inhibitory input goes into a current of its own.
    two: bool,
    /// The due slot's input per neuron, summed from zero (zero between ticks).
    sums: Vec<f32>,
    /// This window's spikes so far: the shard's index, then per tick a count and the neurons.
    pub(super) own: Vec<u32>,
    /// Read positions in each shard's piece while a window is delivered.
    cursors: Vec<usize>,
    /// The table's runs of one delay, when spikes queue runs (weights that do not move).
    runs: Option<DelayRuns>,
}

impl DelayRing {
    /// A ring for `n` neurons of shard `shard` (of `shards`), windows of `window` ticks,
    /// delays up to `max_delay`, rows of at most `longest` synapses; `one_current`: weighted
    /// synapses into one current; `runs`: the table's runs of one delay, to queue spikes as
    /// runs (a table whose weights do not move).
    pub(super) fn new(
        (n, longest): (usize, usize),
        shard: usize,
        shards: usize,
        (window, max_delay): (u64, u64),
        one_current: bool,
        runs: Option<DelayRuns>,
    ) -> Self {
        let slots = max_delay.max(window).max(1) as usize;
        let currents = if one_current { 1 } else { 2 };
        DelayRing {
            window: window.max(1),
            slots,
            queues: Queues::new(
                slots * currents,
                n,
                (n * SPILL_PER_NEURON).max(4096),
                longest,
            ),
            two: !one_current,
            sums: vec![0.0; n],
            own: vec![shard as u32],
            cursors: vec![0; shards],
            runs,
        }
    }

    /// Bytes the ring holds.
    pub(super) fn bytes(&self) -> usize {
        self.queues.bytes() + self.sums.len() * 4 + self.runs.as_ref().map_or(0, DelayRuns::bytes)
    }

    /// What the queues' entries are: runs of `syn`'s synapses, or events.
    fn entries<'a>(&self, syn: &'a SynapseTable) -> Entries<'a> {
        match self.runs {
            Some(_) => {
                let (targets, weights) = syn.all_weighted();
                Entries::Runs(targets, weights)
            }
            None => Entries::Events,
        }
    }

    /// Delivers every shard's window of spikes that started at tick `start` into the ring:
    /// tick by tick, and within a tick in shard order (so the sums are the same whatever the
    /// sharding). With `plastic` synapses, at each tick the shard's own spikes (`own`: its
    /// index and first neuron) potentiate first, then each spike delivers and depresses.
    /// Returns the synaptic events delivered.
    pub(super) fn deliver(
        &mut self,
        start: u64,
        pieces: &[Option<Spikes>],
        (synapses, mut plastic): (&mut SynapseTable, Option<&mut SparsePlasticity>),
        coupling: &Coupling,
        (shard, first): (usize, u32),
    ) -> u64 {
        let mut events = 0;
        self.cursors.iter_mut().for_each(|c| *c = 1); // after the shard index
        for f in start..start + self.window {
            if let (Some(pl), Some(piece)) = (plastic.as_deref_mut(), &pieces[shard]) {
                let c = self.cursors[shard];
                if let Some(&count) = piece.get(c) {
                    let (_, weights) = synapses.targets_and_weights_mut();
                    for &g in &piece[c + 1..c + 1 + count as usize] {
                        pl.post_spike(f, g - first, weights);
                    }
                }
            }
            for (s, piece) in pieces.iter().enumerate() {
                let Some(piece) = piece else { continue };
                let c = self.cursors[s];
                let Some(&count) = piece.get(c) else {
                    continue;
                };
                let fired = &piece[c + 1..c + 1 + count as usize];
                self.cursors[s] = c + 1 + count as usize;
                for &j in fired {
                    events += self.land(f, j, synapses, coupling);
                    if let Some(pl) = plastic.as_deref_mut() {
                        let (targets, weights) = synapses.targets_and_weights_mut();
                        pl.pre_spike(f, j, targets, weights);
                    }
                }
            }
        }
        events
    }

    /// Queues the input of `j`'s spike at tick `f` in the slots where it lands.
    #[inline]
    fn land(&mut self, f: u64, j: u32, syn: &SynapseTable, c: &Coupling) -> u64 {
        // Slot of tick f + d without a division per synapse: d <= slots, so one subtraction.
        let slots = self.slots;
        let base = (f % slots as u64) as usize;
        let slot = Slots {
            base,
            slots,
            first: 0,
        };
        let first = if self.two && j >= c.excitatory {
            slots
        } else {
            0
        };
        if let Some(runs) = &self.runs {
            let (bounds, delays) = runs.row(j);
            let entries = self.entries(syn);
            let queues = &mut self.queues;
            queues.make_room(first..first + slots, delays.len(), entries);
            let slot = Slots { first, ..slot };
            for (k, &d) in delays.iter().enumerate() {
                let run = u64::from(bounds[k]) | u64::from(bounds[k + 1]) << 32;
                queues.push_entry(slot.of(usize::from(d)), run);
            }
            return u64::from(bounds[delays.len()] - bounds[0]);
        }
        if syn.has_weights() {
            let (targets, delays, weights) = syn.weighted_delayed(j);
            // Two currents (CUBA's, plastic): inhibitory rows into their own lanes.
            let queues = &mut self.queues;
            queues.make_room(first..first + slots, weights.len(), Entries::Events);
            let slot = Slots { first, ..slot };
            match (targets, delays) {
                (TargetRow::Narrow(t), DelayRow::Narrow(d)) => {
                    slot.add_weighted(queues, t, d, weights)
                }
                (TargetRow::Narrow(t), DelayRow::Wide(d)) => {
                    slot.add_weighted(queues, t, d, weights)
                }
                (TargetRow::Wide(t), DelayRow::Narrow(d)) => {
                    slot.add_weighted(queues, t, d, weights)
                }
                (TargetRow::Wide(t), DelayRow::Wide(d)) => slot.add_weighted(queues, t, d, weights),
            }
            return targets.len() as u64;
        }
        let (targets, delays) = syn.delayed(j);
        let (first, w) = if j < c.excitatory {
            (0, c.we_mv)
        } else {
            (slots, c.wi_mv)
        };
        let queues = &mut self.queues;
        queues.make_room(first..first + slots, targets.len(), Entries::Events);
        let slot = Slots { first, ..slot };
        match delays {
            DelayRow::Narrow(d) => slot.add(queues, targets, d, w),
            DelayRow::Wide(d) => slot.add(queues, targets, d, w),
        }
        targets.len() as u64
    }

    /// Adds the input landing at the end of tick `tick` to the state's currents and empties
    /// its slot (as NEST's `iaf_psc_exp`, after the tick's integration: it moves `v` from the
    /// next tick on).
    pub(super) fn apply(&mut self, tick: u64, state: &mut LifState, syn: &SynapseTable) {
        let slot = (tick % self.slots as u64) as usize;
        let entries = self.entries(syn);
        let sums = &mut self.sums;
        self.queues.sum_into(slot, sums, &mut state.ge_mv, entries);
        if self.two {
            self.queues
                .sum_into(self.slots + slot, sums, &mut state.gi_mv, entries);
        }
    }
}

/// What a queue's entries are.
#[derive(Clone, Copy)]
enum Entries<'a> {
    /// One synapse's event each: its target (low word) and weight (its bits, high word).
    Events,
    /// A run of the table's synapses each (first, low word; end, high word), whose targets
    /// and weights these are.
    Runs(TargetRow<'a>, &'a [f32]),
}

impl Entries<'_> {
    /// Adds each entry's weights to their targets' sums, in order.
    fn add(self, entries: &[u64], sums: &mut [f32]) {
        match self {
            Entries::Events => add_events(entries, sums),
            Entries::Runs(TargetRow::Narrow(t), w) => add_runs(entries, t, w, sums),
            Entries::Runs(TargetRow::Wide(t), w) => add_runs(entries, t, w, sums),
        }
    }
}

/// Every slot's entries in arrival order, in one buffer (a lane of `cap` entries per slot and
/// current), one store an entry: each synapse's target (local, low word) and weight (mV, its
/// bits in the high word), or each run of synapses ([`Entries`]). Before a spike is queued,
/// a lane that its row could take past `limit` entries (a burst of activity) spills them into
/// a dense row of its own, in order, and goes on from there: memory stays bounded, the sums
/// are the same, and queueing an entry checks nothing but the buffer's bound. The buffer is
/// zeroed lazily by the system, so only the pages a lane has reached are resident.
#[derive(Debug)]
struct Queues {
    events: Vec<u64>,
    /// Events a lane has room for: `limit` plus the longest row.
    cap: usize,
    /// Per lane, the index in `events` after its last event (its start is `lane * cap`).
    ends: Vec<usize>,
    /// Per lane, the most events it has held (for the bytes in use).
    high: Vec<usize>,
    /// Events a lane holds before it spills.
    limit: usize,
    /// The shard's neurons.
    neurons: usize,
    /// Per lane, the sums of the events spilled since the slot was last due (allocated at the
    /// lane's first spill), and whether any were.
    dense: Vec<(Vec<f32>, bool)>,
}

impl Queues {
    /// `lanes` empty lanes for `neurons` neurons that spill at `limit` events, for rows of at
    /// most `longest` synapses.
    fn new(lanes: usize, neurons: usize, limit: usize, longest: usize) -> Self {
        let cap = limit.max(1) + longest;
        Queues {
            events: vec![0; lanes * cap],
            cap,
            ends: (0..lanes).map(|l| l * cap).collect(),
            high: vec![0; lanes],
            limit: limit.max(1),
            neurons,
            dense: vec![(Vec::new(), false); lanes],
        }
    }

    /// Bytes in use: the most events each lane held, and the dense rows.
    fn bytes(&self) -> usize {
        let dense: usize = self.dense.iter().map(|(d, _)| d.capacity() * 4).sum();
        self.high.iter().sum::<usize>() * 8 + dense
    }

    /// Events lane `lane` holds.
    fn len(&self, lane: usize) -> usize {
        self.ends[lane] - lane * self.cap
    }

    /// Spills every lane of `lanes` that a row of `row` entries could take past the limit.
    #[inline]
    fn make_room(&mut self, lanes: std::ops::Range<usize>, row: usize, entries: Entries<'_>) {
        for lane in lanes {
            if self.len(lane) + row > self.limit {
                self.spill(lane, entries);
            }
        }
    }

    /// Appends an event to lane `lane` (which [`Queues::make_room`] left room for).
    #[inline(always)]
    fn push(&mut self, lane: usize, target: u32, weight: f32) {
        self.push_entry(lane, u64::from(target) | u64::from(weight.to_bits()) << 32);
    }

    /// Appends an entry to lane `lane` (which [`Queues::make_room`] left room for).
    #[inline(always)]
    fn push_entry(&mut self, lane: usize, entry: u64) {
        let end = self.ends[lane];
        self.events[end] = entry;
        self.ends[lane] = end + 1;
        // The lane's next lines, before its writes reach them (its memory was last used a
        // ring's turn ago and has left the cache).
        prefetch(self.events.as_ptr().wrapping_add(end + TAIL_AHEAD));
    }

    /// Moves lane `lane`'s events into its dense row, in order.
    #[cold]
    fn spill(&mut self, lane: usize, entries: Entries<'_>) {
        let start = lane * self.cap;
        let (dense, spilled) = &mut self.dense[lane];
        if dense.is_empty() {
            *dense = vec![0.0; self.neurons];
        }
        entries.add(&self.events[start..self.ends[lane]], dense);
        self.high[lane] = self.high[lane].max(self.ends[lane] - start);
        self.ends[lane] = start;
        *spilled = true;
    }

    /// Sums lane `lane`'s events per neuron (into `sums`, all zero, or its dense row after a
    /// spill), in arrival order, adds the sums to `current` and zeroes them, and empties it.
    fn sum_into(
        &mut self,
        lane: usize,
        sums: &mut [f32],
        current: &mut [f32],
        entries: Entries<'_>,
    ) {
        let start = lane * self.cap;
        let (dense, spilled) = &mut self.dense[lane];
        let acc: &mut [f32] = if *spilled { dense } else { sums };
        entries.add(&self.events[start..self.ends[lane]], acc);
        for (g, x) in current.iter_mut().zip(acc.iter_mut()) {
            *g += *x;
            *x = 0.0;
        }
        self.high[lane] = self.high[lane].max(self.ends[lane] - start);
        self.ends[lane] = start;
        *spilled = false;
    }
}

/// Adds each event's weight to its target's sum, in order.
fn add_events(events: &[u64], sums: &mut [f32]) {
    for &e in events {
        sums[e as u32 as usize] += f32::from_bits((e >> 32) as u32);
    }
}

/// Adds the weights of each run of synapses (`entries`: first and end) to their targets' sums,
/// in order, fetching the runs a few entries ahead (they lie anywhere in the table).
fn add_runs<T: Copy + Into<u32>>(
    entries: &[u64],
    targets: &[T],
    weights: &[f32],
    sums: &mut [f32],
) {
    for (k, &e) in entries.iter().enumerate() {
        if let Some(&ahead) = entries.get(k + RUNS_AHEAD) {
            let at = ahead as u32 as usize;
            prefetch(targets.as_ptr().wrapping_add(at));
            prefetch(weights.as_ptr().wrapping_add(at));
        }
        let run = e as u32 as usize..(e >> 32) as usize;
        for (&t, &w) in targets[run.clone()].iter().zip(&weights[run]) {
            sums[t.into() as usize] += w;
        }
    }
}

/// Entries ahead of the one summed whose run is fetched.
const RUNS_AHEAD: usize = 4;

/// A slot's queue spills past this many events per neuron of the shard (a slot usually holds
/// about one tick's events: 1.3 per neuron in the full-scale microcircuit).
const SPILL_PER_NEURON: usize = 4;

/// Events ahead of a queue's end whose line is fetched before it is written.
const TAIL_AHEAD: usize = 16;

/// Where a spike sent at one tick lands in the ring, per delay.
#[derive(Clone, Copy)]
struct Slots {
    /// The sending tick's slot.
    base: usize,
    slots: usize,
    /// The lane of slot 0 (of the current the input goes into).
    first: usize,
}

impl Slots {
    /// The lane of a delay of `d` ticks: `d <= slots`, so one subtraction, no division.
    #[inline]
    fn of(self, d: usize) -> usize {
        let s = self.base + d;
        self.first + if s >= self.slots { s - self.slots } else { s }
    }

    /// Queues each synapse's weight for its target in the slot its delay reaches.
    #[inline]
    fn add_weighted<T: Copy + Into<u32>, D: Copy + Into<usize>>(
        self,
        queues: &mut Queues,
        targets: &[T],
        delays: &[D],
        weights: &[f32],
    ) {
        for ((&t, &d), &w) in targets.iter().zip(delays).zip(weights) {
            queues.push(self.of(d.into()), t.into(), w);
        }
    }

    /// Queues `w` for each target in the slot its delay reaches.
    #[inline]
    fn add<D: Copy + Into<usize>>(
        self,
        queues: &mut Queues,
        targets: &[u32],
        delays: &[D],
        w: f32,
    ) {
        for (&t, &d) in targets.iter().zip(delays) {
            queues.push(self.of(d.into()), t, w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Entries, Queues, TargetRow};

    /// Lanes that spill give the sums of lanes that do not, bit for bit, rows of any length
    /// (up to the longest) into either lane.
    #[test]
    fn spilling_keeps_the_sums() {
        let mut rng = crate::math::rng::SeededRng::new(6);
        let (n, longest) = (50, 9);
        let mut big = Queues::new(2, n, 1 << 20, longest);
        let mut small = Queues::new(2, n, 7, longest);
        for round in 0..3 {
            for _ in 0..(30 + round * 10) {
                let lane = rng.below(2) as usize;
                let row = 1 + rng.below(longest as u64) as usize;
                small.make_room(lane..lane + 1, row, super::Entries::Events);
                big.make_room(0..2, row, super::Entries::Events);
                for _ in 0..row {
                    let t = rng.below(n as u64) as u32;
                    let w = (rng.normal() * 0.3) as f32;
                    big.push(lane, t, w);
                    small.push(lane, t, w);
                }
            }
            for lane in 0..2 {
                let (mut a, mut b) = (vec![0.25f32; n], vec![0.25f32; n]);
                let mut sums = vec![0.0; n];
                big.sum_into(lane, &mut sums, &mut a, super::Entries::Events);
                small.sum_into(lane, &mut sums, &mut b, super::Entries::Events);
                assert!(small.dense[lane].0.len() == n && !small.dense[lane].1);
                assert!(!big.dense[lane].1 && small.len(lane) == 0);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&a), bits(&b), "round {round}, lane {lane}");
                assert!(sums.iter().all(|&x| x == 0.0));
            }
        }
        assert!(small.bytes() > 0 && big.high.iter().all(|&h| h > 7));
    }

    /// Runs of a table's synapses give the sums of their synapses queued one by one, bit for
    /// bit, whether their lanes spill or not.
    #[test]
    fn runs_sum_as_their_events() {
        let mut rng = crate::math::rng::SeededRng::new(7);
        let (n, len) = (40, 500);
        let targets: Vec<u16> = (0..len).map(|_| rng.below(n as u64) as u16).collect();
        let weights: Vec<f32> = (0..len).map(|_| (rng.normal() * 0.3) as f32).collect();
        let runs = Entries::Runs(TargetRow::Narrow(&targets), &weights);
        let mut events = Queues::new(2, n, 1 << 20, len);
        let mut spilling = Queues::new(2, n, 3, 8);
        for _ in 0..60 {
            let lane = rng.below(2) as usize;
            let first = rng.below(len as u64) as usize;
            let end = first + rng.below((len - first) as u64 + 1) as usize;
            spilling.make_room(lane..lane + 1, 1, runs);
            spilling.push_entry(lane, first as u64 | (end as u64) << 32);
            for k in first..end {
                events.push(lane, u32::from(targets[k]), weights[k]);
            }
        }
        for lane in 0..2 {
            let (mut a, mut b) = (vec![0.5f32; n], vec![0.5f32; n]);
            let mut sums = vec![0.0; n];
            events.sum_into(lane, &mut sums, &mut a, Entries::Events);
            spilling.sum_into(lane, &mut sums, &mut b, runs);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b), "lane {lane}");
        }
        assert!(
            spilling.dense.iter().all(|(d, _)| d.len() == n),
            "both spilled"
        );
    }
}

//! [`DelayRing`]: a shard's delayed input (per future tick, the synaptic events that land at
//! its end, in arrival order) and the bookkeeping of its exchange windows.
//!
//! A delivered spike appends each synapse's (target, weight) to the queue of the slot its
//! delay reaches: writes in sequence, where adding into a dense `slots x neurons` ring landed
//! all over several megabytes. When a slot falls due, its events are summed per neuron into a
//! zeroed array the size of the shard (which stays in cache), in arrival order, so every sum is
//! the one the dense ring held, bit for bit.

use super::synapses::{DelayRow, TargetRow};
use crate::message::Spikes;
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
    /// input in `queues[slot]`, inhibitory input in `queues[slots + slot]` when there are
    /// two currents.
    queues: Vec<Queue>,
    /// Whether inhibitory input goes into a current of its own.
    two: bool,
    /// The due slot's input per neuron, summed from zero (zero between ticks).
    sums: Vec<f32>,
    /// This window's spikes so far: the shard's index, then per tick a count and the neurons.
    pub(super) own: Vec<u32>,
    /// Read positions in each shard's piece while a window is delivered.
    cursors: Vec<usize>,
}

impl DelayRing {
    /// A ring for `n` neurons of shard `shard` (of `shards`), windows of `window` ticks,
    /// delays up to `max_delay`; `one_current`: weighted synapses into one current.
    pub(super) fn new(
        n: usize,
        shard: usize,
        shards: usize,
        (window, max_delay): (u64, u64),
        one_current: bool,
    ) -> Self {
        let slots = max_delay.max(window).max(1) as usize;
        let currents = if one_current { 1 } else { 2 };
        DelayRing {
            window: window.max(1),
            slots,
            queues: (0..slots * currents)
                .map(|_| Queue::new(n, (n * SPILL_PER_NEURON).max(4096)))
                .collect(),
            two: !one_current,
            sums: vec![0.0; n],
            own: vec![shard as u32],
            cursors: vec![0; shards],
        }
    }

    /// Bytes the ring holds.
    pub(super) fn bytes(&self) -> usize {
        let queued: usize = self.queues.iter().map(Queue::bytes).sum();
        queued + self.sums.len() * 4
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
        let slot = Slots { base, slots };
        if syn.has_weights() {
            let (targets, delays, weights) = syn.weighted_delayed(j);
            // Two currents (CUBA's, plastic): inhibitory rows into their own queues.
            let two = self.two && j >= c.excitatory;
            let queues = if two {
                &mut self.queues[slots..]
            } else {
                &mut self.queues[..slots]
            };
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
        let (queues, w) = if j < c.excitatory {
            (&mut self.queues[..slots], c.we_mv)
        } else {
            (&mut self.queues[slots..], c.wi_mv)
        };
        match delays {
            DelayRow::Narrow(d) => slot.add(queues, targets, d, w),
            DelayRow::Wide(d) => slot.add(queues, targets, d, w),
        }
        targets.len() as u64
    }

    /// Adds the input landing at the end of tick `tick` to the state's currents and empties
    /// its slot (as NEST's `iaf_psc_exp`, after the tick's integration: it moves `v` from the
    /// next tick on).
    pub(super) fn apply(&mut self, tick: u64, state: &mut LifState) {
        let slot = (tick % self.slots as u64) as usize;
        let sums = &mut self.sums;
        self.queues[slot].sum_into(sums, &mut state.ge_mv);
        if self.two {
            self.queues[self.slots + slot].sum_into(sums, &mut state.gi_mv);
        }
    }
}

/// One slot's events in arrival order: each synapse's target (local, low word) and weight
/// (mV, its bits in the high word), one store an event. A queue that reaches [`Queue::limit`]
/// events (a burst of activity) spills them into a dense row of its own, in order, and goes
/// on from there: memory stays bounded, and the sums are the same.
#[derive(Debug)]
struct Queue {
    events: Vec<u64>,
    /// The shard's neurons.
    neurons: usize,
    /// Events held before they spill.
    limit: usize,
    /// Per neuron, the sums of the events spilled since the slot was last due (allocated at
    /// the first spill).
    dense: Vec<f32>,
    spilled: bool,
}

impl Queue {
    /// An empty queue for `neurons` neurons that spills at `limit` events.
    fn new(neurons: usize, limit: usize) -> Self {
        Queue {
            events: Vec::new(),
            neurons,
            limit: limit.max(1),
            dense: Vec::new(),
            spilled: false,
        }
    }

    fn bytes(&self) -> usize {
        self.events.capacity() * 8 + self.dense.capacity() * 4
    }

    #[inline]
    fn push(&mut self, target: u32, weight: f32) {
        let end = self.events.len();
        if end >= self.limit {
            self.spill();
        }
        self.events
            .push(u64::from(target) | u64::from(weight.to_bits()) << 32);
        // The queue's next lines, before its writes reach them (its memory was last used a
        // ring's turn ago and has left the cache).
        prefetch_write(self.events.as_ptr().wrapping_add(end + TAIL_AHEAD));
    }

    /// Moves the events into the dense row, in order.
    #[cold]
    fn spill(&mut self) {
        if self.dense.is_empty() {
            self.dense = vec![0.0; self.neurons];
        }
        add_events(&self.events, &mut self.dense);
        self.events.clear();
        self.spilled = true;
    }

    /// Sums the events per neuron (into `sums`, all zero, or the dense row after a spill), in
    /// arrival order, adds the sums to `current` and zeroes them, and empties the queue.
    fn sum_into(&mut self, sums: &mut [f32], current: &mut [f32]) {
        let Queue {
            events,
            dense,
            spilled,
            ..
        } = self;
        let acc: &mut [f32] = if *spilled { dense } else { sums };
        add_events(events, acc);
        for (g, x) in current.iter_mut().zip(acc.iter_mut()) {
            *g += *x;
            *x = 0.0;
        }
        events.clear();
        *spilled = false;
    }
}

/// Adds each event's weight to its target's sum, in order.
fn add_events(events: &[u64], sums: &mut [f32]) {
    for &e in events {
        sums[e as u32 as usize] += f32::from_bits((e >> 32) as u32);
    }
}

/// A slot's queue spills past this many events per neuron of the shard (a slot usually holds
/// about one tick's events: 1.3 per neuron in the full-scale microcircuit).
const SPILL_PER_NEURON: usize = 4;

/// Events ahead of a queue's end whose line is fetched before it is written.
const TAIL_AHEAD: usize = 16;

/// Hints that the cache line at `p` will be written soon (nothing off x86-64).
#[inline(always)]
fn prefetch_write(p: *const u64) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Where a spike sent at one tick lands in the ring, per delay.
#[derive(Clone, Copy)]
struct Slots {
    /// The sending tick's slot.
    base: usize,
    slots: usize,
}

impl Slots {
    /// The slot of a delay of `d` ticks: `d <= slots`, so one subtraction, no division.
    #[inline]
    fn of(self, d: usize) -> usize {
        let s = self.base + d;
        if s >= self.slots {
            s - self.slots
        } else {
            s
        }
    }

    /// Queues each synapse's weight for its target in the slot its delay reaches.
    #[inline]
    fn add_weighted<T: Copy + Into<u32>, D: Copy + Into<usize>>(
        self,
        queues: &mut [Queue],
        targets: &[T],
        delays: &[D],
        weights: &[f32],
    ) {
        for ((&t, &d), &w) in targets.iter().zip(delays).zip(weights) {
            queues[self.of(d.into())].push(t.into(), w);
        }
    }

    /// Queues `w` for each target in the slot its delay reaches.
    #[inline]
    fn add<D: Copy + Into<usize>>(
        self,
        queues: &mut [Queue],
        targets: &[u32],
        delays: &[D],
        w: f32,
    ) {
        for (&t, &d) in targets.iter().zip(delays) {
            queues[self.of(d.into())].push(t, w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Queue;

    /// A queue that spills gives the sums of one that does not, bit for bit.
    #[test]
    fn spilling_keeps_the_sums() {
        let mut rng = crate::math::rng::SeededRng::new(6);
        let n = 50;
        let (mut big, mut small) = (Queue::new(n, 1 << 20), Queue::new(n, 7));
        for round in 0..3 {
            for _ in 0..(100 + round * 40) {
                let t = rng.below(n as u64) as u32;
                let w = (rng.normal() * 0.3) as f32;
                big.push(t, w);
                small.push(t, w);
            }
            let (mut a, mut b) = (vec![0.25f32; n], vec![0.25f32; n]);
            let mut sums = vec![0.0; n];
            big.sum_into(&mut sums, &mut a);
            small.sum_into(&mut sums, &mut b);
            assert!(small.dense.len() == n && !small.spilled);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b), "round {round}");
            assert!(sums.iter().all(|&x| x == 0.0));
        }
    }
}

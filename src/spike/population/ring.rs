//! [`DelayRing`]: a shard's delayed input (a ring buffer of synaptic input per future tick)
//! and the bookkeeping of its exchange windows.

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
    /// Input (mV) landing at the end of tick `t`, in slot `t % slots`: `slots x neurons`.
    ge: Vec<f32>,
    /// Inhibitory input, as `ge`; empty when synapses carry their own (signed) weights and
    /// both currents share one time constant.
    gi: Vec<f32>,
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
        DelayRing {
            window: window.max(1),
            slots,
            ge: vec![0.0; slots * n],
            gi: if one_current {
                Vec::new()
            } else {
                vec![0.0; slots * n]
            },
            own: vec![shard as u32],
            cursors: vec![0; shards],
        }
    }

    /// Bytes the ring holds.
    pub(super) fn bytes(&self) -> usize {
        (self.ge.len() + self.gi.len()) * 4
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
        let n = self.ge.len() / self.slots;
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
                    events += self.land(f, j, n, synapses, coupling);
                    if let Some(pl) = plastic.as_deref_mut() {
                        let (targets, weights) = synapses.targets_and_weights_mut();
                        pl.pre_spike(f, j, targets, weights);
                    }
                }
            }
        }
        events
    }

    /// Puts the input of `j`'s spike at tick `f` into the slots where it lands.
    #[inline]
    fn land(&mut self, f: u64, j: u32, n: usize, syn: &SynapseTable, c: &Coupling) -> u64 {
        // Slot of tick f + d without a division per synapse: d <= slots, so one subtraction.
        let slots = self.slots;
        let base = (f % slots as u64) as usize;
        let slot = Slots { base, slots };
        if syn.has_weights() {
            let (targets, delays, weights) = syn.weighted_delayed(j);
            // Two currents (CUBA's, plastic): inhibitory rows into `gi`.
            let two = !self.gi.is_empty() && j >= c.excitatory;
            let ge = if two {
                &mut self.gi[..slots * n]
            } else {
                &mut self.ge[..slots * n]
            };
            match (targets, delays) {
                (TargetRow::Narrow(t), DelayRow::Narrow(d)) => {
                    slot.add_weighted(ge, n, t, d, weights)
                }
                (TargetRow::Narrow(t), DelayRow::Wide(d)) => {
                    slot.add_weighted(ge, n, t, d, weights)
                }
                (TargetRow::Wide(t), DelayRow::Narrow(d)) => {
                    slot.add_weighted(ge, n, t, d, weights)
                }
                (TargetRow::Wide(t), DelayRow::Wide(d)) => slot.add_weighted(ge, n, t, d, weights),
            }
            return targets.len() as u64;
        }
        let (targets, delays) = syn.delayed(j);
        let (buf, w) = if j < c.excitatory {
            (&mut self.ge, c.we_mv)
        } else {
            (&mut self.gi, c.wi_mv)
        };
        match delays {
            DelayRow::Narrow(d) => slot.add(buf, n, targets, d, w),
            DelayRow::Wide(d) => slot.add(buf, n, targets, d, w),
        }
        targets.len() as u64
    }

    /// Adds the input landing at the end of tick `tick` to the state's currents and clears
    /// its slot (as NEST's `iaf_psc_exp`, after the tick's integration: it moves `v` from the
    /// next tick on).
    pub(super) fn apply(&mut self, tick: u64, state: &mut LifState) {
        let n = state.len();
        let slot = (tick % self.slots as u64) as usize * n;
        for (g, x) in state.ge_mv.iter_mut().zip(&mut self.ge[slot..slot + n]) {
            *g += *x;
            *x = 0.0;
        }
        if self.gi.is_empty() {
            return;
        }
        for (g, x) in state.gi_mv.iter_mut().zip(&mut self.gi[slot..slot + n]) {
            *g += *x;
            *x = 0.0;
        }
    }
}

/// Synapses ahead whose ring line is prefetched.
const PREFETCH: usize = 12;

/// Hints that the cache line at `p` will be written soon (nothing off x86-64).
#[inline(always)]
fn prefetch(p: *const f32) {
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

    /// Adds each synapse's weight to its target's slot (`n` neurons a slot).
    #[inline]
    fn add_weighted<T: Copy + Into<u32>, D: Copy + Into<usize>>(
        self,
        ring: &mut [f32],
        n: usize,
        targets: &[T],
        delays: &[D],
        weights: &[f32],
    ) {
        let at = |t: T, d: D| self.of(d.into()) * n + t.into() as usize;
        for k in 0..targets.len() {
            // The writes land all over the ring: ask for a line a few synapses ahead.
            if let (Some(&t), Some(&d)) = (targets.get(k + PREFETCH), delays.get(k + PREFETCH)) {
                prefetch(ring.as_ptr().wrapping_add(at(t, d)));
            }
            ring[at(targets[k], delays[k])] += weights[k];
        }
    }

    /// Adds `w` to each target's slot.
    #[inline]
    fn add<D: Copy + Into<usize>>(
        self,
        ring: &mut [f32],
        n: usize,
        targets: &[u32],
        delays: &[D],
        w: f32,
    ) {
        for (&t, &d) in targets.iter().zip(delays) {
            ring[self.of(d.into()) * n + t as usize] += w;
        }
    }
}

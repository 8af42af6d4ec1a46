//! Population shards: a [`Population`] actor owns a contiguous range of a recurrent LIF
//! network's neurons, their [`LifState`] and their *incoming* synapses ([`SynapseTable`]).
//!
//! Synapses are stored by presynaptic neuron, so a spike from `j` is delivered by walking `j`'s
//! targets in this shard: work per tick grows with spikes x fan-out, not with population size x
//! fan-in. Lockstep: at tick `n` a shard first delivers every shard's spikes of tick `n - 1` (in
//! shard order, so the sums are the same whatever the sharding or arrival order), then
//! integrates, fires, and sends its spikes of tick `n` to the other shards. A spike at tick `n`
//! therefore affects its targets from tick `n + 1`, and recurrence cannot deadlock. Spikes for
//! a later tick wait in arrival order.
//!
//! **Synaptic delays and exchange windows.** When synapses carry delays (in ticks, every one
//! at least `D`), a shard exchanges spikes once per window of `D` ticks, the minimum delay
//! (NEST's and Arbor's scheme): it steps `D` ticks without talking, then sends the window's
//! spikes (its shard index, then per tick a count and the neurons) to every other shard. A spike fired at tick `f`
//! through a synapse of delay `d` lands in a ring buffer slot for tick `f + d`, at least one
//! window ahead, so a shard can compute window `w` as soon as it holds every shard's window
//! `w - 1`. Window pieces are delivered tick by tick and, within a tick, in shard order, so the
//! sums (and the spike trains) are the same whatever the sharding.
//!
//! **Overlap.** Those spikes land at tick `wD` or later, and a tick's input joins the state
//! after the tick is integrated, so a shard integrates tick `wD` (and sends its window, when
//! `D` is one tick) *before* it waits for window `w - 1`: the exchange of one window runs
//! while the shards integrate the next tick, and the order of every sum is unchanged.

use std::collections::VecDeque;
use std::ops::Range;

use crate::message::{Message, ProbeChunk, ProbeTap, SpikePool, Spikes};
use crate::runtime::actor::{Actor, Context, Flow};
use crate::spike::coupling::Coupling;
use crate::spike::drive::Drive;
use crate::spike::lif::{LifState, Propagator};
use crate::spike::plasticity::{PlasticProjections, SparsePlasticity, WeightFigures};
use crate::spike::record::SpikeRecord;
use crate::spike::tally::{SpikeTally, RASTER_TICKS};

mod exchange;
mod probes;
mod ring;
mod runs;
mod synapses;
use ring::DelayRing;
pub(crate) use runs::{sort_row_by_delay, RowScratch};
pub use synapses::{DelayRow, Delays, SynapseTable, TargetRow, Targets};

/// One shard of a recurrent LIF network.
pub struct Population {
    shard: usize,
    range: Range<usize>,
    /// Neuron ranges of every shard, for ordering pieces.
    ranges: Vec<Range<usize>>,
    state: LifState,
    prop: Propagator,
    synapses: SynapseTable,
    /// How a spike acts when the synapses carry no weights.
    coupling: Coupling,
    ticks: u64,
    tick: u64,
    /// Spikes of the previous tick, one piece per shard (this shard's own among them).
    pieces: Vec<Option<Spikes>>,
    have: usize,
    deferred: VecDeque<(u64, Spikes)>,
    fired: Vec<u32>,
    pool: SpikePool,
    /// Spikes fired by this shard over the run.
    pub spikes: u64,
    /// Synaptic events delivered into this shard.
    pub synaptic_events: u64,
    /// (tick, neuron) of this shard's spikes in the first [`RASTER_TICKS`] ticks.
    raster: Vec<(u32, u32)>,
    /// A non-finite value found in the state: (tick, what, value).
    fault: Option<(u64, &'static str, f32)>,
    /// Delayed input and exchange windows; `None`: every delay is one tick (CUBA).
    ring: Option<DelayRing>,
    /// External input (DC, Poisson); `None`: none.
    drive: Option<Drive>,
    /// The plastic synapses of the table, if any learn.
    plastic: Option<SparsePlasticity>,
    /// Per-neuron and per-population spike statistics, if kept.
    record: Option<SpikeRecord>,
    /// Time spent stepping (handlers), not waiting for other shards' spikes.
    busy: std::time::Duration,
    /// A request to stop early (Ctrl-C), checked at the end of each exchange window.
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// A piece of the window being gathered says its sender stops after it.
    stopping: bool,
    /// This tick is integrated (and its window sent, if it ends one); what is left is the
    /// previous window's delivery and the tick's input.
    integrated: bool,
    /// This shard's piece of the window sent this tick (`None` inside: no spikes), and
    /// whether it asks to stop; it joins `pieces` once the previous window is delivered.
    sent: Option<(Option<Spikes>, bool)>,
    /// The run ended before its last tick (on request).
    pub(crate) stopped_early: bool,
    /// What `[[probe]]`s record of this shard's neurons; with any, out-edge 0 goes to the
    /// probe sink and the spikes go out on the others.
    taps: Vec<ProbeTap>,
    /// Full probe chunks to send.
    probe_out: Vec<ProbeChunk>,
}

/// The mark of a window piece whose sender stops after it (the piece format the bridge reads).
pub(crate) use crate::cluster::bridge::STOP_BIT;

/// Populations check their state for non-finite values every this many ticks (and at the
/// last): a pass over the state costs about half a tick.
const CHECK_EVERY: u64 = 1000;

impl Population {
    /// Shard `shard` of `ranges` (neurons `ranges[shard]`), starting from `state`, receiving
    /// through `synapses`, for `ticks` ticks.
    pub(crate) fn new(
        shard: usize,
        ranges: &[Range<usize>],
        state: LifState,
        prop: Propagator,
        synapses: SynapseTable,
        coupling: Coupling,
        ticks: u64,
    ) -> Self {
        Population {
            shard,
            range: ranges[shard].clone(),
            ranges: ranges.to_vec(),
            state,
            prop,
            synapses,
            coupling,
            ticks,
            tick: 0,
            pieces: vec![None; ranges.len()],
            have: 0,
            deferred: VecDeque::new(),
            fired: Vec::new(),
            pool: SpikePool::default(),
            spikes: 0,
            synaptic_events: 0,
            raster: Vec::new(),
            fault: None,
            ring: None,
            drive: None,
            plastic: None,
            record: None,
            busy: std::time::Duration::ZERO,
            stop: None,
            stopping: false,
            integrated: false,
            sent: None,
            stopped_early: false,
            taps: Vec::new(),
            probe_out: Vec::new(),
        }
    }

    /// Exchanges spikes once per window of `window` ticks (every synapse's delay is at least
    /// `window`, at most `max_delay`) instead of every tick; the synapse table carries delays.
    pub(crate) fn with_windows(self, window: u64, max_delay: u64) -> Self {
        // Weights that do not move are read when the input falls due: a spike queues one
        // entry per run of one delay, not one per synapse.
        let runs = self.plastic.is_none() && self.synapses.has_weights();
        self.with_ring(window, max_delay, runs)
    }

    /// [`Population::with_windows`], queueing runs of one delay if `runs` (and the table has
    /// delays), else each synapse's event.
    fn with_ring(mut self, window: u64, max_delay: u64, runs: bool) -> Self {
        self.ring = Some(DelayRing::new(
            (self.range.len(), self.synapses.longest_row()),
            self.shard,
            self.ranges.len(),
            (window, max_delay),
            // Weighted synapses of a network without shared couplings (the microcircuit)
            // share one current; CUBA's keep an excitatory and an inhibitory one.
            self.synapses.has_weights() && self.coupling.excitatory == 0,
            (runs && self.synapses.has_delays()).then(|| self.synapses.delay_runs()),
        ));
        self
    }

    /// Makes the synapses of `plastic`'s projections learn (ticks of `dt_ms`): the table
    /// takes a weight per synapse if it had none, and the plastic ones start clipped into the
    /// rule's bounds. Call before [`Population::with_windows`].
    pub(crate) fn with_plasticity(mut self, plastic: &PlasticProjections, dt_ms: f32) -> Self {
        debug_assert!(self.ring.is_none(), "plasticity before the ring");
        self.synapses = std::mem::take(&mut self.synapses).with_coupling_weights(&self.coupling);
        let first = self.range.start as u32;
        let n = self.range.len();
        let mut p = SparsePlasticity::new(plastic, dt_ms, self.synapses.parts(), first, n);
        p.clip_into_bounds(self.synapses.targets_and_weights_mut().1);
        self.plastic = Some(p);
        self
    }

    /// What the shard's plastic weights did, if it has any.
    pub(crate) fn weight_figures(&self) -> Option<WeightFigures> {
        let p = self.plastic.as_ref()?;
        Some(p.figures(self.synapses.parts().2))
    }

    /// Drives the neurons from outside (a DC current enters the membrane equation; Poisson
    /// spikes join the synaptic current after the tick, as the ring's input).
    pub(crate) fn with_drive(mut self, drive: Drive) -> Self {
        self.drive = Some(drive);
        self
    }

    /// Keeps per-neuron and per-population spike statistics in `record`.
    pub(crate) fn with_record(mut self, record: SpikeRecord) -> Self {
        self.record = Some(record);
        self
    }

    /// The shard's spike record, if it keeps one.
    pub(crate) fn record(&self) -> Option<&SpikeRecord> {
        self.record.as_ref()
    }

    /// Stops soon after `flag` is set, together with every other shard: the next piece sent
    /// carries [`STOP_BIT`] (in a window's shard word, or as a last word after a tick's
    /// spikes). Without delays all stop after that tick; with delays, after the window that
    /// follows the marked one (which every shard is already computing when the mark arrives).
    pub(crate) fn with_stop(
        mut self,
        flag: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    ) -> Self {
        self.stop = flag;
        self
    }

    /// Ticks simulated (fewer than asked when stopped early).
    pub(crate) fn ticks(&self) -> u64 {
        self.ticks
    }

    /// The shard's index among all shards.
    pub(crate) fn shard(&self) -> usize {
        self.shard
    }

    /// Seconds the shard spent stepping (in its handlers), as against waiting for spikes.
    pub(crate) fn busy_s(&self) -> f64 {
        self.busy.as_secs_f64()
    }

    /// [`Population::advance`], timed into `busy`.
    fn advance_timed(&mut self, ctx: &mut Context<'_, Message>) -> bool {
        let start = std::time::Instant::now();
        let done = self.advance(ctx);
        self.send_probes(ctx, done);
        self.busy += start.elapsed();
        done
    }

    /// Bytes of the shard's synapses and delay ring.
    pub(crate) fn bytes(&self) -> usize {
        self.synapses.bytes() + self.ring.as_ref().map_or(0, DelayRing::bytes)
    }

    /// Ticks between two exchanges.
    fn step(&self) -> u64 {
        self.ring.as_ref().map_or(1, |r| r.window)
    }

    /// Delivers every shard's window of spikes that started at tick `start` into the ring.
    fn deliver_window(&mut self, start: u64) {
        if let Some(ring) = self.ring.as_mut() {
            let own = (self.shard, self.range.start as u32);
            let (syn, plastic) = (&mut self.synapses, self.plastic.as_mut());
            self.synaptic_events +=
                ring.deliver(start, &self.pieces, (syn, plastic), &self.coupling, own);
        }
        self.pieces.iter_mut().for_each(|p| *p = None);
        self.have = 0;
    }

    fn piece_shard(&self, s: &Spikes) -> Option<usize> {
        let first = *s.first()? as usize;
        self.ranges.iter().position(|r| r.contains(&first))
    }

    /// Delivers the previous tick's spikes, in shard order (with plastic synapses, this
    /// shard's own spikes of that tick first potentiate, then each spike delivers and
    /// depresses).
    fn deliver(&mut self) {
        if self.synapses.has_weights() {
            return self.deliver_weighted();
        }
        for p in self.pieces.iter_mut() {
            let Some(spikes) = p.take() else { continue };
            for &j in spikes.iter() {
                let targets = self.synapses.of(j);
                self.synaptic_events += targets.len() as u64;
                if j < self.coupling.excitatory {
                    for &t in targets {
                        self.state.ge_mv[t as usize] += self.coupling.we_mv;
                    }
                } else {
                    for &t in targets {
                        self.state.gi_mv[t as usize] += self.coupling.wi_mv;
                    }
                }
            }
        }
        self.have = 0;
    }

    /// [`Population::deliver`] through a weighted (and maybe plastic) table.
    fn deliver_weighted(&mut self) {
        let f = self.tick.wrapping_sub(1);
        if let (Some(pl), Some(own)) = (self.plastic.as_mut(), &self.pieces[self.shard]) {
            let (_, weights) = self.synapses.targets_and_weights_mut();
            for &g in own.iter() {
                pl.post_spike(f, g - self.range.start as u32, weights);
            }
        }
        for p in self.pieces.iter_mut() {
            let Some(spikes) = p.take() else { continue };
            for &j in spikes.iter() {
                let (targets, weights) = self.synapses.weighted(j);
                self.synaptic_events += targets.len() as u64;
                let g = if j < self.coupling.excitatory {
                    &mut self.state.ge_mv
                } else {
                    &mut self.state.gi_mv
                };
                for (&t, &w) in targets.iter().zip(weights) {
                    g[t as usize] += w;
                }
                if let Some(pl) = self.plastic.as_mut() {
                    let (targets, weights) = self.synapses.targets_and_weights_mut();
                    pl.pre_spike(f, j, targets, weights);
                }
            }
        }
        self.have = 0;
    }

    /// Runs every tick the spikes at hand allow; returns whether the run is over for this shard.
    fn advance(&mut self, ctx: &mut Context<'_, Message>) -> bool {
        if self.ring.is_some() {
            return self.advance_windowed(ctx);
        }
        let shards = self.ranges.len();
        while self.tick < self.ticks {
            if self.tick > 0 && self.have < shards {
                return false;
            }
            if self.stopping {
                // This shard or another marked the tick just exchanged: all stop here.
                self.end_early();
                return true;
            }
            self.deliver();
            if self.integrate() {
                return true;
            }
            let last = self.tick + 1 == self.ticks;
            if !last {
                if self.stop_requested() {
                    self.fired.push(STOP_BIT);
                    self.stopping = true;
                }
                self.send_own(ctx);
            }
            self.tick += 1;
            self.take_early();
            if self.yield_for_probes(ctx) {
                return false;
            }
        }
        true
    }

    /// Integrates the current tick and fires (into `fired`, counted and rastered); true if
    /// the state turned non-finite (checked every [`CHECK_EVERY`] ticks and at the last).
    fn integrate(&mut self) -> bool {
        self.fired.clear();
        let dc = self.drive.as_ref().map_or(&[][..], |d| &d.dc_mv[..]);
        self.prop.tick(
            &mut self.state,
            dc,
            self.range.start as u32,
            &mut self.fired,
        );
        self.spikes += self.fired.len() as u64;
        if let Some(r) = self.record.as_mut() {
            r.record(self.tick, &self.fired);
        }
        if !self.taps.is_empty() {
            self.sample_probes();
        }
        if self.tick < RASTER_TICKS {
            let t = self.tick as u32;
            self.raster.extend(self.fired.iter().map(|&i| (t, i)));
        }
        let last = self.tick + 1 == self.ticks;
        if last || self.tick.is_multiple_of(CHECK_EVERY) {
            if let Some((what, value)) = self.state.first_non_finite() {
                self.fault = Some((self.tick, what, value));
                return true;
            }
        }
        false
    }

    /// [`Population::advance`] with delays: windows of `D` ticks, exchanged at their ends.
    /// A tick integrates and fires first (sending the window's spikes when it ends it), and
    /// only then waits, if it starts a window, for every shard's previous window: their
    /// spikes land at this tick or later, so the integration does not need them, and the
    /// exchange overlaps it.
    fn advance_windowed(&mut self, ctx: &mut Context<'_, Message>) -> bool {
        let shards = self.ranges.len();
        let d = self.step();
        while self.tick < self.ticks {
            if !self.integrated {
                if self.integrate() {
                    return true;
                }
                self.integrated = true;
                self.close_window(ctx, d);
            }
            if self.tick > 0 && self.tick.is_multiple_of(d) {
                if self.have < shards {
                    return false;
                }
                if self.stopping {
                    // A shard asked to stop in the window just gathered: every shard has
                    // already integrated this tick, and the next window is sent, so all
                    // stop at the end of the window after it.
                    self.end_after(self.tick + 2 * d);
                    self.stopping = false;
                }
                self.deliver_window(self.tick - d);
            }
            if let Some(ring) = self.ring.as_mut() {
                ring.apply(self.tick, &mut self.state, &self.synapses);
            }
            if let Some(p) = self.drive.as_ref().and_then(|d| d.poisson.as_ref()) {
                p.apply(self.tick, &mut self.state.ge_mv);
            }
            self.integrated = false;
            self.tick += 1;
            if let Some((own, stop)) = self.sent.take() {
                // The window sent this tick: this shard's piece of it (after the delivery).
                self.pieces[self.shard] = own;
                self.stopping |= stop;
                self.have = 1;
                self.take_early();
            }
            if self.yield_for_probes(ctx) {
                return false;
            }
        }
        true
    }

    /// Whether a stop was asked for (Ctrl-C).
    fn stop_requested(&self) -> bool {
        let flag = self.stop.as_deref();
        flag.is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Ends the run at the current tick (a stop request).
    fn end_early(&mut self) {
        self.ticks = self.tick;
        self.stopped_early = true;
    }

    /// Ends the run before tick `end` if it would have gone on longer (a stop request).
    fn end_after(&mut self, end: u64) {
        if end < self.ticks {
            self.ticks = end;
            self.stopped_early = true;
        }
    }

    /// Done: alone, or with every actor when the state went non-finite.
    fn stop_flow(&self) -> Flow {
        if self.fault.is_some() {
            Flow::StopAll
        } else {
            Flow::Stop
        }
    }
}

impl Actor<Message> for Population {
    fn started(&mut self, ctx: &mut Context<'_, Message>) -> Flow {
        if self.advance_timed(ctx) {
            self.stop_flow()
        } else {
            Flow::Continue
        }
    }

    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        if let Message::Spike { tick, fired } = msg {
            if tick + self.step() == self.tick {
                self.accept(fired);
            } else {
                self.deferred.push_back((tick, fired));
            }
        }
        if self.advance_timed(ctx) {
            self.stop_flow()
        } else {
            Flow::Continue
        }
    }
}

impl SpikeTally for Population {
    fn fault(&self) -> Option<(u64, &'static str, f32)> {
        self.fault
    }
    fn weights(&self) -> Option<WeightFigures> {
        self.weight_figures()
    }
    fn tally(&self, spikes: &mut u64, events: &mut u64, raster: &mut Vec<(u32, u32)>) {
        *spikes += self.spikes;
        *events += self.synaptic_events;
        raster.extend_from_slice(&self.raster);
    }
}

#[cfg(test)]
mod tests;

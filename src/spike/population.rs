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

use std::collections::VecDeque;
use std::ops::Range;

use crate::message::{Message, SpikePool, Spikes};
use crate::runtime::actor::{Actor, Context, Flow};
use crate::spike::cuba::{Coupling, SpikeTally, RASTER_TICKS};
use crate::spike::lif::{LifState, Propagator};

/// Incoming synapses of a shard, by presynaptic neuron (compressed rows).
#[derive(Clone, Debug, Default)]
pub struct SynapseTable {
    /// `targets[offsets[j]..offsets[j + 1]]`: local indices of `j`'s targets in this shard.
    offsets: Vec<u32>,
    targets: Vec<u32>,
}

impl SynapseTable {
    /// The synapses into the neurons of `range`, from `post` (each presynaptic neuron's
    /// targets, as global indices).
    pub(crate) fn for_shard(post: &[Vec<u32>], range: &Range<usize>) -> Self {
        let mut table = SynapseTable {
            offsets: Vec::with_capacity(post.len() + 1),
            targets: Vec::new(),
        };
        table.offsets.push(0);
        for targets in post {
            table.targets.extend(
                targets
                    .iter()
                    .filter(|&&t| range.contains(&(t as usize)))
                    .map(|&t| t - range.start as u32),
            );
            table.offsets.push(table.targets.len() as u32);
        }
        table
    }

    /// Synapses in the table.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    fn of(&self, j: u32) -> &[u32] {
        let j = j as usize;
        &self.targets[self.offsets[j] as usize..self.offsets[j + 1] as usize]
    }
}

/// One shard of a recurrent LIF network.
pub struct Population {
    shard: usize,
    range: Range<usize>,
    /// Neuron ranges of every shard, for ordering pieces.
    ranges: Vec<Range<usize>>,
    state: LifState,
    prop: Propagator,
    synapses: SynapseTable,
    /// Presynaptic neurons below this index are excitatory.
    excitatory: u32,
    we_mv: f32,
    wi_mv: f32,
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
}

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
            excitatory: coupling.excitatory,
            we_mv: coupling.we_mv,
            wi_mv: coupling.wi_mv,
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
        }
    }

    fn piece_shard(&self, s: &Spikes) -> Option<usize> {
        let first = *s.0.first()? as usize;
        self.ranges.iter().position(|r| r.contains(&first))
    }

    /// Delivers the previous tick's spikes, in shard order.
    fn deliver(&mut self) {
        for p in self.pieces.iter_mut() {
            let Some(spikes) = p.take() else { continue };
            for &j in spikes.0.iter() {
                let targets = self.synapses.of(j);
                self.synaptic_events += targets.len() as u64;
                if j < self.excitatory {
                    for &t in targets {
                        self.state.ge_mv[t as usize] += self.we_mv;
                    }
                } else {
                    for &t in targets {
                        self.state.gi_mv[t as usize] += self.wi_mv;
                    }
                }
            }
        }
        self.have = 0;
    }

    /// Runs every tick the spikes at hand allow; returns whether the run is over for this shard.
    fn advance(&mut self, ctx: &mut Context<'_, Message>) -> bool {
        let shards = self.ranges.len();
        while self.tick < self.ticks {
            if self.tick > 0 && self.have < shards {
                return false;
            }
            self.deliver();
            self.fired.clear();
            self.prop.tick(
                &mut self.state,
                &[],
                self.range.start as u32,
                &mut self.fired,
            );
            self.spikes += self.fired.len() as u64;
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
            if !last {
                self.send_own(ctx);
            }
            self.tick += 1;
            self.take_early();
        }
        true
    }

    /// Sends this tick's spikes to every other shard and keeps them as this shard's piece.
    fn send_own(&mut self, ctx: &mut Context<'_, Message>) {
        let own = self.pool.spikes(&self.fired);
        for edge in 0..ctx.edges() {
            ctx.send(
                edge,
                Message::Spike {
                    tick: self.tick,
                    fired: own.clone(),
                },
            );
        }
        self.pieces[self.shard] = (!own.0.is_empty()).then_some(own);
        self.have = 1;
    }

    /// Takes up pieces of the tick just finished that arrived early.
    fn take_early(&mut self) {
        let want = self.tick - 1;
        let mut i = 0;
        while i < self.deferred.len() {
            if self.deferred[i].0 == want {
                let (_, s) = self.deferred.remove(i).expect("in range");
                self.accept(s);
            } else {
                i += 1;
            }
        }
    }

    fn accept(&mut self, s: Spikes) {
        if let Some(k) = self.piece_shard(&s) {
            self.pieces[k] = Some(s);
        }
        self.have += 1;
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
        if self.advance(ctx) {
            self.stop_flow()
        } else {
            Flow::Continue
        }
    }

    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        if let Message::Spike { tick, fired } = msg {
            if tick + 1 == self.tick {
                self.accept(fired);
            } else {
                self.deferred.push_back((tick, fired));
            }
        }
        if self.advance(ctx) {
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
    fn tally(&self, spikes: &mut u64, events: &mut u64, raster: &mut Vec<(u32, u32)>) {
        *spikes += self.spikes;
        *events += self.synaptic_events;
        raster.extend_from_slice(&self.raster);
    }
}

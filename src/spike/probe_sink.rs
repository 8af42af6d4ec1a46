//! The probe sink of a spiking network: the actor that receives every shard's probe
//! samples (`probe` messages), assembles them into one array per probe, and hands each chunk
//! to a live view as it comes. It reads no other actor's state.

use crate::message::probe::{ProbeArray, ProbeFeed, ProbePlan, ProbeStore};
use crate::message::Message;
use crate::runtime::actor::{Actor, Context, Flow};
use crate::runtime::{ActorId, Network, RunReport};

/// Receives probe chunks until every tap has sent its last.
pub struct ProbeSink {
    store: ProbeStore,
    taps: usize,
    feed: Option<ProbeFeed>,
}

impl ProbeSink {
    /// A sink for `plans` over a run of `ticks` ticks, expecting the last chunk of `taps`
    /// taps (the probes' arrays are laid out here, before the run).
    pub fn new(plans: &[ProbePlan], (ticks, taps): (u64, usize), feed: Option<ProbeFeed>) -> Self {
        ProbeSink {
            store: ProbeStore::for_ticks(plans, ticks),
            taps,
            feed,
        }
    }

    /// The probes' arrays.
    pub fn arrays(&self) -> Vec<ProbeArray> {
        self.store.arrays()
    }

    fn flow(&self) -> Flow {
        if self.store.finished() >= self.taps {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}

impl Actor<Message> for ProbeSink {
    fn started(&mut self, _ctx: &mut Context<'_, Message>) -> Flow {
        self.flow()
    }

    fn handle(&mut self, msg: Message, _ctx: &mut Context<'_, Message>) -> Flow {
        if let Message::Probe { chunk, .. } = msg {
            if let Some(feed) = &self.feed {
                feed(&chunk);
            }
            self.store.add(chunk);
        }
        self.flow()
    }
}

/// Adds a sink for `plans` (a run of `ticks` ticks) to `net` and connects each of `shards` (with their taps) to it,
/// as the shard's out-edge 0, and to itself as out-edge 1 (see
/// `Population::with_probes`). Returns the sink, or `None` when no shard records anything.
pub fn attach_sink(
    net: &mut Network<Message>,
    (plans, ticks): (&[ProbePlan], u64),
    shards: &[(usize, usize)],
    feed: Option<ProbeFeed>,
) -> Option<ActorId<ProbeSink>> {
    let taps: usize = shards.iter().map(|&(_, t)| t).sum();
    if taps == 0 {
        return None;
    }
    let sink = net.add("probes", ProbeSink::new(plans, (ticks, taps), feed));
    for &(id, t) in shards {
        if t > 0 {
            net.connect(id, sink);
            net.connect(id, id);
        }
    }
    Some(sink)
}

/// The arrays the sink assembled (none without a sink).
pub fn arrays(report: &RunReport<Message>, sink: Option<ActorId<ProbeSink>>) -> Vec<ProbeArray> {
    sink.map(|s| report.actor(s).arrays()).unwrap_or_default()
}

//! [`run_ranked`]: the one sequence of a run over ranks, whatever the network: agree on the
//! network, place its units, build this rank's part, link it to the other ranks (a
//! [`RankBridge`] or a [`RankPort`]), run, reclaim the exchange, gather every rank's share of
//! the figures and give the exchange back. A network supplies what differs
//! ([`RankedNetwork`]); in one process the same sequence runs with every unit on rank 0, no
//! link and one share.

use std::collections::BTreeMap;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use super::bridge::{connect_shards, reclaim, BridgeFigures, Origins, RankBridge};
use super::remote::{finish, Outbound, PortFigures, RankPort};
use super::{Exchange, Ranks};
use crate::message::{Message, MessageKind};
use crate::run_error::NetworkRunError;
use crate::runtime::trace_log::TraceEvent;
use crate::runtime::{ActorId, Network, RunReport, Runtime, RuntimeConfig};

/// How long a rank waits for the others' "done" after a learning run.
const FINISH_LIMIT: Duration = Duration::from_secs(60);

/// Where a network's units go: this rank, the ranks, the rank of every unit, and (across
/// ranks) where stand-ins for other ranks' actors send.
pub struct Placed {
    /// This rank.
    pub rank: usize,
    /// Ranks in all.
    pub ranks: usize,
    /// The rank of each unit (every unit on rank 0 in one process).
    pub unit_rank: Vec<usize>,
    /// Across ranks: the port's inbox, for [`super::remote::RemoteActor`] stand-ins.
    pub port: Option<Sender<Outbound>>,
}

impl Placed {
    /// The units this rank holds, in order.
    pub fn local(&self) -> Vec<usize> {
        (0..self.unit_rank.len())
            .filter(|&u| self.unit_rank[u] == self.rank)
            .collect()
    }
}

/// How a built network reaches the other ranks.
#[derive(Clone, Debug)]
pub enum Link {
    /// Population shards (actors `0..local`), each connected to each; across ranks a
    /// [`RankBridge`] exchanging `windows` times carries the other ranks' pieces.
    Bridge {
        /// Shards on this rank (the network's first actors).
        local: usize,
        /// Exchanges over the run ([`RankBridge::windows`]).
        windows: u64,
        /// How the bridge tells the shard that sent a piece, to count its deliveries per
        /// origin ([`LinkFigures::delivered`]); `None`: it does not count them.
        origins: Option<Origins>,
    },
    /// Actors talking on edges, stand-ins for the other ranks' ([`super::remote`]): across
    /// ranks a [`RankPort`], added as the network's last actor, carries their messages.
    Port {
        /// The rank of every actor of the network.
        actor_rank: Vec<usize>,
    },
}

/// What the link did over the run.
#[derive(Clone, Debug, Default)]
pub struct LinkFigures {
    /// The bridge's figures (zero without one).
    pub bridge: BridgeFigures,
    /// A bridge counting origins: the pieces it delivered, and their bytes, per (shard they
    /// came from, local shard they went to: its out-edge, which is the shard's actor id).
    pub delivered: BTreeMap<(u32, usize), (u64, u64)>,
    /// The port's actor id and figures, when there was one.
    pub port: Option<(usize, PortFigures)>,
}

/// This rank's part of a network, built, and how it links to the other ranks.
pub type Built = (Network<Message>, Link);

/// The report of this rank's part of a run.
pub type Report = RunReport<Message>;

/// What a network run over ranks supplies to [`run_ranked`].
pub trait RankedNetwork {
    /// What every rank must build alike (compared with rank 0's before anything is built).
    type Fingerprint: serde::Serialize;
    /// A rank's figures, gathered from every rank after the run.
    type Share: serde::Serialize + serde::de::DeserializeOwned;
    /// The whole run.
    type Output;

    /// The network's fingerprint (asked only across ranks).
    fn fingerprint(&self) -> Self::Fingerprint;
    /// How many units (shards) are placed on ranks.
    fn units(&self) -> usize;
    /// Each unit's synapses, the work placement balances (asked only across ranks).
    fn synapses(&self) -> Vec<u64>;
    /// This rank's part of the network and how it links to the others; `ranks` for the
    /// collectives the build needs (every rank calls them alike).
    fn build(&mut self, at: &Placed, ranks: &mut Ranks) -> Result<Built, NetworkRunError>;
    /// The runtime the network runs on.
    fn runtime(&self) -> RuntimeConfig;
    /// Runs the built network (linked): on [`RankedNetwork::runtime`], unless the network
    /// has more to do while it runs.
    fn run(&mut self, net: Network<Message>) -> Result<Report, NetworkRunError> {
        Runtime::new(self.runtime()).run(net).map_err(Into::into)
    }
    /// This rank's share of the figures.
    fn share(
        &mut self,
        report: &mut Report,
        link: &LinkFigures,
    ) -> Result<Self::Share, NetworkRunError>;
    /// The run from every rank's share, in rank order (one in one process).
    fn assemble(
        self,
        report: Report,
        shares: Vec<Self::Share>,
        at: &Placed,
        link: LinkFigures,
    ) -> Result<Self::Output, NetworkRunError>;
}

/// Runs `net` on `ranks`: agree, place, build, link, run, reclaim, gather, give back.
pub fn run_ranked<N: RankedNetwork>(
    ranks: &mut Ranks,
    mut net: N,
) -> Result<N::Output, NetworkRunError> {
    let several = ranks.several();
    let unit_rank = if several {
        ranks.agree(&net.fingerprint())?;
        ranks.rank_of_shards(&net.synapses())?
    } else {
        vec![0; net.units()]
    };
    let (port, inbox) = if several {
        let (port, inbox) = mpsc::channel();
        (Some(port), Some(inbox))
    } else {
        (None, None)
    };
    let mut at = Placed {
        rank: ranks.rank(),
        ranks: ranks.size(),
        unit_rank,
        port,
    };
    let (mut network, link) = net.build(&at, ranks)?;
    // The stand-ins hold their own senders.
    at.port = None;
    let linker = attach(&mut network, link, ranks.take_exchange(), inbox, at.rank);
    let mut report = net.run(network)?;
    let link = reclaim_link(&mut report, linker, ranks)?;
    let mine = net.share(&mut report, &link)?;
    if !several {
        let shares = ranks.gather_json(mine)?;
        return net.assemble(report, shares, &at, link);
    }
    let trace = RankTrace {
        names: report.names.clone(),
        events: std::mem::take(&mut report.trace),
    };
    let (shares, traces): (Vec<_>, Vec<_>) = ranks.gather_json((mine, trace))?.into_iter().unzip();
    report.trace = merge_traces(traces, &mut report.names);
    net.assemble(report, shares, &at, link)
}

/// A rank's sampled message events (`trace.sample`), with its actors' names by id.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct RankTrace {
    names: Vec<String>,
    events: Vec<TraceEvent<MessageKind>>,
}

/// Every rank's sampled events (in rank order) as one trace over `names`, this rank's
/// actors' names by id: an actor of another rank is found by name (shards and layer actors
/// have the same name on every rank; a stand-in has its actor's), and one this rank lacks
/// (another rank's bridge or port) is added at the end. Sorted by send time; each rank's
/// clock starts when its own run starts.
fn merge_traces(traces: Vec<RankTrace>, names: &mut Vec<String>) -> Vec<TraceEvent<MessageKind>> {
    let mut merged = Vec::new();
    for t in traces {
        let ids: Vec<u32> = t
            .names
            .iter()
            .map(|name| {
                let at = names.iter().position(|n| n == name).unwrap_or_else(|| {
                    names.push(name.clone());
                    names.len() - 1
                });
                at as u32
            })
            .collect();
        let id = |local: u32| ids.get(local as usize).copied().unwrap_or(local);
        merged.extend(t.events.into_iter().map(|mut e| {
            (e.from, e.to) = (id(e.from), id(e.to));
            e
        }));
    }
    merged.sort_by_key(|e| (e.send_ns, e.recv_ns));
    merged
}

/// The actor that links a rank's part to the other ranks.
#[derive(Clone, Copy, Debug)]
enum Linker {
    /// None: one process.
    Alone,
    /// The bridge of population shards.
    Bridge(ActorId<RankBridge>),
    /// The port of actors talking on edges.
    Port(ActorId<RankPort>),
}

/// Links this rank's part: its shards to each other and (with an exchange) to the bridge;
/// or the port with its edges. Returns the linking actor.
fn attach(
    net: &mut Network<Message>,
    link: Link,
    exchange: Option<Box<dyn Exchange>>,
    inbox: Option<Receiver<Outbound>>,
    rank: usize,
) -> Linker {
    match link {
        Link::Bridge {
            local,
            windows,
            origins,
        } => {
            let bridge = exchange.map(|x| {
                let b = RankBridge::new(x, local, windows);
                match origins {
                    Some(o) => b.counting_origins(o),
                    None => b,
                }
            });
            connect_shards(net, (local, rank), bridge).map_or(Linker::Alone, Linker::Bridge)
        }
        Link::Port { actor_rank } => match exchange.zip(inbox) {
            Some((x, inbox)) => Linker::Port(add_port(net, x, inbox, &actor_rank, rank)),
            None => Linker::Alone,
        },
    }
}

/// Adds rank `rank`'s port to `net`: an edge to every local actor, then one to itself.
fn add_port(
    net: &mut Network<Message>,
    x: Box<dyn Exchange>,
    inbox: Receiver<Outbound>,
    actor_rank: &[usize],
    rank: usize,
) -> ActorId<RankPort> {
    let local: Vec<usize> = (0..actor_rank.len())
        .filter(|&id| actor_rank[id] == rank)
        .collect();
    let mut edge_of = vec![None; actor_rank.len()];
    for (edge, &id) in local.iter().enumerate() {
        edge_of[id] = Some(edge);
    }
    let port = RankPort::new(x, inbox, edge_of, local.len());
    let pid = net.add(format!("rank {rank} port"), port);
    for id in local {
        net.connect(pid, id);
    }
    net.connect(pid, pid);
    pid
}

/// Takes the exchange back from the bridge or the port (after the port's rank has finished
/// with every other) into `ranks`, with what the link did.
fn reclaim_link(
    report: &mut Report,
    linker: Linker,
    ranks: &mut Ranks,
) -> Result<LinkFigures, NetworkRunError> {
    let mut exchange = None;
    let id = match linker {
        Linker::Alone => return Ok(LinkFigures::default()),
        Linker::Bridge(bridge) => {
            let delivered = report.actor_mut(bridge).delivered.take();
            let figures = reclaim(report, bridge, &mut exchange);
            if let Some(x) = exchange {
                ranks.put_back(x);
            }
            return Ok(LinkFigures {
                bridge: figures?,
                delivered: delivered.unwrap_or_default(),
                port: None,
            });
        }
        Linker::Port(id) => id,
    };
    let port = report.actor_mut(id);
    let figures = port.figures();
    let mut x = port
        .take_exchange()
        .expect("the port hands its exchange back once");
    let done = finish(x.as_mut(), port.done_from(), FINISH_LIMIT);
    ranks.put_back(x);
    done?;
    Ok(LinkFigures {
        port: Some((id.index(), figures)),
        ..LinkFigures::default()
    })
}

//! Point-to-point messages between ranks, for networks whose actors talk on edges (the
//! learning runs): a [`RemoteActor`] stands in, on every other rank, for an actor that lives
//! on one rank, and each rank's [`RankPort`] carries what the stand-ins collect to the other
//! ranks (non-blocking sends, [`Exchange::post`]) and hands what arrives to the actors it is
//! for, on an edge of its own.
//!
//! Every rank builds the same network description, with the same ids and edges; an actor
//! placed elsewhere is a stand-in that forwards, in order, everything sent to it. The frames of
//! one pair of ranks arrive in the order they were posted (MPI's non-overtaking rule), and the
//! port forwards in arrival order, so every edge keeps its order as in one process. When the
//! run on rank 0 (the coordinator's) ends, rank 0 posts "done" to every rank, whose port then
//! stops its rank; every rank posts "done" in turn and waits for everyone's, so no send is
//! left under way when the ranks move on ([`finish`]).
//!
//! The port polls: it sends itself [`Message::Poll`], which the runtime counts neither as
//! traffic nor as progress (a rank that only polls is idle, and a stall is still a stall). After
//! a thousand empty polls in a row it sleeps 50 us between polls; that time is its figure
//! `wait_s`.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::cluster::wire::{decode, encode, encode_done, Frame};
use crate::cluster::{ClusterError, Exchange};
use crate::message::{Message, MessageKind, SignalPool};
use crate::runtime::actor::{Actor, Context, Flow};
use crate::runtime::payload::Label;
use crate::runtime::traffic::{EdgeTraffic, RankTally, Tally, Traffic};

/// What stand-ins hand their rank's port: (actor id, its rank, message).
pub type Outbound = (usize, usize, Message);

/// Stands in for an actor placed on another rank: forwards every message sent to it to its
/// rank's port.
pub struct RemoteActor {
    rank: usize,
    port: mpsc::Sender<Outbound>,
}

impl RemoteActor {
    /// The stand-in for an actor on `rank`, forwarding through `port`.
    pub fn new(rank: usize, port: mpsc::Sender<Outbound>) -> Self {
        Self { rank, port }
    }
}

impl Actor<Message> for RemoteActor {
    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        // A closed port means the run is ending: nothing is waiting for the message.
        let _ = self.port.send((ctx.id(), self.rank, msg));
        Flow::Continue
    }
}

/// A rank's port: posts what the stand-ins collect, delivers what other ranks send.
pub struct RankPort {
    exchange: Option<Box<dyn Exchange>>,
    outbound: mpsc::Receiver<Outbound>,
    /// The port's out-edge to each local actor, by actor id.
    edge_of: Vec<Option<usize>>,
    /// The port's edge to itself.
    poll_edge: usize,
    pool: SignalPool,
    free: Vec<Vec<u8>>,
    inbound: Vec<u8>,
    /// Ranks that have posted "done".
    done_from: Vec<bool>,
    empty_polls: u32,
    figures: PortFigures,
}

/// What a port moved and how long it waited.
#[derive(Clone, Copy, Debug, Default)]
pub struct PortFigures {
    /// Frames posted to other ranks and their bytes (wire format).
    pub posted: Tally,
    /// Frames received from other ranks and their bytes.
    pub received: Tally,
    /// Seconds the port slept with nothing to move.
    pub wait_s: f64,
}

impl RankPort {
    /// The port of `exchange`'s rank in a network of `actors` actors: `edge_of[id]` is its
    /// out-edge to local actor `id`, `poll_edge` its edge to itself.
    pub fn new(
        exchange: Box<dyn Exchange>,
        outbound: mpsc::Receiver<Outbound>,
        edge_of: Vec<Option<usize>>,
        poll_edge: usize,
    ) -> Self {
        let ranks = exchange.size();
        Self {
            exchange: Some(exchange),
            outbound,
            edge_of,
            poll_edge,
            pool: SignalPool::default(),
            free: Vec::new(),
            inbound: Vec::new(),
            done_from: vec![false; ranks],
            empty_polls: 0,
            figures: PortFigures::default(),
        }
    }

    /// Hands back the exchange after the run (once).
    pub fn take_exchange(&mut self) -> Option<Box<dyn Exchange>> {
        self.exchange.take()
    }

    /// What the port moved.
    pub fn figures(&self) -> PortFigures {
        self.figures
    }

    /// Ranks whose "done" the port has seen.
    pub fn done_from(&self) -> &[bool] {
        &self.done_from
    }

    /// One poll: post, collect finished sends, deliver; whether anything moved and whether
    /// rank 0 has finished.
    fn poll(&mut self, ctx: &mut Context<'_, Message>) -> Result<(bool, bool), ClusterError> {
        let x = self
            .exchange
            .as_mut()
            .expect("the port holds its exchange until it stops");
        let mut moved = false;
        while let Ok((to, rank, msg)) = self.outbound.try_recv() {
            let mut frame = self.free.pop().unwrap_or_default();
            frame.clear();
            encode(to, &msg, &mut frame);
            self.figures.posted.messages += 1;
            self.figures.posted.bytes += frame.len() as u64;
            x.post(rank, frame)?;
            moved = true;
        }
        x.sent(&mut self.free);
        let mut root_done = false;
        for _ in 0..64 {
            let Some(from) = x.receive(&mut self.inbound)? else {
                break;
            };
            moved = true;
            self.figures.received.messages += 1;
            self.figures.received.bytes += self.inbound.len() as u64;
            let frame = decode(&self.inbound, &mut self.pool).map_err(|e| ClusterError::Rank {
                rank: x.rank(),
                message: format!("from rank {from}: {e}"),
            })?;
            match frame {
                Frame::Done => {
                    self.done_from[from] = true;
                    root_done |= from == 0;
                }
                Frame::Deliver { to, msg } => {
                    let edge = self.edge_of.get(to).copied().flatten();
                    let edge = edge.ok_or_else(|| ClusterError::Rank {
                        rank: x.rank(),
                        message: format!("rank {from} sent a message for actor {to}, not here"),
                    })?;
                    ctx.send(edge, msg);
                }
            }
        }
        Ok((moved, root_done))
    }
}

impl Actor<Message> for RankPort {
    fn started(&mut self, ctx: &mut Context<'_, Message>) -> Flow {
        ctx.send(self.poll_edge, Message::Poll);
        Flow::Continue
    }

    fn handle(&mut self, _msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        let (moved, root_done) = match self.poll(ctx) {
            Ok(r) => r,
            // The runtime reports a panic as this actor's failure, and the binary then ends
            // every rank.
            Err(e) => panic!("{e}"),
        };
        if root_done {
            return Flow::StopAll;
        }
        if moved {
            self.empty_polls = 0;
        } else {
            self.empty_polls = self.empty_polls.saturating_add(1);
            if self.empty_polls > 1000 {
                let t = Instant::now();
                std::thread::sleep(Duration::from_micros(50));
                self.figures.wait_s += t.elapsed().as_secs_f64();
            } else {
                std::thread::yield_now();
            }
        }
        ctx.send(self.poll_edge, Message::Poll);
        Flow::Continue
    }
}

/// Ends a rank's part of the run: posts "done" to every other rank, then serves the
/// exchange (dropping late frames) until every rank's "done" has come and every send has
/// completed. `done_from` is what the port saw; waits at most `limit`.
pub fn finish(
    x: &mut dyn Exchange,
    done_from: &[bool],
    limit: Duration,
) -> Result<(), ClusterError> {
    let (me, ranks) = (x.rank(), x.size());
    let mut done: Vec<bool> = (0..ranks)
        .map(|r| r == me || done_from.get(r).copied().unwrap_or(false))
        .collect();
    for r in (0..ranks).filter(|&r| r != me) {
        let mut frame = Vec::with_capacity(1);
        encode_done(&mut frame);
        x.post(r, frame)?;
    }
    let (start, mut buf, mut free, mut pool) = (
        Instant::now(),
        Vec::new(),
        Vec::new(),
        SignalPool::default(),
    );
    loop {
        let all_sent = x.sent(&mut free);
        while let Some(from) = x.receive(&mut buf)? {
            if let Ok(Frame::Done) = decode(&buf, &mut pool) {
                done[from] = true;
            }
        }
        if all_sent && done.iter().all(|&d| d) {
            return Ok(());
        }
        if start.elapsed() > limit {
            let missing: Vec<usize> = (0..ranks).filter(|&r| !done[r]).collect();
            return Err(ClusterError::Rank {
                rank: me,
                message: format!("ranks {missing:?} did not finish within {limit:?}"),
            });
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// What a rank tells the others of its traffic after a run linked by ports: its actors'
/// edges, whether it counted, and its port's figures ([`merge_shares`] makes one report of
/// every rank's).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct TrafficShare {
    per_edge: Vec<EdgeTraffic>,
    counters: bool,
    posted: (u64, u64),
    received: (u64, u64),
    wait_s: f64,
}

impl TrafficShare {
    /// This rank's share: the `traffic` of its part and its `port`'s figures (without a
    /// port, one process: an empty share).
    pub fn of(traffic: &Traffic, port: Option<PortFigures>) -> Self {
        let Some(f) = port else {
            return Self::default();
        };
        Self {
            per_edge: traffic.per_edge.clone(),
            counters: traffic.counters,
            posted: (f.posted.messages, f.posted.bytes),
            received: (f.received.messages, f.received.bytes),
            wait_s: f.wait_s,
        }
    }

    fn figures(&self) -> PortFigures {
        let tally = |(messages, bytes)| Tally { messages, bytes };
        PortFigures {
            posted: tally(self.posted),
            received: tally(self.received),
            wait_s: self.wait_s,
        }
    }
}

/// [`merge_traffic`] of every rank's share, in rank order; every rank's port is actor
/// `port_id`, the network's last.
pub fn merge_shares(
    shares: &[TrafficShare],
    rank_of: &[usize],
    names: &[String],
    port_id: usize,
) -> Traffic {
    let per_rank = shares
        .iter()
        .map(|s| Traffic {
            counters: s.counters,
            per_edge: s.per_edge.clone(),
            ..Default::default()
        })
        .collect();
    let ports: Vec<(usize, PortFigures)> = shares.iter().map(|s| (port_id, s.figures())).collect();
    merge_traffic(per_rank, rank_of, names, &ports)
}

/// One traffic report of every rank's: the edges of each rank's own actors (its port's
/// deliveries left out: the sender counted them), in actor order, so the sum equals the
/// same run in one process; and per rank, the messages that stayed on it and those that
/// crossed, with the port's figures. `rank_of[id]` is the rank of actor `id`; `ports[r]` is
/// rank `r`'s port id.
pub fn merge_traffic(
    per_rank: Vec<Traffic>,
    rank_of: &[usize],
    names: &[String],
    ports: &[(usize, PortFigures)],
) -> Traffic {
    let mut t = Traffic {
        counters: per_rank.iter().all(|r| r.counters),
        ..Traffic::default()
    };
    let mut tallies: Vec<RankTally> = (0..per_rank.len())
        .map(|rank| RankTally {
            rank,
            actors: (0..rank_of.len())
                .filter(|&id| rank_of[id] == rank)
                .map(|id| names[id].clone())
                .collect(),
            ..RankTally::default()
        })
        .collect();
    let mut edges: Vec<_> = per_rank
        .into_iter()
        .enumerate()
        .flat_map(|(rank, r)| {
            let port = ports[rank].0;
            r.per_edge
                .into_iter()
                .filter(move |e| e.from_id != port && e.from_id < rank_of.len())
        })
        .collect();
    edges.sort_by_key(|e| e.from_id); // stable: each sender's edges stay in edge order
    for e in edges {
        let add = |x: &mut Tally| {
            x.messages += e.messages;
            x.bytes += e.bytes;
        };
        add(&mut t.totals);
        add(t.per_kind.entry(e.kind.clone()).or_default());
        if MessageKind::from_name(&e.kind).is_some_and(Label::counted_apart) {
            t.weight_transport_bytes += e.bytes;
        }
        let rank = &mut tallies[rank_of[e.from_id]];
        if rank_of.get(e.to_id) == Some(&rank_of[e.from_id]) {
            add(&mut rank.intra);
        } else {
            add(&mut rank.inter);
        }
        t.per_edge.push(e);
    }
    for (tally, (_, figures)) in tallies.iter_mut().zip(ports) {
        tally.posted = figures.posted;
        tally.wait_s = figures.wait_s;
    }
    t.ranks = tallies;
    t
}

//! [`RankBridge`]: the actor on each rank that carries population shards' spikes to and from
//! the other ranks, one all-gather per exchange window.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{ClusterError, Exchange};
use crate::message::{Message, SpikePool};
use crate::runtime::actor::{Actor, Context, Flow};
use crate::runtime::payload::Payload;
use crate::runtime::ActorId;

/// Set in the shard-index word of a window piece (the first word a population shard puts in
/// its piece), or as the last word of a tick's piece without delays: the sender asks to stop,
/// and every shard and the bridge stop at the same tick (after that tick without delays;
/// with delays after the next window, which every shard is computing when the mark arrives).
pub const STOP_BIT: u32 = 1 << 31;

/// Takes every local shard's piece of a window (a `Spike` message, as a shard sends it to
/// any other shard), all-gathers the window's pieces of every rank, and sends the other
/// ranks' pieces to each local shard (its out-edges), as they would have come from shards in
/// the same process.
pub struct RankBridge {
    exchange: Option<Box<dyn Exchange>>,
    local: usize,
    windows_left: u64,
    /// This window's local pieces: per piece, its tick (two words), length, then the words.
    buffer: Vec<u32>,
    have: usize,
    pool: SpikePool,
    bytes: Vec<u8>,
    /// Collectives done, time spent in them (waiting for the other ranks included), bytes sent.
    pub exchanges: u64,
    /// See [`RankBridge::exchanges`].
    pub wait: Duration,
    /// See [`RankBridge::exchanges`].
    pub bytes_sent: u64,
    /// The first exchange failure, if any.
    pub error: Option<ClusterError>,
    /// With [`RankBridge::counting_origins`]: the pieces delivered, and their bytes, per
    /// (shard they came from, out-edge they went to), for a traffic report that reads as
    /// one process's.
    pub delivered: Option<BTreeMap<(u32, usize), (u64, u64)>>,
    origins: Option<Origins>,
}

/// How a bridge tells which shard sent a piece it delivers, to count its deliveries per
/// origin ([`RankBridge::counting_origins`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origins {
    /// Window pieces (with delays): the first word names the shard.
    FirstWord,
    /// Tick pieces (without delays) hold the global indices of the neurons that fired: a
    /// piece comes from the shard whose range holds them. Every shard sends one piece per
    /// exchange, so a rank's empty pieces are from its shards no other piece named; all
    /// empty pieces are alike, so the counts are exact whichever goes to which.
    ByRange {
        /// The first neuron of every shard, in shard order.
        starts: Vec<u32>,
        /// The rank of every shard.
        shard_rank: Vec<usize>,
    },
}

impl Origins {
    /// The shard of each of rank `rank`'s `pieces` (tick, words; `None` where it cannot
    /// tell).
    fn of(&self, rank: usize, pieces: &[(u64, &[u32])]) -> Vec<Option<u32>> {
        match self {
            Origins::FirstWord => pieces
                .iter()
                .map(|(_, p)| p.first().map(|&w| w & !STOP_BIT))
                .collect(),
            Origins::ByRange { starts, shard_rank } => {
                let shard = |n: u32| starts.partition_point(|&s| s <= n).checked_sub(1);
                let mut found: Vec<Option<u32>> = pieces
                    .iter()
                    .map(|(_, p)| {
                        let n = p.iter().find(|&&w| w & STOP_BIT == 0)?;
                        shard(*n).map(|s| s as u32)
                    })
                    .collect();
                let unseen: Vec<u32> = (0..shard_rank.len() as u32)
                    .filter(|&s| shard_rank[s as usize] == rank)
                    .filter(|s| !found.contains(&Some(*s)))
                    .collect();
                let mut unseen = unseen.into_iter();
                for f in found.iter_mut().filter(|f| f.is_none()) {
                    *f = unseen.next();
                }
                found
            }
        }
    }
}

impl RankBridge {
    /// A bridge for `local` shards on this rank that exchange `windows` times over the run.
    pub fn new(exchange: Box<dyn Exchange>, local: usize, windows: u64) -> Self {
        RankBridge {
            exchange: Some(exchange),
            local,
            windows_left: windows,
            buffer: Vec::new(),
            have: 0,
            pool: SpikePool::default(),
            bytes: Vec::new(),
            exchanges: 0,
            wait: Duration::ZERO,
            bytes_sent: 0,
            error: None,
            delivered: None,
            origins: None,
        }
    }

    /// Counts what it delivers per piece's origin, told apart as `origins` says.
    pub fn counting_origins(mut self, origins: Origins) -> Self {
        self.delivered = Some(BTreeMap::new());
        self.origins = Some(origins);
        self
    }

    /// The exchanges a shard makes in a run of `ticks` ticks with windows of `window` ticks:
    /// one at the end of every window but the last tick's.
    pub fn windows(ticks: u64, window: u64) -> u64 {
        let window = window.max(1);
        (ticks / window).saturating_sub(u64::from(ticks.is_multiple_of(window) && ticks > 0))
    }

    /// Gives the exchange back (after the run).
    pub fn take_exchange(&mut self) -> Option<Box<dyn Exchange>> {
        self.exchange.take()
    }

    /// All-gathers this window's pieces and forwards the other ranks'.
    fn exchange_window(&mut self, ctx: &mut Context<'_, Message>) -> Result<(), ClusterError> {
        let Some(exchange) = self.exchange.as_mut() else {
            return Ok(());
        };
        self.bytes.clear();
        self.bytes
            .extend(self.buffer.iter().flat_map(|w| w.to_le_bytes()));
        let start = Instant::now();
        let all = exchange.all_gather(&self.bytes)?;
        self.wait += start.elapsed();
        self.exchanges += 1;
        self.bytes_sent += self.bytes.len() as u64;
        let me = exchange.rank();
        let mut stop = u64::MAX;
        for (rank, data) in all.iter().enumerate() {
            let words: Vec<u32> = data
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let mut pieces: Vec<(u64, &[u32])> = Vec::new();
            let mut i = 0;
            while i + 3 <= words.len() {
                let tick = u64::from(words[i]) | (u64::from(words[i + 1]) << 32);
                let len = words[i + 2] as usize;
                let Some(piece) = words.get(i + 3..i + 3 + len) else {
                    return Err(ClusterError::Rank {
                        rank: me,
                        message: format!("rank {rank} sent a truncated spike piece"),
                    });
                };
                stop = stop.min(exchanges_after_stop(piece));
                i += 3 + len;
                pieces.push((tick, piece));
            }
            if rank == me {
                continue;
            }
            let origins = match &self.origins {
                Some(o) => o.of(rank, &pieces),
                None => Vec::new(),
            };
            for (k, &(tick, piece)) in pieces.iter().enumerate() {
                let fired = self.pool.spikes(piece);
                let origin = origins.get(k).copied().flatten();
                for edge in 0..ctx.edges() {
                    let msg = Message::Spike {
                        tick,
                        fired: fired.clone(),
                    };
                    if let (Some(d), Some(o)) = (self.delivered.as_mut(), origin) {
                        let n = d.entry((o, edge)).or_default();
                        (n.0, n.1) = (n.0 + 1, n.1 + msg.bytes() as u64);
                    }
                    ctx.send(edge, msg);
                }
            }
        }
        self.buffer.clear();
        self.have = 0;
        self.windows_left = (self.windows_left - 1).min(stop);
        Ok(())
    }
}

/// How many more exchanges a piece allows: none after a tick's piece marked as its sender's
/// last (the mark is its last word), one after a marked window piece (the mark is in its
/// first word, the shard's, and it holds a count per tick after it), since every shard has
/// already sent the next window when the mark arrives; any number after an unmarked piece.
fn exchanges_after_stop(piece: &[u32]) -> u64 {
    let marked = |w: Option<&u32>| w.is_some_and(|&w| w & STOP_BIT != 0);
    if piece.len() >= 2 && marked(piece.first()) {
        1
    } else if marked(piece.last()) {
        0
    } else {
        u64::MAX
    }
}

impl Actor<Message> for RankBridge {
    fn started(&mut self, _: &mut Context<'_, Message>) -> Flow {
        if self.windows_left == 0 {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        let Message::Spike { tick, fired } = msg else {
            return Flow::Continue;
        };
        self.buffer.push(tick as u32);
        self.buffer.push((tick >> 32) as u32);
        self.buffer.push(fired.len() as u32);
        self.buffer.extend_from_slice(&fired);
        self.have += 1;
        if self.have < self.local {
            return Flow::Continue;
        }
        if let Err(e) = self.exchange_window(ctx) {
            self.error = Some(e);
            return Flow::StopAll;
        }
        if self.windows_left == 0 {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_count_every_exchange_but_the_last_ticks() {
        assert_eq!(RankBridge::windows(0, 1), 0);
        assert_eq!(RankBridge::windows(1, 1), 0);
        assert_eq!(RankBridge::windows(10, 1), 9);
        assert_eq!(RankBridge::windows(10, 3), 3); // ends at 3, 6, 9; the last tick is 10
        assert_eq!(RankBridge::windows(9, 3), 2); // 3, 6; 9 is the last
    }
}

/// The name of rank `rank`'s bridge actor.
pub fn bridge_name(rank: usize) -> String {
    format!("rank {rank} bridge")
}

/// Whether `name` is a rank's bridge's ([`bridge_name`]).
pub fn is_bridge(name: &str) -> bool {
    name.strip_prefix("rank ")
        .and_then(|r| r.strip_suffix(" bridge"))
        .is_some_and(|r| r.parse::<usize>().is_ok())
}

/// Connects a rank's `local` shards (actors `0..local`) each to each, and to the bridge
/// (both ways) when there is one, named for rank `rank`; the bridge sits on worker 0.
/// Returns the bridge's handle.
pub fn connect_shards(
    net: &mut crate::runtime::Network<Message>,
    (local, rank): (usize, usize),
    bridge: Option<RankBridge>,
) -> Option<ActorId<RankBridge>> {
    for a in 0..local {
        for b in (0..local).filter(|&b| b != a) {
            net.connect(a, b);
        }
    }
    let id = net.add(bridge_name(rank), bridge?);
    net.place(id, 0);
    for a in 0..local {
        net.connect(a, id);
        net.connect(id, a);
    }
    Some(id)
}

/// What a rank's bridge did over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BridgeFigures {
    /// Exchanges (all-gathers).
    pub exchanges: u64,
    /// Seconds in them, waiting for the other ranks included.
    pub wait_s: f64,
    /// Bytes this rank put in.
    pub bytes: u64,
}

/// Takes the exchange back from the bridge after a run (into `exchange`), with what the
/// bridge did; an exchange failure is the error.
pub fn reclaim(
    report: &mut crate::runtime::RunReport<Message>,
    bridge: ActorId<RankBridge>,
    exchange: &mut Option<Box<dyn Exchange>>,
) -> Result<BridgeFigures, ClusterError> {
    let b = report.actor_mut(bridge);
    *exchange = b.take_exchange();
    if let Some(e) = b.error.take() {
        return Err(e);
    }
    Ok(BridgeFigures {
        exchanges: b.exchanges,
        wait_s: b.wait.as_secs_f64(),
        bytes: b.bytes_sent,
    })
}

//! The traffic of population shards run over ranks, reported as one process's: each rank
//! keeps the edges between its own actors under their names, leaves out the edges to and
//! from its [`super::RankBridge`], and adds the bridge's deliveries as edges from the shard
//! that sent each piece, marked cross-rank; rank 0 sums every rank's share. Summed so, the
//! edges equal those of the same run in one process (where each shard sends its piece to
//! every other shard itself), message for message and byte for byte.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::bridge::is_bridge;
use crate::runtime::traffic::{EdgeTraffic, RankTally, Tally, Traffic};

/// One rank's share of a ranked shard run's traffic.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ShardTraffic {
    /// Its edges: actors named, ids left to [`merge`].
    edges: Vec<EdgeTraffic>,
    counters: bool,
}

impl ShardTraffic {
    /// This rank's share of `traffic` (its report's, actors named by `names`): its actors'
    /// edges but those to and from its bridge, and the bridge's `delivered` pieces (per
    /// origin shard and receiving actor id) as edges from `shard_name(origin)`, cross-rank.
    pub fn of(
        traffic: &Traffic,
        names: &[String],
        delivered: &BTreeMap<(u32, usize), (u64, u64)>,
        shard_name: impl Fn(u32) -> String,
    ) -> Self {
        let mut edges: Vec<EdgeTraffic> = traffic
            .per_edge
            .iter()
            .filter(|e| !is_bridge(&e.from) && !is_bridge(&e.to))
            .cloned()
            .collect();
        for (&(origin, to), &(messages, bytes)) in delivered {
            edges.push(EdgeTraffic {
                from_id: 0,
                to_id: 0,
                from: shard_name(origin),
                to: names.get(to).cloned().unwrap_or_default(),
                kind: "spike".to_owned(),
                messages,
                bytes,
                cross_rank: true,
            });
        }
        ShardTraffic {
            edges,
            counters: traffic.counters,
        }
    }
}

/// Every rank's `shares` (in rank order) summed into one report: an edge per sender,
/// receiver and kind, the actors numbered in the order of `names` (the shards' names in
/// shard order), names not there after them in name order; `shard_rank[s]` is the rank of
/// the shard named `names[s]`. With more than one share, `ranks` holds each rank's shards
/// and the messages they sent within it and to other ranks. Returns the report and the
/// actors' names by id.
pub fn merge(
    shares: Vec<ShardTraffic>,
    names: &[String],
    shard_rank: &[usize],
) -> (Traffic, Vec<String>) {
    let several = shares.len() > 1;
    let mut t = Traffic {
        counters: shares.iter().all(|s| s.counters),
        ..Traffic::default()
    };
    let mut summed: BTreeMap<(String, String, String), EdgeTraffic> = BTreeMap::new();
    for e in shares.into_iter().flat_map(|s| s.edges) {
        let key = (e.from.clone(), e.to.clone(), e.kind.clone());
        let m = summed.entry(key).or_insert_with(|| EdgeTraffic {
            messages: 0,
            bytes: 0,
            ..e.clone()
        });
        (m.messages, m.bytes) = (m.messages + e.messages, m.bytes + e.bytes);
        m.cross_rank |= e.cross_rank;
    }
    let mut all: Vec<String> = names.to_vec();
    let mut others: Vec<&String> = summed
        .keys()
        .flat_map(|(f, to, _)| [f, to])
        .filter(|n| !names.contains(n))
        .collect();
    others.sort();
    others.dedup();
    all.extend(others.into_iter().cloned());
    let id = |n: &str| all.iter().position(|a| a == n).unwrap_or(0);
    let mut tallies: Vec<RankTally> = if several {
        let ranks = shard_rank.iter().max().map_or(0, |&r| r + 1);
        (0..ranks)
            .map(|rank| RankTally {
                rank,
                actors: (0..shard_rank.len())
                    .filter(|&s| shard_rank[s] == rank)
                    .map(|s| names[s].clone())
                    .collect(),
                ..RankTally::default()
            })
            .collect()
    } else {
        Vec::new()
    };
    for mut e in summed.into_values() {
        (e.from_id, e.to_id) = (id(&e.from), id(&e.to));
        let add =
            |x: &mut Tally| (x.messages, x.bytes) = (x.messages + e.messages, x.bytes + e.bytes);
        add(&mut t.totals);
        add(t.per_kind.entry(e.kind.clone()).or_default());
        let sender = shard_rank.get(e.from_id).and_then(|&r| tallies.get_mut(r));
        if let Some(rank) = sender {
            add(if e.cross_rank {
                &mut rank.inter
            } else {
                &mut rank.intra
            });
        }
        t.per_edge.push(e);
    }
    t.per_edge
        .sort_by(|a, b| (a.from_id, a.to_id, &a.kind).cmp(&(b.from_id, b.to_id, &b.kind)));
    t.ranks = std::mem::take(&mut tallies);
    (t, all)
}

/// Checks that `summed` (a run over `ranks` ranks, summed by [`merge`]) has the edges of
/// `one` (the same run in one process), message for message and byte for byte, with the
/// edges a bridge carried marked and counted per rank (test support).
#[cfg(test)]
pub(crate) fn assert_as_one_process(summed: &Traffic, one: &Traffic, ranks: usize, what: &str) {
    let plain = |t: &Traffic| -> Vec<_> {
        t.per_edge
            .iter()
            .map(|e| {
                (
                    e.from.clone(),
                    e.to.clone(),
                    e.kind.clone(),
                    e.messages,
                    e.bytes,
                )
            })
            .collect()
    };
    assert_eq!(plain(summed), plain(one), "{what}");
    assert!(one.per_edge.iter().all(|e| !e.cross_rank) && one.ranks.is_empty());
    assert!(summed.per_edge.iter().any(|e| e.cross_rank), "{what}");
    assert_eq!(summed.ranks.len(), ranks, "{what}");
    let inter: u64 = summed.ranks.iter().map(|r| r.inter.messages).sum();
    let cross = summed.per_edge.iter().filter(|e| e.cross_rank);
    assert_eq!(inter, cross.map(|e| e.messages).sum::<u64>(), "{what}");
    assert!(summed.per_kind["spike"].messages > 0, "{what}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(from: &str, to: &str, messages: u64) -> EdgeTraffic {
        EdgeTraffic {
            from_id: 9,
            to_id: 9,
            from: from.to_owned(),
            to: to.to_owned(),
            kind: "spike".to_owned(),
            messages,
            bytes: 10 * messages,
            cross_rank: false,
        }
    }

    const BRIDGE: &str = "rank 0 bridge";

    #[test]
    fn deliveries_stand_in_for_the_shards_that_sent_them() {
        let names: Vec<String> = ["s.0", "s.1", "s.2"].map(String::from).to_vec();
        // Rank 0 holds s.0 and s.1 (actors 0, 1) and its bridge (actor 2).
        let rank0 = Traffic {
            per_edge: vec![
                edge("s.0", "s.1", 4),
                edge("s.0", BRIDGE, 4),
                edge(BRIDGE, "s.0", 4),
            ],
            ..Traffic::default()
        };
        let mut delivered = BTreeMap::new();
        delivered.insert((2, 0), (4, 40));
        delivered.insert((2, 1), (4, 40));
        let local = ["s.0".to_owned(), "s.1".to_owned(), BRIDGE.to_owned()];
        let share0 = ShardTraffic::of(&rank0, &local, &delivered, |s| format!("s.{s}"));
        // Rank 1 holds s.2 (actor 0), which receives s.0's and s.1's pieces.
        let rank1 = Traffic {
            per_edge: vec![edge("s.2", BRIDGE, 4), edge("probes", "s.2", 1)],
            ..Traffic::default()
        };
        let mut delivered = BTreeMap::new();
        delivered.insert((0, 0), (4, 40));
        delivered.insert((1, 0), (4, 40));
        let local = ["s.2".to_owned(), BRIDGE.to_owned()];
        let share1 = ShardTraffic::of(&rank1, &local, &delivered, |s| format!("s.{s}"));
        let (t, all) = merge(vec![share0, share1], &names, &[0, 0, 1]);
        assert_eq!(all, ["s.0", "s.1", "s.2", "probes"]);
        let got: Vec<(usize, usize, u64, bool)> = t
            .per_edge
            .iter()
            .map(|e| (e.from_id, e.to_id, e.messages, e.cross_rank))
            .collect();
        assert_eq!(
            got,
            [
                (0, 1, 4, false),
                (0, 2, 4, true),
                (1, 2, 4, true),
                (2, 0, 4, true),
                (2, 1, 4, true),
                (3, 2, 1, false)
            ]
        );
        assert_eq!(t.totals.messages, 21);
        assert_eq!(t.ranks.len(), 2);
        assert_eq!(
            (t.ranks[0].intra.messages, t.ranks[0].inter.messages),
            (4, 8)
        );
        assert_eq!(
            (t.ranks[1].intra.messages, t.ranks[1].inter.messages),
            (0, 8)
        );
    }
}

//! Message traffic: per-edge counters kept by each actor, merged into a report at the end.
//!
//! Each actor owns the counters of its own out-edges (a plain array per kind it sends, one
//! entry per edge; no atomics, no sharing), so counting costs two additions per message. After the run the
//! runtime merges every actor's counters, in actor order, into a [`Traffic`] report: totals,
//! per edge, per kind, and the bytes of the kinds the application counts apart
//! ([`Label::counted_apart`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::runtime::payload::Label;

/// Messages and bytes by kind on each out-edge of one actor: for each kind ([`Label::index`])
/// that the actor has sent, one counter per edge. A kind's counters are allocated on its
/// first message, so an actor pays memory only for the kinds it sends (an idle actor
/// nothing, a neuron that only sends spikes one counter per synapse) and a message touches
/// the counters of its kind only.
#[derive(Clone, Debug, Default)]
pub struct EdgeCounters {
    by_kind: Vec<Box<[(u64, u64)]>>,
    edges: usize,
}

impl EdgeCounters {
    /// Counters for `edges` out-edges (nothing is allocated until a message is counted).
    pub fn new(edges: usize) -> Self {
        Self {
            by_kind: Vec::new(),
            edges,
        }
    }

    /// Counts one message of `bytes` bytes and kind `kind` on `edge` (a no-op when built
    /// without the `counters` feature).
    #[inline]
    pub fn count(&mut self, edge: usize, kind: impl Label, bytes: usize) {
        #[cfg(feature = "counters")]
        {
            let k = kind.index();
            if k >= self.by_kind.len() || self.by_kind[k].is_empty() {
                self.grow(k);
            }
            let c = &mut self.by_kind[k][edge];
            c.0 += 1;
            c.1 += bytes as u64;
        }
        #[cfg(not(feature = "counters"))]
        let _ = (edge, kind, bytes);
    }

    /// Allocates the counters of kind index `k` (first message of that kind).
    #[cold]
    fn grow(&mut self, k: usize) {
        if k >= self.by_kind.len() {
            self.by_kind.resize_with(k + 1, Default::default);
        }
        self.by_kind[k] = vec![(0, 0); self.edges].into_boxed_slice();
    }

    /// (messages, bytes) on `edge` of `kind`.
    pub fn get(&self, edge: usize, kind: impl Label) -> (u64, u64) {
        self.by_kind
            .get(kind.index())
            .and_then(|c| c.get(edge))
            .copied()
            .unwrap_or((0, 0))
    }
}

/// Traffic on one edge for one kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeTraffic {
    /// Sending actor's id.
    pub from_id: usize,
    /// Receiving actor's id.
    pub to_id: usize,
    /// Sending actor.
    pub from: String,
    /// Receiving actor.
    pub to: String,
    /// Message kind ([`Label::name`]).
    pub kind: String,
    /// Messages sent.
    pub messages: u64,
    /// Payload bytes sent.
    pub bytes: u64,
    /// The edge joins actors on two MPI ranks (a ranked spiking run's spikes that a rank
    /// bridge carried); absent in one process.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cross_rank: bool,
}

/// Messages and bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Messages.
    pub messages: u64,
    /// Payload bytes.
    pub bytes: u64,
}

/// The `traffic` section of results.json.
///
/// Built without the `counters` feature, nothing is counted: `counters` is `false`, the JSON
/// says `"counters": false` and leaves out every count (totals, per kind, per edge, weight
/// transport) rather than write zeros. With counters on, `counters` is not written.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Traffic {
    /// Whether the run counted its messages (built with the `counters` feature).
    #[serde(default = "counted")]
    pub counters: bool,
    /// Everything sent.
    #[serde(default)]
    pub totals: Tally,
    /// By kind name.
    #[serde(default)]
    pub per_kind: BTreeMap<String, Tally>,
    /// By edge and kind (only non-zero entries), in actor order.
    #[serde(default)]
    pub per_edge: Vec<EdgeTraffic>,
    /// Bytes of the kinds the application counts apart ([`Label::counted_apart`]; axon's
    /// weight copies): the non-local information a run needed.
    #[serde(default)]
    pub weight_transport_bytes: u64,
    /// Faults injected on the inference edges (`[faults]`) and the asynchronous actors'
    /// updates; absent under lockstep.
    #[serde(default)]
    pub faults: Option<crate::runtime::faults::FaultTally>,
    /// Across ranks: each rank's actors, the messages that stayed on it and those that
    /// crossed to another rank, and its port's figures; empty in one process.
    #[serde(default)]
    pub ranks: Vec<RankTally>,
}

/// One rank's share of a run's traffic.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RankTally {
    /// The rank.
    pub rank: usize,
    /// The actors placed on it.
    pub actors: Vec<String>,
    /// Messages its actors sent to actors on the same rank.
    pub intra: Tally,
    /// Messages its actors sent to actors on other ranks.
    pub inter: Tally,
    /// Frames its port posted to other ranks, with their wire bytes.
    pub posted: Tally,
    /// Seconds its port waited with nothing to move.
    pub wait_s: f64,
}

/// Whether this build counts messages (the `counters` feature).
pub const COUNTERS: bool = cfg!(feature = "counters");

fn counted() -> bool {
    true
}

impl Default for Traffic {
    fn default() -> Self {
        Self {
            counters: COUNTERS,
            totals: Tally::default(),
            per_kind: BTreeMap::new(),
            per_edge: Vec::new(),
            weight_transport_bytes: 0,
            faults: None,
            ranks: Vec::new(),
        }
    }
}

impl Serialize for Traffic {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Traffic", 7)?;
        if self.counters {
            st.serialize_field("totals", &self.totals)?;
            st.serialize_field("per_kind", &self.per_kind)?;
            st.serialize_field("per_edge", &self.per_edge)?;
            st.serialize_field("weight_transport_bytes", &self.weight_transport_bytes)?;
        } else {
            st.serialize_field("counters", &false)?;
        }
        match &self.faults {
            Some(f) => st.serialize_field("faults", f)?,
            None => st.skip_field("faults")?,
        }
        if self.ranks.is_empty() {
            st.skip_field("ranks")?;
        } else {
            st.serialize_field("ranks", &self.ranks)?;
        }
        st.end()
    }
}

impl Traffic {
    /// The same traffic with its edges merged by the groups `group` puts their actors in
    /// (sender group, receiver group, kind), for runs with too many actors to list each edge
    /// (one actor per neuron): a group's `from_id`/`to_id` is its smallest actor id. Totals
    /// and kinds are unchanged.
    pub fn grouped(&self, group: impl Fn(usize, &str) -> String) -> Traffic {
        let mut merged: BTreeMap<(String, String, String), EdgeTraffic> = BTreeMap::new();
        for e in &self.per_edge {
            let (from, to) = (group(e.from_id, &e.from), group(e.to_id, &e.to));
            let key = (from.clone(), to.clone(), e.kind.clone());
            let m = merged.entry(key).or_insert_with(|| EdgeTraffic {
                from_id: e.from_id,
                to_id: e.to_id,
                from,
                to,
                kind: e.kind.clone(),
                messages: 0,
                bytes: 0,
                cross_rank: false,
            });
            m.cross_rank |= e.cross_rank;
            m.from_id = m.from_id.min(e.from_id);
            m.to_id = m.to_id.min(e.to_id);
            m.messages += e.messages;
            m.bytes += e.bytes;
        }
        let mut per_edge: Vec<EdgeTraffic> = merged.into_values().collect();
        per_edge.sort_by_key(|e| (e.from_id, e.to_id));
        Traffic {
            per_edge,
            ..self.clone()
        }
    }

    /// Merges the counters of every actor, in the order given: each item is (id, out-edge
    /// target ids, counters); `names[id]` names actor `id`. Kinds are those of `K`.
    pub fn merge<'a, K: Label>(
        names: &[String],
        actors: impl IntoIterator<Item = (usize, &'a [usize], &'a EdgeCounters)>,
    ) -> Self {
        let mut t = Traffic::default();
        for (from_id, targets, counters) in actors {
            for (edge, &to_id) in targets.iter().enumerate() {
                for &kind in K::ALL {
                    let (messages, bytes) = counters.get(edge, kind);
                    if messages == 0 {
                        continue;
                    }
                    t.totals.messages += messages;
                    t.totals.bytes += bytes;
                    let k = t.per_kind.entry(kind.name().to_owned()).or_default();
                    k.messages += messages;
                    k.bytes += bytes;
                    if kind.counted_apart() {
                        t.weight_transport_bytes += bytes;
                    }
                    t.per_edge.push(EdgeTraffic {
                        from_id,
                        to_id,
                        from: names[from_id].clone(),
                        to: names[to_id].clone(),
                        kind: kind.name().to_owned(),
                        messages,
                        bytes,
                        cross_rank: false,
                    });
                }
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two kinds, the second counted apart.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    enum Kind {
        Data,
        Copy,
    }

    impl Label for Kind {
        const ALL: &'static [Kind] = &[Kind::Data, Kind::Copy];
        fn index(self) -> usize {
            self as usize
        }
        fn name(self) -> &'static str {
            match self {
                Kind::Data => "data",
                Kind::Copy => "copy",
            }
        }
        fn counted_apart(self) -> bool {
            self == Kind::Copy
        }
    }

    /// Actor 0 sends 2 data messages (10 bytes each) and a 30-byte copy to actor 1.
    fn counted() -> Traffic {
        let mut c = EdgeCounters::new(1);
        c.count(0, Kind::Data, 10);
        c.count(0, Kind::Data, 10);
        c.count(0, Kind::Copy, 30);
        let names = ["a".to_owned(), "b".to_owned()];
        Traffic::merge::<Kind>(&names, [(0, &[1][..], &c)])
    }

    #[cfg(feature = "counters")]
    #[test]
    fn with_counters_the_json_has_every_count_and_no_counters_key() {
        let t = counted();
        assert!(t.counters);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(
            json,
            r#"{"totals":{"messages":3,"bytes":50},"per_kind":{"copy":{"messages":1,"bytes":30},"data":{"messages":2,"bytes":20}},"per_edge":[{"from_id":0,"to_id":1,"from":"a","to":"b","kind":"data","messages":2,"bytes":20},{"from_id":0,"to_id":1,"from":"a","to":"b","kind":"copy","messages":1,"bytes":30}],"weight_transport_bytes":30}"#
        );
        let back: Traffic = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
    }

    #[cfg(not(feature = "counters"))]
    #[test]
    fn without_counters_the_json_says_so_and_has_no_counts() {
        let t = counted();
        assert!(!t.counters);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#"{"counters":false}"#);
        let back: Traffic = serde_json::from_str(&json).unwrap();
        assert!(!back.counters);
        assert_eq!(back, t);
    }
}

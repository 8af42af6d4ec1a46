//! Message traffic: per-edge counters kept by each actor, merged into a report at the end.
//!
//! Each actor owns the counters of its own out-edges (a plain array per edge and kind, no
//! atomics, no sharing), so counting costs two additions per message. After the run the
//! runtime merges every actor's counters, in actor order, into a [`Traffic`] report: totals,
//! per edge, per kind, and the bytes of weight transport.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::message::MessageKind;

/// Messages and bytes by kind on each out-edge of one actor.
#[derive(Clone, Debug, Default)]
pub struct EdgeCounters {
    counts: Vec<[(u64, u64); MessageKind::ALL.len()]>,
}

impl EdgeCounters {
    /// Counters for `edges` out-edges.
    pub fn new(edges: usize) -> Self {
        Self {
            counts: vec![[(0, 0); MessageKind::ALL.len()]; edges],
        }
    }

    /// Counts one message of `bytes` bytes and kind `kind` on `edge` (a no-op when built
    /// without the `counters` feature).
    #[inline]
    pub fn count(&mut self, edge: usize, kind: MessageKind, bytes: usize) {
        #[cfg(feature = "counters")]
        {
            let c = &mut self.counts[edge][kind.index()];
            c.0 += 1;
            c.1 += bytes as u64;
        }
        #[cfg(not(feature = "counters"))]
        let _ = (edge, kind, bytes);
    }

    /// (messages, bytes) on `edge` of `kind`.
    pub fn get(&self, edge: usize, kind: MessageKind) -> (u64, u64) {
        self.counts[edge][kind.index()]
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
    /// Message kind.
    pub kind: MessageKind,
    /// Messages sent.
    pub messages: u64,
    /// Payload bytes sent.
    pub bytes: u64,
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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Traffic {
    /// Everything sent.
    pub totals: Tally,
    /// By kind name.
    pub per_kind: BTreeMap<String, Tally>,
    /// By edge and kind (only non-zero entries), in actor order.
    pub per_edge: Vec<EdgeTraffic>,
    /// Bytes of `WeightTransport` messages: the non-local information a run needed.
    pub weight_transport_bytes: u64,
    /// Faults injected on the inference edges (`[faults]`) and the asynchronous actors'
    /// updates; absent under lockstep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<crate::runtime::faults::FaultTally>,
}

impl Traffic {
    /// Merges the counters of every actor, in the order given: each item is (id, out-edge
    /// target ids, counters); `names[id]` names actor `id`.
    pub fn merge<'a>(
        names: &[String],
        actors: impl IntoIterator<Item = (usize, &'a [usize], &'a EdgeCounters)>,
    ) -> Self {
        let mut t = Traffic::default();
        for (from_id, targets, counters) in actors {
            for (edge, &to_id) in targets.iter().enumerate() {
                for kind in MessageKind::ALL {
                    let (messages, bytes) = counters.get(edge, kind);
                    if messages == 0 {
                        continue;
                    }
                    t.totals.messages += messages;
                    t.totals.bytes += bytes;
                    let k = t.per_kind.entry(kind.name().to_owned()).or_default();
                    k.messages += messages;
                    k.bytes += bytes;
                    if kind == MessageKind::WeightTransport {
                        t.weight_transport_bytes += bytes;
                    }
                    t.per_edge.push(EdgeTraffic {
                        from_id,
                        to_id,
                        from: names[from_id].clone(),
                        to: names[to_id].clone(),
                        kind,
                        messages,
                        bytes,
                    });
                }
            }
        }
        t
    }
}

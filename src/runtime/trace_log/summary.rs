//! The summary of a JSONL trace: latency percentiles per edge and kind, and each receiver's
//! mailbox high-water mark, printed as two aligned tables.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Serialize;

use super::{read_jsonl, LoggedEvent, TraceError};
use crate::runtime::payload::{label_serde, Label};

/// Latencies and traffic of one edge for one kind of message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(bound = "K: Label")]
pub struct EdgeLatency<K> {
    /// Sending actor's name.
    pub from: String,
    /// Receiving actor's name.
    pub to: String,
    /// Sending actor's id.
    pub from_id: u32,
    /// Receiving actor's id.
    pub to_id: u32,
    /// Message kind.
    #[serde(serialize_with = "label_serde::serialize")]
    pub kind: K,
    /// Sampled messages.
    pub messages: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// Median latency, nanoseconds (nearest rank).
    pub p50_ns: u64,
    /// 90th percentile latency, nanoseconds (nearest rank).
    pub p90_ns: u64,
    /// 99th percentile latency, nanoseconds (nearest rank).
    pub p99_ns: u64,
    /// Largest latency, nanoseconds.
    pub max_ns: u64,
}

/// The deepest one receiver's data mailbox was seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MailboxHighWater {
    /// The receiving actor's name.
    pub actor: String,
    /// Its id.
    pub actor_id: u32,
    /// Sampled messages it received.
    pub messages: u64,
    /// Most messages seen waiting in its data mailbox when it took a sampled message.
    pub max_depth: u32,
}

/// Per-edge latencies and per-receiver mailbox high-water marks of a trace; `Display` prints
/// them as two aligned tables.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(bound = "K: Label")]
pub struct TraceSummary<K> {
    /// One row per (sender, receiver, kind), in (sender id, receiver id, kind index) order.
    pub edges: Vec<EdgeLatency<K>>,
    /// One row per receiver, in id order.
    pub mailboxes: Vec<MailboxHighWater>,
}

/// Summarises logged events (any order; names are taken from each id's first event).
pub fn summarize<K: Label>(events: &[LoggedEvent<K>]) -> TraceSummary<K> {
    /// One edge's events so far: the first (for names), bytes, latencies.
    struct Edge<'e, K> {
        first: &'e LoggedEvent<K>,
        bytes: u64,
        latencies: Vec<u64>,
    }
    let mut edges: BTreeMap<(u32, u32, usize), Edge<'_, K>> = BTreeMap::new();
    let mut mailboxes: BTreeMap<u32, MailboxHighWater> = BTreeMap::new();
    for e in events {
        let edge = edges
            .entry((e.from_id, e.to_id, e.kind.index()))
            .or_insert(Edge {
                first: e,
                bytes: 0,
                latencies: Vec::new(),
            });
        edge.bytes += u64::from(e.bytes);
        edge.latencies.push(e.latency_ns);
        let mailbox = mailboxes.entry(e.to_id).or_insert(MailboxHighWater {
            actor: e.to.clone(),
            actor_id: e.to_id,
            messages: 0,
            max_depth: 0,
        });
        mailbox.messages += 1;
        mailbox.max_depth = mailbox.max_depth.max(e.depth);
    }
    let edges = edges
        .into_values()
        .map(|mut edge| {
            edge.latencies.sort_unstable();
            let p = |pct| nearest_rank(&edge.latencies, pct);
            EdgeLatency {
                from: edge.first.from.clone(),
                to: edge.first.to.clone(),
                from_id: edge.first.from_id,
                to_id: edge.first.to_id,
                kind: edge.first.kind,
                messages: edge.latencies.len() as u64,
                bytes: edge.bytes,
                p50_ns: p(50),
                p90_ns: p(90),
                p99_ns: p(99),
                max_ns: p(100),
            }
        })
        .collect();
    TraceSummary {
        edges,
        mailboxes: mailboxes.into_values().collect(),
    }
}

/// Reads a JSONL trace and summarises it.
pub fn summarize_file<K: Label>(path: &Path) -> Result<TraceSummary<K>, TraceError> {
    Ok(summarize(&read_jsonl(path)?))
}

impl<K: Label> fmt::Display for TraceSummary<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.edges.is_empty() {
            return writeln!(f, "no sampled messages");
        }
        let us = |ns: u64| format!("{:.2}", ns as f64 / 1e3);
        writeln!(
            f,
            "message latency by edge (sampled; microseconds, send to receive)"
        )?;
        let edges: Vec<Vec<String>> = self
            .edges
            .iter()
            .map(|e| {
                vec![
                    e.from.clone(),
                    e.to.clone(),
                    e.kind.name().to_owned(),
                    e.messages.to_string(),
                    e.bytes.to_string(),
                    us(e.p50_ns),
                    us(e.p90_ns),
                    us(e.p99_ns),
                    us(e.max_ns),
                ]
            })
            .collect();
        let header = [
            "from", "to", "kind", "messages", "bytes", "p50", "p90", "p99", "max",
        ];
        write_table(f, &header, 3, &edges)?;
        writeln!(f)?;
        writeln!(f, "mailbox high-water marks (messages waiting)")?;
        let mailboxes: Vec<Vec<String>> = self
            .mailboxes
            .iter()
            .map(|m| {
                vec![
                    m.actor.clone(),
                    m.messages.to_string(),
                    m.max_depth.to_string(),
                ]
            })
            .collect();
        write_table(f, &["actor", "messages", "max depth"], 1, &mailboxes)
    }
}

/// Writes `rows` under `header` with columns padded to their widest cell: the first
/// `text_columns` columns left-aligned, the rest (numbers) right-aligned.
fn write_table(
    f: &mut fmt::Formatter<'_>,
    header: &[&str],
    text_columns: usize,
    rows: &[Vec<String>],
) -> fmt::Result {
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |f: &mut fmt::Formatter<'_>, cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (c, cell) in cells.enumerate() {
            let w = widths[c];
            if c > 0 {
                text.push_str("  ");
            }
            if c < text_columns {
                text.push_str(&format!("{cell:<w$}"));
            } else {
                text.push_str(&format!("{cell:>w$}"));
            }
        }
        writeln!(f, "{}", text.trim_end())
    };
    line(f, &mut header.iter().copied())?;
    for row in rows {
        line(f, &mut row.iter().map(String::as_str))?;
    }
    Ok(())
}

/// The nearest-rank `pct`-th percentile of ascending `sorted`: the value at rank
/// `ceil(pct / 100 * n)` (from 1, at least 1). 0 for no values.
pub(super) fn nearest_rank(sorted: &[u64], pct: usize) -> u64 {
    let n = sorted.len();
    if n == 0 {
        return 0;
    }
    let rank = (pct * n).div_ceil(100).clamp(1, n);
    sorted[rank - 1]
}

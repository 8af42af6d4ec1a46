//! The sampled message-event log: one [`TraceEvent`] per sampled message, its two file
//! formats, and the latency and mailbox summary read back from them.
//!
//! The runtime collects events in memory while it runs and calls the writers here once, at
//! the end of a run, off the hot path; nothing in this module runs while messages flow.
//!
//! - **JSONL** ([`write_jsonl`], [`read_jsonl`]): one self-contained JSON object per line, in
//!   send order, names included, so a line can be read (or `grep`ped) on its own:
//!   `{"from":"in","to":"h1","from_id":0,"to_id":1,"kind":"activity","bytes":1024,"step":3,
//!   "send_ns":1200,"recv_ns":4500,"latency_ns":3300,"depth":2}`. [`summarize_file`] turns it
//!   into a [`TraceSummary`]: latency percentiles per edge and kind, and each receiver's
//!   mailbox high-water mark.
//! - **Chrome trace** ([`write_chrome_trace`]): the JSON object format that Perfetto and
//!   `chrome://tracing` open. Each actor is a thread track (pid 1, tid = actor id) named by a
//!   `thread_name` metadata event; each message is a complete (`"X"`) event on its receiver's
//!   track, from send to receive, named by its kind.
//!
//! Times are nanoseconds since the run started; latency is `recv_ns - send_ns`, the time a
//! message spent in flight and waiting in the receiver's mailbox.

use std::collections::BTreeMap;
use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::experiment::run_dir::{write_atomic, RunDirError};
use crate::message::MessageKind;

/// One sampled message: who sent what to whom, when it was sent and received.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceEvent {
    /// Sending actor's id (its index in the network).
    pub from: u32,
    /// Receiving actor's id.
    pub to: u32,
    /// The message's kind.
    pub kind: MessageKind,
    /// Payload bytes.
    pub bytes: u32,
    /// The step (or tick) the message belongs to.
    pub step: u64,
    /// Nanoseconds since the run started when the message was sent.
    pub send_ns: u64,
    /// Nanoseconds since the run started when the receiver took it out of its mailbox.
    pub recv_ns: u64,
    /// The receiver's data-mailbox depth at that moment: messages still waiting behind it.
    pub depth: u32,
}

impl TraceEvent {
    /// Nanoseconds from send to receive (0 if the clock readings disagree).
    pub fn latency_ns(&self) -> u64 {
        self.recv_ns.saturating_sub(self.send_ns)
    }
}

/// One line of a JSONL trace: a [`TraceEvent`] with the actors' names and its latency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedEvent {
    /// Sending actor's name.
    pub from: String,
    /// Receiving actor's name.
    pub to: String,
    /// Sending actor's id.
    pub from_id: u32,
    /// Receiving actor's id.
    pub to_id: u32,
    /// The message's kind.
    pub kind: MessageKind,
    /// Payload bytes.
    pub bytes: u32,
    /// The step (or tick) the message belongs to.
    pub step: u64,
    /// Nanoseconds since the run started when the message was sent.
    pub send_ns: u64,
    /// Nanoseconds since the run started when the receiver took it out of its mailbox.
    pub recv_ns: u64,
    /// `recv_ns - send_ns`.
    pub latency_ns: u64,
    /// The receiver's data-mailbox depth when it took the message: messages still waiting.
    pub depth: u32,
}

impl LoggedEvent {
    /// The line written for `e`, with names looked up by id in `names`.
    pub fn new(e: &TraceEvent, names: &[String]) -> Self {
        Self {
            from: actor_name(names, e.from),
            to: actor_name(names, e.to),
            from_id: e.from,
            to_id: e.to,
            kind: e.kind,
            bytes: e.bytes,
            step: e.step,
            send_ns: e.send_ns,
            recv_ns: e.recv_ns,
            latency_ns: e.latency_ns(),
            depth: e.depth,
        }
    }
}

/// What can go wrong writing or reading a trace.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// A trace file could not be opened or read.
    #[error("cannot read trace {path}: {source}; check the path (traces are written at the end of a run that samples messages)")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line of a JSONL trace is not a trace event.
    #[error("{path}:{line}: not a trace event: {message}; every line must be one JSON object as written by axon (was the file truncated or edited?)")]
    BadLine {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// What the JSON parser found.
        message: String,
    },
    /// A trace file could not be written.
    #[error("cannot write trace: {0}; check that the folder is writable and the disk has room")]
    Write(#[from] RunDirError),
}

/// Writes `events` as JSONL, one [`LoggedEvent`] per line, sorted by send time; `names[id]`
/// names actor `id` (actors without a name are written `#id`). The file is replaced atomically.
pub fn write_jsonl(path: &Path, events: &[TraceEvent], names: &[String]) -> Result<(), TraceError> {
    let mut out = Vec::with_capacity(events.len() * 192);
    for e in sorted_by_send(events) {
        serde_json::to_writer(&mut out, &LoggedEvent::new(e, names))
            .expect("a LoggedEvent has only strings and integers, and a Vec cannot fail to grow");
        out.push(b'\n');
    }
    Ok(write_atomic(path, &out)?)
}

/// Reads a JSONL trace written by [`write_jsonl`], in file order. Blank lines are skipped.
pub fn read_jsonl(path: &Path) -> Result<Vec<LoggedEvent>, TraceError> {
    let io = |source| TraceError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut events = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let event = serde_json::from_str(&line).map_err(|e| {
            // serde counts lines within the one it was given; keep only its column.
            let text = e.to_string();
            let what = text
                .rsplit_once(" at line ")
                .map_or(&*text, |(what, _)| what);
            TraceError::BadLine {
                path: path.to_owned(),
                line: i + 1,
                message: format!("{what} at column {}", e.column()),
            }
        })?;
        events.push(event);
    }
    Ok(events)
}

/// Writes `events` as a Chrome trace (`{"traceEvents": [...], "displayTimeUnit": "ns"}`) that
/// Perfetto and `chrome://tracing` open; `names[id]` names actor `id`. The file is replaced
/// atomically.
///
/// Actor `id` is the track pid 1, tid `id`. Each message is an `"X"` event on its receiver's
/// track: `ts` the send time and `dur` the latency, both in microseconds. Slices on one track
/// must not partly overlap (Perfetto drops such slices), and messages waiting in one mailbox
/// do overlap, so a message that would cross an earlier one goes on an overflow track of the
/// same receiver, named `NAME (2)`, `NAME (3)`, … with a tid above every actor id.
pub fn write_chrome_trace(
    path: &Path,
    events: &[TraceEvent],
    names: &[String],
) -> Result<(), TraceError> {
    let trace = ChromeTrace {
        trace_events: chrome_events(events, names),
        display_time_unit: "ns",
    };
    let bytes = serde_json::to_vec(&trace).expect(
        "a Chrome trace has only strings and finite numbers, and a Vec cannot fail to grow",
    );
    Ok(write_atomic(path, &bytes)?)
}

/// Latencies and traffic of one edge for one kind of message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EdgeLatency {
    /// Sending actor's name.
    pub from: String,
    /// Receiving actor's name.
    pub to: String,
    /// Sending actor's id.
    pub from_id: u32,
    /// Receiving actor's id.
    pub to_id: u32,
    /// Message kind.
    pub kind: MessageKind,
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TraceSummary {
    /// One row per (sender, receiver, kind), in (sender id, receiver id, kind) order.
    pub edges: Vec<EdgeLatency>,
    /// One row per receiver, in id order.
    pub mailboxes: Vec<MailboxHighWater>,
}

/// Summarises logged events (any order; names are taken from each id's first event).
pub fn summarize(events: &[LoggedEvent]) -> TraceSummary {
    /// One edge's events so far: the first (for names), bytes, latencies.
    struct Edge<'e> {
        first: &'e LoggedEvent,
        bytes: u64,
        latencies: Vec<u64>,
    }
    let mut edges: BTreeMap<(u32, u32, MessageKind), Edge<'_>> = BTreeMap::new();
    let mut mailboxes: BTreeMap<u32, MailboxHighWater> = BTreeMap::new();
    for e in events {
        let edge = edges.entry((e.from_id, e.to_id, e.kind)).or_insert(Edge {
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
pub fn summarize_file(path: &Path) -> Result<TraceSummary, TraceError> {
    Ok(summarize(&read_jsonl(path)?))
}

impl fmt::Display for TraceSummary {
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
fn nearest_rank(sorted: &[u64], pct: usize) -> u64 {
    let n = sorted.len();
    if n == 0 {
        return 0;
    }
    let rank = (pct * n).div_ceil(100).clamp(1, n);
    sorted[rank - 1]
}

fn actor_name(names: &[String], id: u32) -> String {
    names
        .get(id as usize)
        .cloned()
        .unwrap_or_else(|| format!("#{id}"))
}

/// Events in send order; ties broken by the rest of the event, so the order never depends on
/// the order the runtime collected them in.
fn sorted_by_send(events: &[TraceEvent]) -> Vec<&TraceEvent> {
    let mut sorted: Vec<&TraceEvent> = events.iter().collect();
    sorted.sort_by_key(|e| (e.send_ns, e.recv_ns, e.from, e.to, e.step, e.kind, e.bytes));
    sorted
}

#[derive(Serialize)]
struct ChromeTrace {
    #[serde(rename = "traceEvents")]
    trace_events: Vec<ChromeEvent>,
    #[serde(rename = "displayTimeUnit")]
    display_time_unit: &'static str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ChromeEvent {
    /// `{"ph": "M", "name": "thread_name", "args": {"name": ...}}`.
    Metadata {
        name: &'static str,
        ph: &'static str,
        pid: u32,
        tid: u64,
        args: ThreadName,
    },
    /// `{"ph": "X", ...}`: one message from send to receive.
    Complete {
        name: &'static str,
        cat: &'static str,
        ph: &'static str,
        pid: u32,
        tid: u64,
        ts: f64,
        dur: f64,
        args: MessageArgs,
    },
}

#[derive(Serialize)]
struct ThreadName {
    name: String,
}

#[derive(Serialize)]
struct MessageArgs {
    from: String,
    to: String,
    bytes: u32,
    step: u64,
    depth: u32,
}

/// The Chrome trace's events: a `thread_name` per actor in id order, then overflow tracks,
/// then the messages in send order.
fn chrome_events(events: &[TraceEvent], names: &[String]) -> Vec<ChromeEvent> {
    const PID: u32 = 1;
    let actors = events
        .iter()
        .map(|e| e.from.max(e.to) as usize + 1)
        .max()
        .unwrap_or(0)
        .max(names.len());
    let mut out: Vec<ChromeEvent> = (0..actors as u32)
        .map(|id| ChromeEvent::Metadata {
            name: "thread_name",
            ph: "M",
            pid: PID,
            tid: u64::from(id),
            args: ThreadName {
                name: actor_name(names, id),
            },
        })
        .collect();

    // Track layout: per receiver, lane k holds messages that do not overlap in time; lane 0
    // is the actor's own track (tid = id), lane k > 0 an overflow track with a fresh tid.
    let sorted = sorted_by_send(events);
    let mut lane_ends: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    let mut overflow_tids: BTreeMap<(u32, usize), u64> = BTreeMap::new();
    let mut tids = Vec::with_capacity(sorted.len());
    for e in &sorted {
        let ends = lane_ends.entry(e.to).or_default();
        // Strictly after: microsecond floats may round a shared end and start 1 ns apart.
        let lane = match ends.iter().position(|&end| end < e.send_ns) {
            Some(lane) => lane,
            None => {
                ends.push(0);
                ends.len() - 1
            }
        };
        ends[lane] = e.send_ns.max(e.recv_ns);
        let tid = if lane == 0 {
            u64::from(e.to)
        } else {
            let next = (actors + overflow_tids.len()) as u64;
            *overflow_tids.entry((e.to, lane)).or_insert(next)
        };
        tids.push(tid);
    }
    let mut overflow: Vec<_> = overflow_tids.into_iter().collect();
    overflow.sort_by_key(|&(_, tid)| tid);
    out.extend(
        overflow
            .into_iter()
            .map(|((to, lane), tid)| ChromeEvent::Metadata {
                name: "thread_name",
                ph: "M",
                pid: PID,
                tid,
                args: ThreadName {
                    name: format!("{} ({})", actor_name(names, to), lane + 1),
                },
            }),
    );
    out.extend(
        sorted
            .iter()
            .zip(tids)
            .map(|(e, tid)| ChromeEvent::Complete {
                name: e.kind.name(),
                cat: "message",
                ph: "X",
                pid: PID,
                tid,
                ts: e.send_ns as f64 / 1e3,
                dur: e.latency_ns() as f64 / 1e3,
                args: MessageArgs {
                    from: actor_name(names, e.from),
                    to: actor_name(names, e.to),
                    bytes: e.bytes,
                    step: e.step,
                    depth: e.depth,
                },
            }),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_by_hand() {
        // 10 values: rank = ceil(p/100 * 10): p50 -> 5th, p90 -> 9th, p99 -> 10th.
        let xs: Vec<u64> = (1..=10).map(|x| x * 10).collect();
        assert_eq!(nearest_rank(&xs, 50), 50);
        assert_eq!(nearest_rank(&xs, 90), 90);
        assert_eq!(nearest_rank(&xs, 99), 100);
        assert_eq!(nearest_rank(&xs, 100), 100);
        // 4 values: p50 -> ceil(2.0) = 2nd, p90 -> ceil(3.6) = 4th, p1 -> ceil(0.04) = 1st.
        let ys = [3, 7, 8, 20];
        assert_eq!(nearest_rank(&ys, 50), 7);
        assert_eq!(nearest_rank(&ys, 90), 20);
        assert_eq!(nearest_rank(&ys, 1), 3);
        assert_eq!(nearest_rank(&ys, 0), 3);
        // 200 values 1..=200: p99 -> ceil(198.0) = 198th, p50 -> 100th.
        let zs: Vec<u64> = (1..=200).collect();
        assert_eq!(nearest_rank(&zs, 99), 198);
        assert_eq!(nearest_rank(&zs, 50), 100);
        assert_eq!(nearest_rank(&[42], 50), 42);
        assert_eq!(nearest_rank(&[], 50), 0);
    }

    fn ev(
        from: u32,
        to: u32,
        kind: MessageKind,
        send: u64,
        latency: u64,
        depth: u32,
    ) -> TraceEvent {
        TraceEvent {
            from,
            to,
            kind,
            bytes: 100,
            step: 0,
            send_ns: send,
            recv_ns: send + latency,
            depth,
        }
    }

    #[test]
    fn summary_numbers_by_hand() {
        use MessageKind::{Activity, Error};
        let names: Vec<String> = ["in", "hid", "out"].map(String::from).to_vec();
        let raw = [
            // in -> hid, activity: latencies 40, 10, 30, 20 (sorted 10 20 30 40)
            ev(0, 1, Activity, 0, 40, 0),
            ev(0, 1, Activity, 100, 10, 3),
            ev(0, 1, Activity, 200, 30, 1),
            ev(0, 1, Activity, 300, 20, 0),
            // hid -> out, activity: one message
            ev(1, 2, Activity, 50, 500, 7),
            // out -> hid, error: latencies 5, 6
            ev(2, 1, Error, 60, 5, 2),
            ev(2, 1, Error, 70, 6, 5),
        ];
        let logged: Vec<LoggedEvent> = raw.iter().map(|e| LoggedEvent::new(e, &names)).collect();
        let s = summarize(&logged);

        let rows: Vec<_> = s
            .edges
            .iter()
            .map(|e| {
                (
                    e.from.as_str(),
                    e.to.as_str(),
                    e.kind,
                    e.messages,
                    e.bytes,
                    [e.p50_ns, e.p90_ns, e.p99_ns, e.max_ns],
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                // n = 4: p50 -> 2nd (20), p90 -> ceil(3.6) = 4th (40), p99 -> 4th.
                ("in", "hid", Activity, 4, 400, [20, 40, 40, 40]),
                ("hid", "out", Activity, 1, 100, [500, 500, 500, 500]),
                // n = 2: p50 -> 1st (5), p90 -> ceil(1.8) = 2nd (6).
                ("out", "hid", Error, 2, 200, [5, 6, 6, 6]),
            ]
        );
        let marks: Vec<_> = s
            .mailboxes
            .iter()
            .map(|m| (m.actor.as_str(), m.messages, m.max_depth))
            .collect();
        // hid receives 4 activities (max depth 3) and 2 errors (max depth 5).
        assert_eq!(marks, [("hid", 6, 5), ("out", 1, 7)]);

        let table = s.to_string();
        assert!(table.contains("mailbox high-water marks"), "{table}");
        assert!(table.lines().any(|l| l.starts_with("from ")), "{table}");
        assert_eq!(summarize(&[]).to_string(), "no sampled messages\n");
    }

    #[test]
    fn overlapping_messages_to_one_receiver_go_on_overflow_tracks() {
        use MessageKind::Activity;
        let names: Vec<String> = ["a", "b"].map(String::from).to_vec();
        // [0, 100] and [50, 150] cross; [200, 210] fits back on the actor's track.
        let events = [
            ev(0, 1, Activity, 0, 100, 0),
            ev(0, 1, Activity, 50, 100, 1),
            ev(0, 1, Activity, 200, 10, 0),
        ];
        let tids: Vec<u64> = chrome_events(&events, &names)
            .iter()
            .filter_map(|e| match e {
                ChromeEvent::Complete { tid, .. } => Some(*tid),
                ChromeEvent::Metadata { .. } => None,
            })
            .collect();
        assert_eq!(tids, [1, 2, 1]);
    }
}

//! The Chrome trace format (the JSON object format Perfetto and `chrome://tracing` open):
//! one thread track per actor, each sampled message a complete event on its receiver's track,
//! crossing messages moved to overflow tracks.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::{actor_name, sorted_by_send, TraceError, TraceEvent};
use crate::io::write_atomic;
use crate::runtime::payload::Label;

/// Writes `events` as a Chrome trace (`{"traceEvents": [...], "displayTimeUnit": "ns"}`) that
/// Perfetto and `chrome://tracing` open; `names[id]` names actor `id`. The file is replaced
/// atomically.
///
/// Actor `id` is the track pid 1, tid `id`. Each message is an `"X"` event on its receiver's
/// track: `ts` the send time and `dur` the latency, both in microseconds. Slices on one track
/// must not partly overlap (Perfetto drops such slices), and messages waiting in one mailbox
/// do overlap, so a message that would cross an earlier one goes on an overflow track of the
/// same receiver, named `NAME (2)`, `NAME (3)`, … with a tid above every actor id.
pub fn write_chrome_trace<K: Label>(
    path: &Path,
    events: &[TraceEvent<K>],
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

#[derive(Serialize)]
struct ChromeTrace {
    #[serde(rename = "traceEvents")]
    trace_events: Vec<ChromeEvent>,
    #[serde(rename = "displayTimeUnit")]
    display_time_unit: &'static str,
}

#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum ChromeEvent {
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
pub(super) struct ThreadName {
    name: String,
}

#[derive(Serialize)]
pub(super) struct MessageArgs {
    from: String,
    to: String,
    bytes: u32,
    step: u64,
    depth: u32,
}

/// The Chrome trace's events: a `thread_name` per actor in id order, then overflow tracks,
/// then the messages in send order.
pub(super) fn chrome_events<K: Label>(
    events: &[TraceEvent<K>],
    names: &[String],
) -> Vec<ChromeEvent> {
    let actors = events
        .iter()
        .map(|e| e.from.max(e.to) as usize + 1)
        .max()
        .unwrap_or(0)
        .max(names.len());
    let thread = |tid: u64, name: String| ChromeEvent::Metadata {
        name: "thread_name",
        ph: "M",
        pid: PID,
        tid,
        args: ThreadName { name },
    };
    let mut out: Vec<ChromeEvent> = (0..actors as u32)
        .map(|id| thread(u64::from(id), actor_name(names, id)))
        .collect();
    let sorted = sorted_by_send(events);
    let (tids, overflow) = lay_out_tracks(&sorted, actors);
    out.extend(
        overflow.into_iter().map(|((to, lane), tid)| {
            thread(tid, format!("{} ({})", actor_name(names, to), lane + 1))
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

/// The Chrome trace's one process id.
const PID: u32 = 1;

/// Track layout: per receiver, lane k holds messages that do not overlap in time; lane 0 is
/// the actor's own track (tid = id), lane k > 0 an overflow track with a fresh tid above the
/// `actors` ids. Returns each message's tid (in `sorted` order) and the overflow tracks
/// ((receiver, lane), tid) in tid order.
#[allow(clippy::type_complexity)]
fn lay_out_tracks<K>(
    sorted: &[&TraceEvent<K>],
    actors: usize,
) -> (Vec<u64>, Vec<((u32, usize), u64)>) {
    let mut lane_ends: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    let mut overflow_tids: BTreeMap<(u32, usize), u64> = BTreeMap::new();
    let mut tids = Vec::with_capacity(sorted.len());
    for e in sorted {
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
    (tids, overflow)
}

//! Unit tests of the trace log: percentiles, summary and Chrome track layout by hand.

use super::chrome::{chrome_events, ChromeEvent};
use super::summary::{nearest_rank, summarize};
use super::{LoggedEvent, TraceEvent};
use crate::message::MessageKind;

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
) -> TraceEvent<MessageKind> {
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
    let logged: Vec<LoggedEvent<MessageKind>> =
        raw.iter().map(|e| LoggedEvent::new(e, &names)).collect();
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
    assert_eq!(
        summarize::<MessageKind>(&[]).to_string(),
        "no sampled messages\n"
    );
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

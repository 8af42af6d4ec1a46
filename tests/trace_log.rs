//! The message trace files through the public API: JSONL and Chrome trace written for
//! hand-built events, read back, summarised; corrupt files give errors that name the line.

use std::path::Path;

use axon::message::MessageKind::{self, Activity, Error};
use axon::runtime::trace_log::{
    read_jsonl, summarize_file, write_chrome_trace, write_jsonl, LoggedEvent, TraceError,
    TraceEvent,
};
use proptest::prelude::*;
use serde_json::Value;

fn names() -> Vec<String> {
    ["input", "hidden", "output"].map(String::from).to_vec()
}

#[allow(clippy::too_many_arguments)]
fn ev(
    from: u32,
    to: u32,
    kind: MessageKind,
    bytes: u32,
    step: u64,
    send: u64,
    recv: u64,
    depth: u32,
) -> TraceEvent<MessageKind> {
    TraceEvent {
        from,
        to,
        kind,
        bytes,
        step,
        send_ns: send,
        recv_ns: recv,
        depth,
    }
}

/// Four messages, deliberately out of send order, none overlapping another on its receiver.
fn events() -> Vec<TraceEvent<MessageKind>> {
    vec![
        ev(1, 2, Activity, 512, 0, 3_000, 4_500, 0),
        ev(0, 1, Activity, 1024, 0, 1_000, 2_500, 2),
        ev(2, 1, Error, 40, 0, 6_000, 6_250, 1),
        ev(0, 1, Activity, 1024, 1, 2_600, 2_900, 4),
    ]
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).expect("the Chrome trace is JSON")
}

#[test]
fn chrome_trace_names_every_actor_and_puts_messages_on_the_receivers_track() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trace.json");
    write_chrome_trace(&path, &events(), &names()).unwrap();
    let trace = read_json(&path);

    assert_eq!(trace["displayTimeUnit"], "ns");
    let all = trace["traceEvents"]
        .as_array()
        .expect("traceEvents is an array");
    let meta: Vec<(u64, &str)> = all
        .iter()
        .filter(|e| e["ph"] == "M")
        .map(|e| {
            assert_eq!(e["name"], "thread_name");
            assert_eq!(e["pid"], 1);
            (
                e["tid"].as_u64().unwrap(),
                e["args"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(meta, [(0, "input"), (1, "hidden"), (2, "output")]);

    // In send order: (name, tid, ts µs, dur µs, from, bytes, step, depth).
    let xs: Vec<_> = all
        .iter()
        .filter(|e| e["ph"] == "X")
        .map(|e| {
            assert_eq!(e["cat"], "message");
            assert_eq!(e["pid"], 1);
            assert_eq!(
                e["args"]["to"],
                names()[e["tid"].as_u64().unwrap() as usize]
            );
            (
                e["name"].as_str().unwrap(),
                e["tid"].as_u64().unwrap(),
                e["ts"].as_f64().unwrap(),
                e["dur"].as_f64().unwrap(),
                e["args"]["from"].as_str().unwrap(),
                e["args"]["bytes"].as_u64().unwrap(),
                e["args"]["step"].as_u64().unwrap(),
                e["args"]["depth"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        xs,
        [
            ("activity", 1, 1.0, 1.5, "input", 1024, 0, 2),
            ("activity", 1, 2.6, 0.3, "input", 1024, 1, 4),
            ("activity", 2, 3.0, 1.5, "hidden", 512, 0, 0),
            ("error", 1, 6.0, 0.25, "output", 40, 0, 1),
        ]
    );
    assert_eq!(all.len(), meta.len() + xs.len());
}

#[test]
fn jsonl_round_trips_in_send_order_with_names_and_latency() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trace.jsonl");
    write_jsonl(&path, &events(), &names()).unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 4);
    assert!(
        text.starts_with(
            r#"{"from":"input","to":"hidden","from_id":0,"to_id":1,"kind":"activity","bytes":1024,"step":0,"send_ns":1000,"recv_ns":2500,"latency_ns":1500,"depth":2}"#
        ),
        "{text}"
    );

    let back = read_jsonl(&path).unwrap();
    let sends: Vec<u64> = back.iter().map(|e| e.send_ns).collect();
    assert_eq!(sends, [1_000, 2_600, 3_000, 6_000]);
    let mut expected = events();
    expected.sort_by_key(|e| e.send_ns);
    let expected: Vec<LoggedEvent<MessageKind>> = expected
        .iter()
        .map(|e| LoggedEvent::new(e, &names()))
        .collect();
    assert_eq!(back, expected);
    assert_eq!(back[3].from, "output");
    assert_eq!(back[3].latency_ns, 250);
}

#[test]
fn summarize_file_counts_edges_and_mailbox_high_water_marks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trace.jsonl");
    write_jsonl(&path, &events(), &names()).unwrap();
    let summary = summarize_file(&path).unwrap();

    let edges: Vec<_> = summary
        .edges
        .iter()
        .map(|e| {
            (
                e.from.as_str(),
                e.to.as_str(),
                e.kind,
                e.messages,
                e.bytes,
                e.p50_ns,
                e.max_ns,
            )
        })
        .collect();
    assert_eq!(
        edges,
        [
            // latencies 1500 and 300: p50 is the 1st of the sorted pair.
            ("input", "hidden", Activity, 2, 2048, 300, 1_500),
            ("hidden", "output", Activity, 1, 512, 1_500, 1_500),
            ("output", "hidden", Error, 1, 40, 250, 250),
        ]
    );
    let marks: Vec<_> = summary
        .mailboxes
        .iter()
        .map(|m| (m.actor.as_str(), m.messages, m.max_depth))
        .collect();
    assert_eq!(marks, [("hidden", 3, 4), ("output", 1, 0)]);

    let table = summary.to_string();
    let edge_line = table
        .lines()
        .find(|l| l.starts_with("input "))
        .unwrap_or_else(|| panic!("no input row in\n{table}"));
    assert!(edge_line.ends_with("1.50"), "{edge_line}");
}

#[test]
fn a_corrupt_line_is_named_by_file_and_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trace.jsonl");
    write_jsonl(&path, &events(), &names()).unwrap();
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"from\": \"input\", \"to\": \n");
    std::fs::write(&path, text).unwrap();

    let err = read_jsonl::<MessageKind>(&path).unwrap_err();
    assert!(
        matches!(err, TraceError::BadLine { line: 5, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("trace.jsonl:5: not a trace event: EOF while parsing a value at column 24"),
        "{msg}"
    );
    assert!(summarize_file::<MessageKind>(&path).is_err());

    let missing = read_jsonl::<MessageKind>(&dir.path().join("nope.jsonl")).unwrap_err();
    assert!(matches!(missing, TraceError::Io { .. }), "{missing:?}");
    assert!(missing.to_string().contains("nope.jsonl"), "{missing}");
}

fn arb_event() -> impl Strategy<Value = TraceEvent<MessageKind>> {
    (0u32..4, 0u32..4, 0u64..1_000, 0u64..300, 0u32..8).prop_map(|(from, to, send, lat, depth)| {
        ev(from, to, Activity, 8, send / 10, send, send + lat, depth)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Perfetto drops slices that partly overlap on one track: messages on one tid never do,
    /// every message is in the trace once, and it stays on its receiver (or a track named
    /// after it).
    #[test]
    fn chrome_trace_slices_on_a_track_never_cross(events in prop::collection::vec(arb_event(), 0..40)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trace.json");
        let names: Vec<String> = (0..4).map(|i| format!("a{i}")).collect();
        write_chrome_trace(&path, &events, &names).unwrap();
        let trace = read_json(&path);
        let all = trace["traceEvents"].as_array().unwrap();
        let track_name = |tid: u64| {
            all.iter()
                .find(|e| e["ph"] == "M" && e["tid"] == tid)
                .map(|e| e["args"]["name"].as_str().unwrap().to_owned())
                .unwrap()
        };
        let mut slices: Vec<(u64, u64, u64)> = Vec::new();
        for e in all.iter().filter(|e| e["ph"] == "X") {
            let tid = e["tid"].as_u64().unwrap();
            let to = e["args"]["to"].as_str().unwrap();
            let track = track_name(tid);
            let own = track == to || track.starts_with(&format!("{to} ("));
            prop_assert!(own, "message to {} on track {}", to, track);
            let start = (e["ts"].as_f64().unwrap() * 1e3).round() as u64;
            let end = start + (e["dur"].as_f64().unwrap() * 1e3).round() as u64;
            slices.push((tid, start, end));
        }
        prop_assert_eq!(slices.len(), events.len());
        slices.sort();
        for w in slices.windows(2) {
            if w[0].0 == w[1].0 {
                prop_assert!(w[0].2 < w[1].1, "slices cross on tid {}: {:?}", w[0].0, w);
            }
        }
    }
}

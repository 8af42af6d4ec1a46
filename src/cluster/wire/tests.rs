//! The wire format: every message round-trips bit for bit; short, padded or oversized frames
//! are errors, never panics.

use super::*;
use crate::message::Synapses;

/// One message of every variant and every report.
fn every_message() -> Vec<Message> {
    let mut pool = SignalPool::default();
    let s = pool.signal(2, 3, |o| {
        o.iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = i as f32 - 1.5)
    });
    let b = pool.signal(1, 2, |o| o.copy_from_slice(&[f32::NAN, -0.0]));
    let mut syn = Synapses::zeros(2, 3);
    syn.bias_mut()[1] = 4.0;
    let copy = WeightCopy::of(&syn);
    let phases = [
        Phase::Train { rows: 64 },
        Phase::Evaluate { rows: 3 },
        Phase::Snapshot,
        Phase::Save,
        Phase::Learn,
        Phase::Exhausted,
        Phase::Nudge { negative: true },
    ];
    let mut all = vec![
        Message::Activity {
            step: u64::MAX,
            shard: 3,
            changed: true,
            signal: s.clone(),
        },
        Message::ActivityDown {
            step: 1,
            shard: 0,
            signal: s.clone(),
        },
        Message::Error {
            step: 2,
            shard: 1,
            learned: false,
            signal: b.clone(),
        },
        Message::Clamp {
            step: 4,
            labels: b.clone(),
        },
        Message::WeightTransport {
            step: 6,
            shard: 2,
            copy: copy.clone(),
        },
    ];
    all.extend(phases.map(|phase| Message::Phase { step: 11, phase }));
    all.extend(spiking_messages());
    all.extend(
        every_report(&s, &b, &copy)
            .into_iter()
            .map(|data| Message::Report { step: 9, data }),
    );
    all
}

/// The probe, spike and tick messages, one of each (two spike batches: signed and not).
fn spiking_messages() -> Vec<Message> {
    vec![
        Message::Probe {
            step: 17,
            chunk: crate::message::ProbeChunk {
                probe: 3,
                columns: std::sync::Arc::new(vec![4, 5]),
                times: std::sync::Arc::new(vec![16, 17]),
                values: std::sync::Arc::new(vec![1.0, -2.5, f32::NAN, 0.0]),
                last: true,
            },
        },
        Message::Spike {
            tick: 5,
            fired: Spikes::from(vec![0, 7, u32::MAX]),
        },
        Message::Tick { tick: 8 },
        Message::SpikeBatch {
            step: 12,
            shard: 1,
            bits: crate::message::BitPool::default().pack(2, 40, true, &{
                let mut v = vec![0.0; 80];
                (v[3], v[70], v[79]) = (1.0, -1.0, 1.0);
                v
            }),
        },
        Message::SpikeBatch {
            step: 13,
            shard: 0,
            bits: crate::message::BitPool::default().pack(3, 5, false, &[0.0; 15]),
        },
    ]
}

/// One report of every kind.
fn every_report(s: &Signal, b: &Signal, copy: &WeightCopy) -> Vec<ReportData> {
    let mut bag = StateBag::default();
    bag.tensor("w", vec![1.0, 2.0]);
    bag.scalar("steps", "17".to_owned());
    vec![
        ReportData::Predictions(s.clone()),
        ReportData::Energy(0.25),
        ReportData::SpikeCounts {
            spikes: 3,
            events: 300,
        },
        ReportData::Settled {
            layer: 2,
            shard: 1,
            settled: true,
        },
        ReportData::Fault {
            layer: 1,
            shard: 0,
            what: "weights",
            value: f32::INFINITY,
        },
        ReportData::Energies {
            layer: 3,
            values: b.clone(),
        },
        ReportData::Snapshot {
            layer: 1,
            offset: 128,
            copy: copy.clone(),
        },
        ReportData::Feedback {
            layer: 2,
            offset: 0,
            copy: copy.clone(),
        },
        ReportData::State {
            layer: 1,
            shard: 1,
            state: std::sync::Arc::new(bag),
        },
        ReportData::Gradient {
            layer: 2,
            offset: 5,
            weight: s.clone(),
            bias: b.clone(),
        },
        ReportData::Responses {
            offset: 40,
            counts: std::sync::Arc::new(vec![0, 3, 1]),
            spikes: 4,
            events: 400,
        },
        ReportData::TickCounts {
            layer: 2,
            counts: std::sync::Arc::new(vec![5, 0, 0, 7, 2, 1]),
        },
        ReportData::Raster {
            layer: 3,
            events: std::sync::Arc::new(vec![4, 9, 1, 5, 0, 2]),
        },
    ]
}

#[test]
fn every_message_round_trips_bit_for_bit() {
    let mut pool = SignalPool::default();
    for (i, msg) in every_message().iter().enumerate() {
        let mut bytes = Vec::new();
        encode(i, msg, &mut bytes);
        let Frame::Deliver { to, msg: back } = decode(&bytes, &mut pool).unwrap() else {
            panic!("not a delivery")
        };
        assert_eq!(to, i);
        let mut again = Vec::new();
        encode(i, &back, &mut again);
        assert_eq!(bytes, again, "{msg:?} -> {back:?}");
        let kind = crate::message::Payload::kind(msg);
        assert_eq!(
            (kind, crate::message::Payload::bytes(msg)),
            (
                crate::message::Payload::kind(&back),
                crate::message::Payload::bytes(&back)
            )
        );
    }
    let mut done = Vec::new();
    encode_done(&mut done);
    assert!(matches!(decode(&done, &mut pool), Ok(Frame::Done)));
}

#[test]
fn short_or_padded_frames_are_errors_not_panics() {
    let mut pool = SignalPool::default();
    for (i, msg) in every_message().iter().enumerate() {
        let mut bytes = Vec::new();
        encode(i, msg, &mut bytes);
        for cut in 0..bytes.len() {
            assert!(
                decode(&bytes[..cut], &mut pool).is_err(),
                "{msg:?} cut at {cut}"
            );
        }
        bytes.push(0);
        assert!(decode(&bytes, &mut pool).is_err());
    }
    let err = decode(&[7], &mut pool).unwrap_err().to_string();
    assert!(err.contains("unknown frame type 7"), "{err}");
}

#[test]
fn a_huge_length_prefix_is_refused_before_allocating() {
    let mut bytes = Vec::new();
    encode(0, &Message::Tick { tick: 1 }, &mut bytes);
    bytes[5] = 3; // a spike list
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    let err = decode(&bytes, &mut SignalPool::default()).unwrap_err();
    assert!(err.to_string().contains("runs past"), "{err}");
}

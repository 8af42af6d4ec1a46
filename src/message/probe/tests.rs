//! Tests of probes: taps, chunks and their assembly into arrays.
use super::*;

#[test]
fn taps_sample_their_window_and_the_store_assembles_columns() {
    let mut a = ProbeTap::new(0, ProbeVariable::V, (2, 1, 8), vec![0, 2], vec![0, 1]);
    let mut b = ProbeTap::new(0, ProbeVariable::V, (2, 1, 8), vec![1], vec![2]);
    let mut store = ProbeStore::new(&[("v".into(), ProbeVariable::V, vec![5, 6, 7])]);
    for t in 0..10 {
        for (tap, base) in [(&mut a, 0.0), (&mut b, 100.0)] {
            if tap.due(t) {
                assert!(tap.record(t, |i| base + t as f32 + i as f32).is_none());
            }
        }
    }
    store.add(a.take(true));
    store.add(b.take(true));
    assert_eq!(store.finished(), 2);
    let arr = &store.arrays()[0];
    assert_eq!(arr.times, vec![1, 3, 5, 7]);
    assert_eq!(&arr.values[..3], &[1.0, 3.0, 102.0]);
    assert_eq!(arr.values.len(), 12);
}

#[test]
fn a_full_tap_sends_a_chunk_and_scalars_sum_over_senders() {
    let mut tap = ProbeTap::new(
        0,
        ProbeVariable::FreeEnergy,
        (1, 0, u64::MAX),
        vec![],
        vec![],
    );
    let mut sent = 0;
    for t in 0..(CHUNK_SAMPLES as u64 * 2 + 3) {
        sent += usize::from(tap.record(t, |_| 1.0).is_some());
    }
    assert_eq!(sent, 2);
    // A neuron's tap gathers about a mebibyte: 2,621 samples of 100 neurons.
    let units: Vec<u32> = (0..100).collect();
    let mut v = ProbeTap::new(0, ProbeVariable::V, (1, 0, u64::MAX), units.clone(), units);
    let first = (0..10_000u64).position(|t| v.record_from(t, &[0.0; 100]).is_some());
    assert_eq!(first, Some(CHUNK_BYTES / 400 - 1));
    let mut store = ProbeStore::new(&[("f".into(), ProbeVariable::FreeEnergy, vec![])]);
    let c = tap.take(true);
    store.add(c.clone());
    store.add(c);
    assert_eq!(store.arrays()[0].values, vec![2.0; 3]);
    assert_eq!(
        ProbeVariable::parse("weight_norm"),
        Some(ProbeVariable::WeightNorm)
    );
}

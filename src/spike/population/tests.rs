//! Tests of population shards: delays and windows.
use super::*;
use crate::spike::lif::tests::above_threshold;

/// Advances a shard with no other shard and no edges; returns whether it ran to the end.
fn run_alone(shard: &mut Population) -> bool {
    let (mut outbox, mut tick, mut sleep) = (Vec::new(), None, None);
    let mut ctx = Context {
        outbox: &mut outbox,
        edges: 0,
        id: 0,
        worker_tick: &mut tick,
        sleep: &mut sleep,
    };
    shard.advance(&mut ctx)
}

/// A spike fired at tick `f` (time stamp: the end of tick `f`) through a synapse of delay
/// `d` reaches its target's current at the end of tick `f + d`, as in NEST's `iaf_psc_exp`,
/// so it first moves the membrane in tick `f + d + 1`: neuron 0 fires at tick 0; neuron 1,
/// which alone would not reach threshold for some 40 ticks, gets a kick strong enough to fire
/// it on the first tick the current acts: tick 5 (delay 4, one exchange window of 4 ticks).
#[test]
fn a_delayed_spike_lands_exactly_delay_ticks_later() {
    let ranges = vec![Range { start: 0, end: 2 }];
    let mut state = LifState::new(2, -50.3);
    state.v_mv[0] = -50.0; // fires at once (the rest is above threshold)
    let table = SynapseTable::for_shard_delayed(&[vec![1], vec![]], &[vec![4], vec![]], &(0..2));
    let coupling = Coupling {
        excitatory: 2,
        we_mv: 1000.0,
        wi_mv: 0.0,
    };
    let prop = above_threshold().propagator();
    let mut shard =
        Population::new(0, &ranges, state, prop, table, coupling, 12).with_windows(4, 4);
    assert!(run_alone(&mut shard), "one shard runs to the end alone");
    assert_eq!(shard.raster, vec![(0, 0), (5, 1)]);
    assert_eq!(shard.synaptic_events, 1);
}

/// A recurrent network with its own weights and delays, run as one shard that queues runs of
/// one delay and as one that queues every synapse: the same spikes at the same ticks, and the
/// same events, whether its rows are sorted by delay or not.
#[test]
fn runs_of_one_delay_give_the_spikes_of_synapse_by_synapse() {
    let n = 120;
    let mut rng = crate::math::rng::SeededRng::new(11);
    let (mut offsets, mut targets, mut delays, mut weights) = (vec![0u32], vec![], vec![], vec![]);
    for _ in 0..n {
        let k = 10 + rng.below(30) as usize;
        for _ in 0..k {
            targets.push(rng.below(n as u64) as u16);
            delays.push(2 + rng.below(9) as u16);
            weights.push((rng.normal() * 3.0) as f32);
        }
        offsets.push(targets.len() as u32);
    }
    let run = |sorted: bool, runs: bool| {
        let (mut t, mut d, mut w) = (targets.clone(), delays.clone(), weights.clone());
        if sorted {
            let mut scratch = super::RowScratch::default();
            for row in offsets.windows(2) {
                let r = row[0] as usize..row[1] as usize;
                let parts = (&mut t[r.clone()], &mut d[r.clone()], &mut w[r]);
                super::sort_row_by_delay(parts, 10, &mut scratch);
            }
        }
        let table = SynapseTable::from_rows(offsets.clone(), Targets::Narrow(t), Delays::of(d), w);
        let mut state = LifState::new(n, -55.0);
        for (k, v) in state.v_mv.iter_mut().enumerate() {
            *v = -60.0 + 10.0 * (k as f32 / n as f32);
        }
        let coupling = Coupling {
            excitatory: 0,
            we_mv: 0.0,
            wi_mv: 0.0,
        };
        let prop = above_threshold().propagator();
        let ranges = vec![Range { start: 0, end: n }];
        let mut shard =
            Population::new(0, &ranges, state, prop, table, coupling, 1000).with_ring(2, 10, runs);
        assert!(run_alone(&mut shard));
        (shard.raster, shard.synaptic_events)
    };
    let events = run(false, false);
    assert!(
        events.0.len() > 150 && events.1 > 3000,
        "{} spikes",
        events.0.len()
    );
    assert_eq!(run(false, true), events, "unsorted rows, runs");
    let sorted = run(true, false);
    assert_eq!(run(true, true), sorted, "sorted rows, runs");
}

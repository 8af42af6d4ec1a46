//! Tests of population shards: delays and windows.
use super::*;
use crate::spike::lif::tests::above_threshold;

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
    let (mut outbox, mut tick, mut sleep) = (Vec::new(), None, None);
    let mut ctx = Context {
        outbox: &mut outbox,
        edges: 0,
        id: 0,
        worker_tick: &mut tick,
        sleep: &mut sleep,
    };
    assert!(shard.advance(&mut ctx), "one shard runs to the end alone");
    assert_eq!(shard.raster, vec![(0, 0), (5, 1)]);
    assert_eq!(shard.synaptic_events, 1);
}

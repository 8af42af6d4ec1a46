//! Sparse plasticity against the closed form (one pair at lag `dt` changes `w` by
//! `A exp(-|dt| / tau)`), the same-tick convention, and a neuron actor's traces against a
//! shard's on the same spikes.

use proptest::prelude::*;

use super::*;
use crate::spike::plasticity::{StdpRule, TraceMode, WeightDependence};

const DT: f32 = 0.1;

fn pair(traces: TraceMode) -> Plasticity {
    Plasticity {
        rule: StdpRule::Pair {
            a_plus: 0.01,
            a_minus: 0.0105,
            tau_plus_ms: 20.0,
            tau_minus_ms: 20.0,
        },
        traces,
        dependence: WeightDependence::Additive,
        w_min: 0.0,
        w_max: 1.0,
    }
}

fn all(rule: Plasticity, n: u32) -> PlasticProjections {
    PlasticProjections {
        rule,
        projections: vec![Projection {
            pre: 0..n,
            post: 0..n,
            name: "E->E".into(),
        }],
    }
}

/// One synapse 0 -> 1 at `w0` in a two-neuron table; spikes of neuron 0 at `pre`, of 1 at
/// `post` (ticks), applied post before pre within a tick. The final weight.
fn one_synapse(rule: Plasticity, w0: f32, pre: &[u64], post: &[u64]) -> f32 {
    let (offsets, targets, mut weights) = (vec![0u32, 1, 1], vec![1u32], vec![w0]);
    let mut p = SparsePlasticity::new(&all(rule, 2), DT, (&offsets, &targets, &weights), 0, 2);
    assert_eq!(p.len(), 1);
    let end = pre.iter().chain(post).max().copied().unwrap_or(0);
    for t in 0..=end {
        if post.contains(&t) {
            p.post_spike(t, 1, &mut weights);
        }
        if pre.contains(&t) {
            p.pre_spike(t, 0, &targets, &mut weights);
        }
    }
    weights[0]
}

#[test]
fn one_pair_changes_the_weight_by_a_exp_minus_lag_over_tau() {
    for traces in [TraceMode::AllToAll, TraceMode::Nearest] {
        let p = pair(traces);
        for lag in [1u64, 10, 50, 200, 400] {
            let lag_ms = lag as f32 * DT;
            let ltp = one_synapse(p, 0.5, &[0], &[lag]) - 0.5;
            let want = 0.01 * (-lag_ms / 20.0).exp();
            assert!((ltp - want).abs() < 1e-6, "pre then post at {lag_ms} ms");
            let ltd = one_synapse(p, 0.5, &[lag], &[0]) - 0.5;
            let want = -0.0105 * (-lag_ms / 20.0).exp();
            assert!((ltd - want).abs() < 1e-6, "post then pre at {lag_ms} ms");
        }
    }
}

#[test]
fn a_pair_in_one_tick_counts_as_post_before_pre() {
    let w = one_synapse(pair(TraceMode::AllToAll), 0.5, &[7], &[7]);
    assert!((w - (0.5 - 0.0105)).abs() < 1e-7, "{w}");
}

#[test]
fn traces_vanish_after_the_table_ends() {
    let t = DecayTable::new(20.0, DT);
    assert_eq!(t.at(1.0, 0, 0), 1.0);
    assert!((t.at(1.0, 0, 200) - (-1.0f32).exp()).abs() < 1e-6);
    assert_eq!(t.at(1.0, 0, 1_000_000), 0.0);
    assert_eq!(DecayTable::new(0.0, DT).at(1.0, 0, 0), 0.0);
}

#[test]
fn bounds_hold_and_only_the_named_projection_learns() {
    // Neurons 0, 1 excitatory, 2 not: 0 -> 1 and 0 -> 2, only E -> E (0..2 -> 0..2) plastic.
    // Potentiation only (pre one tick before post, every other tick).
    let rule = Plasticity {
        rule: StdpRule::Pair {
            a_plus: 0.01,
            a_minus: 0.0,
            tau_plus_ms: 20.0,
            tau_minus_ms: 20.0,
        },
        w_max: 0.52,
        ..pair(TraceMode::AllToAll)
    };
    let (offsets, targets) = (vec![0u32, 2, 2, 2], vec![1u32, 2]);
    let mut weights = vec![0.5, 0.5];
    let mut p = SparsePlasticity::new(&all(rule, 2), DT, (&offsets, &targets, &weights), 0, 3);
    assert_eq!(p.len(), 1);
    for t in 0..50 {
        p.pre_spike(2 * t, 0, &targets, &mut weights);
        p.post_spike(2 * t + 1, 1, &mut weights);
        p.post_spike(2 * t + 1, 2, &mut weights);
    }
    assert_eq!(weights, vec![0.52, 0.5]);
    let f = p.figures(&weights);
    assert_eq!((f.synapses, f.max_end), (1, f64::from(0.52f32)));
    assert_eq!(f.histogram_end.iter().sum::<u64>(), 1);
}

proptest! {
    /// A neuron actor's traces give the weights and delivered values of a shard's table,
    /// bit for bit, on random spike trains (post before pre within a tick), for every rule.
    #[test]
    fn a_neuron_actor_learns_what_a_shard_learns(
        spikes in proptest::collection::vec((0u64..400, 0u32..5), 0..120),
        rule in 0usize..3,
    ) {
        let rule = match rule {
            0 => pair(TraceMode::AllToAll),
            1 => Plasticity { traces: TraceMode::Nearest, ..Plasticity::diehl_cook() },
            _ => Plasticity {
                rule: StdpRule::Presynaptic { eta: 0.001, x_target: 0.4, tau_pre_ms: 20.0 },
                ..pair(TraceMode::Nearest)
            },
        };
        // Neurons 0..4 all project onto neuron 4 (the actor); 4 is the postsynaptic one.
        let plastic = all(rule, 5);
        let offsets = vec![0u32, 1, 2, 3, 4, 4];
        let targets = vec![0u32; 4]; // local index of neuron 4 in a one-neuron shard
        let mut table_w = vec![0.3, 0.4, 0.5, 0.6];
        let mut shard = SparsePlasticity::new(&plastic, DT, (&offsets, &targets, &table_w), 4, 1);
        let mut actor = SynapseTraces::new(
            &plastic,
            Decays::new(&rule, DT),
            vec![0, 1, 2, 3],
            table_w.clone(),
        );
        let mut spikes = spikes;
        spikes.sort_unstable();
        spikes.dedup();
        for (t, group) in spikes.chunk_by(|a, b| a.0 == b.0).map(|g| (g[0].0, g)) {
            if group.iter().any(|s| s.1 == 4) {
                shard.post_spike(t, 0, &mut table_w);
                actor.post_spike(t);
            }
            for &(_, j) in group.iter().filter(|s| s.1 < 4) {
                let before = table_w[j as usize];
                shard.pre_spike(t, j, &targets, &mut table_w);
                prop_assert_eq!(actor.pre_spike(t, j), Some(before));
            }
        }
        let bits = |w: &[f32]| w.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        prop_assert_eq!(bits(actor.weights().1), bits(&table_w));
        for &w in &table_w {
            prop_assert!((rule.w_min..=rule.w_max).contains(&w));
        }
    }
}

//! The rules against their closed forms: one pre/post pair at lag `dt` changes `w` by
//! exactly `A exp(-|dt| / tau)` (Brian2's STDP example), bounds hold, bad constants are
//! refused.

use super::*;
use crate::spike::plasticity::DenseProjection;

const DT: f32 = 0.1;

fn pair(dependence: WeightDependence, traces: TraceMode) -> Plasticity {
    Plasticity {
        rule: StdpRule::Pair {
            a_plus: 0.01,
            a_minus: 0.0105,
            tau_plus_ms: 20.0,
            tau_minus_ms: 20.0,
        },
        traces,
        dependence,
        w_min: 0.0,
        w_max: 1.0,
    }
}

/// One synapse at `w0`; spikes at the given ticks (`pre`, `post`); the final weight.
fn run(p: Plasticity, w0: f32, pre: &[u32], post: &[u32]) -> f32 {
    let mut d = DenseProjection::new(1, 1, vec![w0]).with_plasticity(p, DT);
    let mut g = [0.0];
    let end = pre.iter().chain(post).max().copied().unwrap_or(0);
    for t in 0..=end {
        d.decay();
        if pre.contains(&t) {
            d.deliver(&[0], &mut g, true);
        }
        if post.contains(&t) {
            d.post_spikes(&[0], true);
        }
    }
    d.weights()[0]
}

#[test]
fn one_pair_changes_the_weight_by_a_exp_minus_lag_over_tau() {
    let p = pair(WeightDependence::Additive, TraceMode::AllToAll);
    for lag in [1u32, 10, 50, 200, 400] {
        let lag_ms = lag as f32 * DT;
        let ltp = run(p, 0.5, &[0], &[lag]) - 0.5;
        let want = 0.01 * (-lag_ms / 20.0).exp();
        assert!(
            (ltp - want).abs() < 1e-6,
            "pre then post at {lag_ms} ms: {ltp} vs {want}"
        );
        let ltd = run(p, 0.5, &[lag], &[0]) - 0.5;
        let want = -0.0105 * (-lag_ms / 20.0).exp();
        assert!(
            (ltd - want).abs() < 1e-6,
            "post then pre at {lag_ms} ms: {ltd} vs {want}"
        );
    }
}

#[test]
fn weight_dependence_scales_the_change() {
    let lag = 50;
    let e = (-(lag as f32) * DT / 20.0).exp();
    let mult = pair(WeightDependence::Multiplicative, TraceMode::AllToAll);
    let dw = run(mult, 0.8, &[0], &[lag]) - 0.8;
    assert!((dw - 0.01 * 0.2 * e).abs() < 1e-6, "{dw}");
    let dw = run(mult, 0.8, &[lag], &[0]) - 0.8;
    assert!((dw + 0.0105 * 0.8 * e).abs() < 1e-6, "{dw}");
    let pow = pair(WeightDependence::PowerLaw { mu: 0.5 }, TraceMode::AllToAll);
    let dw = run(pow, 0.75, &[0], &[lag]) - 0.75;
    assert!((dw - 0.01 * 0.25f32.sqrt() * e).abs() < 1e-6, "{dw}");
}

#[test]
fn all_to_all_traces_add_and_nearest_ones_do_not() {
    // Two pre spikes 1 and 2 ms before a post spike.
    let lags = [20.0f32, 10.0];
    let all = run(
        pair(WeightDependence::Additive, TraceMode::AllToAll),
        0.5,
        &[0, 10],
        &[20],
    );
    let want: f32 = lags.iter().map(|l| 0.01 * (-l * DT / 20.0).exp()).sum();
    assert!((all - 0.5 - want).abs() < 1e-6);
    let near = run(
        pair(WeightDependence::Additive, TraceMode::Nearest),
        0.5,
        &[0, 10],
        &[20],
    );
    assert!((near - 0.5 - 0.01 * (-10.0 * DT / 20.0f32).exp()).abs() < 1e-6);
}

#[test]
fn triplet_potentiation_grows_with_the_post_spike_before() {
    let p = Plasticity {
        rule: StdpRule::Triplet {
            a2_plus: 0.005,
            a3_plus: 0.006,
            a2_minus: 0.007,
            a3_minus: 0.0,
            tau_plus_ms: 16.8,
            tau_x_ms: 101.0,
            tau_minus_ms: 33.7,
            tau_y_ms: 125.0,
        },
        traces: TraceMode::AllToAll,
        dependence: WeightDependence::Additive,
        w_min: 0.0,
        w_max: 1.0,
    };
    // post (t=0), pre (t=10 ms), post (t=20 ms): the second post's potentiation carries
    // A3+ o2' with o2' = exp(-20/125); the pre spike's depression A2- o1 with o1 = exp(-10/33.7).
    let w = run(p, 0.5, &[100], &[0, 200]);
    let r1 = (-10.0f32 / 16.8).exp();
    let want =
        0.5 - 0.007 * (-10.0f32 / 33.7).exp() + r1 * (0.005 + 0.006 * (-20.0f32 / 125.0).exp());
    assert!((w - want).abs() < 1e-6, "{w} vs {want}");
}

#[test]
fn presynaptic_rule_depresses_below_the_target_trace() {
    let p = Plasticity {
        rule: StdpRule::Presynaptic {
            eta: 0.01,
            x_target: 0.4,
            tau_pre_ms: 20.0,
        },
        traces: TraceMode::Nearest,
        dependence: WeightDependence::Additive,
        w_min: 0.0,
        w_max: 1.0,
    };
    let close = run(p, 0.5, &[0], &[10]) - 0.5; // x = exp(-1/20) > 0.4
    assert!((close - 0.01 * ((-1.0f32 / 20.0).exp() - 0.4)).abs() < 1e-6);
    let far = run(p, 0.5, &[0], &[400]) - 0.5; // x = exp(-2) < 0.4
    assert!((far - 0.01 * ((-2.0f32).exp() - 0.4)).abs() < 1e-6);
    assert!(far < 0.0);
}

#[test]
fn bounds_hold_under_any_spike_train() {
    let mut p = pair(WeightDependence::Additive, TraceMode::AllToAll);
    p.rule = StdpRule::Pair {
        a_plus: 0.5,
        a_minus: 0.6,
        tau_plus_ms: 20.0,
        tau_minus_ms: 20.0,
    };
    let mut rng = crate::math::rng::SeededRng::new(3);
    for _ in 0..50 {
        let spikes = |rng: &mut crate::math::rng::SeededRng| -> Vec<u32> {
            (0..300).filter(|_| rng.uniform() < 0.1).collect()
        };
        let (pre, post) = (spikes(&mut rng), spikes(&mut rng));
        let w = run(p, rng.uniform() as f32, &pre, &post);
        assert!((0.0..=1.0).contains(&w), "{w}");
    }
}

#[test]
fn bad_constants_are_refused_by_name() {
    let mut p = pair(WeightDependence::Additive, TraceMode::AllToAll);
    p.w_min = 1.0;
    assert_eq!(p.validate().map_err(|e| e.key), Err("w_min"));
    let mut p = pair(WeightDependence::Additive, TraceMode::AllToAll);
    p.rule = StdpRule::Pair {
        a_plus: f32::NAN,
        a_minus: 0.1,
        tau_plus_ms: 20.0,
        tau_minus_ms: 20.0,
    };
    assert_eq!(p.validate().map_err(|e| e.key), Err("a_plus"));
    let mut p = pair(WeightDependence::Additive, TraceMode::AllToAll);
    p.rule = StdpRule::Pair {
        a_plus: 0.1,
        a_minus: 0.1,
        tau_plus_ms: 0.0,
        tau_minus_ms: 20.0,
    };
    assert_eq!(p.validate().map_err(|e| e.key), Err("tau_plus_ms"));
    assert!(Plasticity::diehl_cook().validate().is_ok());
}

#[test]
fn normalisation_makes_each_column_sum_to_the_target() {
    let mut d = DenseProjection::new(3, 2, vec![1.0, 0.0, 2.0, 0.0, 1.0, 0.0]);
    d.normalise(8.0, &mut Vec::new());
    assert_eq!(d.weights(), &[2.0, 0.0, 4.0, 0.0, 2.0, 0.0]);
}

//! The LIF maths against closed forms and the population's own arithmetic.

use super::*;

proptest::proptest! {
    /// A neuron stepped alone ([`Propagator::step`]) follows the population's trajectory
    /// ([`Propagator::tick`]) bit for bit, spikes and refractoriness included.
    #[test]
    fn one_neuron_steps_as_the_population_does(
        v in -80.0f32..-40.0,
        ge in -5.0f32..5.0,
        gi in -5.0f32..5.0,
        kicks in proptest::collection::vec(-3.0f32..6.0, 1..200),
        above in proptest::bool::ANY,
    ) {
        let params = if above { above_threshold() } else { params() };
        let p = params.propagator();
        let mut one = LifNeuron { v_mv: v, ge_mv: ge, gi_mv: gi, hold: 0 };
        let mut all = LifState::new(1, v);
        all.ge_mv[0] = ge;
        all.gi_mv[0] = gi;
        let mut fired = Vec::new();
        for k in kicks {
            fired.clear();
            p.tick(&mut all, &[], 0, &mut fired);
            let spiked = p.step(&mut one);
            proptest::prop_assert_eq!(spiked, !fired.is_empty());
            proptest::prop_assert_eq!(one.v_mv.to_bits(), all.v_mv[0].to_bits());
            proptest::prop_assert_eq!(one.ge_mv.to_bits(), all.ge_mv[0].to_bits());
            proptest::prop_assert_eq!(one.gi_mv.to_bits(), all.gi_mv[0].to_bits());
            proptest::prop_assert_eq!(one.hold, all.hold[0]);
            one.ge_mv += k;
            all.ge_mv[0] += k;
        }
    }
}

/// Neurons that rest above threshold, with a refractory period (as CUBA's, Brette et al. 2007).
pub(crate) fn above_threshold() -> LifParams {
    LifParams {
        tau_m_ms: 20.0,
        v_rest_mv: -49.0,
        v_reset_mv: -60.0,
        refractory_ms: 5.0,
        ..params()
    }
}

fn params() -> LifParams {
    LifParams {
        tau_m_ms: 10.0,
        tau_e_ms: 5.0,
        tau_i_ms: 10.5,
        v_rest_mv: -70.0,
        v_threshold_mv: -50.0,
        v_reset_mv: -70.0,
        refractory_ms: 0.0,
        dt_ms: 0.1,
        reset: Reset::ToValue,
    }
}

/// Under a constant drive I (in mV) from rest, v(t) = rest + I (1 - e^{-t/tau}); it crosses
/// the threshold at t* = tau ln(I / (I - (thr - rest))).
#[test]
fn time_to_first_spike_under_constant_current_is_analytic() {
    let p = params();
    let prop = p.propagator();
    for drive in [25.0f64, 30.0, 60.0] {
        let mut s = LifState::new(1, p.v_rest_mv as f32);
        let mut fired = Vec::new();
        let mut tick = 0;
        while fired.is_empty() && tick < 100_000 {
            prop.tick(&mut s, &[drive as f32], 0, &mut fired);
            tick += 1;
        }
        let t_star = p.tau_m_ms * (drive / (drive - 20.0)).ln();
        let t = tick as f64 * p.dt_ms;
        assert!(
            t >= t_star && t < t_star + p.dt_ms + 1e-9,
            "drive {drive}: fired at {t} ms, analytic {t_star} ms"
        );
    }
}

/// A ring with a synaptic delay of `d` ticks: cell 0 starts above threshold, each spike
/// reaches the next cell `d` ticks later and is strong enough to make it fire within that
/// tick, so cell i fires at tick i x d (and only then: the refractory period outlasts the run).
#[test]
fn ring_fires_cell_i_at_tick_i_times_delay() {
    let p = LifParams {
        refractory_ms: 10.0,
        ..params()
    };
    let prop = p.propagator();
    let (n, d) = (20usize, 3usize);
    let mut s = LifState::new(n, p.v_rest_mv as f32);
    s.v_mv[0] = -40.0;
    // in_flight[t % d]: cells that receive a spike at tick t.
    let mut in_flight: Vec<Vec<u32>> = vec![Vec::new(); d];
    let mut first = vec![None; n];
    let mut fired = Vec::new();
    for t in 0..n * d + 10 {
        for j in std::mem::take(&mut in_flight[t % d]) {
            s.ge_mv[j as usize] += 5000.0;
        }
        fired.clear();
        prop.tick(&mut s, &[], 0, &mut fired);
        for &i in &fired {
            assert!(first[i as usize].is_none(), "cell {i} fired twice");
            first[i as usize] = Some(t);
            if (i as usize) + 1 < n {
                in_flight[t % d].push(i + 1);
            }
        }
    }
    let want: Vec<Option<usize>> = (0..n).map(|i| Some(i * d)).collect();
    assert_eq!(first, want);
}

/// With no input, exact integration decays v towards rest by e^{-t/tau_m} and the
/// synaptic current by e^{-t/tau_e}, whatever the tick.
#[test]
fn exact_integration_matches_the_closed_form() {
    let mut p = params();
    p.v_threshold_mv = 1000.0;
    let prop = p.propagator();
    let mut s = LifState::new(1, -60.0);
    s.ge_mv[0] = 4.0;
    let mut fired = Vec::new();
    for _ in 0..200 {
        prop.tick(&mut s, &[], 0, &mut fired);
    }
    let t = 20.0f64;
    let (tm, te) = (p.tau_m_ms, p.tau_e_ms);
    let want =
        -70.0 + 10.0 * (-t / tm).exp() + 4.0 * te / (te - tm) * ((-t / te).exp() - (-t / tm).exp());
    assert!(
        (f64::from(s.v_mv[0]) - want).abs() < 1e-4,
        "{} vs {want}",
        s.v_mv[0]
    );
    assert!((f64::from(s.ge_mv[0]) - 4.0 * (-t / te).exp()).abs() < 1e-5);
}

#[test]
fn refractory_holds_v_and_subtract_reset_keeps_the_overshoot() {
    let mut p = params();
    p.refractory_ms = 0.5; // 5 ticks: held for ticks n+1 .. n+4
    assert_eq!(p.refractory_ticks(), 4);
    let prop = p.propagator();
    let mut s = LifState::new(1, -49.0);
    let mut fired = Vec::new();
    prop.tick(&mut s, &[100.0], 0, &mut fired);
    assert_eq!(fired, vec![0]);
    for _ in 0..4 {
        prop.tick(&mut s, &[100.0], 0, &mut fired);
        assert_eq!(s.v_mv[0], -70.0, "held");
    }
    prop.tick(&mut s, &[100.0], 0, &mut fired);
    assert!(s.v_mv[0] > -70.0, "integrates again");
    p.reset = Reset::Subtract;
    let prop = p.propagator();
    let mut s = LifState::new(1, -45.0);
    fired.clear();
    prop.tick(&mut s, &[], 7, &mut fired);
    assert_eq!(fired, vec![7]);
    assert!(s.v_mv[0] > -70.0 && s.v_mv[0] < -60.0, "{}", s.v_mv[0]);
}

#[test]
fn bad_parameters_are_named() {
    let mut p = above_threshold();
    assert_eq!(p.validate(), Ok(()));
    p.tau_m_ms = f64::NAN;
    assert_eq!(p.validate().expect_err("nan").name, "tau_m_ms");
    let mut p = above_threshold();
    p.tau_e_ms = p.tau_m_ms;
    assert_eq!(p.validate().expect_err("equal").name, "tau_e_ms");
}

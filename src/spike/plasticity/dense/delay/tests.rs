//! The delay line against what it stands for: with every delay 0 it gives the numbers of the
//! projection without one, a spike arrives and learns `d` ticks late (the closed form with
//! the lag from its arrival), and a saved line continues to the same weights.

use super::*;
use crate::math::rng::SeededRng;
use crate::spike::plasticity::{Plasticity, StdpRule, TraceMode, WeightDependence};

const DT: f32 = 0.5;

/// Rules that exercise every branch: Diehl & Cook's, a triplet rule with both triplet terms
/// (r2 and o2 read), and the presynaptic rule (every row potentiated).
fn rules() -> Vec<Plasticity> {
    let dc = Plasticity::diehl_cook();
    let full = Plasticity {
        rule: StdpRule::Triplet {
            a2_plus: 0.005,
            a3_plus: 0.01,
            a2_minus: 0.007,
            a3_minus: 0.002,
            tau_plus_ms: 17.0,
            tau_x_ms: 100.0,
            tau_minus_ms: 34.0,
            tau_y_ms: 125.0,
        },
        traces: TraceMode::AllToAll,
        dependence: WeightDependence::Multiplicative,
        ..dc
    };
    let pre = Plasticity {
        rule: StdpRule::Presynaptic {
            eta: 0.001,
            x_target: 0.4,
            tau_pre_ms: 20.0,
        },
        ..dc
    };
    vec![dc, full, pre]
}

/// Random spikes: `(inputs, neurons)` fired at each of `ticks`, from `seed`.
fn spikes(n_pre: usize, n_post: usize, ticks: usize, seed: u64) -> Vec<(Vec<u32>, Vec<u32>)> {
    let mut rng = SeededRng::stream(seed, "delay-line-test");
    let mut draw =
        |n: usize, p: f64| -> Vec<u32> { (0..n as u32).filter(|_| rng.uniform() < p).collect() };
    (0..ticks)
        .map(|_| (draw(n_pre, 0.1), draw(n_post, 0.05)))
        .collect()
}

/// Runs `d` over `train` from tick `t0` (learning off from tick 150 to 200); the
/// conductances it delivered.
fn drive(d: &mut DenseProjection, train: &[(Vec<u32>, Vec<u32>)], t0: usize) -> Vec<f32> {
    let mut g = vec![0.0; d.n_post()];
    for (t, (pre, post)) in train.iter().enumerate() {
        let t = t0 + t;
        let learn = !(150..200).contains(&t);
        d.decay();
        d.deliver(pre, &mut g, learn);
        d.post_spikes(post, learn);
        g.iter_mut().for_each(|x| *x *= 0.9);
    }
    g
}

fn projection(n_pre: usize, n_post: usize, p: Plasticity) -> DenseProjection {
    let mut rng = SeededRng::stream(7, "delay-line-weights");
    // Some weights above w_max: a clip changes them, so a visit the other side skips shows.
    let w = (0..n_pre * n_post)
        .map(|_| (rng.uniform() * 1.2) as f32)
        .collect();
    DenseProjection::new(n_pre, n_post, w).with_plasticity(p, DT)
}

#[test]
fn a_line_of_zero_delays_gives_the_numbers_without_one() {
    let (n_pre, n_post) = (30, 7);
    let train = spikes(n_pre, n_post, 400, 1);
    for p in rules() {
        let mut plain = projection(n_pre, n_post, p);
        let mut lined = projection(n_pre, n_post, p);
        lined.install_line(vec![0; n_pre * n_post]);
        let (g1, g2) = (drive(&mut plain, &train, 0), drive(&mut lined, &train, 0));
        assert_eq!(plain.weights(), lined.weights(), "{p:?}");
        assert_eq!(g1, g2);
        assert_eq!(plain.traces()[2..], lined.traces()[2..]);
        assert_ne!(plain.weights(), projection(n_pre, n_post, p).weights());
    }
}

fn pair() -> Plasticity {
    Plasticity {
        rule: StdpRule::Pair {
            a_plus: 0.01,
            a_minus: 0.0105,
            tau_plus_ms: 20.0,
            tau_minus_ms: 20.0,
        },
        traces: TraceMode::AllToAll,
        dependence: WeightDependence::Additive,
        w_min: 0.0,
        w_max: 1.0,
    }
}

/// One input onto two neurons with delays 0 and 4 ticks; the input fires at tick 0, `post`
/// lists (tick, neuron). The weights and each tick's conductances.
fn one_input(post: &[(u32, u32)]) -> (Vec<f32>, Vec<Vec<f32>>) {
    let mut d = DenseProjection::new(1, 2, vec![0.5, 0.5])
        .with_delays(vec![0, 4])
        .with_plasticity(pair(), DT);
    let mut seen = Vec::new();
    for t in 0..12 {
        let mut g = vec![0.0; 2];
        d.decay();
        d.deliver(if t == 0 { &[0] } else { &[] }, &mut g, true);
        let fired: Vec<u32> = post.iter().filter(|p| p.0 == t).map(|p| p.1).collect();
        d.post_spikes(&fired, true);
        seen.push(g);
    }
    (d.weights().to_vec(), seen)
}

#[test]
fn a_delayed_spike_arrives_and_learns_d_ticks_late() {
    let (_, g) = one_input(&[]);
    let at: Vec<(usize, usize)> = (0..12)
        .flat_map(|t| (0..2).map(move |j| (t, j)))
        .filter(|&(t, j)| g[t][j] != 0.0)
        .collect();
    assert_eq!(
        at,
        [(0, 0), (4, 1)],
        "neuron 1's synapse delivers 4 ticks late"
    );
    let decay = |ticks: f32| (-ticks * DT / 20.0).exp();
    // Both neurons fire at tick 6: the lag is 6 ticks for neuron 0, 2 from the arrival for 1.
    let (w, _) = one_input(&[(6, 0), (6, 1)]);
    assert!((w[0] - 0.5 - 0.01 * decay(6.0)).abs() < 1e-7, "{w:?}");
    assert!((w[1] - 0.5 - 0.01 * decay(2.0)).abs() < 1e-7, "{w:?}");
    // Neuron 1 fires at tick 1, before the spike reaches it: depression at the arrival, 3
    // ticks later; neuron 0 got it at tick 0, so its pair is pre then post.
    let (w, _) = one_input(&[(1, 0), (1, 1)]);
    assert!((w[0] - 0.5 - 0.01 * decay(1.0)).abs() < 1e-7, "{w:?}");
    assert!((w[1] - 0.5 + 0.0105 * decay(3.0)).abs() < 1e-7, "{w:?}");
}

#[test]
fn a_saved_line_continues_to_the_same_weights() {
    let (n_pre, n_post) = (20, 6);
    let train = spikes(n_pre, n_post, 300, 2);
    let mut rng = SeededRng::stream(3, "delay-line-delays");
    let delay: Vec<u8> = (0..n_pre * n_post).map(|_| rng.below(21) as u8).collect();
    let p = Plasticity::diehl_cook();
    let fresh = || projection(n_pre, n_post, p).with_delays(delay.clone());
    let mut whole = fresh();
    drive(&mut whole, &train, 0);
    // Stop mid-flight (spikes still on their way), save, restore into a fresh one, go on.
    let mut first = fresh();
    drive(&mut first, &train[..137], 0);
    let mut bag = StateBag::default();
    first.save_line(&mut bag);
    let line = first.line.as_ref().unwrap();
    assert!(
        (1..=20).any(|back| line.count[line.slot(back)] > 0),
        "spikes on their way"
    );
    let mut resumed = fresh();
    resumed.weights_mut().copy_from_slice(first.weights());
    resumed.set_traces(first.traces().map(<[f32]>::to_vec));
    resumed.restore_line(&bag).unwrap();
    drive(&mut resumed, &train[137..], 137);
    assert_eq!(whole.weights(), resumed.weights());
    assert_ne!(fresh().weights(), resumed.weights());
}

/// Per-synapse traces and a queue of arrivals, as Brian 1's delayed STDP keeps them: the
/// weights after `train` with `delay` (the line stands for this).
fn per_synapse(
    p: Plasticity,
    w: &mut [f32],
    delay: &[u8],
    n_post: usize,
    train: &[(Vec<u32>, Vec<u32>)],
) {
    let f = |tau: f32| if tau > 0.0 { (-DT / tau).exp() } else { 0.0 };
    let ((pre_tau, post_tau), n) = (p.taus(), w.len());
    let (mut r, mut o) = (
        [vec![0.0f32; n], vec![0.0; n]],
        [vec![0.0f32; n_post], vec![0.0; n_post]],
    );
    let mut queue: Vec<(usize, usize)> = Vec::new(); // (arrival tick, synapse)
    for (t, (pre, post)) in train.iter().enumerate() {
        for k in 0..2 {
            r[k].iter_mut().for_each(|x| *x = flush(*x * f(pre_tau[k])));
            o[k].iter_mut()
                .for_each(|x| *x = flush(*x * f(post_tau[k])));
        }
        for &i in pre {
            let i = i as usize;
            queue.extend((0..n_post).map(|j| (t + delay[i * n_post + j] as usize, i * n_post + j)));
        }
        for &(_, s) in queue.iter().filter(|q| q.0 == t) {
            let j = s % n_post;
            if p.depresses() && (o[0][j] != 0.0 || o[1][j] != 0.0) {
                let r2 = if pre_tau[1] > 0.0 { r[1][s] } else { 0.0 };
                w[s] = p.clip(w[s] - p.f_minus(w[s]) * p.pre_factor(o[0][j], r2));
            }
            for rk in r.iter_mut() {
                rk[s] = p.jump(rk[s]);
            }
        }
        queue.retain(|q| q.0 > t);
        for &j in post {
            let j = j as usize;
            let o2 = if post_tau[1] > 0.0 { o[1][j] } else { 0.0 };
            for i in 0..n / n_post {
                let s = i * n_post + j;
                w[s] = p.clip(w[s] + p.f_plus(w[s]) * p.post_factor(r[0][s], o2));
            }
            for ok in o.iter_mut() {
                ok[j] = p.jump(ok[j]);
            }
        }
    }
}

#[test]
fn the_line_learns_what_per_synapse_traces_learn() {
    let (n_pre, n_post) = (25, 6);
    let train = spikes(n_pre, n_post, 500, 4);
    let mut rng = SeededRng::stream(5, "delay-line-delays");
    let delay: Vec<u8> = (0..n_pre * n_post).map(|_| rng.below(21) as u8).collect();
    for p in rules() {
        let w0: Vec<f32> = (0..n_pre * n_post).map(|_| rng.uniform() as f32).collect();
        let mut lined = DenseProjection::new(n_pre, n_post, w0.clone())
            .with_delays(delay.clone())
            .with_plasticity(p, DT);
        let mut g = vec![0.0; n_post];
        for (pre, post) in &train {
            lined.decay();
            lined.deliver(pre, &mut g, true);
            lined.post_spikes(post, true);
        }
        let mut w = w0.clone();
        per_synapse(p, &mut w, &delay, n_post, &train);
        assert_eq!(lined.weights(), &w[..], "{p:?}");
        assert_ne!(&w0, &w);
    }
}

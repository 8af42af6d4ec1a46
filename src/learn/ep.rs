//! Equilibrium propagation (Scellier & Bengio 2017) and its continual form C-EP (Ernoult,
//! Grollier, Querlioz, Bengio, Scellier 2020): the energy, one relaxation step of a layer, the
//! contrastive update, and [`EpNet`], a synchronous single-thread model of the same equations
//! (the reference the layer actors are tested against, and the subject of the gradient check).
//!
//! The network is a layered Hopfield net over states `s_1 .. s_L` (`s_0 = x`, clamped), with
//! `rho` the activation and `h_l = W_l rho(s_{l-1}) + b_l` the drive from below:
//! ```text
//! E(s) = sum_l [ 1/2 ||s_l||^2 - rho(s_l) . h_l ]        C(s) = 1/2 ||y - s_L||^2
//! F    = E + beta C
//! step: s_l <- s_l + eps ( rho'(s_l) (h_l + rho(s_{l+1}) W_{l+1}) - s_l )  [+ eps beta (y - s_L)]
//! ```
//! (explicit Euler at rate `eps` on `-dF/ds`; with the hard sigmoid the state is projected
//! back onto `[0, 1]` after each step and `rho' = 1` inside, as in Scellier & Bengio's code).
//! A free phase of `T` steps from zero reaches `s^0`; a nudged phase of `K` steps with the
//! output nudge reaches `s^beta`. The update of the synapses `W_l` (held by layer `l`) is
//! ```text
//! EP:    dW_l = lr_l / beta * ( rho(s_l^b) rho(s_{l-1}^b)^T - rho(s_l^0) rho(s_{l-1}^0)^T )
//! C-EP:  the same product's change over every nudged step, applied at that step
//! ```
//! averaged over the batch, and `db_l` likewise with `rho(s_l)`. Both sides of a connection
//! see both activities (they are the messages), so the copy `B_l = W_{l+1}^T` that layer `l`
//! feeds back through can take exactly the same update (Kolen-Pollack): no weight travels.

use crate::math::activation::Activation;
use crate::math::matrix::{matmul, MatView, Matrix, Threads};
use crate::math::mlp::DenseLayer;

/// What the actors of an equilibrium-propagation run agree on (`algorithm.kind = "ep"` or
/// `"cep"`).
#[derive(Clone, Debug, PartialEq)]
pub struct EpConfig {
    /// C-EP: apply the update's change at every nudged step (weights move during the phase).
    pub continual: bool,
    /// Steps of the free phase `T`.
    pub free_steps: usize,
    /// Steps of the nudged phase `K`.
    pub nudged_steps: usize,
    /// Nudging strength `beta` (> 0; its sign may flip per batch).
    pub beta: f32,
    /// Draw the sign of `beta` at random per training batch (Scellier & Bengio).
    pub random_sign_beta: bool,
    /// Relaxation rate `eps` of a step.
    pub step: f32,
    /// Learning rate of each weight layer `W_1 .. W_L` (before the schedule).
    pub layer_lr: Vec<f32>,
}

impl EpConfig {
    /// Steps a training batch spans: the free phase, the nudged phase and the final state.
    pub fn train_span(&self) -> usize {
        self.free_steps + self.nudged_steps + 1
    }
}

/// `out = rho(s)` elementwise.
pub fn activate(rho: Activation, s: &[f32], out: &mut [f32]) {
    rho.apply_slice(s, out);
}

/// One relaxation step of a layer: `s += eps (rho'(s) drive - s) [+ eps force]`, then
/// `r = rho(s)`. `drive` is everything the layer hears (`h_l` plus feedback from above);
/// `force` is the output's nudge `beta (y - s)`. Returns the largest change of a state.
pub fn relax(
    rho: Activation,
    eps: f32,
    s: &mut [f32],
    r: &mut [f32],
    drive: &[f32],
    force: Option<&[f32]>,
) -> f32 {
    let mut moved = 0.0f32;
    let mut one = |s: &mut f32, r: &mut f32, d: f32, f: f32| {
        let old = *s;
        let new = match rho {
            // Projected onto [0, 1], where rho' = 1 (Scellier & Bengio's clipped dynamics).
            Activation::HardSigmoid => (old + eps * (d - old + f)).clamp(0.0, 1.0),
            _ => old + eps * (rho.derivative(old, *r) * d - old + f),
        };
        moved = moved.max((new - old).abs());
        *s = new;
        *r = rho.apply(new);
    };
    match force {
        Some(force) => {
            for (((s, r), &d), &f) in s.iter_mut().zip(r.iter_mut()).zip(drive).zip(force) {
                one(s, r, d, f);
            }
        }
        None => {
            for ((s, r), &d) in s.iter_mut().zip(r.iter_mut()).zip(drive) {
                one(s, r, d, 0.0);
            }
        }
    }
    moved
}

/// The output's nudge `beta (y - s)` for one-hot targets `labels`, into `force`.
pub fn nudge(beta: f32, s: &Matrix, labels: &[u8], force: &mut Matrix) {
    force.set_rows(s.rows());
    for (row, &y) in labels.iter().enumerate() {
        for (k, (f, &v)) in force.row_mut(row).iter_mut().zip(s.row(row)).enumerate() {
            let target = if k == usize::from(y) { 1.0 } else { 0.0 };
            *f = beta * (target - v);
        }
    }
}

/// A layer's share of the energy, summed over the batch: `1/2 ||s||^2 - rho(s) . h`, with
/// `h = W rho(below) + b` its drive from below (so each pair of layers is counted once).
pub fn layer_energy(s: &[f32], r: &[f32], h: &[f32]) -> f32 {
    s.iter()
        .zip(r)
        .zip(h)
        .map(|((&s, &r), &h)| 0.5 * s * s - r * h)
        .sum()
}

/// The cost `1/2 ||y - s||^2` summed over the batch.
pub fn cost(s: &Matrix, labels: &[u8]) -> f32 {
    let mut total = 0.0;
    for (row, &y) in labels.iter().enumerate() {
        for (k, &v) in s.row(row).iter().enumerate() {
            let d = if k == usize::from(y) { 1.0 - v } else { -v };
            total += 0.5 * d * d;
        }
    }
    total
}

/// The contrastive estimate of `dLoss/dW` that an optimiser descends:
/// `grad = -scale (post^T pre - post0^T pre0)` (`post`: the layer's own `rho(s)`, `pre`: the
/// layer below's).
pub fn contrast(
    grad: &mut Matrix,
    (post, pre): (MatView<'_>, MatView<'_>),
    (post0, pre0): (MatView<'_>, MatView<'_>),
    scale: f32,
) {
    matmul(grad, post.t(), pre, -scale, false, Threads::ONE);
    matmul(grad, post0.t(), pre0, scale, true, Threads::ONE);
}

/// [`contrast`] when both products share the layer below (layer 1's clamped input):
/// `grad = -scale (post - post0)^T pre`, one product instead of two; `diff` is scratch space.
pub fn contrast_clamped(
    grad: &mut Matrix,
    diff: &mut Matrix,
    (post, post0): (&Matrix, &Matrix),
    pre: MatView<'_>,
    scale: f32,
) {
    diff.set_rows(post.rows());
    for ((d, &a), &b) in diff
        .as_mut_slice()
        .iter_mut()
        .zip(post.as_slice())
        .zip(post0.as_slice())
    {
        *d = a - b;
    }
    matmul(grad, diff.view().t(), pre, -scale, false, Threads::ONE);
}

/// The bias part of [`contrast`]: `grad_b = -scale sum_rows (post - post0)`.
pub fn contrast_bias(grad_b: &mut [f32], post: &Matrix, post0: &Matrix, scale: f32) {
    grad_b.fill(0.0);
    for row in 0..post.rows() {
        for ((g, &a), &b) in grad_b.iter_mut().zip(post.row(row)).zip(post0.row(row)) {
            *g -= scale * (a - b);
        }
    }
}

/// Plain SGD, `param -= lr grad` (the same operations as the optimiser's `sgd`).
fn sgd(param: &mut [f32], grad: &[f32], lr: f32) {
    for (p, &g) in param.iter_mut().zip(grad) {
        *p -= lr * g;
    }
}

/// `drive = below W^T + b` for a layer (its drive from below).
pub fn drive_from_below(drive: &mut Matrix, below: MatView<'_>, w: MatView<'_>, bias: &[f32]) {
    drive.set_rows(below.rows());
    matmul(drive, below, w.t(), 1.0, false, Threads::ONE);
    for r in 0..drive.rows() {
        for (v, &b) in drive.row_mut(r).iter_mut().zip(bias) {
            *v += b;
        }
    }
}

/// A synchronous equilibrium-propagation network with exactly symmetric coupling (the
/// feedback through `W_{l+1}^T` itself): the reference for the actors and the gradient check.
#[derive(Clone, Debug)]
pub struct EpNet {
    /// `W_l, b_l` for `l = 1..=L` (index `l - 1`).
    pub layers: Vec<DenseLayer>,
    /// `rho`.
    pub rho: Activation,
}

/// The states of an [`EpNet`] for one batch: `s_l` and `rho(s_l)` for `l = 1..=L`.
#[derive(Clone, Debug)]
pub struct EpState {
    /// `s_l` (index `l - 1`).
    pub s: Vec<Matrix>,
    /// `rho(s_l)`.
    pub r: Vec<Matrix>,
}

impl EpNet {
    /// States of zero for a batch of `rows`.
    pub fn zero_state(&self, rows: usize) -> EpState {
        let mut st = EpState {
            s: Vec::new(),
            r: Vec::new(),
        };
        for l in &self.layers {
            let s = Matrix::zeros(rows, l.outputs());
            let mut r = Matrix::zeros(rows, l.outputs());
            activate(self.rho, s.as_slice(), r.as_mut_slice());
            st.s.push(s);
            st.r.push(r);
        }
        st
    }

    /// `steps` synchronous steps (every layer from the states at the start of the step) at
    /// rate `eps`, with the output nudged by `beta` towards `labels` when `beta != 0`.
    pub fn relax(
        &self,
        x: &Matrix,
        labels: &[u8],
        beta: f32,
        eps: f32,
        steps: usize,
        st: &mut EpState,
    ) {
        let layers = self.layers.len();
        let rows = x.rows();
        let mut drives: Vec<Matrix> = self
            .layers
            .iter()
            .map(|l| Matrix::zeros(rows, l.outputs()))
            .collect();
        let mut force = Matrix::zeros(rows, self.layers[layers - 1].outputs());
        for _ in 0..steps {
            for (l, drive) in drives.iter_mut().enumerate() {
                let below = if l == 0 { x.view() } else { st.r[l - 1].view() };
                let layer = &self.layers[l];
                drive_from_below(drive, below, layer.weight.view(), &layer.bias);
                if l + 1 < layers {
                    matmul(
                        drive,
                        st.r[l + 1].view(),
                        self.layers[l + 1].weight.view(),
                        1.0,
                        true,
                        Threads::ONE,
                    );
                }
            }
            for (l, drive) in drives.iter().enumerate() {
                let out = l + 1 == layers;
                if out && beta != 0.0 {
                    nudge(beta, &st.s[l], labels, &mut force);
                }
                let f = (out && beta != 0.0).then(|| force.as_slice());
                let (s, r) = (&mut st.s[l], &mut st.r[l]);
                relax(
                    self.rho,
                    eps,
                    s.as_mut_slice(),
                    r.as_mut_slice(),
                    drive.as_slice(),
                    f,
                );
            }
        }
    }

    /// The mean cost `1/2 ||y - s_L||^2` at the free fixed point reached in `steps` steps.
    pub fn loss(&self, x: &Matrix, labels: &[u8], eps: f32, steps: usize) -> f64 {
        let mut st = self.zero_state(x.rows());
        self.relax(x, labels, 0.0, eps, steps, &mut st);
        f64::from(cost(&st.s[self.layers.len() - 1], labels)) / x.rows() as f64
    }

    /// The energy-based estimate of `dLoss/dW` per layer with symmetric nudging: free phase
    /// of `free` steps, then nudged phases of `nudged` steps at `+beta` and `-beta` from the
    /// free fixed point, `grad = -(1/2 beta n) (rho rho^T (+beta) - rho rho^T (-beta))`.
    pub fn symmetric_gradient(
        &self,
        x: &Matrix,
        labels: &[u8],
        beta: f32,
        eps: f32,
        (free, nudged): (usize, usize),
    ) -> Vec<DenseLayer> {
        let mut free_st = self.zero_state(x.rows());
        self.relax(x, labels, 0.0, eps, free, &mut free_st);
        let mut plus = free_st.clone();
        self.relax(x, labels, beta, eps, nudged, &mut plus);
        let mut minus = free_st;
        self.relax(x, labels, -beta, eps, nudged, &mut minus);
        let scale = 1.0 / (2.0 * beta * x.rows() as f32);
        self.layers
            .iter()
            .enumerate()
            .map(|(l, layer)| {
                let mut g = DenseLayer::zeros(layer.inputs(), layer.outputs());
                let (pre_p, pre_m) = if l == 0 {
                    (x.view(), x.view())
                } else {
                    (plus.r[l - 1].view(), minus.r[l - 1].view())
                };
                contrast(
                    &mut g.weight,
                    (plus.r[l].view(), pre_p),
                    (minus.r[l].view(), pre_m),
                    scale,
                );
                contrast_bias(&mut g.bias, &plus.r[l], &minus.r[l], scale);
                g
            })
            .collect()
    }

    /// Trains on one batch by EP (or C-EP with `cfg.continual`) with plain SGD at the layers'
    /// rates times `rate_scale`, nudging with `beta` (its sign included). Returns the mean
    /// cost at the free fixed point before the update.
    pub fn train_batch(
        &mut self,
        x: &Matrix,
        labels: &[u8],
        cfg: &EpConfig,
        beta: f32,
        rate_scale: f32,
    ) -> f64 {
        let layers = self.layers.len();
        let mut st = self.zero_state(x.rows());
        self.relax(x, labels, 0.0, cfg.step, cfg.free_steps, &mut st);
        let loss = f64::from(cost(&st.s[layers - 1], labels)) / x.rows() as f64;
        let mut anchor = st.clone();
        let scale = 1.0 / (beta * x.rows() as f32);
        let mut grads: Vec<DenseLayer> = self
            .layers
            .iter()
            .map(|l| DenseLayer::zeros(l.inputs(), l.outputs()))
            .collect();
        let mut diff = Matrix::zeros(x.rows(), self.layers[0].outputs());
        let mut apply = |net: &mut EpNet, now: &EpState, anchor: &EpState| {
            for (l, g) in grads.iter_mut().enumerate() {
                if l == 0 {
                    let post = (&now.r[0], &anchor.r[0]);
                    contrast_clamped(&mut g.weight, &mut diff, post, x.view(), scale);
                } else {
                    contrast(
                        &mut g.weight,
                        (now.r[l].view(), now.r[l - 1].view()),
                        (anchor.r[l].view(), anchor.r[l - 1].view()),
                        scale,
                    );
                }
                contrast_bias(&mut g.bias, &now.r[l], &anchor.r[l], scale);
                let lr = cfg.layer_lr[l] * rate_scale;
                let layer = &mut net.layers[l];
                sgd(layer.weight.as_mut_slice(), g.weight.as_slice(), lr);
                sgd(&mut layer.bias, &g.bias, lr);
            }
        };
        if cfg.continual {
            for _ in 0..cfg.nudged_steps {
                self.relax(x, labels, beta, cfg.step, 1, &mut st);
                apply(self, &st, &anchor);
                anchor.clone_from(&st);
            }
        } else {
            self.relax(x, labels, beta, cfg.step, cfg.nudged_steps, &mut st);
            apply(self, &st, &anchor);
        }
        loss
    }
}

/// The sign of `beta` for the training batch that starts at `step` (a pure function of the
/// run's seed and the step, so a resumed run draws the same signs).
pub fn beta_sign(seed: u64, step: u64) -> f32 {
    // SplitMix64 of the pair.
    let mut z = seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    if z & 1 == 0 {
        1.0
    } else {
        -1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::mlp::{Init, Mlp};
    use crate::math::rng::SeededRng;

    fn tiny(rho: Activation, seed: u64) -> (EpNet, Matrix, Vec<u8>) {
        let mut rng = SeededRng::stream(seed, "ep-test");
        let mlp = Mlp::new(&[6, 5, 3], rho, Init::Xavier, &mut rng);
        let mut x = Matrix::zeros(4, 6);
        for v in x.as_mut_slice() {
            *v = rng.uniform() as f32;
        }
        let net = EpNet {
            layers: mlp.layers().to_vec(),
            rho,
        };
        (net, x, vec![0, 2, 1, 2])
    }

    fn cosine(a: &[f64], b: &[f64]) -> f64 {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
        let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
        dot / (na * nb)
    }

    /// EP at beta = 0.001 with symmetric nudging against the finite-difference gradient of the
    /// loss at the free fixed point (every perturbed network settled again), over every
    /// weight and bias of a tiny network.
    #[test]
    fn symmetric_ep_matches_finite_differences() {
        for rho in [Activation::ShiftedSigmoid, Activation::Sigmoid] {
            let (net, x, y) = tiny(rho, 3);
            let (eps, steps) = (0.2, 600);
            let ep = net.symmetric_gradient(&x, &y, 1e-3, eps, (steps, steps));
            let (mut fd, mut est) = (Vec::new(), Vec::new());
            let h = 1e-2f32;
            for (l, layer) in net.layers.iter().enumerate() {
                let n = layer.weight.as_slice().len();
                for i in 0..n + layer.bias.len() {
                    let at = |delta: f32| {
                        let mut p = net.clone();
                        if i < n {
                            p.layers[l].weight.as_mut_slice()[i] += delta;
                        } else {
                            p.layers[l].bias[i - n] += delta;
                        }
                        p.loss(&x, &y, eps, steps)
                    };
                    fd.push((at(h) - at(-h)) / (2.0 * f64::from(h)));
                    est.push(if i < n {
                        f64::from(ep[l].weight.as_slice()[i])
                    } else {
                        f64::from(ep[l].bias[i - n])
                    });
                }
            }
            let c = cosine(&fd, &est);
            assert!(c >= 0.99, "{rho:?}: cosine {c}\nfd {fd:?}\nep {est:?}");
        }
    }

    #[test]
    fn training_lowers_the_cost_and_cep_tracks_ep() {
        let (net, x, y) = tiny(Activation::HardSigmoid, 5);
        let cfg = EpConfig {
            continual: false,
            free_steps: 40,
            nudged_steps: 8,
            beta: 0.5,
            random_sign_beta: false,
            step: 0.5,
            layer_lr: vec![0.2, 0.1],
        };
        let mut ep = net.clone();
        let first = ep.loss(&x, &y, cfg.step, cfg.free_steps);
        for _ in 0..200 {
            ep.train_batch(&x, &y, &cfg, cfg.beta, 1.0);
        }
        let after = ep.loss(&x, &y, cfg.step, cfg.free_steps);
        assert!(after < 0.5 * first, "EP: cost {first} -> {after}");
        let mut cep = net;
        // C-EP moves the weights at every nudged step: smaller rates (as in the paper).
        let c = EpConfig {
            continual: true,
            layer_lr: vec![0.05, 0.025],
            ..cfg
        };
        for _ in 0..800 {
            cep.train_batch(&x, &y, &c, c.beta, 1.0);
        }
        let after_c = cep.loss(&x, &y, c.step, c.free_steps);
        assert!(after_c < 0.5 * first, "C-EP: cost {first} -> {after_c}");
    }

    #[test]
    fn beta_signs_are_balanced_and_repeatable() {
        let plus = (0..1000).filter(|&s| beta_sign(7, s) > 0.0).count();
        assert!((400..600).contains(&plus), "{plus} of 1000 positive");
        assert_eq!(beta_sign(7, 12), beta_sign(7, 12));
    }
}

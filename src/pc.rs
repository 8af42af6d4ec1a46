//! Predictive-coding maths as pure functions on a batch: value nodes, prediction errors,
//! feedback and Hebbian updates, and the zero-divergence inference learning (Z-IL) schedule.
//!
//! Notation (ALGORITHMS.md): layers `0..=L`, `x[0]` the clamped input, `x[l]` the value nodes
//! (pre-activations) of layer `l`, `mu[l] = phi(x[l-1]) W_l^T + b_l` (no `phi` on the input),
//! `eps[l] = x[l] - mu[l]` for hidden layers and `eps[L] = -dLoss_i/dmu[L]` at the output, per
//! example (`y - softmax(mu)` for cross-entropy), so that the Hebbian product
//! `eps[l]^T phi(x[l-1]) / batch` is exactly minus the backprop gradient of the batch-mean loss
//! of [`crate::loss`]. Feedback into layer `l` is
//! `fb[l] = eps[l+1] W_{l+1}` (the `transpose` mode; other modes replace `W_{l+1}`).
//! Inference: `x[l] += gamma (-eps[l] + phi'(x[l]) .* fb[l])` for hidden `l`.
//!
//! Z-IL (Song et al. 2020): forward-sweep initialisation, `gamma = 1`, and the weights into
//! layer `k = L - t` change at tick `t`, *after* that tick's feedback has been computed from the
//! pre-update weights. Its gradients then equal backprop's; [`zil_batch`] runs the schedule
//! in one thread (the reference the actors are tested against) and has switches for the three
//! ways to break it.

use crate::loss::Loss;
use crate::matrix::{matmul, MatView, Matrix, Threads};
use crate::mlp::{DenseLayer, Mlp};

/// How a Z-IL batch is run (the defaults are Z-IL; the switches are the negative controls).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ZilOptions {
    /// Inference rate; Z-IL needs 1.
    pub gamma: f32,
    /// Initialise value nodes by a forward sweep (Z-IL's C1); `false` starts them at zero.
    pub forward_init: bool,
    /// Apply each layer's update *before* computing that tick's feedback (wrong on purpose).
    pub update_before_feedback: bool,
    /// SGD rate for the updates applied during the ticks.
    pub lr: f32,
}

impl Default for ZilOptions {
    fn default() -> Self {
        Self {
            gamma: 1.0,
            forward_init: true,
            update_before_feedback: false,
            lr: 0.05,
        }
    }
}

/// `mu = a W^T + b` for a batch.
fn predict(layer: &DenseLayer, a: &Matrix, mu: &mut Matrix) {
    mu.set_rows(a.rows());
    matmul(
        mu,
        a.view(),
        layer.weight.view().t(),
        1.0,
        false,
        Threads::ONE,
    );
    for r in 0..mu.rows() {
        for (v, &b) in mu.row_mut(r).iter_mut().zip(&layer.bias) {
            *v += b;
        }
    }
}

/// Runs one Z-IL minibatch on `net` (updating it with SGD at `opts.lr` as the schedule says)
/// and returns the gradients it formed, `-eps[k]^T phi(x[k-1]) / batch` and
/// `-sum eps[k] / batch`, one per
/// layer, comparable with backprop's gradients of the batch-mean loss from the same weights.
pub fn zil_batch(
    net: &mut Mlp,
    input: &Matrix,
    labels: &[u8],
    loss: Loss,
    opts: ZilOptions,
) -> Vec<DenseLayer> {
    let act = net.activation();
    let layers = net.layers().len(); // L
    let batch = input.rows();
    let widths = net.widths();
    // x[l], phi(x[l]) for l = 0..=L (phi(x[0]) = x[0]), mu[l] and eps[l] for l = 1..=L
    let mut x: Vec<Matrix> = widths.iter().map(|&w| Matrix::zeros(batch, w)).collect();
    x[0] = input.clone();
    let mut fx: Vec<Matrix> = x.clone();
    let mut mu: Vec<Matrix> = x.clone();
    let mut eps: Vec<Matrix> = x.clone();
    let mut fb: Vec<Matrix> = x.clone();
    let phi_all = |x: &[Matrix], fx: &mut [Matrix]| {
        for l in 1..x.len() {
            act.apply_slice(x[l].as_slice(), fx[l].as_mut_slice());
        }
    };
    if opts.forward_init {
        for l in 1..=layers {
            let (lo, hi) = fx.split_at_mut(l);
            predict(&net.layers()[l - 1], &lo[l - 1], &mut x[l]);
            act.apply_slice(x[l].as_slice(), hi[0].as_mut_slice());
        }
    }
    let mut grads: Vec<DenseLayer> = net
        .layers()
        .iter()
        .map(|l| DenseLayer::zeros(l.inputs(), l.outputs()))
        .collect();
    let mut out_grad = Matrix::zeros(batch, widths[layers]);
    for t in 0..layers {
        phi_all(&x, &mut fx);
        // Errors from the state at the start of the tick.
        for l in 1..=layers {
            predict(&net.layers()[l - 1], &fx[l - 1], &mut mu[l]);
            if l < layers {
                for ((e, &xv), &m) in eps[l]
                    .as_mut_slice()
                    .iter_mut()
                    .zip(x[l].as_slice())
                    .zip(mu[l].as_slice())
                {
                    *e = xv - m;
                }
            } else {
                // Per-example output error (not divided by the batch): the errors below are then
                // of the size of the activities they perturb, which keeps f32 rounding of
                // `x - mu` small. The gradients divide by the batch once, at the end.
                loss.evaluate(&mu[l], labels, Some(&mut out_grad));
                for (e, &g) in eps[l].as_mut_slice().iter_mut().zip(out_grad.as_slice()) {
                    *e = -g * batch as f32;
                }
            }
        }
        let k = layers - t;
        // The gradient layer k forms at this tick.
        let g = &mut grads[k - 1];
        let inv = 1.0 / batch as f32;
        matmul(
            &mut g.weight,
            eps[k].view().t(),
            fx[k - 1].view(),
            -inv,
            false,
            Threads::ONE,
        );
        g.bias.fill(0.0);
        for r in 0..batch {
            for (b, &e) in g.bias.iter_mut().zip(eps[k].row(r)) {
                *b -= e;
            }
        }
        for b in &mut g.bias {
            *b *= inv;
        }
        let apply = |net: &mut Mlp, g: &DenseLayer| {
            let layer = &mut net.layers_mut()[k - 1];
            for (w, &d) in layer
                .weight
                .as_mut_slice()
                .iter_mut()
                .zip(g.weight.as_slice())
            {
                *w -= opts.lr * d;
            }
            for (b, &d) in layer.bias.iter_mut().zip(&g.bias) {
                *b -= opts.lr * d;
            }
        };
        if opts.update_before_feedback {
            apply(net, &grads[k - 1]);
        }
        // Feedback into every hidden layer from the (pre-update) weights above it.
        for l in 1..layers {
            let w_above = MatView::new(net.layers()[l].weight.as_slice(), widths[l + 1], widths[l]);
            matmul(
                &mut fb[l],
                eps[l + 1].view(),
                w_above,
                1.0,
                false,
                Threads::ONE,
            );
        }
        if !opts.update_before_feedback {
            apply(net, &grads[k - 1]);
        }
        // Inference step on the hidden value nodes.
        for l in 1..layers {
            let n = x[l].as_slice().len();
            for i in 0..n {
                let xv = x[l].as_slice()[i];
                let d = act.derivative(xv, fx[l].as_slice()[i]);
                let step = -eps[l].as_slice()[i] + d * fb[l].as_slice()[i];
                x[l].as_mut_slice()[i] = xv + opts.gamma * step;
            }
        }
    }
    grads
}

/// `||a - b|| / ||b||` over all weights and biases of two gradient lists.
pub fn relative_gap(a: &[DenseLayer], b: &[DenseLayer]) -> Vec<f64> {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let diff: f64 = x
                .weight
                .as_slice()
                .iter()
                .chain(&x.bias)
                .zip(y.weight.as_slice().iter().chain(&y.bias))
                .map(|(&p, &q)| (f64::from(p) - f64::from(q)).powi(2))
                .sum();
            let norm: f64 = y
                .weight
                .as_slice()
                .iter()
                .chain(&y.bias)
                .map(|&q| f64::from(q).powi(2))
                .sum();
            (diff / norm.max(1e-300)).sqrt()
        })
        .collect()
}

//! Predictive-coding maths as pure functions on a batch: value nodes, prediction errors,
//! feedback and Hebbian updates, and the zero-divergence inference learning (Z-IL) schedule.
//!
//! Notation (docs/learning-rules.md): layers `0..=L`, `x[0]` the clamped input, `x[l]` the value nodes
//! (pre-activations) of layer `l`, `mu[l] = phi(x[l-1]) W_l^T + b_l` (no `phi` on the input),
//! `eps[l] = x[l] - mu[l]` for hidden layers and `eps[L] = -dLoss_i/dmu[L]` at the output, per
//! example (`y - softmax(mu)` for cross-entropy), so that the Hebbian product
//! `eps[l]^T phi(x[l-1]) / batch` is exactly minus the backprop gradient of the batch-mean loss
//! of [`crate::math::loss`]. Feedback into layer `l` is
//! `fb[l] = eps[l+1] W_{l+1}` (the `transpose` mode; other modes replace `W_{l+1}`).
//! Inference: `x[l] += gamma (-eps[l] + phi'(x[l]) .* fb[l])` for hidden `l`.
//!
//! Z-IL (Song et al. 2020): forward-sweep initialisation, `gamma = 1`, and the weights into
//! layer `k = L - t` change at tick `t`, *after* that tick's feedback has been computed from the
//! pre-update weights. Its gradients then equal backprop's; [`zil_batch`] runs the schedule
//! in one thread (the reference the actors are tested against) and has switches for the three
//! ways to break it.

use crate::math::activation::Activation;
use crate::math::loss::Loss;
use crate::math::matrix::{matmul, MatView, Matrix, Threads};
use crate::math::mlp::{DenseLayer, Mlp};

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
    predict_into(mu, a.view(), layer.weight.view(), &layer.bias);
}
/// The value nodes and errors of one batch, sized once.
struct BatchState {
    /// `x[l]`, `l = 0..=L`; `x[0]` is the clamped input.
    x: Vec<Matrix>,
    /// `phi(x[l])` (`fx[0] = x[0]`).
    fx: Vec<Matrix>,
    mu: Vec<Matrix>,
    eps: Vec<Matrix>,
    fb: Vec<Matrix>,
    out_grad: Matrix,
}

impl BatchState {
    fn new(net: &Mlp, input: &Matrix) -> Self {
        let batch = input.rows();
        let widths = net.widths();
        let mut x: Vec<Matrix> = widths.iter().map(|&w| Matrix::zeros(batch, w)).collect();
        x[0] = input.clone();
        Self {
            fx: x.clone(),
            mu: x.clone(),
            eps: x.clone(),
            fb: x.clone(),
            out_grad: Matrix::zeros(batch, widths[widths.len() - 1]),
            x,
        }
    }

    /// C1: `x[l] = mu[l]` layer by layer from the input.
    fn forward_sweep(&mut self, net: &Mlp) {
        for l in 1..self.x.len() {
            let (lo, hi) = self.fx.split_at_mut(l);
            predict(&net.layers()[l - 1], &lo[l - 1], &mut self.x[l]);
            net.activation()
                .apply_slice(self.x[l].as_slice(), hi[0].as_mut_slice());
        }
    }

    /// `phi(x)`, predictions and errors from the current values (the start of a tick).
    fn errors(&mut self, net: &Mlp, labels: &[u8], loss: Loss) {
        let layers = self.x.len() - 1;
        for l in 1..=layers {
            net.activation()
                .apply_slice(self.x[l].as_slice(), self.fx[l].as_mut_slice());
        }
        for l in 1..=layers {
            predict(&net.layers()[l - 1], &self.fx[l - 1], &mut self.mu[l]);
            if l < layers {
                let it = self.eps[l]
                    .as_mut_slice()
                    .iter_mut()
                    .zip(self.x[l].as_slice())
                    .zip(self.mu[l].as_slice());
                for ((e, &xv), &m) in it {
                    *e = xv - m;
                }
            } else {
                // Per-example output error (not divided by the batch): the errors below are then
                // of the size of the activities they perturb, which keeps f32 rounding of
                // `x - mu` small. Gradients divide by the batch once, in `gradient`.
                output_errors(
                    loss,
                    &self.mu[l],
                    labels,
                    &mut self.out_grad,
                    self.eps[l].as_mut_slice(),
                );
            }
        }
    }

    /// `fb[l] = eps[l+1] W_{l+1}` for every hidden layer (transpose feedback).
    fn feedback(&mut self, net: &Mlp) {
        for l in 1..self.x.len() - 1 {
            let w = &net.layers()[l].weight;
            feed_back(&mut self.fb[l], self.eps[l + 1].view(), w.view());
        }
    }

    /// `x[l] += gamma (-eps[l] + phi'(x[l]) .* fb[l])` for every hidden layer.
    fn relax(&mut self, net: &Mlp, gamma: f32) {
        let act = net.activation();
        for l in 1..self.x.len() - 1 {
            let (x, fx, eps, fb) = (&mut self.x[l], &self.fx[l], &self.eps[l], &self.fb[l]);
            let it = x
                .as_mut_slice()
                .iter_mut()
                .zip(fx.as_slice())
                .zip(eps.as_slice())
                .zip(fb.as_slice());
            for (((xv, &a), &e), &f) in it {
                *xv += gamma * (-e + act.derivative(*xv, a) * f);
            }
        }
    }

    /// The gradient layer `l` forms: `-eps[l]^T phi(x[l-1]) / batch`, `-sum eps[l] / batch`.
    fn gradient(&self, l: usize, into: &mut DenseLayer) {
        hebbian(
            &mut into.weight,
            &mut into.bias,
            &self.eps[l],
            self.fx[l - 1].view(),
        );
    }
}

fn zero_gradients(net: &Mlp) -> Vec<DenseLayer> {
    net.layers()
        .iter()
        .map(|l| DenseLayer::zeros(l.inputs(), l.outputs()))
        .collect()
}

/// Runs one Z-IL minibatch on `net` (updating it with SGD at `opts.lr` as the schedule says)
/// and returns the gradients it formed, `-eps[k]^T phi(x[k-1]) / batch` and
/// `-sum eps[k] / batch`, one per layer, comparable with backprop's gradients of the
/// batch-mean loss from the same weights.
pub fn zil_batch(
    net: &mut Mlp,
    input: &Matrix,
    labels: &[u8],
    loss: Loss,
    opts: ZilOptions,
) -> Vec<DenseLayer> {
    let layers = net.layers().len();
    let mut st = BatchState::new(net, input);
    if opts.forward_init {
        st.forward_sweep(net);
    }
    let mut grads = zero_gradients(net);
    let apply = |net: &mut Mlp, k: usize, g: &DenseLayer| {
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
    for t in 0..layers {
        st.errors(net, labels, loss);
        // C2: the weights into layer k = L - t learn at tick t ...
        let k = layers - t;
        st.gradient(k, &mut grads[k - 1]);
        if opts.update_before_feedback {
            apply(net, k, &grads[k - 1]);
        }
        // ... after this tick's feedback has been formed from the pre-update weights.
        st.feedback(net);
        if !opts.update_before_feedback {
            apply(net, k, &grads[k - 1]);
        }
        st.relax(net, opts.gamma);
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

/// Standard predictive coding (inference learning) on one batch with `transpose` feedback:
/// forward-sweep initialisation, `steps` inference steps at rate `gamma` with the output error
/// clamped to the target, then one Hebbian update per layer from the settled state. Returns the
/// gradients `-eps[l]^T phi(x[l-1]) / batch` (and biases) without applying them, so any
/// optimiser can take them; the weights are not changed.
pub fn pc_batch_gradients(
    net: &Mlp,
    input: &Matrix,
    labels: &[u8],
    loss: Loss,
    steps: usize,
    gamma: f32,
) -> Vec<DenseLayer> {
    let mut st = BatchState::new(net, input);
    st.forward_sweep(net);
    for _ in 0..steps {
        st.errors(net, labels, loss);
        st.feedback(net);
        st.relax(net, gamma);
    }
    st.errors(net, labels, loss);
    let mut grads = zero_gradients(net);
    for (l, g) in grads.iter_mut().enumerate() {
        st.gradient(l + 1, g);
    }
    grads
}

/// The equations one predictive-coding layer computes, shared by the reference above and the
/// layer actors ([`crate::learn::pc_layer`]): one copy of each.
///
/// `mu = input W^T + b` (`weights` is `W`, `outputs x inputs`).
pub(crate) fn predict_into(
    mu: &mut Matrix,
    input: MatView<'_>,
    weights: MatView<'_>,
    bias: &[f32],
) {
    mu.set_rows(input.rows());
    matmul(mu, input, weights.t(), 1.0, false, Threads::ONE);
    for r in 0..mu.rows() {
        for (v, &b) in mu.row_mut(r).iter_mut().zip(bias) {
            *v += b;
        }
    }
}

/// The output's errors `eps = -dLoss_i/dmu` per example (the loss's gradient of the batch
/// mean times the batch size; `out_grad` is scratch); returns the loss summed over the batch.
pub(crate) fn output_errors(
    loss: Loss,
    mu: &Matrix,
    labels: &[u8],
    out_grad: &mut Matrix,
    eps: &mut [f32],
) -> f32 {
    let rows = mu.rows() as f32;
    let mean = loss.evaluate(mu, labels, Some(out_grad));
    for (e, &g) in eps.iter_mut().zip(out_grad.as_slice()) {
        *e = -g * rows;
    }
    mean * rows
}

/// Feedback into a hidden layer: `fb = eps_above B` (`B = W_above` under transpose feedback).
pub(crate) fn feed_back(fb: &mut Matrix, eps_above: MatView<'_>, b: MatView<'_>) {
    matmul(fb, eps_above, b, 1.0, false, Threads::ONE);
}

/// The Hebbian gradient of a layer: `dLoss/dW = -eps^T f(x_below) / batch`,
/// `dLoss/db = -sum eps / batch`.
pub(crate) fn hebbian(grad_w: &mut Matrix, grad_b: &mut [f32], eps: &Matrix, below: MatView<'_>) {
    let rows = eps.rows();
    let inv = 1.0 / rows as f32;
    matmul(grad_w, eps.view().t(), below, -inv, false, Threads::ONE);
    grad_b.fill(0.0);
    for r in 0..rows {
        for (g, &e) in grad_b.iter_mut().zip(eps.row(r)) {
            *g -= e * inv;
        }
    }
}

/// The layer actors keep value nodes as `x = x0 + dx` (`x0` the forward sweep's prediction,
/// `dx` what inference added): hidden errors are formed as `dx + (x0 - mu)`, exactly `dx`
/// while `mu` still equals the sweep's prediction, so that Z-IL's errors carry no rounding
/// from subtracting two nearly equal numbers. (The one-thread reference keeps `x` whole.)
/// `eps = dx + (x0 - mu)`; returns `||eps||^2` (summed in 16 lanes so that it vectorises).
pub(crate) fn errors(eps: &mut [f32], dx: &[f32], x0: &[f32], mu: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0.0f32; LANES];
    let n = eps.len();
    let whole = n - n % LANES;
    for (((e, d), x), m) in eps[..whole]
        .chunks_exact_mut(LANES)
        .zip(dx.chunks_exact(LANES))
        .zip(x0.chunks_exact(LANES))
        .zip(mu.chunks_exact(LANES))
    {
        for i in 0..LANES {
            e[i] = d[i] + (x[i] - m[i]);
            acc[i] += e[i] * e[i];
        }
    }
    let mut total: f32 = acc.iter().sum();
    for i in whole..n {
        eps[i] = dx[i] + (x0[i] - mu[i]);
        total += eps[i] * eps[i];
    }
    total
}

/// One inference step of the value nodes `x = x0 + dx`: `dx += gamma (-eps + f'(x) fb)`,
/// then `fx = f(x)`. Returns whether any value changed.
pub(crate) fn relax(
    act: Activation,
    gamma: f32,
    x0: &[f32],
    dx: &mut [f32],
    fx: &mut [f32],
    eps: &[f32],
    fb: &[f32],
) -> bool {
    #[inline(always)]
    fn each(
        x0: &[f32],
        dx: &mut [f32],
        fx: &mut [f32],
        eps: &[f32],
        fb: &[f32],
        step: impl Fn(f32, f32, f32, f32, f32) -> (f32, f32),
    ) -> bool {
        let mut changed = false;
        for ((((d, a), &x), &e), &f) in dx.iter_mut().zip(fx.iter_mut()).zip(x0).zip(eps).zip(fb) {
            let (n, na) = step(x, *d, *a, e, f);
            changed |= n != *d;
            (*d, *a) = (n, na);
        }
        changed
    }
    match act {
        // Written out for ReLU so that it vectorises.
        Activation::Relu => each(x0, dx, fx, eps, fb, |x, d, _, e, f| {
            let g = if x + d > 0.0 { f } else { 0.0 };
            let n = d + gamma * (g - e);
            (n, (x + n).max(0.0))
        }),
        _ => each(x0, dx, fx, eps, fb, |x, d, a, e, f| {
            let n = d + gamma * (-e + act.derivative(x + d, a) * f);
            (n, act.apply(x + n))
        }),
    }
}

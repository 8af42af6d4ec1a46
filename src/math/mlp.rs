//! The multilayer perceptron and its exact forward and backward passes (backprop's maths).
//!
//! Layer `i` (from 0) maps widths `w[i] -> w[i+1]`: `z_i = a_i W_i^T + b_i` for a batch of
//! row vectors, with `W_i` stored `out x in` (the safetensors layout, and PyTorch's), `a_0` the
//! input and `a_{i+1} = phi(z_i)` for hidden layers. The last layer is linear. Backward, from
//! `g = dLoss/dz` at the output:
//!
//! ```text
//! dW_i = g_i^T a_i        db_i = sum over the batch of g_i
//! g_{i-1} = (g_i W_i) .* phi'(z_{i-1})
//! ```
//!
//! These are *gradients* (the optimiser subtracts them). The usual textbook form of backprop writes
//! `delta = -dLoss/dz`; the two differ only in sign. This module is public API: the
//! predictive-coding actors, Z-IL equivalence tests and ANN-to-SNN conversion reuse it.

use serde::{Deserialize, Serialize};

use crate::math::activation::Activation;
use crate::math::matrix::{matmul, Matrix, Threads};
use crate::math::rng::SeededRng;

/// How initial weights are drawn (biases start at zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// Kaiming (He) normal: `N(0, 2 / fan_in)`, as in the thesis.
    Kaiming,
    /// Xavier (Glorot) normal: `N(0, 2 / (fan_in + fan_out))`.
    Xavier,
}

/// One fully connected layer: weights `out x in` and biases.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseLayer {
    /// Weights, `out x in`, row-major.
    pub weight: Matrix,
    /// Biases, length `out`.
    pub bias: Vec<f32>,
}

impl DenseLayer {
    /// A zero layer of the given shape.
    pub fn zeros(inputs: usize, outputs: usize) -> Self {
        Self {
            weight: Matrix::zeros(outputs, inputs),
            bias: vec![0.0; outputs],
        }
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.weight.cols()
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.weight.rows()
    }
}

/// A feed-forward network of dense layers.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    layers: Vec<DenseLayer>,
    activation: Activation,
}

/// What the forward pass leaves behind for the backward pass, sized once and reused.
#[derive(Clone, Debug, Default)]
pub struct ForwardTrace {
    /// Pre-activations `z_i` of every layer; the last is the output (logits).
    pub pre: Vec<Matrix>,
    /// Activations `a_{i+1} = phi(z_i)` of the hidden layers.
    pub post: Vec<Matrix>,
}

/// Gradients of every layer, plus the per-layer `dLoss/dz` scratch the backward pass uses.
#[derive(Clone, Debug)]
pub struct Gradients {
    /// `dLoss/dW_i` and `dLoss/db_i`.
    pub layers: Vec<DenseLayer>,
    /// `dLoss/dz_i` for the last batch (backprop's deltas, with the opposite sign).
    pub dz: Vec<Matrix>,
}

impl Mlp {
    /// A network with the given widths (input first, output last), weights drawn from `rng`
    /// layer by layer, row by row.
    ///
    /// # Panics
    /// If fewer than two widths are given (validated scenarios never do that).
    pub fn new(widths: &[usize], activation: Activation, init: Init, rng: &mut SeededRng) -> Self {
        assert!(
            widths.len() >= 2,
            "an MLP needs an input and an output width"
        );
        let layers = widths
            .windows(2)
            .map(|w| {
                let (fan_in, fan_out) = (w[0], w[1]);
                let std = match init {
                    Init::Kaiming => (2.0 / fan_in as f64).sqrt(),
                    Init::Xavier => (2.0 / (fan_in + fan_out) as f64).sqrt(),
                };
                let mut layer = DenseLayer::zeros(fan_in, fan_out);
                for v in layer.weight.as_mut_slice() {
                    *v = (rng.normal() * std) as f32;
                }
                layer
            })
            .collect();
        Self { layers, activation }
    }

    /// A network from existing layers (for example loaded from a checkpoint).
    ///
    /// # Panics
    /// If consecutive layers' widths do not chain.
    pub fn from_layers(layers: Vec<DenseLayer>, activation: Activation) -> Self {
        assert!(!layers.is_empty(), "an MLP needs at least one layer");
        for w in layers.windows(2) {
            assert_eq!(w[0].outputs(), w[1].inputs(), "layer widths must chain");
        }
        Self { layers, activation }
    }

    /// Widths, input first.
    pub fn widths(&self) -> Vec<usize> {
        std::iter::once(self.layers[0].inputs())
            .chain(self.layers.iter().map(DenseLayer::outputs))
            .collect()
    }

    /// The layers, input side first.
    pub fn layers(&self) -> &[DenseLayer] {
        &self.layers
    }

    /// The layers, mutable.
    pub fn layers_mut(&mut self) -> &mut [DenseLayer] {
        &mut self.layers
    }

    /// The hidden layers' activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// A trace sized for batches of up to `batch` rows.
    pub fn trace(&self, batch: usize) -> ForwardTrace {
        let n = self.layers.len();
        ForwardTrace {
            pre: self
                .layers
                .iter()
                .map(|l| Matrix::zeros(batch, l.outputs()))
                .collect(),
            post: self.layers[..n - 1]
                .iter()
                .map(|l| Matrix::zeros(batch, l.outputs()))
                .collect(),
        }
    }

    /// Zero gradients sized for batches of up to `batch` rows.
    pub fn gradients(&self, batch: usize) -> Gradients {
        Gradients {
            layers: self
                .layers
                .iter()
                .map(|l| DenseLayer::zeros(l.inputs(), l.outputs()))
                .collect(),
            dz: self
                .layers
                .iter()
                .map(|l| Matrix::zeros(batch, l.outputs()))
                .collect(),
        }
    }

    /// Forward pass on `input` (`batch x inputs`); returns the output layer's values.
    pub fn forward<'t>(
        &self,
        input: &Matrix,
        trace: &'t mut ForwardTrace,
        threads: Threads,
    ) -> &'t Matrix {
        let batch = input.rows();
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            let (done, rest) = trace.post.split_at_mut(i);
            let a = if i == 0 { input } else { &done[i - 1] };
            let z = &mut trace.pre[i];
            z.set_rows(batch);
            matmul(z, a.view(), layer.weight.view().t(), 1.0, false, threads);
            for r in 0..batch {
                for (v, &b) in z.row_mut(r).iter_mut().zip(&layer.bias) {
                    *v += b;
                }
            }
            if i < last {
                let out = &mut rest[0];
                out.set_rows(batch);
                self.activation
                    .apply_slice(z.as_slice(), out.as_mut_slice());
            }
        }
        &trace.pre[last]
    }

    /// Backward pass: given the forward `trace` of `input` and `dz_out = dLoss/dz` at the
    /// output, fills `grads` with `dLoss/dW` and `dLoss/db` of every layer.
    pub fn backward(
        &self,
        input: &Matrix,
        trace: &ForwardTrace,
        dz_out: &Matrix,
        grads: &mut Gradients,
        threads: Threads,
    ) {
        let batch = input.rows();
        let last = self.layers.len() - 1;
        let top = &mut grads.dz[last];
        top.set_rows(batch);
        top.as_mut_slice().copy_from_slice(dz_out.as_slice());
        for i in (0..=last).rev() {
            let a = if i == 0 { input } else { &trace.post[i - 1] };
            let (below, here) = grads.dz.split_at_mut(i);
            let g = &here[0];
            let out = &mut grads.layers[i];
            matmul(&mut out.weight, g.view().t(), a.view(), 1.0, false, threads);
            out.bias.fill(0.0);
            for r in 0..batch {
                for (b, &v) in out.bias.iter_mut().zip(g.row(r)) {
                    *b += v;
                }
            }
            if i > 0 {
                let prev = &mut below[i - 1];
                prev.set_rows(batch);
                matmul(
                    prev,
                    g.view(),
                    self.layers[i].weight.view(),
                    1.0,
                    false,
                    threads,
                );
                self.activation.backprop_slice(
                    trace.pre[i - 1].as_slice(),
                    trace.post[i - 1].as_slice(),
                    prev.as_mut_slice(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::loss::Loss;

    /// Backprop against central finite differences of the loss on a tiny network, for every
    /// activation and both losses. f32 with h = 1e-2 gives about 3 significant digits.
    #[test]
    fn gradients_match_finite_differences() {
        for act in [Activation::Tanh, Activation::Sigmoid, Activation::Relu] {
            for loss in [Loss::CrossEntropy, Loss::Mse] {
                let mut rng = SeededRng::new(5);
                let mut net = Mlp::new(&[4, 5, 3, 3], act, Init::Xavier, &mut rng);
                for l in net.layers_mut() {
                    for b in &mut l.bias {
                        *b = (rng.normal() * 0.1) as f32;
                    }
                }
                let input = Matrix::from_vec(2, 4, (0..8).map(|_| rng.uniform() as f32).collect());
                let labels = [2u8, 0];
                let mut trace = net.trace(2);
                let mut dz = Matrix::zeros(2, 3);
                let mut grads = net.gradients(2);
                let out = net.forward(&input, &mut trace, Threads::ONE).clone();
                loss.evaluate(&out, &labels, Some(&mut dz));
                net.backward(&input, &trace, &dz, &mut grads, Threads::ONE);

                let loss_at = |n: &Mlp| {
                    let mut t = n.trace(2);
                    let o = n.forward(&input, &mut t, Threads::ONE).clone();
                    f64::from(loss.evaluate(&o, &labels, None))
                };
                let h = 1e-2f32;
                for li in 0..3 {
                    for idx in [0usize, 2, 4] {
                        let mut p = net.clone();
                        p.layers_mut()[li].weight.as_mut_slice()[idx] += h;
                        let mut m = net.clone();
                        m.layers_mut()[li].weight.as_mut_slice()[idx] -= h;
                        let fd = (loss_at(&p) - loss_at(&m)) / (2.0 * f64::from(h));
                        let an = f64::from(grads.layers[li].weight.as_slice()[idx]);
                        assert!(
                            (fd - an).abs() < 2e-3 + 2e-2 * an.abs(),
                            "{act:?} {loss:?} W{li}[{idx}]: fd {fd} vs {an}"
                        );
                    }
                    let mut p = net.clone();
                    p.layers_mut()[li].bias[1] += h;
                    let mut m = net.clone();
                    m.layers_mut()[li].bias[1] -= h;
                    let fd = (loss_at(&p) - loss_at(&m)) / (2.0 * f64::from(h));
                    let an = f64::from(grads.layers[li].bias[1]);
                    assert!(
                        (fd - an).abs() < 2e-3 + 2e-2 * an.abs(),
                        "{act:?} {loss:?} b{li}: fd {fd} vs {an}"
                    );
                }
            }
        }
    }

    #[test]
    fn kaiming_init_has_the_right_spread() {
        let mut rng = SeededRng::new(1);
        let net = Mlp::new(&[784, 256, 10], Activation::Relu, Init::Kaiming, &mut rng);
        let w = net.layers()[0].weight.as_slice();
        let var = w.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / w.len() as f64;
        // 200k draws: relative standard error of the variance is 0.3 %.
        assert!((var / (2.0 / 784.0) - 1.0).abs() < 0.02, "{var}");
        assert!(net.layers()[0].bias.iter().all(|&b| b == 0.0));
        assert_eq!(net.widths(), vec![784, 256, 10]);
    }
}

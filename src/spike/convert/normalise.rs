//! Weight normalisation for conversion: a trained ReLU network's weights and biases scaled by
//! a percentile of each layer's activations, so that integrate-and-fire units with threshold 1
//! fire at rates that approximate the ReLU activations.

use crate::data::dataset::Split;
use crate::learn::backprop::EVAL_BATCH;
use crate::math::matrix::{Matrix, Threads};
use crate::math::mlp::{ForwardTrace, Mlp};

/// Scales a ReLU network for integrate-and-fire units with threshold 1: layer `l`'s weights
/// by `lambda_{l-1} / lambda_l` and biases by `1 / lambda_l`, where `lambda_l` is the
/// `percentile` of layer `l`'s activations (pre-activations at the output) on `data` (the
/// input's lambda is 1: pixels are in [0, 1]).
pub fn normalise(net: &Mlp, data: &Split, percentile: f64, limit: usize) -> Mlp {
    let n = data.len().min(limit).max(1);
    let layers = net.layers().len();
    let mut samples: Vec<Vec<f32>> = vec![Vec::new(); layers];
    let mut trace: ForwardTrace = net.trace(EVAL_BATCH);
    let mut batch = Matrix::zeros(EVAL_BATCH, net.widths()[0]);
    let mut labels = Vec::new();
    let indices: Vec<usize> = (0..n).collect();
    for chunk in indices.chunks(EVAL_BATCH) {
        data.fill_batch(chunk, &mut batch, &mut labels);
        net.forward(&batch, &mut trace, Threads::ONE);
        for (l, s) in samples.iter_mut().enumerate() {
            let m = if l + 1 < layers {
                &trace.post[l]
            } else {
                &trace.pre[l]
            };
            s.extend(m.as_slice().iter().copied().filter(|&v| v > 0.0));
        }
    }
    let mut lambdas = Vec::with_capacity(layers);
    for mut s in samples {
        let lambda = if s.is_empty() {
            1.0
        } else {
            let k = (((s.len() - 1) as f64) * percentile / 100.0).round() as usize;
            let (_, v, _) = s.select_nth_unstable_by(k, f32::total_cmp);
            f64::from(*v).max(1e-6)
        };
        lambdas.push(lambda);
    }
    let scaled = net
        .layers()
        .iter()
        .enumerate()
        .map(|(l, layer)| {
            let below = if l == 0 { 1.0 } else { lambdas[l - 1] };
            let mut out = layer.clone();
            let w = (below / lambdas[l]) as f32;
            out.weight.as_mut_slice().iter_mut().for_each(|v| *v *= w);
            let b = (1.0 / lambdas[l]) as f32;
            out.bias.iter_mut().for_each(|v| *v *= b);
            out
        })
        .collect();
    Mlp::from_layers(scaled, net.activation())
}

//! Z-IL equals backprop, per minibatch from the same weights, on real MNIST (f32, within 1e-5
//! relative: f32 trajectories drift apart chaotically, so the check is per minibatch), and the three negative controls break it.

mod common;

use axon::learn::backprop::epoch_order;
use axon::learn::pc::{relative_gap, zil_batch, ZilOptions};
use axon::math::activation::Activation;
use axon::math::loss::Loss;
use axon::math::matrix::{Matrix, Threads};
use axon::math::mlp::{DenseLayer, Init, Mlp};
use axon::math::rng::SeededRng;
use common::mnist;

fn bp_gradients(net: &Mlp, x: &Matrix, labels: &[u8], loss: Loss) -> Vec<DenseLayer> {
    let mut trace = net.trace(x.rows());
    let mut grads = net.gradients(x.rows());
    let out = net.forward(x, &mut trace, Threads::ONE).clone();
    let mut dz = Matrix::zeros(x.rows(), out.cols());
    loss.evaluate(&out, labels, Some(&mut dz));
    net.backward(x, &trace, &dz, &mut grads, Threads::ONE);
    grads.layers
}

/// Walks `batches` minibatches with SGD on the BP model; at each, Z-IL from the same weights
/// must form the same gradients. Returns the largest per-layer gap seen.
fn worst_gap(widths: &[usize], batches: usize, loss: Loss, opts: ZilOptions) -> f64 {
    let data = mnist(64 * batches, 10);
    let mut rng = SeededRng::stream(1, "weights");
    let mut bp = Mlp::new(widths, Activation::Relu, Init::Kaiming, &mut rng);
    let mut order = Vec::new();
    epoch_order(1, 1, data.train.len(), &mut order);
    let mut x = Matrix::zeros(64, widths[0]);
    let mut labels = Vec::new();
    let mut worst = 0.0f64;
    for chunk in order.chunks(64) {
        data.train.fill_batch(chunk, &mut x, &mut labels);
        let want = bp_gradients(&bp, &x, &labels, loss);
        let mut zil = bp.clone();
        let got = zil_batch(&mut zil, &x, &labels, loss, opts);
        worst = relative_gap(&got, &want).into_iter().fold(worst, f64::max);
        for (layer, g) in bp.layers_mut().iter_mut().zip(&want) {
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
        }
    }
    worst
}

#[test]
fn zil_gradients_equal_backprop_per_minibatch() {
    // A full epoch of MNIST (938 batches of 64), every batch from the current BP weights.
    let batches = 938;
    for widths in [&[784, 256, 256, 10][..], &[784, 128, 128, 128, 10][..]] {
        for loss in [Loss::CrossEntropy, Loss::Mse] {
            let gap = worst_gap(widths, batches, loss, ZilOptions::default());
            eprintln!("{widths:?} {loss:?}: worst relative gap {gap:.2e} over {batches} batches");
            assert!(gap < 1e-5, "{widths:?} {loss:?}: Z-IL vs BP gap {gap:e}");
        }
    }
}

#[test]
fn breaking_any_zil_condition_breaks_the_equality() {
    let widths = [784, 128, 128, 10];
    let controls = [
        (
            "gamma 0.9",
            ZilOptions {
                gamma: 0.9,
                ..ZilOptions::default()
            },
        ),
        (
            "no forward sweep",
            ZilOptions {
                forward_init: false,
                ..ZilOptions::default()
            },
        ),
        (
            "update before feedback",
            ZilOptions {
                update_before_feedback: true,
                lr: 0.1,
                ..ZilOptions::default()
            },
        ),
    ];
    for (what, opts) in controls {
        let gap = worst_gap(&widths, 5, Loss::CrossEntropy, opts);
        eprintln!("{what}: gap {gap:.2e}");
        assert!(
            gap > 1e-3,
            "{what} must break Z-IL's equality with BP, gap only {gap:e}"
        );
    }
}

fn cosine(a: &DenseLayer, b: &DenseLayer) -> f64 {
    let dot: f64 = a
        .weight
        .as_slice()
        .iter()
        .zip(b.weight.as_slice())
        .map(|(&p, &q)| f64::from(p) * f64::from(q))
        .sum();
    let na: f64 = a
        .weight
        .as_slice()
        .iter()
        .map(|&p| f64::from(p).powi(2))
        .sum::<f64>()
        .sqrt();
    let nb: f64 = b
        .weight
        .as_slice()
        .iter()
        .map(|&q| f64::from(q).powi(2))
        .sum::<f64>()
        .sqrt();
    dot / (na * nb)
}

#[test]
fn standard_pc_approximates_backprop_and_learns_mnist() {
    // Inference learning (T = 20, gamma 0.1) aligns with backprop's gradient direction
    // (Song et al. 2020 report per-layer cosines of 0.76-1.00), and trained with Adam it learns real digits.
    let data = mnist(3_000, 10);
    let mut rng = SeededRng::stream(1, "weights");
    let mut net = Mlp::new(
        &[784, 64, 64, 10],
        Activation::Relu,
        Init::Kaiming,
        &mut rng,
    );
    let mut x = Matrix::zeros(64, 784);
    let mut labels = Vec::new();
    let idx: Vec<usize> = (0..64).collect();
    data.train.fill_batch(&idx, &mut x, &mut labels);
    let pc = axon::learn::pc::pc_batch_gradients(&net, &x, &labels, Loss::CrossEntropy, 20, 0.1);
    let bp = bp_gradients(&net, &x, &labels, Loss::CrossEntropy);
    for (l, (p, b)) in pc.iter().zip(&bp).enumerate() {
        let c = cosine(p, b);
        assert!(c > 0.75, "layer {l}: cosine {c}");
    }
    // Three epochs of PC with Adam on 2000 images; accuracy on 1000 held-out training images.
    let cfg = axon::math::optimizer::OptimizerConfig {
        kind: axon::math::optimizer::OptimizerKind::Adam,
        ..Default::default()
    };
    let sizes: Vec<usize> = net
        .layers()
        .iter()
        .flat_map(|l| [l.weight.as_slice().len(), l.bias.len()])
        .collect();
    let mut opt = axon::math::optimizer::Optimizer::new(cfg, &sizes);
    let mut order = Vec::new();
    for epoch in 1..=3 {
        epoch_order(1, epoch, 2_000, &mut order);
        for chunk in order.chunks(64) {
            data.train.fill_batch(chunk, &mut x, &mut labels);
            let g =
                axon::learn::pc::pc_batch_gradients(&net, &x, &labels, Loss::CrossEntropy, 20, 0.1);
            opt.begin_step();
            for (i, (layer, g)) in net.layers_mut().iter_mut().zip(&g).enumerate() {
                opt.update(
                    2 * i,
                    layer.weight.as_mut_slice(),
                    g.weight.as_slice(),
                    2e-3,
                );
                opt.update(2 * i + 1, &mut layer.bias, &g.bias, 2e-3);
            }
        }
    }
    let rest: Vec<usize> = (2_000..3_000).collect();
    let mut hx = Matrix::zeros(1000, 784);
    let mut hl = Vec::new();
    data.train.fill_batch(&rest, &mut hx, &mut hl);
    let mut trace = net.trace(1000);
    let out = net.forward(&hx, &mut trace, Threads::ONE).clone();
    let mut pred = Vec::new();
    axon::math::loss::argmax_rows(&out, &mut pred);
    let acc = pred
        .iter()
        .zip(&hl)
        .filter(|(&p, &y)| p == usize::from(y))
        .count() as f64
        / 1000.0;
    eprintln!("PC (T 20, gamma 0.1, Adam 2e-3), 3 epochs on 2000 images: held-out accuracy {acc}");
    assert!(acc > 0.85, "PC must learn: held-out accuracy {acc}");
}

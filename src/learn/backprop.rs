//! The synchronous backprop baseline: minibatch training and evaluation of an [`Mlp`].
//!
//! No actors, no channels: one thread (or up to `workers` threads inside the matrix products)
//! runs forward, loss, backward and the optimiser step for each batch. Every buffer is sized
//! once, so a training step allocates nothing. The data order of epoch `e` comes from
//! [`epoch_order`], a pure function of the seed and `e`, so any other learner (the
//! predictive-coding coordinator, a later resume) sees exactly the same batches.

use crate::data::dataset::Split;
use crate::math::loss::{count_correct, Loss};
use crate::math::matrix::{Matrix, Threads};
use crate::math::mlp::{ForwardTrace, Gradients, Mlp};
use crate::math::optimizer::{Optimizer, OptimizerConfig, Schedule};
use crate::math::rng::SeededRng;

/// Examples per forward pass when evaluating.
pub const EVAL_BATCH: usize = 1000;

/// Training hyper-parameters of the baseline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainConfig {
    /// Examples per batch.
    pub batch_size: usize,
    /// Base learning rate.
    pub lr: f32,
    /// Learning-rate schedule over the whole run.
    pub schedule: Schedule,
    /// Number of epochs the schedule spans.
    pub epochs: usize,
    /// Output loss.
    pub loss: Loss,
    /// Optimiser.
    pub optimizer: OptimizerConfig,
    /// Seed of the data order.
    pub seed: u64,
    /// Threads the matrix products may use.
    pub threads: Threads,
}

/// Loss and accuracy over a pass.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PassStats {
    /// Mean loss (per example).
    pub loss: f64,
    /// Fraction classified right.
    pub accuracy: f64,
}

/// The order in which epoch `epoch` (1-based) visits `n` training examples.
pub fn epoch_order(seed: u64, epoch: usize, n: usize, out: &mut Vec<usize>) {
    out.clear();
    out.extend(0..n);
    SeededRng::stream(seed, &format!("data-order/epoch-{epoch}")).shuffle(out);
}

/// A network being trained by backprop, with all the buffers a step needs.
#[derive(Debug)]
pub struct Backprop {
    net: Mlp,
    cfg: TrainConfig,
    optimizer: Optimizer,
    trace: ForwardTrace,
    grads: Gradients,
    dz: Matrix,
    batch: Matrix,
    labels: Vec<u8>,
    order: Vec<usize>,
    predictions: Vec<usize>,
    step: usize,
}

impl Backprop {
    /// Prepares to train `net`.
    pub fn new(net: Mlp, cfg: TrainConfig) -> Self {
        let sizes: Vec<usize> = net
            .layers()
            .iter()
            .flat_map(|l| [l.weight.as_slice().len(), l.bias.len()])
            .collect();
        let widths = net.widths();
        let b = cfg.batch_size.max(EVAL_BATCH);
        Self {
            optimizer: Optimizer::new(cfg.optimizer, &sizes),
            trace: net.trace(b),
            grads: net.gradients(cfg.batch_size),
            dz: Matrix::zeros(b, widths[widths.len() - 1]),
            batch: Matrix::zeros(b, widths[0]),
            labels: Vec::with_capacity(b),
            order: Vec::new(),
            predictions: Vec::with_capacity(b),
            step: 0,
            net,
            cfg,
        }
    }

    /// The network.
    pub fn net(&self) -> &Mlp {
        &self.net
    }

    /// One optimisation step on a batch; returns (mean loss, correct count) measured on the
    /// forward pass before the update.
    pub fn train_batch(&mut self, input: &Matrix, labels: &[u8], lr: f32) -> (f64, usize) {
        let out = self.net.forward(input, &mut self.trace, self.cfg.threads);
        let correct = count_correct(out, labels, &mut self.predictions);
        let loss = self.cfg.loss.evaluate(out, labels, Some(&mut self.dz));
        self.net.backward(
            input,
            &self.trace,
            &self.dz,
            &mut self.grads,
            self.cfg.threads,
        );
        self.optimizer.begin_step();
        for (i, (layer, grad)) in self
            .net
            .layers_mut()
            .iter_mut()
            .zip(&self.grads.layers)
            .enumerate()
        {
            self.optimizer.update(
                2 * i,
                layer.weight.as_mut_slice(),
                grad.weight.as_slice(),
                lr,
            );
            self.optimizer
                .update(2 * i + 1, &mut layer.bias, &grad.bias, lr);
        }
        (f64::from(loss), correct)
    }

    /// One epoch (1-based number `epoch`) over `data`; `on_batch(done, total)` is called
    /// after every batch.
    pub fn train_epoch(
        &mut self,
        data: &Split,
        epoch: usize,
        on_batch: &mut dyn FnMut(usize, usize),
    ) -> PassStats {
        let mut order = std::mem::take(&mut self.order);
        epoch_order(self.cfg.seed, epoch, data.len(), &mut order);
        let batches = order.len().div_ceil(self.cfg.batch_size);
        let total_steps = batches * self.cfg.epochs;
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        let mut batch = std::mem::replace(&mut self.batch, Matrix::zeros(0, 0));
        let mut labels = std::mem::take(&mut self.labels);
        for (k, chunk) in order.chunks(self.cfg.batch_size).enumerate() {
            data.fill_batch(chunk, &mut batch, &mut labels);
            let lr = self.cfg.schedule.rate(self.cfg.lr, self.step, total_steps);
            let (l, c) = self.train_batch(&batch, &labels, lr);
            self.step += 1;
            loss_sum += l * chunk.len() as f64;
            correct += c;
            on_batch(k + 1, batches);
        }
        self.batch = batch;
        self.labels = labels;
        self.order = order;
        let n = data.len().max(1) as f64;
        PassStats {
            loss: loss_sum / n,
            accuracy: correct as f64 / n,
        }
    }

    /// Loss and accuracy of the current network on `data`.
    pub fn evaluate(&mut self, data: &Split) -> PassStats {
        let mut batch = std::mem::replace(&mut self.batch, Matrix::zeros(0, 0));
        let mut labels = std::mem::take(&mut self.labels);
        let stats = evaluate_with(
            &self.net,
            data,
            &mut batch,
            &mut labels,
            &mut self.trace,
            &mut self.predictions,
            self.cfg.loss,
            self.cfg.threads,
        );
        self.batch = batch;
        self.labels = labels;
        stats
    }
}

/// Evaluates `net` on `data` in batches of [`EVAL_BATCH`], using the given buffers.
#[allow(clippy::too_many_arguments)]
fn evaluate_with(
    net: &Mlp,
    data: &Split,
    batch: &mut Matrix,
    labels: &mut Vec<u8>,
    trace: &mut ForwardTrace,
    predictions: &mut Vec<usize>,
    loss: Loss,
    threads: Threads,
) -> PassStats {
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(EVAL_BATCH) {
        data.fill_batch(chunk, batch, labels);
        let out = net.forward(batch, trace, threads);
        correct += count_correct(out, labels, predictions);
        loss_sum += f64::from(loss.evaluate(out, labels, None)) * chunk.len() as f64;
    }
    let n = data.len().max(1) as f64;
    PassStats {
        loss: loss_sum / n,
        accuracy: correct as f64 / n,
    }
}

/// Loss and accuracy of any network on `data` (allocates its own buffers).
pub fn evaluate(net: &Mlp, data: &Split, loss: Loss, threads: Threads) -> PassStats {
    let widths = net.widths();
    let b = EVAL_BATCH.min(data.len().max(1));
    let mut batch = Matrix::zeros(b, widths[0]);
    let mut trace = net.trace(b);
    evaluate_with(
        net,
        data,
        &mut batch,
        &mut Vec::new(),
        &mut trace,
        &mut Vec::new(),
        loss,
        threads,
    )
}

//! Inference of a trained MLP by message passing: an input actor, one actor per layer, and a
//! readout actor that tallies accuracy, exchanging only `Activity` messages.
//!
//! ```text
//! input --Activity(step b)--> layer 1 --Activity--> ... --> layer L --Activity--> readout
//!   ^                                                                               |
//!   '------------------------- Report (batch b done) -------------------------------'
//! ```
//! The input keeps two batches in flight (credit-based flow control: a new batch for each
//! report), so layers work in a pipeline while buffers stay few.
//! Each layer actor owns its [`Synapses`] and computes `phi(a W^T + b)` (the last layer: no
//! `phi`) for each batch that arrives; the readout compares the argmax of each row with the
//! labels of batch `step`. The maths is [`crate::math::mlp`]'s, batch by batch as
//! [`crate::learn::backprop::evaluate`] does it, so the accuracy equals the synchronous evaluation
//! exactly; the run also yields the runtime's traffic report and sampled events. This is the
//! forward sweep that the predictive-coding actors start from.

use crate::data::dataset::Split;
use crate::learn::backprop::{PassStats, EVAL_BATCH};
use crate::math::activation::Activation;
use crate::math::loss::{count_correct, Loss};
use crate::math::matrix::{matmul, MatView, Matrix, Threads};
use crate::math::mlp::Mlp;
use crate::message::{Message, ReportData, SignalPool, Synapses};
use crate::run_error::NetworkRunError;
use crate::runtime::actor::{Actor, Context, Flow};
use crate::runtime::{Network, RunReport, Runtime, RuntimeConfig};

/// Sends the split in batches, one per turn.
struct InputActor {
    split: Split,
    next: usize,
    pool: SignalPool,
    batch: Matrix,
    labels: Vec<u8>,
    indices: Vec<usize>,
}

impl InputActor {
    fn send_batch(&mut self, ctx: &mut Context<'_, Message>) -> Flow {
        let start = self.next * EVAL_BATCH;
        if start >= self.split.len() {
            return Flow::Stop;
        }
        let end = (start + EVAL_BATCH).min(self.split.len());
        self.indices.clear();
        self.indices.extend(start..end);
        self.split
            .fill_batch(&self.indices, &mut self.batch, &mut self.labels);
        let (rows, cols) = (self.batch.rows(), self.batch.cols());
        let values = self.batch.as_slice();
        let signal = self
            .pool
            .signal(rows, cols, |out| out.copy_from_slice(values));
        ctx.send(
            0,
            Message::Activity {
                step: self.next as u64,
                shard: 0,
                changed: true,
                signal,
            },
        );
        self.next += 1;
        Flow::Continue
    }
}

/// Batches in flight between the input and the readout.
const WINDOW: usize = 2;

impl Actor<Message> for InputActor {
    fn started(&mut self, ctx: &mut Context<'_, Message>) -> Flow {
        for _ in 0..WINDOW {
            if self.send_batch(ctx) == Flow::Stop {
                return Flow::Stop;
            }
        }
        Flow::Continue
    }
    fn handle(&mut self, _done: Message, ctx: &mut Context<'_, Message>) -> Flow {
        self.send_batch(ctx)
    }
}

/// One dense layer: its synapses, its activation (none at the output) and buffers.
struct LayerActor {
    synapses: Synapses,
    activation: Option<Activation>,
    z: Matrix,
    pool: SignalPool,
}

impl Actor<Message> for LayerActor {
    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        let Message::Activity { step, signal, .. } = msg else {
            return Flow::Continue;
        };
        let input = MatView::new(signal.values(), signal.rows(), signal.cols());
        self.z.set_rows(signal.rows());
        matmul(
            &mut self.z,
            input,
            self.synapses.weights().t(),
            1.0,
            false,
            Threads::ONE,
        );
        let bias = self.synapses.bias();
        for r in 0..self.z.rows() {
            for (v, &b) in self.z.row_mut(r).iter_mut().zip(bias) {
                *v += b;
            }
        }
        drop(signal); // the sender's pool may reuse the buffer now
        let (rows, cols) = (self.z.rows(), self.z.cols());
        let z = self.z.as_slice();
        let out = match self.activation {
            Some(act) => self.pool.signal(rows, cols, |o| act.apply_slice(z, o)),
            None => self.pool.signal(rows, cols, |o| o.copy_from_slice(z)),
        };
        ctx.send(
            0,
            Message::Activity {
                step,
                shard: 0,
                changed: true,
                signal: out,
            },
        );
        Flow::Continue
    }
}

/// Tallies predictions against labels; ends the run after the last batch.
struct ReadoutActor {
    labels: Vec<u8>,
    batches: usize,
    received: usize,
    correct: usize,
    loss_sum: f64,
    loss: Loss,
    predictions: Vec<usize>,
    logits: Matrix,
}

impl Actor<Message> for ReadoutActor {
    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        let Message::Activity { step, signal, .. } = msg else {
            return Flow::Continue;
        };
        let start = step as usize * EVAL_BATCH;
        let labels = &self.labels[start..start + signal.rows()];
        self.logits.set_rows(signal.rows());
        self.logits.as_mut_slice().copy_from_slice(signal.values());
        self.correct += count_correct(&self.logits, labels, &mut self.predictions);
        self.loss_sum +=
            f64::from(self.loss.evaluate(&self.logits, labels, None)) * signal.rows() as f64;
        self.received += 1;
        if self.received == self.batches {
            return Flow::StopAll;
        }
        ctx.send(
            0,
            Message::Report {
                step,
                data: ReportData::Predictions(signal),
            },
        );
        Flow::Continue
    }
}

/// What a message-passing evaluation measured.
pub struct ActorEvaluation {
    /// Loss and accuracy (equal to the synchronous evaluation's).
    pub stats: PassStats,
    /// The runtime's report: traffic, sampled events, timings.
    pub report: RunReport<Message>,
}

/// Evaluates `net` on `split` by message passing on the configured executor.
pub fn evaluate_by_messages(
    net: &Mlp,
    split: &Split,
    loss: Loss,
    config: RuntimeConfig,
) -> Result<ActorEvaluation, NetworkRunError> {
    let mut network = Network::new();
    let widths = net.widths();
    let input = network.add(
        "input",
        InputActor {
            split: split.clone(),
            next: 0,
            pool: SignalPool::default(),
            batch: Matrix::zeros(EVAL_BATCH.min(split.len().max(1)), widths[0]),
            labels: Vec::new(),
            indices: Vec::new(),
        },
    );
    let last = net.layers().len() - 1;
    let mut prev = input.index();
    for (i, layer) in net.layers().iter().enumerate() {
        let id = network.add(
            crate::learn::layer::LayerName::new(i + 1, 0, 1).to_string(),
            LayerActor {
                synapses: Synapses::from_layer(layer.clone()),
                activation: (i < last).then_some(net.activation()),
                z: Matrix::zeros(EVAL_BATCH, layer.outputs()),
                pool: SignalPool::default(),
            },
        );
        network.connect(prev, id);
        prev = id.index();
    }
    let batches = split.len().div_ceil(EVAL_BATCH);
    let readout = network.add(
        "readout",
        ReadoutActor {
            labels: split.labels().to_vec(),
            batches,
            received: 0,
            correct: 0,
            loss_sum: 0.0,
            loss,
            predictions: Vec::new(),
            logits: Matrix::zeros(EVAL_BATCH, widths[widths.len() - 1]),
        },
    );
    network.connect(prev, readout);
    network.connect(readout, input);
    let report = Runtime::new(config).run(network)?;
    let r = report.actor(readout);
    let n = split.len().max(1) as f64;
    let stats = PassStats {
        loss: r.loss_sum / n,
        accuracy: r.correct as f64 / n,
    };
    Ok(ActorEvaluation { stats, report })
}

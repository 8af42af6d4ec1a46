//! The predictive-coding run: the `Coordinator` actor that feeds batches and tallies
//! results, the wiring of layer shards around it, and [`train_pc`], which runs the whole
//! training as one actor network and streams per-batch and per-epoch events to the caller.
//!
//! ```text
//!             Phase / Activity(x0)          Activity up            Activity up
//! coordinator ---------------------> layer-1 shards <-----> layer-2 shards <-----> output
//!      ^   \____________ Phase ___________________________/________________ Phase, Clamp
//!      '---- Report (predictions, energies, snapshots) from every shard
//!                                     Error (+ WeightTransport) down
//! ```
//! The coordinator keeps two batches in flight (credit-based): each shard works through them
//! strictly in order, by step number. Per epoch it sends the training batches (the order of
//! [`crate::learn::backprop::epoch_order`], shared with the BP baseline), then the test set in
//! evaluation batches (a forward sweep), then a snapshot phase that brings the weights back
//! for the checkpoint and the weight gap. Nothing else leaves the shards.

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::data::dataset::Split;
use crate::experiment::checkpoint::ResumeState;
use crate::learn::backprop::{epoch_order, EVAL_BATCH};
use crate::learn::ep_layer::EpLayerActor;
use crate::learn::pc::relative_gap;
use crate::learn::pc_layer::{shard_range, Feedback, KpInit, LayerActor, PcConfig, Placement};
use crate::math::loss::argmax_rows;
use crate::math::matrix::{Matrix, Threads};
use crate::math::mlp::{DenseLayer, Mlp};
use crate::math::rng::SeededRng;
use crate::message::{Message, Phase, ReportData, SignalPool, Synapses};
use crate::runtime::actor::{Actor, Context, Flow};
use crate::runtime::{Network, RunReport, Runtime, RuntimeConfig, RuntimeError};

/// Batches the coordinator keeps in flight.
const WINDOW: usize = 2;

/// What a predictive-coding run trains on and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcPlan {
    /// Passes over the training split.
    pub epochs: usize,
    /// Examples per training batch.
    pub batch_size: usize,
    /// Seed of the data order (and of random feedback synapses).
    pub seed: u64,
}

/// Checkpointing, resuming and stopping a predictive-coding run.
#[derive(Clone, Debug, Default)]
pub struct TrainControl {
    /// Resumable checkpoints ([`PcEvent::Checkpoint`]): `None` takes none; `Some(0)` one at
    /// the end of every epoch; `Some(n)` also one after every `n` training batches.
    pub checkpoint_every: Option<usize>,
    /// Continue from this checkpoint (actor states and data position; its `results` are the
    /// caller's business).
    pub resume: Option<ResumeState>,
    /// Set it to stop gracefully: the coordinator lets the batches in flight finish, takes a
    /// final checkpoint and stops; [`train_pc_with`] then returns
    /// [`RuntimeError::Interrupted`].
    pub stop: Option<Arc<AtomicBool>>,
    /// Fault injection: the actor of this name panics after this many training batches.
    pub panic: Option<(String, usize)>,
}

/// One finished epoch of the actor model.
#[derive(Clone, Debug)]
pub struct PcEpoch {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss of the forward sweeps (before each batch's update).
    pub train_loss: f64,
    /// Training accuracy of the forward sweeps.
    pub train_accuracy: f64,
    /// Test loss after the epoch (forward sweep through the actors).
    pub test_loss: f64,
    /// Test accuracy after the epoch.
    pub test_accuracy: f64,
    /// Training seconds (first batch sent to last batch settled and learnt).
    pub wall_s: f64,
    /// Mean free energy per example at each inference step, over the epoch's batches:
    /// `sum_l 0.5 ||eps_l||^2 + loss`.
    pub free_energy: Vec<f64>,
    /// With gradient checks on: per layer, the largest relative gap over the epoch between
    /// the gradient the actors formed and backprop's from the same weights on the same batch.
    pub grad_gap: Option<Vec<f64>>,
    /// Per hidden layer `l`, `||B_l - W_{l+1}^T|| / ||W_{l+1}||` after the epoch: how far the
    /// copy a layer feeds back through is from the weights it stands in for (0 while
    /// Kolen-Pollack copies from a shared seed stay tied; `None` for direct feedback).
    pub feedback_gap: Option<Vec<f64>>,
    /// The weights after the epoch, gathered from the shards' snapshots.
    pub net: Mlp,
}

/// What [`train_pc`] reports while it runs.
#[derive(Clone, Debug)]
pub enum PcEvent {
    /// A training batch is settled and learnt everywhere.
    BatchDone {
        /// 1-based epoch.
        epoch: usize,
        /// Batches done in this epoch.
        done: usize,
        /// Batches per epoch.
        total: usize,
    },
    /// An epoch is finished, evaluated and snapshotted.
    Epoch(Box<PcEpoch>),
    /// Every actor saved its state: a resumable checkpoint (its `results` empty).
    Checkpoint(Box<ResumeState>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Work {
    Train,
    Eval,
    Snapshot,
    Save,
}

/// A batch (or phase) sent and not yet complete.
struct InFlight {
    epoch: usize,
    base: u64,
    span: u64,
    work: Work,
    labels: Vec<u8>,
    energies_in: usize,
    predicted: bool,
    snapshots_in: usize,
    /// Asynchronous schedule: which actors report settled, how many, and whether the learn
    /// phase went out.
    settled: std::collections::BTreeMap<(u32, u32), bool>,
    settled_count: usize,
    learn_sent: bool,
    /// Saves: each actor's state, by name.
    states: std::collections::BTreeMap<String, crate::experiment::checkpoint::StateBag>,
    /// Gradient checks: the input, the weights before the batch and the gradients formed.
    input: Option<Matrix>,
    before: Vec<DenseLayer>,
    grads: Vec<DenseLayer>,
}

impl InFlight {
    /// Work of `span` 1 from step `base`, nothing received yet.
    fn new(epoch: usize, base: u64, work: Work, labels: Vec<u8>) -> Self {
        Self {
            epoch,
            base,
            span: 1,
            work,
            labels,
            energies_in: 0,
            predicted: false,
            snapshots_in: 0,
            settled: std::collections::BTreeMap::new(),
            settled_count: 0,
            learn_sent: false,
            states: std::collections::BTreeMap::new(),
            input: None,
            before: Vec::new(),
            grads: Vec::new(),
        }
    }
}

/// Per-epoch sums.
#[derive(Default)]
struct EpochSums {
    train_loss: f64,
    train_correct: usize,
    train_n: usize,
    energy: Vec<f64>,
    test_loss: f64,
    test_correct: usize,
    test_n: usize,
    started: Option<Instant>,
    wall: Duration,
    grad_gap: Vec<f64>,
    batches_done: usize,
}

/// Feeds batches, tallies accuracy and energy, gathers snapshots.
pub(crate) struct Coordinator {
    train: Split,
    test: Split,
    cfg: Arc<PcConfig>,
    plan: PcPlan,
    net_shape: Mlp,
    /// Out-edges: every shard, in network order; layer 1's and the output's among them.
    shard_edges: usize,
    input_edges: Vec<usize>,
    output_edge: usize,
    span: u64,
    // What to send next.
    epoch: usize,
    work: Work,
    next: usize,
    train_batches: usize,
    eval_batches: usize,
    next_step: u64,
    in_flight: VecDeque<InFlight>,
    spare_labels: Vec<Vec<u8>>,
    order: Vec<usize>,
    indices: Vec<usize>,
    batch: Matrix,
    labels: Vec<u8>,
    pool: SignalPool,
    label_pool: SignalPool,
    logits: Matrix,
    predictions: Vec<usize>,
    sums: std::collections::BTreeMap<usize, EpochSums>,
    snapshot: Vec<DenseLayer>,
    /// Feedback synapses gathered at a snapshot, per hidden layer, in the layout of the
    /// weights above.
    fb_snapshot: Vec<Matrix>,
    events: Sender<PcEvent>,
    /// A shard's report of a non-finite value: (layer, shard, step, what, value).
    fault: Option<(u32, u32, u64, &'static str, f32)>,
    /// Checkpoint period in training batches (`None`: no checkpoints; 0: epoch ends only).
    checkpoint_every: Option<usize>,
    /// A save is to be sent next.
    save_due: bool,
    /// The epoch whose data order `order` holds.
    order_epoch: usize,
    /// Graceful stop: requested from outside; and taken up (final save sent).
    stop: Option<Arc<AtomicBool>>,
    stopping: bool,
}

impl Coordinator {
    fn layer_shapes(&self) -> Vec<DenseLayer> {
        self.net_shape
            .layers()
            .iter()
            .map(|l| DenseLayer::zeros(l.inputs(), l.outputs()))
            .collect()
    }

    /// Sends the next batch or phase of the plan, if any; returns whether it sent.
    fn send_next(&mut self, ctx: &mut Context<'_, Message>) -> bool {
        // A save drains the pipeline: nothing follows it until every actor has answered, so
        // the sums it records are exactly those of the batches before it.
        if self.in_flight.back().is_some_and(|f| f.work == Work::Save) {
            return false;
        }
        if self.save_due {
            self.save_due = false;
            return self.send_save(ctx);
        }
        if self.epoch > self.plan.epochs || self.stopping {
            return false;
        }
        let base = self.next_step;
        let epoch = self.epoch;
        let labels = self.spare_labels.pop().unwrap_or_default();
        let mut item = InFlight::new(epoch, base, self.work, labels);
        match self.work {
            Work::Train | Work::Eval => {
                let train = self.work == Work::Train;
                let size = if train {
                    self.plan.batch_size
                } else {
                    EVAL_BATCH
                };
                let split = if train { &self.train } else { &self.test };
                if train && self.order_epoch != self.epoch {
                    epoch_order(self.plan.seed, self.epoch, split.len(), &mut self.order);
                    self.order_epoch = self.epoch;
                }
                if train {
                    self.sums
                        .entry(epoch)
                        .or_default()
                        .started
                        .get_or_insert_with(Instant::now);
                }
                let start = self.next * size;
                let end = (start + size).min(split.len());
                self.indices.clear();
                if train {
                    self.indices.extend_from_slice(&self.order[start..end]);
                } else {
                    self.indices.extend(start..end);
                }
                split.fill_batch(&self.indices, &mut self.batch, &mut self.labels);
                item.labels.clear();
                item.labels.extend_from_slice(&self.labels);
                let rows = (end - start) as u32;
                let phase = if train {
                    item.span = if self.cfg.asynchronous.is_some() {
                        2
                    } else {
                        self.span
                    };
                    if self.cfg.check_gradients {
                        item.input = Some(self.batch.clone());
                        item.before = self.layer_shapes();
                        item.grads = self.layer_shapes();
                    }
                    Phase::Train { rows }
                } else {
                    if let Some(ep) = &self.cfg.ep {
                        // The free phase: states at steps 0 .. T, predictions at T.
                        item.span = ep.free_steps as u64 + 1;
                    }
                    Phase::Evaluate { rows }
                };
                for edge in 0..self.shard_edges {
                    ctx.send(edge, Message::Phase { step: base, phase });
                }
                if let (true, Some(ep)) = (train, &self.cfg.ep) {
                    // Equilibrium propagation: the nudged phase begins after the free one.
                    let negative = ep.random_sign_beta
                        && crate::learn::ep::beta_sign(self.plan.seed, base) < 0.0;
                    let nudge = Message::Phase {
                        step: base + ep.free_steps as u64,
                        phase: Phase::Nudge { negative },
                    };
                    for edge in 0..self.shard_edges {
                        ctx.send(edge, nudge.clone());
                    }
                }
                let (r, c) = (self.batch.rows(), self.batch.cols());
                let values = self.batch.as_slice();
                let signal = self.pool.signal(r, c, |o| o.copy_from_slice(values));
                for &edge in &self.input_edges {
                    ctx.send(
                        edge,
                        Message::Activity {
                            step: base,
                            shard: 0,
                            changed: true,
                            signal: signal.clone(),
                        },
                    );
                }
                if train {
                    let labels = &self.labels;
                    let l = self.label_pool.signal(labels.len(), 1, |o| {
                        o.iter_mut()
                            .zip(labels)
                            .for_each(|(v, &y)| *v = f32::from(y));
                    });
                    ctx.send(
                        self.output_edge,
                        Message::Clamp {
                            step: base,
                            labels: l,
                        },
                    );
                }
                self.next += 1;
                let total = if train {
                    self.train_batches
                } else {
                    self.eval_batches
                };
                if self.next == total {
                    self.next = 0;
                    self.work = if train { Work::Eval } else { Work::Snapshot };
                } else if train
                    && self
                        .checkpoint_every
                        .is_some_and(|n| n > 0 && self.next.is_multiple_of(n))
                {
                    self.save_due = true;
                }
            }
            Work::Snapshot => {
                self.snapshot = self.layer_shapes();
                for edge in 0..self.shard_edges {
                    ctx.send(
                        edge,
                        Message::Phase {
                            step: base,
                            phase: Phase::Snapshot,
                        },
                    );
                }
                self.work = Work::Train;
                self.epoch += 1;
                // After the last epoch there is nothing left to resume.
                self.save_due = self.checkpoint_every.is_some() && self.epoch <= self.plan.epochs;
            }
            Work::Save => unreachable!("saves are sent by send_save"),
        }
        self.next_step += item.span;
        self.in_flight.push_back(item);
        true
    }

    /// Asynchronous schedule: once every actor of the training batch in flight reports
    /// settled, tells them all to learn.
    fn learn_if_settled(&mut self, ctx: &mut Context<'_, Message>) {
        let shards = self.shard_edges;
        let Some(f) = self.in_flight.front_mut() else {
            return;
        };
        if self.cfg.asynchronous.is_none()
            || f.work != Work::Train
            || f.learn_sent
            || f.settled_count < shards
        {
            return;
        }
        f.learn_sent = true;
        let step = f.base;
        for edge in 0..shards {
            ctx.send(
                edge,
                Message::Phase {
                    step,
                    phase: Phase::Learn,
                },
            );
        }
    }

    /// Asks every actor for its state (a resumable checkpoint at the current position).
    fn send_save(&mut self, ctx: &mut Context<'_, Message>) -> bool {
        let base = self.next_step;
        for edge in 0..self.shard_edges {
            ctx.send(
                edge,
                Message::Phase {
                    step: base,
                    phase: Phase::Save,
                },
            );
        }
        self.next_step += 1;
        let item = InFlight::new(self.epoch, base, Work::Save, Vec::new());
        self.in_flight.push_back(item);
        true
    }

    /// The coordinator's position after everything sent so far (called when a save completes,
    /// with nothing in flight behind it).
    fn position(&self) -> crate::experiment::checkpoint::Position {
        let mut p = crate::experiment::checkpoint::Position {
            epoch: self.epoch,
            next_batch: if self.work == Work::Train {
                self.next
            } else {
                self.train_batches
            },
            next_step: self.next_step,
            ..Default::default()
        };
        if let Some(s) = self.sums.get(&self.epoch) {
            p.train_loss = s.train_loss;
            p.train_correct = s.train_correct;
            p.train_n = s.train_n;
            p.energy = s.energy.clone();
            p.wall_s = if s.wall > Duration::ZERO {
                s.wall.as_secs_f64()
            } else {
                s.started.map_or(0.0, |t| t.elapsed().as_secs_f64())
            };
            p.grad_gap = s.grad_gap.clone();
            p.batches_done = s.batches_done;
        }
        p
    }

    /// Continues from a checkpoint's position.
    fn resume_at(&mut self, p: &crate::experiment::checkpoint::Position) {
        self.epoch = p.epoch;
        self.next = p.next_batch;
        self.next_step = p.next_step;
        self.work = Work::Train;
        if self.next >= self.train_batches {
            // Stopped while evaluating: the evaluation starts over.
            self.work = Work::Eval;
            self.next = 0;
        }
        if p.batches_done > 0 {
            let started = Instant::now()
                .checked_sub(Duration::from_secs_f64(p.wall_s))
                .unwrap_or_else(Instant::now);
            self.sums.insert(
                p.epoch,
                EpochSums {
                    train_loss: p.train_loss,
                    train_correct: p.train_correct,
                    train_n: p.train_n,
                    energy: p.energy.clone(),
                    started: Some(started),
                    grad_gap: p.grad_gap.clone(),
                    batches_done: p.batches_done,
                    wall: if p.batches_done >= self.train_batches {
                        Duration::from_secs_f64(p.wall_s)
                    } else {
                        Duration::ZERO
                    },
                    ..Default::default()
                },
            );
        }
    }

    fn tally(&mut self, epoch: usize, labels: &[u8], values: &[f32], train: bool) {
        let rows = labels.len();
        self.logits.set_rows(rows);
        self.logits.as_mut_slice().copy_from_slice(values);
        argmax_rows(&self.logits, &mut self.predictions);
        let correct = self
            .predictions
            .iter()
            .zip(labels)
            .filter(|(&p, &y)| p == usize::from(y))
            .count();
        // PC's training loss comes from the output's energies (its forward sweep); EP's is
        // the cost at the free fixed point, which is what the output reports here.
        let ep = self.cfg.ep.is_some();
        let loss = (!train || ep).then(|| self.cfg.loss.evaluate(&self.logits, labels, None));
        let sums = self.sums.entry(epoch).or_default();
        if !train {
            sums.test_loss += f64::from(loss.unwrap_or(0.0)) * rows as f64;
            sums.test_correct += correct;
            sums.test_n += rows;
        } else {
            sums.train_loss += f64::from(loss.unwrap_or(0.0)) * rows as f64;
            sums.train_correct += correct;
            sums.train_n += rows;
        }
    }

    fn absorb(&mut self, step: u64, data: ReportData) {
        let Some(i) = self
            .in_flight
            .iter()
            .position(|f| f.base <= step && step < f.base + f.span)
        else {
            return;
        };
        let epoch = self.in_flight[i].epoch;
        match data {
            ReportData::Predictions(s) => {
                let train = self.in_flight[i].work == Work::Train;
                let labels = std::mem::take(&mut self.in_flight[i].labels);
                self.tally(epoch, &labels, s.values(), train);
                self.in_flight[i].labels = labels;
                self.in_flight[i].predicted = true;
            }
            ReportData::Energies { layer, values } => {
                let f = &mut self.in_flight[i];
                f.energies_in += 1;
                let sums = self.sums.entry(epoch).or_default();
                if sums.energy.len() < values.cols() {
                    sums.energy.resize(values.cols(), 0.0);
                }
                for (e, &v) in sums.energy.iter_mut().zip(values.values()) {
                    *e += f64::from(v);
                }
                if layer as usize == self.net_shape.layers().len() && self.cfg.ep.is_none() {
                    sums.train_loss += f64::from(values.values()[0]);
                }
            }
            ReportData::Snapshot {
                layer,
                offset,
                copy,
            } => {
                let f = &mut self.in_flight[i];
                f.snapshots_in += 1;
                let into = if f.work == Work::Snapshot {
                    &mut self.snapshot
                } else {
                    &mut f.before
                };
                let l = &mut into[layer as usize - 1];
                copy.write_rows(&mut l.weight, offset as usize);
                let o = offset as usize;
                l.bias[o..o + copy.bias().len()].copy_from_slice(copy.bias());
            }
            ReportData::Feedback {
                layer,
                offset,
                copy,
            } => {
                let widths = self.net_shape.widths();
                let l = layer as usize;
                if self.fb_snapshot.len() < l {
                    self.fb_snapshot = (1..widths.len() - 1)
                        .map(|h| Matrix::zeros(widths[h + 1], widths[h]))
                        .collect();
                }
                let b = &mut self.fb_snapshot[l - 1];
                let o = offset as usize;
                let w = copy.weights();
                if w.rows() == b.rows() {
                    let mut part = Matrix::zeros(w.rows(), w.cols());
                    part.copy_from_view(w);
                    for r in 0..part.rows() {
                        b.row_mut(r)[o..o + part.cols()].copy_from_slice(part.row(r));
                    }
                }
            }
            ReportData::State {
                layer,
                shard,
                state,
            } => {
                let f = &mut self.in_flight[i];
                f.snapshots_in += 1;
                let bag = std::sync::Arc::try_unwrap(state).unwrap_or_else(|a| (*a).clone());
                f.states.insert(format!("layer-{layer}.{shard}"), bag);
            }
            ReportData::Gradient {
                layer,
                offset,
                weight,
                bias,
            } => {
                let g = &mut self.in_flight[i].grads[layer as usize - 1];
                let o = offset as usize;
                let cols = g.weight.cols();
                for r in 0..weight.rows() {
                    g.weight
                        .row_mut(o + r)
                        .copy_from_slice(&weight.values()[r * cols..(r + 1) * cols]);
                }
                g.bias[o..o + bias.cols()].copy_from_slice(bias.values());
            }
            ReportData::Settled {
                layer,
                shard,
                settled,
            } => {
                let f = &mut self.in_flight[i];
                let before = f.settled.insert((layer, shard), settled).unwrap_or(false);
                match (before, settled) {
                    (false, true) => f.settled_count += 1,
                    (true, false) => f.settled_count -= 1,
                    _ => {}
                }
            }
            ReportData::Energy(_) | ReportData::SpikeCounts { .. } | ReportData::Fault { .. } => {}
        }
    }

    fn complete(&self, f: &InFlight) -> bool {
        let shards = self.shard_edges;
        match f.work {
            Work::Train => f.predicted && f.energies_in == shards,
            Work::Eval => f.predicted,
            Work::Snapshot | Work::Save => f.snapshots_in == shards,
        }
    }

    /// Backprop's gradient from the weights the shards held before the batch, compared with
    /// the gradients they formed.
    fn check(&mut self, f: &InFlight) {
        let Some(input) = &f.input else { return };
        let net = Mlp::from_layers(f.before.clone(), self.net_shape.activation());
        let rows = input.rows();
        let mut trace = net.trace(rows);
        let mut grads = net.gradients(rows);
        let out = net.forward(input, &mut trace, Threads::ONE);
        let mut dz = Matrix::zeros(rows, out.cols());
        self.cfg.loss.evaluate(out, &f.labels, Some(&mut dz));
        net.backward(input, &trace, &dz, &mut grads, Threads::ONE);
        let gap = relative_gap(&f.grads, &grads.layers);
        let worst = &mut self.sums.entry(f.epoch).or_default().grad_gap;
        worst.resize(gap.len(), 0.0);
        for (w, g) in worst.iter_mut().zip(gap) {
            *w = w.max(if g.is_nan() { f64::INFINITY } else { g });
        }
    }

    fn finish(&mut self, mut f: InFlight) {
        match f.work {
            Work::Train => {
                self.check(&f);
                let sums = self.sums.entry(f.epoch).or_default();
                sums.batches_done += 1;
                let done = sums.batches_done;
                if done == self.train_batches {
                    if let Some(s) = sums.started {
                        sums.wall = s.elapsed();
                    }
                }
                let _ = self.events.send(PcEvent::BatchDone {
                    epoch: f.epoch,
                    done,
                    total: self.train_batches,
                });
            }
            Work::Eval => {}
            Work::Save => {
                let state = crate::experiment::checkpoint::ResumeState {
                    position: self.position(),
                    actors: std::mem::take(&mut f.states),
                    results: String::new(),
                };
                let _ = self.events.send(PcEvent::Checkpoint(Box::new(state)));
            }
            Work::Snapshot => {
                let s = self.sums.remove(&f.epoch).unwrap_or_default();
                let n = s.train_n.max(1) as f64;
                let fb = std::mem::take(&mut self.fb_snapshot);
                let feedback_gap =
                    (!fb.is_empty() && self.cfg.feedback != Feedback::Direct).then(|| {
                        fb.iter()
                            .zip(&self.snapshot[1..])
                            .map(|(b, above)| matrix_gap(b, &above.weight))
                            .collect()
                    });
                let epoch = PcEpoch {
                    epoch: f.epoch,
                    train_loss: s.train_loss / n,
                    train_accuracy: s.train_correct as f64 / n,
                    test_loss: s.test_loss / s.test_n.max(1) as f64,
                    test_accuracy: s.test_correct as f64 / s.test_n.max(1) as f64,
                    wall_s: s.wall.as_secs_f64(),
                    free_energy: s.energy.iter().map(|e| e / n).collect(),
                    grad_gap: self.cfg.check_gradients.then_some(s.grad_gap),
                    feedback_gap,
                    net: Mlp::from_layers(
                        std::mem::take(&mut self.snapshot),
                        self.net_shape.activation(),
                    ),
                };
                let _ = self.events.send(PcEvent::Epoch(Box::new(epoch)));
            }
        }
        f.labels.clear();
        self.spare_labels.push(std::mem::take(&mut f.labels));
    }
}

impl Coordinator {
    /// Keeps the window full (two batches in flight; one under the asynchronous schedule,
    /// whose batches learn on the coordinator's word); stops everyone when all is done.
    fn refill(&mut self, ctx: &mut Context<'_, Message>) -> Flow {
        let window = if self.cfg.asynchronous.is_some() {
            1
        } else {
            WINDOW
        };
        while self.in_flight.len() < window && self.send_next(ctx) {}
        if self.in_flight.is_empty() {
            Flow::StopAll
        } else {
            Flow::Continue
        }
    }
}

impl Actor<Message> for Coordinator {
    fn started(&mut self, ctx: &mut Context<'_, Message>) -> Flow {
        self.refill(ctx)
    }

    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        if let Message::Report {
            step,
            data:
                ReportData::Fault {
                    layer,
                    shard,
                    what,
                    value,
                },
        } = msg
        {
            // Stop at the first: training on from garbage would only spread it.
            if self.fault.is_none() {
                self.fault = Some((layer, shard, step, what, value));
            }
            return Flow::StopAll;
        }
        if let Message::Report { step, data } = msg {
            self.absorb(step, data);
        }
        if !self.stopping
            && self
                .stop
                .as_ref()
                .is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
        {
            // A graceful stop: what is in flight finishes, then a final save, then nothing.
            self.stopping = true;
            self.save_due = true;
        }
        self.learn_if_settled(ctx);
        while self.in_flight.front().is_some_and(|f| self.complete(f)) {
            let f = self.in_flight.pop_front().expect("front exists");
            self.finish(f);
        }
        self.refill(ctx)
    }
}

/// A random `rows x cols` matrix, `N(0, std^2)`.
fn normal_matrix(rows: usize, cols: usize, std: f64, rng: &mut SeededRng) -> Matrix {
    let mut m = Matrix::zeros(rows, cols);
    for v in m.as_mut_slice() {
        *v = (rng.normal() * std) as f32;
    }
    m
}

/// `||a - b|| / ||b||` (Frobenius).
fn matrix_gap(a: &Matrix, b: &Matrix) -> f64 {
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for (&x, &y) in a.as_slice().iter().zip(b.as_slice()) {
        diff += f64::from(x - y).powi(2);
        norm += f64::from(y).powi(2);
    }
    (diff / norm.max(f64::MIN_POSITIVE)).sqrt()
}

/// Columns `cols` of `m`.
fn columns(m: &Matrix, cols: std::ops::Range<usize>) -> Matrix {
    let mut out = Matrix::zeros(m.rows(), cols.len());
    for r in 0..m.rows() {
        out.row_mut(r).copy_from_slice(&m.row(r)[cols.clone()]);
    }
    out
}

/// The full feedback matrix of hidden layer `l` (1-based) in the layout of the weights it
/// stands in for (`n_above x n_l`), before any learning; `None` where it comes by transport.
fn initial_feedback(init: &Mlp, cfg: &PcConfig, seed: u64, l: usize) -> Option<Matrix> {
    let widths = init.widths();
    let n_l = widths[l];
    match cfg.feedback {
        Feedback::Transpose => None,
        Feedback::KolenPollack if cfg.kp_init == KpInit::SharedSeed => {
            // Derived from the same seed as the forward weights, without a message: the
            // builder computes it once for both sides.
            Some(init.layers()[l].weight.clone())
        }
        Feedback::KolenPollack | Feedback::Random => {
            let mut rng = SeededRng::stream(seed, &format!("feedback/layer-{l}"));
            Some(normal_matrix(
                widths[l + 1],
                n_l,
                (2.0 / n_l as f64).sqrt(),
                &mut rng,
            ))
        }
        Feedback::Direct => {
            let out = widths[widths.len() - 1];
            let mut rng = SeededRng::stream(seed, &format!("feedback/direct/layer-{l}"));
            let bound = 1.0 / (n_l as f64).sqrt();
            let mut m = Matrix::zeros(out, n_l);
            for v in m.as_mut_slice() {
                *v = ((rng.uniform() * 2.0 - 1.0) * bound) as f32;
            }
            Some(m)
        }
    }
}

/// A layer shard of either learning rule, before it joins the network.
enum Layer {
    Pc(LayerActor),
    Ep(EpLayerActor),
}

impl Layer {
    fn restore_state(
        &mut self,
        bag: &crate::experiment::checkpoint::StateBag,
    ) -> Result<(), crate::experiment::checkpoint::StateError> {
        match self {
            Layer::Pc(a) => a.restore_state(bag),
            Layer::Ep(a) => a.restore_state(bag),
        }
    }

    fn panic_after(&mut self, batches: usize) {
        match self {
            Layer::Pc(a) => a.panic_after(batches),
            Layer::Ep(a) => a.panic_after(batches),
        }
    }
}

/// Builds the coordinator and the layer shards around `init`; returns the network and the
/// receiving end of the coordinator's events.
pub fn build_network(
    init: &Mlp,
    train: &Split,
    test: &Split,
    plan: PcPlan,
    cfg: PcConfig,
) -> (Network<Message>, Receiver<PcEvent>) {
    build_network_with(init, train, test, plan, cfg, &TrainControl::default())
        .expect("no checkpoint to restore, nothing to fail")
}

/// [`build_network`] with checkpointing, a stop flag, fault injection, and the actors'
/// states restored from `control.resume` (an error if a state does not fit the network).
pub fn build_network_with(
    init: &Mlp,
    train: &Split,
    test: &Split,
    plan: PcPlan,
    cfg: PcConfig,
    control: &TrainControl,
) -> Result<(Network<Message>, Receiver<PcEvent>), RuntimeError> {
    let widths = init.widths();
    let layers = widths.len() - 1;
    let cfg = Arc::new(cfg);
    let direct = cfg.feedback == Feedback::Direct;
    // Shards per layer (index 0: the coordinator's input, one "shard").
    let shards: Vec<usize> = (0..=layers)
        .map(|l| {
            if l == 0 || l == layers {
                1
            } else {
                cfg.shards.clamp(1, widths[l])
            }
        })
        .collect();
    let ranges = |l: usize| -> Vec<std::ops::Range<usize>> {
        (0..shards[l])
            .map(|s| shard_range(widths[l], shards[l], s))
            .collect()
    };
    let names_of = |l: usize| -> Vec<String> {
        (0..shards[l])
            .map(|s| {
                if shards[l] == 1 {
                    format!("layer-{l}")
                } else {
                    format!("layer-{l}.{s}")
                }
            })
            .collect()
    };
    // Actor ids: coordinator 0, then layer by layer.
    let mut first_id = vec![0usize; layers + 2];
    first_id[1] = 1;
    for l in 1..=layers {
        first_id[l + 1] = first_id[l] + shards[l];
    }
    let total_shards = first_id[layers + 1] - 1;
    let (tx, rx) = std::sync::mpsc::channel();
    let mut net = Network::new();
    let batches = train.len().div_ceil(plan.batch_size.max(1));
    let coordinator = Coordinator {
        train: train.clone(),
        test: test.clone(),
        span: match &cfg.ep {
            Some(ep) => ep.train_span() as u64,
            None => cfg.last_step(layers) as u64 + 1,
        },
        cfg: cfg.clone(),
        plan,
        net_shape: init.clone(),
        shard_edges: total_shards,
        input_edges: (0..shards[1]).collect(),
        output_edge: total_shards - 1,
        epoch: 1,
        work: Work::Train,
        next: 0,
        train_batches: batches,
        eval_batches: test.len().div_ceil(EVAL_BATCH),
        next_step: 0,
        in_flight: VecDeque::new(),
        spare_labels: Vec::new(),
        order: Vec::new(),
        indices: Vec::new(),
        batch: Matrix::zeros(0, widths[0]),
        labels: Vec::new(),
        pool: SignalPool::default(),
        label_pool: SignalPool::default(),
        logits: Matrix::zeros(0, widths[layers]),
        predictions: Vec::new(),
        sums: std::collections::BTreeMap::new(),
        snapshot: Vec::new(),
        fb_snapshot: Vec::new(),
        events: tx,
        fault: None,
        checkpoint_every: control.checkpoint_every,
        save_due: false,
        order_epoch: 0,
        stop: control.stop.clone(),
        stopping: false,
    };
    let mut coordinator = coordinator;
    if let Some(r) = &control.resume {
        coordinator.resume_at(&r.position);
    }
    let cid = net.add("coordinator", coordinator);
    let feedback: Vec<Option<Matrix>> = (0..layers)
        .map(|l| {
            (l >= 1)
                .then(|| initial_feedback(init, &cfg, plan.seed, l))
                .flatten()
        })
        .collect();
    let mut wiring: Vec<(usize, Vec<usize>)> = Vec::new();
    for l in 1..=layers {
        let layer = &init.layers()[l - 1];
        for (s, range) in ranges(l).into_iter().enumerate() {
            let id = first_id[l] + s;
            let name = if shards[l] == 1 {
                format!("layer-{l}")
            } else {
                format!("layer-{l}.{s}")
            };
            // Out-edges: up, then down, then the coordinator.
            let mut edge = 0;
            let up_start = edge;
            if l < layers {
                edge += shards[l + 1];
            }
            let up = up_start..edge;
            let (down_targets, down_ranges): (Vec<usize>, Vec<_>) = if direct {
                if l == layers {
                    let first = &first_id;
                    (1..layers)
                        .flat_map(|h| {
                            ranges(h)
                                .into_iter()
                                .enumerate()
                                .map(move |(t, r)| (first[h] + t, r))
                        })
                        .unzip()
                } else {
                    (Vec::new(), Vec::new())
                }
            } else if l >= 2 {
                ranges(l - 1)
                    .into_iter()
                    .enumerate()
                    .map(|(t, r)| (first_id[l - 1] + t, r))
                    .unzip()
            } else {
                (Vec::new(), Vec::new())
            };
            let down = edge..edge + down_targets.len();
            edge += down_targets.len();
            let above = if l == layers {
                Vec::new()
            } else if direct {
                std::iter::once(0..widths[layers]).collect()
            } else {
                ranges(l + 1)
            };
            let placement = Placement {
                layer: l,
                layers,
                shard: s,
                range: range.clone(),
                below: if l == 1 {
                    std::iter::once(0..widths[0]).collect()
                } else {
                    ranges(l - 1)
                },
                above,
                up,
                down,
                down_ranges,
                coordinator: edge,
                self_edge: cfg.asynchronous.map(|_| edge + 1),
                name: name.clone(),
                below_names: if l == 1 {
                    vec!["input".to_owned()]
                } else {
                    names_of(l - 1)
                },
                above_names: if l == layers {
                    Vec::new()
                } else if direct {
                    names_of(layers)
                } else {
                    names_of(l + 1)
                },
            };
            let mut rows = DenseLayer::zeros(layer.inputs(), range.len());
            for (i, r) in range.clone().enumerate() {
                rows.weight.row_mut(i).copy_from_slice(layer.weight.row(r));
                rows.bias[i] = layer.bias[r];
            }
            let fb = (l < layers).then(|| match &feedback[l] {
                Some(m) => columns(m, range.clone()),
                None => Matrix::zeros(widths[l + 1], range.len()),
            });
            let syn = Synapses::from_layer(rows);
            let mut actor = if cfg.ep.is_some() {
                Layer::Ep(EpLayerActor::new(placement, cfg.clone(), syn, fb))
            } else {
                Layer::Pc(LayerActor::new(placement, cfg.clone(), syn, fb))
            };
            if let Some(r) = &control.resume {
                let key = format!("layer-{l}.{s}");
                let restored = r
                    .actors
                    .get(&key)
                    .ok_or_else(|| crate::experiment::checkpoint::StateError::Missing {
                        name: key.clone(),
                    })
                    .and_then(|bag| actor.restore_state(bag));
                if let Err(e) = restored {
                    return Err(RuntimeError::Restore(format!(
                        "the checkpoint does not fit actor {name}: {e}"
                    )));
                }
            }
            if let Some((who, after)) = &control.panic {
                if *who == name {
                    actor.panic_after(*after);
                }
            }
            let got = match actor {
                Layer::Ep(a) => net.add(name, a),
                Layer::Pc(a) => net.add(name, a),
            };
            debug_assert_eq!(got, id);
            let mut targets: Vec<usize> = Vec::new();
            if l < layers {
                targets.extend((0..shards[l + 1]).map(|t| first_id[l + 1] + t));
            }
            targets.extend(down_targets);
            targets.push(cid);
            if cfg.asynchronous.is_some() {
                targets.push(id);
            }
            wiring.push((id, targets));
        }
    }
    // Every actor exists before any edge is wired.
    for (id, targets) in wiring {
        for t in targets {
            net.connect(id, t);
        }
    }
    for id in 1..=total_shards {
        net.connect(cid, id);
    }
    Ok((net, rx))
}

/// The faults the layer actors' links injected and their updates (asynchronous schedule).
fn fault_tally(report: &RunReport<Message>) -> Option<crate::runtime::faults::FaultTally> {
    let mut tally = crate::runtime::faults::FaultTally::default();
    let mut actor_batches = 0u64;
    let mut any = false;
    for a in &report.actors {
        let Some(layer) = (a.as_ref() as &dyn std::any::Any).downcast_ref::<LayerActor>() else {
            continue;
        };
        if let Some(batches) = layer.add_async_tally(&mut tally) {
            any = true;
            actor_batches += batches;
        }
    }
    tally.mean_updates_per_batch = tally.updates as f64 / actor_batches.max(1) as f64;
    any.then_some(tally)
}

/// Trains `init` by predictive coding on actors: builds the network, runs it on the
/// configured executor and calls `on_event` (on the calling thread) after every batch and
/// epoch. Returns the runtime's report (traffic, sampled events, timings).
pub fn train_pc(
    init: &Mlp,
    train: &Split,
    test: &Split,
    plan: PcPlan,
    cfg: PcConfig,
    runtime: RuntimeConfig,
    on_event: &mut dyn FnMut(PcEvent),
) -> Result<RunReport<Message>, RuntimeError> {
    train_pc_with(
        init,
        train,
        test,
        plan,
        cfg,
        runtime,
        &TrainControl::default(),
        on_event,
    )
}

/// [`train_pc`] with checkpoints, resume, a graceful stop and fault injection
/// ([`TrainControl`]).
#[allow(clippy::too_many_arguments)]
pub fn train_pc_with(
    init: &Mlp,
    train: &Split,
    test: &Split,
    plan: PcPlan,
    cfg: PcConfig,
    runtime: RuntimeConfig,
    control: &TrainControl,
    on_event: &mut dyn FnMut(PcEvent),
) -> Result<RunReport<Message>, RuntimeError> {
    let (network, events) = build_network_with(init, train, test, plan, cfg, control)?;
    std::thread::scope(|scope| {
        let worker = scope.spawn(move || Runtime::new(runtime).run(network));
        loop {
            match events.recv_timeout(Duration::from_millis(50)) {
                Ok(ev) => on_event(ev),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if worker.is_finished() {
                        while let Ok(ev) = events.try_recv() {
                            on_event(ev);
                        }
                        break;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let report = worker
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))?;
        let coordinator = report
            .actors
            .first()
            .and_then(|a| (a.as_ref() as &dyn std::any::Any).downcast_ref::<Coordinator>());
        let fault = coordinator.and_then(|c| c.fault);
        let interrupted = coordinator.is_some_and(|c| c.stopping);
        let mut report = report;
        report.traffic.faults = fault_tally(&report);
        if let Some((layer, shard, step, what, value)) = fault {
            let sharded = format!("layer-{layer}.{shard}");
            let actor = if report.names.contains(&sharded) {
                sharded
            } else {
                format!("layer-{layer}")
            };
            return Err(RuntimeError::NonFinite {
                actor,
                step,
                what: what.to_owned(),
                value,
            });
        }
        if interrupted {
            return Err(RuntimeError::Interrupted);
        }
        Ok(report)
    })
}

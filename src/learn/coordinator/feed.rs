//! How the coordinator feeds the network: the next batch or phase of the plan (training
//! batches in the epoch's order, the test set, snapshots, saves), the learn phase of the
//! asynchronous schedule, and the position a checkpoint records and a resume starts from.

use std::time::{Duration, Instant};

use crate::learn::backprop::{epoch_order, EVAL_BATCH};
use crate::learn::coordinator::resume::Position;
use crate::learn::coordinator::{Coordinator, EpochSums, InFlight, Work};
use crate::math::mlp::DenseLayer;
use crate::message::{Message, Phase};
use crate::runtime::actor::Context;

impl Coordinator {
    /// Zero layers of the network's shape.
    pub(super) fn layer_shapes(&self) -> Vec<DenseLayer> {
        self.net_shape
            .layers()
            .iter()
            .map(|l| DenseLayer::zeros(l.inputs(), l.outputs()))
            .collect()
    }

    /// Sends `phase` at `step` to every shard.
    fn to_every_shard(&self, step: u64, phase: Phase, ctx: &mut Context<'_, Message>) {
        for edge in 0..self.shard_edges {
            ctx.send(edge, Message::Phase { step, phase });
        }
    }

    /// Sends the next batch or phase of the plan, if any; returns whether it sent.
    pub(super) fn send_next(&mut self, ctx: &mut Context<'_, Message>) -> bool {
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
        let labels = self.spare_labels.pop().unwrap_or_default();
        let mut item = InFlight::new(self.epoch, base, self.work, labels);
        match self.work {
            Work::Train | Work::Eval => self.send_batch(&mut item, ctx),
            Work::Snapshot => {
                self.snapshot = self.layer_shapes();
                self.to_every_shard(base, Phase::Snapshot, ctx);
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

    /// Fills `self.batch` and `self.labels` with the next training or evaluation batch;
    /// returns its rows.
    fn fill_next_batch(&mut self, train: bool) -> usize {
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
            let sums = self.sums.entry(self.epoch).or_default();
            sums.started.get_or_insert_with(Instant::now);
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
        end - start
    }

    /// The phase that opens a batch of `rows`; sets the steps it spans.
    fn batch_phase(&self, train: bool, rows: u32, item: &mut InFlight) -> Phase {
        if train {
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
            if let Some(spc) = &self.cfg.spc {
                // Spiking PC: the settle ticks, predictions at the last.
                item.span = spc.settle_ticks as u64;
            }
            Phase::Evaluate { rows }
        }
    }

    /// A training or evaluation batch: its phase (EP: and the nudge), the input, the labels.
    fn send_batch(&mut self, item: &mut InFlight, ctx: &mut Context<'_, Message>) {
        let (base, train) = (item.base, self.work == Work::Train);
        let rows = self.fill_next_batch(train);
        item.labels.clear();
        item.labels.extend_from_slice(&self.labels);
        let phase = self.batch_phase(train, rows as u32, item);
        self.to_every_shard(base, phase, ctx);
        if let (true, Some(ep)) = (train, &self.cfg.ep) {
            // Equilibrium propagation: the nudged phase begins after the free one.
            let negative =
                ep.random_sign_beta && crate::learn::ep::beta_sign(self.plan.seed, base) < 0.0;
            let step = base + ep.free_steps as u64;
            self.to_every_shard(step, Phase::Nudge { negative }, ctx);
        }
        if self.cfg.spc.is_some() {
            self.send_input_spikes(base, item.span, ctx);
            self.send_labels(base, train, ctx);
        } else {
            self.send_input(base, train, ctx);
        }
        self.next_batch_done(train);
    }

    /// The batch's input to layer 1 and (training) its labels to the output.
    fn send_input(&mut self, step: u64, train: bool, ctx: &mut Context<'_, Message>) {
        let (r, c) = (self.batch.rows(), self.batch.cols());
        let values = self.batch.as_slice();
        let signal = self.pool.signal(r, c, |o| o.copy_from_slice(values));
        for &edge in &self.input_edges {
            let signal = signal.clone();
            let (shard, changed) = (0, true);
            let m = Message::Activity {
                step,
                shard,
                changed,
                signal,
            };
            ctx.send(edge, m);
        }
        self.send_labels(step, train, ctx);
    }

    /// Spiking PC: the batch's input as spikes, tick by tick for `ticks` ticks, to layer 1.
    /// Each pixel drives an integrate-and-fire encoder (threshold 1, reset by subtraction):
    /// a pixel of value `p` in [0, 1] fires `p` spikes a tick on average.
    fn send_input_spikes(&mut self, base: u64, ticks: u64, ctx: &mut Context<'_, Message>) {
        let (r, c) = (self.batch.rows(), self.batch.cols());
        self.input_membranes.clear();
        self.input_membranes.resize(r * c, 0.0);
        self.input_spikes.resize(r * c, 0.0);
        for t in 0..ticks {
            let it = self
                .input_membranes
                .iter_mut()
                .zip(self.input_spikes.iter_mut())
                .zip(self.batch.as_slice());
            for ((v, s), &p) in it {
                *v += p.clamp(0.0, 1.0);
                *s = if *v >= 1.0 { 1.0 } else { 0.0 };
                *v -= *s;
            }
            let bits = self.bits.pack(r, c, false, &self.input_spikes);
            for &edge in &self.input_edges {
                let (step, shard, bits) = (base + t, 0, bits.clone());
                ctx.send(edge, Message::SpikeBatch { step, shard, bits });
            }
        }
    }

    /// The batch's labels to the output (training).
    fn send_labels(&mut self, step: u64, train: bool, ctx: &mut Context<'_, Message>) {
        if train {
            let labels = &self.labels;
            let l = self.label_pool.signal(labels.len(), 1, |o| {
                o.iter_mut()
                    .zip(labels)
                    .for_each(|(v, &y)| *v = f32::from(y));
            });
            let m = Message::Clamp { step, labels: l };
            ctx.send(self.output_edge, m);
        }
    }

    /// Moves the plan past the batch just sent (to evaluation, to the snapshot, or a save).
    fn next_batch_done(&mut self, train: bool) {
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

    /// Asynchronous schedule: once every actor of the training batch in flight reports
    /// settled, tells them all to learn.
    pub(super) fn learn_if_settled(&mut self, ctx: &mut Context<'_, Message>) {
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
    pub(super) fn position(&self) -> Position {
        let mut p = Position {
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
            (p.spikes, p.events) = (s.spikes, s.events);
            p.tick_counts = s.tick_counts.clone();
        }
        p
    }

    /// Continues from a checkpoint's position.
    pub(super) fn resume_at(&mut self, p: &Position) {
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
                    spikes: p.spikes,
                    events: p.events,
                    tick_counts: p.tick_counts.clone(),
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
}

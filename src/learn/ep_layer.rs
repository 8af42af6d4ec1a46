//! The equilibrium-propagation layer actor: one shard of one layer of the Hopfield network of
//! [`crate::learn::ep`], owning its states `s`, the synapses `W` from the layer below (and biases),
//! and, below the output, the feedback synapses `B` through which the state of the layer above
//! reaches it (the actor's copy of `W_above^T`). It learns from the activities it holds and
//! hears, and nothing else.
//!
//! Lockstep protocol for one training batch (steps `t = 0 ..= T + K` from the batch's first
//! global step `base`; every message carries `base + t`):
//! ```text
//! begin     s = 0; send rho(s) up (Activity) and down (ActivityDown)   [transpose: a copy first]
//! every t   on all of step t from below and above (and, at t >= T, the coordinator's Nudge):
//!           t == T       the free fixed point: keep rho(s^0) and the neighbours' as anchors,
//!                        add up the energy E_l(s^0)
//!           t >  T       C-EP: learn from the change since step t - 1 (EP: only at T + K,
//!                        from the change since T); Kolen-Pollack: B takes the same update
//!           t <  T + K   s += eps (rho'(s)(W rho(below) + b + rho(above) B) - s)
//!                        [output, t >= T: + eps beta (y - s)]; send rho(s) up and down
//! ```
//! The output reports its state at step `T` (the free fixed point) as the batch's
//! predictions. An evaluation batch is the free phase alone (steps `0 .. T`).
//! With `transpose` feedback, a layer sends a copy of its weights down before its first
//! activity of a batch when they changed, and under C-EP also after each nudged-step update;
//! the layer below waits for it (the oracle's weight transport, counted by the tracer).

use std::sync::Arc;

use crate::learn::ep::{self, EpConfig};
use crate::learn::layer::config::{Feedback, LayerConfig};
use crate::learn::layer::core::{InitialDraw, LayerCore, LayerRule, Opened};
use crate::learn::layer::placement::{read_labels, Batch, Placement};
use crate::math::matrix::{matmul, Matrix, Threads};
use crate::message::{Message, Phase, ReportData, Synapses};
use crate::runtime::actor::{Actor, Context, Flow};

/// One shard of an equilibrium-propagation layer.
pub(crate) struct EpLayerActor {
    core: LayerCore,
    ep: EpConfig,
    /// Weight copies received for the current step (transpose under C-EP).
    copies_in: usize,
    /// The signed `beta` of this training batch, once the coordinator's Nudge is in.
    beta: Option<f32>,
    s: Matrix,
    r: Matrix,
    /// Drive from below `W rho(below) + b`, valid while `h_fresh`.
    h: Matrix,
    h_fresh: bool,
    drive: Matrix,
    force: Matrix,
    /// Anchors of the contrastive update: own, below and above activities at the free fixed
    /// point (EP) or at the previous nudged step (C-EP).
    r0: Matrix,
    below0: Matrix,
    above0: Matrix,
    grad_w: Matrix,
    /// Scratch for layer 1's `rho(s) - rho(s0)`.
    diff: Matrix,
    grad_b: Vec<f32>,
    grad_fb: Matrix,
    /// This layer's energy at the free fixed point, summed over the batch.
    energy: f32,
}

impl EpLayerActor {
    /// The shard at `at` with forward synapses `syn` (it draws its feedback from `draw`).
    pub(crate) fn new(
        at: Placement,
        cfg: Arc<LayerConfig>,
        syn: Synapses,
        draw: &InitialDraw,
    ) -> Self {
        let ep = cfg.ep.clone().expect("an EP layer needs the EP settings");
        let width = at.range.len();
        let inputs = at.below.last().map_or(0, |r| r.end);
        let n_above = at.above.last().map_or(0, |r| r.end);
        let zeros = || Matrix::zeros(0, width);
        Self {
            s: zeros(),
            r: zeros(),
            h: zeros(),
            drive: zeros(),
            force: zeros(),
            r0: zeros(),
            below0: Matrix::zeros(0, inputs),
            above0: Matrix::zeros(0, n_above),
            grad_w: Matrix::zeros(width, inputs),
            diff: zeros(),
            grad_b: vec![0.0; width],
            grad_fb: Matrix::zeros(n_above, width),
            h_fresh: false,
            copies_in: 0,
            beta: None,
            energy: 0.0,
            ep,
            core: LayerCore::new(at, cfg, syn, draw),
        }
    }

    fn is_output(&self) -> bool {
        self.core.is_output()
    }

    /// The last step this batch processes: `T + K` (training) or `T - 1` (evaluation).
    fn last(&self, train: bool) -> usize {
        if train {
            self.ep.free_steps + self.ep.nudged_steps
        } else {
            self.ep.free_steps - 1
        }
    }

    /// Whether a copy of the weights above comes at step `t` (transpose under C-EP: after
    /// every nudged-step update that a later step uses).
    fn copy_due(&self, t: usize) -> bool {
        self.core.cfg.feedback == Feedback::Transpose
            && self.ep.continual
            && !self.core.at.above.is_empty()
            && t > self.ep.free_steps
            && t < self.ep.free_steps + self.ep.nudged_steps
    }

    /// Takes `msg` in if it belongs to the current step; hands it back otherwise.
    fn take_in(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Result<(), Message> {
        let now = self.core.step();
        match msg {
            Message::Phase { step, phase }
                if self.core.batch.is_none() && !matches!(phase, Phase::Nudge { .. }) =>
            {
                self.begin(step, phase, ctx);
                Ok(())
            }
            Message::Phase {
                step,
                phase: Phase::Nudge { negative },
            } if step == now => {
                self.beta = Some(if negative {
                    -self.ep.beta
                } else {
                    self.ep.beta
                });
                Ok(())
            }
            Message::Activity {
                step,
                shard,
                signal,
                ..
            } if step == now => {
                self.core.below.put(shard as usize, signal);
                Ok(())
            }
            Message::ActivityDown {
                step,
                shard,
                signal,
            } if step == now => {
                self.core.above.put(shard as usize, signal);
                Ok(())
            }
            Message::WeightTransport { step, shard, copy } if step == now => {
                self.core
                    .at
                    .store_copy(self.core.fb_syn.as_mut(), shard, &copy);
                self.copies_in += 1;
                Ok(())
            }
            Message::Clamp { step, labels } if step == now => {
                read_labels(&mut self.core.labels, &labels);
                Ok(())
            }
            Message::Report { .. }
            | Message::Spike { .. }
            | Message::Tick { .. }
            | Message::Error { .. } => Ok(()),
            other => Err(other),
        }
    }

    fn begin(&mut self, step: u64, phase: Phase, ctx: &mut Context<'_, Message>) {
        let rows = match self.core.open(step, phase, ctx) {
            Opened::Batch { rows, .. } => rows,
            Opened::Save => return self.report_state(step, ctx),
            Opened::Nothing => return,
        };
        self.beta = None;
        self.copies_in = 0;
        self.h_fresh = false;
        self.energy = 0.0;
        for m in [&mut self.s, &mut self.r, &mut self.h, &mut self.drive] {
            m.set_rows(rows);
        }
        self.s.fill(0.0);
        ep::activate(
            self.core.cfg.activation,
            self.s.as_slice(),
            self.r.as_mut_slice(),
        );
        if self.core.cfg.feedback == Feedback::Transpose && self.core.copy_stale {
            self.send_copy(step, ctx);
        }
        self.send_state(step, ctx);
    }

    /// A copy of this shard's weights to every shard below (transpose mode; the oracle).
    fn send_copy(&mut self, step: u64, ctx: &mut Context<'_, Message>) {
        if self.core.at.down.is_empty() {
            return;
        }
        self.core.at.send_weight_copies(ctx, step, &self.core.syn);
        self.core.copy_stale = false;
    }

    /// `rho(s)` up and down.
    fn send_state(&mut self, step: u64, ctx: &mut Context<'_, Message>) {
        let (rows, cols) = (self.r.rows(), self.r.cols());
        let r = self.r.as_slice();
        let signal = self.core.pool.signal(rows, cols, |o| o.copy_from_slice(r));
        let shard = self.core.at.shard as u32;
        for edge in self.core.at.up.clone() {
            ctx.send(
                edge,
                Message::Activity {
                    step,
                    shard,
                    changed: true,
                    signal: signal.clone(),
                },
            );
        }
        for edge in self.core.at.down.clone() {
            ctx.send(
                edge,
                Message::ActivityDown {
                    step,
                    shard,
                    signal: signal.clone(),
                },
            );
        }
    }

    /// Whether everything step `t` needs is here.
    fn ready(&self, b: Batch) -> bool {
        let t = self.core.t;
        let out = self.is_output();
        self.core.below.complete()
            && (out || self.core.above.complete())
            && !(out && b.train && self.core.labels.is_empty())
            && !(b.train && t >= self.ep.free_steps && self.beta.is_none())
            && !(b.train && self.copy_due(t) && self.copies_in < self.core.at.above.len())
    }

    /// Scheduled learning rate of weight layer `index` (0-based).
    fn rate(&self, index: usize) -> f32 {
        self.core.scheduled(self.ep.layer_lr[index])
    }

    /// The drive from below, `h = W rho(below) + b` (recomputed when either changed).
    fn refresh_drive_from_below(&mut self) {
        if self.h_fresh {
            return;
        }
        let below = self.core.below.view();
        ep::drive_from_below(
            &mut self.h,
            below,
            self.core.syn.weights(),
            self.core.syn.bias(),
        );
        self.h_fresh = true;
    }

    /// Copies the activities now held into the anchors of the contrastive update.
    fn set_anchors(&mut self) {
        copy_into(&mut self.r0, &self.r);
        if self.core.at.layer > 1 {
            self.below0.copy_from_view(self.core.below.view());
        }
        if self.core.fb_syn.is_some() && self.core.cfg.feedback == Feedback::KolenPollack {
            self.above0.copy_from_view(self.core.above.view());
        }
    }

    /// The contrastive update from the anchors to now, on `W`, `b` and (Kolen-Pollack) `B`.
    fn learn(&mut self, beta: f32) {
        let rows = self.r.rows();
        let scale = 1.0 / (beta * rows as f32);
        let layer = self.core.at.layer;
        if layer == 1 {
            // The input is clamped for the batch: one product of the change.
            let post = (&self.r, &self.r0);
            ep::contrast_clamped(
                &mut self.grad_w,
                &mut self.diff,
                post,
                self.core.below.view(),
                scale,
            );
        } else {
            ep::contrast(
                &mut self.grad_w,
                (self.r.view(), self.core.below.view()),
                (self.r0.view(), self.below0.view()),
                scale,
            );
        }
        ep::contrast_bias(&mut self.grad_b, &self.r, &self.r0, scale);
        let lr = self.rate(layer - 1);
        self.core.opt.begin_step();
        self.core.opt.update(
            0,
            self.core.syn.weights_mut().as_mut_slice(),
            self.grad_w.as_slice(),
            lr,
        );
        self.core
            .opt
            .update(1, self.core.syn.bias_mut(), &self.grad_b, lr);
        self.core.copy_stale = true;
        self.h_fresh = false;
        if self.core.cfg.feedback == Feedback::KolenPollack && self.core.fb_syn.is_some() {
            let lr_above = self.rate(layer);
            if let Some(b) = self.core.fb_syn.as_mut() {
                ep::contrast(
                    &mut self.grad_fb,
                    (self.core.above.view(), self.r.view()),
                    (self.above0.view(), self.r0.view()),
                    scale,
                );
                self.core.fb_opt.begin_step();
                self.core
                    .fb_opt
                    .update(0, b.as_mut_slice(), self.grad_fb.as_slice(), lr_above);
            }
        }
    }

    /// Step `t` with everything it needs at hand.
    fn process(&mut self, ctx: &mut Context<'_, Message>) {
        let b = self.core.batch.expect("a batch is open");
        let t = self.core.t;
        let free = self.ep.free_steps;
        let last = self.last(b.train);
        self.core.below.assemble();
        if !self.is_output() {
            self.core.above.assemble();
        }
        self.refresh_drive_from_below();
        if b.train && t == free {
            self.energy = ep::layer_energy(self.s.as_slice(), self.r.as_slice(), self.h.as_slice());
            self.set_anchors();
        }
        if b.train && t > free && (self.ep.continual || t == last) {
            let beta = self.beta.expect("ready() waits for the nudge");
            self.learn(beta);
            if self.ep.continual {
                self.set_anchors();
                if t < last && self.core.cfg.feedback == Feedback::Transpose {
                    self.send_copy(b.base + t as u64, ctx);
                }
            }
        }
        if b.train && t == last {
            self.end_batch(ctx);
            return;
        }
        // s(t + 1) from the states of step t.
        self.refresh_drive_from_below();
        copy_into(&mut self.drive, &self.h);
        if let Some(fb) = &self.core.fb_syn {
            matmul(
                &mut self.drive,
                self.core.above.view(),
                fb.view(),
                1.0,
                true,
                Threads::ONE,
            );
        }
        let nudged = b.train && t >= free && self.is_output();
        if nudged {
            let beta = self.beta.expect("ready() waits for the nudge");
            ep::nudge(beta, &self.s, &self.core.labels, &mut self.force);
        }
        ep::relax(
            self.core.cfg.activation,
            self.ep.step,
            self.s.as_mut_slice(),
            self.r.as_mut_slice(),
            self.drive.as_slice(),
            nudged.then_some(self.force.as_slice()),
        );
        self.core.t += 1;
        if self.is_output() && self.core.t == free {
            self.report_predictions(b.base + free as u64, ctx);
        }
        if !b.train && t == last {
            self.end_batch(ctx);
            return;
        }
        self.core.above.clear();
        if self.core.at.layer > 1 {
            // New activity from below next step (layer 1's input is clamped for the batch).
            self.core.below.clear();
            self.h_fresh = false;
        }
        self.copies_in = 0;
        let step = self.core.step();
        self.send_state(step, ctx);
    }

    fn report_predictions(&mut self, step: u64, ctx: &mut Context<'_, Message>) {
        let (rows, cols) = (self.s.rows(), self.s.cols());
        let s = self.s.as_slice();
        let p = self
            .core
            .report_pool
            .signal(rows, cols, |o| o.copy_from_slice(s));
        self.core.at.report(ctx, step, ReportData::Predictions(p));
    }

    fn end_batch(&mut self, ctx: &mut Context<'_, Message>) {
        let train = self.core.batch.is_some_and(|b| b.train);
        let fault = if train { self.first_non_finite() } else { None };
        let base = self.core.batch.map_or(0, |b| b.base);
        let fault = fault.map(|(what, value)| (base, what, value));
        self.core.close(ctx, fault, &[self.energy]);
    }

    /// The first non-finite number in this shard's state, if any (weights first).
    fn first_non_finite(&mut self) -> Option<(&'static str, f32)> {
        let energy = self.energy;
        self.core
            .first_non_finite(&[("state", self.s.as_slice())])
            .or_else(|| (!energy.is_finite()).then_some(("energy", energy)))
    }

    /// Makes the next transition the messages at hand allow.
    fn step_on(&mut self, ctx: &mut Context<'_, Message>) -> bool {
        match self.core.batch {
            Some(b) if self.ready(b) => {
                self.process(ctx);
                true
            }
            _ => false,
        }
    }
}

impl LayerRule for EpLayerActor {
    fn core(&mut self) -> &mut LayerCore {
        &mut self.core
    }

    fn accept(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Result<(), Message> {
        self.take_in(msg, ctx)
    }

    fn advance(&mut self, ctx: &mut Context<'_, Message>) -> bool {
        self.step_on(ctx)
    }
}

/// `dst = src` (same shape after resizing the rows).
fn copy_into(dst: &mut Matrix, src: &Matrix) {
    dst.set_rows(src.rows());
    dst.as_mut_slice().copy_from_slice(src.as_slice());
}

impl Actor<Message> for EpLayerActor {
    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        self.drive(msg, ctx);
        Flow::Continue
    }
}

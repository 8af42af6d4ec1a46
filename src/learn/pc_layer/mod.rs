//! The predictive-coding layer actor: one shard (a contiguous range of neurons) of one layer,
//! owning its value nodes `x`, error nodes `eps`, the forward synapses `W` it predicts through
//! and, in local feedback modes, the feedback synapses `B` through which errors from above
//! reach it. It learns only from what it holds and what its neighbours send.
//!
//! Lockstep protocol for one training batch (steps `t = 0..=last`, numbered from the batch's
//! first global step `base`; every message carries `base + t`):
//! ```text
//! t = 0     on all Activity(0) from below: mu = W f(x_below) + b; x = mu (forward sweep)
//! every t   on all Activity(t) from below: eps = x - mu   (output: eps = -dLoss/dmu per example)
//!           send Error(t) down (Transpose: first a WeightTransport if W changed since the last)
//!           learn now if this is the learning step (standard PC: t = last; Z-IL: see below)
//!           on all Error(t) from above: fb = eps_above B; Kolen-Pollack: B learns from a
//!           `learned` error; t < last: x += gamma (-eps + f'(x) fb), send Activity(t+1) up
//! ```
//! Z-IL's learning step is found locally: the output learns at step 0 (its error is the
//! clamped target's); a hidden layer learns at the step after the first non-zero error
//! arrives from above (per layer and batch, so a silent ReLU unit or shard cannot delay it).
//! Every message of a step is computed from the state at its start: a layer sends step `t`'s
//! error (and weight copy) before it applies step `t`'s update, and a Kolen-Pollack shard
//! forms step `t`'s feedback before it updates `B`. The switch
//! [`LayerConfig::update_before_feedback`] reverses both (a negative control).
//!
//! Messages for a later step (or the next batch) are kept in arrival order and taken up when
//! the actor gets there, so the numbers depend only on the messages, never on their timing:
//! a run is deterministic whatever the executor, worker count or sharding.
//!
//! The actor is `PcLayer` over a schedule: `Lockstep` (above) or
//! `asynchronous::AsyncState` (`runtime.schedule = "async"`, see [`asynchronous`]). The
//! maths is [`crate::learn::pc`]'s; the core it embeds is the layer kit's
//! ([`crate::learn::layer`]).

pub mod asynchronous;
mod schedule;

use std::sync::Arc;

use crate::learn::layer::core::{InitialDraw, LayerCore, LayerRule, Opened};
use crate::learn::layer::placement::{read_labels, Batch, Placement};
use crate::learn::pc;
use crate::math::matrix::{matmul, Matrix, Threads};
use crate::message::{Message, Phase, ProbeVariable, ReportData, Synapses};
use crate::runtime::actor::{Actor, Context, Flow};
use crate::state::{StateBag, StateError};

use crate::learn::layer::config::{Feedback, LayerConfig};
pub(crate) use schedule::{Lockstep, PcSchedule};

/// One shard of a predictive-coding layer under schedule `S`.
pub(crate) struct PcLayer<S> {
    core: LayerCore,
    /// The last step of a training batch.
    last: usize,
    above_learned: bool,
    /// Value nodes as `x = x0 + dx` (see [`pc::errors`]): `x` holds `x0`, the forward
    /// sweep's prediction (zero without it), `dx` what inference added.
    x: Matrix,
    dx: Matrix,
    fx: Matrix,
    mu: Matrix,
    /// `mu` was computed from the current weights and the activity below as it still is.
    mu_fresh: bool,
    /// Some piece of this step's activity from below differs from the previous step's.
    below_changed: bool,
    /// This shard's activity changed in the last relaxation.
    relaxed_changed: bool,
    eps: Matrix,
    fb: Matrix,
    out_grad: Matrix,
    grad_w: Matrix,
    grad_b: Vec<f32>,
    grad_fb: Matrix,
    eps_done: bool,
    /// Z-IL: the step at which this layer learns, once known; and whether it has.
    learn_at: Option<usize>,
    learned: bool,
    energies: Vec<f32>,
    /// The schedule's own state.
    sched: S,
}

impl<S: PcSchedule> PcLayer<S> {
    /// The shard at `at` with forward synapses `syn` (it draws its feedback from `draw`).
    pub(crate) fn new(
        at: Placement,
        cfg: Arc<LayerConfig>,
        syn: Synapses,
        draw: &InitialDraw,
        sched: S,
    ) -> Self {
        let width = at.range.len();
        let inputs = at.below.last().map_or(0, |r| r.end);
        let n_above = at.above.last().map_or(0, |r| r.end);
        let last = cfg.last_step(at.layers);
        let zeros = || Matrix::zeros(0, width);
        Self {
            x: zeros(),
            dx: zeros(),
            fx: zeros(),
            mu: zeros(),
            eps: zeros(),
            fb: zeros(),
            out_grad: zeros(),
            grad_w: Matrix::zeros(width, inputs),
            grad_b: vec![0.0; width],
            grad_fb: Matrix::zeros(n_above, width),
            energies: vec![0.0; last + 1],
            last,
            above_learned: false,
            mu_fresh: false,
            below_changed: false,
            relaxed_changed: true,
            eps_done: false,
            learn_at: None,
            learned: false,
            sched,
            core: LayerCore::new(at, cfg, syn, draw),
        }
    }

    fn is_output(&self) -> bool {
        self.core.is_output()
    }

    /// A training batch under the asynchronous schedule is open.
    fn in_async_batch(&self) -> bool {
        S::ASYNC && self.core.batch.is_some_and(|b| b.train)
    }

    /// Takes `msg` in if it belongs to the current step; hands it back otherwise.
    fn take_in(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Result<(), Message> {
        let now = self.core.step();
        let c = &mut self.core;
        match msg {
            Message::Phase { step, phase }
                if c.batch.is_none() && !matches!(phase, Phase::Learn | Phase::Exhausted) =>
            {
                self.begin(step, phase, ctx);
            }
            Message::Activity {
                step,
                shard,
                changed,
                signal,
            } if step == now && !self.eps_done => {
                c.below.put(shard as usize, signal);
                self.below_changed |= changed;
            }
            Message::Error {
                step,
                shard,
                learned,
                signal,
            } if step == now => {
                c.above.put(shard as usize, signal);
                self.above_learned |= learned;
            }
            Message::WeightTransport { step, shard, copy } if step == now => {
                c.at.store_copy(c.fb_syn.as_mut(), shard, &copy);
            }
            Message::Clamp { step, labels } if step == now => read_labels(&mut c.labels, &labels),
            Message::Report { .. } | Message::Spike { .. } | Message::Tick { .. } => {}
            other => return Err(other),
        }
        Ok(())
    }

    fn begin(&mut self, step: u64, phase: Phase, ctx: &mut Context<'_, Message>) {
        let (rows, train) = match self.core.open(step, phase, ctx) {
            Opened::Batch { rows, train } => (rows, train),
            Opened::Save => return self.report_state(step, ctx),
            Opened::Nothing => return,
        };
        self.eps_done = false;
        self.mu_fresh = false;
        self.learn_at = None;
        self.learned = false;
        self.above_learned = false;
        for m in [
            &mut self.x,
            &mut self.dx,
            &mut self.fx,
            &mut self.mu,
            &mut self.eps,
            &mut self.fb,
        ] {
            m.set_rows(rows);
        }
        self.energies.fill(0.0);
        if S::ASYNC && train {
            self.sched.begin_training();
            // Forward sweep and settled state.
            self.energies.resize(2, 0.0);
            self.energies.fill(0.0);
        }
        if train && self.core.cfg.check_gradients {
            // The weights before the batch (without the feedback copy).
            let c = &self.core;
            c.at.report_synapses(ctx, step, &c.syn, None);
        }
    }

    /// `mu = f(x_below) W^T + b` for this shard.
    fn predict(&mut self) {
        let c = &self.core;
        pc::predict_into(&mut self.mu, c.below.view(), c.syn.weights(), c.syn.bias());
        self.mu_fresh = true;
    }

    /// The value nodes at the start of a batch: the forward sweep's prediction (or zero, a
    /// negative control, in training), then `fx = f(x)`.
    fn init_value_nodes(&mut self, train: bool) {
        if self.core.cfg.forward_init || !train {
            self.x.as_mut_slice().copy_from_slice(self.mu.as_slice());
        } else {
            self.x.fill(0.0);
        }
        self.dx.fill(0.0);
        let act = self.core.cfg.activation;
        act.apply_slice(self.x.as_slice(), self.fx.as_mut_slice());
    }

    /// A hidden shard's errors from its value nodes; returns its energy `0.5 ||eps||^2`.
    fn hidden_errors(&mut self) -> f32 {
        let (eps, dx) = (self.eps.as_mut_slice(), self.dx.as_slice());
        0.5 * pc::errors(eps, dx, self.x.as_slice(), self.mu.as_slice())
    }

    /// The output's errors; returns the loss summed over the batch.
    fn output_errors(&mut self) -> f32 {
        let c = &self.core;
        let eps = self.eps.as_mut_slice();
        pc::output_errors(c.cfg.loss, &self.mu, &c.labels, &mut self.out_grad, eps)
    }

    /// Step `t`'s forward part: the prediction, at step 0 the forward sweep (predictions to
    /// the coordinator, activity up), and the errors with their energy. Returns `false`
    /// when that ends the batch (evaluation).
    fn forward(&mut self, t: usize, b: Batch, ctx: &mut Context<'_, Message>) -> bool {
        self.core.below.assemble();
        // Layer 1's input is clamped for the whole batch; above it, activity that did not
        // change (Z-IL's early steps) needs no new prediction either.
        let reuse = t > 0 && self.mu_fresh && (self.core.at.layer == 1 || !self.below_changed);
        if !reuse {
            self.predict();
        }
        if self.is_output() {
            if t == 0 {
                self.report_predictions(b.base, ctx);
            }
            if !b.train {
                self.end_batch(ctx);
                return false;
            }
            self.energies[t] = self.output_errors();
        } else {
            if t == 0 {
                self.init_value_nodes(b.train);
                self.send_activity(ctx);
                if !b.train {
                    self.end_batch(ctx);
                    return false;
                }
            }
            self.energies[t] = self.hidden_errors();
        }
        true
    }

    /// Errors (and, at step 0, the forward sweep) of the current step; sends them on.
    fn settle_errors(&mut self, ctx: &mut Context<'_, Message>) {
        let b = self.core.batch.expect("a batch is open");
        let t = self.core.t;
        let step = self.core.step();
        if !self.forward(t, b, ctx) {
            return;
        }
        if !self.core.taps.is_empty() {
            self.sample_probes(step, t);
        }
        let cfg = self.core.cfg.clone();
        let learn_now = !self.learned
            && if cfg.zil {
                self.learn_at == Some(t) || (self.is_output() && t == 0)
            } else {
                t == self.last
            };
        if learn_now && cfg.update_before_feedback {
            self.learn(step, ctx);
        }
        self.send_errors(step, learn_now, ctx);
        if learn_now && !cfg.update_before_feedback {
            self.learn(step, ctx);
        }
        self.eps_done = true;
    }

    /// Records the probes due at global step `step` (step `t` of a training batch, errors
    /// formed): the first example's values (the output's: its prediction `mu`) and errors,
    /// the shard's free energy (the output's: its loss), its weight rows' norms.
    fn sample_probes(&mut self, step: u64, t: usize) {
        let (x, dx, mu, eps) = (&self.x, &self.dx, &self.mu, &self.eps);
        let (output, energy) = (self.is_output(), self.energies[t]);
        self.core.probe(step, |v, i| {
            let i = i as usize;
            match v {
                ProbeVariable::Values if output => mu.row(0)[i],
                ProbeVariable::Values => x.row(0)[i] + dx.row(0)[i],
                ProbeVariable::Errors => eps.row(0)[i],
                ProbeVariable::FreeEnergy => energy,
                _ => f32::NAN,
            }
        });
    }

    /// The output's forward-sweep predictions, to the coordinator (accuracy is measured on
    /// them).
    fn report_predictions(&mut self, step: u64, ctx: &mut Context<'_, Message>) {
        let (rows, cols) = (self.mu.rows(), self.mu.cols());
        let mu = self.mu.as_slice();
        let c = &mut self.core;
        let s = c.report_pool.signal(rows, cols, |o| o.copy_from_slice(mu));
        c.at.report(ctx, step, ReportData::Predictions(s));
    }

    fn send_activity(&mut self, ctx: &mut Context<'_, Message>) {
        let step = self.core.step();
        self.send_activity_at(step, ctx);
    }

    fn send_activity_at(&mut self, step: u64, ctx: &mut Context<'_, Message>) {
        let (rows, cols) = (self.fx.rows(), self.fx.cols());
        let fx = self.fx.as_slice();
        let changed = self.core.t == 0 || self.relaxed_changed;
        let c = &mut self.core;
        let s = c.pool.signal(rows, cols, |o| o.copy_from_slice(fx));
        let shard = c.at.shard as u32;
        for edge in c.at.up.clone() {
            let signal = s.clone();
            let m = Message::Activity {
                step,
                shard,
                changed,
                signal,
            };
            ctx.send(edge, m);
        }
    }

    fn send_errors(&mut self, step: u64, learned: bool, ctx: &mut Context<'_, Message>) {
        let c = &mut self.core;
        if c.at.down.is_empty() {
            return;
        }
        let shard = c.at.shard as u32;
        if c.cfg.feedback == Feedback::Transpose && c.copy_stale {
            c.at.send_weight_copies(ctx, step, &c.syn);
            c.copy_stale = false;
        }
        let (rows, cols) = (self.eps.rows(), self.eps.cols());
        let eps = self.eps.as_slice();
        let s = c.pool.signal(rows, cols, |o| o.copy_from_slice(eps));
        for edge in c.at.down.clone() {
            let signal = s.clone();
            let m = Message::Error {
                step,
                shard,
                learned,
                signal,
            };
            ctx.send(edge, m);
        }
    }

    /// The local Hebbian update from this step's errors.
    fn learn(&mut self, step: u64, ctx: &mut Context<'_, Message>) {
        let below = self.core.below.view();
        pc::hebbian(&mut self.grad_w, &mut self.grad_b, &self.eps, below);
        if self.core.cfg.check_gradients {
            self.report_gradient(step, ctx);
        }
        self.core.apply_update(&self.grad_w, &self.grad_b);
        self.mu_fresh = false;
        self.learned = true;
    }

    /// The gradient just formed, to the coordinator (gradient checks).
    fn report_gradient(&mut self, step: u64, ctx: &mut Context<'_, Message>) {
        let (gw, gb) = (&self.grad_w, &self.grad_b);
        let c = &mut self.core;
        let weight = c
            .report_pool
            .signal(gw.rows(), gw.cols(), |o| o.copy_from_slice(gw.as_slice()));
        let bias = c.report_pool.signal(1, gb.len(), |o| o.copy_from_slice(gb));
        let (layer, offset) = (c.at.layer as u32, c.at.range.start as u32);
        let data = ReportData::Gradient {
            layer,
            offset,
            weight,
            bias,
        };
        c.at.report(ctx, step, data);
    }

    /// Kolen-Pollack: `B` takes the same local product as the weights above, `dW_above^T`,
    /// formed here from the received errors and this shard's own activity.
    fn learn_feedback(&mut self) {
        if self.core.fb_syn.is_none() {
            return;
        }
        let rows = self.fx.rows();
        let (above, fx) = (self.core.above.view().t(), self.fx.view());
        let scale = -1.0 / rows as f32;
        matmul(&mut self.grad_fb, above, fx, scale, false, Threads::ONE);
        self.core.apply_feedback_update(&self.grad_fb);
    }

    /// Feedback and Kolen-Pollack's update of step `t`, in the order the switch says.
    fn feedback_step(&mut self) {
        let cfg = self.core.cfg.clone();
        self.core.above.assemble();
        let kp = cfg.feedback == Feedback::KolenPollack && self.above_learned;
        if kp && cfg.update_before_feedback {
            self.learn_feedback();
        }
        let nonzero = self.core.above.any_nonzero();
        // Feedback only moves the value nodes, which stay put after the last step; and
        // zero errors (a hidden layer's first Z-IL steps) feed back zero.
        if self.core.t < self.last {
            if nonzero {
                self.feed_back();
            } else {
                self.fb.fill(0.0);
            }
        }
        if kp && !cfg.update_before_feedback {
            self.learn_feedback();
        }
        if cfg.zil && self.learn_at.is_none() && nonzero {
            self.learn_at = Some(self.core.t + 1);
        }
    }

    /// One inference step of the value nodes; returns whether any changed.
    fn relax(&mut self) -> bool {
        let cfg = &self.core.cfg;
        pc::relax(
            cfg.activation,
            cfg.gamma,
            self.x.as_slice(),
            self.dx.as_mut_slice(),
            self.fx.as_mut_slice(),
            self.eps.as_slice(),
            self.fb.as_slice(),
        )
    }

    /// All of step `t` is here: feedback, relaxation, and the next step (or the batch's end).
    fn finish_step(&mut self, ctx: &mut Context<'_, Message>) {
        if !self.is_output() {
            self.feedback_step();
        }
        if self.core.t == self.last {
            self.end_batch(ctx);
            return;
        }
        if !self.is_output() {
            self.relaxed_changed = self.relax();
        }
        self.core.t += 1;
        self.eps_done = false;
        self.core.above.clear();
        self.above_learned = false;
        if self.core.at.layer > 1 {
            self.core.below.clear();
        }
        self.below_changed = false;
        if !self.is_output() {
            self.send_activity(ctx);
        }
    }

    fn end_batch(&mut self, ctx: &mut Context<'_, Message>) {
        let b = self.core.batch.expect("a batch is open");
        let k = self.energies.iter().position(|e| !e.is_finite());
        let fault = k.filter(|_| b.train).map(|k| {
            let (what, value) = self.first_non_finite(self.energies[k]);
            (b.base + k as u64, what, value)
        });
        self.core.close(ctx, fault, &self.energies);
    }

    /// Names the first non-finite number in this shard's state (weights first: they are what
    /// a diverging update breaks), or the free energy itself if only that overflowed.
    fn first_non_finite(&mut self, energy: f32) -> (&'static str, f32) {
        let parts: [(&'static str, &[f32]); 3] = [
            ("value node (forward sweep)", self.x.as_slice()),
            ("value node (inference change)", self.dx.as_slice()),
            ("prediction error", self.eps.as_slice()),
        ];
        self.core
            .first_non_finite(&parts)
            .unwrap_or(("free energy", energy))
    }

    /// `fb = eps_above B` from the assembled errors above.
    fn feed_back(&mut self) {
        let c = &self.core;
        let b = c
            .fb_syn
            .as_ref()
            .expect("hidden layers hold feedback synapses");
        pc::feed_back(&mut self.fb, c.above.view(), b.view());
    }

    /// Makes the next transition the messages at hand allow.
    fn step_on(&mut self, ctx: &mut Context<'_, Message>) -> bool {
        if self.core.batch.is_none() || self.in_async_batch() {
            return false;
        }
        if !self.eps_done {
            let c = &self.core;
            // Layer 1's input is clamped for the whole batch: it arrives once, at step 0.
            if !(c.below.complete() || (c.at.layer == 1 && c.t > 0)) {
                return false;
            }
            if self.is_output() && c.batch.is_some_and(|b| b.train) && c.labels.is_empty() {
                return false;
            }
            self.settle_errors(ctx);
            return true;
        }
        if !self.is_output() && !self.core.above.complete() {
            return false;
        }
        self.finish_step(ctx);
        true
    }
}

impl<S: PcSchedule> LayerRule for PcLayer<S> {
    fn core(&mut self) -> &mut LayerCore {
        &mut self.core
    }

    fn accept(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Result<(), Message> {
        self.take_in(msg, ctx)
    }

    fn advance(&mut self, ctx: &mut Context<'_, Message>) -> bool {
        self.step_on(ctx)
    }

    fn holds_deferred(&self) -> bool {
        self.in_async_batch()
    }

    fn save_state(&mut self) -> StateBag {
        let mut bag = self.core.save_state();
        self.sched.save(&mut bag);
        bag
    }

    fn restore_state(&mut self, bag: &StateBag) -> Result<(), StateError> {
        self.core.restore_state(bag)?;
        self.sched.restore(bag)
    }
}

impl Actor<Message> for PcLayer<Lockstep> {
    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        self.drive(msg, ctx);
        Flow::Continue
    }
}

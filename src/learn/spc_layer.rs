//! The spiking predictive-coding layer actor: one shard of one layer, owning its value
//! neurons, its error neurons (one membrane each, firing into a positive and a negative
//! population), the forward synapses `W` its error neurons receive the spikes below through,
//! and the feedback synapses `B` its value neurons receive the error spikes above through.
//! Only spikes cross actor boundaries (`SpikeBatch` messages of packed bits).
//!
//! One batch is `settle + learn` ticks (steps `t`, numbered from the batch's first global
//! step; every message carries it). At tick `t` a shard:
//! ```text
//! on the spikes s_below(t) from below:  r += (s_below - r) / min(t + 1, tau)   (synaptic trace)
//!                                       mu = r W^T + b
//! settle (t < settle):                  x = mu (value neurons follow their input)
//! learn (t >= settle):                  u += x - mu   (output: u += y - softmax(mu))
//!                                       error spikes e = +1 where u >= th, -1 where u <= -th,
//!                                       u -= th e; send e down
//! on the error spikes e_above(t):       x += gamma (-(x - mu) + phi'(x) .* th_above e_above B)
//! fire the value neurons for t + 1:     v += phi(x) / a; s = v >= 1; v -= s; send s up
//! last tick:                            W += Adam(E^T C / T^2), E = sum th e, C = sum s_below
//!                                       over the learn ticks; Kolen-Pollack: B likewise
//! ```
//! `phi` is the activation capped at `a` = `max_value` (a value neuron fires at most once a
//! tick; a spike stands for `a`, so `mu = a r W^T + b` above layer 1). The value neuron's
//! restoring input `-(x - mu)` comes from its own error neuron in the same shard. Spike
//! counts of integrate-and-fire neurons with reset by subtraction track the integral of
//! their input to within one spike, so the error neurons' counts carry the errors' sums and
//! `E^T C / T^2` is the rate PC update `eps^T f(x_below)` measured on spikes. Evaluation runs
//! the settle ticks only; the output reports `mu` at the last settle tick (training too:
//! train accuracy is measured on it).

use std::sync::Arc;

pub use crate::learn::layer::config::SpcConfig;
use crate::learn::layer::config::{Feedback, LayerConfig};
use crate::learn::layer::core::{InitialDraw, LayerCore, LayerRule, Opened};
use crate::learn::layer::placement::{read_labels, Batch, Placement};
use crate::learn::pc;
use crate::learn::spc_record::{self, Recorder};
use crate::math::matrix::{matmul, Matrix, Threads};
use crate::message::{BitPool, Message, Phase, ReportData, Synapses};
use crate::runtime::actor::{Actor, Context, Flow};
use crate::state::{StateBag, StateError};

/// One shard of a spiking predictive-coding layer.
pub(crate) struct SpcLayer {
    core: LayerCore,
    spc: SpcConfig,
    /// Value neurons `x`, `phi(x)`, the membranes of their spike encoders, and the spikes.
    x: Matrix,
    fx: Matrix,
    membrane: Matrix,
    spikes: Matrix,
    /// Synaptic trace of the spikes from below, its count over the learn ticks, `mu`.
    trace: Matrix,
    counts_below: Matrix,
    mu: Matrix,
    /// Error membranes, this tick's error spikes (+1 / -1), their sum times the threshold.
    u: Matrix,
    e: Matrix,
    e_sum: Matrix,
    /// Output: `y - softmax(mu)` and its scratch.
    drive: Matrix,
    out_grad: Matrix,
    /// Feedback `e_above B`, the sum of `th_above e_above` and of own spikes (Kolen-Pollack).
    fb: Matrix,
    e_above_sum: Matrix,
    counts_own: Matrix,
    /// Gradients and scaled counts for the updates.
    grad_w: Matrix,
    grad_b: Vec<f32>,
    grad_fb: Matrix,
    scaled: Matrix,
    bits: BitPool,
    /// Spike and event counts, spikes per tick, one image's spikes (for the reports).
    record: Recorder,
    eps_done: bool,
    energies: Vec<f32>,
}

impl SpcLayer {
    /// The shard at `at` with forward synapses `syn` (it draws its feedback from `draw`).
    pub(crate) fn new(
        at: Placement,
        cfg: Arc<LayerConfig>,
        syn: Synapses,
        draw: &InitialDraw,
    ) -> Self {
        let spc = cfg.spc.expect("a spiking PC run");
        let width = at.range.len();
        let inputs = at.below.last().map_or(0, |r| r.end);
        let n_above = at.above.last().map_or(0, |r| r.end);
        let z = |cols: usize| Matrix::zeros(0, cols);
        Self {
            x: z(width),
            fx: z(width),
            membrane: z(width),
            spikes: z(width),
            trace: z(inputs),
            counts_below: z(inputs),
            mu: z(width),
            u: z(width),
            e: z(width),
            e_sum: z(width),
            drive: z(width),
            out_grad: z(width),
            fb: z(width),
            e_above_sum: z(n_above),
            counts_own: z(width),
            grad_w: Matrix::zeros(width, inputs),
            grad_b: vec![0.0; width],
            grad_fb: Matrix::zeros(n_above, width),
            scaled: z(width),
            bits: BitPool::default(),
            record: Recorder::new(at.range.start, spc.last_step() + 1),
            eps_done: false,
            energies: vec![0.0; spc.last_step() + 1],
            spc,
            core: LayerCore::new(at, cfg, syn, draw),
        }
    }

    fn is_output(&self) -> bool {
        self.core.is_output()
    }

    /// The last tick of the open batch.
    fn last(&self) -> usize {
        match self.core.batch {
            Some(b) if b.train => self.spc.last_step(),
            _ => self.spc.settle_ticks - 1,
        }
    }

    fn learning(&self) -> bool {
        self.core.batch.is_some_and(|b| b.train) && self.core.t >= self.spc.settle_ticks
    }

    /// Takes `msg` in if it belongs to the current step; hands it back otherwise.
    fn take_in(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Result<(), Message> {
        let now = self.core.step();
        match msg {
            Message::Phase { step, phase }
                if self.core.batch.is_none()
                    && !matches!(phase, Phase::Learn | Phase::Exhausted) =>
            {
                self.begin(step, phase, ctx);
            }
            Message::SpikeBatch { step, shard, bits } if step == now => {
                let up = bits.planes == 1;
                if up && self.eps_done {
                    return Err(Message::SpikeBatch { step, shard, bits });
                }
                let c = &mut self.core;
                let (rows, cols) = (bits.rows as usize, bits.cols as usize);
                let s = c.pool.signal(rows, cols, |o| bits.unpack(o));
                let fired = s.values().iter().filter(|&&v| v != 0.0).count() as u64;
                // Layer 1's first shard counts the input's spikes.
                let input = up && c.at.layer == 1 && c.at.shard == 0;
                self.record.received(fired, c.at.range.len(), input);
                if up {
                    c.below.put(shard as usize, s);
                } else {
                    c.above.put(shard as usize, s);
                }
            }
            Message::WeightTransport { step, shard, copy } if step == now => {
                let c = &mut self.core;
                c.at.store_copy(c.fb_syn.as_mut(), shard, &copy);
            }
            // The labels carry the batch's first step; they are needed only from the first
            // learn tick, so they may come after the batch has moved on.
            Message::Clamp { step, labels } if self.core.batch.is_some_and(|b| b.base == step) => {
                read_labels(&mut self.core.labels, &labels)
            }
            other => return Err(other),
        }
        Ok(())
    }

    fn begin(&mut self, step: u64, phase: Phase, ctx: &mut Context<'_, Message>) {
        if phase == Phase::Snapshot {
            // Before the synapses: the coordinator closes the snapshot on those.
            let raster = self.record.raster(self.core.at.layer);
            self.core.at.report(ctx, step, raster);
        }
        let (rows, train) = match self.core.open(step, phase, ctx) {
            Opened::Batch { rows, train } => (rows, train),
            Opened::Save => return self.report_state(step, ctx),
            Opened::Nothing => return,
        };
        self.eps_done = false;
        for m in [
            &mut self.x,
            &mut self.fx,
            &mut self.membrane,
            &mut self.spikes,
            &mut self.trace,
            &mut self.counts_below,
            &mut self.mu,
            &mut self.u,
            &mut self.e,
            &mut self.e_sum,
            &mut self.drive,
            &mut self.fb,
            &mut self.e_above_sum,
            &mut self.counts_own,
        ] {
            m.set_rows(rows);
            m.fill(0.0);
        }
        self.energies.fill(0.0);
        self.record.begin(train);
        // Tick 0: the value neurons start at rest; they fire nothing yet.
        if !self.is_output() {
            self.send_spikes(step, ctx);
        }
    }

    /// Tick `t`'s input: the trace of the spikes from below and the prediction.
    fn predict(&mut self) {
        let t = self.core.t;
        self.core.below.assemble();
        let below = self.core.below.view();
        let k = 1.0 / (t + 1).min(self.spc.trace_ticks.max(1)) as f32;
        let learning = self.learning();
        let (tr, cb) = (self.trace.as_mut_slice(), self.counts_below.as_mut_slice());
        for (i, (r, c)) in tr.iter_mut().zip(cb.iter_mut()).enumerate() {
            let s = below.as_slice()[i];
            *r += (s - *r) * k;
            if learning {
                *c += s;
            }
        }
        // mu = max_value r W^T + b: a spike stands for `max_value` of activity.
        let mv = self.below_value();
        let c = &self.core;
        self.mu.set_rows(self.trace.rows());
        matmul(
            &mut self.mu,
            self.trace.view(),
            c.syn.weights().t(),
            mv,
            false,
            Threads::ONE,
        );
        for r in 0..self.mu.rows() {
            for (v, &b) in self.mu.row_mut(r).iter_mut().zip(c.syn.bias()) {
                *v += b;
            }
        }
    }

    /// What one spike from below stands for (the input's: 1).
    fn below_value(&self) -> f32 {
        if self.core.at.layer == 1 {
            1.0
        } else {
            self.spc.max_value
        }
    }

    /// Tick `t` up to the error spikes: prediction, value neurons (settle) or error neurons
    /// (learn), the output's report; sends the errors down. Returns `false` when the batch
    /// ended here.
    fn settle_errors(&mut self, ctx: &mut Context<'_, Message>) -> bool {
        let b = self.core.batch.expect("a batch is open");
        let (t, step) = (self.core.t, self.core.step());
        self.predict();
        let settle = self.spc.settle_ticks;
        if t < settle {
            if !self.is_output() {
                self.x.as_mut_slice().copy_from_slice(self.mu.as_slice());
            }
            if self.is_output() && t + 1 == settle {
                self.report_predictions(b.base, ctx);
            }
        } else {
            self.error_spikes(t);
            if !self.core.at.down.is_empty() {
                self.send_errors(step, ctx);
            }
        }
        if b.train && !self.core.taps.is_empty() {
            let state = (&self.x, &self.mu, &self.drive);
            let (output, learning) = (self.is_output(), t >= self.spc.settle_ticks);
            let energy = self.energies[t];
            spc_record::sample_probes(&mut self.core, step, state, (output, learning, energy));
        }
        if t == self.last() {
            if b.train {
                self.learn();
                if !self.is_output() {
                    // Kolen-Pollack learns from the errors of this last tick too.
                    self.eps_done = true;
                    return true;
                }
            }
            self.end_batch(ctx);
            return false;
        }
        self.eps_done = true;
        true
    }

    /// The error neurons of a learn tick: integrate, fire, count.
    fn error_spikes(&mut self, t: usize) {
        let th = self.spc.threshold(self.is_output());
        if self.is_output() {
            let c = &self.core;
            let drive = self.drive.as_mut_slice();
            let loss =
                pc::output_errors(c.cfg.loss, &self.mu, &c.labels, &mut self.out_grad, drive);
            self.energies[t] = loss;
        } else {
            let (d, x, mu) = (
                self.drive.as_mut_slice(),
                self.x.as_slice(),
                self.mu.as_slice(),
            );
            let mut energy = 0.0;
            for ((d, &x), &m) in d.iter_mut().zip(x).zip(mu) {
                *d = x - m;
                energy += 0.5 * *d * *d;
            }
            self.energies[t] = energy;
        }
        let it = self
            .u
            .as_mut_slice()
            .iter_mut()
            .zip(self.e.as_mut_slice())
            .zip(self.e_sum.as_mut_slice())
            .zip(self.drive.as_slice());
        for (((u, e), sum), &d) in it {
            *u += d;
            *e = if *u >= th {
                1.0
            } else if *u <= -th {
                -1.0
            } else {
                0.0
            };
            *u -= th * *e;
            *sum += th * *e;
        }
        self.record.errors(t, &self.e);
    }

    /// The output's prediction at the last settle tick, to the coordinator.
    fn report_predictions(&mut self, step: u64, ctx: &mut Context<'_, Message>) {
        let (rows, cols) = (self.mu.rows(), self.mu.cols());
        let mu = self.mu.as_slice();
        let c = &mut self.core;
        let s = c.report_pool.signal(rows, cols, |o| o.copy_from_slice(mu));
        c.at.report(ctx, step, ReportData::Predictions(s));
    }

    /// This tick's error spikes, down (transpose feedback: first a weight copy if stale).
    fn send_errors(&mut self, step: u64, ctx: &mut Context<'_, Message>) {
        let c = &mut self.core;
        if c.cfg.feedback == Feedback::Transpose && c.copy_stale {
            c.at.send_weight_copies(ctx, step, &c.syn);
            c.copy_stale = false;
        }
        let (rows, cols) = (self.e.rows(), self.e.cols());
        let bits = self.bits.pack(rows, cols, true, self.e.as_slice());
        c.at.send_bits(ctx, c.at.down.clone(), step, &bits);
    }

    /// Fires the value neurons from `phi(x)` for the next tick and sends the spikes up.
    fn send_spikes(&mut self, step: u64, ctx: &mut Context<'_, Message>) {
        let t = (step - self.core.batch.map_or(step, |b| b.base)) as usize;
        let counting = self.core.batch.is_some_and(|b| b.train) && t >= self.spc.settle_ticks;
        let act = self.core.cfg.activation;
        let mv = self.spc.max_value;
        let it = self
            .membrane
            .as_mut_slice()
            .iter_mut()
            .zip(self.spikes.as_mut_slice())
            .zip(self.fx.as_mut_slice())
            .zip(self.x.as_slice())
            .zip(self.counts_own.as_mut_slice());
        for ((((v, s), a), &x), c) in it {
            *a = act.apply(x).min(mv);
            *v += *a / mv;
            *s = if *v >= 1.0 { 1.0 } else { 0.0 };
            *v -= *s;
            if counting {
                *c += *s;
            }
        }
        self.record.values(t, &self.spikes);
        let (rows, cols) = (self.spikes.rows(), self.spikes.cols());
        let bits = self.bits.pack(rows, cols, false, self.spikes.as_slice());
        let c = &self.core;
        c.at.send_bits(ctx, c.at.up.clone(), step, &bits);
    }

    /// The Hebbian update of `W` and `b` from the learn ticks' counts (`E^T C / T^2`).
    fn learn(&mut self) {
        let inv = 1.0 / self.spc.learn_ticks as f32;
        self.scaled.set_rows(self.e_sum.rows());
        for (s, &e) in self
            .scaled
            .as_mut_slice()
            .iter_mut()
            .zip(self.e_sum.as_slice())
        {
            *s = e * inv;
        }
        let scale = inv * self.below_value();
        self.counts_below
            .as_mut_slice()
            .iter_mut()
            .for_each(|c| *c *= scale);
        let below = self.counts_below.view();
        pc::hebbian(&mut self.grad_w, &mut self.grad_b, &self.scaled, below);
        self.core.apply_update(&self.grad_w, &self.grad_b);
    }

    /// Kolen-Pollack: `B` takes the same product as the weights above, from the error spikes
    /// received and this shard's own spikes over the learn ticks.
    fn learn_feedback(&mut self) {
        let inv = 1.0 / self.spc.learn_ticks as f32;
        let rows = self.counts_own.rows();
        self.e_above_sum
            .as_mut_slice()
            .iter_mut()
            .for_each(|e| *e *= inv);
        let scale = inv * self.spc.max_value;
        self.counts_own
            .as_mut_slice()
            .iter_mut()
            .for_each(|c| *c *= scale);
        if self.core.fb_syn.is_none() {
            return;
        }
        let (above, own) = (self.e_above_sum.view().t(), self.counts_own.view());
        matmul(
            &mut self.grad_fb,
            above,
            own,
            -1.0 / rows as f32,
            false,
            Threads::ONE,
        );
        self.core.apply_feedback_update(&self.grad_fb);
    }

    /// The error spikes from above are all here: feedback, relaxation, the next tick's
    /// spikes (or, at the last tick, Kolen-Pollack's update and the batch's end).
    fn finish_step(&mut self, ctx: &mut Context<'_, Message>) {
        let th_above = self
            .spc
            .threshold(self.core.at.layer + 1 == self.core.at.layers);
        if self.learning() {
            self.core.above.assemble();
            let above = self.core.above.view();
            for (s, &e) in self
                .e_above_sum
                .as_mut_slice()
                .iter_mut()
                .zip(above.as_slice())
            {
                *s += th_above * e;
            }
            if self.core.t == self.last() {
                if self.core.cfg.feedback == Feedback::KolenPollack {
                    self.learn_feedback();
                }
                self.end_batch(ctx);
                return;
            }
            let b = self
                .core
                .fb_syn
                .as_ref()
                .expect("hidden layers hold feedback");
            pc::feed_back(&mut self.fb, above, b.view());
            let gamma = self.core.cfg.gamma;
            let mv = self.spc.max_value;
            let act = self.core.cfg.activation;
            // The restoring input comes from the value neuron's own error neuron, in the same
            // shard: its input current `x - mu` (only spikes leave the actor).
            let it = self
                .x
                .as_mut_slice()
                .iter_mut()
                .zip(self.fx.as_slice())
                .zip(self.fb.as_slice())
                .zip(self.drive.as_slice());
            for (((x, &a), &f), &d) in it {
                let slope = if a < mv { act.derivative(*x, a) } else { 0.0 };
                *x += gamma * (-d + slope * th_above * f);
            }
        }
        self.next_tick(ctx);
    }

    /// Moves to the next tick; hidden shards fire for it.
    fn next_tick(&mut self, ctx: &mut Context<'_, Message>) {
        self.core.t += 1;
        self.eps_done = false;
        self.core.above.clear();
        self.core.below.clear();
        if !self.is_output() {
            let step = self.core.step();
            self.send_spikes(step, ctx);
        }
    }

    fn end_batch(&mut self, ctx: &mut Context<'_, Message>) {
        let b = self.core.batch.expect("a batch is open");
        for data in self.record.finish(self.core.at.layer).into_iter().flatten() {
            self.core.at.report(ctx, b.base, data);
        }
        let k = self.energies.iter().position(|e| !e.is_finite());
        let fault = k.filter(|_| b.train).map(|k| {
            let parts: [(&'static str, &[f32]); 2] = [
                ("value neuron", self.x.as_slice()),
                ("error membrane", self.u.as_slice()),
            ];
            let (what, value) = self
                .core
                .first_non_finite(&parts)
                .unwrap_or(("free energy", self.energies[k]));
            (b.base + k as u64, what, value)
        });
        self.core.close(ctx, fault, &self.energies);
    }

    /// Makes the next transition the messages at hand allow.
    fn step_on(&mut self, ctx: &mut Context<'_, Message>) -> bool {
        let Some(Batch { train, .. }) = self.core.batch else {
            return false;
        };
        if !self.eps_done {
            let c = &self.core;
            if !c.below.complete() {
                return false;
            }
            let t = c.t;
            if self.is_output() && train && t >= self.spc.settle_ticks && c.labels.is_empty() {
                return false;
            }
            if !self.settle_errors(ctx) {
                return true;
            }
            if self.is_output() {
                self.next_tick(ctx);
            }
            return true;
        }
        if self.learning() && !self.core.above.complete() {
            return false;
        }
        self.finish_step(ctx);
        true
    }
}

impl LayerRule for SpcLayer {
    fn core(&mut self) -> &mut LayerCore {
        &mut self.core
    }

    fn accept(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Result<(), Message> {
        self.take_in(msg, ctx)
    }

    fn advance(&mut self, ctx: &mut Context<'_, Message>) -> bool {
        self.step_on(ctx)
    }

    fn save_state(&mut self) -> StateBag {
        let mut bag = self.core.save_state();
        self.record.save(&mut bag);
        bag
    }

    fn restore_state(&mut self, bag: &StateBag) -> Result<(), StateError> {
        self.core.restore_state(bag)?;
        self.record.restore(bag)
    }
}

impl Actor<Message> for SpcLayer {
    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        self.drive(msg, ctx);
        Flow::Continue
    }
}

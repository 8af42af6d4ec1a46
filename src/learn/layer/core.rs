//! [`LayerCore`]: what every layer actor embeds whatever its learning rule (placement and name,
//! synapses and their optimisers, feedback synapses, the gathers of its neighbours' signals,
//! the deferred queue, the pools, the batch counter, save/restore, the non-finite check and
//! injected faults), and [`LayerRule`], the part that differs: how a rule takes a message in
//! and what transitions it makes. The drive loop that ties the two is written once, here.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::learn::layer::config::{Feedback, KpInit, LayerConfig};
use crate::learn::layer::gather::Gather;
use crate::learn::layer::placement::{Batch, Placement};
use crate::math::matrix::Matrix;
use crate::math::mlp::{Init, Mlp};
use crate::math::optimizer::Optimizer;
use crate::message::probe::{ProbeChunk, ProbePlan, ProbeTap, ProbeVariable};
use crate::message::{Message, Phase, ReportData, SignalPool, Synapses};
use crate::run_error::NetworkRunError;
use crate::runtime::actor::Context;
use crate::runtime::{ActorId, Network};
use crate::state::{StateBag, StateError};

/// How the run's initial weights were drawn: `Mlp::new(widths, _, init,
/// SeededRng::stream(seed, "weights"))`. A layer actor draws its initial feedback synapses
/// from this (and from the `feedback/...` streams of the same seed) itself: no weight leaves
/// another actor for it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct InitialDraw {
    /// The run's seed.
    pub(crate) seed: u64,
    /// The initialisation of the forward weights.
    pub(crate) weights: Init,
    /// The network's widths, input first.
    pub(crate) widths: Vec<usize>,
}

impl InitialDraw {
    /// The full feedback matrix of hidden layer `l` (1-based) in the layout of the weights it
    /// stands in for (`n_above x n_l`), before any learning; `None` where it comes by
    /// transport.
    fn feedback(&self, cfg: &LayerConfig, l: usize) -> Option<Matrix> {
        use crate::math::rng::SeededRng;
        let widths = &self.widths;
        let n_l = widths[l];
        match cfg.feedback {
            Feedback::Transpose => None,
            Feedback::KolenPollack if cfg.kp_init == KpInit::SharedSeed => {
                // The weights above are the `l + 1`-th layer drawn from the "weights" stream:
                // the same draws, replayed here, give `B = W_above^T` bit for bit.
                let mut rng = SeededRng::stream(self.seed, "weights");
                let net = Mlp::new(&widths[..=l + 1], cfg.activation, self.weights, &mut rng);
                Some(net.layers()[l].weight.clone())
            }
            Feedback::KolenPollack | Feedback::Random => {
                let mut rng = SeededRng::stream(self.seed, &format!("feedback/layer-{l}"));
                let std = (2.0 / n_l as f64).sqrt();
                let mut m = Matrix::zeros(widths[l + 1], n_l);
                for v in m.as_mut_slice() {
                    *v = (rng.normal() * std) as f32;
                }
                Some(m)
            }
            Feedback::Direct => {
                let out = widths[widths.len() - 1];
                let mut rng = SeededRng::stream(self.seed, &format!("feedback/direct/layer-{l}"));
                let bound = 1.0 / (n_l as f64).sqrt();
                let mut m = Matrix::zeros(out, n_l);
                for v in m.as_mut_slice() {
                    *v = ((rng.uniform() * 2.0 - 1.0) * bound) as f32;
                }
                Some(m)
            }
        }
    }

    /// The feedback synapses of the shard at `at` (its columns of the full matrix; zeros where
    /// they come by transport); none at the output.
    pub(crate) fn feedback_of(&self, cfg: &LayerConfig, at: &Placement) -> Option<Matrix> {
        if at.is_output() {
            return None;
        }
        let n_above = at.above.last().map_or(0, |r| r.end);
        Some(match self.feedback(cfg, at.layer) {
            Some(m) => columns(&m, at.range.clone()),
            None => Matrix::zeros(n_above, at.range.len()),
        })
    }
}

/// Columns `cols` of `m`.
fn columns(m: &Matrix, cols: std::ops::Range<usize>) -> Matrix {
    let mut out = Matrix::zeros(m.rows(), cols.len());
    for r in 0..m.rows() {
        out.row_mut(r).copy_from_slice(&m.row(r)[cols.clone()]);
    }
    out
}

/// What a phase message asked of [`LayerCore::open`].
pub(crate) enum Opened {
    /// A batch of `rows` examples is open (a training batch if `train`).
    Batch {
        /// Examples in the batch.
        rows: usize,
        /// A training batch (else an evaluation batch).
        train: bool,
    },
    /// The rule is to report its state.
    Save,
    /// Nothing more to do.
    Nothing,
}

/// What every layer actor holds, whatever its learning rule.
pub(crate) struct LayerCore {
    /// Where the shard sits and whom it talks to.
    pub(crate) at: Placement,
    /// The run's settings.
    pub(crate) cfg: Arc<LayerConfig>,
    /// Forward synapses `W` (this shard's rows) and bias, and their optimiser.
    pub(crate) syn: Synapses,
    pub(crate) opt: Optimizer,
    /// Feedback synapses in the layout of the weights above (`n_above x width`); none at the
    /// output. And their optimiser.
    pub(crate) fb_syn: Option<Matrix>,
    pub(crate) fb_opt: Optimizer,
    /// Our weights changed since the last copy went down (transpose mode).
    pub(crate) copy_stale: bool,
    /// The batch being worked on, and its step.
    pub(crate) batch: Option<Batch>,
    pub(crate) t: usize,
    /// Signals from the shards below and above.
    pub(crate) below: Gather,
    pub(crate) above: Gather,
    /// The output's labels for the batch.
    pub(crate) labels: Vec<u8>,
    /// Training batches done (the schedule's position).
    pub(crate) trained_batches: usize,
    /// Messages for a later step, in arrival order.
    pub(crate) deferred: VecDeque<Message>,
    /// Buffers of the signals sent to neighbours and of the reports.
    pub(crate) pool: SignalPool,
    pub(crate) report_pool: SignalPool,
    /// Fault injection (`faults.panic_actor`): panic after this many training batches.
    pub(crate) panic_after: Option<usize>,
    /// What `[[probe]]`s record of this shard (sent to the coordinator at each training
    /// batch's end).
    pub(crate) taps: Vec<ProbeTap>,
    pending_probes: Vec<ProbeChunk>,
}

impl LayerCore {
    /// A shard at `at` with forward synapses `syn`; it draws its own feedback synapses from
    /// `draw`.
    pub(crate) fn new(
        at: Placement,
        cfg: Arc<LayerConfig>,
        syn: Synapses,
        draw: &InitialDraw,
    ) -> Self {
        let width = at.range.len();
        let inputs = at.below.last().map_or(0, |r| r.end);
        let n_above = at.above.last().map_or(0, |r| r.end);
        Self {
            opt: Optimizer::new(cfg.optimizer, &[width * inputs, width]),
            fb_opt: Optimizer::new(cfg.optimizer, &[n_above * width]),
            fb_syn: draw.feedback_of(&cfg, &at),
            below: Gather::new(at.below.clone()),
            above: Gather::new(at.above.clone()),
            copy_stale: true,
            batch: None,
            t: 0,
            labels: Vec::new(),
            trained_batches: 0,
            deferred: VecDeque::new(),
            pool: SignalPool::default(),
            report_pool: SignalPool::default(),
            panic_after: None,
            taps: ProbePlan::taps(&cfg.probes, at.layer, at.range.clone()),
            pending_probes: Vec::new(),
            syn,
            at,
            cfg,
        }
    }

    /// Records the taps due at global step `step`: `read(variable, i)` is local unit `i`'s
    /// value (a weight row's norm is read here, from the shard's own synapses).
    pub(crate) fn probe(&mut self, step: u64, read: impl Fn(ProbeVariable, u32) -> f32) {
        let w = self.syn.weights();
        let (w, cols) = (w.as_slice(), w.cols());
        for tap in self.taps.iter_mut().filter(|t| t.due(step)) {
            let v = tap.variable;
            let full = tap.record(step, |i| match v {
                ProbeVariable::WeightNorm => {
                    let row = &w[i as usize * cols..(i as usize + 1) * cols];
                    row.iter().map(|x| x * x).sum::<f32>().sqrt()
                }
                _ => read(v, i),
            });
            if let Some(chunk) = full {
                self.pending_probes.push(chunk);
            }
        }
    }

    /// Sends the recorded probe samples to the coordinator.
    fn send_probes(&mut self, ctx: &mut Context<'_, Message>) {
        let full = self.pending_probes.drain(..);
        let rest = self.taps.iter_mut().map(|t| t.take(false));
        for chunk in full
            .chain(rest)
            .filter(|c| !c.times.is_empty())
            .collect::<Vec<_>>()
        {
            let step = chunk.times.last().copied().unwrap_or(0);
            ctx.send(self.at.coordinator, Message::Probe { step, chunk });
        }
    }

    /// Whether this shard is (in) the output layer.
    pub(crate) fn is_output(&self) -> bool {
        self.at.is_output()
    }

    /// The global step being worked on (`u64::MAX` between batches).
    pub(crate) fn step(&self) -> u64 {
        self.batch.map_or(u64::MAX, |b| b.base + self.t as u64)
    }

    /// Base rate `lr` after the learning-rate schedule at this shard's position.
    pub(crate) fn scheduled(&self, lr: f32) -> f32 {
        self.cfg
            .schedule
            .rate(lr, self.trained_batches, self.cfg.total_batches)
    }

    /// Kolen-Pollack's decay factor at scheduled rate `lr`: `1 - lambda lr / lr_0`.
    pub(crate) fn kp_keep(&self, lr: f32) -> f32 {
        1.0 - self.cfg.kp_decay * lr / self.cfg.lr
    }

    /// One step of this shard's forward synapses at the scheduled rate: Kolen-Pollack's decay
    /// (if any), then the optimiser on `grad_w` and `grad_b`; the weight copy goes stale.
    pub(crate) fn apply_update(&mut self, grad_w: &Matrix, grad_b: &[f32]) {
        let lr = self.scheduled(self.cfg.lr);
        let keep = self.kp_keep(lr);
        if self.cfg.feedback == Feedback::KolenPollack && self.cfg.kp_decay > 0.0 {
            let w = self.syn.weights_mut().as_mut_slice();
            w.iter_mut().for_each(|w| *w *= keep);
        }
        self.opt.begin_step();
        let w = self.syn.weights_mut().as_mut_slice();
        self.opt.update(0, w, grad_w.as_slice(), lr);
        self.opt.update(1, self.syn.bias_mut(), grad_b, lr);
        self.copy_stale = true;
    }

    /// Kolen-Pollack's step of the feedback synapses from `grad_fb` (the same product as the
    /// weights above take): the decay, then their optimiser, at the scheduled rate.
    pub(crate) fn apply_feedback_update(&mut self, grad_fb: &Matrix) {
        let lr = self.scheduled(self.cfg.lr);
        let keep = self.kp_keep(lr);
        let Some(b) = self.fb_syn.as_mut() else {
            return;
        };
        if self.cfg.kp_decay > 0.0 {
            b.as_mut_slice().iter_mut().for_each(|w| *w *= keep);
        }
        self.fb_opt.begin_step();
        self.fb_opt
            .update(0, b.as_mut_slice(), grad_fb.as_slice(), lr);
    }

    /// Opens a batch for `Train` and `Evaluate` phases; answers `Snapshot` (with the feedback
    /// copy too) at once; leaves `Save` to the rule (whose state it is).
    pub(crate) fn open(
        &mut self,
        step: u64,
        phase: Phase,
        ctx: &mut Context<'_, Message>,
    ) -> Opened {
        let (rows, train) = match phase {
            Phase::Snapshot => {
                let feedback = self.fb_syn.as_ref();
                self.at.report_synapses(ctx, step, &self.syn, feedback);
                return Opened::Nothing;
            }
            Phase::Save => return Opened::Save,
            Phase::Learn | Phase::Exhausted | Phase::Nudge { .. } | Phase::Present { .. } => {
                return Opened::Nothing
            }
            Phase::Train { rows } => (rows as usize, true),
            Phase::Evaluate { rows } => (rows as usize, false),
        };
        self.batch = Some(Batch { base: step, train });
        self.t = 0;
        self.labels.clear();
        self.below.clear();
        self.above.clear();
        Opened::Batch { rows, train }
    }

    /// Closes the batch; after a training batch reports the first non-finite value found
    /// (`fault`, if any) and the energies, counts the batch and fires an injected panic.
    pub(crate) fn close(
        &mut self,
        ctx: &mut Context<'_, Message>,
        fault: Option<(u64, &'static str, f32)>,
        energies: &[f32],
    ) {
        let b = self.batch.take().expect("a batch is open");
        self.below.clear();
        self.above.clear();
        if !b.train {
            return;
        }
        self.send_probes(ctx);
        if let Some((step, what, value)) = fault {
            self.at.report_fault(ctx, step, what, value);
        }
        let values = self
            .report_pool
            .signal(1, energies.len(), |o| o.copy_from_slice(energies));
        let layer = self.at.layer as u32;
        self.at
            .report(ctx, b.base, ReportData::Energies { layer, values });
        self.trained_batches += 1;
        self.at
            .injected_panic(self.panic_after, self.trained_batches);
    }

    /// The first non-finite number in the synapses (weights first: they are what a diverging
    /// update breaks), then in `parts`.
    pub(crate) fn first_non_finite(
        &mut self,
        parts: &[(&'static str, &[f32])],
    ) -> Option<(&'static str, f32)> {
        let weights = self.syn.weights_mut().as_slice();
        if let Some(&w) = weights.iter().find(|w| !w.is_finite()) {
            return Some(("weight", w));
        }
        std::iter::once(&("bias", self.syn.bias()))
            .chain(parts)
            .find_map(|(what, v)| v.iter().find(|x| !x.is_finite()).map(|&x| (*what, x)))
    }

    /// Serialises what this shard carries from batch to batch: synapses, optimiser state,
    /// feedback synapses and theirs, the batch count (the schedule's position) and whether
    /// the last weight copy sent down is stale.
    pub(crate) fn save_state(&mut self) -> StateBag {
        let mut bag = StateBag::default();
        bag.tensor("weight", self.syn.weights_mut().as_slice().to_vec());
        bag.tensor("bias", self.syn.bias().to_vec());
        self.opt.save("opt.", &mut bag);
        if let Some(b) = &self.fb_syn {
            bag.tensor("feedback", b.as_slice().to_vec());
        }
        self.fb_opt.save("feedback_opt.", &mut bag);
        bag.scalar("trained_batches", self.trained_batches.to_string());
        bag.scalar("copy_stale", self.copy_stale.to_string());
        bag
    }

    /// Restores what [`LayerCore::save_state`] wrote (shapes must match this shard's).
    pub(crate) fn restore_state(&mut self, bag: &StateBag) -> Result<(), StateError> {
        bag.fill("weight", self.syn.weights_mut().as_mut_slice())?;
        bag.fill("bias", self.syn.bias_mut())?;
        self.opt.restore("opt.", bag)?;
        if let Some(b) = self.fb_syn.as_mut() {
            bag.fill("feedback", b.as_mut_slice())?;
        }
        self.fb_opt.restore("feedback_opt.", bag)?;
        self.trained_batches = bag.parse("trained_batches")?;
        self.copy_stale = bag.parse("copy_stale")?;
        Ok(())
    }
}

/// The learning rule of a layer actor: the part that differs between rules. The drive loop,
/// the deferred queue and checkpoints are the core's.
pub(crate) trait LayerRule {
    /// The embedded core.
    fn core(&mut self) -> &mut LayerCore;

    /// Takes `msg` in if it belongs to the current step; hands it back otherwise.
    fn accept(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Result<(), Message>;

    /// Makes one transition the messages at hand allow; returns whether it did.
    fn advance(&mut self, ctx: &mut Context<'_, Message>) -> bool;

    /// Whether the deferred queue is on hold (the asynchronous schedule handles its own).
    fn holds_deferred(&self) -> bool {
        false
    }

    /// What this shard carries from batch to batch (the core's; a rule may add to it).
    fn save_state(&mut self) -> StateBag {
        self.core().save_state()
    }

    /// Restores what [`LayerRule::save_state`] wrote.
    fn restore_state(&mut self, bag: &StateBag) -> Result<(), StateError> {
        self.core().restore_state(bag)
    }

    /// Reports this shard's state to the coordinator (a `Save` phase).
    fn report_state(&mut self, step: u64, ctx: &mut Context<'_, Message>) {
        let bag = self.save_state();
        self.core().at.report_state(ctx, step, bag);
    }

    /// Takes up the first deferred message that now fits, if any.
    fn take_deferred(&mut self, ctx: &mut Context<'_, Message>) -> bool {
        if self.holds_deferred() {
            return false;
        }
        for i in 0..self.core().deferred.len() {
            let msg = self.core().deferred.remove(i).expect("index in range");
            match self.accept(msg, ctx) {
                Ok(()) => return true,
                Err(back) => self.core().deferred.insert(i, back),
            }
        }
        false
    }

    /// Takes `msg` in (or keeps it for later) and makes every transition the messages at
    /// hand allow.
    fn drive(&mut self, msg: Message, ctx: &mut Context<'_, Message>) {
        if let Err(back) = self.accept(msg, ctx) {
            self.core().deferred.push_back(back);
        }
        loop {
            let moved = self.advance(ctx);
            let took = self.take_deferred(ctx);
            if !moved && !took {
                break;
            }
        }
    }
}

/// Adds a layer actor of any rule to `net` under `name`: restores its state from `resume`
/// (under `key`) and arms an injected panic if `panic` names it.
pub(crate) fn add_layer<A>(
    net: &mut Network<Message>,
    mut actor: A,
    name: String,
    key: &str,
    resume: Option<&crate::learn::coordinator::resume::ResumeState>,
    panic: Option<&(String, usize)>,
) -> Result<ActorId<A>, NetworkRunError>
where
    A: LayerRule + crate::runtime::actor::Actor<Message>,
{
    if let Some(r) = resume {
        let restored = r
            .actors
            .get(key)
            .ok_or_else(|| StateError::Missing {
                name: key.to_owned(),
            })
            .and_then(|bag| actor.restore_state(bag));
        if let Err(e) = restored {
            return Err(NetworkRunError::Restore(format!(
                "the checkpoint does not fit actor {name}: {e}"
            )));
        }
    }
    if let Some((who, after)) = panic {
        if *who == name {
            actor.core().panic_after = Some(*after);
        }
    }
    Ok(net.add(name, actor))
}

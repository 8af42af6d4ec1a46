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
//! [`PcConfig::update_before_feedback`] reverses both (a negative control).
//!
//! Messages for a later step (or the next batch) are kept in arrival order and taken up when
//! the actor gets there, so the numbers depend only on the messages, never on their timing:
//! a run is deterministic whatever the executor, worker count or sharding.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::experiment::checkpoint::{StateBag, StateError};
use crate::math::activation::Activation;
use crate::math::loss::Loss;
use crate::math::matrix::{matmul, MatView, Matrix, Threads};
use crate::math::optimizer::{Optimizer, OptimizerConfig, Schedule};
use crate::message::{Message, Phase, ReportData, Signal, SignalPool, Synapses, WeightCopy};
use crate::runtime::actor::{Actor, Context, Flow};

/// Where a hidden layer's feedback synapses `B` come from (`algorithm.feedback`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Feedback {
    /// Oracle: `B = W_above^T`, copied by `WeightTransport` messages (counted).
    Transpose,
    /// `B` learns by the same local rule (and decay) as `W_above^T` (Akrout et al. 2019).
    KolenPollack,
    /// Fixed random `B` (feedback alignment, Lillicrap et al. 2016).
    Random,
    /// The output error goes straight to every hidden layer through fixed random `B` (DFA).
    Direct,
}

impl Feedback {
    /// The scenario name.
    pub fn name(self) -> &'static str {
        match self {
            Feedback::Transpose => "transpose",
            Feedback::KolenPollack => "kolen-pollack",
            Feedback::Random => "random",
            Feedback::Direct => "direct",
        }
    }
}

/// How Kolen-Pollack feedback synapses start (`algorithm.kp_init`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KpInit {
    /// Both actors derive the same initial values from the shared seed: `B = W^T` from the
    /// start, with no message.
    SharedSeed,
    /// `B` starts from its own random draw and converges towards `W^T`.
    Random,
}

/// Everything a predictive-coding run's actors agree on before it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct PcConfig {
    /// Zero-divergence inference learning instead of standard PC.
    pub zil: bool,
    /// Inference steps `T` of standard PC (Z-IL uses `L - 1` after the forward sweep).
    pub steps: usize,
    /// Inference rate `gamma` (Z-IL needs 1).
    pub gamma: f32,
    /// Initialise value nodes by a forward sweep (`false`: from zero; a negative control).
    pub forward_init: bool,
    /// Apply each update before that step's feedback is sent (a negative control).
    pub update_before_feedback: bool,
    /// Feedback mode.
    pub feedback: Feedback,
    /// Weight decay `lambda` of Kolen-Pollack, applied to `W` and `B` alike: each update
    /// multiplies both by `1 - lambda * lr_t / lr` (the decay follows the learning-rate
    /// schedule, as AdamW's does), so `B - W^T` shrinks by that factor per batch.
    pub kp_decay: f32,
    /// How Kolen-Pollack `B` starts.
    pub kp_init: KpInit,
    /// Shards per hidden layer (clamped to the layer's width).
    pub shards: usize,
    /// Output loss.
    pub loss: Loss,
    /// Hidden activation.
    pub activation: Activation,
    /// Optimiser each actor runs on its own synapses.
    pub optimizer: OptimizerConfig,
    /// Base learning rate.
    pub lr: f32,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Training batches over the whole run (the schedule's length).
    pub total_batches: usize,
    /// Report every batch's weights and gradients so the coordinator can compare them with
    /// backprop's gradient from the same weights (exactness checks; slow).
    pub check_gradients: bool,
    /// The asynchronous schedule (`None`: lockstep).
    pub asynchronous: Option<AsyncSchedule>,
    /// Equilibrium propagation instead of predictive coding (`algorithm.kind = "ep"` or
    /// `"cep"`): the layers are [`crate::learn::ep_layer::EpLayerActor`]s, `activation` is `rho`,
    /// and `zil`, `steps`, `gamma`, `loss` and the PC switches do not apply.
    pub ep: Option<crate::learn::ep::EpConfig>,
}

/// The asynchronous schedule's settings (`runtime.schedule = "async"`; see the module doc).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AsyncSchedule {
    /// An actor is settled when `|E - E_prev| <= tolerance * max(|E|, |E_prev|)` for its local
    /// energy `E` over its last update (and it holds no delayed message).
    pub settle_tolerance: f32,
    /// Most updates an actor makes per training batch for each layer it hears from (so a
    /// hidden layer between two others makes up to twice as many); then it counts as settled.
    pub max_updates: u64,
    /// The faults each inference edge injects.
    pub faults: crate::runtime::faults::LinkFaults,
    /// Seed of the per-edge fault streams.
    pub seed: u64,
    /// An actor that has heard nothing for this long counts as settled (a lost message must
    /// not hold a batch forever); held delayed messages are then released.
    pub quiet: std::time::Duration,
}

impl PcConfig {
    /// The last step of a training batch for a network of `layers` weight layers.
    pub fn last_step(&self, layers: usize) -> usize {
        if self.zil {
            layers - 1
        } else {
            self.steps
        }
    }
}

/// The neurons of shard `s` of `k` over a layer of `width`.
pub fn shard_range(width: usize, k: usize, s: usize) -> Range<usize> {
    s * width / k..(s + 1) * width / k
}

/// Pieces of a layer's activity or errors, one per sender shard, put together by column.
#[derive(Debug)]
pub(crate) struct Gather {
    ranges: Vec<Range<usize>>,
    width: usize,
    pieces: Vec<Option<Signal>>,
    count: usize,
    buf: Matrix,
}

impl Gather {
    pub(crate) fn new(ranges: Vec<Range<usize>>) -> Self {
        let width = ranges.last().map_or(0, |r| r.end);
        Self {
            pieces: vec![None; ranges.len()],
            ranges,
            width,
            count: 0,
            buf: Matrix::zeros(0, width),
        }
    }

    pub(crate) fn put(&mut self, shard: usize, s: Signal) {
        assert!(
            shard < self.pieces.len() && s.cols() == self.ranges[shard].len(),
            "piece from shard {shard} has {} columns; expected shard < {} of the right width",
            s.cols(),
            self.pieces.len()
        );
        if self.pieces[shard].replace(s).is_none() {
            self.count += 1;
        }
    }

    pub(crate) fn complete(&self) -> bool {
        self.count == self.pieces.len()
    }

    pub(crate) fn clear(&mut self) {
        self.pieces.iter_mut().for_each(|p| *p = None);
        self.count = 0;
    }

    /// Copies the pieces into one matrix (nothing to do for a single piece).
    pub(crate) fn assemble(&mut self) {
        if self.pieces.len() == 1 {
            return;
        }
        let rows = self.pieces[0].as_ref().map_or(0, Signal::rows);
        self.buf.set_rows(rows);
        for (p, range) in self.pieces.iter().zip(&self.ranges) {
            let p = p.as_ref().expect("assemble only complete gathers");
            let w = range.len();
            for r in 0..rows {
                self.buf.row_mut(r)[range.clone()].copy_from_slice(&p.values()[r * w..(r + 1) * w]);
            }
        }
    }

    pub(crate) fn view(&self) -> MatView<'_> {
        if self.pieces.len() == 1 {
            let p = self.pieces[0].as_ref().expect("view only complete gathers");
            MatView::new(p.values(), p.rows(), self.width)
        } else {
            self.buf.view()
        }
    }

    fn any_nonzero(&self) -> bool {
        self.pieces
            .iter()
            .flatten()
            .any(|p| p.values().iter().any(|&v| v != 0.0))
    }
}

/// Where a layer shard sits and whom it talks to.
#[derive(Clone, Debug)]
pub(crate) struct Placement {
    /// Layer, 1-based (`1..=layers`).
    pub(crate) layer: usize,
    /// Weight layers in the network (`L`).
    pub(crate) layers: usize,
    /// This shard's index and neurons.
    pub(crate) shard: usize,
    pub(crate) range: Range<usize>,
    /// Column ranges of the shards below (layer 1: the coordinator's input, one range).
    pub(crate) below: Vec<Range<usize>>,
    /// Neuron ranges of the shards whose errors reach this one (empty at the output).
    pub(crate) above: Vec<Range<usize>>,
    /// Out-edges carrying activity up, one per shard above.
    pub(crate) up: Range<usize>,
    /// Out-edges carrying errors down, and the neuron range of each receiver.
    pub(crate) down: Range<usize>,
    pub(crate) down_ranges: Vec<Range<usize>>,
    /// The out-edge to the coordinator.
    pub(crate) coordinator: usize,
    /// The out-edge to itself (asynchronous schedule: ticks that keep it relaxing).
    pub(crate) self_edge: Option<usize>,
    /// This actor's name (`layer-2` or `layer-2.1`).
    pub(crate) name: String,
    /// Names of the senders below and above (fault streams and tallies are per edge).
    pub(crate) below_names: Vec<String>,
    pub(crate) above_names: Vec<String>,
}

impl Placement {
    /// Whether this shard is (in) the output layer.
    pub(crate) fn is_output(&self) -> bool {
        self.layer == self.layers
    }

    /// Writes a weight copy from shard `shard` above into the feedback synapses `b` (its
    /// rows of `W_above`, in the layout of the weights above).
    pub(crate) fn store_copy(&self, b: Option<&mut Matrix>, shard: u32, copy: &WeightCopy) {
        let b = b.expect("weight copies reach hidden layers only");
        copy.write_rows(b, self.above[shard as usize].start);
    }

    /// Fault injection (`faults.panic_actor`): panics once `trained` reaches `after`.
    pub(crate) fn injected_panic(&self, after: Option<usize>, trained: usize) {
        if after == Some(trained) {
            panic!(
                "injected fault (faults.panic_actor): layer {} shard {} panics after {trained} training batches",
                self.layer, self.shard
            );
        }
    }

    /// Sends `data` to the coordinator.
    pub(crate) fn report(&self, ctx: &mut Context<'_, Message>, step: u64, data: ReportData) {
        ctx.send(self.coordinator, Message::Report { step, data });
    }

    /// This shard's synapses to the coordinator (a snapshot), after its feedback copy `B` if
    /// one is given.
    pub(crate) fn report_synapses(
        &self,
        ctx: &mut Context<'_, Message>,
        step: u64,
        syn: &Synapses,
        feedback: Option<&Matrix>,
    ) {
        let (layer, offset) = (self.layer as u32, self.range.start as u32);
        if let Some(b) = feedback {
            let copy = WeightCopy::of_feedback(b);
            self.report(
                ctx,
                step,
                ReportData::Feedback {
                    layer,
                    offset,
                    copy,
                },
            );
        }
        let copy = WeightCopy::of(syn);
        self.report(
            ctx,
            step,
            ReportData::Snapshot {
                layer,
                offset,
                copy,
            },
        );
    }

    /// This shard's serialised state to the coordinator (a resumable checkpoint).
    pub(crate) fn report_state(&self, ctx: &mut Context<'_, Message>, step: u64, state: StateBag) {
        let (layer, shard) = (self.layer as u32, self.shard as u32);
        let state = Arc::new(state);
        self.report(
            ctx,
            step,
            ReportData::State {
                layer,
                shard,
                state,
            },
        );
    }

    /// A non-finite value in this shard's state (the coordinator stops the run).
    pub(crate) fn report_fault(
        &self,
        ctx: &mut Context<'_, Message>,
        step: u64,
        what: &'static str,
        value: f32,
    ) {
        let (layer, shard) = (self.layer as u32, self.shard as u32);
        let data = ReportData::Fault {
            layer,
            shard,
            what,
            value,
        };
        self.report(ctx, step, data);
    }

    /// A copy of `syn` to every shard below, each its columns (the transpose oracle's weight
    /// transport).
    pub(crate) fn send_weight_copies(
        &self,
        ctx: &mut Context<'_, Message>,
        step: u64,
        syn: &Synapses,
    ) {
        let shard = self.shard as u32;
        for (edge, cols) in self.down.clone().zip(self.down_ranges.clone()) {
            let copy = WeightCopy::columns(syn, cols);
            ctx.send(edge, Message::WeightTransport { step, shard, copy });
        }
    }
}

/// The batch a shard is working on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Batch {
    /// Its first global step.
    pub(crate) base: u64,
    /// A training batch (else an evaluation batch).
    pub(crate) train: bool,
}

/// The labels a `Clamp` message carries, into `labels`.
pub(crate) fn read_labels(labels: &mut Vec<u8>, signal: &Signal) {
    labels.clear();
    labels.extend(signal.values().iter().map(|&v| v as u8));
}

/// One shard of a predictive-coding layer.
pub(crate) struct LayerActor {
    at: Placement,
    cfg: Arc<PcConfig>,
    last: usize,
    syn: Synapses,
    opt: Optimizer,
    /// Feedback synapses in the layout of the weights above (`n_above x width`); none at the
    /// output.
    fb_syn: Option<Matrix>,
    fb_opt: Optimizer,
    /// Our weights changed since the last `WeightTransport` (transpose mode).
    copy_stale: bool,
    batch: Option<Batch>,
    t: usize,
    below: Gather,
    above: Gather,
    above_learned: bool,
    labels: Vec<u8>,
    /// Value nodes as `x = x0 + dx`: `x0` the forward sweep's prediction (zero without it),
    /// `dx` what inference added. Errors are formed as `dx + (x0 - mu)`, which is exactly `dx`
    /// while `mu` still equals the sweep's prediction: Z-IL's errors then carry no rounding
    /// from subtracting two nearly equal numbers.
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
    trained_batches: usize,
    deferred: VecDeque<Message>,
    pool: SignalPool,
    report_pool: SignalPool,
    /// Fault injection (`faults.panic_actor`): panic after this many training batches.
    panic_after: Option<usize>,
    /// The asynchronous schedule's state (`None` under lockstep).
    asynch: Option<AsyncState>,
}

/// What an actor keeps for the asynchronous schedule.
struct AsyncState {
    cfg: AsyncSchedule,
    /// Fault injectors of the in-edges: the shards below (not the coordinator's input), then
    /// the shards above.
    links: Vec<crate::runtime::faults::Link>,
    below_links: usize,
    /// Delayed messages: when due, which link, the message (in arrival order).
    held: Vec<(std::time::Instant, usize, Message)>,
    /// Mean duration of an update (an exponential average): one step of delay.
    step_time: std::time::Duration,
    /// Updates in this batch, and over the run.
    updates: u64,
    total_updates: u64,
    batches: u64,
    /// Local energy after the last update.
    energy: f32,
    /// The status last reported to the coordinator.
    settled: bool,
    /// A tick to ourselves is in the mailbox.
    tick_pending: bool,
    /// When the last inference message arrived (or the batch began).
    last_arrival: std::time::Instant,
    /// Neighbours that told us they are exhausted in this batch, and how many could.
    neighbours_done: usize,
    neighbours: usize,
    /// We told our neighbours.
    told_done: bool,
}

impl LayerActor {
    pub(crate) fn new(
        at: Placement,
        cfg: Arc<PcConfig>,
        syn: Synapses,
        fb_syn: Option<Matrix>,
    ) -> Self {
        let width = at.range.len();
        let inputs = at.below.last().map_or(0, |r| r.end);
        let n_above = at.above.last().map_or(0, |r| r.end);
        let opt = Optimizer::new(cfg.optimizer, &[width * inputs, width]);
        let fb_opt = Optimizer::new(cfg.optimizer, &[n_above * width]);
        let last = cfg.last_step(at.layers);
        Self {
            below: Gather::new(at.below.clone()),
            above: Gather::new(at.above.clone()),
            x: Matrix::zeros(0, width),
            dx: Matrix::zeros(0, width),
            fx: Matrix::zeros(0, width),
            mu: Matrix::zeros(0, width),
            eps: Matrix::zeros(0, width),
            fb: Matrix::zeros(0, width),
            out_grad: Matrix::zeros(0, width),
            grad_w: Matrix::zeros(width, inputs),
            grad_b: vec![0.0; width],
            grad_fb: Matrix::zeros(n_above, width),
            energies: vec![0.0; last + 1],
            last,
            syn,
            opt,
            fb_syn,
            fb_opt,
            copy_stale: true,
            batch: None,
            t: 0,
            above_learned: false,
            labels: Vec::new(),
            mu_fresh: false,
            below_changed: false,
            relaxed_changed: true,
            eps_done: false,
            learn_at: None,
            learned: false,
            trained_batches: 0,
            deferred: VecDeque::new(),
            pool: SignalPool::default(),
            report_pool: SignalPool::default(),
            panic_after: None,
            asynch: cfg.asynchronous.map(|a| {
                let below_links = if at.layer == 1 { 0 } else { at.below.len() };
                let links = at
                    .below_names
                    .iter()
                    .take(below_links)
                    .chain(&at.above_names)
                    .map(|from| {
                        crate::runtime::faults::Link::new(
                            a.faults,
                            a.seed,
                            &format!("{from} -> {}", at.name),
                        )
                    })
                    .collect();
                // The budget counts what each neighbouring layer sends: lockstep's T steps hear
                // T times from below and T times from above.
                let heard_from = usize::from(at.layer > 1) + usize::from(!at.above.is_empty());
                let mut a = a;
                a.max_updates *= heard_from.max(1) as u64;
                let neighbours = if at.layer > 1 { at.below.len() } else { 0 } + at.above.len();
                AsyncState {
                    cfg: a,
                    links,
                    below_links,
                    held: Vec::new(),
                    updates: 0,
                    total_updates: 0,
                    batches: 0,
                    energy: 0.0,
                    settled: false,
                    tick_pending: false,
                    last_arrival: std::time::Instant::now(),
                    step_time: std::time::Duration::from_micros(100),
                    neighbours_done: 0,
                    neighbours,
                    told_done: false,
                }
            }),
            at,
            cfg,
        }
    }

    /// Makes this actor panic after `batches` training batches (fault injection).
    pub(crate) fn panic_after(&mut self, batches: usize) {
        self.panic_after = Some(batches);
    }

    fn is_output(&self) -> bool {
        self.at.is_output()
    }

    fn step(&self) -> u64 {
        self.batch.map_or(u64::MAX, |b| b.base + self.t as u64)
    }

    /// Takes `msg` in if it belongs to the current step; hands it back otherwise.
    fn accept(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Result<(), Message> {
        let now = self.step();
        match msg {
            Message::Phase { step, phase }
                if self.batch.is_none() && !matches!(phase, Phase::Learn | Phase::Exhausted) =>
            {
                self.begin(step, phase, ctx);
                Ok(())
            }
            Message::Activity {
                step,
                shard,
                changed,
                signal,
            } if step == now && !self.eps_done => {
                self.below.put(shard as usize, signal);
                self.below_changed |= changed;
                Ok(())
            }
            Message::Error {
                step,
                shard,
                learned,
                signal,
            } if step == now => {
                self.above.put(shard as usize, signal);
                self.above_learned |= learned;
                Ok(())
            }
            Message::WeightTransport { step, shard, copy } if step == now => {
                self.at.store_copy(self.fb_syn.as_mut(), shard, &copy);
                Ok(())
            }
            Message::Clamp { step, labels } if step == now => {
                read_labels(&mut self.labels, &labels);
                Ok(())
            }
            Message::Report { .. } | Message::Spike { .. } | Message::Tick { .. } => Ok(()),
            other => Err(other),
        }
    }

    fn begin(&mut self, step: u64, phase: Phase, ctx: &mut Context<'_, Message>) {
        let (rows, train) = match phase {
            Phase::Snapshot => {
                self.send_snapshot(step, ctx);
                return;
            }
            Phase::Save => {
                let state = self.save_state();
                self.at.report_state(ctx, step, state);
                return;
            }
            Phase::Learn | Phase::Exhausted | Phase::Nudge { .. } => return,
            Phase::Train { rows } => (rows as usize, true),
            Phase::Evaluate { rows } => (rows as usize, false),
        };
        self.batch = Some(Batch { base: step, train });
        self.t = 0;
        self.eps_done = false;
        self.mu_fresh = false;
        self.learn_at = None;
        self.learned = false;
        self.above_learned = false;
        self.below.clear();
        self.above.clear();
        self.labels.clear();
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
        if let Some(st) = self.asynch.as_mut().filter(|_| train) {
            st.updates = 0;
            st.energy = 0.0;
            st.settled = false;
            st.held.clear();
            st.last_arrival = std::time::Instant::now();
            st.neighbours_done = 0;
            st.told_done = false;
            // Forward sweep and settled state.
            self.energies.resize(2, 0.0);
            self.energies.fill(0.0);
        }
        if train && self.cfg.check_gradients {
            self.send_snapshot(step, ctx);
        }
    }

    fn send_snapshot(&mut self, step: u64, ctx: &mut Context<'_, Message>) {
        // An epoch's snapshot (not a gradient check's) carries the feedback copy too.
        let feedback = self.fb_syn.as_ref().filter(|_| self.batch.is_none());
        self.at.report_synapses(ctx, step, &self.syn, feedback);
    }

    /// `mu = f(x_below) W^T + b` for this shard.
    fn predict(&mut self) {
        let input = self.below.view();
        self.mu.set_rows(input.rows());
        matmul(
            &mut self.mu,
            input,
            self.syn.weights().t(),
            1.0,
            false,
            Threads::ONE,
        );
        let bias = self.syn.bias();
        for r in 0..self.mu.rows() {
            for (v, &b) in self.mu.row_mut(r).iter_mut().zip(bias) {
                *v += b;
            }
        }
        self.mu_fresh = true;
    }

    /// Whether all of step `t`'s activity from below is here.
    fn below_ready(&self) -> bool {
        // Layer 1's input is clamped for the whole batch: it arrives once, at step 0.
        self.below.complete()
    }

    /// Errors (and, at step 0, the forward sweep) of the current step; sends them on.
    fn settle_errors(&mut self, ctx: &mut Context<'_, Message>) {
        let b = self.batch.expect("a batch is open");
        let t = self.t;
        let step = self.step();
        self.below.assemble();
        // Layer 1's input is clamped for the whole batch; above it, activity that did not
        // change (Z-IL's early steps) needs no new prediction either.
        let reuse = t > 0 && self.mu_fresh && (self.at.layer == 1 || !self.below_changed);
        if !reuse {
            self.predict();
        }
        let act = self.cfg.activation;
        if self.is_output() {
            if t == 0 {
                self.report_predictions(step, ctx);
            }
            if !b.train {
                self.end_batch(ctx);
                return;
            }
            let rows = self.mu.rows() as f32;
            let loss = self
                .cfg
                .loss
                .evaluate(&self.mu, &self.labels, Some(&mut self.out_grad));
            self.energies[t] = loss * rows;
            for (e, &g) in self
                .eps
                .as_mut_slice()
                .iter_mut()
                .zip(self.out_grad.as_slice())
            {
                *e = -g * rows;
            }
        } else {
            if t == 0 {
                if self.cfg.forward_init || !b.train {
                    self.x.as_mut_slice().copy_from_slice(self.mu.as_slice());
                } else {
                    self.x.fill(0.0);
                }
                self.dx.fill(0.0);
                act.apply_slice(self.x.as_slice(), self.fx.as_mut_slice());
                self.send_activity(ctx);
                if !b.train {
                    self.end_batch(ctx);
                    return;
                }
            }
            self.energies[t] = 0.5
                * errors(
                    self.eps.as_mut_slice(),
                    self.dx.as_slice(),
                    self.x.as_slice(),
                    self.mu.as_slice(),
                );
        }
        let learn_now = !self.learned
            && if self.cfg.zil {
                self.learn_at == Some(t) || (self.is_output() && t == 0)
            } else {
                t == self.last
            };
        if learn_now && self.cfg.update_before_feedback {
            self.learn(step, ctx);
        }
        self.send_errors(step, learn_now, ctx);
        if learn_now && !self.cfg.update_before_feedback {
            self.learn(step, ctx);
        }
        self.eps_done = true;
    }

    /// The output's forward-sweep predictions, to the coordinator (accuracy is measured on
    /// them).
    fn report_predictions(&mut self, step: u64, ctx: &mut Context<'_, Message>) {
        let (rows, cols) = (self.mu.rows(), self.mu.cols());
        let mu = self.mu.as_slice();
        let s = self
            .report_pool
            .signal(rows, cols, |o| o.copy_from_slice(mu));
        self.at.report(ctx, step, ReportData::Predictions(s));
    }

    fn send_activity(&mut self, ctx: &mut Context<'_, Message>) {
        let step = self.step();
        self.send_activity_at(step, ctx);
    }

    fn send_activity_at(&mut self, step: u64, ctx: &mut Context<'_, Message>) {
        let (rows, cols) = (self.fx.rows(), self.fx.cols());
        let fx = self.fx.as_slice();
        let s = self.pool.signal(rows, cols, |o| o.copy_from_slice(fx));
        for edge in self.at.up.clone() {
            ctx.send(
                edge,
                Message::Activity {
                    step,
                    shard: self.at.shard as u32,
                    changed: self.t == 0 || self.relaxed_changed,
                    signal: s.clone(),
                },
            );
        }
    }

    fn send_errors(&mut self, step: u64, learned: bool, ctx: &mut Context<'_, Message>) {
        if self.at.down.is_empty() {
            return;
        }
        let shard = self.at.shard as u32;
        if self.cfg.feedback == Feedback::Transpose && self.copy_stale {
            self.at.send_weight_copies(ctx, step, &self.syn);
            self.copy_stale = false;
        }
        let (rows, cols) = (self.eps.rows(), self.eps.cols());
        let eps = self.eps.as_slice();
        let s = self.pool.signal(rows, cols, |o| o.copy_from_slice(eps));
        for edge in self.at.down.clone() {
            ctx.send(
                edge,
                Message::Error {
                    step,
                    shard,
                    learned,
                    signal: s.clone(),
                },
            );
        }
    }

    /// The local Hebbian update from this step's errors: `dLoss/dW = -eps^T f(x_below) / n`.
    fn learn(&mut self, step: u64, ctx: &mut Context<'_, Message>) {
        let rows = self.eps.rows();
        let inv = 1.0 / rows as f32;
        matmul(
            &mut self.grad_w,
            self.eps.view().t(),
            self.below.view(),
            -inv,
            false,
            Threads::ONE,
        );
        self.grad_b.fill(0.0);
        for r in 0..rows {
            for (g, &e) in self.grad_b.iter_mut().zip(self.eps.row(r)) {
                *g -= e * inv;
            }
        }
        if self.cfg.check_gradients {
            let (gw, gb) = (&self.grad_w, &self.grad_b);
            let weight = self
                .report_pool
                .signal(gw.rows(), gw.cols(), |o| o.copy_from_slice(gw.as_slice()));
            let bias = self
                .report_pool
                .signal(1, gb.len(), |o| o.copy_from_slice(gb));
            self.at.report(
                ctx,
                step,
                ReportData::Gradient {
                    layer: self.at.layer as u32,
                    offset: self.at.range.start as u32,
                    weight,
                    bias,
                },
            );
        }
        let lr = self.rate();
        if self.cfg.feedback == Feedback::KolenPollack && self.cfg.kp_decay > 0.0 {
            let keep = self.kp_keep(lr);
            self.syn
                .weights_mut()
                .as_mut_slice()
                .iter_mut()
                .for_each(|w| *w *= keep);
        }
        self.opt.begin_step();
        self.opt.update(
            0,
            self.syn.weights_mut().as_mut_slice(),
            self.grad_w.as_slice(),
            lr,
        );
        self.opt.update(1, self.syn.bias_mut(), &self.grad_b, lr);
        self.copy_stale = true;
        self.mu_fresh = false;
        self.learned = true;
    }

    /// Kolen-Pollack's decay factor at scheduled rate `lr`.
    fn kp_keep(&self, lr: f32) -> f32 {
        1.0 - self.cfg.kp_decay * lr / self.cfg.lr
    }

    fn rate(&self) -> f32 {
        self.cfg
            .schedule
            .rate(self.cfg.lr, self.trained_batches, self.cfg.total_batches)
    }

    /// Kolen-Pollack: `B` takes the same local product as the weights above, `dW_above^T`,
    /// formed here from the received errors and this shard's own activity.
    fn learn_feedback(&mut self) {
        let lr = self.rate();
        let keep = self.kp_keep(lr);
        let Some(b) = self.fb_syn.as_mut() else {
            return;
        };
        let rows = self.fx.rows();
        matmul(
            &mut self.grad_fb,
            self.above.view().t(),
            self.fx.view(),
            -1.0 / rows as f32,
            false,
            Threads::ONE,
        );
        if self.cfg.kp_decay > 0.0 {
            b.as_mut_slice().iter_mut().for_each(|w| *w *= keep);
        }
        self.fb_opt.begin_step();
        self.fb_opt
            .update(0, b.as_mut_slice(), self.grad_fb.as_slice(), lr);
    }

    /// All of step `t` is here: feedback, relaxation, and the next step (or the batch's end).
    fn finish_step(&mut self, ctx: &mut Context<'_, Message>) {
        if !self.is_output() {
            self.above.assemble();
            let kp = self.cfg.feedback == Feedback::KolenPollack && self.above_learned;
            if kp && self.cfg.update_before_feedback {
                self.learn_feedback();
            }
            let nonzero = self.above.any_nonzero();
            // Feedback only moves the value nodes, which stay put after the last step; and
            // zero errors (a hidden layer's first Z-IL steps) feed back zero.
            if self.t < self.last {
                if nonzero {
                    self.feed_back();
                } else {
                    self.fb.fill(0.0);
                }
            }
            if kp && !self.cfg.update_before_feedback {
                self.learn_feedback();
            }
            if self.cfg.zil && self.learn_at.is_none() && nonzero {
                self.learn_at = Some(self.t + 1);
            }
        }
        if self.t == self.last {
            self.end_batch(ctx);
            return;
        }
        if !self.is_output() {
            self.relaxed_changed = relax(
                self.cfg.activation,
                self.cfg.gamma,
                self.x.as_slice(),
                self.dx.as_mut_slice(),
                self.fx.as_mut_slice(),
                self.eps.as_slice(),
                self.fb.as_slice(),
            );
        }
        self.t += 1;
        self.eps_done = false;
        self.above.clear();
        self.above_learned = false;
        if self.at.layer > 1 {
            self.below.clear();
        }
        self.below_changed = false;
        if !self.is_output() {
            self.send_activity(ctx);
        }
    }

    fn end_batch(&mut self, ctx: &mut Context<'_, Message>) {
        let b = self.batch.take().expect("a batch is open");
        if b.train {
            if let Some(k) = self.energies.iter().position(|e| !e.is_finite()) {
                let (what, value) = self.first_non_finite(self.energies[k]);
                self.at.report_fault(ctx, b.base + k as u64, what, value);
            }
            let e = &self.energies;
            let values = self
                .report_pool
                .signal(1, e.len(), |o| o.copy_from_slice(e));
            self.at.report(
                ctx,
                b.base,
                ReportData::Energies {
                    layer: self.at.layer as u32,
                    values,
                },
            );
            self.trained_batches += 1;
            self.at
                .injected_panic(self.panic_after, self.trained_batches);
        }
        self.below.clear();
        self.above.clear();
    }

    /// Serialises what this shard carries from batch to batch: synapses, optimiser state,
    /// feedback synapses and theirs, the batch count (the schedule's position) and whether
    /// the last weight copy sent down is stale.
    pub(crate) fn save_state(&mut self) -> StateBag {
        let mut bag = save_synapses(
            &mut self.syn,
            &self.opt,
            self.fb_syn.as_ref(),
            &self.fb_opt,
            self.trained_batches,
            self.copy_stale,
        );
        if let Some(st) = &self.asynch {
            for (i, l) in st.links.iter().enumerate() {
                l.save(&format!("link.{i}."), &mut bag);
            }
            bag.scalar("async.updates", st.total_updates.to_string());
            bag.scalar("async.batches", st.batches.to_string());
        }
        bag
    }

    /// Restores what [`LayerActor::save_state`] wrote (shapes must match this shard's).
    pub(crate) fn restore_state(&mut self, bag: &StateBag) -> Result<(), StateError> {
        (self.trained_batches, self.copy_stale) = restore_synapses(
            bag,
            &mut self.syn,
            &mut self.opt,
            self.fb_syn.as_mut(),
            &mut self.fb_opt,
        )?;
        if let Some(st) = self.asynch.as_mut() {
            // A checkpoint of a lockstep run has no link state: the streams start fresh.
            if bag.parse::<u64>("async.updates").is_ok() {
                for (i, l) in st.links.iter_mut().enumerate() {
                    l.restore(&format!("link.{i}."), bag)?;
                }
                st.total_updates = bag.parse("async.updates")?;
                st.batches = bag.parse("async.batches")?;
            }
        }
        Ok(())
    }

    /// Names the first non-finite number in this shard's state (weights first: they are what
    /// a diverging update breaks), or the free energy itself if only that overflowed.
    fn first_non_finite(&mut self, energy: f32) -> (&'static str, f32) {
        let weights = self.syn.weights_mut().as_slice();
        if let Some(&w) = weights.iter().find(|w| !w.is_finite()) {
            return ("weight", w);
        }
        let parts: [(&'static str, &[f32]); 4] = [
            ("bias", self.syn.bias()),
            ("value node (forward sweep)", self.x.as_slice()),
            ("value node (inference change)", self.dx.as_slice()),
            ("prediction error", self.eps.as_slice()),
        ];
        parts
            .iter()
            .find_map(|(what, v)| v.iter().find(|x| !x.is_finite()).map(|&x| (*what, x)))
            .unwrap_or(("free energy", energy))
    }

    /// Makes every transition the messages at hand allow.
    fn advance(&mut self, ctx: &mut Context<'_, Message>) -> bool {
        if self.batch.is_none() || self.in_async_batch() {
            return false;
        }
        if !self.eps_done {
            if !(self.below_ready() || (self.at.layer == 1 && self.t > 0)) {
                return false;
            }
            if self.is_output() && self.batch.is_some_and(|b| b.train) && self.labels.is_empty() {
                return false;
            }
            self.settle_errors(ctx);
            return true;
        }
        if !self.is_output() && !self.above.complete() {
            return false;
        }
        self.finish_step(ctx);
        true
    }

    /// Takes up the first deferred message that now fits, if any.
    fn take_deferred(&mut self, ctx: &mut Context<'_, Message>) -> bool {
        if self.in_async_batch() {
            return false;
        }
        for i in 0..self.deferred.len() {
            let msg = self.deferred.remove(i).expect("index in range");
            match self.accept(msg, ctx) {
                Ok(()) => return true,
                Err(back) => self.deferred.insert(i, back),
            }
        }
        false
    }
}

impl LayerActor {
    fn handle_lockstep(&mut self, msg: Message, ctx: &mut Context<'_, Message>) {
        if let Err(back) = self.accept(msg, ctx) {
            self.deferred.push_back(back);
        }
        loop {
            let moved = self.advance(ctx);
            let took = self.take_deferred(ctx);
            if !moved && !took {
                break;
            }
        }
    }

    /// A training batch under the asynchronous schedule is open.
    fn in_async_batch(&self) -> bool {
        self.asynch.is_some() && self.batch.is_some_and(|b| b.train)
    }

    /// The asynchronous schedule. Training batch `b` uses steps `b` (the forward sweep, the
    /// labels and the learn phase: delivered without faults) and `b + 1` (inference traffic:
    /// activity after the sweep, every error, ticks and settle reports). Evaluation batches,
    /// saves and snapshots follow the lockstep rules.
    fn handle_async(&mut self, msg: Message, ctx: &mut Context<'_, Message>) {
        let Some(base) = self.batch.filter(|b| b.train).map(|b| b.base) else {
            if let Message::Tick { .. } = msg {
                self.asynch.as_mut().expect("async").tick_pending = false;
                return;
            }
            self.handle_lockstep(msg, ctx);
            if self.in_async_batch() {
                self.replay_deferred(ctx);
            }
            return;
        };
        let step = crate::message::Payload::step(&msg);
        match msg {
            Message::Tick { .. } => {
                self.asynch.as_mut().expect("async").tick_pending = false;
                self.on_tick(ctx);
            }
            Message::Phase {
                phase: Phase::Learn,
                step,
            } if step == base => {
                self.learn_async(ctx);
                self.replay_deferred(ctx);
            }
            Message::Phase {
                phase: Phase::Exhausted,
                step,
            } if step == base + 1 => {
                self.asynch.as_mut().expect("async").neighbours_done += 1;
                self.update_settled(false, ctx);
            }
            Message::Phase {
                phase: Phase::Exhausted,
                step,
            } if step <= base => {}
            Message::Report { .. } | Message::Spike { .. } | Message::ActivityDown { .. } => {}
            m if step < base => {
                if matches!(m, Message::Activity { .. } | Message::Error { .. }) {
                    let st = self.asynch.as_mut().expect("async");
                    if let Some(l) = Self::link_of(st, &m) {
                        st.links[l].counts.stale += 1;
                    }
                }
            }
            m @ Message::Phase { .. } => self.deferred.push_back(m),
            m if step > base + 1 => self.deferred.push_back(m),
            Message::Clamp { labels, .. } => {
                read_labels(&mut self.labels, &labels);
                self.update_async(ctx);
            }
            Message::WeightTransport { shard, copy, .. } => {
                self.at.store_copy(self.fb_syn.as_mut(), shard, &copy);
            }
            m @ (Message::Activity { .. } | Message::Error { .. }) => {
                let st = self.asynch.as_mut().expect("async");
                st.last_arrival = std::time::Instant::now();
                let link = Self::link_of(st, &m).filter(|_| step == base + 1);
                let applied = match link {
                    // The forward sweep (and layer 1's input) is delivered as sent.
                    None => {
                        self.put_async(m);
                        true
                    }
                    Some(l) => {
                        let mut now = false;
                        for delay in st.links[l].admit().into_iter().flatten() {
                            match delay.due(st.step_time) {
                                Some(at) => st.held.push((at, l, m.clone())),
                                None => now = true,
                            }
                        }
                        if now {
                            self.put_async(m);
                        }
                        now
                    }
                };
                // An update for every message that arrives (a dropped one never does; a
                // delayed one when it is due).
                if self.release_due(false) || applied {
                    self.update_async(ctx);
                } else {
                    self.schedule_tick(ctx);
                }
            }
        }
    }

    /// The fault link a message arrives on (`None` for the coordinator's input).
    fn link_of(st: &AsyncState, m: &Message) -> Option<usize> {
        match m {
            Message::Activity { shard, .. } if st.below_links > 0 => Some(*shard as usize),
            Message::Error { shard, .. } => Some(st.below_links + *shard as usize),
            _ => None,
        }
    }

    fn put_async(&mut self, m: Message) {
        match m {
            Message::Activity { shard, signal, .. } => {
                self.below.put(shard as usize, signal);
                self.below_changed = true;
            }
            Message::Error { shard, signal, .. } => self.above.put(shard as usize, signal),
            _ => {}
        }
    }

    /// Re-handles the messages kept for later (once per message).
    fn replay_deferred(&mut self, ctx: &mut Context<'_, Message>) {
        let pending = std::mem::take(&mut self.deferred);
        for m in pending {
            self.handle_async(m, ctx);
        }
    }

    /// One asynchronous update from the latest values held: errors, feedback, one relaxation
    /// step; sends what changed; reports when its settled status flips; ticks itself while
    /// unsettled.
    fn update_async(&mut self, ctx: &mut Context<'_, Message>) {
        let Some(b) = self.batch.filter(|b| b.train) else {
            return;
        };
        let st = self.asynch.as_ref().expect("async");
        if st.updates >= st.cfg.max_updates
            || !self.below.complete()
            || (self.is_output() && self.labels.is_empty())
        {
            return;
        }
        let first = st.updates == 0;
        let started = std::time::Instant::now();
        let act = self.cfg.activation;
        if first || (self.below_changed && self.at.layer > 1) {
            self.below.assemble();
            self.predict();
        }
        self.below_changed = false;
        let relaxation = b.base + 1;
        let energy = if self.is_output() {
            if first {
                self.report_predictions(b.base, ctx);
            }
            self.output_errors()
        } else {
            if first {
                if self.cfg.forward_init {
                    self.x.as_mut_slice().copy_from_slice(self.mu.as_slice());
                } else {
                    self.x.fill(0.0);
                }
                self.dx.fill(0.0);
                act.apply_slice(self.x.as_slice(), self.fx.as_mut_slice());
                self.send_activity_at(b.base, ctx);
            }
            0.5 * errors(
                self.eps.as_mut_slice(),
                self.dx.as_slice(),
                self.x.as_slice(),
                self.mu.as_slice(),
            )
        };
        self.send_errors(relaxation, false, ctx);
        // A hidden layer cannot be settled before errors from above reach it: until then it
        // has not started relaxing.
        let mut heard = self.is_output();
        let mut energy_after = energy;
        if !self.is_output() {
            heard = self.feedback_from_above();
            let changed = relax(
                act,
                self.cfg.gamma,
                self.x.as_slice(),
                self.dx.as_mut_slice(),
                self.fx.as_mut_slice(),
                self.eps.as_slice(),
                self.fb.as_slice(),
            );
            if changed {
                self.send_activity_at(relaxation, ctx);
                // The local energy where the update left it.
                energy_after = 0.5
                    * errors(
                        self.eps.as_mut_slice(),
                        self.dx.as_slice(),
                        self.x.as_slice(),
                        self.mu.as_slice(),
                    );
            }
        }
        if first {
            self.energies[0] = energy;
        }
        let energy = energy_after;
        let st = self.asynch.as_mut().expect("async");
        st.updates += 1;
        st.total_updates += 1;
        st.step_time = (st.step_time * 7 + started.elapsed()) / 8;
        let prev = std::mem::replace(&mut st.energy, energy);
        let tol = st.cfg.settle_tolerance;
        let calm = !first
            && heard
            && st.held.is_empty()
            && (energy - prev).abs() <= tol * energy.abs().max(prev.abs());
        self.update_settled(calm, ctx);
    }

    /// Settled: calm (the last update changed the local energy less than the tolerance),
    /// exhausted (all updates made), or nothing more can come (every neighbour exhausted and
    /// nothing held). Reports a change to the coordinator, tells the neighbours once when
    /// exhausted, and keeps the tick going while unsettled.
    fn update_settled(&mut self, calm: bool, ctx: &mut Context<'_, Message>) {
        let Some(b) = self.batch.filter(|b| b.train) else {
            return;
        };
        let relaxation = b.base + 1;
        let st = self.asynch.as_mut().expect("async");
        let exhausted = st.updates >= st.cfg.max_updates;
        let orphaned = st.updates > 0 && st.neighbours_done >= st.neighbours && st.held.is_empty();
        let settled = calm || exhausted || orphaned;
        if exhausted && !st.told_done {
            st.told_done = true;
            for edge in self.at.up.clone().chain(self.at.down.clone()) {
                ctx.send(
                    edge,
                    Message::Phase {
                        step: relaxation,
                        phase: Phase::Exhausted,
                    },
                );
            }
        }
        let st = self.asynch.as_mut().expect("async");
        if settled != st.settled {
            st.settled = settled;
            self.at.report(
                ctx,
                relaxation,
                ReportData::Settled {
                    layer: self.at.layer as u32,
                    shard: self.at.shard as u32,
                    settled,
                },
            );
        }
        self.schedule_tick(ctx);
    }

    /// Applies the held messages that are due (`force`: at least the earliest, as when the
    /// actor has been quiet); returns whether any was.
    fn release_due(&mut self, force: bool) -> bool {
        let st = self.asynch.as_mut().expect("async");
        let now = std::time::Instant::now();
        let mut due = Vec::new();
        st.held.retain(|(when, _, m)| {
            let ready = *when <= now;
            if ready {
                due.push(m.clone());
            }
            !ready
        });
        if due.is_empty() && force && !st.held.is_empty() {
            let first = (0..st.held.len())
                .min_by_key(|&i| st.held[i].0)
                .expect("not empty");
            due.push(st.held.remove(first).2);
        }
        let any = !due.is_empty();
        for m in due {
            self.put_async(m);
        }
        any
    }

    /// Keeps a tick in our own mailbox while unsettled or holding delayed messages: the
    /// clock that releases them and notices when nothing arrives any more.
    fn schedule_tick(&mut self, ctx: &mut Context<'_, Message>) {
        let Some(b) = self.batch.filter(|b| b.train) else {
            return;
        };
        let st = self.asynch.as_mut().expect("async");
        if (st.settled && st.held.is_empty()) || st.tick_pending {
            return;
        }
        st.tick_pending = true;
        let me = self.at.self_edge.expect("async actors have a self edge");
        ctx.send(me, Message::Tick { tick: b.base + 1 });
    }

    /// A tick: releases what is due; after a quiet spell, settles (or releases the earliest
    /// held message).
    fn on_tick(&mut self, ctx: &mut Context<'_, Message>) {
        if self.batch.filter(|b| b.train).is_none() {
            return;
        }
        let quiet = {
            // Only a lost message can leave an actor waiting for nothing: without drops,
            // silence never settles (a busy machine can pause a neighbour for milliseconds).
            let st = self.asynch.as_ref().expect("async");
            st.cfg.faults.drop > 0.0 && st.last_arrival.elapsed() >= st.cfg.quiet
        };
        if self.release_due(quiet) {
            self.update_async(ctx);
            return;
        }
        let st = self.asynch.as_mut().expect("async");
        if quiet && !st.settled && st.updates > 0 {
            st.settled = true;
            let base = self.batch.map_or(0, |b| b.base);
            self.at.report(
                ctx,
                base + 1,
                ReportData::Settled {
                    layer: self.at.layer as u32,
                    shard: self.at.shard as u32,
                    settled: true,
                },
            );
        }
        self.schedule_tick(ctx);
    }

    /// The output's errors `eps = -dLoss/dmu` (per example, summed over the batch); returns
    /// the loss summed over the batch.
    fn output_errors(&mut self) -> f32 {
        let rows = self.mu.rows() as f32;
        let loss = self
            .cfg
            .loss
            .evaluate(&self.mu, &self.labels, Some(&mut self.out_grad));
        for (e, &g) in self
            .eps
            .as_mut_slice()
            .iter_mut()
            .zip(self.out_grad.as_slice())
        {
            *e = -g * rows;
        }
        loss * rows
    }

    /// `fb = eps_above B` from the errors held (zero until every shard above has sent);
    /// returns whether any error from above is non-zero.
    fn feedback_from_above(&mut self) -> bool {
        if !self.above.complete() || !self.above.any_nonzero() {
            self.fb.fill(0.0);
            return false;
        }
        self.above.assemble();
        self.feed_back();
        true
    }

    /// `fb = eps_above B` from the assembled errors above.
    fn feed_back(&mut self) {
        let b = self
            .fb_syn
            .as_ref()
            .expect("hidden layers hold feedback synapses");
        matmul(
            &mut self.fb,
            self.above.view(),
            b.view(),
            1.0,
            false,
            Threads::ONE,
        );
    }

    /// The batch has settled: errors from the latest values, the local update (and
    /// Kolen-Pollack's), and the batch's energies to the coordinator.
    fn learn_async(&mut self, ctx: &mut Context<'_, Message>) {
        let b = self.batch.expect("a batch is open");
        let st = self.asynch.as_mut().expect("async");
        for (_, l, _) in st.held.drain(..) {
            st.links[l].counts.late += 1;
        }
        st.batches += 1;
        if self.below.complete() {
            if self.below_changed && self.at.layer > 1 {
                self.below.assemble();
                self.predict();
            }
            let energy = if self.is_output() {
                self.output_errors()
            } else {
                0.5 * errors(
                    self.eps.as_mut_slice(),
                    self.dx.as_slice(),
                    self.x.as_slice(),
                    self.mu.as_slice(),
                )
            };
            self.energies[1] = energy;
            self.learn(b.base + 1, ctx);
            if self.cfg.feedback == Feedback::KolenPollack
                && !self.is_output()
                && self.above.complete()
            {
                self.above.assemble();
                self.learn_feedback();
            }
        }
        self.end_batch(ctx);
    }

    /// Asynchronous schedule: adds what this actor's links did (by edge) and its updates to
    /// `tally`; returns its training batches (`None` under lockstep).
    pub(crate) fn add_async_tally(
        &self,
        tally: &mut crate::runtime::faults::FaultTally,
    ) -> Option<u64> {
        let st = self.asynch.as_ref()?;
        let names = self
            .at
            .below_names
            .iter()
            .take(st.below_links)
            .chain(&self.at.above_names);
        for (from, l) in names.zip(&st.links) {
            tally.totals.add(&l.counts);
            tally
                .per_edge
                .entry(format!("{from} -> {}", self.at.name))
                .or_default()
                .add(&l.counts);
        }
        tally.updates += st.total_updates;
        Some(st.batches)
    }
}

/// What every layer actor carries from batch to batch, as a [`StateBag`]: synapses, their
/// optimiser, the feedback synapses and theirs, the batch count (the schedule's position) and
/// whether the last weight copy sent down is stale.
pub(crate) fn save_synapses(
    syn: &mut Synapses,
    opt: &Optimizer,
    fb_syn: Option<&Matrix>,
    fb_opt: &Optimizer,
    trained_batches: usize,
    copy_stale: bool,
) -> StateBag {
    let mut bag = StateBag::default();
    bag.tensor("weight", syn.weights_mut().as_slice().to_vec());
    bag.tensor("bias", syn.bias().to_vec());
    opt.save("opt.", &mut bag);
    if let Some(b) = fb_syn {
        bag.tensor("feedback", b.as_slice().to_vec());
    }
    fb_opt.save("feedback_opt.", &mut bag);
    bag.scalar("trained_batches", trained_batches.to_string());
    bag.scalar("copy_stale", copy_stale.to_string());
    bag
}

/// Restores what [`save_synapses`] wrote; returns the batch count and copy staleness.
pub(crate) fn restore_synapses(
    bag: &StateBag,
    syn: &mut Synapses,
    opt: &mut Optimizer,
    fb_syn: Option<&mut Matrix>,
    fb_opt: &mut Optimizer,
) -> Result<(usize, bool), StateError> {
    bag.fill("weight", syn.weights_mut().as_mut_slice())?;
    bag.fill("bias", syn.bias_mut())?;
    opt.restore("opt.", bag)?;
    if let Some(b) = fb_syn {
        bag.fill("feedback", b.as_mut_slice())?;
    }
    fb_opt.restore("feedback_opt.", bag)?;
    Ok((bag.parse("trained_batches")?, bag.parse("copy_stale")?))
}

/// `eps = dx + (x0 - mu)`; returns `||eps||^2` (summed in 16 lanes so that it vectorises).
fn errors(eps: &mut [f32], dx: &[f32], x0: &[f32], mu: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0.0f32; LANES];
    let n = eps.len();
    let whole = n - n % LANES;
    for (((e, d), x), m) in eps[..whole]
        .chunks_exact_mut(LANES)
        .zip(dx.chunks_exact(LANES))
        .zip(x0.chunks_exact(LANES))
        .zip(mu.chunks_exact(LANES))
    {
        for i in 0..LANES {
            e[i] = d[i] + (x[i] - m[i]);
            acc[i] += e[i] * e[i];
        }
    }
    let mut total: f32 = acc.iter().sum();
    for i in whole..n {
        eps[i] = dx[i] + (x0[i] - mu[i]);
        total += eps[i] * eps[i];
    }
    total
}

/// One inference step of the value nodes `x = x0 + dx`: `dx += gamma (-eps + f'(x) fb)`,
/// then `fx = f(x)`. Returns whether any value changed.
fn relax(
    act: Activation,
    gamma: f32,
    x0: &[f32],
    dx: &mut [f32],
    fx: &mut [f32],
    eps: &[f32],
    fb: &[f32],
) -> bool {
    #[inline(always)]
    fn each(
        x0: &[f32],
        dx: &mut [f32],
        fx: &mut [f32],
        eps: &[f32],
        fb: &[f32],
        step: impl Fn(f32, f32, f32, f32, f32) -> (f32, f32),
    ) -> bool {
        let mut changed = false;
        for ((((d, a), &x), &e), &f) in dx.iter_mut().zip(fx.iter_mut()).zip(x0).zip(eps).zip(fb) {
            let (n, na) = step(x, *d, *a, e, f);
            changed |= n != *d;
            (*d, *a) = (n, na);
        }
        changed
    }
    match act {
        // Written out for ReLU so that it vectorises.
        Activation::Relu => each(x0, dx, fx, eps, fb, |x, d, _, e, f| {
            let g = if x + d > 0.0 { f } else { 0.0 };
            let n = d + gamma * (g - e);
            (n, (x + n).max(0.0))
        }),
        _ => each(x0, dx, fx, eps, fb, |x, d, a, e, f| {
            let n = d + gamma * (-e + act.derivative(x + d, a) * f);
            (n, act.apply(x + n))
        }),
    }
}

impl Actor<Message> for LayerActor {
    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        if self.asynch.is_some() {
            self.handle_async(msg, ctx);
        } else {
            self.handle_lockstep(msg, ctx);
        }
        Flow::Continue
    }
}

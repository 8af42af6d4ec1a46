//! The `Coordinator` actor of a layer-actor run (PC, Z-IL, the asynchronous schedule, EP,
//! C-EP): it feeds batches (its `feed` half) and tallies results (its `tally` half) into the
//! per-batch and per-epoch events that [`crate::learn::train::train_layers`] streams to the
//! caller; what it trains on ([`TrainPlan`], [`TrainControl`]) and what it reports
//! ([`TrainEvent`], [`LayerEpoch`]).
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

mod feed;
pub mod resume;
mod tally;

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::data::dataset::Split;
use crate::learn::backprop::EVAL_BATCH;
use crate::learn::layer::LayerConfig;
use crate::learn::spc_record::{SpcRaster, TickRates};
pub use resume::{Position, ResumeState};

use crate::math::matrix::Matrix;
use crate::math::mlp::{DenseLayer, Init, Mlp};
use crate::message::{Message, ReportData, SignalPool};
use crate::runtime::actor::{Actor, Context, Flow};

/// Batches the coordinator keeps in flight.
const WINDOW: usize = 2;

/// What a layer-actor run trains on and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrainPlan {
    /// Passes over the training split.
    pub epochs: usize,
    /// Examples per training batch.
    pub batch_size: usize,
    /// Seed of the data order and of every initial draw: the forward weights come from its
    /// `"weights"` stream (`Mlp::new(widths, _, weights, SeededRng::stream(seed, "weights"))`),
    /// random feedback synapses from its `feedback/...` streams.
    pub seed: u64,
    /// How the initial forward weights were drawn from the seed. Kolen-Pollack shared-seed
    /// feedback replays that draw in the layer below (`B = W_above^T` with no message).
    pub weights: Init,
}

/// Checkpointing, resuming and stopping a layer-actor run.
#[derive(Clone, Debug, Default)]
pub struct TrainControl {
    /// Resumable checkpoints ([`TrainEvent::Checkpoint`]): `None` takes none; `Some(0)` one at
    /// the end of every epoch; `Some(n)` also one after every `n` training batches.
    pub checkpoint_every: Option<usize>,
    /// Continue from this checkpoint (actor states and data position; its `results` are the
    /// caller's business).
    pub resume: Option<ResumeState>,
    /// Set it to stop gracefully: the coordinator lets the batches in flight finish, takes a
    /// final checkpoint and stops; [`crate::learn::train::train_layers_with`] then returns
    /// [`crate::run_error::NetworkRunError::Interrupted`].
    pub stop: Option<Arc<AtomicBool>>,
    /// Fault injection: the actor of this name panics after this many training batches.
    pub panic: Option<(String, usize)>,
}

/// One finished epoch of the actor model.
#[derive(Clone, Debug)]
pub struct LayerEpoch {
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
    /// Spiking PC: spikes fired per training image (input, value and error neurons).
    pub spikes_per_image: Option<f64>,
    /// Spiking PC: synaptic events per training image (each spike times its targets).
    pub synaptic_events_per_image: Option<f64>,
    /// Spiking PC: per layer, mean spikes per neuron and training image at each tick of a
    /// batch, by population.
    pub tick_rates: Option<Vec<TickRates>>,
    /// Spiking PC: every spike of the first image of the epoch's last training batch.
    pub raster: Option<SpcRaster>,
    /// The weights after the epoch, gathered from the shards' snapshots.
    pub net: Mlp,
}

/// What [`crate::learn::train::train_layers`] reports while it runs.
#[derive(Clone, Debug)]
pub enum TrainEvent {
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
    Epoch(Box<LayerEpoch>),
    /// Every actor saved its state: a resumable checkpoint (its `results` empty).
    Checkpoint(Box<ResumeState>),
    /// Samples a layer shard recorded for a `[[probe]]` (its `probe` message, passed on).
    Probe(crate::message::ProbeChunk),
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
    states: std::collections::BTreeMap<String, crate::state::StateBag>,
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
    /// Spiking PC: spikes fired and synaptic events over the training batches; spikes per
    /// layer, tick and population (`ticks x 3` a layer); the shards' raster reports.
    spikes: u64,
    events: u64,
    tick_counts: Vec<Vec<u64>>,
    raster: Vec<(u32, Arc<Vec<u32>>)>,
}

/// Feeds batches, tallies accuracy and energy, gathers snapshots.
pub(crate) struct Coordinator {
    train: Split,
    test: Split,
    cfg: Arc<LayerConfig>,
    plan: TrainPlan,
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
    /// Spiking PC: the input's spike bits and its encoders' membranes.
    bits: crate::message::BitPool,
    input_membranes: Vec<f32>,
    input_spikes: Vec<f32>,
    logits: Matrix,
    predictions: Vec<usize>,
    sums: std::collections::BTreeMap<usize, EpochSums>,
    snapshot: Vec<DenseLayer>,
    /// Feedback synapses gathered at a snapshot, per hidden layer, in the layout of the
    /// weights above.
    fb_snapshot: Vec<Matrix>,
    events: Sender<TrainEvent>,
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
    /// The coordinator of a network of `shards` layer actors around `init` (layer 1's
    /// `input_shards` first, the output last), sending its events to `events`.
    pub(crate) fn new(
        init: &Mlp,
        data: (&Split, &Split),
        plan: TrainPlan,
        cfg: Arc<LayerConfig>,
        (shards, input_shards): (usize, usize),
        control: &TrainControl,
        events: Sender<TrainEvent>,
    ) -> Self {
        let (train, test) = data;
        let widths = init.widths();
        let layers = widths.len() - 1;
        let mut coordinator = Coordinator {
            train: train.clone(),
            test: test.clone(),
            span: match &cfg.ep {
                Some(ep) => ep.train_span() as u64,
                None => cfg.last_step(layers) as u64 + 1,
            },
            cfg,
            plan,
            net_shape: init.clone(),
            shard_edges: shards,
            input_edges: (0..input_shards).collect(),
            output_edge: shards - 1,
            epoch: 1,
            work: Work::Train,
            next: 0,
            train_batches: train.len().div_ceil(plan.batch_size.max(1)),
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
            bits: crate::message::BitPool::default(),
            input_membranes: Vec::new(),
            input_spikes: Vec::new(),
            logits: Matrix::zeros(0, widths[layers]),
            predictions: Vec::new(),
            sums: std::collections::BTreeMap::new(),
            snapshot: Vec::new(),
            fb_snapshot: Vec::new(),
            events,
            fault: None,
            checkpoint_every: control.checkpoint_every,
            save_due: false,
            order_epoch: 0,
            stop: control.stop.clone(),
            stopping: false,
        };
        if let Some(r) = &control.resume {
            coordinator.resume_at(&r.position);
        }
        coordinator
    }

    /// A shard's report of a non-finite value, if one came: (layer, shard, step, what, value).
    pub(crate) fn fault(&self) -> Option<(u32, u32, u64, &'static str, f32)> {
        self.fault
    }

    /// Whether the coordinator took up a graceful stop.
    pub(crate) fn interrupted(&self) -> bool {
        self.stopping
    }

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
        match msg {
            Message::Report { step, data } => self.absorb(step, data),
            Message::Probe { chunk, .. } => {
                // The receiver may be gone (the run is ending): the samples go with it.
                let _ = self.events.send(TrainEvent::Probe(chunk));
            }
            _ => {}
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

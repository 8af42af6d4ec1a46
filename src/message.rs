//! The message vocabulary actors speak: the message kinds the runtime counts, the messages,
//! and the payloads they carry (signals, spikes, weight copies, reports, phase words).
//!
//! Every message implements the runtime's [`Payload`]: its [`MessageKind`] (a
//! [`Label`] the traffic counters and traces index by), its size in bytes and the step it
//! belongs to (for lockstep schedules and stall reports).

use serde::{Deserialize, Serialize};

mod bits;
pub mod probe;
mod spikes;
mod synapses;

use crate::runtime::payload::Label;
pub use crate::runtime::payload::Payload;
pub use bits::{BitPool, SpikeBits};
pub use probe::{ProbeChunk, ProbeTap, ProbeVariable};
pub use spikes::{SpikePool, Spikes};
pub use synapses::{Synapses, WeightCopy};

/// The kinds of message in axon's vocabulary (docs/architecture.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Activity `f(x)` sent up, towards the output.
    Activity,
    /// Errors `eps` sent down, towards the input.
    Error,
    /// Spike events.
    Spike,
    /// Control words from the coordinator.
    Control,
    /// Reports to the coordinator.
    Report,
    /// A copy of forward weights: only oracle modes send it, and the tracer counts it apart.
    WeightTransport,
    /// Weights or gradients reported to the coordinator for checkpoints and checks; never
    /// used by another actor's learning, and counted apart from both.
    Snapshot,
    /// Samples of the sender's own state that a scenario's `[[probe]]` asked for.
    Probe,
}

impl Label for MessageKind {
    const ALL: &'static [MessageKind] = &[
        MessageKind::Activity,
        MessageKind::Error,
        MessageKind::Spike,
        MessageKind::Control,
        MessageKind::Report,
        MessageKind::WeightTransport,
        MessageKind::Snapshot,
        MessageKind::Probe,
    ];

    fn index(self) -> usize {
        self as usize
    }

    fn name(self) -> &'static str {
        match self {
            MessageKind::Activity => "activity",
            MessageKind::Error => "error",
            MessageKind::Spike => "spike",
            MessageKind::Control => "control",
            MessageKind::Report => "report",
            MessageKind::WeightTransport => "weight_transport",
            MessageKind::Snapshot => "snapshot",
            MessageKind::Probe => "probe",
        }
    }

    /// Weight copies are the non-local information a run needed: summed apart.
    fn counted_apart(self) -> bool {
        self == MessageKind::WeightTransport
    }
}

/// A batch of activities or errors (`rows` examples x `cols` neurons, row-major), shared by
/// reference counting: sending one to many neighbours copies a pointer, not the values.
///
/// A `Signal` is built only by a [`SignalPool`] from values the sender computes, never from a
/// weight matrix: actors hold weights in [`Synapses`], which offers no slice to copy from, so
/// the only way a weight reaches a message is [`WeightCopy`], which the tracer counts as
/// weight transport.
///
/// ```compile_fail
/// use axon::message::{SignalPool, Synapses};
/// let syn = Synapses::zeros(2, 3);
/// let mut pool = SignalPool::default();
/// // Synapses has no as_slice(): weights cannot be smuggled into an activity message.
/// let s = pool.signal(2, 3, |out| out.copy_from_slice(syn.as_slice()));
/// ```
#[derive(Clone, Debug)]
pub struct Signal {
    data: std::sync::Arc<Vec<f32>>,
    rows: usize,
    cols: usize,
}

impl Signal {
    /// The values, row-major.
    pub fn values(&self) -> &[f32] {
        &self.data[..self.rows * self.cols]
    }
    /// Examples in the batch.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Neurons per example.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Payload bytes.
    pub fn bytes(&self) -> usize {
        4 * self.rows * self.cols
    }
}

/// A sender's reusable signal buffers. A buffer goes back into use once every receiver has
/// dropped its reference, so a steady stream of messages allocates nothing: the pool grows to
/// the number of signals in flight and stays there.
#[derive(Debug, Default)]
pub struct SignalPool {
    buffers: Vec<std::sync::Arc<Vec<f32>>>,
}

impl SignalPool {
    /// A signal of `rows x cols` values written by `fill` into a reused buffer.
    pub fn signal(&mut self, rows: usize, cols: usize, fill: impl FnOnce(&mut [f32])) -> Signal {
        let len = rows * cols;
        let slot = self
            .buffers
            .iter_mut()
            .position(|b| std::sync::Arc::get_mut(b).is_some());
        let idx = match slot {
            Some(i) => i,
            None => {
                self.buffers
                    .push(std::sync::Arc::new(Vec::with_capacity(len)));
                self.buffers.len() - 1
            }
        };
        let buf = std::sync::Arc::get_mut(&mut self.buffers[idx])
            .expect("only the pool holds a free buffer");
        buf.resize(len, 0.0);
        fill(&mut buf[..len]);
        Signal {
            data: self.buffers[idx].clone(),
            rows,
            cols,
        }
    }

    /// Buffers the pool owns (in flight or free).
    pub fn capacity(&self) -> usize {
        self.buffers.len()
    }
}

/// What actors report to a coordinator.
#[derive(Clone, Debug)]
pub enum ReportData {
    /// Output predictions for a batch.
    Predictions(Signal),
    /// Local energy (for example `0.5 ||eps||^2`) of the sender at a step.
    Energy(f64),
    /// Spikes the sender fired and synaptic events they caused, so far in a batch.
    SpikeCounts {
        /// Spikes.
        spikes: u64,
        /// Spikes times fan-out.
        events: u64,
    },
    /// Asynchronous schedule: the sender's local energy changed by more (`settled: false`) or
    /// less (`true`) than the tolerance in its last update; sent when that flips.
    Settled {
        /// The sender's layer (1-based).
        layer: u32,
        /// The sender's shard.
        shard: u32,
        /// Whether it is settled now.
        settled: bool,
    },
    /// A non-finite value in the sender's state: the coordinator stops the run.
    Fault {
        /// The sender's layer (1-based).
        layer: u32,
        /// The sender's shard.
        shard: u32,
        /// Which part of the state.
        what: &'static str,
        /// The value.
        value: f32,
    },
    /// Local energies of one batch, one value per inference step (summed over the batch); the
    /// output layer reports its loss.
    Energies {
        /// The sender's layer (1-based).
        layer: u32,
        /// One value per step.
        values: Signal,
    },
    /// How many times each of the sender's neurons fired in a presentation, and the
    /// synaptic events it received (spike-timing learning: the coordinator labels neurons and
    /// classifies from these).
    Responses {
        /// The sender's first neuron.
        offset: u32,
        /// Spikes per neuron.
        counts: std::sync::Arc<Vec<u32>>,
        /// Spikes of every neuron the sender holds (excitatory and inhibitory).
        spikes: u64,
        /// Synaptic events delivered into the sender.
        events: u64,
    },
    /// The sender's synapses, for checkpoints and checks (counted as `snapshot` traffic).
    Snapshot {
        /// Layer (1-based).
        layer: u32,
        /// First neuron of the sender's shard.
        offset: u32,
        /// The weights (`shard rows x inputs`) and biases.
        copy: WeightCopy,
    },
    /// The sender's feedback synapses `B` (the copy of the weights above that it feeds back
    /// through), for the gap between the two copies of a connection (counted as `snapshot`).
    Feedback {
        /// Layer (1-based) of the sender.
        layer: u32,
        /// First neuron of the sender's shard (its first column of `W_above`).
        offset: u32,
        /// `B` in the layout of the weights above (`n_above x shard width`).
        copy: WeightCopy,
    },
    /// The sender's whole state, serialised by the sender for a resumable checkpoint
    /// (counted as `snapshot` traffic).
    State {
        /// Layer (1-based).
        layer: u32,
        /// The sender's shard.
        shard: u32,
        /// The serialised state.
        state: std::sync::Arc<crate::state::StateBag>,
    },
    /// The gradient the sender handed its optimiser for one batch (for exactness checks;
    /// counted as `snapshot` traffic).
    Gradient {
        /// Layer (1-based).
        layer: u32,
        /// First neuron of the sender's shard.
        offset: u32,
        /// `dLoss/dW` of the shard (`rows x inputs`).
        weight: Signal,
        /// `dLoss/db` of the shard (`1 x rows`).
        bias: Signal,
    },
    /// Spiking PC: the sender's spikes per tick of one training batch, by population (value,
    /// positive error, negative error neurons), for the error-rate figure.
    TickCounts {
        /// The sender's layer (1-based).
        layer: u32,
        /// `ticks x 3` counts, tick-major.
        counts: std::sync::Arc<Vec<u32>>,
    },
    /// Spiking PC: every spike of one image in the sender's neurons, for the raster figure.
    Raster {
        /// The sender's layer (1-based).
        layer: u32,
        /// `(tick, neuron, population)` triples; neurons are numbered within the layer,
        /// populations as in `TickCounts`.
        events: std::sync::Arc<Vec<u32>>,
    },
}

/// What a batch is for: the coordinator sends one phase word to every layer actor per batch,
/// in order with the data (so it cannot overtake a message of the batch before).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Settle and learn on a training batch of `rows` examples.
    Train {
        /// Examples in the batch.
        rows: u32,
    },
    /// Forward sweep only; the output reports its predictions.
    Evaluate {
        /// Examples in the batch.
        rows: u32,
    },
    /// Report the synapses to the coordinator.
    Snapshot,
    /// Report the whole actor state (synapses, optimiser, feedback synapses, counters) for a
    /// resumable checkpoint.
    Save,
    /// Asynchronous schedule: the batch has settled; learn from the values held now.
    Learn,
    /// Asynchronous schedule, between layer actors: the sender has made all its updates for
    /// the batch and will send nothing more in it (never faulted, like a FIN).
    Exhausted,
    /// Present a pattern to a spiking network for one presentation (spike-timing learning):
    /// to the input, which pattern and how strongly; to the receiving shards, whether they
    /// learn from it. The message's step is the presentation's number.
    Present {
        /// The pattern (an image's index in the input's patterns).
        pattern: u32,
        /// The input's intensity (rates in units of the input's base rate per pixel value).
        intensity: u32,
        /// Whether plasticity and homeostasis are on.
        learn: bool,
    },
    /// Equilibrium propagation: the nudged phase of the training batch begins at this step,
    /// with `beta` of this sign (the free phase's end).
    Nudge {
        /// `beta < 0` for this batch (`algorithm.random_sign_beta`).
        negative: bool,
    },
}

/// axon's message vocabulary (docs/architecture.md).
#[derive(Clone, Debug)]
pub enum Message {
    /// `f(x)` of the sender's neurons for the batch, sent up.
    Activity {
        /// Step number.
        step: u64,
        /// The sender's shard in its layer (its columns of the layer's activity).
        shard: u32,
        /// `false` when the values equal the sender's previous activity of the same batch (the
        /// receiver may then reuse what it computed from them).
        changed: bool,
        /// The activities.
        signal: Signal,
    },
    /// `rho(s)` of the sender's neurons, sent down (equilibrium propagation couples layers
    /// both ways: the layer below hears the state of the one above; kind `activity`).
    ActivityDown {
        /// Step number.
        step: u64,
        /// The sender's shard in its layer.
        shard: u32,
        /// The activities.
        signal: Signal,
    },
    /// `eps` of the sender's neurons for the batch, sent down.
    Error {
        /// Step number.
        step: u64,
        /// The sender's shard in its layer.
        shard: u32,
        /// Whether the sender learnt from exactly these errors (so a Kolen-Pollack feedback
        /// actor below can apply the same local product to its own synapses).
        learned: bool,
        /// The errors.
        signal: Signal,
    },
    /// The neurons that fired at a tick.
    Spike {
        /// Tick number.
        tick: u64,
        /// Who fired.
        fired: Spikes,
    },
    /// An input population's spikes for one whole presentation (they do not depend on the
    /// network, so they travel as one window): per tick of the presentation, a count, then
    /// who fired (kind `spike`).
    Input {
        /// The presentation's number.
        presentation: u64,
        /// Counts and indices, tick by tick.
        window: Spikes,
    },
    /// A layer shard's spikes at one tick of a batch (spiking predictive coding): its value
    /// neurons' spikes go up (one plane), its error neurons' spikes down (two planes); the
    /// input's spikes come from the coordinator (kind `spike`).
    SpikeBatch {
        /// The batch's step of this tick.
        step: u64,
        /// The sender's shard in its layer.
        shard: u32,
        /// The spikes.
        bits: SpikeBits,
    },
    /// A clock tick: the receiver may compute tick `tick`, every spike of the tick before
    /// being already in its mailbox (kind `control`; one-actor-per-neuron spiking networks).
    Tick {
        /// Tick number.
        tick: u64,
    },
    /// A phase word from the coordinator (kind `control`).
    Phase {
        /// First step of the batch it opens.
        step: u64,
        /// The phase.
        phase: Phase,
    },
    /// Clamps the output layer to the targets of a batch: the labels as values (kind
    /// `control`).
    Clamp {
        /// Step number.
        step: u64,
        /// One label per row.
        labels: Signal,
    },
    /// A report to the coordinator.
    Report {
        /// Step number.
        step: u64,
        /// What is reported.
        data: ReportData,
    },
    /// Samples of the sender's own state for a probe (kind `probe`).
    Probe {
        /// The last sample's tick (or step).
        step: u64,
        /// The samples.
        chunk: ProbeChunk,
    },
    /// A rank port's reminder to itself to look for mail from other ranks (kind `control`;
    /// neither traffic nor progress: [`Payload::is_poll`]).
    Poll,
    /// A copy of forward weights (oracle modes only).
    WeightTransport {
        /// Step number.
        step: u64,
        /// The sender's shard in its layer.
        shard: u32,
        /// The weights.
        copy: WeightCopy,
    },
}

impl Payload for Message {
    type Kind = MessageKind;
    fn kind(&self) -> MessageKind {
        match self {
            Message::Activity { .. } | Message::ActivityDown { .. } => MessageKind::Activity,
            Message::Error { .. } => MessageKind::Error,
            Message::Spike { .. } | Message::Input { .. } | Message::SpikeBatch { .. } => {
                MessageKind::Spike
            }
            Message::Phase { .. }
            | Message::Clamp { .. }
            | Message::Tick { .. }
            | Message::Poll => MessageKind::Control,
            Message::Report { data, .. } => match data {
                ReportData::Snapshot { .. }
                | ReportData::Feedback { .. }
                | ReportData::Gradient { .. }
                | ReportData::State { .. } => MessageKind::Snapshot,
                _ => MessageKind::Report,
            },
            Message::WeightTransport { .. } => MessageKind::WeightTransport,
            Message::Probe { .. } => MessageKind::Probe,
        }
    }
    fn bytes(&self) -> usize {
        match self {
            Message::Activity { signal, .. }
            | Message::ActivityDown { signal, .. }
            | Message::Error { signal, .. } => signal.bytes(),
            Message::Spike { fired, .. } => 4 * fired.len(),
            Message::Input { window, .. } => 4 * window.len(),
            Message::SpikeBatch { bits, .. } => bits.bytes(),
            Message::Phase { .. } | Message::Tick { .. } => 8,
            Message::Poll => 0,
            Message::Clamp { labels, .. } => labels.bytes(),
            Message::Report { data, .. } => match data {
                ReportData::Predictions(s) => s.bytes(),
                ReportData::Energy(_) => 8,
                ReportData::SpikeCounts { .. } | ReportData::Fault { .. } => 16,
                ReportData::Responses { counts, .. } => 4 * counts.len() + 20,
                ReportData::TickCounts { counts: v, .. } | ReportData::Raster { events: v, .. } => {
                    4 * v.len() + 4
                }
                ReportData::Settled { .. } => 12,
                ReportData::Energies { values, .. } => values.bytes(),
                ReportData::Snapshot { copy, .. } | ReportData::Feedback { copy, .. } => {
                    copy.bytes()
                }
                ReportData::State { state, .. } => state.bytes(),
                ReportData::Gradient { weight, bias, .. } => weight.bytes() + bias.bytes(),
            },
            Message::WeightTransport { copy, .. } => copy.bytes(),
            Message::Probe { chunk, .. } => chunk.bytes(),
        }
    }
    fn step(&self) -> u64 {
        match self {
            Message::Activity { step, .. }
            | Message::ActivityDown { step, .. }
            | Message::Error { step, .. }
            | Message::Phase { step, .. }
            | Message::Clamp { step, .. }
            | Message::Report { step, .. }
            | Message::WeightTransport { step, .. }
            | Message::SpikeBatch { step, .. }
            | Message::Probe { step, .. } => *step,
            Message::Spike { tick, .. } | Message::Tick { tick } => *tick,
            Message::Input { presentation, .. } => *presentation,
            Message::Poll => 0,
        }
    }
    fn is_poll(&self) -> bool {
        matches!(self, Message::Poll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_reuses_buffers_once_receivers_drop_them() {
        let mut pool = SignalPool::default();
        let a = pool.signal(2, 3, |o| o.fill(1.0));
        let b = a.clone(); // a second receiver
        assert_eq!(b.values(), &[1.0; 6]);
        let c = pool.signal(2, 3, |o| o.fill(2.0));
        assert_eq!(
            pool.capacity(),
            2,
            "a is still in flight, so c needs a new buffer"
        );
        drop((a, b, c));
        for i in 0..100 {
            let s = pool.signal(1, 4, |o| o.fill(i as f32));
            assert_eq!(s.values(), &[i as f32; 4]);
        }
        assert_eq!(pool.capacity(), 2, "steady state allocates nothing");
    }

    #[test]
    fn weight_copies_are_counted_as_weight_transport() {
        let syn = Synapses::zeros(4, 5);
        let m = Message::WeightTransport {
            step: 3,
            shard: 0,
            copy: WeightCopy::of(&syn),
        };
        assert_eq!(
            (m.kind(), m.bytes(), m.step()),
            (MessageKind::WeightTransport, 96, 3)
        );
        let cols = WeightCopy::columns(&syn, 1..3);
        assert_eq!((cols.weights().rows(), cols.weights().cols()), (4, 2));
    }
}

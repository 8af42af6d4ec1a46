//! [`Placement`]: where a layer shard sits in the network, whom it talks to and the messages
//! every layer actor sends the same way (reports, snapshots, states, faults, weight copies,
//! spike bits);
//! the [`Batch`] a shard works on.

use std::ops::Range;
use std::sync::Arc;

use crate::math::matrix::Matrix;
use crate::message::{Message, ReportData, Signal, SpikeBits, Synapses, WeightCopy};
use crate::runtime::actor::Context;
use crate::state::StateBag;

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

    /// Sends a tick's spike bits at `step` on each edge of `edges` (`up` or `down`).
    pub(crate) fn send_bits(
        &self,
        ctx: &mut Context<'_, Message>,
        edges: Range<usize>,
        step: u64,
        bits: &SpikeBits,
    ) {
        let shard = self.shard as u32;
        for edge in edges {
            let bits = bits.clone();
            ctx.send(edge, Message::SpikeBatch { step, shard, bits });
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

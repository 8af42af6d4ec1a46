//! The actors of a NIR run: the [`NirDriver`] that feeds the input nodes a step at a time and
//! collects the output node's steps, and one [`NodeActor`] per node.

use std::collections::BTreeMap;

use super::node::{Dynamics, State};
use crate::message::{Message, Signal, SignalPool};
use crate::runtime::actor::{Actor, Context, Flow};

/// Feeds the input nodes one step at a time and collects the output node's steps.
pub(super) struct NirDriver {
    pub(super) input: Vec<f32>,
    pub(super) steps: usize,
    pub(super) batch: usize,
    pub(super) width: usize,
    pub(super) next: usize,
    pub(super) output: Vec<f32>,
    pub(super) pool: SignalPool,
}

impl NirDriver {
    fn feed(&mut self, ctx: &mut Context<'_, Message>) {
        let len = self.batch * self.width;
        let values = &self.input[self.next * len..(self.next + 1) * len];
        let signal = self
            .pool
            .signal(self.batch, self.width, |o| o.copy_from_slice(values));
        for edge in 0..ctx.edges() {
            ctx.send(edge, activity(self.next as u64, u32::MAX, signal.clone()));
        }
        self.next += 1;
    }
}

fn activity(step: u64, shard: u32, signal: Signal) -> Message {
    Message::Activity {
        step,
        shard,
        changed: true,
        signal,
    }
}

impl Actor<Message> for NirDriver {
    fn started(&mut self, ctx: &mut Context<'_, Message>) -> Flow {
        if self.steps == 0 {
            return Flow::StopAll;
        }
        self.feed(ctx);
        Flow::Continue
    }

    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        if let Message::Activity { signal, .. } = msg {
            self.output.extend_from_slice(signal.values());
            if self.next == self.steps {
                return Flow::StopAll;
            }
            self.feed(ctx);
        }
        Flow::Continue
    }
}

/// One NIR node.
pub(super) struct NodeActor {
    /// Steps in the run: a delayed edge's output of the last step is for no step.
    pub(super) steps: u64,
    pub(super) index: u32,
    /// Per out-edge: whether it carries the output a step late.
    pub(super) delayed_out: Vec<bool>,
    pub(super) dynamics: Dynamics,
    pub(super) batch: usize,
    pub(super) in_width: usize,
    pub(super) out_width: usize,
    /// (predecessor, closes a cycle).
    pub(super) preds: Vec<(usize, bool)>,
    /// Per step: summed input and messages still to come.
    pub(super) pending: BTreeMap<u64, (Vec<f32>, usize)>,
    pub(super) state: State,
    pub(super) record: Option<Vec<f32>>,
    pub(super) pool: SignalPool,
    pub(super) out: Vec<f32>,
}

impl NodeActor {
    /// Messages a step needs: one from every predecessor (the driver's, for an input node).
    fn expected(&self) -> usize {
        self.preds.len().max(1)
    }

    fn compute(&mut self, t: u64, input: Vec<f32>, ctx: &mut Context<'_, Message>) {
        self.dynamics
            .step(&input, self.batch, &mut self.state, &mut self.out);
        if let Some(r) = self.record.as_mut() {
            r.extend_from_slice(&self.state.v);
        }
        let out = &self.out;
        let signal = self
            .pool
            .signal(self.batch, self.out_width, |o| o.copy_from_slice(out));
        for edge in 0..ctx.edges() {
            let step = t + u64::from(self.delayed_out.get(edge) == Some(&true));
            ctx.send(edge, activity(step, self.index, signal.clone()));
        }
    }
}

impl Actor<Message> for NodeActor {
    /// A delayed edge's step-0 input is zero (nothing fired before the first step).
    fn started(&mut self, ctx: &mut Context<'_, Message>) -> Flow {
        let (batch, width) = (self.batch, self.out_width);
        for edge in 0..ctx.edges() {
            if self.delayed_out.get(edge) == Some(&true) {
                let signal = self.pool.signal(batch, width, |o| o.fill(0.0));
                ctx.send(edge, activity(0, self.index, signal));
            }
        }
        Flow::Continue
    }

    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        let Message::Activity {
            step: t, signal, ..
        } = msg
        else {
            return Flow::Continue;
        };
        let len = self.batch * self.in_width;
        let entry = self.pending.entry(t).or_insert_with(|| (vec![0.0; len], 0));
        entry
            .0
            .iter_mut()
            .zip(signal.values())
            .for_each(|(a, v)| *a += v);
        entry.1 += 1;
        // Steps complete in order: a delayed edge's message for t + 1 may be early.
        while let Some((&t, (_, got))) = self.pending.first_key_value() {
            if *got < self.expected() {
                break;
            }
            let (input, _) = self.pending.remove(&t).expect("first key");
            if t < self.steps {
                self.compute(t, input, ctx);
            }
        }
        Flow::Continue
    }
}

//! A population shard's probes: the taps it records of its own neurons after each tick, and
//! the chunks it sends to the probe sink (out-edge 0), yielding through its own out-edge 1
//! after each full chunk so that a lone shard streams while it runs.

use super::Population;
use crate::message::{Message, ProbeTap, ProbeVariable};
use crate::runtime::actor::Context;

impl Population {
    /// Records the `taps` (of this shard's neurons, by local index) and sends them on
    /// out-edge 0, which must go to the probe sink; out-edge 1 must come back to the shard
    /// itself (after a full chunk the shard yields, so the chunk goes out while the run is
    /// running even when nothing else would end its handler). No taps, no such edges.
    pub(crate) fn with_probes(mut self, taps: Vec<ProbeTap>) -> Self {
        self.taps = taps;
        self
    }

    /// The first out-edge to another shard (0, or 2 behind the probe sink's and its own).
    pub(super) fn first_peer(&self) -> usize {
        if self.taps.is_empty() {
            0
        } else {
            2
        }
    }

    /// After a tick: when a probe chunk is full, sends it and a reminder to itself, and
    /// says to stop stepping until the reminder comes back (results are unchanged).
    pub(super) fn yield_for_probes(&mut self, ctx: &mut Context<'_, Message>) -> bool {
        if self.probe_out.is_empty() {
            return false;
        }
        self.send_probes(ctx, false);
        ctx.send(1, Message::Tick { tick: self.tick });
        true
    }

    /// Samples the taps due at the current tick (after integrating it).
    pub(super) fn sample_probes(&mut self) {
        let (t, start) = (self.tick, self.range.start as u32);
        let (state, fired) = (&self.state, &self.fired);
        for tap in self.taps.iter_mut().filter(|tap| tap.due(t)) {
            let full = match tap.variable {
                ProbeVariable::V => tap.record_from(t, &state.v_mv),
                ProbeVariable::Ge => tap.record_from(t, &state.ge_mv),
                ProbeVariable::Gi => tap.record_from(t, &state.gi_mv),
                _ => tap.record(t, |i| f32::from(u8::from(fired.contains(&(start + i))))),
            };
            self.probe_out.extend(full);
        }
    }

    /// Sends the probe chunks that are full, and every tap's last one when `done`.
    pub(super) fn send_probes(&mut self, ctx: &mut Context<'_, Message>, done: bool) {
        if self.taps.is_empty() {
            return;
        }
        if done {
            let last = self.taps.iter_mut().map(|t| t.take(true));
            self.probe_out.extend(last.collect::<Vec<_>>());
        }
        for chunk in self.probe_out.drain(..) {
            let step = chunk.times.last().copied().unwrap_or(self.tick);
            ctx.send(0, Message::Probe { step, chunk });
        }
    }
}

//! The message vocabulary actors speak, and what the runtime needs to know of any message.
//!
//! Every message the runtime carries implements [`Payload`]: its [`MessageKind`] (for the
//! tracer's per-kind counters), its size in bytes and the step it belongs to (for lockstep
//! schedules and stall reports). Control words ([`Control`]) travel on a separate, unbounded
//! channel and are served before data.

use serde::{Deserialize, Serialize};

/// The kinds of message in axon's vocabulary (DESIGN.md, "Messages").
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
}

impl MessageKind {
    /// Every kind, in counter order.
    pub const ALL: [MessageKind; 6] = [
        MessageKind::Activity,
        MessageKind::Error,
        MessageKind::Spike,
        MessageKind::Control,
        MessageKind::Report,
        MessageKind::WeightTransport,
    ];

    /// Position in [`MessageKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name used in results and traces.
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::Activity => "activity",
            MessageKind::Error => "error",
            MessageKind::Spike => "spike",
            MessageKind::Control => "control",
            MessageKind::Report => "report",
            MessageKind::WeightTransport => "weight_transport",
        }
    }
}

/// What the runtime reads from every data message.
pub trait Payload: Send + 'static {
    /// The message's kind.
    fn kind(&self) -> MessageKind;
    /// Bytes of payload it carries (for traffic counters).
    fn bytes(&self) -> usize;
    /// The step (or tick) it belongs to; 0 where steps do not apply.
    fn step(&self) -> u64 {
        0
    }
}

/// Control words, served before any data waiting in the same mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Start (or resume) work; sent once to every actor after the network is wired.
    Start,
    /// A phase word from a coordinator (settle, learn, evaluate, snapshot, …), by number.
    Phase(u32),
    /// Stop: finish the current message and shut down.
    Stop,
}

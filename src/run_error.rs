//! Why a run of an actor network failed: the runtime's own errors ([`RuntimeError`]: a panic,
//! a stall, a non-finite value, an executor that would not start) or the run's, raised by the
//! learning, spiking, cluster and stress code that drives the runtime (an interrupt, a
//! checkpoint that does not restore, a failure across ranks, lost messages).

use crate::runtime::RuntimeError;

/// Why a run of an actor network failed.
#[derive(Debug, thiserror::Error)]
pub enum NetworkRunError {
    /// The runtime failed (a panicking, stalled or diverging actor, or an executor that
    /// could not start).
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A graceful stop was requested (Ctrl-C): the actors finished what was in flight and
    /// saved a final checkpoint.
    #[error("interrupted: the run stopped after a final checkpoint")]
    Interrupted,
    /// The actors could not be built from a checkpoint.
    #[error("{0}")]
    Restore(String),
    /// A run that must handle an exact number of messages (a fixed-count stress ring) handled
    /// another number: messages were lost or duplicated.
    #[error("{what} handled {handled} messages, expected exactly {expected}: messages were lost or duplicated")]
    Conservation {
        /// The workload.
        what: String,
        /// Messages it should have handled.
        expected: u64,
        /// Messages it handled.
        handled: u64,
    },
    /// The run spans several processes (ranks) and one of them, or the exchange between
    /// them, failed.
    #[error("across ranks: {0}")]
    Ranks(String),
}

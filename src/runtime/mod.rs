//! The actor runtime: actors, their mailboxes, the network description and the executors that
//! run it, supervision, per-edge traffic counters, the sampled trace log and fault injection on
//! edges. Nothing here knows what a message means: messages are any [`Payload`], whose kinds
//! are [`Label`]s the application defines; learning and spiking live in [`crate::learn`] and
//! [`crate::spike`].

pub mod actor;
pub(crate) mod cell;
pub mod executor;
pub mod faults;
pub mod mailbox;
pub mod memory;
pub mod network;
pub mod payload;
pub(crate) mod progress;
pub mod supervisor;
pub mod trace_log;
pub mod traffic;

pub use executor::Runtime;
pub use network::{ActorId, ActorIndex, Executor, Network, RunReport, RuntimeConfig};
pub use payload::{Control, Label, Payload};
pub use supervisor::{ActorState, RuntimeError};

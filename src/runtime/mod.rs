//! The actor runtime: actors, their mailboxes, the network description and the executors that
//! run it, supervision, per-edge traffic counters, the sampled trace log and fault injection on
//! edges. Nothing here knows what a message means: learning and spiking live in
//! [`crate::learn`] and [`crate::spike`].

pub mod actor;
pub mod executor;
pub mod faults;
pub mod mailbox;
pub mod trace_log;
pub mod traffic;

pub use executor::{
    ActorState, Executor, Network, RunReport, Runtime, RuntimeConfig, RuntimeError,
};

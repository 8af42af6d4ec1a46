//! The layer kit: what every layer actor is made of, whatever its learning rule. The run's
//! settings ([`config`]), the actors' names ([`name`]), where a shard sits and what it sends
//! the same way as every other (`placement`), the gathers of its neighbours' signals
//! (`gather`) and the core every actor embeds with the drive loop they share (`core`).
//! The learning rules themselves live in [`crate::learn::pc_layer`] (predictive coding,
//! lockstep and asynchronous) and [`crate::learn::ep_layer`] (EP and C-EP).

pub mod config;
pub(crate) mod core;
pub(crate) mod gather;
pub mod name;
pub(crate) mod placement;

pub use config::{shard_range, AsyncSchedule, Feedback, KpInit, LayerConfig};
pub use name::LayerName;

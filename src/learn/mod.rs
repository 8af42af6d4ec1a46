//! Learning: the synchronous backprop baseline, predictive coding (PC, Z-IL) and equilibrium
//! propagation (EP, C-EP) as pure maths ([`backprop`], [`pc`], [`ep`]) and as layer actors
//! built from one kit ([`layer`]: the core every layer actor embeds; [`pc_layer`],
//! [`spc_layer`] (spiking PC, with [`spc_record`], what it records for its figures) and
//! [`ep_layer`]: the learning rules), the coordinator that drives a network of layer actors
//! ([`coordinator`]), the network it is wired into ([`wiring`]), the run that builds, runs and
//! concludes it in one process or over ranks ([`train`]), and inference by message passing
//! ([`inference`]).

pub mod backprop;
pub mod coordinator;
pub mod ep;
pub mod ep_layer;
pub mod inference;
pub mod layer;
pub mod pc;
pub mod pc_layer;
pub mod spc_layer;
pub mod spc_record;
pub mod train;
pub mod wiring;

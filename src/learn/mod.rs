//! Learning: the synchronous backprop baseline, predictive coding (PC, Z-IL) and equilibrium
//! propagation (EP, C-EP) as pure maths and as layer actors, the coordinator that drives a
//! network of layer actors, and inference by message passing.

pub mod backprop;
pub mod coordinator;
pub mod ep;
pub mod ep_layer;
pub mod inference;
pub mod pc;
pub mod pc_layer;

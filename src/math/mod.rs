//! Numerics every model shares: matrices (the only module that names the GEMM crate), the seeded
//! random source and its blocks of normals, activations, losses, optimisers and the MLP's exact forward and backward maths.

pub mod activation;
pub mod loss;
pub mod matrix;
pub mod mlp;
pub mod normals;
pub mod optimizer;
pub mod rng;

//! What one NIR node computes in one time step, on a batch (rows) of its neurons (columns):
//! the linear maps (Affine, Linear, Scale, Flatten), the stateful neurons (LIF, CubaLIF, LI,
//! IF, Integrator) and Threshold, discretised with step `dt` by forward Euler (the form
//! snnTorch and Norse run) or exactly for an input held over the step.
//!
//! NIR's equations (continuous time, input `I`):
//! - LIF: `tau dv/dt = (v_leak - v) + r I`, spike when `v > v_threshold`, then `v = v_reset`;
//! - CubaLIF: `tau_syn dI_s/dt = -I_s + w_in I`, `tau_mem dv/dt = (v_leak - v) + r I_s`, as LIF;
//! - LI: LIF without threshold; IF: `dv/dt = r I` with threshold; Integrator: `dv/dt = r I`;
//! - Threshold: `z = H(I - threshold)`.

use serde::Deserialize;

use crate::math::matrix::{matmul, MatView, Matrix, Threads};

/// How continuous time becomes steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// `v += dt/tau * (v_leak - v + r I)`: what snnTorch and Norse run (`beta = 1 - dt/tau`).
    Euler,
    /// `v = v_inf + (v - v_inf) exp(-dt/tau)` with `v_inf = v_leak + r I`: exact for an input
    /// held constant over the step.
    Exact,
}

/// What a spiking node does to its membrane after a spike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reset {
    /// `v = v_reset` (NIR's definition).
    Value,
    /// `v -= v_threshold` (snnTorch's default "subtract").
    Subtract,
}

/// The decay of one step for time constant `tau`: `(keep, gain)` so that
/// `v' = keep * v + gain * target` moves `v` towards `target` as the method says. Computed in
/// `f32` as snnTorch's importer computes `beta = 1 - dt / tau`.
pub fn decay(tau: f32, dt: f32, method: Method) -> (f32, f32) {
    match method {
        Method::Euler => (1.0 - dt / tau, dt / tau),
        Method::Exact => {
            let k = (-dt / tau).exp();
            (k, 1.0 - k)
        }
    }
}

/// A node's computation, with its parameters per neuron.
#[derive(Clone, Debug)]
pub enum Dynamics {
    /// `y = x W^T + b` (`weight`: outputs x inputs).
    Affine {
        /// Weights, outputs x inputs.
        weight: Matrix,
        /// Biases (empty for Linear).
        bias: Vec<f32>,
    },
    /// `y = scale * x`, per neuron.
    Scale(Vec<f32>),
    /// `y = x` (Input, Output, Flatten: the batch is already flat).
    Identity,
    /// `y = H(x - threshold)`.
    Threshold(Vec<f32>),
    /// Leaky or not, with or without synaptic current and threshold (LIF, CubaLIF, LI, IF,
    /// Integrator).
    Neuron(Neuron),
}

/// A stateful neuron population (per-neuron factors, precomputed for the step):
/// `I_s' = keep_syn I_s + syn_gain I` (CubaLIF), then
/// `v' = keep v + mem_gain current + leak`, where `current` is `I_s` or the input `I`.
#[derive(Clone, Debug, Default)]
pub struct Neuron {
    /// Membrane decay per step (1 for IF and Integrator).
    pub keep: Vec<f32>,
    /// Factor of the input current (`r dt / tau` by Euler, `r (1 - e^{-dt/tau})` exactly,
    /// `r dt` without leak).
    pub mem_gain: Vec<f32>,
    /// Added each step: `(1 - keep) v_leak`.
    pub leak: Vec<f32>,
    /// Synaptic current decay (CubaLIF); empty: no synaptic current.
    pub keep_syn: Vec<f32>,
    /// Factor of the input in the synaptic current (`w_in dt / tau_syn` by Euler).
    pub syn_gain: Vec<f32>,
    /// Spike threshold; empty: no spikes (LI, Integrator), the output is the membrane.
    pub v_threshold: Vec<f32>,
    /// Value after a spike ([`Reset::Value`]).
    pub v_reset: Vec<f32>,
    /// Initial membrane.
    pub v_init: Vec<f32>,
    /// After a spike.
    pub reset: Option<Reset>,
}

/// A node's state for a batch.
#[derive(Clone, Debug, Default)]
pub struct State {
    /// Membrane per (row, neuron).
    pub v: Vec<f32>,
    /// Synaptic current per (row, neuron) (CubaLIF).
    pub i_syn: Vec<f32>,
}

impl Dynamics {
    /// Output width for input width `inputs`.
    pub fn outputs(&self, inputs: usize) -> usize {
        match self {
            Dynamics::Affine { weight, .. } => weight.rows(),
            _ => inputs,
        }
    }

    /// One step: `out` (rows x outputs) from `input` (rows x inputs), updating `state`.
    pub fn step(&self, input: &[f32], rows: usize, state: &mut State, out: &mut [f32]) {
        match self {
            Dynamics::Affine { weight, bias } => {
                let inputs = weight.cols();
                let mut y = Matrix::zeros(rows, weight.rows());
                let x = MatView::new(input, rows, inputs);
                matmul(&mut y, x, weight.view().t(), 1.0, false, Threads::ONE);
                out.copy_from_slice(y.as_slice());
                if !bias.is_empty() {
                    for row in out.chunks_exact_mut(bias.len()) {
                        row.iter_mut().zip(bias).for_each(|(o, b)| *o += b);
                    }
                }
            }
            Dynamics::Scale(s) => {
                for (o, x) in out
                    .chunks_exact_mut(s.len())
                    .zip(input.chunks_exact(s.len()))
                {
                    o.iter_mut()
                        .zip(x)
                        .zip(s)
                        .for_each(|((o, x), s)| *o = s * x);
                }
            }
            Dynamics::Identity => out.copy_from_slice(input),
            Dynamics::Threshold(t) => {
                for (o, x) in out
                    .chunks_exact_mut(t.len())
                    .zip(input.chunks_exact(t.len()))
                {
                    for ((o, x), t) in o.iter_mut().zip(x).zip(t) {
                        *o = if x - t > 0.0 { 1.0 } else { 0.0 };
                    }
                }
            }
            Dynamics::Neuron(n) => n.step(input, state, out),
        }
    }
}

impl Neuron {
    /// One step of every (row, neuron): synaptic current, membrane, spike and reset.
    fn step(&self, input: &[f32], state: &mut State, out: &mut [f32]) {
        let n = self.keep.len();
        if state.v.len() != input.len() {
            state.v = self.v_init.repeat(input.len() / n);
            let syn = if self.keep_syn.is_empty() {
                0
            } else {
                input.len()
            };
            state.i_syn = vec![0.0; syn];
        }
        for (row, x) in input.chunks_exact(n).enumerate() {
            let at = row * n..(row + 1) * n;
            let v = &mut state.v[at.clone()];
            let o = &mut out[at.clone()];
            for j in 0..n {
                let current = if self.keep_syn.is_empty() {
                    x[j]
                } else {
                    let s = &mut state.i_syn[at.start + j];
                    *s = self.keep_syn[j] * *s + self.syn_gain[j] * x[j];
                    *s
                };
                v[j] = self.keep[j] * v[j] + self.mem_gain[j] * current + self.leak[j];
                if self.v_threshold.is_empty() {
                    o[j] = v[j];
                    continue;
                }
                let spike = v[j] > self.v_threshold[j];
                o[j] = if spike { 1.0 } else { 0.0 };
                if spike {
                    match self.reset {
                        Some(Reset::Subtract) => v[j] -= self.v_threshold[j],
                        _ => v[j] = self.v_reset[j],
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lif(method: Method, reset: Reset) -> Neuron {
        let (keep, gain) = decay(1e-3, 1e-4, method);
        Neuron {
            keep: vec![keep],
            mem_gain: vec![gain * 10.0],
            leak: vec![0.0],
            v_threshold: vec![1.0],
            v_reset: vec![0.0],
            v_init: vec![0.0],
            reset: Some(reset),
            ..Neuron::default()
        }
    }

    /// snnTorch's `Leaky(beta=0.9)` exports as tau = dt / (1 - beta), r = tau / dt: forward
    /// Euler then gives `v' = 0.9 v + I`.
    #[test]
    fn euler_lif_is_beta_decay_plus_input() {
        let n = lif(Method::Euler, Reset::Subtract);
        let mut s = State::default();
        let mut out = [0.0];
        n.step(&[0.5], &mut s, &mut out);
        assert!((s.v[0] - 0.5).abs() < 1e-6 && out[0] == 0.0);
        n.step(&[0.6], &mut s, &mut out);
        // 0.9 * 0.5 + 0.6 = 1.05 > 1: spike, subtract.
        assert_eq!(out[0], 1.0);
        assert!((s.v[0] - 0.05).abs() < 1e-6, "{}", s.v[0]);
    }

    #[test]
    fn exact_integration_reaches_the_steady_state_of_a_held_input() {
        let mut n = lif(Method::Exact, Reset::Value);
        n.v_threshold.clear();
        let mut s = State::default();
        let mut out = [0.0];
        for _ in 0..2000 {
            n.step(&[0.05], &mut s, &mut out);
        }
        // v_inf = r I = 0.5; one step moves exactly (1 - e^{-0.1}) of the way.
        assert!((out[0] - 0.5).abs() < 1e-5);
        let (keep, _) = decay(1e-3, 1e-4, Method::Exact);
        assert!((keep - (-0.1f32).exp()).abs() < 1e-7);
    }
}

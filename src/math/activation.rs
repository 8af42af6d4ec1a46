//! Activation functions `phi` of hidden layers and their derivatives.
//!
//! The output layer is linear (its values are logits for cross-entropy, or the prediction
//! itself for squared error); every hidden layer applies one [`Activation`].

use serde::{Deserialize, Serialize};

/// A pointwise nonlinearity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// `max(0, z)`; derivative 1 where `z > 0`, else 0.
    Relu,
    /// `1 / (1 + e^-z)`; derivative `s (1 - s)`.
    Sigmoid,
    /// `tanh z`; derivative `1 - tanh^2 z`.
    Tanh,
    /// `min(max(z, 0), 1)` (Scellier & Bengio 2017's rho); derivative 1 on `(0, 1)`, else 0.
    HardSigmoid,
    /// `1 / (1 + e^(-4 (z - 1/2)))`, the sigmoid of the C-EP paper (Ernoult et al. 2020):
    /// centred on 1/2 with slope 1 there; derivative `4 s (1 - s)`.
    ShiftedSigmoid,
}

impl Activation {
    /// `phi(z)` for one value.
    #[inline]
    pub fn apply(self, z: f32) -> f32 {
        match self {
            Activation::Relu => z.max(0.0),
            Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
            Activation::Tanh => z.tanh(),
            Activation::HardSigmoid => z.clamp(0.0, 1.0),
            Activation::ShiftedSigmoid => 1.0 / (1.0 + (-4.0 * (z - 0.5)).exp()),
        }
    }

    /// `phi'(z)` given `z` and `a = phi(z)` (whichever is cheaper is used).
    #[inline]
    pub fn derivative(self, z: f32, a: f32) -> f32 {
        match self {
            Activation::Relu => {
                if z > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Sigmoid => a * (1.0 - a),
            Activation::Tanh => 1.0 - a * a,
            Activation::HardSigmoid => {
                if z > 0.0 && z < 1.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::ShiftedSigmoid => 4.0 * a * (1.0 - a),
        }
    }

    /// `out[i] = phi(z[i])`.
    pub fn apply_slice(self, z: &[f32], out: &mut [f32]) {
        match self {
            // Written out so the compiler vectorises the common case.
            Activation::Relu => out.iter_mut().zip(z).for_each(|(o, &v)| *o = v.max(0.0)),
            _ => out.iter_mut().zip(z).for_each(|(o, &v)| *o = self.apply(v)),
        }
    }

    /// `g[i] *= phi'(z[i])`, with `a = phi(z)`.
    pub fn backprop_slice(self, z: &[f32], a: &[f32], g: &mut [f32]) {
        match self {
            Activation::Relu => g
                .iter_mut()
                .zip(z)
                .for_each(|(g, &v)| *g = if v > 0.0 { *g } else { 0.0 }),
            _ => g
                .iter_mut()
                .zip(z.iter().zip(a))
                .for_each(|(g, (&v, &av))| *g *= self.derivative(v, av)),
        }
    }

    /// Whether `phi` is bounded (equilibrium propagation's energy needs it).
    pub fn bounded(self) -> bool {
        !matches!(self, Activation::Relu)
    }

    /// The scenario name (`relu`, `sigmoid`, `tanh`, `hard-sigmoid`, `shifted-sigmoid`).
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::HardSigmoid => "hard-sigmoid",
            Activation::ShiftedSigmoid => "shifted-sigmoid",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivatives_match_finite_differences() {
        for act in [
            Activation::Relu,
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::HardSigmoid,
            Activation::ShiftedSigmoid,
        ] {
            for &z in &[-2.0f32, -0.3, 0.4, 0.7, 1.7] {
                let h = 1e-3;
                let fd = (act.apply(z + h) - act.apply(z - h)) / (2.0 * h);
                let d = act.derivative(z, act.apply(z));
                assert!((fd - d).abs() < 1e-3, "{act:?} at {z}: {fd} vs {d}");
            }
        }
        assert_eq!(Activation::Sigmoid.apply(0.0), 0.5);
        assert_eq!(Activation::ShiftedSigmoid.apply(0.5), 0.5);
        assert_eq!(Activation::HardSigmoid.apply(1.5), 1.0);
    }
}

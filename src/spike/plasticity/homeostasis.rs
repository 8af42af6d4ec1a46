//! A neuron's own homeostasis: the adaptive threshold `theta` (Diehl & Cook 2015), which
//! grows at each of the neuron's spikes and decays slowly, so a neuron that fires a lot
//! needs more input to fire again. (Per-neuron weight normalisation is
//! [`crate::spike::plasticity::DenseProjection::normalise`].)

/// An adaptive threshold per neuron: `theta <- theta exp(-dt / tau)` each tick, `theta +=
/// plus` at a spike while learning; the neuron's threshold is its base plus `theta`.
#[derive(Clone, Debug, PartialEq)]
pub struct AdaptiveThreshold {
    /// The current thresholds' increments, mV.
    pub theta: Vec<f32>,
    /// Increment per spike, mV.
    pub plus_mv: f32,
    /// Per-tick decay factor.
    decay: f32,
}

impl AdaptiveThreshold {
    /// `n` thresholds starting at `theta0_mv`, growing by `plus_mv` per spike and decaying
    /// with `tau_ms` (ticks of `dt_ms`).
    pub fn new(n: usize, theta0_mv: f32, plus_mv: f32, tau_ms: f32, dt_ms: f32) -> Self {
        AdaptiveThreshold {
            theta: vec![theta0_mv; n],
            plus_mv,
            decay: (-dt_ms / tau_ms).exp(),
        }
    }

    /// One tick of decay (held fixed when not learning, as Diehl & Cook test with fixed
    /// thresholds).
    pub fn decay(&mut self, learn: bool) {
        if learn {
            let f = self.decay;
            self.theta.iter_mut().for_each(|t| *t *= f);
        }
    }

    /// The neurons `fired` spiked: each one's theta grows (when learning).
    pub fn spiked(&mut self, fired: &[u32], learn: bool) {
        if learn {
            for &j in fired {
                self.theta[j as usize] += self.plus_mv;
            }
        }
    }
}

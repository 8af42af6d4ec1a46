//! `[cuba]`: the CUBA spiking network's keys as written, their rules, and the
//! [`CubaConfig`] of `models::cuba` they resolve to.

use serde::{Deserialize, Serialize};

use super::{fmt_f64, invalid, ScenarioError};
use crate::models::cuba::CubaConfig;

/// `[cuba]`: the CUBA network, for `algorithm.kind = "cuba"` (`scenarios/cuba.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CubaSection {
    /// Neurons (the first 80 % excitatory). Default 4000.
    pub neurons: usize,
    /// Connection probability of every ordered pair. Default 0.02.
    pub p_connect: f64,
    /// Excitatory weight, mV added to `ge`. Default 1.62.
    pub we_mv: f64,
    /// Inhibitory weight, mV added to `gi`. Default -9.
    pub wi_mv: f64,
    /// Simulated time, ms. Default 1000.
    pub duration_ms: f64,
}

impl Default for CubaSection {
    /// The model's own defaults ([`CubaConfig::default`]).
    fn default() -> Self {
        let c = CubaConfig::default();
        Self {
            neurons: c.neurons,
            p_connect: c.p_connect,
            we_mv: c.we_mv,
            wi_mv: c.wi_mv,
            duration_ms: c.duration_ms,
        }
    }
}

impl CubaSection {
    /// Checks `[cuba]`: enough neurons for both populations, a probability, finite weights, a
    /// duration, and a network any machine can hold.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let c = self;
        if c.neurons < 5 {
            return Err(invalid(
                "cuba.neurons",
                c.neurons,
                "must be >= 5 (80 % excitatory, 20 % inhibitory)",
            ));
        }
        if !(c.p_connect.is_finite() && c.p_connect > 0.0 && c.p_connect < 1.0) {
            return Err(invalid(
                "cuba.p_connect",
                fmt_f64(c.p_connect),
                "must be a probability in (0, 1)",
            ));
        }
        let expected = (c.neurons as f64).powi(2) * c.p_connect;
        if c.neurons > 10_000_000 || expected > 1e9 {
            return Err(invalid(
                "cuba.neurons",
                c.neurons,
                &format!(
                    "with p_connect {} that is {expected:.2e} synapses; at most 10,000,000 \
                     neurons and 1e9 expected synapses (4 bytes each)",
                    fmt_f64(c.p_connect)
                ),
            ));
        }
        for (key, v) in [("cuba.we_mv", c.we_mv), ("cuba.wi_mv", c.wi_mv)] {
            if !(v.is_finite() && v.abs() < 1e3) {
                return Err(invalid(
                    key,
                    fmt_f64(v),
                    "must be a finite weight in mV (|w| < 1000)",
                ));
            }
        }
        if !(c.duration_ms.is_finite() && c.duration_ms >= 0.1 && c.duration_ms <= 3.6e6) {
            return Err(invalid(
                "cuba.duration_ms",
                fmt_f64(c.duration_ms),
                "must be a simulated time in ms between 0.1 (one tick) and 3600000",
            ));
        }
        Ok(())
    }

    /// The model's configuration these keys describe.
    pub fn config(&self) -> CubaConfig {
        CubaConfig {
            neurons: self.neurons,
            p_connect: self.p_connect,
            we_mv: self.we_mv,
            wi_mv: self.wi_mv,
            duration_ms: self.duration_ms,
            plasticity: None,
            probes: Default::default(),
        }
    }
}

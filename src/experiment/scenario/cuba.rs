//! `[cuba]`: the CUBA spiking network's keys are [`CubaConfig`]'s (in `models::cuba`); their
//! rules live here, with the other sections'.

use super::{fmt_f64, invalid, ScenarioError};
use crate::models::cuba::CubaConfig;

/// Checks `[cuba]`: enough neurons for both populations, a probability, finite weights, a
/// duration, and a network any machine can hold.
pub fn validate(c: &CubaConfig) -> Result<(), ScenarioError> {
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

//! `[microcircuit]`: the cortical microcircuit's keys are [`MicrocircuitConfig`]'s (in
//! `models::microcircuit`); their rules live here, with the other sections'.

use super::algorithm::AlgorithmKind;
use super::{fmt_f64, invalid, ScenarioError};
use crate::models::microcircuit::MicrocircuitConfig;

/// Checks `[microcircuit]`: a positive finite scale, a duration and a transient inside it,
/// delays of at least one tick; and, when the scenario runs it, a network that fits in the
/// machine's memory (estimated from the scale before anything is allocated).
pub fn validate(c: &MicrocircuitConfig, kind: AlgorithmKind) -> Result<(), ScenarioError> {
    if !(c.scale.is_finite() && c.scale > 0.0 && c.scale <= 10.0) {
        return Err(invalid(
            "microcircuit.scale",
            fmt_f64(c.scale),
            "must be a finite scale in (0, 10] (1 is the full 77,169-neuron model)",
        ));
    }
    if !(c.duration_ms.is_finite() && c.duration_ms >= 0.1 && c.duration_ms <= 3.6e6) {
        return Err(invalid(
            "microcircuit.duration_ms",
            fmt_f64(c.duration_ms),
            "must be a simulated time in ms between 0.1 (one tick) and 3600000",
        ));
    }
    if !(c.transient_ms.is_finite() && c.transient_ms >= 0.0 && c.transient_ms < c.duration_ms) {
        return Err(invalid(
            "microcircuit.transient_ms",
            fmt_f64(c.transient_ms),
            "must be a time in ms >= 0 and below microcircuit.duration_ms",
        ));
    }
    for (key, v) in [
        ("microcircuit.delay_e_ms", c.delay_e_ms),
        ("microcircuit.delay_i_ms", c.delay_i_ms),
    ] {
        if !(v.is_finite() && (0.1..=100.0).contains(&v)) {
            return Err(invalid(
                key,
                fmt_f64(v),
                "must be a mean delay in ms between 0.1 (one tick, the resolution) and 100",
            ));
        }
    }
    if kind == AlgorithmKind::Microcircuit {
        check_fits(c)?;
    }
    Ok(())
}

/// The network's estimated size against the memory the machine has left.
fn check_fits(c: &MicrocircuitConfig) -> Result<(), ScenarioError> {
    let m = c.model();
    let synapses = m.total_synapses();
    // Delays beyond mean + 8 sd (sd = mean / 2) are vanishingly rare.
    let max_delay_ticks = (c.delay_e_ms.max(c.delay_i_ms) * 5.0 / 0.1).ceil() as u64;
    let need = m.estimated_bytes(max_delay_ticks);
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    if let Some(free) = crate::runtime::memory::available_bytes() {
        if need > free {
            return Err(invalid(
                "microcircuit.scale",
                fmt_f64(c.scale),
                &format!(
                    "needs about {:.1} GiB ({} neurons, {} synapses at 10 bytes each) but \
                     this machine has {:.1} GiB available; lower the scale",
                    gib(need),
                    m.total_neurons(),
                    synapses,
                    gib(free)
                ),
            ));
        }
    }
    if synapses > u64::from(u32::MAX) {
        return Err(invalid(
            "microcircuit.scale",
            fmt_f64(c.scale),
            &format!("gives {synapses} synapses; a shard indexes at most 4,294,967,295"),
        ));
    }
    Ok(())
}

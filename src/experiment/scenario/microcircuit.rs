//! `[microcircuit]`: the cortical microcircuit's keys as written, their rules (memory
//! included), and the [`MicrocircuitConfig`] of `models::microcircuit` they resolve to.

use serde::{Deserialize, Serialize};

use super::algorithm::AlgorithmKind;
use super::{fmt_f64, invalid, ScenarioError};
use crate::models::microcircuit::{DriveKind, MicrocircuitConfig};

/// How the network is driven from outside (`microcircuit.drive`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Drive {
    /// Independent Poisson spikes at 8 Hz through each neuron's external synapses.
    Poisson,
    /// The constant current with the same mean.
    Dc,
}

impl Drive {
    /// The model's drive.
    pub fn kind(self) -> DriveKind {
        match self {
            Drive::Poisson => DriveKind::Poisson,
            Drive::Dc => DriveKind::Dc,
        }
    }

    /// The key's value for the model's drive.
    fn of(kind: DriveKind) -> Self {
        match kind {
            DriveKind::Poisson => Drive::Poisson,
            DriveKind::Dc => Drive::Dc,
        }
    }
}

/// `[microcircuit]`: the cortical microcircuit, for `algorithm.kind = "microcircuit"`
/// (`scenarios/microcircuit.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MicrocircuitSection {
    /// Scale of neuron numbers and in-degrees (1 = 77,169 neurons, 0.3e9 synapses; weights
    /// grow as 1/sqrt(scale) and a DC current makes up the lost mean input). Default 1.
    pub scale: f64,
    /// Simulated time, ms. Default 1000.
    pub duration_ms: f64,
    /// Start of the measurement (rates, CV, synchrony), ms. Default 100.
    pub transient_ms: f64,
    /// `poisson` | `dc`. Default `poisson`.
    pub drive: Drive,
    /// Mean delay of excitatory synapses, ms. Default 1.5.
    pub delay_e_ms: f64,
    /// Mean delay of inhibitory synapses, ms. Default 0.75.
    pub delay_i_ms: f64,
}

impl Default for MicrocircuitSection {
    /// The model's own defaults ([`MicrocircuitConfig::default`]).
    fn default() -> Self {
        let c = MicrocircuitConfig::default();
        Self {
            scale: c.scale,
            duration_ms: c.duration_ms,
            transient_ms: c.transient_ms,
            drive: Drive::of(c.drive),
            delay_e_ms: c.delay_e_ms,
            delay_i_ms: c.delay_i_ms,
        }
    }
}

impl MicrocircuitSection {
    /// Checks `[microcircuit]`: a positive finite scale, a duration and a transient inside it,
    /// delays of at least one tick; and, when the scenario runs it, a network that fits in the
    /// machine's memory (estimated from the scale before anything is allocated).
    pub fn validate(&self, kind: AlgorithmKind) -> Result<(), ScenarioError> {
        let c = self;
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
        if !(c.transient_ms.is_finite() && c.transient_ms >= 0.0 && c.transient_ms < c.duration_ms)
        {
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
            c.check_fits()?;
        }
        Ok(())
    }

    /// The network's estimated size against the memory the machine has left.
    fn check_fits(&self) -> Result<(), ScenarioError> {
        let c = self;
        let m = c.config().model();
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
                        "needs about {:.1} GiB ({} neurons, {} synapses at up to 10 bytes each) but \
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

    /// The model's configuration these keys describe.
    pub fn config(&self) -> MicrocircuitConfig {
        MicrocircuitConfig {
            scale: self.scale,
            duration_ms: self.duration_ms,
            transient_ms: self.transient_ms,
            drive: self.drive.kind(),
            delay_e_ms: self.delay_e_ms,
            delay_i_ms: self.delay_i_ms,
            plasticity: None,
            probes: Default::default(),
        }
    }
}

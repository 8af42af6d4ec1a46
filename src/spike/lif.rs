//! The leaky integrate-and-fire (LIF) neuron with current-based exponential synapses, as pure
//! functions on arrays of neuron state, integrated exactly over a fixed tick.
//!
//! Model (the CUBA network of Brette et al. 2007): `tau_m dv/dt = -(v - v_rest) + ge + gi`,
//! `dge/dt = -ge / tau_e`, `dgi/dt = -gi / tau_i` (the synaptic currents are in volts, already
//! multiplied by the resistance). Over a tick `dt` with no spike arriving the system is linear
//! and solved exactly:
//! ```text
//! v'  = v_rest + (v - v_rest) e^{-dt/tau_m} + ge ce + gi ci,   cx = tau_x / (tau_x - tau_m) (e^{-dt/tau_x} - e^{-dt/tau_m})
//! ge' = ge e^{-dt/tau_e},  gi' = gi e^{-dt/tau_i}
//! ```
//! A neuron fires when `v > v_threshold` after the update, and is then reset (to `v_reset`, or
//! by subtracting the threshold's distance) and held for `refractory_ticks` ticks (its `v` is
//! not integrated; `ge` and `gi` keep decaying). All voltages are in millivolts and all times in
//! milliseconds; the names say so.

use serde::{Deserialize, Serialize};

/// How a neuron resets after a spike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reset {
    /// `v = v_reset_mv`.
    ToValue,
    /// `v -= v_threshold_mv - v_reset_mv` (keeps the overshoot: the rate code of conversion).
    Subtract,
}

/// Parameters of a LIF population.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LifParams {
    /// Membrane time constant, ms (> 0).
    pub tau_m_ms: f64,
    /// Excitatory synaptic time constant, ms (> 0, != tau_m_ms).
    pub tau_e_ms: f64,
    /// Inhibitory synaptic time constant, ms (> 0, != tau_m_ms).
    pub tau_i_ms: f64,
    /// Resting (leak reversal) potential, mV.
    pub v_rest_mv: f64,
    /// Threshold, mV: a neuron fires when `v > v_threshold_mv`.
    pub v_threshold_mv: f64,
    /// Reset potential, mV.
    pub v_reset_mv: f64,
    /// Refractory period, ms (>= 0).
    pub refractory_ms: f64,
    /// Tick, ms (> 0).
    pub dt_ms: f64,
    /// Reset rule.
    pub reset: Reset,
}

/// What is wrong with LIF parameters.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("LIF parameter {name} = {value}: {rule}")]
pub struct LifError {
    /// The parameter.
    pub name: &'static str,
    /// Its value.
    pub value: f64,
    /// What is allowed.
    pub rule: &'static str,
}

impl LifParams {
    /// A synaptic current `current_pa` (pA) as the jump of `ge`/`gi` it causes, in mV:
    /// `I * tau_m / C_m` (pA x ms / pF = mV).
    pub fn current_to_mv(&self, c_m_pf: f64, current_pa: f64) -> f64 {
        current_pa * self.tau_m_ms / c_m_pf
    }

    /// The excitatory current jump (pA) whose post-synaptic potential peaks at `psp_mv`, for a
    /// membrane of capacitance `c_m_pf` (the PyNEST example's
    /// `postsynaptic_potential_to_current`): the PSP of a jump `J` is
    /// `J / C_m * tau_m tau_s / (tau_s - tau_m) * (e^{-t/tau_s} - e^{-t/tau_m})`, which peaks at
    /// `t* = tau_m tau_s / (tau_m - tau_s) * ln(tau_m / tau_s)`. 0.15 mV on the microcircuit's
    /// neurons is 87.81 pA.
    pub fn psc_for_psp(&self, c_m_pf: f64, psp_mv: f64) -> f64 {
        let (tm, ts) = (self.tau_m_ms, self.tau_e_ms);
        let sub = 1.0 / (ts - tm);
        let pre = tm * ts / c_m_pf * sub;
        let frac = (tm / ts).powf(sub);
        psp_mv / (pre * (frac.powf(tm) - frac.powf(ts)))
    }

    /// Checks every parameter (finite, positive where a time, time constants distinct).
    pub fn validate(&self) -> Result<(), LifError> {
        let bad = |name, value, rule| Err(LifError { name, value, rule });
        for (name, v) in [
            ("tau_m_ms", self.tau_m_ms),
            ("tau_e_ms", self.tau_e_ms),
            ("tau_i_ms", self.tau_i_ms),
            ("dt_ms", self.dt_ms),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(name, v, "must be a finite time in ms > 0");
            }
        }
        for (name, v) in [("tau_e_ms", self.tau_e_ms), ("tau_i_ms", self.tau_i_ms)] {
            if (v - self.tau_m_ms).abs() < 1e-12 {
                return bad(
                    name,
                    v,
                    "must differ from tau_m_ms (the exact solution divides by the difference)",
                );
            }
        }
        for (name, v) in [
            ("v_rest_mv", self.v_rest_mv),
            ("v_threshold_mv", self.v_threshold_mv),
            ("v_reset_mv", self.v_reset_mv),
        ] {
            if !v.is_finite() {
                return bad(name, v, "must be a finite voltage in mV");
            }
        }
        if self.v_reset_mv >= self.v_threshold_mv {
            return bad(
                "v_reset_mv",
                self.v_reset_mv,
                "must be below v_threshold_mv",
            );
        }
        if !(self.refractory_ms.is_finite() && self.refractory_ms >= 0.0) {
            return bad(
                "refractory_ms",
                self.refractory_ms,
                "must be a finite time in ms >= 0",
            );
        }
        Ok(())
    }

    /// Ticks a neuron is held after a spike: the ticks `n + 1 .. n + k` for a spike at `n`,
    /// where `k = round(refractory / dt) - 1` (a tick is integrated once `t - t_spike >=
    /// refractory`, Brian2's rule).
    pub fn refractory_ticks(&self) -> u32 {
        ((self.refractory_ms / self.dt_ms).round() as u32).saturating_sub(1)
    }

    /// The per-tick constants of the exact solution.
    pub fn propagator(&self) -> Propagator {
        let em = (-self.dt_ms / self.tau_m_ms).exp();
        let ee = (-self.dt_ms / self.tau_e_ms).exp();
        let ei = (-self.dt_ms / self.tau_i_ms).exp();
        let ce = self.tau_e_ms / (self.tau_e_ms - self.tau_m_ms) * (ee - em);
        let ci = self.tau_i_ms / (self.tau_i_ms - self.tau_m_ms) * (ei - em);
        let (em32, ee32, ei32) = (em as f32, ee as f32, ei as f32);
        Propagator {
            peak_e: quiet::peak_response(em32, ee32, ce as f32),
            peak_i: quiet::peak_response(em32, ei32, ci as f32),
            em: em32,
            ee: ee32,
            ei: ei32,
            ce: ce as f32,
            ci: ci as f32,
            v_rest: self.v_rest_mv as f32,
            v_threshold: self.v_threshold_mv as f32,
            v_reset: self.v_reset_mv as f32,
            subtract: self.reset == Reset::Subtract,
            refractory: self.refractory_ticks(),
            ticks_per_neper: f64::from(em32) / (1.0 - f64::from(em32)),
        }
    }
}

/// The constants of one exact tick.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Propagator {
    em: f32,
    ee: f32,
    ei: f32,
    ce: f32,
    ci: f32,
    v_rest: f32,
    v_threshold: f32,
    v_reset: f32,
    subtract: bool,
    refractory: u32,
    /// Largest rise of `v` that one mV of `ge` (of `gi`) left alone can cause, over any
    /// number of ticks (see [`Propagator::quiet_ticks`]).
    peak_e: f32,
    peak_i: f32,
    /// `em / (1 - em)` in double precision: quiet ticks per unit of `-ln` (an upper bound
    /// on `1 / -ln em`), so that [`Propagator::quiet_ticks`] does not divide by it.
    ticks_per_neper: f64,
}

/// The state of a population, one entry per neuron (struct of arrays).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LifState {
    /// Membrane potential, mV.
    pub v_mv: Vec<f32>,
    /// Excitatory synaptic current (as a voltage), mV.
    pub ge_mv: Vec<f32>,
    /// Inhibitory synaptic current (as a voltage), mV.
    pub gi_mv: Vec<f32>,
    /// Ticks of refractoriness left.
    pub hold: Vec<u32>,
}

impl LifState {
    /// The first value that is not finite, by variable (`v`, `ge`, `gi`), if any.
    pub fn first_non_finite(&self) -> Option<(&'static str, f32)> {
        [
            ("membrane potential v (mV)", &self.v_mv),
            ("excitatory current ge (mV)", &self.ge_mv),
            ("inhibitory current gi (mV)", &self.gi_mv),
        ]
        .into_iter()
        .find_map(|(what, xs)| xs.iter().find(|x| !x.is_finite()).map(|&x| (what, x)))
    }

    /// `n` neurons at `v_mv` with no synaptic current.
    pub fn new(n: usize, v_mv: f32) -> Self {
        Self {
            v_mv: vec![v_mv; n],
            ge_mv: vec![0.0; n],
            gi_mv: vec![0.0; n],
            hold: vec![0; n],
        }
    }

    /// Neurons in the population.
    pub fn len(&self) -> usize {
        self.v_mv.len()
    }

    /// Whether the population is empty.
    pub fn is_empty(&self) -> bool {
        self.v_mv.is_empty()
    }
}

/// The state of one neuron (what [`LifState`] holds per entry), for a neuron that is its own
/// actor: four numbers inline, no allocation.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LifNeuron {
    /// Membrane potential, mV.
    pub v_mv: f32,
    /// Excitatory synaptic current (as a voltage), mV.
    pub ge_mv: f32,
    /// Inhibitory synaptic current (as a voltage), mV.
    pub gi_mv: f32,
    /// Ticks of refractoriness left.
    pub hold: u32,
}

impl LifNeuron {
    /// A neuron at `v_mv` with no synaptic current.
    pub fn new(v_mv: f32) -> Self {
        Self {
            v_mv,
            ..Self::default()
        }
    }

    /// The first value that is not finite, by variable, if any (as [`LifState`] names them).
    pub fn first_non_finite(&self) -> Option<(&'static str, f32)> {
        [
            ("membrane potential v (mV)", self.v_mv),
            ("excitatory current ge (mV)", self.ge_mv),
            ("inhibitory current gi (mV)", self.gi_mv),
        ]
        .into_iter()
        .find(|(_, x)| !x.is_finite())
    }
}

impl Propagator {
    /// The same tick with neurons held `ticks` ticks after a spike (NEST's `iaf_psc_exp`
    /// holds `round(t_ref / dt)`, one more than [`LifParams::refractory_ticks`]'s rule).
    pub fn with_refractory_ticks(mut self, ticks: u32) -> Self {
        self.refractory = ticks;
        self
    }

    /// Advances one neuron by one tick with no extra input; returns whether it fired. The
    /// same arithmetic, in the same order, as [`Propagator::tick`] on a population, so a
    /// neuron stepped alone follows the same trajectory bit for bit.
    #[inline]
    pub fn step(&self, n: &mut LifNeuron) -> bool {
        let next = self.v_rest
            + (n.v_mv - self.v_rest) * self.em
            + n.ge_mv * self.ce
            + n.gi_mv * self.ci
            + 0.0 * (1.0 - self.em);
        n.v_mv = if n.hold > 0 { n.v_mv } else { next };
        n.hold = n.hold.saturating_sub(1);
        n.ge_mv *= self.ee;
        n.gi_mv *= self.ei;
        if n.v_mv > self.v_threshold {
            n.v_mv = if self.subtract {
                n.v_mv - (self.v_threshold - self.v_reset)
            } else {
                self.v_reset
            };
            n.hold = self.refractory;
            return true;
        }
        false
    }

    /// Advances every neuron by one tick with a constant extra input `drive_mv[i]` added to
    /// the membrane equation's target (`tau_m dv/dt = -(v - v_rest) + ge + gi + drive`; empty
    /// for none), then fires, resets and starts refractoriness; pushes `offset + i` of every
    /// neuron that fired to `fired`.
    pub fn tick(&self, s: &mut LifState, drive_mv: &[f32], offset: u32, fired: &mut Vec<u32>) {
        tick(self, s, drive_mv, offset, fired);
    }
}

/// [`Propagator::tick`]: an integration pass, branch-free so that it vectorises, then a
/// threshold pass that looks at a block of 16 neurons only when one of its `v` is above
/// threshold (spikes are rare: a few per tick among thousands of neurons).
#[inline(always)]
fn tick_body(
    p: &Propagator,
    s: &mut LifState,
    drive_mv: &[f32],
    offset: u32,
    fired: &mut Vec<u32>,
) {
    let one_minus_em = 1.0 - p.em;
    let n = s.len();
    let (v, ge, gi, hold) = (
        &mut s.v_mv[..n],
        &mut s.ge_mv[..n],
        &mut s.gi_mv[..n],
        &mut s.hold[..n],
    );
    for i in 0..n {
        let d = if drive_mv.is_empty() {
            0.0
        } else {
            drive_mv[i]
        };
        let next =
            p.v_rest + (v[i] - p.v_rest) * p.em + ge[i] * p.ce + gi[i] * p.ci + d * one_minus_em;
        v[i] = if hold[i] > 0 { v[i] } else { next };
        hold[i] = hold[i].saturating_sub(1);
        ge[i] *= p.ee;
        gi[i] *= p.ei;
    }
    const BLOCK: usize = 16;
    for (b, block) in v.chunks_mut(BLOCK).enumerate() {
        // An OR of comparisons (associative, unlike a float max): one vector compare per block.
        let above = block
            .iter()
            .fold(0u32, |a, &x| a | u32::from(x > p.v_threshold));
        if above == 0 {
            continue;
        }
        for (k, x) in block.iter_mut().enumerate() {
            if *x > p.v_threshold {
                let i = b * BLOCK + k;
                fired.push(offset + i as u32);
                *x = if p.subtract {
                    *x - (p.v_threshold - p.v_reset)
                } else {
                    p.v_reset
                };
                hold[i] = p.refractory;
            }
        }
    }
}

/// Runs [`tick_body`] compiled for the best instruction set present (the same arithmetic on
/// every path: Rust does not fuse multiply-adds, so results are identical).
fn tick(p: &Propagator, s: &mut LifState, drive_mv: &[f32], offset: u32, fired: &mut Vec<u32>) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        fn wide(p: &Propagator, s: &mut LifState, d: &[f32], o: u32, f: &mut Vec<u32>) {
            tick_body(p, s, d, o, f)
        }
        #[target_feature(enable = "avx2")]
        fn mid(p: &Propagator, s: &mut LifState, d: &[f32], o: u32, f: &mut Vec<u32>) {
            tick_body(p, s, d, o, f)
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F was just detected.
            return unsafe { wide(p, s, drive_mv, offset, fired) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 was just detected.
            return unsafe { mid(p, s, drive_mv, offset, fired) };
        }
    }
    tick_body(p, s, drive_mv, offset, fired)
}

mod quiet;

#[cfg(test)]
pub(crate) mod tests;

//! The conductance-based LIF neuron (COBA): synaptic input opens excitatory and inhibitory
//! conductances that pull the membrane toward their reversal potentials, as Diehl & Cook
//! (2015) use. [`CobaParams`] are the constants, [`CobaState`] a group's state, and
//! [`CobaParams::step`] one forward-Euler tick of a group:
//!
//! ```text
//! tau_m dv/dt = (v_rest - v) + ge (E_exc - v) + gi (E_inh - v)     (held while refractory)
//! tau_ge dge/dt = -ge,  tau_gi dgi/dt = -gi
//! ```
//!
//! `ge` and `gi` are dimensionless (in units of the leak conductance); a spike through a
//! synapse of weight `w` adds `w`. Where a step would overshoot (`dt (1 + ge + gi) / tau_m > 1`,
//! for example many inhibitory spikes in one tick), `v` goes to the potential the conductances
//! pull toward, `(v_rest + ge E_exc + gi E_inh) / (1 + ge + gi)`, instead: forward Euler diverges
//! past 2. A neuron fires when `v` exceeds its threshold (the base
//! plus a per-neuron shift such as an adaptive `theta`), it is not refractory, and at least
//! `lockout_ms` have passed since its last spike; then `v` is reset.

use serde::Serialize;

/// The constants of a group of conductance-based LIF neurons.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CobaParams {
    /// Membrane time constant, ms.
    pub tau_m_ms: f32,
    /// Resting potential, mV.
    pub v_rest_mv: f32,
    /// Reset potential, mV.
    pub v_reset_mv: f32,
    /// Base threshold, mV (a per-neuron shift is added).
    pub v_threshold_mv: f32,
    /// Excitatory reversal potential, mV.
    pub e_exc_mv: f32,
    /// Inhibitory reversal potential, mV.
    pub e_inh_mv: f32,
    /// Excitatory conductance time constant, ms.
    pub tau_ge_ms: f32,
    /// Inhibitory conductance time constant, ms.
    pub tau_gi_ms: f32,
    /// Refractory period (membrane held at reset), ms.
    pub refractory_ms: f32,
    /// No spike until this long after the last one, ms (0: only the refractory period).
    pub lockout_ms: f32,
    /// Tick, ms.
    pub dt_ms: f32,
}

/// A group's state.
#[derive(Clone, Debug, PartialEq)]
pub struct CobaState {
    /// Membrane potentials, mV.
    pub v_mv: Vec<f32>,
    /// Excitatory conductances.
    pub ge: Vec<f32>,
    /// Inhibitory conductances.
    pub gi: Vec<f32>,
    /// Ticks since each neuron's last spike (saturating; large at the start).
    pub since: Vec<u32>,
}

impl CobaState {
    /// `n` neurons at `v0_mv`, no conductance, none refractory.
    pub fn new(n: usize, v0_mv: f32) -> Self {
        CobaState {
            v_mv: vec![v0_mv; n],
            ge: vec![0.0; n],
            gi: vec![0.0; n],
            since: vec![u32::MAX / 2; n],
        }
    }

    /// Neurons.
    pub fn len(&self) -> usize {
        self.v_mv.len()
    }

    /// Whether the group is empty.
    pub fn is_empty(&self) -> bool {
        self.v_mv.is_empty()
    }

    /// The first non-finite value: (what, value).
    pub fn first_non_finite(&self) -> Option<(&'static str, f32)> {
        [("v", &self.v_mv), ("ge", &self.ge), ("gi", &self.gi)]
            .into_iter()
            .find_map(|(what, xs)| xs.iter().find(|x| !x.is_finite()).map(|&x| (what, x)))
    }
}

/// Values below this are zero: a decaying conductance or trace would otherwise spend
/// thousands of ticks in the subnormal range, where every multiplication costs about a
/// hundred cycles, to contribute less than `1e-20` of a spike.
pub const TINY: f32 = 1e-20;

/// `x`, or 0 when `|x| <` [`TINY`].
#[inline]
pub fn flush(x: f32) -> f32 {
    if x.abs() < TINY {
        0.0
    } else {
        x
    }
}

/// The constants of one forward-Euler tick.
struct Euler {
    base: f32,
    ready: u32,
    k: f32,
    fe: f32,
    fi: f32,
    refractory: u32,
    rest: f32,
    e_exc: f32,
    e_inh: f32,
}

/// The integration loop, compiled for the widest vector instructions the machine has (the
/// same numbers on each: Rust never fuses a multiply and an add on its own).
mod euler {
    use super::{flush, Euler};

    /// The integration loop; returns whether any neuron may fire (its new `v` is above its
    /// threshold, `c.base` plus `shift[j]`, and it is ready), as one vectorised reduction.
    #[inline(always)]
    fn tick_loop(v: &mut [f32], rest: Rest<'_>, shift: &[f32], c: &Euler) -> bool {
        if shift.is_empty() {
            tick_loop_by::<false>(v, rest, shift, c)
        } else {
            tick_loop_by::<true>(v, rest, shift, c)
        }
    }

    /// [`tick_loop`] with (`SHIFTED`) or without per-neuron threshold shifts.
    #[inline(always)]
    fn tick_loop_by<const SHIFTED: bool>(
        v: &mut [f32],
        (ge, gi, since): Rest<'_>,
        shift: &[f32],
        c: &Euler,
    ) -> bool {
        let n = v.len();
        let (ge, gi, since) = (&mut ge[..n], &mut gi[..n], &mut since[..n]);
        let shift = if SHIFTED { &shift[..n] } else { &[][..] };
        let mut any = 0u32;
        for j in 0..n {
            let (x, g_e, g_i) = (v[j], ge[j], gi[j]);
            let t = since[j].saturating_add(1);
            since[j] = t;
            ge[j] = flush(g_e * c.fe);
            gi[j] = flush(g_i * c.fi);
            let dv = (c.rest - x) + g_e * (c.e_exc - x) + g_i * (c.e_inh - x);
            // Forward Euler, unless the step would overshoot the potential the conductances
            // pull toward (dt (1 + ge + gi) / tau_m > 1; past 2 Euler diverges): then that
            // potential itself, the step's limit.
            let g = 1.0 + g_e + g_i;
            let equilibrium = (c.rest + g_e * c.e_exc + g_i * c.e_inh) / g;
            let moved = if c.k * g > 1.0 {
                equilibrium
            } else {
                x + c.k * dv
            };
            let v_new = if t > c.refractory { moved } else { x };
            v[j] = v_new;
            let threshold = if SHIFTED { c.base + shift[j] } else { c.base };
            any |= u32::from(v_new > threshold) & u32::from(t > c.ready);
        }
        any != 0
    }

    /// The state a tick changes besides `v`: `ge`, `gi`, ticks since the last spike.
    pub(super) type Rest<'a> = (&'a mut [f32], &'a mut [f32], &'a mut [u32]);

    /// One tick of every neuron; whether any may fire.
    pub(super) fn tick(v: &mut [f32], rest: Rest<'_>, shift: &[f32], c: &Euler) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f")]
            fn wide(v: &mut [f32], rest: Rest<'_>, shift: &[f32], c: &Euler) -> bool {
                tick_loop(v, rest, shift, c)
            }
            #[target_feature(enable = "avx2")]
            fn mid(v: &mut [f32], rest: Rest<'_>, shift: &[f32], c: &Euler) -> bool {
                tick_loop(v, rest, shift, c)
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: AVX-512F was just detected.
                return unsafe { wide(v, rest, shift, c) };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 was just detected.
                return unsafe { mid(v, rest, shift, c) };
            }
        }
        tick_loop(v, rest, shift, c)
    }
}

impl CobaParams {
    /// One tick of every neuron: integrates (forward Euler, every right-hand side from the
    /// old values), then fires and resets, pushing the firing neurons' indices to `fired`.
    /// `shift_mv`: per-neuron threshold shifts (empty: none).
    pub fn step(&self, s: &mut CobaState, shift_mv: &[f32], fired: &mut Vec<u32>) {
        if !self.integrate(s, shift_mv) {
            return;
        }
        let refractory = (self.refractory_ms / self.dt_ms).round() as u32;
        let lockout = (self.lockout_ms / self.dt_ms).floor() as u32;
        let ready = refractory.max(lockout);
        let base = self.v_threshold_mv;
        let n = s.v_mv.len();
        let (v, since) = (&mut s.v_mv[..n], &mut s.since[..n]);
        for j in 0..n {
            let threshold = base + shift_mv.get(j).copied().unwrap_or(0.0);
            if v[j] > threshold && since[j] > ready {
                v[j] = self.v_reset_mv;
                since[j] = 0;
                fired.push(j as u32);
            }
        }
    }

    /// The integration half of [`CobaParams::step`]: one forward-Euler tick of `v` (held
    /// while refractory), `ge` and `gi`, and the ticks since each neuron's last spike; whether
    /// any neuron crossed its threshold while ready.
    fn integrate(&self, s: &mut CobaState, shift_mv: &[f32]) -> bool {
        let refractory = (self.refractory_ms / self.dt_ms).round() as u32;
        let lockout = (self.lockout_ms / self.dt_ms).floor() as u32;
        let c = Euler {
            base: self.v_threshold_mv,
            ready: refractory.max(lockout),
            k: self.dt_ms / self.tau_m_ms,
            fe: 1.0 - self.dt_ms / self.tau_ge_ms,
            fi: 1.0 - self.dt_ms / self.tau_gi_ms,
            refractory: (self.refractory_ms / self.dt_ms).round() as u32,
            rest: self.v_rest_mv,
            e_exc: self.e_exc_mv,
            e_inh: self.e_inh_mv,
        };
        let n = s.v_mv.len();
        let rest = (&mut s.ge[..n], &mut s.gi[..n], &mut s.since[..n]);
        euler::tick(&mut s.v_mv, rest, shift_mv, &c)
    }

    /// Checks the constants: finite, time constants and the tick > 0, no negative period.
    pub fn validate(&self) -> Result<(), String> {
        let taus = [
            ("tau_m_ms", self.tau_m_ms),
            ("tau_ge_ms", self.tau_ge_ms),
            ("tau_gi_ms", self.tau_gi_ms),
            ("dt_ms", self.dt_ms),
        ];
        for (key, tau) in taus {
            if !(tau.is_finite() && tau > 0.0) {
                return Err(format!("{key} = {tau}: must be finite and > 0"));
            }
        }
        let rest = [
            ("v_rest_mv", self.v_rest_mv),
            ("v_reset_mv", self.v_reset_mv),
            ("v_threshold_mv", self.v_threshold_mv),
            ("e_exc_mv", self.e_exc_mv),
            ("e_inh_mv", self.e_inh_mv),
            ("refractory_ms", self.refractory_ms),
            ("lockout_ms", self.lockout_ms),
        ];
        for (key, x) in rest {
            if !x.is_finite() || (key.ends_with("_ms") && x < 0.0) {
                return Err(format!(
                    "{key} = {x}: must be finite (and >= 0 for a period)"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> CobaParams {
        CobaParams {
            tau_m_ms: 100.0,
            v_rest_mv: -65.0,
            v_reset_mv: -65.0,
            v_threshold_mv: -52.0,
            e_exc_mv: 0.0,
            e_inh_mv: -100.0,
            tau_ge_ms: 1.0,
            tau_gi_ms: 2.0,
            refractory_ms: 5.0,
            lockout_ms: 50.0,
            dt_ms: 0.5,
        }
    }

    #[test]
    fn relaxes_to_rest_and_conductances_pull_toward_reversal() {
        let p = params();
        let mut s = CobaState::new(1, -105.0);
        let mut fired = Vec::new();
        p.step(&mut s, &[], &mut fired);
        // Euler: -105 + 0.5/100 * 40.
        assert!((s.v_mv[0] - (-104.8)).abs() < 1e-4);
        let mut s = CobaState::new(2, -65.0);
        s.ge[0] = 1.0;
        s.gi[1] = 1.0;
        p.step(&mut s, &[], &mut fired);
        assert!((s.v_mv[0] - (-65.0 + 0.005 * 65.0)).abs() < 1e-4);
        assert!((s.v_mv[1] - (-65.0 - 0.005 * 35.0)).abs() < 1e-4);
        assert_eq!((s.ge[0], s.gi[1]), (0.5, 0.75));
        assert!(fired.is_empty());
    }

    #[test]
    fn a_huge_conductance_takes_v_to_its_equilibrium_not_past_it() {
        let p = params();
        let mut s = CobaState::new(1, -65.0);
        s.gi[0] = 6800.0; // 400 inhibitory spikes of 17 in one tick
        let mut fired = Vec::new();
        for _ in 0..50 {
            p.step(&mut s, &[], &mut fired);
            assert!((-100.0..=-65.0).contains(&s.v_mv[0]), "{}", s.v_mv[0]);
        }
        assert!(fired.is_empty(), "no spurious spike");
        // Plain Euler would have jumped to about -1255 mV and then far above threshold.
        let mut s = CobaState::new(1, -65.0);
        s.gi[0] = 6800.0;
        p.step(&mut s, &[], &mut fired);
        let want = (-65.0 + 6800.0 * -100.0) / 6801.0;
        assert!((s.v_mv[0] - want).abs() < 1e-3, "{}", s.v_mv[0]);
    }

    #[test]
    fn fires_resets_and_holds_the_refractory_and_lockout_periods() {
        let p = params();
        let mut s = CobaState::new(1, -60.0);
        let mut fired = Vec::new();
        let mut times = Vec::new();
        for t in 0..400 {
            s.ge[0] = 5.0; // drive hard every tick
            fired.clear();
            p.step(&mut s, &[], &mut fired);
            if !fired.is_empty() {
                times.push(t);
            }
            if t > 0 && times.last() == Some(&(t - 1)) {
                assert_eq!(s.v_mv[0], -65.0, "held at reset while refractory");
            }
        }
        assert!(times.len() >= 3);
        for w in times.windows(2) {
            assert_eq!(w[1] - w[0], 101, "the 50 ms lockout: {times:?}");
        }
        // A shifted threshold needs more.
        let mut s = CobaState::new(1, -53.0);
        fired.clear();
        p.step(&mut s, &[-2.0], &mut fired);
        assert_eq!(fired, vec![0]);
    }
}

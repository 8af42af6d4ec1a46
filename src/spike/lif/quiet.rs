//! How long a neuron left alone surely stays below threshold: the bound that lets a neuron
//! actor skip the ticks in which nothing can happen to it and compute them later, in one
//! tight loop, with the same arithmetic ([`Propagator::quiet_ticks`]).
//!
//! Left alone (no spike arriving), a neuron's `v` after `s` free ticks is
//! `v_rest + (v0 - v_rest) em^s + x_s`, where `x_s` is what its synaptic currents add, linear
//! in `ge` and `gi`: at most `max(ge, 0) peak_e + max(gi, 0) peak_i` for every `s` (the
//! coefficients `ce`, `ci` are non-negative). So `v` stays below `v_threshold` for as long as
//! `(v_rest - v0) em^s` exceeds `v_rest + that - v_threshold`; the bound keeps a margin for
//! single-precision rounding (a few ulp a tick at most, which the map, a contraction, keeps
//! below 2e-3 mV at 50 mV over any number of ticks) and two ticks to spare.

use super::{LifNeuron, Propagator};

/// Below the threshold by at least this much (mV) to count as below it.
const MARGIN_MV: f64 = 0.005;

/// `max_s c sum_{j<s} em^(s-1-j) e^j`: the largest rise of `v` that one unit of a current
/// decaying by `e` per tick causes, over any number of ticks (0 when `c <= 0`; infinite for
/// decays that do not decay).
pub(super) fn peak_response(em: f32, e: f32, c: f32) -> f32 {
    let (em, e, c) = (f64::from(em), f64::from(e), f64::from(c));
    if c <= 0.0 {
        return 0.0;
    }
    if !(0.0..1.0).contains(&em) || !(0.0..1.0).contains(&e) {
        return f32::INFINITY;
    }
    let (mut x, mut g, mut peak) = (0.0f64, 1.0f64, 0.0f64);
    // Rises while g feeds it faster than v decays, then falls: stop once it falls.
    for _ in 0..1_000_000 {
        x = x * em + g * c;
        g *= e;
        if x < peak {
            break;
        }
        peak = x;
    }
    (peak * (1.0 + 1e-6)) as f32
}

/// A lower bound on `-ln(r)` for a normal `r` in `(0, 1)`, without a logarithm: for
/// `r = m 2^e`, `m` in `[1, 2)`, `-e ln 2 - ln m`, with `ln m` bounded above by its tangents
/// at 1, sqrt 2 and 2 (`ln` is concave; at most 0.02 over), and by `1 - r` near 1 (`ln x <=
/// x - 1`). Divided by an upper bound on `-ln em`, `(1 - em) / em`, it undercounts the quiet
/// ticks by a few at most: the neuron wakes a little early, never late.
fn neg_ln_below(r: f64) -> f64 {
    let bits = r.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let m = f64::from_bits((bits & ((1 << 52) - 1)) | (1023 << 52));
    let ln_m_above = (m - 1.0)
        .min(m * std::f64::consts::FRAC_1_SQRT_2 + 0.5 * std::f64::consts::LN_2 - 1.0)
        .min(0.5 * m + std::f64::consts::LN_2 - 1.0);
    (1.0 - r).max(-(e as f64) * std::f64::consts::LN_2 - ln_m_above)
}

impl Propagator {
    /// Advances neuron `n` by `ticks` ticks with no input, as that many calls of
    /// [`Propagator::step`] would, bit for bit; returns whether it fired in any of them. The
    /// state stays in registers, and held ticks only decay the currents.
    pub fn steps(&self, n: &mut LifNeuron, ticks: u64) -> bool {
        if n.v_mv > self.v_threshold {
            // Held above threshold, it fires again while held: tick by tick.
            return (0..ticks).fold(false, |fired, _| self.step(n) | fired);
        }
        let held = u64::from(n.hold).min(ticks);
        let (mut v, mut ge, mut gi) = (n.v_mv, n.ge_mv, n.gi_mv);
        for _ in 0..held {
            ge *= self.ee;
            gi *= self.ei;
        }
        let zero = 0.0 * (1.0 - self.em);
        // `x + 0.0` is `x` unless `x` is -0.0, which the sum before it cannot be when
        // `v_rest` is not zero (in round-to-nearest, a sum is -0.0 only when both terms
        // are): then the add leaves the chain, one latency shorter, the same bits.
        let drop_zero = zero.to_bits() == 0 && self.v_rest != 0.0;
        for k in held..ticks {
            v = if drop_zero {
                self.v_rest + (v - self.v_rest) * self.em + ge * self.ce + gi * self.ci
            } else {
                self.v_rest + (v - self.v_rest) * self.em + ge * self.ce + gi * self.ci + zero
            };
            ge *= self.ee;
            gi *= self.ei;
            if v > self.v_threshold {
                n.v_mv = if self.subtract {
                    v - (self.v_threshold - self.v_reset)
                } else {
                    self.v_reset
                };
                (n.ge_mv, n.gi_mv, n.hold) = (ge, gi, self.refractory);
                for _ in k + 1..ticks {
                    self.step(n);
                }
                return true;
            }
        }
        *n = LifNeuron {
            v_mv: v,
            ge_mv: ge,
            gi_mv: gi,
            hold: n.hold - held as u32,
        };
        false
    }

    /// Ticks that neuron `n`, receiving nothing, surely computes without firing (`u64::MAX`:
    /// it never fires alone; 0: it may fire at its next tick). Zero for a neuron whose
    /// state is not finite or whose propagator does not decay.
    pub fn quiet_ticks(&self, n: &LifNeuron) -> u64 {
        let (v0, ge, gi) = (f64::from(n.v_mv), f64::from(n.ge_mv), f64::from(n.gi_mv));
        let (rest, threshold) = (f64::from(self.v_rest), f64::from(self.v_threshold));
        let rise = ge.max(0.0) * f64::from(self.peak_e) + gi.max(0.0) * f64::from(self.peak_i);
        let em = f64::from(self.em);
        let finite = v0.is_finite() && ge.is_finite() && gi.is_finite() && rise.is_finite();
        if !finite || !(0.0..1.0).contains(&em) {
            return 0;
        }
        let below = threshold - MARGIN_MV;
        // Held ticks keep v at v0; then v approaches rest (+ the rise at most).
        if v0 >= below {
            return 0;
        }
        let gap = rest + rise - below;
        if gap <= 0.0 && v0 <= rest {
            return u64::MAX;
        }
        if v0 >= rest {
            // Decays toward rest from above: at most v0 + rise.
            return if v0 + rise < below { u64::MAX } else { 0 };
        }
        // Free tick s is safe while (rest - v0) em^s > gap.
        let ratio = gap / (rest - v0);
        if ratio >= 1.0 {
            return u64::from(n.hold);
        }
        let free = neg_ln_below(ratio) * self.ticks_per_neper - 2.0;
        u64::from(n.hold) + free.max(0.0) as u64
    }
}

#[cfg(test)]
mod tests {
    use crate::spike::lif::tests::above_threshold;
    use crate::spike::lif::{LifNeuron, Propagator};

    /// CUBA's neurons: they rest above threshold, so every one fires if left alone.
    fn cuba() -> Propagator {
        above_threshold().propagator()
    }

    /// Ticks the neuron computes without firing (stepped for real), at most `limit`.
    fn fires_after(p: &Propagator, mut n: LifNeuron, limit: u64) -> u64 {
        (0..limit).find(|_| p.step(&mut n)).unwrap_or(limit)
    }

    #[test]
    fn a_neuron_never_fires_within_its_quiet_ticks_and_the_bound_is_close() {
        let p = cuba();
        let mut tight = 0u64;
        let mut cases = 0u64;
        for v in [-60.0f32, -58.0, -55.0, -52.0, -50.5, -50.1, -50.04] {
            for ge in [0.0f32, 0.5, 1.62, 5.0, 20.0] {
                for gi in [0.0f32, -9.0, -30.0] {
                    for hold in [0u32, 10] {
                        let n = LifNeuron {
                            v_mv: v,
                            ge_mv: ge,
                            gi_mv: gi,
                            hold,
                        };
                        let quiet = p.quiet_ticks(&n);
                        let fires = fires_after(&p, n, 100_000);
                        assert!(
                            quiet <= fires || quiet == u64::MAX && fires == 100_000,
                            "v {v} ge {ge} gi {gi} hold {hold}: quiet {quiet}, fires at {fires}"
                        );
                        if ge == 0.0 && gi == 0.0 && quiet > 0 {
                            cases += 1;
                            tight += u64::from(fires - quiet <= 8);
                        }
                    }
                }
            }
        }
        // With no current the bound is within a few ticks of the real crossing.
        assert_eq!(tight, cases, "{tight} of {cases} within 8 ticks");
    }

    #[test]
    fn the_logarithm_bound_is_below_and_close() {
        for k in 1..10_000 {
            let r = k as f64 / 10_000.0;
            let (low, exact) = (super::neg_ln_below(r), -r.ln());
            assert!(low <= exact && low >= exact - 0.02, "{r}: {low} vs {exact}");
        }
        assert_eq!(super::neg_ln_below(0.5), std::f64::consts::LN_2);
    }

    #[test]
    fn many_steps_at_once_equal_single_steps_bit_for_bit() {
        let p = cuba();
        for v in [-60.0f32, -55.3, -50.2, -49.5, -45.0] {
            for (ge, gi, hold) in [
                (0.0f32, 0.0f32, 0u32),
                (3.1, -7.7, 0),
                (40.0, 0.0, 7),
                (0.7, -1.0, 60),
            ] {
                for ticks in [0u64, 1, 5, 49, 300, 2000] {
                    let start = LifNeuron {
                        v_mv: v,
                        ge_mv: ge,
                        gi_mv: gi,
                        hold,
                    };
                    let (mut one, mut many) = (start, start);
                    let fired = (0..ticks).fold(false, |f, _| p.step(&mut one) | f);
                    assert_eq!(p.steps(&mut many, ticks), fired, "{start:?} x{ticks}");
                    assert_eq!(one, many, "{start:?} x{ticks}");
                }
            }
        }
    }

    #[test]
    fn a_neuron_that_may_fire_now_or_is_not_finite_gets_no_quiet_ticks() {
        let p = cuba();
        let at = |v_mv, ge_mv| LifNeuron {
            v_mv,
            ge_mv,
            gi_mv: 0.0,
            hold: 0,
        };
        assert_eq!(p.quiet_ticks(&at(-49.99, 0.0)), 0);
        assert_eq!(p.quiet_ticks(&at(-60.0, f32::INFINITY)), 0);
        assert_eq!(p.quiet_ticks(&at(f32::NAN, 0.0)), 0);
        assert_eq!(p.quiet_ticks(&at(-60.0, f32::NAN)), 0);
        assert!(p.quiet_ticks(&at(-60.0, 0.0)) > 400);
    }
}

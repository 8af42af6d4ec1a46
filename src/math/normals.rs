//! Standard normal draws in blocks: Box–Muller on sixteen pairs at a time, with its logarithm,
//! sine and cosine written here as polynomials of exact IEEE operations, so that the numbers
//! are the same on every x86-64 (AVX-512, AVX2 or neither) and under every libm, and a block
//! costs a few vector instructions instead of thirty-two library calls.
//!
//! [`NormalBlocks`] yields the same kind of sequence as [`SeededRng::normal`] (pairs
//! `r cos θ`, `r sin θ` with `r = sqrt(-2 ln u1)`, `θ = 2π u2`, from the stream's uniforms
//! `u1 = 1 - uniform()`, `u2 = uniform()`), not the same bits: its functions agree with the
//! library's to about 1e-15. What it draws for a seed never changes with the machine.

use super::rng::SeededRng;

/// Normals a block holds (sixteen Box–Muller pairs: two vectors of eight, so two chains of
/// dependent operations overlap).
const BLOCK: usize = 32;
const PAIRS: usize = BLOCK / 2;

/// A stream of standard normals drawn a block at a time from a [`SeededRng`].
#[derive(Debug)]
pub struct NormalBlocks {
    rng: SeededRng,
    block: [f64; BLOCK],
    next: usize,
    transform: Transform,
}

/// The Box–Muller transform of sixteen pairs of uniforms into thirty-two normals.
type Transform = fn(&[f64; PAIRS], &[f64; PAIRS], &mut [f64; BLOCK]);

impl NormalBlocks {
    /// Normals drawn from `rng`'s uniforms.
    pub fn new(rng: SeededRng) -> Self {
        NormalBlocks {
            rng,
            block: [0.0; BLOCK],
            next: BLOCK,
            transform: transform(),
        }
    }

    /// The next standard normal.
    #[inline]
    pub fn normal(&mut self) -> f64 {
        if self.next == BLOCK {
            self.refill();
        }
        let z = self.block[self.next];
        self.next += 1;
        z
    }

    /// Moves the underlying stream to `position` ([`SeededRng::seek`]) and drops the
    /// normals drawn ahead, so what follows depends only on `position`.
    pub fn seek(&mut self, position: u128) {
        self.rng.seek(position);
        self.next = BLOCK;
    }

    /// A uniform integer in `0..n` ([`SeededRng::below_u32`]) from the underlying stream,
    /// which is past the normals already drawn ahead.
    #[inline]
    pub fn below_u32(&mut self, n: u32) -> u32 {
        self.rng.below_u32(n)
    }

    #[cold]
    fn refill(&mut self) {
        let (mut u1, mut u2) = ([0.0; PAIRS], [0.0; PAIRS]);
        for (a, b) in u1.iter_mut().zip(&mut u2) {
            *a = 1.0 - self.rng.uniform(); // (0, 1]: ln is finite
            *b = self.rng.uniform();
        }
        (self.transform)(&u1, &u2, &mut self.block);
        self.next = 0;
    }
}

/// The widest transform this CPU runs: the same operations, so the same bits, in each.
fn transform() -> Transform {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("fma")
        {
            return |u1, u2, out| {
                // SAFETY: the CPU has AVX-512F and FMA (checked above).
                unsafe { box_muller_avx512(u1, u2, out) }
            };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return |u1, u2, out| {
                // SAFETY: the CPU has AVX2 and FMA (checked above).
                unsafe { box_muller_avx2(u1, u2, out) }
            };
        }
    }
    box_muller
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,fma")]
fn box_muller_avx512(u1: &[f64; PAIRS], u2: &[f64; PAIRS], out: &mut [f64; BLOCK]) {
    box_muller(u1, u2, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn box_muller_avx2(u1: &[f64; PAIRS], u2: &[f64; PAIRS], out: &mut [f64; BLOCK]) {
    box_muller(u1, u2, out);
}

/// `out[2k] = r cos θ`, `out[2k+1] = r sin θ` for `r = sqrt(-2 ln u1[k])`, `θ = 2π u2[k]`.
#[inline(always)]
fn box_muller(u1: &[f64; PAIRS], u2: &[f64; PAIRS], out: &mut [f64; BLOCK]) {
    let (mut r, mut c, mut s) = ([0.0; PAIRS], [0.0; PAIRS], [0.0; PAIRS]);
    for k in 0..PAIRS {
        r[k] = (-2.0 * ln(u1[k])).sqrt();
        (c[k], s[k]) = cos_sin_turns(u2[k]);
    }
    for k in 0..PAIRS {
        out[2 * k] = r[k] * c[k];
        out[2 * k + 1] = r[k] * s[k];
    }
}

/// `ln x` for positive normal `x`: `x = m 2^e` with `m` in `[sqrt(1/2), sqrt(2))`, and
/// `ln m = 2 atanh(s)`, `s = (m - 1) / (m + 1)`, by its series to `s^25` (`|s| < 0.172`, so
/// the first term left out is below 1e-20 of the sum).
#[inline(always)]
fn ln(x: f64) -> f64 {
    const SQRT_2: f64 = std::f64::consts::SQRT_2;
    // ln 2 in two parts (fdlibm's): `e * LN2_HI` is exact for |e| < 2^11.
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    let bits = x.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let high = m > SQRT_2;
    let m = if high { 0.5 * m } else { m };
    let e = (e + i64::from(high)) as f64;
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    // 1 + s2/3 + s2^2/5 + ... + s2^12/25, by Horner.
    const INV_ODD: [f64; 13] = {
        let mut f = [0.0; 13];
        let mut k = 0;
        while k < 13 {
            f[k] = 1.0 / (2 * k + 1) as f64;
            k += 1;
        }
        f
    };
    let mut p = INV_ODD[12];
    for k in (0..12).rev() {
        p = p.mul_add(s2, INV_ODD[k]);
    }
    let ln_m = 2.0 * s * p;
    e.mul_add(LN2_HI, e.mul_add(LN2_LO, ln_m))
}

/// `(cos 2πu, sin 2πu)` for `u` in `[0, 1)` (turns): `u = q/4 + x` with `|x| <= 1/8`
/// (exact), then the Taylor series of cos and sin at `t = 2πx`, `|t| <= π/4`, to `t^16` and
/// `t^17` (the first terms left out are below 3e-18), and the quadrant `q` swaps and signs
/// them.
#[inline(always)]
fn cos_sin_turns(u: f64) -> (f64, f64) {
    // 1/n! for n = 2..=17.
    const INV_FACT: [f64; 16] = {
        let mut f = [0.0; 16];
        let mut acc = 1.0;
        let mut n = 2;
        while n <= 17 {
            acc *= n as f64;
            f[n - 2] = 1.0 / acc;
            n += 1;
        }
        f
    };
    let q = (4.0 * u + 0.5).floor(); // nearest quarter turn, 0..=4
    let x = u - 0.25 * q;
    let t = x * std::f64::consts::TAU;
    let t2 = t * t;
    // cos t = 1 + t2 (-1/2! + t2/4! - ... + t2^7/16!), sin t = t (1 + t2 (-1/3! + ... +
    // t2^7/17!)), by Horner from the highest terms.
    let (mut c, mut s) = (INV_FACT[14], INV_FACT[15]);
    for j in (0..7).rev() {
        let sign = if j % 2 == 0 { -1.0 } else { 1.0 };
        c = c.mul_add(t2, sign * INV_FACT[2 * j]);
        s = s.mul_add(t2, sign * INV_FACT[2 * j + 1]);
    }
    let c = c.mul_add(t2, 1.0);
    let s = t * s.mul_add(t2, 1.0);
    // Rotate by q quarter turns.
    let quadrant = (q as i64) & 3;
    let (c, s) = if quadrant & 1 == 1 { (-s, c) } else { (c, s) };
    if quadrant & 2 == 2 {
        (-c, -s)
    } else {
        (c, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After a seek, the draws depend on the position only, not on what came before.
    #[test]
    fn a_seek_forgets_what_was_drawn_ahead() {
        let draw = |skip: usize| {
            let mut r = NormalBlocks::new(SeededRng::substream(1, "t", 2));
            for _ in 0..skip {
                r.normal();
            }
            r.seek(1 << 40);
            (r.below_u32(1000), r.normal(), r.below_u32(7), r.normal())
        };
        assert_eq!(draw(0), draw(5));
        assert_eq!(draw(0), draw(40));
    }

    #[test]
    fn ln_matches_the_library() {
        let mut rng = SeededRng::new(4);
        for i in 0..200_000 {
            let x = match i {
                0 => 1.0,
                1 => f64::MIN_POSITIVE,
                2 => std::f64::consts::SQRT_2,
                3 => 1.0 - f64::EPSILON / 2.0,
                4 => 2f64.powi(-53),
                _ => 1.0 - rng.uniform(),
            };
            let (ours, lib) = (ln(x), x.ln());
            assert!(
                (ours - lib).abs() <= 8e-16 * lib.abs().max(1e-300),
                "ln {x}: {ours} vs {lib}"
            );
        }
    }

    #[test]
    fn cos_sin_match_the_library() {
        let mut rng = SeededRng::new(5);
        for i in 0..200_000 {
            let u = match i {
                0 => 0.0,
                1..=8 => (i - 1) as f64 / 8.0,
                9 => 1.0 - f64::EPSILON / 2.0,
                _ => rng.uniform(),
            };
            let (c, s) = cos_sin_turns(u);
            let t = u * std::f64::consts::TAU;
            assert!(
                (c - t.cos()).abs() < 1e-15,
                "cos at {u}: {c} vs {}",
                t.cos()
            );
            assert!(
                (s - t.sin()).abs() < 1e-15,
                "sin at {u}: {s} vs {}",
                t.sin()
            );
        }
    }

    #[test]
    fn every_transform_gives_the_same_bits() {
        let mut rng = SeededRng::new(6);
        for _ in 0..20_000 {
            let (mut u1, mut u2) = ([0.0; PAIRS], [0.0; PAIRS]);
            for k in 0..PAIRS {
                u1[k] = 1.0 - rng.uniform();
                u2[k] = rng.uniform();
            }
            let (mut a, mut b) = ([0.0; BLOCK], [0.0; BLOCK]);
            box_muller(&u1, &u2, &mut a);
            transform()(&u1, &u2, &mut b);
            assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits));
        }
    }

    #[test]
    fn blocks_follow_box_muller_on_the_streams_uniforms() {
        let mut blocks = NormalBlocks::new(SeededRng::new(8));
        let mut plain = SeededRng::new(8);
        for _ in 0..1000 {
            let z = blocks.normal();
            let w = plain.normal();
            assert!((z - w).abs() < 1e-13 * w.abs().max(1.0), "{z} vs {w}");
        }
    }

    #[test]
    fn normals_have_unit_moments() {
        let mut blocks = NormalBlocks::new(SeededRng::new(1));
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| blocks.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.015 && (var - 1.0).abs() < 0.015,
            "{mean} {var}"
        );
    }
}

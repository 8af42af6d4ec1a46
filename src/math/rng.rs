//! Seeded randomness: the one random source every part of axon draws from.
//!
//! [`SeededRng`] wraps ChaCha8, whose output is fixed by its specification, so a seed gives
//! the same numbers on every platform and with every future version of the `rand` crates.
//! Gaussian draws use the Box–Muller transform and shuffles use Fisher–Yates, both written
//! here so that the mapping from seed to initial weights and data order never changes under
//! us. Independent streams (weights, data order, …) come from [`SeededRng::stream`], so adding
//! a draw in one place never shifts another.

use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};

/// A deterministic random number generator.
#[derive(Debug)]
pub struct SeededRng {
    inner: ChaCha8Rng,
    spare_normal: Option<f64>,
    /// The low half of the word [`SeededRng::below_u32`] drew last, not yet used.
    spare_half: Option<u32>,
}

impl SeededRng {
    /// The generator for a seed.
    pub fn new(seed: u64) -> Self {
        Self {
            inner: ChaCha8Rng::seed_from_u64(seed),
            spare_normal: None,
            spare_half: None,
        }
    }

    /// An independent generator for the named purpose, derived from `seed`.
    pub fn stream(seed: u64, purpose: &str) -> Self {
        // FNV-1a over the purpose, mixed with the seed: stable across versions.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in purpose.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Self::new(seed ^ h.rotate_left(17))
    }

    /// The `index`-th of a family of independent generators for the named purpose (ChaCha's
    /// stream number): one per neuron, say, so that what a neuron draws does not depend on
    /// who draws before it.
    pub fn substream(seed: u64, purpose: &str, index: u64) -> Self {
        let mut rng = Self::stream(seed, purpose);
        rng.inner.set_stream(index);
        rng
    }

    /// Where the stream is (words drawn so far), for checkpoints.
    pub fn position(&self) -> u128 {
        self.inner.get_word_pos()
    }

    /// Moves the stream to a position from [`SeededRng::position`] (a pending Gaussian or
    /// half-word spare is dropped: streams that are checkpointed draw neither).
    pub fn seek(&mut self, position: u128) {
        self.inner.set_word_pos(position);
        self.spare_normal = None;
        self.spare_half = None;
    }

    /// A raw 64-bit draw.
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `0..n` (Lemire's unbiased multiply-and-reject).
    ///
    /// # Panics
    /// If `n == 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0) has no values to draw from");
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        // The threshold is below `n`: a low word of at least `n` is accepted without the
        // division that computes it (the same draws, fewer divisions).
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as u64
    }

    /// Uniform integer in `0..n` from 32 random bits (Lemire's unbiased multiply-and-reject
    /// on half a word): the high half of a fresh word, then its low half on the next call,
    /// so small draws take half the stream [`SeededRng::below`] takes.
    ///
    /// # Panics
    /// If `n == 0`.
    #[inline]
    pub fn below_u32(&mut self, n: u32) -> u32 {
        assert!(n > 0, "below_u32(0) has no values to draw from");
        let mut m = u64::from(self.next_half()) * u64::from(n);
        if (m as u32) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u32) < threshold {
                m = u64::from(self.next_half()) * u64::from(n);
            }
        }
        (m >> 32) as u32
    }

    /// 32 random bits: the spare low half of the last word, or the high half of a new one.
    #[inline]
    fn next_half(&mut self) -> u32 {
        match self.spare_half.take() {
            Some(h) => h,
            None => {
                let w = self.next_u64();
                self.spare_half = Some(w as u32);
                (w >> 32) as u32
            }
        }
    }

    /// A standard normal draw (Box–Muller; pairs are cached).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        let u1 = 1.0 - self.uniform(); // (0, 1]: ln is finite
        let u2 = self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = std::f64::consts::TAU * u2;
        self.spare_normal = Some(r * theta.sin());
        r * theta.cos()
    }

    /// Shuffles a slice in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Half-word draws are uniform, and `below` gives the same draws as before the lazy
    /// threshold (a reference copy of the eager form).
    #[test]
    fn small_draws_are_uniform_and_below_is_unchanged() {
        let mut r = SeededRng::new(12);
        let mut counts = [0u32; 7];
        for _ in 0..70_000 {
            counts[r.below_u32(7) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_400..10_600).contains(&c)),
            "{counts:?}"
        );
        let eager = |rng: &mut SeededRng, n: u64| {
            let threshold = n.wrapping_neg() % n;
            loop {
                let m = u128::from(rng.next_u64()) * u128::from(n);
                if (m as u64) >= threshold {
                    return (m >> 64) as u64;
                }
            }
        };
        let (mut a, mut b) = (SeededRng::new(3), SeededRng::new(3));
        for n in [1, 2, 3, 7, 1000, (1 << 63) + 1, u64::MAX] {
            for _ in 0..2000 {
                assert_eq!(a.below(n), eager(&mut b, n), "{n}");
            }
        }
    }

    #[test]
    fn same_seed_same_numbers_and_streams_differ() {
        let mut a = SeededRng::new(7);
        let mut b = SeededRng::new(7);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        let mut w = SeededRng::stream(7, "weights");
        let mut d = SeededRng::stream(7, "data");
        assert_ne!(w.next_u64(), d.next_u64());
        let mut s0 = SeededRng::substream(7, "weights", 0);
        let mut s1 = SeededRng::substream(7, "weights", 1);
        assert_ne!(s0.next_u64(), s1.next_u64());
        assert_eq!(
            SeededRng::substream(7, "weights", 1).next_u64(),
            SeededRng::substream(7, "weights", 1).next_u64()
        );
    }

    #[test]
    fn normal_has_unit_moments() {
        // 100k draws: the standard error of the mean is 0.003, of the variance about 0.0045,
        // so a 0.02 tolerance is more than four standard errors.
        let mut r = SeededRng::new(1);
        let n = 100_000;
        let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut r = SeededRng::new(3);
        let mut v: Vec<usize> = (0..100).collect();
        r.shuffle(&mut v);
        assert_ne!(v, (0..100).collect::<Vec<_>>());
        v.sort_unstable();
        assert_eq!(v, (0..100).collect::<Vec<_>>());
    }
}

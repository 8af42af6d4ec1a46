//! External drive of a population shard ([`Drive`]): a constant current per neuron (DC) and
//! independent Poisson spike trains per neuron ([`PoissonInput`]).
//!
//! Poisson counts are drawn per neuron per tick from a counter-based stream: the SplitMix64
//! output at position `tick x neurons + neuron` of the seed's sequence, mapped through the
//! population's Poisson CDF (one draw per neuron per tick, whatever the count). A neuron's
//! input therefore depends only on the seed, its global index and the tick: the same whatever
//! the sharding, the executor or the order shards run in.

/// What drives a shard's neurons from outside the network.
#[derive(Clone, Debug, Default)]
pub struct Drive {
    /// Constant input per local neuron (mV, `I R`); empty: none.
    pub dc_mv: Vec<f32>,
    /// Poisson spike input, if any.
    pub poisson: Option<PoissonInput>,
}

/// Independent Poisson spike trains into each neuron of a shard (each neuron's external
/// synapses lumped: `k` spikes in a tick add `k x weight` to its current).
#[derive(Clone, Debug)]
pub struct PoissonInput {
    key: u64,
    /// Neurons in the whole network, and the global index of this shard's first.
    total: u64,
    offset: u64,
    /// Each local neuron's class (its population): which CDF it draws from.
    class: Vec<u8>,
    /// Runs of consecutive neurons of one class: (first, end, class).
    runs: Vec<(usize, usize, usize)>,
    /// Per class, `floor(P(X <= k) 2^32)` for `k = 0, 1, ...` while below `2^32`.
    cdf: Vec<Vec<u32>>,
    weight_mv: f32,
}

impl PoissonInput {
    /// Input to the neurons `offset..offset + class.len()` of a network of `total`: neuron
    /// `i` gets on average `mean_per_tick[class[i]]` spikes per tick, each adding `weight_mv`.
    pub fn new(
        seed: u64,
        (offset, total): (u64, u64),
        class: Vec<u8>,
        mean_per_tick: &[f64],
        weight_mv: f32,
    ) -> Self {
        let mut runs: Vec<(usize, usize, usize)> = Vec::new();
        for (i, &c) in class.iter().enumerate() {
            match runs.last_mut() {
                Some(r) if r.2 == usize::from(c) && r.1 == i => r.1 = i + 1,
                _ => runs.push((i, i + 1, usize::from(c))),
            }
        }
        PoissonInput {
            key: mix(seed ^ 0x05EE_D0FD_21FE),
            total,
            offset,
            class,
            runs,
            cdf: mean_per_tick.iter().map(|&l| cdf_table(l)).collect(),
            weight_mv,
        }
    }

    /// The position in the stream of local neuron `i` at `tick`.
    #[inline(always)]
    fn position(&self, tick: u64, i: usize) -> u64 {
        tick.wrapping_mul(self.total)
            .wrapping_add(self.offset + i as u64)
    }

    /// The uniform 32-bit draw of local neuron `i` at `tick`.
    #[inline(always)]
    fn draw(&self, tick: u64, i: usize) -> u32 {
        let at = self.position(tick, i);
        (mix(self.key.wrapping_add(at.wrapping_mul(GOLDEN))) >> 32) as u32
    }

    /// Spikes neuron `i` (local) receives at `tick`.
    pub fn count(&self, tick: u64, i: usize) -> u32 {
        let u = self.draw(tick, i);
        let cdf = &self.cdf[self.class[i] as usize];
        cdf.iter().take_while(|&&c| u >= c).count() as u32
    }

    /// Adds the tick's external spikes to the currents `ge` (one per local neuron): the
    /// same counts as [`PoissonInput::count`], computed a block of neurons at a time
    /// (branch-free, so that it vectorises).
    pub fn apply(&self, tick: u64, ge: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512dq")]
            fn wide(p: &PoissonInput, tick: u64, ge: &mut [f32]) {
                p.apply_body::<true>(tick, ge)
            }
            #[target_feature(enable = "avx2")]
            fn mid(p: &PoissonInput, tick: u64, ge: &mut [f32]) {
                p.apply_body::<false>(tick, ge)
            }
            if std::arch::is_x86_feature_detected!("avx512dq") {
                // SAFETY: AVX-512F and DQ were just detected.
                return unsafe { wide(self, tick, ge) };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 was just detected.
                return unsafe { mid(self, tick, ge) };
            }
        }
        self.apply_body::<false>(tick, ge)
    }

    /// [`PoissonInput::apply`]; `AVX512`: counts with AVX-512 (call only where it runs).
    #[inline(always)]
    fn apply_body<const AVX512: bool>(&self, tick: u64, ge: &mut [f32]) {
        const BLOCK: usize = 64;
        let mut u = [0u32; BLOCK];
        let mut k = [0u32; BLOCK];
        for &(first, end, class) in &self.runs {
            let cdf = &self.cdf[class];
            let mut start = first;
            while start < end {
                let len = (end - start).min(BLOCK);
                // `draw`'s argument for neuron `start + l`, as a sum stepping by GOLDEN (the
                // same wrapping arithmetic, one multiply less per draw).
                let mut at = self
                    .key
                    .wrapping_add(self.position(tick, start).wrapping_mul(GOLDEN));
                for x in u[..len].iter_mut() {
                    *x = (mix(at) >> 32) as u32;
                    at = at.wrapping_add(GOLDEN);
                }
                #[cfg(target_arch = "x86_64")]
                if AVX512 {
                    // SAFETY: `AVX512` is set only inside a function compiled for AVX-512F,
                    // called once it was detected.
                    unsafe {
                        add_counts_avx512(
                            cdf,
                            &u[..len],
                            &mut ge[start..start + len],
                            self.weight_mv,
                        )
                    };
                    start += len;
                    continue;
                }
                k[..len].fill(0);
                for &c in cdf {
                    for (kl, &ul) in k[..len].iter_mut().zip(&u[..len]) {
                        *kl += u32::from(ul >= c);
                    }
                }
                for (g, &kl) in ge[start..start + len].iter_mut().zip(&k[..len]) {
                    *g += kl as f32 * self.weight_mv;
                }
                start += len;
            }
        }
    }
}

/// Adds `count x w` to each `ge`, a draw's count being the thresholds of `cdf` at or below
/// its `u`: sixteen at a time with the count in a register (the same sums as the portable
/// loop: a product, then a sum, each rounded).
///
/// # Safety
/// AVX-512F must be available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn add_counts_avx512(cdf: &[u32], u: &[u32], ge: &mut [f32], w: f32) {
    use std::arch::x86_64::*;
    let n = u.len().min(ge.len());
    let whole = n / 16 * 16;
    let (ones, wv) = (_mm512_set1_epi32(1), _mm512_set1_ps(w));
    for i in (0..whole).step_by(16) {
        // SAFETY: `i + 16 <= n`, within both `u` and `ge`.
        unsafe {
            let uv = _mm512_loadu_si512(u.as_ptr().add(i).cast());
            let mut k = _mm512_setzero_si512();
            for &c in cdf {
                let m = _mm512_cmpge_epu32_mask(uv, _mm512_set1_epi32(c as i32));
                k = _mm512_mask_add_epi32(k, m, k, ones);
            }
            let g = _mm512_loadu_ps(ge.as_ptr().add(i));
            let add = _mm512_mul_ps(_mm512_cvtepi32_ps(k), wv);
            _mm512_storeu_ps(ge.as_mut_ptr().add(i), _mm512_add_ps(g, add));
        }
    }
    for (g, &x) in ge[whole..n].iter_mut().zip(&u[whole..n]) {
        let k: u32 = cdf.iter().map(|&c| u32::from(x >= c)).sum();
        *g += k as f32 * w;
    }
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function.
#[inline]
fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The Poisson CDF of mean `lambda` as 32-bit thresholds (empty for `lambda <= 0`).
fn cdf_table(lambda: f64) -> Vec<u32> {
    let mut out = Vec::new();
    if !(lambda > 0.0 && lambda.is_finite()) {
        return out;
    }
    let scale = 4_294_967_296.0;
    let (mut p, mut acc) = ((-lambda).exp(), 0.0);
    for k in 0..10_000u32 {
        acc += p;
        let t = (acc * scale).floor();
        if t >= scale - 1.0 {
            break;
        }
        out.push(t as u32);
        p *= lambda / f64::from(k + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts have the Poisson mean and variance, and the same neuron gets the same count
    /// however the network is cut into shards.
    #[test]
    fn counts_are_poisson_and_independent_of_sharding() {
        let whole = PoissonInput::new(3, (0, 100), vec![0; 100], &[1.6], 1.0);
        let part = PoissonInput::new(3, (40, 100), vec![0; 60], &[1.6], 1.0);
        let mut xs = Vec::new();
        for tick in 0..2000 {
            for i in 0..100 {
                xs.push(f64::from(whole.count(tick, i)));
            }
            for i in 0..60 {
                assert_eq!(part.count(tick, i), whole.count(tick, 40 + i));
            }
        }
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        assert!((mean - 1.6).abs() < 0.02, "mean {mean}");
        assert!((var - 1.6).abs() < 0.05, "variance {var}");
        let zero = PoissonInput::new(3, (0, 10), vec![0; 10], &[0.0], 1.0);
        assert!((0..100).all(|t| zero.count(t, 3) == 0));
    }

    /// The block-wise `apply` adds exactly `count x weight` to each neuron, across class runs
    /// and block edges, and so does its portable body (on a machine with AVX-512, `apply`
    /// counts with it; the portable body is what others run).
    #[test]
    fn apply_adds_the_counts() {
        let class: Vec<u8> = (0..300).map(|i| [0u8, 1, 2][(i / 70) % 3]).collect();
        let p = PoissonInput::new(8, (1000, 5000), class, &[0.3, 1.6, 4.0], 0.5);
        for tick in [0, 7, 12345, u64::MAX / 3] {
            let (mut ge, mut portable) = (vec![1.0f32; 300], vec![1.0f32; 300]);
            p.apply(tick, &mut ge);
            p.apply_body::<false>(tick, &mut portable);
            for (i, (&g, &h)) in ge.iter().zip(&portable).enumerate() {
                let want = 1.0 + p.count(tick, i) as f32 * 0.5;
                assert_eq!((g, h), (want, want), "neuron {i} at {tick}");
            }
        }
    }
}

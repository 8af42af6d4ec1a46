//! The gather a probe tap does every tick: the sampled units' values out of an actor's own
//! state, with vector gathers where the CPU has them.

/// Appends `src[i]` for each `i` of `local` to `values`, with vector gathers where the CPU
/// has them (AVX-512, AVX2): a probe of 100 neurons every tick then costs a few dozen
/// cycles a tick instead of a few hundred. `reach` is one past the largest index of
/// `local` (0 when empty); panics if it is beyond `src`.
pub(super) fn gather(values: &mut Vec<f32>, local: &[u32], reach: usize, src: &[f32]) {
    assert!(
        reach <= src.len(),
        "probe unit {} out of {} values",
        reach - 1,
        src.len()
    );
    #[cfg(target_arch = "x86_64")]
    if reach <= 1 << 31 {
        values.reserve(local.len());
        let start = values.len();
        let dst = values.spare_capacity_mut().as_mut_ptr().cast::<f32>();
        let detected = if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F was just detected; every index is below `src.len()` and
            // fits an i32 (both checked above), and `dst` has room for `local.len()`.
            unsafe { gather_x86::wide(dst, local, src) };
            true
        } else if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above, with AVX2.
            unsafe { gather_x86::mid(dst, local, src) };
            true
        } else {
            false
        };
        if detected {
            // SAFETY: the gather wrote the `local.len()` slots past `start`.
            unsafe { values.set_len(start + local.len()) };
            return;
        }
    }
    values.extend(local.iter().map(|&i| src[i as usize]));
}

/// The vector gathers of [`gather`]. Callers guarantee: the feature is present, every
/// index of `local` is below `src.len()` and at most `i32::MAX`, and `dst` has room for
/// `local.len()` values.
#[cfg(target_arch = "x86_64")]
mod gather_x86 {
    use std::arch::x86_64::*;

    /// The units from `from` on, one at a time (what is left after the whole vectors).
    ///
    /// # Safety
    /// As for [`wide`]: every index in `src`, room for `local.len()` values at `dst`.
    unsafe fn rest(dst: *mut f32, local: &[u32], src: &[f32], from: usize) {
        for (k, &i) in local.iter().enumerate().skip(from) {
            // SAFETY: `k < local.len()`; the index is in `src`.
            unsafe { dst.add(k).write(*src.get_unchecked(i as usize)) };
        }
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn wide(dst: *mut f32, local: &[u32], src: &[f32]) {
        let whole = local.len() / 16 * 16;
        for k in (0..whole).step_by(16) {
            // SAFETY: `k + 16 <= local.len()`, which `dst` has room for; the indices
            // are in `src`.
            unsafe {
                let idx = _mm512_loadu_si512(local.as_ptr().add(k).cast());
                let v = _mm512_i32gather_ps::<4>(idx, src.as_ptr());
                _mm512_storeu_ps(dst.add(k), v);
            }
        }
        // SAFETY: as for the whole vectors above.
        unsafe { rest(dst, local, src, whole) };
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn mid(dst: *mut f32, local: &[u32], src: &[f32]) {
        let whole = local.len() / 8 * 8;
        for k in (0..whole).step_by(8) {
            // SAFETY: `k + 8 <= local.len()`, which `dst` has room for; the indices are
            // in `src`.
            unsafe {
                let idx = _mm256_loadu_si256(local.as_ptr().add(k).cast());
                let v = _mm256_i32gather_ps::<4>(src.as_ptr(), idx);
                _mm256_storeu_ps(dst.add(k), v);
            }
        }
        // SAFETY: as for the whole vectors above.
        unsafe { rest(dst, local, src, whole) };
    }
}

#[cfg(test)]
mod tests {
    use super::gather;

    #[test]
    fn the_gather_equals_indexing_for_every_length_and_appends() {
        let src: Vec<f32> = (0..300).map(|i| i as f32 * 0.5 - 7.0).collect();
        for n in [0usize, 1, 7, 8, 15, 16, 17, 33, 100, 131] {
            let local: Vec<u32> = (0..n).map(|k| ((k * 37 + 11) % 300) as u32).collect();
            let reach = local.iter().map(|&i| i as usize + 1).max().unwrap_or(0);
            let mut values = vec![1.0, 2.0];
            gather(&mut values, &local, reach, &src);
            let want: Vec<f32> = [1.0, 2.0]
                .into_iter()
                .chain(local.iter().map(|&i| src[i as usize]))
                .collect();
            assert_eq!(values, want, "{n} units");
        }
    }

    #[test]
    #[should_panic(expected = "probe unit 300 out of 300 values")]
    fn a_unit_beyond_the_state_panics_instead_of_reading_past_it() {
        gather(&mut Vec::new(), &[3, 300], 301, &[0.0; 300]);
    }
}

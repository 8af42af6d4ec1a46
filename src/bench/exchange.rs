//! `axon bench exchange`: the cost of one exchange window between ranks, the all-gather a
//! rank bridge makes per window.

use std::time::Instant;

use crate::cluster::{ClusterError, Exchange};

/// Windows run untimed before the timed ones.
pub const WARMUP_WINDOWS: u64 = 100;

/// Seconds `windows` all-gathers of `bytes` bytes from every rank take (after
/// [`WARMUP_WINDOWS`] untimed). Every rank calls it together.
pub fn time_exchange(
    x: &mut dyn Exchange,
    windows: u64,
    bytes: usize,
) -> Result<f64, ClusterError> {
    let piece = vec![7u8; bytes];
    let mut time = |n: u64| -> Result<f64, ClusterError> {
        let start = Instant::now();
        for _ in 0..n {
            x.all_gather(&piece)?;
        }
        Ok(start.elapsed().as_secs_f64())
    };
    time(WARMUP_WINDOWS)?;
    time(windows)
}

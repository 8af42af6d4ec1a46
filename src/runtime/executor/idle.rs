//! How an idle pinned worker waits for mail before it blocks ([`Idle`]): a spin, then a
//! polite wait, each with a budget that adapts to how soon mail came the last times.
//!
//! - An idle pinned worker (nothing ready, nothing inbound) spins on
//!   [`std::hint::spin_loop`], checking its inbound queue, for at most its spin budget
//!   (bounded by the clock, not by a count, so it means the same on every CPU), then blocks on
//!   it (crossbeam parks the thread; a sender unparks it). The budget adapts, as an adaptive
//!   mutex does: a spin that caught a message doubles it (up to [`SPIN_MAX`]), a spin that
//!   ended in a park halves it (down to [`SPIN_MIN`]). Lockstep work whose partner answers
//!   within microseconds (a CUBA tick split over two workers is 10-30 us per half) hands over
//!   within the spin and never pays a park and wake-up (10-50 us on a VM); when the partner
//!   is not running (another process has the core) the spins fail, the budget falls to
//!   [`SPIN_MIN`] and the worker gives its core back almost at once.
//! - Between the spin and the park the worker waits politely for up to its patience
//!   ([`PATIENCE_MAX`], halved by a wait that ended in a park, doubled by one that did not):
//!   it checks its queue and yields its core to any thread that wants it, so work whose
//!   partner answers within a few hundred microseconds (a PC inference step split over two
//!   workers) hands over without a park, and without the wake-up system call each park costs
//!   its waker (a third of a PC worker's time before), while another process's threads still
//!   get the core.

use std::time::{Duration, Instant};

/// Longest an idle worker spins before it blocks: long enough to catch the other half of a
/// lockstep tick (a park and wake-up costs 10-50 us on a VM, as much as the tick itself),
/// short enough that a worker with nothing to do gives its core back within 50 us.
const SPIN_MAX: Duration = Duration::from_micros(50);
/// Shortest spin budget (where it falls when spins keep ending in a park).
const SPIN_MIN: Duration = Duration::from_micros(1);
/// Longest an idle worker waits politely (checking its queue, yielding its core) after its
/// spin and before it parks.
const PATIENCE_MAX: Duration = Duration::from_micros(500);
/// Shortest polite wait (where it falls when waits keep ending in a park).
const PATIENCE_MIN: Duration = Duration::from_micros(5);
/// Spin iterations between two reads of the clock.
const SPIN_CHECK: u32 = 64;

/// The budgets of a worker's next idle spell.
pub(super) struct Idle {
    /// How long it spins.
    spin: Duration,
    /// How long it then waits politely.
    patience: Duration,
}

impl Default for Idle {
    fn default() -> Self {
        Idle {
            spin: SPIN_MAX,
            patience: PATIENCE_MAX,
        }
    }
}

impl Idle {
    /// Spins for at most the spin budget, then waits politely (yielding the core) for at most
    /// the patience, until `woken` says there is something to look at: true if it did, false
    /// if the worker should now block. The budget doubles after a spin that caught something
    /// and halves after one that did not; the patience likewise.
    pub(super) fn wait(&mut self, woken: impl Fn() -> bool) -> bool {
        let start = Instant::now();
        loop {
            for _ in 0..SPIN_CHECK {
                if woken() {
                    self.spin = (self.spin * 2).min(SPIN_MAX);
                    return true;
                }
                std::hint::spin_loop();
            }
            if start.elapsed() >= self.spin {
                break;
            }
        }
        self.spin = (self.spin / 2).max(SPIN_MIN);
        let polite = Instant::now();
        while polite.elapsed() < self.patience {
            for _ in 0..SPIN_CHECK {
                if woken() {
                    self.patience = (self.patience * 2).min(PATIENCE_MAX);
                    return true;
                }
                std::hint::spin_loop();
            }
            std::thread::yield_now();
        }
        self.patience = (self.patience / 2).max(PATIENCE_MIN);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_halve_when_nothing_comes_and_grow_back_when_mail_does() {
        let mut idle = Idle::default();
        assert!(!idle.wait(|| false));
        assert_eq!((idle.spin, idle.patience), (SPIN_MAX / 2, PATIENCE_MAX / 2));
        for _ in 0..20 {
            assert!(!idle.wait(|| false));
        }
        assert_eq!((idle.spin, idle.patience), (SPIN_MIN, PATIENCE_MIN));
        assert!(idle.wait(|| true));
        assert_eq!(idle.spin, SPIN_MIN * 2);
    }
}

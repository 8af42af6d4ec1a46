//! The measurement window both sides of a stress pattern share: when it opens (the first
//! actor or task starts), when it closes (a fixed length later, or when the last counted
//! message is handled) and how many messages were counted in it. axon's actors and the bare
//! channel's tasks call the same methods at the same points, so both sides are timed and
//! counted by one rule.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// One pattern run's window and count.
#[derive(Debug, Default)]
pub(crate) struct Window {
    /// The first actor's (task's) start.
    t0: OnceLock<Instant>,
    /// Nanoseconds after `t0` at which the window closed (the latest `mark_end`, or the timer).
    end_ns: AtomicU64,
    /// Set by the timer of a fixed-length window: no message is counted after it.
    expired: AtomicBool,
    /// Whether an actor has already asked the whole run to stop.
    stop_sent: AtomicBool,
    /// Messages counted (each actor or task adds its own count once, when it ends).
    counted: AtomicU64,
    /// The run has returned (the timer gives up waiting).
    done: AtomicBool,
}

/// What one side of a pattern measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Measure {
    /// Messages counted in the window.
    pub messages: u64,
    /// The window, seconds.
    pub span_s: f64,
}

impl Measure {
    /// Messages per second.
    pub(crate) fn rate(&self) -> f64 {
        self.messages as f64 / self.span_s.max(1e-12)
    }
}

impl Window {
    /// A fresh window, shared by every actor (task) of one run.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Opens the window if no actor has yet: every actor and task calls this when it starts.
    pub(crate) fn start(&self) {
        self.t0.get_or_init(Instant::now);
    }

    /// Whether a fixed-length window has closed.
    pub(crate) fn expired(&self) -> bool {
        self.expired.load(Ordering::Relaxed)
    }

    /// The last counted message of a fixed-count pattern was handled now (the latest call
    /// closes the window).
    pub(crate) fn mark_end(&self) {
        let t0 = *self.t0.get_or_init(Instant::now);
        self.end_ns
            .fetch_max(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }

    /// Adds an actor's count of handled messages.
    pub(crate) fn add(&self, n: u64) {
        self.counted.fetch_add(n, Ordering::Relaxed);
    }

    /// True for the first caller only (that actor asks the whole run to stop).
    pub(crate) fn first_stop(&self) -> bool {
        !self.stop_sent.swap(true, Ordering::Relaxed)
    }

    /// The count and the window, once the run has ended.
    pub(crate) fn measure(&self) -> Measure {
        Measure {
            messages: self.counted.load(Ordering::Relaxed),
            span_s: self.end_ns.load(Ordering::Relaxed) as f64 * 1e-9,
        }
    }

    /// Runs `f` (the run) with a timer that closes the window `len` after it opens.
    pub(crate) fn timed<R>(&self, len: Duration, f: impl FnOnce() -> R) -> R {
        std::thread::scope(|s| {
            s.spawn(|| self.timer(len));
            let r = f();
            self.done.store(true, Ordering::Relaxed);
            r
        })
    }

    /// Waits for the window to open, then closes it `len` later (unless the run ends first).
    fn timer(&self, len: Duration) {
        let t0 = loop {
            if let Some(&t0) = self.t0.get() {
                break t0;
            }
            if self.done.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_micros(50));
        };
        let deadline = t0 + len;
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            if self.done.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep((deadline - now).min(Duration::from_millis(5)));
        }
        self.end_ns
            .store(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.expired.store(true, Ordering::Release);
    }
}

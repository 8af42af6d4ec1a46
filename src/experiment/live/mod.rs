//! The live view of a run: what a running (or finished) run tells a browser. The run sends
//! [`LiveEvent`]s through a [`LiveSender`] that never blocks (a full queue drops the update
//! and counts it); a hub thread folds them into one [`LiveState`]; the [`server`] hands
//! that state out as JSON to the page it serves, read-only, behind a token.

pub mod server;
pub mod state;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::experiment::results::EpochRecord;
use crate::message::probe::{ProbeChunk, ProbeFeed, ProbePlan};
pub use server::{serve, LiveServer, ServeOptions};
pub use state::LiveState;

/// Updates queued between the run and the hub; more are dropped (and counted).
pub const QUEUE: usize = 16_384;

/// What a run tells the live view.
#[derive(Clone, Debug)]
pub enum LiveEvent {
    /// The run starts: its name, kind and folder.
    Started {
        /// The scenario's name.
        name: String,
        /// `algorithm.kind`.
        kind: String,
        /// The run folder.
        dir: std::path::PathBuf,
    },
    /// The probes recorded (in scenario order) and their time axis (length of a tick or
    /// step, and its unit).
    Probes(Vec<ProbePlan>, f64, &'static str),
    /// Samples of a probe.
    Probe(ProbeChunk),
    /// Simulated ticks done of a spiking run, and of how many.
    Ticks(u64, u64),
    /// Model `label` starts epoch `epoch` of `epochs`, of `batches` batches.
    EpochStart {
        /// The model.
        label: String,
        /// 1-based epoch.
        epoch: usize,
        /// Epochs in all.
        epochs: usize,
        /// Batches in the epoch.
        batches: usize,
    },
    /// Batches done in the current epoch.
    BatchDone(usize),
    /// Model `label` finished an epoch.
    EpochEnd(String, Box<EpochRecord>),
    /// A sweep's point finished: its folder name, status, and figures.
    SweepPoint(serde_json::Value),
    /// The run ended: its results.json (or, on failure, the error).
    Finished(Result<serde_json::Value, String>),
}

/// The run's end of the live view: cheap to clone, never blocks.
#[derive(Clone, Debug)]
pub struct LiveSender {
    tx: Sender<LiveEvent>,
    dropped: Arc<AtomicU64>,
}

impl LiveSender {
    /// Queues `ev`; when the queue is full the update is dropped and counted.
    pub fn send(&self, ev: LiveEvent) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(ev) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A probe feed for a spiking network's probe sink.
    pub fn probe_feed(&self) -> ProbeFeed {
        let me = self.clone();
        Arc::new(move |c: &ProbeChunk| me.send(LiveEvent::Probe(c.clone())))
    }
}

/// The live view's state and the hub that keeps it, fed by [`LiveHub::sender`].
pub struct LiveHub {
    state: Arc<Mutex<LiveState>>,
    sender: LiveSender,
    /// The hub thread: it ends when the last sender is dropped.
    _hub: Option<std::thread::JoinHandle<()>>,
}

impl LiveHub {
    /// A hub with an empty state and its thread.
    pub fn start() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let state = Arc::new(Mutex::new(LiveState::default()));
        let hub = {
            let (state, dropped) = (state.clone(), dropped.clone());
            std::thread::Builder::new()
                .name("axon-live-hub".into())
                .spawn(move || fold(&rx, &state, &dropped))
                .ok()
        };
        LiveHub {
            state,
            sender: LiveSender { tx, dropped },
            _hub: hub,
        }
    }

    /// Where the run sends its updates.
    pub fn sender(&self) -> LiveSender {
        self.sender.clone()
    }

    /// The state the server reads.
    pub fn state(&self) -> Arc<Mutex<LiveState>> {
        self.state.clone()
    }
}

impl LiveHub {
    /// Waits until the hub has taken in every update sent so far (at most `within`).
    pub fn drain(&self, within: std::time::Duration) {
        let end = std::time::Instant::now() + within;
        while !self.sender.tx.is_empty() && std::time::Instant::now() < end {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

/// The hub: every event into the state, until the run's senders are gone.
fn fold(rx: &Receiver<LiveEvent>, state: &Mutex<LiveState>, dropped: &AtomicU64) {
    for ev in rx.iter() {
        let mut s = state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.apply(ev);
        s.dropped = dropped.load(Ordering::Relaxed);
    }
}

//! What a running actor tells its supervisor: live progress counters on one shared board
//! (written by the actor, read by the supervisor's stall check) and the [`Event`]s it sends
//! (a panic, a request to stop everyone, its own stop).

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

/// Live progress counters of one actor: written by the actor only, read by the supervisor.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub(crate) handled: AtomicU64,
    pub(crate) last_step: AtomicU64,
    /// Inside a handler now: working, however long it takes (a lone shard simulating a
    /// minute in one turn), is not a stall.
    pub(crate) busy: AtomicBool,
}

/// One actor's entry on the progress board: every actor's [`Progress`] sits in one array in id
/// order, so a handler updates a counter beside its neighbours' instead of in an allocation
/// of its own (one cache miss less per message when many small actors take turns).
#[derive(Clone)]
pub(crate) struct ProgressRef {
    board: Arc<[Progress]>,
    id: usize,
}

impl ProgressRef {
    /// The entries of a board for `n` actors, in id order.
    pub(crate) fn board(n: usize) -> Vec<ProgressRef> {
        let board: Arc<[Progress]> = (0..n).map(|_| Progress::default()).collect();
        (0..n)
            .map(|id| ProgressRef {
                board: board.clone(),
                id,
            })
            .collect()
    }
}

impl std::ops::Deref for ProgressRef {
    type Target = Progress;
    fn deref(&self) -> &Progress {
        &self.board[self.id]
    }
}

/// What actors tell the supervisor.
pub(crate) enum Event {
    /// A handler panicked (`kind`: what it was handling).
    Failed {
        actor: usize,
        kind: String,
        message: String,
    },
    /// The actor asked every actor to stop (`Flow::StopAll`).
    StopAll,
    /// The actor has stopped.
    Stopped,
}

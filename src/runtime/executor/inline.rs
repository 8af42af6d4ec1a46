//! The inline executor: the local scheduler (`schedule.rs`) with one worker, on the calling
//! thread, holding every actor. Start hooks run in id order; then actors with mail are served
//! from a FIFO ready queue, one item per turn, each handler's sends delivered before the next
//! turn. The order depends only on the network and its messages, never on timing, and idle
//! actors cost nothing. No mail anywhere while actors still run is a deadlock, reported as a
//! stall; no supervisor thread runs.

use std::sync::Arc;
use std::time::Duration;

use super::schedule::{Inbound, Mode, Shared, Worker};
use super::{Finished, Runtime};
use crate::runtime::cell::{Cell, Envelope};
use crate::runtime::mailbox::worker_queue;
use crate::runtime::payload::Payload;
use crate::runtime::supervisor::{RuntimeError, Supervisor};

impl<M: Payload> Runtime<M> {
    /// Runs every actor on this thread until all stop, one fails, or none has mail.
    pub(super) fn run_inline(
        &self,
        cells: Vec<Cell<M>>,
        ticked: &[bool],
        supervisor: &Supervisor<Envelope<M>>,
    ) -> Finished<M> {
        let n = cells.len();
        // One worker: every actor resident at its own id. Its inbound queue only ever
        // carries the stop flag's wake-up.
        let (tx, rx) = worker_queue::<Inbound<M>>();
        let shared = Shared::new(vec![tx], vec![0; n], (0..n as u32).collect());
        let end = Worker::new(Mode::Inline, 0, Arc::new(shared), rx, cells, ticked).run();
        let failure = supervisor.first_panic().or_else(|| {
            (end.live > 0).then(|| {
                // No mail anywhere and actors still running: a stall naming the live ones.
                let states = supervisor.states();
                let states = end
                    .depths
                    .iter()
                    .map(|&(id, depth)| {
                        let mut s = states[id].clone();
                        s.mailbox_depth = depth;
                        s
                    })
                    .collect();
                RuntimeError::Stalled {
                    timeout: Duration::ZERO,
                    states,
                }
            })
        });
        Finished {
            cells: end.cells,
            failure,
            stop_at: end.stop_at,
            spawn: Duration::ZERO,
        }
    }
}

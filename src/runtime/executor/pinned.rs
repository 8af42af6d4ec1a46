//! The pinned executor: `workers` OS threads, every actor resident on exactly one of them
//! ([`crate::runtime::Network::place`], else contiguous blocks of ids), each thread a worker
//! of the local scheduler (`schedule.rs`: local queues, a FIFO ready queue, an inbound queue
//! per worker for messages from the others, an adaptive spin before it parks).
//!
//! Supervision is the supervisor's ([`crate::runtime::supervisor`]): every stopped actor
//! reports `Stopped`, panics and `StopAll` are reported as on the threads executor, and no
//! progress for `stall_timeout` is a stall. A `StopAll`, a panic or the supervisor's stop sets
//! one shared stop flag and wakes every worker, which then sends `Stop` to its live actors in
//! id order.
//!
//! With one worker this is the inline executor's schedule (deterministic); with several,
//! the interleaving across workers depends on timing, as on tokio.

use std::sync::Arc;
use std::time::Instant;

use super::schedule::{Inbound, Mode, Shared, Worker, WorkerEnd};
use super::{Finished, Runtime};
use crate::runtime::cell::{Cell, Envelope};
use crate::runtime::mailbox::worker_queue;
use crate::runtime::network::Executor;
use crate::runtime::payload::Payload;
use crate::runtime::supervisor::{ActorState, RuntimeError, Supervisor};

impl<M: Payload> Runtime<M> {
    /// Places every actor on its worker, runs the workers, supervises them and joins them.
    pub(super) fn run_pinned(
        &self,
        cells: Vec<Cell<M>>,
        worker_of: &[usize],
        ticked: &[bool],
        supervisor: &Supervisor<Envelope<M>>,
        start: Instant,
    ) -> Result<Finished<M>, RuntimeError> {
        let n = cells.len();
        let workers = self.config.workers.max(1);
        let mut residents: Vec<Vec<Cell<M>>> = (0..workers).map(|_| Vec::new()).collect();
        let mut local = Vec::with_capacity(n);
        for cell in cells {
            let w = worker_of[cell.id];
            local.push(residents[w].len() as u32);
            residents[w].push(cell);
        }
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..workers).map(|_| worker_queue::<Inbound<M>>()).unzip();
        let worker = worker_of.iter().map(|&w| w as u32).collect();
        let shared = Arc::new(Shared::new(senders, worker, local));
        let mut handles = Vec::with_capacity(workers);
        for (index, (cells, inbound)) in residents.into_iter().zip(receivers).enumerate() {
            let worker = Worker::new(Mode::Pinned, index, shared.clone(), inbound, cells, ticked);
            let spawned = std::thread::Builder::new()
                .name(format!("axon-pinned-{index}"))
                .spawn(move || worker.run());
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    shared.stop();
                    for h in handles {
                        let _ = h.join();
                    }
                    return Err(RuntimeError::Start {
                        executor: Executor::Pinned,
                        message: e.to_string(),
                    });
                }
            }
        }
        let spawn = start.elapsed();
        let (mut failure, stop_at) = supervisor.supervise(n, &|| shared.stop());
        shared.stop();
        let mut cells = Vec::with_capacity(n);
        let mut depths = Vec::new();
        for (w, h) in handles.into_iter().enumerate() {
            match h.join() {
                Ok(WorkerEnd {
                    cells: c,
                    depths: d,
                    ..
                }) => {
                    cells.extend(c);
                    depths.extend(d);
                }
                Err(_) => {
                    failure.get_or_insert_with(|| RuntimeError::Panicked {
                        actor: format!("pinned worker {w}"),
                        kind: "its schedule".to_owned(),
                        message: "the worker thread panicked".to_owned(),
                    });
                }
            }
        }
        cells.sort_by_key(|c| c.id);
        if let Some(RuntimeError::Stalled { states, .. }) = &mut failure {
            report_depths(states, depths);
        }
        Ok(Finished {
            cells,
            failure,
            stop_at,
            spawn,
        })
    }
}

/// The supervisor's addresses carry no mail under this executor: a stall reports the local
/// queues' depths (`(id, depth)` as the workers left them) instead.
fn report_depths(states: &mut [ActorState], depths: Vec<(usize, usize)>) {
    for (id, depth) in depths {
        if let Some(s) = states.get_mut(id) {
            s.mailbox_depth = depth;
        }
    }
}

#[cfg(test)]
mod tests;

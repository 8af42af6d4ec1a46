//! The threads executor: one OS thread per actor, blocking on crossbeam channels (a few large
//! actors, each with a core to itself).

use std::time::Instant;

use super::{Finished, Runtime};
use crate::runtime::cell::{actor_loop, Cell, Envelope};
use crate::runtime::mailbox::Mailbox;
use crate::runtime::network::Executor;
use crate::runtime::payload::Payload;
use crate::runtime::supervisor::{RuntimeError, Supervisor};

/// Runs on the threads executor: one OS thread.
fn thread_loop<M: Payload>(mut cell: Cell<M>, mut mb: Mailbox<Envelope<M>>) -> Cell<M> {
    actor_loop!(cell, mb, send_blocking, recv_blocking)
}

impl<M: Payload> Runtime<M> {
    /// Spawns a thread per actor (named after it), supervises them and joins them.
    pub(super) fn run_threads(
        &self,
        cells: Vec<Cell<M>>,
        mailboxes: Vec<Mailbox<Envelope<M>>>,
        names: &[String],
        supervisor: &Supervisor<Envelope<M>>,
        start: Instant,
    ) -> Result<Finished<M>, RuntimeError> {
        let n = cells.len();
        let handles: Vec<_> = cells
            .into_iter()
            .zip(mailboxes)
            .map(|(cell, mb)| {
                std::thread::Builder::new()
                    .name(names[cell.id].clone())
                    .spawn(move || thread_loop(cell, mb))
            })
            .collect::<Result<_, _>>()
            .map_err(|e| RuntimeError::Start {
                executor: Executor::Threads,
                message: e.to_string(),
            })?;
        let spawn = start.elapsed();
        let (failure, stop_at) = supervisor.supervise(n, &|| {});
        let cells = handles.into_iter().filter_map(|h| h.join().ok()).collect();
        Ok(Finished {
            cells,
            failure,
            stop_at,
            spawn,
        })
    }
}

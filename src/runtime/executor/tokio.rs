//! The tokio executor: one task per actor on a multi-thread runtime with `workers` threads
//! (many more actors than cores; an idle actor is a parked task).

use std::time::{Duration, Instant};

use super::{Finished, Runtime};
use crate::runtime::cell::{actor_loop, Cell, Envelope};
use crate::runtime::mailbox::Mailbox;
use crate::runtime::network::Executor;
use crate::runtime::payload::Payload;
use crate::runtime::supervisor::{RuntimeError, Supervisor};

/// Runs on the tokio executor: one task.
async fn task_loop<M: Payload>(mut cell: Cell<M>, mut mb: Mailbox<Envelope<M>>) -> Cell<M> {
    actor_loop!(cell, mb, send_async, recv_async, .await)
}

impl<M: Payload> Runtime<M> {
    /// Spawns a task per actor on a fresh tokio runtime, supervises them and collects them
    /// (a task still blocked after a failure is aborted after 1 s).
    pub(super) fn run_tokio(
        &self,
        cells: Vec<Cell<M>>,
        mailboxes: Vec<Mailbox<Envelope<M>>>,
        supervisor: &Supervisor<Envelope<M>>,
        start: Instant,
    ) -> Result<Finished<M>, RuntimeError> {
        let n = cells.len();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.config.workers.max(1))
            .enable_time()
            .build()
            .map_err(|e| RuntimeError::Start {
                executor: Executor::Tokio,
                message: e.to_string(),
            })?;
        let handles: Vec<_> = cells
            .into_iter()
            .zip(mailboxes)
            .map(|(cell, mb)| rt.spawn(task_loop(cell, mb)))
            .collect();
        let spawn = start.elapsed();
        tracing::debug!(spawn = ?spawn, actors = n, "tokio network started");
        let (failure, stop_at) = supervisor.supervise(n, &|| {});
        let cells = rt.block_on(async {
            let mut out = Vec::with_capacity(handles.len());
            for h in handles {
                let abort = h.abort_handle();
                match tokio::time::timeout(Duration::from_secs(1), h).await {
                    Ok(Ok(cell)) => out.push(cell),
                    _ => abort.abort(),
                }
            }
            out
        });
        rt.shutdown_background();
        Ok(Finished {
            cells,
            failure,
            stop_at,
            spawn,
        })
    }
}

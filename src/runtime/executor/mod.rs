//! The runtime: builds a [`Network`] description into running actors on one of four
//! executors, supervises them, and returns their final state and traffic.
//!
//! - `tokio` (`tokio.rs`): one task per actor on a multi-thread runtime with
//!   `workers` threads (many more actors than cores).
//! - `threads` (`threads.rs`): one OS thread per actor with crossbeam channels (a few large
//!   actors).
//! - `inline` (`inline.rs`): every actor on the calling thread, served in a fixed order from
//!   local queues: the no-threads baseline and a deterministic test harness.
//! - `pinned` (`pinned.rs`): `workers` OS threads, each serving the actors placed on it the
//!   inline way; a message to an actor on the same worker is a local queue push, to another
//!   worker a push on that worker's inbound queue.
//!
//! Inline and pinned share one local scheduler (`schedule.rs`): inline is its one worker on
//! the calling thread. The `Supervisor` watches the threads, tokio and pinned executors;
//! the inline executor detects deadlocks itself and reads the supervisor's panic reports.

mod advance;
mod calendar;
mod idle;
mod inline;
mod mail;
mod pinned;
mod schedule;
mod threads;
mod tokio;

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use crate::runtime::actor::Actor;
use crate::runtime::cell::{Cell, Envelope};
use crate::runtime::mailbox::{mailbox, supervisor_channel, Flavor, Mailbox};
use crate::runtime::network::{Executor, Network, RunReport, RuntimeConfig};
use crate::runtime::payload::Payload;
use crate::runtime::progress::{Event, ProgressRef};
use crate::runtime::supervisor::{RuntimeError, Supervisor};
use crate::runtime::trace_log::TraceEvent;
use crate::runtime::traffic::{EdgeCounters, Traffic};

/// A runtime: runs networks of actors exchanging messages of type `M` on the executor its
/// configuration names.
pub struct Runtime<M: Payload> {
    pub(crate) config: RuntimeConfig,
    message: PhantomData<fn(M)>,
}

/// The actors of a network, built and wired, before they start.
struct Built<M: Payload> {
    /// The network's stamp.
    stamp: u64,
    names: Vec<String>,
    cells: Vec<Cell<M>>,
    /// Channel mailboxes (threads and tokio executors; empty on the local scheduler's).
    mailboxes: Vec<Mailbox<Envelope<M>>>,
    supervisor: Supervisor<Envelope<M>>,
    /// The worker of each actor (pinned executor; empty otherwise).
    worker_of: Vec<usize>,
    /// Whether each actor is stepped by worker ticks.
    ticked: Vec<bool>,
}

/// What an executor hands back once every actor has stopped (or the run failed).
struct Finished<M: Payload> {
    /// The cells that could be recovered, in id order.
    cells: Vec<Cell<M>>,
    /// Why the run failed, if it did.
    failure: Option<RuntimeError>,
    /// When the first stop request came, if one did.
    stop_at: Option<Instant>,
    /// Time spent spawning actors after the work window opened.
    spawn: Duration,
}

impl<M: Payload> Runtime<M> {
    /// A runtime with this configuration.
    pub fn new(config: RuntimeConfig) -> Self {
        Self {
            config,
            message: PhantomData,
        }
    }

    /// Builds and runs `network` until every actor has stopped (or one fails, or it stalls).
    pub fn run(&self, network: Network<M>) -> Result<RunReport<M>, RuntimeError> {
        let executor = self.config.executor;
        if network.has_ticked() && !matches!(executor, Executor::Inline | Executor::Pinned) {
            return Err(RuntimeError::Start {
                executor,
                message: "this network has actors stepped by worker ticks, which only the \
                          inline and pinned executors run; choose one of them"
                    .to_owned(),
            });
        }
        let build_start = Instant::now();
        let built = self.build(network, build_start);
        // Actors start working as soon as they are spawned, so the work window opens here.
        let start = Instant::now();
        let Built {
            stamp,
            names,
            cells,
            mailboxes,
            supervisor,
            worker_of,
            ticked,
        } = built;
        let sup = &supervisor;
        let finished = match self.config.executor {
            Executor::Inline => self.run_inline(cells, &ticked, sup),
            Executor::Pinned => self.run_pinned(cells, &worker_of, &ticked, sup, start)?,
            Executor::Threads => self.run_threads(cells, mailboxes, &names, sup, start)?,
            Executor::Tokio => self.run_tokio(cells, mailboxes, sup, start)?,
        };
        let startup = finished.spawn + (start - build_start);
        if let Some(e) = finished.failure {
            return Err(e);
        }
        let elapsed = start.elapsed();
        let active = finished
            .stop_at
            .map_or(elapsed, |t| t.saturating_duration_since(start));
        let mut report = report(names, finished.cells);
        report.network = stamp;
        report.worker_of = worker_of;
        report.elapsed = elapsed;
        report.active = active;
        report.startup = startup;
        Ok(report)
    }

    /// Mailboxes, the supervisor's watch list and cells for every actor of `network`.
    fn build(&self, network: Network<M>, clock: Instant) -> Built<M> {
        // The local scheduler (inline, pinned) delivers through its workers' queues: by id,
        // to addresses without channels (an idle actor costs no channel).
        let local = matches!(self.config.executor, Executor::Inline | Executor::Pinned);
        let flavor = match self.config.executor {
            Executor::Tokio => Flavor::Tokio,
            Executor::Threads => Flavor::Threads,
            Executor::Inline | Executor::Pinned => Flavor::Detached,
        };
        let worker_of = match self.config.executor {
            Executor::Pinned => network.workers_of(self.config.workers),
            _ => Vec::new(),
        };
        let (actors, edges, ticked, stamp) = network.into_parts();
        let n = actors.len();
        let (events_tx, events) = supervisor_channel::<Event>();
        let mut supervisor = Supervisor::new(events, self.config.stall_timeout);
        let mut mailboxes = Vec::with_capacity(if local { 0 } else { n });
        let mut addresses = Vec::with_capacity(n);
        let progress = ProgressRef::board(n);
        let (names, actors): (Vec<String>, Vec<Box<dyn Actor<M>>>) = actors.into_iter().unzip();
        for (id, name) in names.iter().enumerate() {
            let (addr, mb) = mailbox::<Envelope<M>>(id, flavor, self.config.mailbox_capacity);
            supervisor.watch(name.clone(), addr.clone(), progress[id].clone());
            addresses.push(addr);
            if !local {
                mailboxes.push(mb);
            }
        }
        tracing::debug!(mailboxes = ?clock.elapsed(), "mailboxes and watch list built");
        let cells = actors
            .into_iter()
            .zip(edges)
            .zip(progress)
            .enumerate()
            .map(|(id, ((actor, edges), progress))| Cell {
                id,
                counters: EdgeCounters::new(edges.len()),
                // The local scheduler delivers by id: no address per edge.
                edges: if local {
                    Vec::new()
                } else {
                    edges.iter().map(|&t| addresses[t].clone()).collect()
                },
                targets: edges.iter().map(|&t| t as u32).collect(),
                own: addresses[id].clone(),
                sample: self.config.trace_sample,
                sent: 0,
                received: 0,
                clock,
                trace: Vec::new(),
                actor,
                outbox: Vec::new(),
                worker_tick: None,
                sleep_after_mail: None,
                progress,
                events: events_tx.clone(),
            })
            .collect();
        tracing::debug!(cells = ?clock.elapsed(), "cells built");
        Built {
            stamp,
            names,
            cells,
            mailboxes,
            supervisor,
            worker_of,
            ticked,
        }
    }
}

/// The report of a finished run: actors, merged trace and traffic, messages handled (times
/// are filled in by the caller).
fn report<M: Payload>(names: Vec<String>, mut cells: Vec<Cell<M>>) -> RunReport<M> {
    let mut trace: Vec<TraceEvent<M::Kind>> = cells
        .iter_mut()
        .flat_map(|c| std::mem::take(&mut c.trace))
        .collect();
    trace.sort_by_key(|e| e.send_ns);
    let handled = cells.iter().map(|c| c.received).sum();
    let targets: Vec<Vec<usize>> = cells
        .iter()
        .map(|c| c.targets.iter().map(|&t| t as usize).collect())
        .collect();
    let traffic = Traffic::merge::<M::Kind>(
        &names,
        cells
            .iter()
            .zip(&targets)
            .map(|(c, t)| (c.id, t.as_slice(), &c.counters)),
    );
    RunReport {
        actors: cells.into_iter().map(|c| c.actor).collect(),
        names,
        traffic,
        elapsed: Duration::ZERO,
        active: Duration::ZERO,
        startup: Duration::ZERO,
        trace,
        handled,
        worker_of: Vec::new(),
        network: 0,
    }
}

#[cfg(test)]
mod tests;

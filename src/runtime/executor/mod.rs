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
//! Supervision ([`crate::runtime::supervisor`]) watches the threads, tokio and pinned
//! executors; the inline executor detects failures and deadlocks itself.

mod inline;
mod pinned;
mod threads;
mod tokio;

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::runtime::actor::Actor;
use crate::runtime::cell::{Cell, Entry, Envelope, Progress};
use crate::runtime::mailbox::{mailbox, ActorRef, Flavor, Mailbox, SupervisorRx};
use crate::runtime::network::{Executor, Network, RunReport, RuntimeConfig};
use crate::runtime::payload::Payload;
use crate::runtime::supervisor::{Event, RuntimeError};
use crate::runtime::trace_log::TraceEvent;
use crate::runtime::traffic::{EdgeCounters, Traffic};

/// A runtime: owns the registry of the network it runs (names, addresses, live progress).
pub struct Runtime<M: Payload> {
    pub(crate) config: RuntimeConfig,
    pub(crate) registry: DashMap<usize, Entry<M>>,
}

/// The actors of a network, built and wired, before they start.
struct Built<M: Payload> {
    names: Vec<String>,
    cells: Vec<Cell<M>>,
    mailboxes: Vec<Mailbox<Envelope<M>>>,
    events: SupervisorRx<Event>,
    /// The worker of each actor (pinned executor; empty otherwise).
    worker_of: Vec<usize>,
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
            registry: DashMap::new(),
        }
    }

    /// Builds and runs `network` until every actor has stopped (or one fails, or it stalls).
    pub fn run(&self, network: Network<M>) -> Result<RunReport<M>, RuntimeError> {
        let build_start = Instant::now();
        let built = self.build(network, build_start);
        // Actors start working as soon as they are spawned, so the work window opens here.
        let start = Instant::now();
        let Built {
            names,
            cells,
            mailboxes,
            events,
            worker_of,
        } = built;
        let finished = match self.config.executor {
            Executor::Inline => self.run_inline(cells, mailboxes, &events),
            Executor::Pinned => self.run_pinned(cells, &worker_of, &events, start)?,
            Executor::Threads => self.run_threads(cells, mailboxes, &names, &events, start)?,
            Executor::Tokio => self.run_tokio(cells, mailboxes, &events, start)?,
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
        report.worker_of = worker_of;
        report.elapsed = elapsed;
        report.active = active;
        report.startup = startup;
        Ok(report)
    }

    /// Mailboxes, registry entries and cells for every actor of `network`.
    fn build(&self, network: Network<M>, clock: Instant) -> Built<M> {
        let flavor = match self.config.executor {
            Executor::Tokio => Flavor::Tokio,
            Executor::Threads => Flavor::Threads,
            // Pinned actors keep (idle) unbounded mailboxes for the registry's addresses.
            Executor::Inline | Executor::Pinned => Flavor::Inline,
        };
        let worker_of = match self.config.executor {
            Executor::Pinned => network.workers_of(self.config.workers),
            _ => Vec::new(),
        };
        let (actors, edges) = network.into_parts();
        let n = actors.len();
        let (events_tx, events) = crate::runtime::mailbox::supervisor_channel::<Event>();
        let mut mailboxes = Vec::with_capacity(n);
        let mut addresses = Vec::with_capacity(n);
        let mut progress = Vec::with_capacity(n);
        let (names, actors): (Vec<String>, Vec<Box<dyn Actor<M>>>) = actors.into_iter().unzip();
        self.registry.clear();
        for (id, name) in names.iter().enumerate() {
            let (addr, mb) = mailbox::<Envelope<M>>(id, flavor, self.config.mailbox_capacity);
            let p = Arc::new(Progress::default());
            let entry = Entry {
                name: name.clone(),
                address: addr.clone(),
                progress: p.clone(),
            };
            self.registry.insert(id, entry);
            progress.push(p);
            addresses.push(addr);
            mailboxes.push(mb);
        }
        tracing::debug!(mailboxes = ?clock.elapsed(), "mailboxes and registry built");
        let cells = actors
            .into_iter()
            .zip(edges)
            .zip(progress)
            .enumerate()
            .map(|(id, ((actor, edges), progress))| Cell {
                id,
                counters: EdgeCounters::new::<M::Kind>(edges.len()),
                edges: edges.iter().map(|&t| addresses[t].clone()).collect(),
                own: addresses[id].clone(),
                sample: self.config.trace_sample,
                sent: 0,
                received: 0,
                clock,
                trace: Vec::new(),
                actor,
                outbox: Vec::new(),
                progress,
                events: events_tx.clone(),
            })
            .collect();
        tracing::debug!(cells = ?clock.elapsed(), "cells built");
        Built {
            names,
            cells,
            mailboxes,
            events,
            worker_of,
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
        .map(|c| c.edges.iter().map(ActorRef::id).collect())
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
    }
}

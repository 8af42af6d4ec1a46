//! The runtime: builds a [`Network`] description into running actors on one of three
//! executors, supervises them, and returns their final state and traffic.
//!
//! - `tokio`: one task per actor on a multi-thread runtime with `workers` threads (many more
//!   actors than cores).
//! - `threads`: one OS thread per actor with crossbeam channels (a few large actors).
//! - `inline`: every actor on the calling thread, served in a fixed order from local queues:
//!   the no-threads baseline and a deterministic test harness.
//!
//! Supervision: a panic in a handler is caught; the supervisor then stops every actor and the
//! run returns [`RuntimeError::Panicked`] naming the actor, the message kind and the panic
//! text. When no actor handles a message for `stall_timeout` while some are still running,
//! the run returns [`RuntimeError::Stalled`] with every actor's mailbox depth and last step.
//! Nothing busy-waits: idle actors park on their channels and the supervisor sleeps on its own.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use serde::Serialize;

use crate::message::{Control, MessageKind, Payload};
use crate::runtime::actor::{Actor, Context, Flow};
use crate::runtime::mailbox::{
    mailbox, ActorRef, Flavor, Item, Mailbox, RecvTimeoutError, SendOutcome, SupervisorTx,
};
use crate::runtime::trace_log::TraceEvent;
use crate::runtime::traffic::{EdgeCounters, Traffic};

/// Which executor runs the actors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Executor {
    /// Tasks on a tokio multi-thread runtime.
    Tokio,
    /// One OS thread per actor.
    Threads,
    /// All actors on the calling thread, in a fixed order.
    Inline,
}

impl Executor {
    /// Every executor (for tests that run a case on each).
    pub const ALL: [Executor; 3] = [Executor::Tokio, Executor::Threads, Executor::Inline];
}

/// How a network runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RuntimeConfig {
    /// The executor.
    pub executor: Executor,
    /// Worker threads of the tokio executor (>= 1).
    pub workers: usize,
    /// Data messages a mailbox holds before senders wait (>= 1; inline: unbounded).
    pub mailbox_capacity: usize,
    /// No progress for this long is a stall.
    pub stall_timeout: Duration,
    /// Log 1 in this many messages (send and receive time, edge, kind, bytes, step, mailbox
    /// depth) in [`RunReport::trace`]; 0 logs none.
    pub trace_sample: u64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            executor: Executor::Tokio,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            mailbox_capacity: 1024,
            stall_timeout: Duration::from_secs(10),
            trace_sample: 0,
        }
    }
}

/// What to build and how it is wired, kept apart from the running actors.
pub struct Network<M: Payload> {
    actors: Vec<(String, Box<dyn Actor<M>>)>,
    edges: Vec<Vec<usize>>,
}

impl<M: Payload> Default for Network<M> {
    fn default() -> Self {
        Self {
            actors: Vec::new(),
            edges: Vec::new(),
        }
    }
}

impl<M: Payload> Network<M> {
    /// An empty network.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an actor; returns its id.
    pub fn add(&mut self, name: impl Into<String>, actor: impl Actor<M>) -> usize {
        self.actors.push((name.into(), Box::new(actor)));
        self.edges.push(Vec::new());
        self.actors.len() - 1
    }

    /// Wires `from -> to`; returns the edge's index among `from`'s out-edges.
    ///
    /// # Panics
    /// If either id is not in the network.
    pub fn connect(&mut self, from: usize, to: usize) -> usize {
        assert!(to < self.actors.len(), "no actor {to}");
        self.edges[from].push(to);
        self.edges[from].len() - 1
    }

    /// Number of actors.
    pub fn len(&self) -> usize {
        self.actors.len()
    }

    /// Whether the network has no actors.
    pub fn is_empty(&self) -> bool {
        self.actors.is_empty()
    }
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// An actor panicked.
    #[error("actor {actor} panicked while handling {kind}: {message}")]
    Panicked {
        /// The actor's name.
        actor: String,
        /// What it was handling (`start`, `control`, or a message kind).
        kind: String,
        /// The panic text.
        message: String,
    },
    /// No actor made progress for the stall timeout.
    #[error("stalled: no actor handled a message for {timeout:?}; actors: {}", format_states(.states))]
    Stalled {
        /// The timeout that elapsed.
        timeout: Duration,
        /// Every actor that had not stopped.
        states: Vec<ActorState>,
    },
    /// An actor found a value that is not finite (NaN or infinite) in its state and the run
    /// stopped rather than go on computing with it.
    #[error(
        "actor {actor} found a non-finite value at step {step}: {what} = {value}; \
         the run stopped (finished epochs are kept). Lower train.lr or check the data"
    )]
    NonFinite {
        /// The actor's name.
        actor: String,
        /// The step (message step number) at which it was found.
        step: u64,
        /// Which part of the state (`weight`, `bias`, `value node`, `error`, `free energy`).
        what: String,
        /// The value.
        value: f32,
    },
    /// A graceful stop was requested (Ctrl-C): the actors finished what was in flight and
    /// saved a final checkpoint.
    #[error("interrupted: the run stopped after a final checkpoint")]
    Interrupted,
    /// The actors could not be built from a checkpoint.
    #[error("{0}")]
    Restore(String),
    /// The executor could not start.
    #[error("cannot start the {executor:?} executor: {message}")]
    Start {
        /// Which executor.
        executor: Executor,
        /// Why.
        message: String,
    },
}

/// An actor's state in a stall report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActorState {
    /// Name.
    pub name: String,
    /// Data messages waiting in its mailbox.
    pub mailbox_depth: usize,
    /// Messages it has handled.
    pub handled: u64,
    /// Step of the last message it handled.
    pub last_step: u64,
}

fn format_states(states: &[ActorState]) -> String {
    states
        .iter()
        .map(|s| {
            format!(
                "{} (mailbox {}, handled {}, last step {})",
                s.name, s.mailbox_depth, s.handled, s.last_step
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a finished run hands back.
pub struct RunReport<M: Payload> {
    /// The actors, in network order, with their final state.
    pub actors: Vec<Box<dyn Actor<M>>>,
    /// Names, in network order.
    pub names: Vec<String>,
    /// Every message counted, merged.
    pub traffic: Traffic,
    /// Wall time from the actors' start to the last actor stopping.
    pub elapsed: Duration,
    /// Wall time from the actors' start to the first stop request (`Flow::StopAll`), or to
    /// the last actor stopping if none asked: the window in which the work ran.
    pub active: Duration,
    /// Data messages handled by all actors (counted even when built without `counters`).
    pub handled: u64,
    /// The sampled message events (empty unless `trace_sample` > 0), by send time.
    pub trace: Vec<TraceEvent>,
    /// Wall time to build mailboxes and the registry and to spawn every actor (actors start
    /// working while later ones are spawned, so this overlaps `active`).
    pub startup: Duration,
}

/// Live progress counters of one actor: written by the actor only, read by the supervisor.
#[derive(Debug, Default)]
struct Progress {
    handled: AtomicU64,
    last_step: AtomicU64,
}

/// A data message in a mailbox: the message, its sender and, if sampled for the event log,
/// when it was sent.
pub(crate) struct Envelope<M> {
    msg: M,
    from: u32,
    sent_ns: u64,
}

/// `Envelope::sent_ns` of a message that is not in the sampled event log.
const NOT_SAMPLED: u64 = u64::MAX;

/// An entry of the runtime's registry.
struct Entry<M> {
    name: String,
    address: ActorRef<Envelope<M>>,
    progress: Arc<Progress>,
}

/// What actors tell the supervisor.
enum Event {
    Failed {
        actor: usize,
        kind: String,
        message: String,
    },
    StopAll,
    Stopped,
}

/// A running actor with everything its executor loop needs.
struct Cell<M: Payload> {
    id: usize,
    actor: Box<dyn Actor<M>>,
    edges: Vec<ActorRef<Envelope<M>>>,
    /// Own address, to read the mailbox depth when a sampled message arrives.
    own: ActorRef<Envelope<M>>,
    /// 1 in `sample` sent messages is stamped for the event log; 0: none.
    sample: u64,
    sent: u64,
    /// Data messages handled (independent of the traffic counters).
    received: u64,
    clock: Instant,
    trace: Vec<TraceEvent>,
    counters: EdgeCounters,
    outbox: Vec<(usize, M)>,
    progress: Arc<Progress>,
    events: SupervisorTx<Event>,
}

/// What a handler was called for (named in panic reports; formatted only on failure).
#[derive(Clone, Copy)]
enum Handling {
    Start,
    Control(Control),
    Data(MessageKind),
}

/// What happened in one handler call.
enum Step {
    Go,
    Stop,
    StopAll,
    Failed,
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic payload)".to_owned())
}

impl<M: Payload> Cell<M> {
    /// Runs one handler (start hook when `item` is `None`), catching panics.
    fn call(&mut self, item: Option<Item<Envelope<M>>>) -> Step {
        let item = match item {
            None => None,
            Some(Item::Control(c)) => Some(Item::Control(c)),
            Some(Item::Data(env)) => {
                self.received += 1;
                if env.sent_ns != NOT_SAMPLED {
                    self.record(&env);
                }
                Some(Item::Data(env.msg))
            }
        };
        let (what, step) = match &item {
            None => (Handling::Start, None),
            Some(Item::Control(c)) => (Handling::Control(*c), None),
            Some(Item::Data(m)) => (Handling::Data(m.kind()), Some(m.step())),
        };
        let edges = self.edges.len();
        let id = self.id;
        let actor = &mut self.actor;
        let outbox = &mut self.outbox;
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut ctx = Context { outbox, edges, id };
            let _span = tracing::trace_span!("handle", actor = id).entered();
            match item {
                None => actor.started(&mut ctx),
                Some(Item::Control(c)) => actor.control(c, &mut ctx),
                Some(Item::Data(m)) => actor.handle(m, &mut ctx),
            }
        }));
        self.progress.handled.fetch_add(1, Ordering::Relaxed);
        if let Some(s) = step {
            self.progress.last_step.store(s, Ordering::Relaxed);
        }
        match result {
            Ok(Flow::Continue) => Step::Go,
            Ok(Flow::Stop) => Step::Stop,
            Ok(Flow::StopAll) => Step::StopAll,
            Err(p) => {
                self.outbox.clear();
                let kind = match what {
                    Handling::Start => "its start hook".to_owned(),
                    Handling::Control(c) => format!("control word {c:?}"),
                    Handling::Data(k) => {
                        let name = k.name();
                        let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
                            "an"
                        } else {
                            "a"
                        };
                        format!("{article} {name} message")
                    }
                };
                let _ = self.events.send(Event::Failed {
                    actor: self.id,
                    kind,
                    message: panic_text(p.as_ref()),
                });
                Step::Failed
            }
        }
    }

    /// Counts a message on `edge` and puts it in an envelope (stamped if sampled).
    fn wrap(&mut self, edge: usize, msg: M) -> Envelope<M> {
        self.counters.count(edge, msg.kind(), msg.bytes());
        self.sent += 1;
        let sent_ns = if self.sample != 0 && self.sent.is_multiple_of(self.sample) {
            self.clock.elapsed().as_nanos() as u64
        } else {
            NOT_SAMPLED
        };
        Envelope {
            msg,
            from: self.id as u32,
            sent_ns,
        }
    }

    /// Logs a sampled message on arrival (off the hot path: 1 in `sample` messages).
    fn record(&mut self, env: &Envelope<M>) {
        self.trace.push(TraceEvent {
            from: env.from,
            to: self.id as u32,
            kind: env.msg.kind(),
            bytes: env.msg.bytes() as u32,
            step: env.msg.step(),
            send_ns: env.sent_ns,
            recv_ns: self.clock.elapsed().as_nanos() as u64,
            depth: self.own.depth() as u32,
        });
    }
}

/// The executor loop of one actor: serve an item (control first), run the handler, deliver
/// its outbox with backpressure, repeat until it stops. Written once for both the blocking
/// (threads) and the async (tokio) executor: `$send` / `$recv` name the mailbox methods and
/// the trailing tokens are `.await` for the async one.
macro_rules! actor_loop {
    ($cell:ident, $mb:ident, $send:ident, $recv:ident $(, $($aw:tt)+)?) => {{
        // Control words that arrived while waiting for mailbox room, served next.
        let mut deferred: Vec<Control> = Vec::new();
        let mut step = $cell.call(None);
        loop {
            match step {
                Step::Failed => break,
                Step::StopAll => {
                    let _ = $cell.events.send(Event::StopAll);
                }
                Step::Stop | Step::Go => {}
            }
            let mut stopped = false;
            let mut outbox = std::mem::take(&mut $cell.outbox);
            for (edge, msg) in outbox.drain(..) {
                let mut env = $cell.wrap(edge, msg);
                loop {
                    match $cell.edges[edge].$send(env, &mut $mb) $($($aw)+)? {
                        SendOutcome::Sent | SendOutcome::Closed => break,
                        SendOutcome::Interrupted(Control::Stop, _) => {
                            stopped = true;
                            break;
                        }
                        SendOutcome::Interrupted(c, e) => {
                            deferred.push(c);
                            env = e;
                        }
                    }
                }
                if stopped {
                    break;
                }
            }
            outbox.clear();
            $cell.outbox = outbox;
            if stopped || matches!(step, Step::Stop | Step::StopAll) {
                break;
            }
            if !deferred.is_empty() {
                let c = deferred.remove(0);
                step = $cell.call(Some(Item::Control(c)));
                continue;
            }
            step = match $mb.$recv() $($($aw)+)? {
                Some(item) => $cell.call(Some(item)),
                None => break,
            };
        }
        $cell.actor.stopped();
        let _ = $cell.events.send(Event::Stopped);
        $cell
    }};
}

/// Runs on the threads executor: one OS thread.
fn thread_loop<M: Payload>(mut cell: Cell<M>, mut mb: Mailbox<Envelope<M>>) -> Cell<M> {
    actor_loop!(cell, mb, send_blocking, recv_blocking)
}

/// Runs on the tokio executor: one task.
async fn task_loop<M: Payload>(mut cell: Cell<M>, mut mb: Mailbox<Envelope<M>>) -> Cell<M> {
    actor_loop!(cell, mb, send_async, recv_async, .await)
}

/// A runtime: owns the registry of the network it runs (names, addresses, live progress).
pub struct Runtime<M: Payload> {
    config: RuntimeConfig,
    registry: DashMap<usize, Entry<M>>,
}

impl<M: Payload> Runtime<M> {
    /// A runtime with this configuration.
    pub fn new(config: RuntimeConfig) -> Self {
        Self {
            config,
            registry: DashMap::new(),
        }
    }

    /// Mailbox depth, messages handled and last step of every registered actor.
    pub fn states(&self) -> Vec<ActorState> {
        let mut v: Vec<(usize, ActorState)> = self
            .registry
            .iter()
            .map(|e| {
                (
                    *e.key(),
                    ActorState {
                        name: e.name.clone(),
                        mailbox_depth: e.address.depth(),
                        handled: e.progress.handled.load(Ordering::Relaxed),
                        last_step: e.progress.last_step.load(Ordering::Relaxed),
                    },
                )
            })
            .collect();
        v.sort_by_key(|(id, _)| *id);
        v.into_iter().map(|(_, s)| s).collect()
    }

    fn broadcast(&self, c: Control) {
        for e in self.registry.iter() {
            e.address.control(c);
        }
    }

    fn handled_total(&self) -> u64 {
        self.registry
            .iter()
            .map(|e| e.progress.handled.load(Ordering::Relaxed))
            .sum()
    }

    /// Builds and runs `network` until every actor has stopped (or one fails, or it stalls).
    pub fn run(&self, network: Network<M>) -> Result<RunReport<M>, RuntimeError> {
        let build_start = Instant::now();
        let flavor = match self.config.executor {
            Executor::Tokio => Flavor::Tokio,
            Executor::Threads => Flavor::Threads,
            Executor::Inline => Flavor::Inline,
        };
        let n = network.actors.len();
        let (events_tx, events_rx) = crate::runtime::mailbox::supervisor_channel::<Event>();
        let mut mailboxes = Vec::with_capacity(n);
        let mut addresses = Vec::with_capacity(n);
        let mut progress = Vec::with_capacity(n);
        let (names, actors): (Vec<String>, Vec<Box<dyn Actor<M>>>) =
            network.actors.into_iter().unzip();
        self.registry.clear();
        for (id, name) in names.iter().enumerate() {
            let (addr, mb) = mailbox::<Envelope<M>>(id, flavor, self.config.mailbox_capacity);
            let p = Arc::new(Progress::default());
            self.registry.insert(
                id,
                Entry {
                    name: name.clone(),
                    address: addr.clone(),
                    progress: p.clone(),
                },
            );
            progress.push(p);
            addresses.push(addr);
            mailboxes.push(mb);
        }
        tracing::debug!(mailboxes = ?build_start.elapsed(), "mailboxes and registry built");
        let cells: Vec<Cell<M>> = actors
            .into_iter()
            .zip(network.edges)
            .zip(progress)
            .enumerate()
            .map(|(id, ((actor, edges), progress))| Cell {
                id,
                counters: EdgeCounters::new(edges.len()),
                edges: edges.iter().map(|&t| addresses[t].clone()).collect(),
                own: addresses[id].clone(),
                sample: self.config.trace_sample,
                sent: 0,
                received: 0,
                clock: build_start,
                trace: Vec::new(),
                actor,
                outbox: Vec::new(),
                progress,
                events: events_tx.clone(),
            })
            .collect();
        drop(addresses);
        tracing::debug!(cells = ?build_start.elapsed(), "cells built");
        drop(events_tx);
        // Actors start working as soon as they are spawned, so the work window opens here.
        let start = Instant::now();
        let mut startup = start - build_start;
        let (mut cells, failure, stop_at) = match self.config.executor {
            Executor::Inline => self.run_inline(cells, mailboxes, &events_rx),
            Executor::Threads => {
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
                startup = start.elapsed() + (start - build_start);
                let (failure, stop_at) = self.supervise(n, &events_rx);
                let cells = handles.into_iter().filter_map(|h| h.join().ok()).collect();
                (cells, failure, stop_at)
            }
            Executor::Tokio => {
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
                startup = start.elapsed() + (start - build_start);
                tracing::debug!(build = ?(start - build_start), spawn = ?start.elapsed(), actors = n, "tokio network started");
                let (failure, stop_at) = self.supervise(n, &events_rx);
                let cells = rt.block_on(async {
                    let mut out = Vec::with_capacity(handles.len());
                    for h in handles {
                        // A task still blocked after a failure is aborted after 1 s.
                        let abort = h.abort_handle();
                        match tokio::time::timeout(Duration::from_secs(1), h).await {
                            Ok(Ok(cell)) => out.push(cell),
                            _ => abort.abort(),
                        }
                    }
                    out
                });
                rt.shutdown_background();
                (cells, failure, stop_at)
            }
        };
        if let Some(e) = failure {
            return Err(e);
        }
        let elapsed = start.elapsed();
        let active = stop_at.map_or(elapsed, |t| t.saturating_duration_since(start));
        let mut trace: Vec<TraceEvent> = cells
            .iter_mut()
            .flat_map(|c| std::mem::take(&mut c.trace))
            .collect();
        trace.sort_by_key(|e| e.send_ns);
        let handled = cells.iter().map(|c| c.received).sum();
        let targets: Vec<Vec<usize>> = cells
            .iter()
            .map(|c| c.edges.iter().map(ActorRef::id).collect())
            .collect();
        let traffic = Traffic::merge(
            &names,
            cells
                .iter()
                .zip(&targets)
                .map(|(c, t)| (c.id, t.as_slice(), &c.counters)),
        );
        Ok(RunReport {
            actors: cells.into_iter().map(|c| c.actor).collect(),
            names,
            traffic,
            elapsed,
            active,
            startup,
            trace,
            handled,
        })
    }

    /// Waits for every actor to stop; stops all on a failure, `StopAll` or a stall.
    fn supervise(
        &self,
        n: usize,
        events: &crate::runtime::mailbox::SupervisorRx<Event>,
    ) -> (Option<RuntimeError>, Option<Instant>) {
        let tick = (self.config.stall_timeout / 4).max(Duration::from_millis(5));
        let mut stopped = 0;
        let mut last_total = u64::MAX;
        let mut last_change = Instant::now();
        let mut failure = None;
        let mut stopping = false;
        let mut stop_at = None;
        while stopped < n {
            match events.recv_timeout(tick) {
                Ok(Event::Stopped) => stopped += 1,
                Ok(Event::StopAll) => {
                    // Several actors may ask at once: one broadcast is enough.
                    if !stopping {
                        stopping = true;
                        stop_at = Some(Instant::now());
                        self.broadcast(Control::Stop);
                    }
                }
                Ok(Event::Failed {
                    actor,
                    kind,
                    message,
                }) => {
                    if failure.is_none() {
                        let name = self
                            .registry
                            .get(&actor)
                            .map(|e| e.name.clone())
                            .unwrap_or_default();
                        failure = Some(RuntimeError::Panicked {
                            actor: name,
                            kind,
                            message,
                        });
                        if !stopping {
                            stopping = true;
                            self.broadcast(Control::Stop);
                        }
                    }
                    // Its `Stopped` event follows.
                }
                Err(RecvTimeoutError::Timeout) => {
                    if failure.is_some() {
                        // Stopping; stragglers are joined (or aborted) by the caller.
                        break;
                    }
                    let total = self.handled_total();
                    if total != last_total {
                        last_total = total;
                        last_change = Instant::now();
                    } else if last_change.elapsed() >= self.config.stall_timeout {
                        let states = self.states();
                        self.broadcast(Control::Stop);
                        let stalled = RuntimeError::Stalled {
                            timeout: self.config.stall_timeout,
                            states,
                        };
                        return (Some(stalled), Some(Instant::now()));
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        (failure, stop_at)
    }

    /// The inline executor: every actor on this thread. Start hooks run in id order; then
    /// actors with mail are served from a FIFO ready queue, one item per turn (control
    /// first), each handler's sends delivered before the next turn. The order depends only on
    /// the network and its messages, never on timing, and idle actors cost nothing.
    fn run_inline(
        &self,
        mut cells: Vec<Cell<M>>,
        mailboxes: Vec<Mailbox<Envelope<M>>>,
        events: &crate::runtime::mailbox::SupervisorRx<Event>,
    ) -> (Vec<Cell<M>>, Option<RuntimeError>, Option<Instant>) {
        let n = cells.len();
        let mut live = vec![true; n];
        let mut queued = vec![false; n];
        let mut ready: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
        let mut failure = None;
        let mut stop_at = None;
        let turn = |id: usize,
                    item: Option<Item<Envelope<M>>>,
                    cells: &mut Vec<Cell<M>>,
                    ready: &mut std::collections::VecDeque<usize>,
                    queued: &mut Vec<bool>| {
            let cell = &mut cells[id];
            let step = cell.call(item);
            let mut outbox = std::mem::take(&mut cell.outbox);
            for (edge, msg) in outbox.drain(..) {
                let env = cell.wrap(edge, msg);
                let target = cell.edges[edge].id();
                // Inline mailboxes are unbounded: a send only fails if the target stopped.
                let _ = cell.edges[edge].try_send(env);
                if !queued[target] {
                    queued[target] = true;
                    ready.push_back(target);
                }
            }
            cell.outbox = outbox; // keeps its capacity: no allocation per message
            step
        };
        let mut stop_all = false;
        let mut visit = |id: usize,
                         step: Step,
                         cells: &mut Vec<Cell<M>>,
                         live: &mut Vec<bool>,
                         stop_all: &mut bool| {
            match step {
                Step::Go => return,
                Step::Stop => {}
                Step::StopAll => {
                    *stop_all = true;
                    stop_at.get_or_insert_with(Instant::now);
                }
                Step::Failed => {
                    *stop_all = true;
                    if failure.is_none() {
                        if let Ok(Event::Failed {
                            actor,
                            kind,
                            message,
                        }) = events.try_recv()
                        {
                            failure = Some(RuntimeError::Panicked {
                                actor: self
                                    .registry
                                    .get(&actor)
                                    .map(|e| e.name.clone())
                                    .unwrap_or_default(),
                                kind,
                                message,
                            });
                        }
                    }
                }
            }
            live[id] = false;
            if !matches!(step, Step::Failed) {
                cells[id].actor.stopped();
            }
        };
        for id in 0..n {
            if stop_all {
                break;
            }
            let step = turn(id, None, &mut cells, &mut ready, &mut queued);
            visit(id, step, &mut cells, &mut live, &mut stop_all);
        }
        while !stop_all {
            let Some(id) = ready.pop_front() else { break };
            queued[id] = false;
            if !live[id] {
                continue;
            }
            let Some(item) = mailboxes[id].try_recv() else {
                continue;
            };
            let step = turn(id, Some(item), &mut cells, &mut ready, &mut queued);
            // It may have more mail: back of the queue, behind everyone else's turn.
            if live[id] && !queued[id] {
                queued[id] = true;
                ready.push_back(id);
            }
            visit(id, step, &mut cells, &mut live, &mut stop_all);
        }
        if stop_all {
            for id in 0..n {
                if live[id] {
                    let step = turn(
                        id,
                        Some(Item::Control(Control::Stop)),
                        &mut cells,
                        &mut ready,
                        &mut queued,
                    );
                    let step = if matches!(step, Step::Go) {
                        Step::Stop
                    } else {
                        step
                    };
                    visit(id, step, &mut cells, &mut live, &mut stop_all);
                }
            }
        }
        if !stop_all && live.iter().any(|&l| l) && failure.is_none() {
            // No mail anywhere and actors still running: a deadlock.
            let states = self
                .states()
                .into_iter()
                .enumerate()
                .filter(|(i, _)| live[*i])
                .map(|(_, s)| s)
                .collect();
            failure = Some(RuntimeError::Stalled {
                timeout: Duration::ZERO,
                states,
            });
        }
        (cells, failure, stop_at)
    }
}

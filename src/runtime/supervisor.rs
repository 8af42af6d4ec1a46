//! Supervision: the `Supervisor` of a run, which owns what it watches (every actor's name,
//! address and progress, and the channel actors report on) and sees every actor stopped, a
//! panic, a stop request or a stall; and the errors a run ends with.
//!
//! A panic in a handler is caught; the supervisor then stops every actor and the run returns
//! [`RuntimeError::Panicked`] naming the actor, the message kind and the panic text. When no
//! actor handles a message for `stall_timeout` while some are still running, the run returns
//! [`RuntimeError::Stalled`] with every actor's mailbox depth and last step. The supervisor
//! sleeps on its own channel: nothing busy-waits.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::runtime::mailbox::{ActorRef, RecvTimeoutError, SupervisorRx};
use crate::runtime::network::Executor;
use crate::runtime::payload::Control;
use crate::runtime::progress::{Event, ProgressRef};

/// Why the runtime failed a run (the errors of what a run does on top of it, such as an
/// interrupt or a failure across ranks, are [`crate::run_error::NetworkRunError`]).
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

/// One watched actor: its name, its address (for stop broadcasts and mailbox depths) and its
/// progress counters.
struct Watched<E> {
    name: String,
    address: ActorRef<E>,
    progress: ProgressRef,
}

/// The supervisor of one run: the actors it watches, the channel they report on and the stall
/// timeout. The threads, tokio and pinned executors run [`Supervisor::supervise`] on the
/// calling thread; the inline executor reads the panics it reports itself.
pub(crate) struct Supervisor<E> {
    watched: Vec<Watched<E>>,
    events: SupervisorRx<Event>,
    stall_timeout: Duration,
}

/// What the supervisor has seen so far.
struct Watch {
    stopped: usize,
    last_total: u64,
    last_change: Instant,
    failure: Option<RuntimeError>,
    stopping: bool,
    stop_at: Option<Instant>,
}

impl<E> Supervisor<E> {
    /// A supervisor watching nobody yet, reading `events`, calling no progress for
    /// `stall_timeout` a stall.
    pub(crate) fn new(events: SupervisorRx<Event>, stall_timeout: Duration) -> Self {
        Self {
            watched: Vec::new(),
            events,
            stall_timeout,
        }
    }

    /// Watches the next actor (ids are given in order, from 0).
    pub(crate) fn watch(&mut self, name: String, address: ActorRef<E>, progress: ProgressRef) {
        self.watched.push(Watched {
            name,
            address,
            progress,
        });
    }

    /// Mailbox depth, messages handled and last step of every watched actor, in id order.
    pub(crate) fn states(&self) -> Vec<ActorState> {
        self.watched
            .iter()
            .map(|w| ActorState {
                name: w.name.clone(),
                mailbox_depth: w.address.depth(),
                handled: w.progress.handled.load(Ordering::Relaxed),
                last_step: w.progress.last_step.load(Ordering::Relaxed),
            })
            .collect()
    }

    fn broadcast(&self, c: Control) {
        for w in &self.watched {
            w.address.control(c);
        }
    }

    fn handled_total(&self) -> u64 {
        self.watched
            .iter()
            .map(|w| w.progress.handled.load(Ordering::Relaxed))
            .sum()
    }

    /// The error for a panic in actor `actor`'s handler, named by the watch list.
    fn panicked(&self, actor: usize, kind: String, message: String) -> RuntimeError {
        let name = self
            .watched
            .get(actor)
            .map(|w| w.name.clone())
            .unwrap_or_default();
        RuntimeError::Panicked {
            actor: name,
            kind,
            message,
        }
    }

    /// The first panic reported so far, if any (the inline executor, which runs no
    /// supervising loop, asks once its actors are done).
    pub(crate) fn first_panic(&self) -> Option<RuntimeError> {
        while let Ok(event) = self.events.try_recv() {
            if let Event::Failed {
                actor,
                kind,
                message,
            } = event
            {
                return Some(self.panicked(actor, kind, message));
            }
        }
        None
    }

    /// Waits for `n` actors to stop; stops all on a failure, `StopAll` or a stall.
    /// `on_stop` runs after each stop broadcast (the pinned executor's workers read a stop
    /// flag rather than each actor's control channel).
    pub(crate) fn supervise(
        &self,
        n: usize,
        on_stop: &dyn Fn(),
    ) -> (Option<RuntimeError>, Option<Instant>) {
        let tick = (self.stall_timeout / 4).max(Duration::from_millis(5));
        let mut w = Watch {
            stopped: 0,
            last_total: u64::MAX,
            last_change: Instant::now(),
            failure: None,
            stopping: false,
            stop_at: None,
        };
        while w.stopped < n {
            match self.events.recv_timeout(tick) {
                Ok(Event::Stopped) => w.stopped += 1,
                Ok(Event::StopAll) => {
                    // Several actors may ask at once: one broadcast is enough.
                    if !w.stopping {
                        w.stopping = true;
                        w.stop_at = Some(Instant::now());
                        self.broadcast(Control::Stop);
                        on_stop();
                    }
                }
                Ok(Event::Failed {
                    actor,
                    kind,
                    message,
                }) => self.on_failure(&mut w, actor, kind, message, on_stop),
                Err(RecvTimeoutError::Timeout) => {
                    if w.failure.is_some() {
                        // Stopping; stragglers are joined (or aborted) by the caller.
                        break;
                    }
                    if let Some(stalled) = self.stalled(&mut w) {
                        on_stop();
                        return (Some(stalled), Some(Instant::now()));
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        (w.failure, w.stop_at)
    }

    /// The first failure stops every actor; its `Stopped` event follows.
    fn on_failure(
        &self,
        w: &mut Watch,
        actor: usize,
        kind: String,
        message: String,
        on_stop: &dyn Fn(),
    ) {
        if w.failure.is_none() {
            w.failure = Some(self.panicked(actor, kind, message));
            if !w.stopping {
                w.stopping = true;
                self.broadcast(Control::Stop);
                on_stop();
            }
        }
    }

    /// After a quiet tick: a stall (every actor told to stop) if nothing was handled for the
    /// stall timeout and no actor is inside a handler.
    fn stalled(&self, w: &mut Watch) -> Option<RuntimeError> {
        let total = self.handled_total();
        let busy = self
            .watched
            .iter()
            .any(|w| w.progress.busy.load(Ordering::Relaxed));
        if total != w.last_total || busy {
            w.last_total = total;
            w.last_change = Instant::now();
        } else if w.last_change.elapsed() >= self.stall_timeout {
            let states = self.states();
            self.broadcast(Control::Stop);
            return Some(RuntimeError::Stalled {
                timeout: self.stall_timeout,
                states,
            });
        }
        None
    }
}

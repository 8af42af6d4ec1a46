//! A running actor: the [`Cell`] that holds an actor with its out-edges, counters and trace,
//! runs its handlers (catching panics) and wraps what it sends; and the executor loop that the
//! threads and tokio executors share.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::runtime::actor::{Actor, Context, Flow};
use crate::runtime::mailbox::{ActorRef, Item, SupervisorTx};
use crate::runtime::payload::{Control, Label, Payload};
use crate::runtime::supervisor::Event;
use crate::runtime::trace_log::TraceEvent;
use crate::runtime::traffic::EdgeCounters;

/// Live progress counters of one actor: written by the actor only, read by the supervisor.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub(crate) handled: AtomicU64,
    pub(crate) last_step: AtomicU64,
}

/// A data message in a mailbox: the message, its sender and, if sampled for the event log,
/// when it was sent.
pub(crate) struct Envelope<M> {
    pub(crate) msg: M,
    pub(crate) from: u32,
    pub(crate) sent_ns: u64,
}

/// `Envelope::sent_ns` of a message that is not in the sampled event log.
pub(crate) const NOT_SAMPLED: u64 = u64::MAX;

/// An entry of the runtime's registry.
pub(crate) struct Entry<M> {
    pub(crate) name: String,
    pub(crate) address: ActorRef<Envelope<M>>,
    pub(crate) progress: Arc<Progress>,
}

/// A running actor with everything its executor loop needs.
pub(crate) struct Cell<M: Payload> {
    pub(crate) id: usize,
    pub(crate) actor: Box<dyn Actor<M>>,
    pub(crate) edges: Vec<ActorRef<Envelope<M>>>,
    /// Own address, to read the mailbox depth when a sampled message arrives.
    pub(crate) own: ActorRef<Envelope<M>>,
    /// 1 in `sample` sent messages is stamped for the event log; 0: none.
    pub(crate) sample: u64,
    pub(crate) sent: u64,
    /// Data messages handled (independent of the traffic counters).
    pub(crate) received: u64,
    pub(crate) clock: Instant,
    pub(crate) trace: Vec<TraceEvent<M::Kind>>,
    pub(crate) counters: EdgeCounters,
    pub(crate) outbox: Vec<(usize, M)>,
    pub(crate) progress: Arc<Progress>,
    pub(crate) events: SupervisorTx<Event>,
}

/// What a handler was called for (named in panic reports; formatted only on failure).
#[derive(Clone, Copy)]
enum Handling<K> {
    Start,
    Control(Control),
    Data(K),
}

impl<K: Label> Handling<K> {
    /// What a panic report says the handler was handling.
    fn describe(self) -> String {
        match self {
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
        }
    }
}

/// What happened in one handler call.
pub(crate) enum Step {
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
    pub(crate) fn call(&mut self, item: Option<Item<Envelope<M>>>) -> Step {
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
                let _ = self.events.send(Event::Failed {
                    actor: self.id,
                    kind: what.describe(),
                    message: panic_text(p.as_ref()),
                });
                Step::Failed
            }
        }
    }

    /// Counts a message on `edge` and puts it in an envelope (stamped if sampled).
    pub(crate) fn wrap(&mut self, edge: usize, msg: M) -> Envelope<M> {
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
        use $crate::runtime::cell::Step;
        use $crate::runtime::mailbox::SendOutcome;
        let mut step = $cell.call(None);
        loop {
            match step {
                Step::Failed => break,
                Step::StopAll => {
                    let _ = $cell.events.send($crate::runtime::supervisor::Event::StopAll);
                }
                Step::Stop | Step::Go => {}
            }
            let mut stopped = false;
            let mut outbox = std::mem::take(&mut $cell.outbox);
            for (edge, msg) in outbox.drain(..) {
                let env = $cell.wrap(edge, msg);
                match $cell.edges[edge].$send(env, &mut $mb) $($($aw)+)? {
                    SendOutcome::Sent | SendOutcome::Closed => {}
                    // A stop while waiting for room: the rest of the outbox is dropped.
                    SendOutcome::Interrupted($crate::runtime::payload::Control::Stop, _) => {
                        stopped = true;
                        break;
                    }
                }
            }
            outbox.clear();
            $cell.outbox = outbox;
            if stopped || matches!(step, Step::Stop | Step::StopAll) {
                break;
            }
            step = match $mb.$recv() $($($aw)+)? {
                Some(item) => $cell.call(Some(item)),
                None => break,
            };
        }
        $cell.actor.stopped();
        let _ = $cell.events.send($crate::runtime::supervisor::Event::Stopped);
        $cell
    }};
}
pub(crate) use actor_loop;

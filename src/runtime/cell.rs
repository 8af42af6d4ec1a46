//! A running actor: the [`Cell`] that holds an actor with its out-edges, counters and trace,
//! runs its handlers (catching panics) and wraps what it sends; and the executor loop that the
//! threads and tokio executors share.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::runtime::actor::{Actor, Context, Flow};
use crate::runtime::mailbox::{ActorRef, Item, SupervisorTx};
use crate::runtime::memory::prefetch;
use crate::runtime::payload::{Control, Label, Payload};
use crate::runtime::progress::{Event, ProgressRef};
use crate::runtime::trace_log::TraceEvent;
use crate::runtime::traffic::EdgeCounters;

/// A data message in a mailbox: the message, its sender and, if sampled for the event log,
/// when it was sent.
pub(crate) struct Envelope<M> {
    pub(crate) msg: M,
    pub(crate) from: u32,
    pub(crate) sent_ns: u64,
}

/// `Envelope::sent_ns` of a message that is not in the sampled event log.
pub(crate) const NOT_SAMPLED: u64 = u64::MAX;

/// A running actor with everything its executor loop needs. Laid out hot fields first, on a
/// cache-line boundary: a worker tick reads the first line only (actor, edge count, id, tick
/// request), and a message also counts itself there, so stepping thousands of small actors
/// touches one line of each, and handling a message one line and the start of the next
/// (the progress board's entry).
#[repr(C, align(64))]
pub(crate) struct Cell<M: Payload> {
    pub(crate) actor: Box<dyn Actor<M>>,
    /// The actor id at the end of each out-edge.
    pub(crate) targets: Box<[u32]>,
    pub(crate) id: usize,
    /// A worker tick the last handler asked for ([`Context::tick_worker`]).
    pub(crate) worker_tick: Option<u64>,
    /// Data messages handled (independent of the traffic counters).
    pub(crate) received: u64,
    pub(crate) progress: ProgressRef,
    /// The tick the last message's handler asked to sleep until ([`Context::sleep_until`]):
    /// read by a worker tick that handles a ticked actor's mail.
    pub(crate) sleep_after_mail: Option<u64>,
    pub(crate) outbox: Vec<(usize, M)>,
    pub(crate) counters: EdgeCounters,
    pub(crate) sent: u64,
    /// 1 in `sample` sent messages is stamped for the event log; 0: none.
    pub(crate) sample: u64,
    /// Out-edge addresses (empty on the pinned executor, which delivers by `targets`).
    pub(crate) edges: Vec<ActorRef<Envelope<M>>>,
    /// Own address, to read the mailbox depth when a sampled message arrives.
    pub(crate) own: ActorRef<Envelope<M>>,
    pub(crate) clock: Instant,
    pub(crate) trace: Vec<TraceEvent<M::Kind>>,
    pub(crate) events: SupervisorTx<Event>,
}

/// What a handler was called for (named in panic reports; formatted only on failure).
#[derive(Clone, Copy)]
enum Handling<K> {
    Start,
    Control(Control),
    Data(K),
    Tick(u64),
    Advance(u64),
}

impl<K: Label> Handling<K> {
    /// What a panic report says the handler was handling.
    fn describe(self) -> String {
        match self {
            Handling::Start => "its start hook".to_owned(),
            Handling::Control(c) => format!("control word {c:?}"),
            Handling::Tick(t) => format!("worker tick {t}"),
            Handling::Advance(t) => format!("idle time, bringing its state forward to tick {t}"),
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
    /// Runs one handler (start hook when `item` is `None`), catching panics; its sends go into
    /// the cell's own outbox.
    pub(crate) fn call(&mut self, item: Option<Item<Envelope<M>>>) -> Step {
        let mut outbox = std::mem::take(&mut self.outbox);
        let step = self.call_with(item, None, &mut outbox);
        self.outbox = outbox;
        step
    }

    /// [`Cell::call`] with the sends going into `outbox` (a worker's, on the executors that
    /// run many actors per thread). `behind`: the messages still queued for this actor, where
    /// the executor keeps its queue (else a sampled message logs its own mailbox's depth).
    pub(crate) fn call_with(
        &mut self,
        item: Option<Item<Envelope<M>>>,
        behind: Option<usize>,
        outbox: &mut Vec<(usize, M)>,
    ) -> Step {
        let mut poll = false;
        let item = match item {
            None => None,
            Some(Item::Control(c)) => Some(Item::Control(c)),
            Some(Item::Data(env)) if env.msg.is_poll() => {
                poll = true;
                Some(Item::Data(env.msg))
            }
            Some(Item::Data(env)) => {
                self.received += 1;
                if env.sent_ns != NOT_SAMPLED {
                    self.record(&env, behind);
                }
                Some(Item::Data(env.msg))
            }
        };
        let (what, step) = match &item {
            None => (Handling::Start, None),
            Some(Item::Control(c)) => (Handling::Control(*c), None),
            Some(Item::Data(m)) => (Handling::Data(m.kind()), Some(m.step())),
        };
        let edges = self.targets.len();
        let id = self.id;
        let actor = &mut self.actor;
        let worker_tick = &mut self.worker_tick;
        let sleep = &mut self.sleep_after_mail;
        *sleep = None;
        self.progress.busy.store(!poll, Ordering::Relaxed);
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut ctx = Context {
                outbox: &mut *outbox,
                edges,
                id,
                worker_tick,
                sleep,
            };
            let _span = tracing::trace_span!("handle", actor = id).entered();
            match item {
                None => actor.started(&mut ctx),
                Some(Item::Control(c)) => actor.control(c, &mut ctx),
                Some(Item::Data(m)) => actor.handle(m, &mut ctx),
            }
        }));
        self.progress.busy.store(false, Ordering::Relaxed);
        if !poll {
            // One writer (this actor): a load and a store, no locked read-modify-write.
            let handled = self.progress.handled.load(Ordering::Relaxed);
            self.progress.handled.store(handled + 1, Ordering::Relaxed);
            if let Some(s) = step {
                self.progress.last_step.store(s, Ordering::Relaxed);
            }
        }
        if result.is_err() {
            outbox.clear();
        }
        self.outcome(result, what)
    }

    /// Runs [`Actor::tick`] for worker tick `tick`, catching panics; the handler's sends go
    /// into `outbox` (the worker's, so that the cell's own is not touched), and the tick it
    /// may sleep until ([`Context::sleep_until`]) into `sleep`. Not a message: the progress
    /// counters are the ticking actor's (the one that asked for the tick).
    pub(crate) fn call_tick(
        &mut self,
        tick: u64,
        outbox: &mut Vec<(usize, M)>,
        sleep: &mut Option<u64>,
    ) -> Step {
        let edges = self.targets.len();
        let id = self.id;
        let actor = &mut self.actor;
        let mut ignored = None;
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut ctx = Context {
                outbox: &mut *outbox,
                edges,
                id,
                worker_tick: &mut ignored,
                sleep,
            };
            actor.tick(tick, &mut ctx)
        }));
        if result.is_err() {
            outbox.clear();
        }
        self.outcome(result, Handling::Tick(tick))
    }

    /// Runs [`Actor::advance`] to tick `tick` in its worker's idle time, catching panics.
    pub(crate) fn call_advance(&mut self, tick: u64) -> Step {
        let actor = &mut self.actor;
        let result = catch_unwind(AssertUnwindSafe(|| {
            actor.advance(tick);
            Flow::Continue
        }));
        self.outcome(result, Handling::Advance(tick))
    }

    /// What a handler's result means for the executor; a panic is reported to the supervisor.
    fn outcome(&mut self, result: std::thread::Result<Flow>, what: Handling<M::Kind>) -> Step {
        match result {
            Ok(Flow::Continue) => Step::Go,
            Ok(Flow::Stop) => Step::Stop,
            Ok(Flow::StopAll) => Step::StopAll,
            Err(p) => {
                let _ = self.events.send(Event::Failed {
                    actor: self.id,
                    kind: what.describe(),
                    message: panic_text(p.as_ref()),
                });
                Step::Failed
            }
        }
    }

    /// Hints that this cell's first two lines (everything a handler call reads of it) will
    /// be used soon.
    #[inline(always)]
    pub(crate) fn prefetch(&self) {
        let at = (self as *const Self).cast::<u8>();
        prefetch(at);
        prefetch(at.wrapping_add(64));
    }

    /// Hints that this cell's actor and progress entry will be used soon (the cell's first
    /// lines should be in cache: they point to them).
    #[inline(always)]
    pub(crate) fn prefetch_actor(&self) {
        prefetch((&*self.actor as *const dyn Actor<M>).cast::<u8>());
        prefetch((&*self.progress as *const crate::runtime::progress::Progress).cast::<u8>());
    }

    /// Counts a message on `edge` and puts it in an envelope (stamped if sampled).
    pub(crate) fn wrap(&mut self, edge: usize, msg: M) -> Envelope<M> {
        if msg.is_poll() {
            return Envelope {
                msg,
                from: self.id as u32,
                sent_ns: NOT_SAMPLED,
            };
        }
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

    /// Logs a sampled message on arrival (off the hot path: 1 in `sample` messages), with
    /// `behind` messages waiting after it (if given; else the mailbox's depth).
    fn record(&mut self, env: &Envelope<M>, behind: Option<usize>) {
        let depth = behind.unwrap_or_else(|| self.own.depth());
        self.trace.push(TraceEvent {
            from: env.from,
            to: self.id as u32,
            kind: env.msg.kind(),
            bytes: env.msg.bytes() as u32,
            step: env.msg.step(),
            send_ns: env.sent_ns,
            recv_ns: self.clock.elapsed().as_nanos() as u64,
            depth: depth as u32,
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
                    let _ = $cell.events.send($crate::runtime::progress::Event::StopAll);
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
        let _ = $cell.events.send($crate::runtime::progress::Event::Stopped);
        $cell
    }};
}
pub(crate) use actor_loop;

//! Worker ticks ([`crate::runtime::Network::tick_by_worker`]) on the inline and pinned
//! executors: order, mail before the tick, the asking actor's sends after the ticked ones',
//! a panic in a tick, the executors that refuse them, and sleepers brought forward in idle
//! time.

use std::any::Any;
use std::time::Duration;

use crate::message::MessageKind;
use crate::runtime::actor::{Actor, Context, Flow};
use crate::runtime::network::{ActorIndex, Executor, Network, RunReport, RuntimeConfig};
use crate::runtime::payload::Payload;
use crate::runtime::supervisor::RuntimeError;
use crate::runtime::Runtime;

/// A test message: what happened, from whom, at which tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum M {
    /// Open tick `t` (clock to ticker).
    Open(u64),
    /// Tick `t` done on worker `w` (ticker to clock).
    Done(u64, u32),
    /// A ticked actor's output at tick `t`.
    Out { from: u32, tick: u64 },
}

impl Payload for M {
    type Kind = MessageKind;
    fn kind(&self) -> MessageKind {
        MessageKind::Spike
    }
    fn bytes(&self) -> usize {
        16
    }
}

/// Opens `ticks` ticks on every out-edge (the tickers), one after the other.
struct Clock {
    ticks: u64,
    tick: u64,
    done: usize,
    /// Every message it got, in order.
    log: Vec<M>,
}

impl Actor<M> for Clock {
    fn started(&mut self, ctx: &mut Context<'_, M>) -> Flow {
        for e in 0..ctx.edges() {
            ctx.send(e, M::Open(0));
        }
        Flow::Continue
    }
    fn handle(&mut self, msg: M, ctx: &mut Context<'_, M>) -> Flow {
        self.log.push(msg);
        if let M::Done(..) = msg {
            self.done += 1;
            if self.done == ctx.edges() {
                self.done = 0;
                self.tick += 1;
                if self.tick == self.ticks {
                    return Flow::StopAll;
                }
                for e in 0..ctx.edges() {
                    ctx.send(e, M::Open(self.tick));
                }
            }
        }
        Flow::Continue
    }
}

/// Asks for a worker tick on each `Open` and reports it done on edge 0.
struct Ticker(u32);

impl Actor<M> for Ticker {
    fn handle(&mut self, msg: M, ctx: &mut Context<'_, M>) -> Flow {
        if let M::Open(t) = msg {
            ctx.tick_worker(t);
            ctx.send(0, M::Done(t, self.0));
        }
        Flow::Continue
    }
}

/// A ticked actor: logs its ticks and the mail it handled, and on each tick sends
/// `Out` on every out-edge; panics at tick `panic_at`.
struct Stepped {
    id: u32,
    ticks: Vec<u64>,
    /// (tick it had reached, message) for every message handled.
    mail: Vec<(u64, M)>,
    panic_at: Option<u64>,
    /// After each tick, ask to sleep this many ticks more.
    sleep_for: Option<u64>,
    /// After each message, ask to sleep until this tick.
    sleep_on_mail: Option<u64>,
    /// Send only at this tick.
    send_at: Option<u64>,
    /// Work this long in each tick.
    busy: Duration,
    /// (ticks done, tick) of every call of [`Actor::advance`].
    advanced: Vec<(usize, u64)>,
}

impl Stepped {
    fn new(id: u32) -> Self {
        Stepped {
            id,
            ticks: Vec::new(),
            mail: Vec::new(),
            panic_at: None,
            sleep_for: None,
            sleep_on_mail: None,
            send_at: None,
            busy: Duration::ZERO,
            advanced: Vec::new(),
        }
    }
}

impl Actor<M> for Stepped {
    fn handle(&mut self, msg: M, ctx: &mut Context<'_, M>) -> Flow {
        self.mail.push((self.ticks.len() as u64, msg));
        if let Some(t) = self.sleep_on_mail {
            ctx.sleep_until(t);
        }
        Flow::Continue
    }
    fn tick(&mut self, tick: u64, ctx: &mut Context<'_, M>) -> Flow {
        assert_ne!(Some(tick), self.panic_at, "tick {tick} went wrong");
        self.ticks.push(tick);
        let start = std::time::Instant::now();
        while start.elapsed() < self.busy {
            std::hint::spin_loop();
        }
        if let Some(k) = self.sleep_for {
            ctx.sleep_until(tick + k);
        }
        if self.send_at.is_some_and(|t| t != tick) {
            return Flow::Continue;
        }
        for e in 0..ctx.edges() {
            ctx.send(
                e,
                M::Out {
                    from: self.id,
                    tick,
                },
            );
        }
        Flow::Continue
    }
    fn advance(&mut self, tick: u64) {
        self.advanced.push((self.ticks.len(), tick));
    }
}

fn actor<T: 'static>(r: &RunReport<M>, id: usize) -> &T {
    (r.actors[id].as_ref() as &dyn Any)
        .downcast_ref::<T>()
        .expect("actor type")
}

fn config(executor: Executor, workers: usize) -> RuntimeConfig {
    RuntimeConfig {
        executor,
        workers,
        mailbox_capacity: 8,
        stall_timeout: Duration::from_secs(5),
        trace_sample: 0,
    }
}

/// `n` ticked actors in a ring (each sends to the next and to the clock), one ticker per
/// worker, a clock: actor ids `0..n`, then the clock, then the tickers.
fn ring(n: usize, workers: usize, ticks: u64) -> Network<M> {
    ring_with_panic(n, workers, ticks, None)
}

/// [`ring`] where actor `.0` panics at tick `.1`.
fn ring_with_panic(
    n: usize,
    workers: usize,
    ticks: u64,
    panic: Option<(usize, u64)>,
) -> Network<M> {
    let mut net = Network::new();
    for i in 0..n {
        let mut s = Stepped::new(i as u32);
        s.panic_at = panic.filter(|p| p.0 == i).map(|p| p.1);
        let id = net.add(format!("stepped.{i}"), s);
        net.tick_by_worker(id);
        net.place(id, i * workers / n);
    }
    let clock = paced(&mut net, ticks, workers);
    for i in 0..n {
        net.connect(i, (i + 1) % n);
        net.connect(i, clock);
    }
    net
}

/// Adds a clock for `ticks` ticks on worker 0 and one ticker per worker wired to it (the
/// clock first, then the tickers in worker order); returns the clock's index.
fn paced(net: &mut Network<M>, ticks: u64, workers: usize) -> usize {
    let clock = net.add(
        "clock",
        Clock {
            ticks,
            tick: 0,
            done: 0,
            log: Vec::new(),
        },
    );
    net.place(clock, 0);
    for w in 0..workers {
        let t = net.add(format!("ticker.{w}"), Ticker(w as u32));
        net.place(t, w);
        net.connect(clock, t);
        net.connect(t, clock);
    }
    clock.actor_index()
}

/// Every output of tick t from worker w reached the clock before that worker's `Done(t, w)`.
fn outputs_precede_their_workers_done(
    clock: &Clock,
    n: usize,
    workers: usize,
    ticks: u64,
    executor: Executor,
) {
    for t in 0..ticks {
        for w in 0..workers as u32 {
            let done = clock.log.iter().position(|m| *m == M::Done(t, w));
            let done = done.unwrap_or_else(|| panic!("{executor:?}: no Done({t}, {w})"));
            for i in (0..n).filter(|i| (i * workers / n) as u32 == w) {
                let out = M::Out {
                    from: i as u32,
                    tick: t,
                };
                let at = clock.log.iter().position(|m| *m == out);
                assert!(
                    at.is_some_and(|a| a < done),
                    "{executor:?} x{workers}: {out:?} at {at:?}, Done at {done}"
                );
            }
        }
    }
}

/// Every ticked actor ticks once per tick in order, handles the previous tick's mail before
/// ticking (so it never sees mail from a tick it has not reached), and the clock hears every
/// output of tick `t` before the ticker's `Done(t)`: on one worker and across three.
#[test]
fn worker_ticks_step_every_ticked_actor_after_its_mail_and_before_the_done() {
    let (n, ticks) = (7, 5);
    for (executor, workers) in [
        (Executor::Inline, 1),
        (Executor::Pinned, 1),
        (Executor::Pinned, 3),
    ] {
        let report = Runtime::new(config(executor, workers))
            .run(ring(n, workers, ticks))
            .unwrap_or_else(|e| panic!("{executor:?} x{workers}: {e}"));
        let clock: &Clock = actor(&report, n);
        for i in 0..n {
            let s: &Stepped = actor(&report, i);
            // The last tick's outputs are not read (the clock stops the run).
            assert_eq!(
                s.ticks,
                (0..ticks).collect::<Vec<_>>(),
                "{executor:?} x{workers}"
            );
            // Each output of tick t is handled once, in tick order, after its receiver
            // reached tick t and before it ticks t + 1 (on one worker: before its tick t
            // if the sender ticks earlier in id order, else just before tick t + 1).
            let from = ((i + n - 1) % n) as u32;
            let seen: Vec<u64> = s
                .mail
                .iter()
                .map(|(_, m)| match m {
                    M::Out { from: f, tick } if *f == from => *tick,
                    other => panic!("{executor:?}: actor {i} got {other:?}"),
                })
                .collect();
            assert!(
                seen.len() as u64 >= ticks - 1,
                "{executor:?} x{workers}: {seen:?}"
            );
            assert!(
                seen.iter().enumerate().all(|(k, &t)| t == k as u64),
                "{seen:?}"
            );
            for &(reached, m) in &s.mail {
                let M::Out { tick, .. } = m else {
                    unreachable!()
                };
                assert!(
                    reached == tick || reached == tick + 1,
                    "{executor:?}: {reached} {m:?}"
                );
                if workers == 1 {
                    assert_eq!(reached, tick + u64::from(from as usize > i), "{m:?}");
                }
            }
        }
        outputs_precede_their_workers_done(clock, n, workers, ticks, executor);
        assert_eq!(clock.log.len() as u64, (n + workers) as u64 * ticks);
        // Only messages were counted as handled; ticks are not messages.
        let mail: usize = (0..n)
            .map(|i| actor::<Stepped>(&report, i).mail.len())
            .sum();
        assert_eq!(
            report.handled,
            (mail + clock.log.len() + workers * ticks as usize) as u64,
            "{executor:?} x{workers}"
        );
    }
}

/// On one worker the clock's log is exact: every output of tick `t`, in id order, then
/// `Done(t)`.
#[test]
fn one_worker_delivers_the_ticked_sends_before_the_tickers() {
    let (n, ticks) = (4, 3);
    for executor in [Executor::Inline, Executor::Pinned] {
        let report = Runtime::new(config(executor, 1))
            .run(ring(n, 1, ticks))
            .expect("runs");
        let clock: &Clock = actor(&report, n);
        let expected: Vec<M> = (0..ticks)
            .flat_map(|t| {
                (0..n as u32)
                    .map(move |from| M::Out { from, tick: t })
                    .chain(std::iter::once(M::Done(t, 0)))
            })
            .collect();
        assert_eq!(clock.log, expected, "{executor:?}");
    }
}

/// A panic in a tick fails the run, naming the actor and the tick.
#[test]
fn a_panic_in_a_worker_tick_names_the_actor_and_the_tick() {
    for (executor, workers) in [(Executor::Inline, 1), (Executor::Pinned, 2)] {
        let net = ring_with_panic(4, workers, 5, Some((2, 3)));
        match Runtime::new(config(executor, workers)).run(net) {
            Err(RuntimeError::Panicked {
                actor,
                kind,
                message,
            }) => {
                assert_eq!(actor, "stepped.2");
                assert_eq!(kind, "worker tick 3");
                assert!(message.contains("tick 3 went wrong"), "{message}");
            }
            other => panic!("{executor:?}: expected a panic, got {:?}", other.err()),
        }
    }
}

/// Tokio and threads cannot call another task's actor: a network with ticked actors does
/// not start there, and the error says which executors do run it.
#[test]
fn tokio_and_threads_refuse_worker_ticks() {
    for executor in [Executor::Tokio, Executor::Threads] {
        match Runtime::new(config(executor, 2)).run(ring(3, 1, 2)) {
            Err(e @ RuntimeError::Start { .. }) => {
                let text = e.to_string();
                assert!(text.contains("inline and pinned"), "{text}");
            }
            other => panic!(
                "{executor:?}: expected a start error, got {:?}",
                other.err()
            ),
        }
    }
}

/// Runs `sleeper` (id 0, on worker 0) and a sender that sends to it at tick 2 (id 1, on the
/// last worker), both ticked by their workers, for 12 ticks.
fn sleeper_and_sender(sleeper: Stepped, executor: Executor, workers: usize) -> RunReport<M> {
    let mut net = Network::new();
    let a = net.add("sleeper", sleeper);
    let mut sender = Stepped::new(1);
    sender.send_at = Some(2);
    let b = net.add("sender", sender);
    net.connect(b, a);
    paced(&mut net, 12, workers);
    net.place(a, 0);
    net.place(b, workers - 1);
    net.tick_by_worker(a);
    net.tick_by_worker(b);
    Runtime::new(config(executor, workers))
        .run(net)
        .expect("runs")
}

/// A ticked actor that asks to sleep is skipped until its wake tick, and mail wakes it at
/// the next worker tick (or at this one, when its turn is still to come); one that does not
/// ask is ticked every tick.
#[test]
fn a_sleeping_ticked_actor_is_skipped_until_its_tick_or_its_mail() {
    for (executor, workers) in [
        (Executor::Inline, 1),
        (Executor::Pinned, 1),
        (Executor::Pinned, 2),
    ] {
        let mut sleeper = Stepped::new(0);
        sleeper.sleep_for = Some(5);
        let report = sleeper_and_sender(sleeper, executor, workers);
        let (sleeper, sender) = (actor::<Stepped>(&report, 0), actor::<Stepped>(&report, 1));
        assert_eq!(
            sender.ticks,
            (0..12).collect::<Vec<_>>(),
            "{executor:?} x{workers}"
        );
        assert_eq!(sleeper.mail, vec![(1, M::Out { from: 1, tick: 2 })]);
        // On one worker the sender comes after the sleeper in id order: tick 3. From
        // another worker the mail may come before tick 2 opens there.
        let woke = sleeper.ticks[1];
        assert!(
            woke == 3 || workers == 2 && woke == 2,
            "{:?}",
            sleeper.ticks
        );
        assert_eq!(
            sleeper.ticks,
            vec![0, woke, woke + 5],
            "{executor:?} x{workers}"
        );
    }
}

/// A sleeper whose mail handler asks to sleep on past the worker tick that handles the mail
/// is not ticked at it, and wakes when it asked; a request for a tick already open is
/// ignored (the mail wakes it as before).
#[test]
fn a_handler_may_keep_a_ticked_actor_asleep() {
    for (executor, workers) in [
        (Executor::Inline, 1),
        (Executor::Pinned, 1),
        (Executor::Pinned, 2),
    ] {
        for ask in [9, 1] {
            let mut sleeper = Stepped::new(0);
            (sleeper.sleep_for, sleeper.sleep_on_mail) = (Some(5), Some(ask));
            let report = sleeper_and_sender(sleeper, executor, workers);
            let sleeper = actor::<Stepped>(&report, 0);
            assert_eq!(sleeper.mail.len(), 1, "{executor:?} x{workers}");
            // Asked 1, woken by the mail (at tick 2 or 3): ticked then and 5 ticks later.
            let woke = sleeper.ticks.get(1).copied().unwrap_or(0);
            let expect = if ask == 9 {
                vec![0, 9]
            } else {
                vec![0, woke, woke + 5]
            };
            assert!(ask == 9 || woke == 2 || woke == 3, "{:?}", sleeper.ticks);
            assert_eq!(
                sleeper.ticks, expect,
                "{executor:?} x{workers}, asked {ask}"
            );
        }
    }
}

/// A pinned worker waiting for another lends its idle time to its residents that sleep past
/// its next tick: each is brought forward to that tick, never past it, and never while it is
/// due.
#[test]
fn an_idle_worker_brings_its_sleepers_forward_to_its_next_tick() {
    let mut net = Network::new();
    let mut sleeper = Stepped::new(0);
    sleeper.sleep_for = Some(5);
    let a = net.add("sleeper", sleeper);
    let mut slow = Stepped::new(1);
    slow.busy = Duration::from_micros(300);
    let b = net.add("slow", slow);
    let ticks = 30;
    paced(&mut net, ticks, 2);
    net.place(a, 1);
    net.place(b, 0);
    net.tick_by_worker(a);
    net.tick_by_worker(b);
    let report = Runtime::new(config(Executor::Pinned, 2))
        .run(net)
        .expect("runs");
    let sleeper = actor::<Stepped>(&report, 0);
    assert_eq!(sleeper.ticks, (0..ticks).step_by(5).collect::<Vec<_>>());
    // Worker 1 waits about 300 us for worker 0 at every tick.
    assert!(!sleeper.advanced.is_empty(), "never brought forward");
    for &(done, t) in &sleeper.advanced {
        let last = sleeper.ticks[done - 1];
        let next = sleeper.ticks.get(done).copied().unwrap_or(ticks);
        assert!(
            last < t && t < next,
            "advanced to {t} between ticks {last} and {next}"
        );
    }
    assert!(
        actor::<Stepped>(&report, 1).advanced.is_empty(),
        "never asleep"
    );
}

/// What a handler call reads of its cell on every message (actor, edges, id, tick request,
/// the count it adds to) lies in the cell's first cache line, which the worker fetches ahead.
#[test]
fn a_cells_hot_fields_share_its_first_line() {
    use crate::runtime::cell::Cell;
    use std::mem::{offset_of, size_of};
    let ends = [
        offset_of!(Cell<M>, actor) + size_of::<Box<dyn Actor<M>>>(),
        offset_of!(Cell<M>, targets) + size_of::<Box<[u32]>>(),
        offset_of!(Cell<M>, id) + size_of::<usize>(),
        offset_of!(Cell<M>, worker_tick) + size_of::<Option<u64>>(),
        offset_of!(Cell<M>, received) + size_of::<u64>(),
    ];
    assert!(ends.iter().all(|&e| e <= 64), "{ends:?}");
    assert!(offset_of!(Cell<M>, progress) < 128);
    // Written by every handler call, on the line of the progress board's pointer.
    assert!(offset_of!(Cell<M>, sleep_after_mail) + size_of::<Option<u64>>() <= 128);
}

//! The actor runtime, every case on every executor through one helper.

use std::time::{Duration, Instant};

use axon::message::{MessageKind, Payload};
use axon::runtime::actor::{Actor, Context, Flow};
use axon::runtime::{Executor, Network, RunReport, Runtime, RuntimeConfig, RuntimeError};

/// A test message: a number, a step and a kind.
#[derive(Debug)]
struct Msg {
    value: u64,
    step: u64,
    kind: MessageKind,
}

impl Payload for Msg {
    type Kind = MessageKind;
    fn kind(&self) -> MessageKind {
        self.kind
    }
    fn bytes(&self) -> usize {
        16
    }
    fn step(&self) -> u64 {
        self.step
    }
}

fn msg(value: u64) -> Msg {
    Msg {
        value,
        step: value,
        kind: MessageKind::Activity,
    }
}

/// Runs `build()` on every executor with `capacity`, handing each result to `check`.
fn on_every_executor(
    capacity: usize,
    stall: Duration,
    build: impl Fn(Executor) -> Network<Msg>,
    check: impl Fn(Executor, Result<RunReport<Msg>, RuntimeError>, Duration),
) {
    for executor in Executor::ALL {
        let rt = Runtime::new(RuntimeConfig {
            executor,
            workers: 2,
            mailbox_capacity: capacity,
            stall_timeout: stall,
            trace_sample: 0,
        });
        let start = Instant::now();
        let result = rt.run(build(executor));
        check(executor, result, start.elapsed());
    }
}

/// Sends 0..n to edge 0, then stops.
struct Producer {
    n: u64,
}

impl Actor<Msg> for Producer {
    fn started(&mut self, ctx: &mut Context<'_, Msg>) -> Flow {
        for i in 0..self.n {
            ctx.send(0, msg(i));
        }
        Flow::Stop
    }
    fn handle(&mut self, _: Msg, _: &mut Context<'_, Msg>) -> Flow {
        Flow::Continue
    }
}

/// Checks values arrive in order; stops everything after `n`.
struct Consumer {
    next: u64,
    n: u64,
}

impl Actor<Msg> for Consumer {
    fn handle(&mut self, m: Msg, _: &mut Context<'_, Msg>) -> Flow {
        assert_eq!(m.value, self.next, "per-edge FIFO order");
        self.next += 1;
        if self.next == self.n {
            Flow::StopAll
        } else {
            Flow::Continue
        }
    }
}

#[test]
fn per_edge_order_is_fifo_and_counters_equal_a_hand_count() {
    let n = 20_000;
    on_every_executor(
        8,
        Duration::from_secs(5),
        |_| {
            let mut net = Network::new();
            let p = net.add("producer", Producer { n });
            let c = net.add("consumer", Consumer { next: 0, n });
            net.connect(p, c);
            net
        },
        |ex, r, _| {
            let r = r.unwrap_or_else(|e| panic!("{ex:?}: {e}"));
            assert_eq!(r.traffic.totals.messages, n, "{ex:?}");
            assert_eq!(r.traffic.totals.bytes, 16 * n, "{ex:?}");
            assert_eq!(r.traffic.per_edge.len(), 1);
            assert_eq!(r.traffic.per_edge[0].from, "producer");
            assert_eq!(r.traffic.per_edge[0].to, "consumer");
            assert_eq!(r.traffic.weight_transport_bytes, 0);
        },
    );
}

/// A ring member: forwards every token to edge 0 until `hops` tokens have passed through
/// actor 0 in total; actor 0 counts.
struct RingNode {
    seed_tokens: u64,
    forwarded: u64,
    limit: u64,
}

impl Actor<Msg> for RingNode {
    fn started(&mut self, ctx: &mut Context<'_, Msg>) -> Flow {
        for i in 0..self.seed_tokens {
            ctx.send(0, msg(i));
        }
        Flow::Continue
    }
    fn handle(&mut self, m: Msg, ctx: &mut Context<'_, Msg>) -> Flow {
        self.forwarded += 1;
        if self.forwarded >= self.limit {
            return Flow::StopAll;
        }
        ctx.send(0, m);
        Flow::Continue
    }
}

#[test]
fn nothing_is_lost_under_backpressure() {
    // 4 actors, mailbox capacity 4, every actor starts with 3 tokens: mailboxes are full
    // nearly all the time. 10^7 messages on tokio and inline; 10^6 on threads, where every
    // hop is a thread wake-up (4 threads on 2 cores: ~250k hops/s in a debug build).
    let limit_for = |ex: Executor| {
        if ex == Executor::Threads {
            250_000
        } else {
            2_500_000
        }
    };
    on_every_executor(
        4,
        Duration::from_secs(10),
        |ex| {
            let per_actor = limit_for(ex);
            let mut net = Network::new();
            let ids: Vec<_> = (0..4)
                .map(|i| {
                    net.add(
                        format!("ring-{i}"),
                        RingNode {
                            seed_tokens: 3,
                            forwarded: 0,
                            limit: per_actor,
                        },
                    )
                })
                .collect();
            for i in 0..4 {
                net.connect(ids[i], ids[(i + 1) % 4]);
            }
            net
        },
        |ex, r, elapsed| {
            let r = r.unwrap_or_else(|e| panic!("{ex:?}: {e}"));
            let per_actor = limit_for(ex);
            let nodes: Vec<&RingNode> = r
                .actors
                .iter()
                .map(|a| {
                    (a.as_ref() as &dyn std::any::Any)
                        .downcast_ref::<RingNode>()
                        .expect("ring node")
                })
                .collect();
            let handled: u64 = nodes.iter().map(|n| n.forwarded).sum();
            // An actor that reached its limit consumed its last token without forwarding it.
            let hitters = nodes.iter().filter(|n| n.forwarded == per_actor).count() as u64;
            assert!(
                hitters >= 1,
                "{ex:?}: the run ends when an actor reaches its limit"
            );
            let sent = r.traffic.totals.messages;
            // Exact conservation: 12 seeded sends, plus one send per handled message except
            // the consumed ones. Nothing lost, nothing duplicated.
            assert_eq!(
                sent,
                12 + handled - hitters,
                "{ex:?}: sent {sent}, handled {handled}"
            );
            assert!(
                sent >= 4 * per_actor - 4 * 12,
                "{ex:?}: ~4 x limit messages went round"
            );
            eprintln!("{ex:?}: {sent} messages in {elapsed:?}");
        },
    );
}

/// Panics on its first message if it is the chosen one; otherwise forwards once.
struct Fragile {
    doomed: bool,
}

impl Actor<Msg> for Fragile {
    fn started(&mut self, ctx: &mut Context<'_, Msg>) -> Flow {
        if ctx.edges() > 0 {
            ctx.send(0, msg(1));
        }
        Flow::Continue
    }
    fn handle(&mut self, _: Msg, _: &mut Context<'_, Msg>) -> Flow {
        if self.doomed {
            panic!("synapse overflow in the doomed actor");
        }
        Flow::Continue
    }
}

#[test]
fn a_panic_in_one_of_1000_actors_ends_the_run_by_name_within_a_second() {
    on_every_executor(
        16,
        Duration::from_secs(30),
        |_| {
            let mut net = Network::new();
            let ids: Vec<_> = (0..1000)
                .map(|i| net.add(format!("cell-{i}"), Fragile { doomed: i == 637 }))
                .collect();
            for i in 0..1000 {
                net.connect(ids[i], ids[(i + 1) % 1000]);
            }
            net
        },
        |ex, r, elapsed| {
            match r {
                Err(RuntimeError::Panicked {
                    actor,
                    kind,
                    message,
                }) => {
                    assert_eq!(actor, "cell-637", "{ex:?}");
                    assert!(kind.contains("activity"), "{ex:?}: {kind}");
                    assert!(message.contains("synapse overflow"), "{ex:?}: {message}");
                }
                Err(e) => panic!("{ex:?}: wrong error {e}"),
                Ok(_) => panic!("{ex:?}: a panicking actor must fail the run"),
            }
            eprintln!("{ex:?}: run ended {elapsed:?} after it started (spawning included)");
            // The issue asks for 1 s; the margin absorbs spawning 1000 actors on a loaded CI box.
            assert!(
                elapsed < Duration::from_secs(1) + Duration::from_millis(500),
                "{ex:?}: took {elapsed:?}"
            );
        },
    );
}

/// Waits for a message nobody sends.
struct Waiter;

impl Actor<Msg> for Waiter {
    fn handle(&mut self, _: Msg, _: &mut Context<'_, Msg>) -> Flow {
        Flow::Continue
    }
}

#[test]
fn a_stall_is_detected_and_every_actor_is_named() {
    on_every_executor(
        4,
        Duration::from_millis(200),
        |_| {
            let mut net = Network::new();
            let a = net.add("left", Waiter);
            let b = net.add("right", Waiter);
            net.connect(a, b);
            net.connect(b, a);
            net
        },
        |ex, r, elapsed| {
            let Err(e @ RuntimeError::Stalled { .. }) = r else {
                panic!("{ex:?}: expected a stall");
            };
            let text = e.to_string();
            assert!(
                text.contains("left") && text.contains("right") && text.contains("mailbox 0"),
                "{ex:?}: {text}"
            );
            assert!(elapsed < Duration::from_secs(2), "{ex:?}: {elapsed:?}");
        },
    );
}

/// Lockstep partner: at step t it sends its step-t message and waits for the other's step-t
/// message before computing step t+1.
struct Partner {
    step: u64,
    steps: u64,
}

impl Actor<Msg> for Partner {
    fn started(&mut self, ctx: &mut Context<'_, Msg>) -> Flow {
        ctx.send(0, msg(0));
        Flow::Continue
    }
    fn handle(&mut self, m: Msg, ctx: &mut Context<'_, Msg>) -> Flow {
        assert_eq!(m.step, self.step, "messages arrive in step order");
        self.step += 1;
        if self.step == self.steps {
            return Flow::StopAll;
        }
        ctx.send(0, msg(self.step));
        Flow::Continue
    }
}

#[test]
fn lockstep_exchange_at_capacity_2_never_deadlocks() {
    // Why this cannot deadlock: under the step protocol an actor sends its step-t message only
    // after it has received the partner's step-(t-1) message. So at most one message per
    // direction is unconsumed at any time (the partner may be one step behind, never two), and
    // a mailbox of capacity 2 always has room: no send ever waits forever.
    on_every_executor(
        2,
        Duration::from_secs(5),
        |_| {
            let mut net = Network::new();
            let a = net.add(
                "a",
                Partner {
                    step: 0,
                    steps: 20_000,
                },
            );
            let b = net.add(
                "b",
                Partner {
                    step: 0,
                    steps: 20_000,
                },
            );
            net.connect(a, b);
            net.connect(b, a);
            net
        },
        |ex, r, _| {
            let r = r.unwrap_or_else(|e| panic!("{ex:?}: {e}"));
            assert!(r.traffic.totals.messages >= 39_998, "{ex:?}");
        },
    );
}

#[test]
fn sampled_events_reach_a_chrome_trace_that_parses() {
    let n = 2_000;
    for executor in Executor::ALL {
        let rt = Runtime::new(RuntimeConfig {
            executor,
            workers: 2,
            mailbox_capacity: 8,
            stall_timeout: Duration::from_secs(5),
            trace_sample: 10,
        });
        let mut net = Network::new();
        let p = net.add("producer", Producer { n });
        let c = net.add("consumer", Consumer { next: 0, n });
        net.connect(p, c);
        let r = rt.run(net).unwrap_or_else(|e| panic!("{executor:?}: {e}"));
        // 1 in 10 of 2000 messages, every one received before the consumer stopped.
        assert_eq!(r.trace.len(), 200, "{executor:?}");
        assert!(r
            .trace
            .iter()
            .all(|e| e.from == 0 && e.to == 1 && e.bytes == 16 && e.recv_ns >= e.send_ns));
        assert!(
            r.trace.windows(2).all(|w| w[0].send_ns <= w[1].send_ns),
            "sorted by send time"
        );
        if executor != Executor::Inline {
            // Bounded mailboxes: capacity 8. (Inline mailboxes are unbounded.)
            assert!(
                r.trace.iter().all(|e| e.depth <= 8),
                "{executor:?}: depth within capacity"
            );
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("trace.json");
        axon::runtime::trace_log::write_chrome_trace(&path, &r.trace, &r.names).expect("written");
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("file")).expect("valid JSON");
        let events = v["traceEvents"].as_array().expect("traceEvents");
        let complete = events.iter().filter(|e| e["ph"] == "X").count();
        assert_eq!(complete, 200, "{executor:?}");
        assert!(events
            .iter()
            .any(|e| e["ph"] == "M" && e["args"]["name"] == "consumer"));
    }
}

#[test]
fn tracing_is_off_by_default_and_counters_are_exact_without_it() {
    let rt = Runtime::new(RuntimeConfig {
        executor: Executor::Inline,
        ..RuntimeConfig::default()
    });
    let mut net = Network::new();
    let p = net.add("producer", Producer { n: 100 });
    let c = net.add("consumer", Consumer { next: 0, n: 100 });
    net.connect(p, c);
    let r = rt.run(net).expect("runs");
    assert!(r.trace.is_empty());
    assert_eq!(r.traffic.per_edge[0].messages, 100);
    assert_eq!(
        (r.traffic.per_edge[0].from_id, r.traffic.per_edge[0].to_id),
        (0, 1)
    );
}

/// Records the order in which it saw values.
struct Recorder {
    seen: Vec<u64>,
    seed: u64,
    limit: usize,
}

impl Actor<Msg> for Recorder {
    fn started(&mut self, ctx: &mut Context<'_, Msg>) -> Flow {
        ctx.send(0, msg(self.seed));
        ctx.send(1, msg(self.seed + 100));
        Flow::Continue
    }
    fn handle(&mut self, m: Msg, ctx: &mut Context<'_, Msg>) -> Flow {
        self.seen.push(m.value);
        if self.seen.len() >= self.limit {
            return Flow::StopAll;
        }
        ctx.send((m.value % 2) as usize, msg(m.value * 3 % 1009));
        Flow::Continue
    }
}

#[test]
fn the_inline_executor_is_deterministic() {
    let run = || {
        let mut net = Network::new();
        let ids: Vec<_> = (0..5)
            .map(|i| {
                net.add(
                    format!("r{i}"),
                    Recorder {
                        seen: Vec::new(),
                        seed: i,
                        limit: 2_000,
                    },
                )
            })
            .collect();
        for i in 0..5 {
            net.connect(ids[i], ids[(i + 1) % 5]);
            net.connect(ids[i], ids[(i + 2) % 5]);
        }
        let rt = Runtime::new(RuntimeConfig {
            executor: Executor::Inline,
            ..RuntimeConfig::default()
        });
        let r = rt.run(net).expect("runs");
        ids.iter()
            .map(|&id| r.actor(id).seen.clone())
            .collect::<Vec<_>>()
    };
    let a = run();
    assert!(a.iter().map(Vec::len).sum::<usize>() > 2_000);
    assert_eq!(a, run(), "same network, same messages, same order");
}

/// Sends `rounds` blocks of five numbers to edge 0 (C), each followed by one to edge 1 (B);
/// numbers count up across both edges.
struct Fanner {
    rounds: u64,
}

impl Actor<Msg> for Fanner {
    fn started(&mut self, ctx: &mut Context<'_, Msg>) -> Flow {
        let mut seq = 0;
        for _ in 0..self.rounds {
            for _ in 0..5 {
                ctx.send(0, msg(seq));
                seq += 1;
            }
            ctx.send(1, msg(seq));
            seq += 1;
        }
        Flow::Stop
    }
    fn handle(&mut self, _: Msg, _: &mut Context<'_, Msg>) -> Flow {
        Flow::Continue
    }
}

/// Echoes each number to edge 0 as an error message.
struct Echo;

impl Actor<Msg> for Echo {
    fn handle(&mut self, m: Msg, ctx: &mut Context<'_, Msg>) -> Flow {
        let echo = Msg {
            kind: MessageKind::Error,
            ..m
        };
        ctx.send(0, echo);
        Flow::Continue
    }
}

/// Checks that an echo of number `v` comes after the number sent just before `v` (causal
/// order); stops everything after `rounds` echoes and every number.
struct CausalCheck {
    last: Option<u64>,
    echoes: u64,
    numbers: u64,
    rounds: u64,
}

impl Actor<Msg> for CausalCheck {
    fn handle(&mut self, m: Msg, _: &mut Context<'_, Msg>) -> Flow {
        if m.kind == MessageKind::Error {
            let before = self.last.unwrap_or(0);
            assert!(
                before + 1 >= m.value,
                "echo of {} before {}",
                m.value,
                m.value - 1
            );
            self.echoes += 1;
        } else {
            self.last = Some(m.value);
            self.numbers += 1;
        }
        if self.echoes == self.rounds && self.numbers == 5 * self.rounds {
            Flow::StopAll
        } else {
            Flow::Continue
        }
    }
}

/// A sends to C, then to B, and B's answer goes to C: C always has A's message first, with
/// the three on three workers (a handler's sends to one worker go as one batch) and on every
/// executor.
#[test]
fn causal_order_holds_across_three_workers() {
    let rounds = 2_000;
    for executor in Executor::ALL {
        let mut net = Network::new();
        let a = net.add("a", Fanner { rounds });
        let c = net.add(
            "c",
            CausalCheck {
                last: None,
                echoes: 0,
                numbers: 0,
                rounds,
            },
        );
        let b = net.add("b", Echo);
        net.connect(a, c);
        net.connect(a, b);
        net.connect(b, c);
        for (id, worker) in [(a.index(), 0), (b.index(), 1), (c.index(), 2)] {
            net.place(id, worker);
        }
        let rt = Runtime::new(RuntimeConfig {
            executor,
            workers: 3,
            ..RuntimeConfig::default()
        });
        let r = rt.run(net).unwrap_or_else(|e| panic!("{executor:?}: {e}"));
        assert_eq!(r.actor(c).echoes, rounds, "{executor:?}");
    }
}

//! The pinned executor: FIFO per edge on one worker and across workers, causal order across
//! three workers, a ring that crosses workers on every hop, a panic, a stall, placement.

use std::time::{Duration, Instant};

use crate::message::MessageKind;
use crate::runtime::actor::{Actor, Context, Flow};
use crate::runtime::network::{Executor, Network, RunReport, RuntimeConfig};
use crate::runtime::payload::Payload;
use crate::runtime::supervisor::RuntimeError;
use crate::runtime::Runtime;

/// A test message: a value and who sent it.
#[derive(Debug)]
struct M {
    value: u64,
    tag: u32,
}

impl Payload for M {
    type Kind = MessageKind;
    fn kind(&self) -> MessageKind {
        MessageKind::Activity
    }
    fn bytes(&self) -> usize {
        12
    }
}

fn m(value: u64, tag: u32) -> M {
    M { value, tag }
}

fn run(workers: usize, stall: Duration, net: Network<M>) -> Result<RunReport<M>, RuntimeError> {
    Runtime::new(RuntimeConfig {
        executor: Executor::Pinned,
        workers,
        mailbox_capacity: 4,
        stall_timeout: stall,
        trace_sample: 0,
    })
    .run(net)
}

/// Sends `0..n` on every out-edge in its start hook, then stops.
struct Producer {
    n: u64,
}

impl Actor<M> for Producer {
    fn started(&mut self, ctx: &mut Context<'_, M>) -> Flow {
        for i in 0..self.n {
            for e in 0..ctx.edges() {
                ctx.send(e, m(i, 0));
            }
        }
        Flow::Stop
    }
    fn handle(&mut self, _: M, _: &mut Context<'_, M>) -> Flow {
        Flow::Continue
    }
}

/// Records what it gets; stops after `n`.
struct Sink {
    seen: Vec<(u32, u64)>,
    n: usize,
}

impl Actor<M> for Sink {
    fn handle(&mut self, msg: M, _: &mut Context<'_, M>) -> Flow {
        self.seen.push((msg.tag, msg.value));
        if self.seen.len() == self.n {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}

#[test]
fn per_edge_order_holds_on_one_worker_and_across_two() {
    let n = 50_000;
    let mut net = Network::new();
    let p = net.add("producer", Producer { n });
    let near = net.add(
        "near",
        Sink {
            seen: Vec::new(),
            n: n as usize,
        },
    );
    let far = net.add(
        "far",
        Sink {
            seen: Vec::new(),
            n: n as usize,
        },
    );
    net.connect(p, near);
    net.connect(p, far);
    net.place(p, 0);
    net.place(near, 2); // 2 % 2 workers: worker 0
    net.place(far, 1);
    let r = run(2, Duration::from_secs(10), net).expect("runs");
    assert_eq!(r.worker_of, vec![0, 0, 1]);
    for id in [near, far] {
        let seen = &r.actor(id).seen;
        assert_eq!(seen.len(), n as usize);
        assert!(
            seen.iter().enumerate().all(|(i, &(_, v))| v == i as u64),
            "FIFO"
        );
    }
    assert_eq!(r.traffic.totals.messages, 2 * n);
    assert_eq!(r.handled, 2 * n);
}

/// Sends `(i, 1)` to C (edge 0) then `(i, 1)` to B (edge 1), for every i.
struct Origin {
    n: u64,
}

impl Actor<M> for Origin {
    fn started(&mut self, ctx: &mut Context<'_, M>) -> Flow {
        for i in 0..self.n {
            ctx.send(0, m(i, 1));
            ctx.send(1, m(i, 1));
        }
        Flow::Stop
    }
    fn handle(&mut self, _: M, _: &mut Context<'_, M>) -> Flow {
        Flow::Continue
    }
}

/// Forwards what it gets to edge 0 with tag 2; stops after `n`.
struct Relay {
    left: u64,
}

impl Actor<M> for Relay {
    fn handle(&mut self, msg: M, ctx: &mut Context<'_, M>) -> Flow {
        ctx.send(0, m(msg.value, 2));
        self.left -= 1;
        if self.left == 0 {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}

#[test]
fn causal_order_holds_across_three_workers() {
    let n = 20_000;
    let mut net = Network::new();
    let a = net.add("a", Origin { n });
    let b = net.add("b", Relay { left: n });
    let c = net.add(
        "c",
        Sink {
            seen: Vec::new(),
            n: 2 * n as usize,
        },
    );
    net.connect(a, c);
    net.connect(a, b);
    net.connect(b, c);
    net.place(a, 0);
    net.place(b, 1);
    net.place(c, 2);
    let r = run(3, Duration::from_secs(10), net).expect("runs");
    let seen = &r.actor(c).seen;
    let mut direct_seen = 0;
    for &(tag, v) in seen {
        if tag == 1 {
            assert_eq!(v, direct_seen, "a -> c in order");
            direct_seen += 1;
        } else {
            assert!(v < direct_seen, "b's copy of {v} came before a's");
        }
    }
}

/// A ring member: forwards every token until it has forwarded `limit`.
struct RingNode {
    seed: u64,
    forwarded: u64,
    limit: u64,
}

impl Actor<M> for RingNode {
    fn started(&mut self, ctx: &mut Context<'_, M>) -> Flow {
        for i in 0..self.seed {
            ctx.send(0, m(i, 0));
        }
        Flow::Continue
    }
    fn handle(&mut self, msg: M, ctx: &mut Context<'_, M>) -> Flow {
        self.forwarded += 1;
        if self.forwarded >= self.limit {
            return Flow::StopAll;
        }
        ctx.send(0, msg);
        Flow::Continue
    }
}

#[test]
fn a_ring_that_crosses_workers_on_every_hop_conserves_messages() {
    let (k, limit) = (8, 100_000);
    let mut net = Network::new();
    let mut ring = Vec::new();
    for i in 0..k {
        let id = net.add(
            format!("ring-{i}"),
            RingNode {
                seed: 3,
                forwarded: 0,
                limit,
            },
        );
        net.place(id, i % 2);
        ring.push(id);
    }
    for i in 0..k {
        net.connect(i, (i + 1) % k);
    }
    let r = run(2, Duration::from_secs(10), net).expect("runs");
    assert_eq!(r.worker_of, (0..k).map(|i| i % 2).collect::<Vec<_>>());
    let nodes: Vec<&RingNode> = ring.iter().map(|&id| r.actor(id)).collect();
    let handled: u64 = nodes.iter().map(|n| n.forwarded).sum();
    let hitters = nodes.iter().filter(|n| n.forwarded == limit).count() as u64;
    assert!(hitters >= 1);
    // 3 seeded tokens per node, one send per handled message but the consumed ones.
    assert_eq!(r.traffic.totals.messages, 3 * k as u64 + handled - hitters);
    assert_eq!(handled, r.handled);
}

/// Panics on its first message if doomed; otherwise forwards one message at start.
struct Fragile {
    doomed: bool,
}

impl Actor<M> for Fragile {
    fn started(&mut self, ctx: &mut Context<'_, M>) -> Flow {
        ctx.send(0, m(1, 0));
        Flow::Continue
    }
    fn handle(&mut self, _: M, _: &mut Context<'_, M>) -> Flow {
        assert!(!self.doomed, "the doomed actor's overflow");
        Flow::Continue
    }
}

#[test]
fn a_panic_is_reported_by_name_and_ends_the_run() {
    let mut net = Network::new();
    for i in 0..100 {
        net.add(format!("cell-{i}"), Fragile { doomed: i == 77 });
    }
    for i in 0..100 {
        net.connect(i, (i + 1) % 100);
    }
    let start = Instant::now();
    match run(2, Duration::from_secs(30), net) {
        Err(RuntimeError::Panicked {
            actor,
            kind,
            message,
        }) => {
            assert_eq!(actor, "cell-77");
            assert!(kind.contains("activity"), "{kind}");
            assert!(message.contains("overflow"), "{message}");
        }
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("a panicking actor must fail the run"),
    }
    assert!(start.elapsed() < Duration::from_secs(2));
}

/// Waits for a message nobody sends.
struct Waiter;

impl Actor<M> for Waiter {
    fn handle(&mut self, _: M, _: &mut Context<'_, M>) -> Flow {
        Flow::Continue
    }
}

#[test]
fn a_stall_across_workers_is_detected_and_names_every_actor() {
    let mut net = Network::new();
    let a = net.add("left", Waiter);
    let b = net.add("right", Waiter);
    net.connect(a, b);
    net.connect(b, a);
    let start = Instant::now();
    let Err(e @ RuntimeError::Stalled { .. }) = run(2, Duration::from_millis(150), net) else {
        panic!("expected a stall");
    };
    let text = e.to_string();
    assert!(text.contains("left") && text.contains("right"), "{text}");
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn unplaced_actors_go_in_contiguous_blocks_and_groups_wrap() {
    let mut net: Network<M> = Network::new();
    for i in 0..6 {
        net.add(format!("w{i}"), Waiter);
    }
    assert_eq!(net.workers_of(2), vec![0, 0, 0, 1, 1, 1]);
    assert_eq!(net.workers_of(3), vec![0, 0, 1, 1, 2, 2]);
    net.place(5, 0);
    net.place(0, 7);
    assert_eq!(net.workers_of(2), vec![1, 0, 0, 1, 1, 0]);
    assert_eq!(net.workers_of(1), vec![0; 6]);
}

/// Records the order it saw values in; sends on by value.
struct Recorder {
    seen: Vec<u64>,
    seed: u64,
}

impl Actor<M> for Recorder {
    fn started(&mut self, ctx: &mut Context<'_, M>) -> Flow {
        ctx.send(0, m(self.seed, 0));
        ctx.send(1, m(self.seed + 100, 0));
        Flow::Continue
    }
    fn handle(&mut self, msg: M, ctx: &mut Context<'_, M>) -> Flow {
        self.seen.push(msg.value);
        if self.seen.len() >= 500 {
            return Flow::StopAll;
        }
        ctx.send((msg.value % 2) as usize, m(msg.value * 3 % 1009, 0));
        Flow::Continue
    }
}

#[test]
fn one_pinned_worker_serves_in_the_inline_order() {
    let seen = |executor| {
        let mut net = Network::new();
        let recorders: Vec<_> = (0..5)
            .map(|i| {
                net.add(
                    format!("r{i}"),
                    Recorder {
                        seen: Vec::new(),
                        seed: i,
                    },
                )
            })
            .collect();
        for i in 0..5 {
            net.connect(i, (i + 1) % 5);
            net.connect(i, (i + 2) % 5);
        }
        let r = Runtime::new(RuntimeConfig {
            executor,
            workers: 1,
            ..RuntimeConfig::default()
        })
        .run(net)
        .expect("runs");
        recorders
            .iter()
            .map(|&id| r.actor(id).seen.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(seen(Executor::Pinned), seen(Executor::Inline));
}

//! The stress patterns' actors and networks: a ring of relays, and one source to many sinks
//! or many sources to one sink.

use super::Token;
use crate::runtime::actor::{Actor, Context, Flow};
use crate::runtime::Network;

/// Forwards every message on edge 0 until it has handled `limit`.
struct Relay {
    seed: bool,
    handled: u64,
    limit: u64,
}

impl Actor<Token> for Relay {
    fn started(&mut self, ctx: &mut Context<'_, Token>) -> Flow {
        if self.seed {
            ctx.send(0, Token { hops: 0, step: 0 });
        }
        Flow::Continue
    }
    fn handle(&mut self, m: Token, ctx: &mut Context<'_, Token>) -> Flow {
        self.handled += 1;
        if self.handled >= self.limit {
            return Flow::StopAll;
        }
        ctx.send(
            0,
            Token {
                hops: m.hops + 1,
                step: m.step,
            },
        );
        Flow::Continue
    }
}

/// Sends one message to each of its first `edges - 1` out-edges per round, `rounds` rounds,
/// pacing itself with a tick to its own last edge (a self-loop), then stops.
struct Source {
    rounds: u64,
    done: u64,
}

impl Actor<Token> for Source {
    fn started(&mut self, ctx: &mut Context<'_, Token>) -> Flow {
        self.round(ctx)
    }
    fn handle(&mut self, _: Token, ctx: &mut Context<'_, Token>) -> Flow {
        self.round(ctx)
    }
}

impl Source {
    fn round(&mut self, ctx: &mut Context<'_, Token>) -> Flow {
        let targets = ctx.edges() - 1;
        for e in 0..targets {
            ctx.send(
                e,
                Token {
                    hops: self.done,
                    step: self.done,
                },
            );
        }
        self.done += 1;
        if self.done >= self.rounds {
            return Flow::Stop;
        }
        ctx.send(targets, Token { hops: 0, step: 0 });
        Flow::Continue
    }
}

/// Counts arrivals; stops after `expect`.
struct Sink {
    expect: u64,
    got: u64,
}

impl Actor<Token> for Sink {
    fn handle(&mut self, _: Token, _: &mut Context<'_, Token>) -> Flow {
        self.got += 1;
        if self.got >= self.expect {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}

/// One source to `n` sinks (`fan_in = false`) or `n` sources to one sink.
pub(super) fn fan(n: usize, rounds: u64, fan_in: bool) -> Network<Token> {
    let mut net = Network::new();
    if fan_in {
        let sink = net.add(
            "sink",
            Sink {
                expect: n as u64 * rounds,
                got: 0,
            },
        );
        for i in 0..n {
            let s = net.add(format!("source-{i}"), Source { rounds, done: 0 });
            net.connect(s, sink);
            net.connect(s, s);
        }
    } else {
        let src = net.add("source", Source { rounds, done: 0 });
        for i in 0..n {
            let k = net.add(
                format!("sink-{i}"),
                Sink {
                    expect: rounds,
                    got: 0,
                },
            );
            net.connect(src, k);
        }
        net.connect(src, src);
    }
    net
}

/// A ring of `n` relays (actor `i` sends to `i + 1`); `seeded(i)`: actor `i` starts with a
/// token; each stops the run after handling `limit` messages.
pub fn ring(n: usize, seeded: impl Fn(usize) -> bool, limit: u64) -> Network<Token> {
    let mut net = Network::new();
    let ids: Vec<usize> = (0..n)
        .map(|i| {
            net.add(
                format!("ring-{i}"),
                Relay {
                    seed: seeded(i),
                    handled: 0,
                    limit,
                },
            )
        })
        .collect();
    for i in 0..n {
        net.connect(ids[i], ids[(i + 1) % n]);
    }
    net
}

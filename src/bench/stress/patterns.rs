//! The stress patterns' actors and networks: a ring of relays, and one source to many sinks
//! or many sources to one sink. Every actor opens the shared [`Window`] when it starts; the
//! receivers (relays, sinks) count what they handle and add it to the window when they stop.

use std::sync::Arc;

use super::window::Window;
use super::Token;
use crate::runtime::actor::{Actor, Context, Flow};
use crate::runtime::Network;

/// Forwards every message on edge 0 until it has handled `limit` (or the window has closed).
struct Relay {
    seed: bool,
    handled: u64,
    limit: u64,
    /// Reaching `limit` stops the whole run (else only this relay).
    stop_all: bool,
    window: Arc<Window>,
}

impl Actor<Token> for Relay {
    fn started(&mut self, ctx: &mut Context<'_, Token>) -> Flow {
        self.window.start();
        if self.seed {
            ctx.send(0, Token { hops: 0, step: 0 });
        }
        Flow::Continue
    }
    fn handle(&mut self, m: Token, ctx: &mut Context<'_, Token>) -> Flow {
        if self.window.expired() {
            // Not counted; the first relay to see the closed window stops the run.
            return if self.window.first_stop() {
                Flow::StopAll
            } else {
                Flow::Stop
            };
        }
        self.handled += 1;
        if self.handled >= self.limit {
            self.window.mark_end();
            return if self.stop_all {
                Flow::StopAll
            } else {
                Flow::Stop
            };
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
    fn stopped(&mut self) {
        self.window.add(self.handled);
    }
}

/// Sends one message to each of its first `edges - 1` out-edges per round, `rounds` rounds,
/// pacing itself with a tick to its own last edge (a self-loop, not counted), then stops.
struct Source {
    rounds: u64,
    done: u64,
    window: Arc<Window>,
}

impl Actor<Token> for Source {
    fn started(&mut self, ctx: &mut Context<'_, Token>) -> Flow {
        self.window.start();
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

/// Counts arrivals; stops after `expect` (the last one closes the window).
struct Sink {
    expect: u64,
    got: u64,
    window: Arc<Window>,
}

impl Actor<Token> for Sink {
    fn started(&mut self, _: &mut Context<'_, Token>) -> Flow {
        self.window.start();
        Flow::Continue
    }
    fn handle(&mut self, _: Token, _: &mut Context<'_, Token>) -> Flow {
        self.got += 1;
        if self.got >= self.expect {
            self.window.mark_end();
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
    fn stopped(&mut self) {
        self.window.add(self.got);
    }
}

/// One source to `n` sinks (`fan_in = false`) or `n` sources to one sink.
pub(super) fn fan(n: usize, rounds: u64, fan_in: bool, window: &Arc<Window>) -> Network<Token> {
    let mut net = Network::new();
    let source = || Source {
        rounds,
        done: 0,
        window: window.clone(),
    };
    let sink = |expect| Sink {
        expect,
        got: 0,
        window: window.clone(),
    };
    if fan_in {
        let k = net.add("sink", sink(n as u64 * rounds));
        for i in 0..n {
            let s = net.add(format!("source-{i}"), source());
            net.connect(s, k);
            net.connect(s, s);
        }
    } else {
        let src = net.add("source", source());
        for i in 0..n {
            let k = net.add(format!("sink-{i}"), sink(rounds));
            net.connect(src, k);
        }
        net.connect(src, src);
    }
    net
}

/// A ring of `n` relays (actor `i` sends to `i + 1`); `seeded(i)`: actor `i` starts with a
/// token; each stops the run after handling `limit` messages.
pub fn ring(n: usize, seeded: impl Fn(usize) -> bool, limit: u64) -> Network<Token> {
    ring_in(n, seeded, limit, true, &Window::new())
}

/// [`ring`] counted in `window`; `stop_all = false`: a relay that has handled `limit` stops
/// alone (with every relay seeded, each then handles exactly `limit`).
pub(super) fn ring_in(
    n: usize,
    seeded: impl Fn(usize) -> bool,
    limit: u64,
    stop_all: bool,
    window: &Arc<Window>,
) -> Network<Token> {
    let mut net = Network::new();
    let ids: Vec<_> = (0..n)
        .map(|i| {
            net.add(
                format!("ring-{i}"),
                Relay {
                    seed: seeded(i),
                    handled: 0,
                    limit,
                    stop_all,
                    window: window.clone(),
                },
            )
        })
        .collect();
    for i in 0..n {
        net.connect(ids[i], ids[(i + 1) % n]);
    }
    net
}

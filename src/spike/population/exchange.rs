//! A population shard's side of the spike exchange: the pieces it sends (a tick's spikes, or a
//! window's, marked when a stop is asked for) and the pieces it takes in from the other
//! shards, each kept for the tick it belongs to.

use super::{Population, STOP_BIT};
use crate::message::{Message, Spikes};
use crate::runtime::actor::Context;

impl Population {
    /// Keeps the tick's spikes for the window, and sends the window when the tick ends it
    /// (and is not the run's last), marked if a stop was asked for.
    pub(super) fn close_window(&mut self, ctx: &mut Context<'_, Message>, d: u64) {
        // Read before the ring is borrowed: a sent window's mark.
        let stop = self.stop_requested();
        let Some(ring) = self.ring.as_mut() else {
            return;
        };
        ring.own.push(self.fired.len() as u32);
        ring.own.extend_from_slice(&self.fired);
        let last = self.tick + 1 == self.ticks;
        if !(self.tick + 1).is_multiple_of(d) || last {
            return;
        }
        if stop {
            ring.own[0] |= STOP_BIT;
        }
        self.send_window(ctx, self.tick + 1 - d, stop);
    }

    /// Sends this window's spikes (it started at tick `start`) to every other shard and keeps
    /// them as this shard's piece.
    fn send_window(&mut self, ctx: &mut Context<'_, Message>, start: u64, stop: bool) {
        let first = self.first_peer();
        let Some(ring) = self.ring.as_mut() else {
            return;
        };
        let any = ring.own.len() as u64 > ring.window + 1;
        let own = self.pool.spikes(&ring.own);
        ring.own.clear();
        ring.own.push(self.shard as u32);
        for edge in first..ctx.edges() {
            ctx.send(
                edge,
                Message::Spike {
                    tick: start,
                    fired: own.clone(),
                },
            );
        }
        self.sent = Some((any.then_some(own), stop));
    }

    /// Sends this tick's spikes to every other shard and keeps them as this shard's piece.
    pub(super) fn send_own(&mut self, ctx: &mut Context<'_, Message>) {
        let own = self.pool.spikes(&self.fired);
        for edge in self.first_peer()..ctx.edges() {
            ctx.send(
                edge,
                Message::Spike {
                    tick: self.tick,
                    fired: own.clone(),
                },
            );
        }
        self.pieces[self.shard] = (!own.is_empty()).then_some(own);
        self.have = 1;
    }

    /// Takes up pieces of the tick just finished that arrived early.
    pub(super) fn take_early(&mut self) {
        let want = self.tick - self.step();
        let mut i = 0;
        while i < self.deferred.len() {
            if self.deferred[i].0 == want {
                let (_, s) = self.deferred.remove(i).expect("in range");
                self.accept(s);
            } else {
                i += 1;
            }
        }
    }

    pub(super) fn accept(&mut self, s: Spikes) {
        if self.ring.is_some() {
            // A window piece names its shard first; one with only zero counts is no piece.
            let any = s.len() as u64 > self.step() + 1;
            if let Some(&k) = s.first() {
                self.stopping |= k & STOP_BIT != 0;
                self.pieces[(k & !STOP_BIT) as usize] = any.then_some(s);
            }
        } else {
            // A tick's piece marked as the sender's last ends with STOP_BIT.
            self.stopping |= s.last().is_some_and(|&w| w & STOP_BIT != 0);
            if let Some(k) = self.piece_shard(&s) {
                self.pieces[k] = Some(s);
            }
        }
        self.have += 1;
    }
}

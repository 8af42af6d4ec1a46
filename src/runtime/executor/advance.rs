//! Which sleeping ticked resident an idle pinned worker brings forward next ([`Sleepers`]).
//!
//! Between two worker ticks a pinned worker often waits for the others (a lockstep tick ends
//! when the slowest worker's does). Before it spins, it lends that time to its ticked
//! residents: each that sleeps past the next worker tick may bring its own state forward
//! to that tick ([`crate::runtime::actor::Actor::advance`]), which is work it would do anyway
//! when next woken, now off the tick's critical path. The walk goes round the residents
//! from where the last idle spell stopped, at most once per worker tick, and yields to mail
//! as soon as mail comes.

/// Residents an idle worker brings forward between two looks at its inbound queue.
pub(super) const BETWEEN_LOOKS: usize = 4;

/// Where a worker's walk over its residents stands.
#[derive(Default)]
pub(super) struct Sleepers {
    /// The next worker tick (what residents are brought forward to), once one has run.
    next: Option<u64>,
    /// The resident the walk looks at next.
    at: usize,
    /// Residents still to look at before the next worker tick.
    left: usize,
}

impl Sleepers {
    /// Worker tick `tick` is done on a worker of `residents`: a new walk, to `tick + 1`.
    pub(super) fn ticked(&mut self, tick: u64, residents: usize) {
        self.next = Some(tick + 1);
        self.left = residents;
    }

    /// The next resident to look at (of `residents`) and the tick to bring it to, if the walk
    /// has not yet been round them all since the last worker tick.
    pub(super) fn next(&mut self, residents: usize) -> Option<(usize, u64)> {
        let tick = self.next?;
        if self.left == 0 || residents == 0 {
            return None;
        }
        self.left -= 1;
        let l = self.at % residents;
        self.at = (l + 1) % residents;
        Some((l, tick))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walk_goes_round_once_per_tick_from_where_the_last_stopped() {
        let mut s = Sleepers::default();
        assert_eq!(s.next(3), None, "nothing before the first worker tick");
        s.ticked(7, 3);
        assert_eq!(s.next(3), Some((0, 8)));
        assert_eq!(s.next(3), Some((1, 8)));
        s.ticked(8, 3);
        let walk: Vec<_> = std::iter::from_fn(|| s.next(3)).collect();
        assert_eq!(walk, vec![(2, 9), (0, 9), (1, 9)]);
        assert_eq!(s.next(3), None, "once round per tick");
    }
}

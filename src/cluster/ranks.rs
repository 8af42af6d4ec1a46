//! [`Ranks`]: the handle of a run's ranks, created where the run starts (the binary, MPI's
//! start, a test's thread ranks, the Python package) and passed down explicitly: which rank
//! this is, how many there are, the exchange between them (none in one process) and where
//! the shards are pinned (`runtime.shard_ranks`).

use super::{place_shards, ClusterError, Exchange};

/// How to end every rank of a job at once (MPI_Abort), kept apart from the exchange: a run
/// that fails may have lost the exchange with its bridge or port.
pub type AbortFn = Box<dyn Fn(i32) + Send + Sync>;

/// This process's (or thread's) place among the ranks of a run.
pub struct Ranks {
    rank: usize,
    size: usize,
    /// The exchange while no run holds it (a run lends it to its bridge or port).
    exchange: Option<Box<dyn Exchange>>,
    /// The rank of each shard, when pinned; `None`: balanced by synapses.
    pinned: Option<Vec<usize>>,
    abort: Option<AbortFn>,
}

impl Default for Ranks {
    fn default() -> Self {
        Self::single()
    }
}

impl std::fmt::Debug for Ranks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ranks")
            .field("rank", &self.rank)
            .field("size", &self.size)
            .field("pinned", &self.pinned)
            .finish_non_exhaustive()
    }
}

impl Ranks {
    /// One process: rank 0 of 1, no exchange.
    pub fn single() -> Self {
        Self {
            rank: 0,
            size: 1,
            exchange: None,
            pinned: None,
            abort: None,
        }
    }

    /// This rank of the ranks `exchange` connects (an exchange of one rank is one process).
    pub fn new(exchange: Box<dyn Exchange>) -> Self {
        Self {
            rank: exchange.rank(),
            size: exchange.size(),
            exchange: Some(exchange),
            pinned: None,
            abort: None,
        }
    }

    /// These ranks, ended all at once by `abort` ([`Ranks::abort_all`]).
    pub fn with_abort(mut self, abort: AbortFn) -> Self {
        self.abort = Some(abort);
        self
    }

    /// Pins the shards of the runs these ranks make (`runtime.shard_ranks`); `None` (or
    /// empty): balanced by synapses ([`place_shards`]).
    pub fn pin_shards(&mut self, ranks: Option<Vec<usize>>) {
        self.pinned = ranks.filter(|r| !r.is_empty());
    }

    /// This rank, `0..size`.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// Ranks in all (1 in one process).
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether this is rank 0 (or one process): the one that prints and writes.
    pub fn is_root(&self) -> bool {
        self.rank == 0
    }

    /// Whether the run spreads over several ranks.
    pub fn several(&self) -> bool {
        self.size > 1
    }

    /// The exchange, when there are several ranks and no run holds it.
    pub fn exchange(&mut self) -> Option<&mut (dyn Exchange + 'static)> {
        match self.exchange.as_mut() {
            Some(x) if self.size > 1 => Some(x.as_mut()),
            _ => None,
        }
    }

    /// Lends the exchange to a run's bridge or port (`None` in one process).
    pub(crate) fn take_exchange(&mut self) -> Option<Box<dyn Exchange>> {
        if self.size > 1 {
            self.exchange.take()
        } else {
            None
        }
    }

    /// Takes the exchange back after a run.
    pub(crate) fn put_back(&mut self, exchange: Box<dyn Exchange>) {
        self.exchange = Some(exchange);
    }

    /// The rank of each of the shards with `synapses[s]` synapses: as pinned, checked, or
    /// balanced ([`place_shards`]).
    pub fn rank_of_shards(&self, synapses: &[u64]) -> Result<Vec<usize>, ClusterError> {
        let ranks = self.size;
        let Some(pinned) = self.pinned.clone() else {
            return place_shards(synapses, ranks);
        };
        let bad = |why: String| {
            Err(ClusterError::Placement(format!(
                "runtime.shard_ranks {pinned:?}: {why}"
            )))
        };
        if pinned.len() != synapses.len() {
            return bad(format!(
                "{} entries for {} shards",
                pinned.len(),
                synapses.len()
            ));
        }
        if let Some(r) = (0..ranks).find(|r| !pinned.contains(r)) {
            return bad(format!("rank {r} of {ranks} holds no shard"));
        }
        if let Some(&r) = pinned.iter().find(|&&r| r >= ranks) {
            return bad(format!("rank {r} does not exist (ranks 0..{ranks})"));
        }
        Ok(pinned)
    }

    /// Checks that every rank is about to build the same network ([`super::agree`]); nothing
    /// to check in one process.
    pub fn agree<T: serde::Serialize>(&mut self, what: &T) -> Result<(), ClusterError> {
        match self.exchange() {
            Some(x) => super::agree(x, what),
            None => Ok(()),
        }
    }

    /// Every rank's `mine`, in rank order ([`super::gather_json`]); `[mine]` in one process.
    pub fn gather_json<T: serde::Serialize + serde::de::DeserializeOwned>(
        &mut self,
        mine: T,
    ) -> Result<Vec<T>, ClusterError> {
        match self.exchange() {
            Some(x) => super::gather_json(x, &mine),
            None => Ok(vec![mine]),
        }
    }

    /// Stops every rank at once if there are several (after an error that the other ranks
    /// may not see, while they wait in an exchange): MPI_Abort under MPI; nothing for ranks
    /// that are threads.
    pub fn abort_all(&self, code: i32) {
        if let (true, Some(abort)) = (self.several(), self.abort.as_ref()) {
            abort(code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{on_thread_ranks, ThreadRanks};

    /// Rank 0 of `n` thread ranks (no collective is called).
    fn of(n: usize) -> Ranks {
        Ranks::new(Box::new(ThreadRanks::group(n).swap_remove(0)))
    }

    #[test]
    fn pinned_placements_are_checked() {
        let mut two = of(2);
        two.pin_shards(Some(vec![1, 0, 1]));
        assert_eq!(two.rank_of_shards(&[5, 5, 5]).unwrap(), vec![1, 0, 1]);
        for mut bad in [of(3), of(1)] {
            bad.pin_shards(Some(vec![1, 0, 1]));
            let e = bad.rank_of_shards(&[5, 5, 5]).unwrap_err().to_string();
            assert!(e.contains("runtime.shard_ranks"), "{e}");
        }
        assert!(two.rank_of_shards(&[5, 5]).is_err(), "wrong length");
        let mut three = of(3);
        three.pin_shards(None);
        assert_eq!(three.rank_of_shards(&[5, 5, 5]).unwrap(), vec![0, 1, 2]);
    }

    #[test]
    fn one_process_has_no_exchange() {
        let mut one = of(1);
        assert!(!one.several() && one.exchange().is_none() && one.take_exchange().is_none());
        assert_eq!(Ranks::single().gather_json(7u8).unwrap(), vec![7]);
        assert!(Ranks::default().agree(&1).is_ok());
    }

    /// Ranks that would build different networks all stop, naming the odd one.
    #[test]
    fn ranks_must_agree_on_the_network() {
        let same = on_thread_ranks(3, |ranks| ranks.agree(&("cuba", 1u64, 4usize)).is_ok());
        assert_eq!(same, vec![true; 3]);
        let differ = on_thread_ranks(3, |ranks| {
            let seed = if ranks.rank() == 2 { 9u64 } else { 1 };
            let r = ranks.agree(&("cuba", seed, 4usize));
            r.err().map(|e| e.to_string()).unwrap_or_default()
        });
        assert!(
            differ
                .iter()
                .all(|e| e.contains("rank 2 builds another network")),
            "{differ:?}"
        );
    }
}

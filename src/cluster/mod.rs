//! One network over several processes (ranks): which shards each rank holds
//! ([`placement`]), the [`RankBridge`] actor that exchanges a window's spikes across ranks in
//! one collective, the stand-ins and port that carry a learning run's messages point to point
//! ([`remote`], in the frame format of [`wire`]), and the transport ([`Exchange`]): MPI under
//! the `mpi` feature (`mpirun -np N axon run FILE`), or threads of one process
//! ([`ThreadRanks`], for tests and for trying a placement without MPI).
//!
//! Every rank builds the same network description and keeps the shards placed on it; a
//! shard's spikes reach the shards of its own rank by message, as in one process, and the
//! other ranks' shards through the bridge: once per exchange window each rank's bridge has
//! every local shard's piece, all ranks gather all pieces (one all-gather), and each bridge
//! hands the other ranks' pieces to its shards. Pieces carry their shard and tick, so the
//! shards deliver them in the same order as in one process and the spike trains are the same
//! for any number of ranks. Rank 0 gathers the figures and writes the run folder.
//!
//! A learning run's actors talk on edges, not in windows: there an actor placed on another
//! rank is a stand-in that forwards what it receives to its rank's port, which posts it to the
//! actor's rank (non-blocking, in order per pair of ranks) and hands what arrives to the local
//! actors ([`remote`]).

pub mod bridge;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod placement;
pub mod remote;
pub mod threads;
pub mod wire;

use std::cell::RefCell;

pub use bridge::{connect_shards, reclaim, BridgeFigures, RankBridge};
pub use placement::place_shards;
pub use threads::{on_thread_ranks, ThreadRanks};

/// What an exchange between ranks failed on.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The ranks disagree or cannot go on (another rank stopped, a malformed piece).
    #[error("rank {rank}: {message}")]
    Rank {
        /// The rank that saw it.
        rank: usize,
        /// What happened.
        message: String,
    },
    /// A scenario cannot be spread over the ranks as asked.
    #[error("{0}")]
    Placement(String),
}

/// How ranks exchange data: every rank calls each collective together, in the same order.
pub trait Exchange: Send {
    /// This rank, `0..size`.
    fn rank(&self) -> usize;
    /// Ranks in all.
    fn size(&self) -> usize;
    /// Every rank's `mine`, in rank order.
    fn all_gather(&mut self, mine: &[u8]) -> Result<Vec<Vec<u8>>, ClusterError>;
    /// Sends `frame` to `rank` without waiting (MPI_Isend); the frames of one pair of ranks
    /// arrive in the order they were posted.
    fn post(&mut self, rank: usize, frame: Vec<u8>) -> Result<(), ClusterError>;
    /// Moves the frames whose sends have completed into `free` (for reuse); whether every
    /// posted send has completed.
    fn sent(&mut self, free: &mut Vec<Vec<u8>>) -> bool;
    /// A frame from another rank, if one has arrived (MPI_Improbe): written into `buf`;
    /// returns its sender.
    fn receive(&mut self, buf: &mut Vec<u8>) -> Result<Option<usize>, ClusterError>;
    /// Ends every rank's process at once (MPI_Abort): for a rank that fails while the others
    /// may be waiting in a collective. Returns only where there is nothing to abort.
    fn abort(&self, code: i32);
}

/// How to end every rank at once (set by the MPI transport).
type AbortFn = Box<dyn Fn(i32) + Send + Sync>;
static ABORT: std::sync::OnceLock<AbortFn> = std::sync::OnceLock::new();

/// Sets how [`abort_all`] ends every rank (once per process).
pub fn set_abort(abort: AbortFn) {
    let _ = ABORT.set(abort);
}

thread_local! {
    /// The exchange of the rank this thread runs, while no run holds it.
    static CURRENT: RefCell<Option<Box<dyn Exchange>>> = const { RefCell::new(None) };
    /// The rank of each shard, when a run pins them ([`pin_shards`]).
    static PINNED: RefCell<Option<Vec<usize>>> = const { RefCell::new(None) };
    /// (rank, size) of this thread's rank; (0, 1) outside a cluster.
    static WHO: std::cell::Cell<(usize, usize)> = const { std::cell::Cell::new((0, 1)) };
}

/// Makes `exchange` this thread's rank: runs started on this thread spread over the ranks.
pub fn install(exchange: Box<dyn Exchange>) {
    WHO.with(|w| w.set((exchange.rank(), exchange.size())));
    CURRENT.with(|c| *c.borrow_mut() = Some(exchange));
}

/// Pins the shards of the runs this thread starts to ranks (`runtime.shard_ranks`); `None`
/// (or empty): balanced by synapses ([`place_shards`]).
pub fn pin_shards(ranks: Option<Vec<usize>>) {
    PINNED.with(|p| *p.borrow_mut() = ranks.filter(|r| !r.is_empty()));
}

/// The rank of each of the shards with `synapses[s]` synapses over `ranks` ranks: as pinned
/// ([`pin_shards`]), checked, or balanced ([`place_shards`]).
pub fn rank_of_shards(synapses: &[u64], ranks: usize) -> Result<Vec<usize>, ClusterError> {
    let Some(pinned) = PINNED.with(|p| p.borrow().clone()) else {
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

/// (rank, ranks) of this thread: (0, 1) when it is not part of a cluster.
pub fn whoami() -> (usize, usize) {
    WHO.with(|w| w.get())
}

/// Whether this thread is rank 0 (or not in a cluster): the one that prints and writes.
pub fn is_root() -> bool {
    whoami().0 == 0
}

/// Takes this thread's exchange for a run (`None` outside a cluster or with one rank).
pub fn take() -> Option<Box<dyn Exchange>> {
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        match c.as_ref() {
            Some(x) if x.size() > 1 => c.take(),
            _ => None,
        }
    })
}

/// Gives the exchange back after a run.
pub fn put_back(exchange: Box<dyn Exchange>) {
    CURRENT.with(|c| *c.borrow_mut() = Some(exchange));
}

/// Stops every rank at once if this thread is part of a cluster of several (after an error
/// that the other ranks may not see, while they wait in an exchange): MPI_Abort under MPI;
/// nothing for ranks that are threads.
pub fn abort_all(code: i32) {
    if whoami().1 > 1 {
        if let Some(abort) = ABORT.get() {
            abort(code);
        }
    }
}

/// Every rank's `mine` (JSON), on every rank: for gathering figures at the end of a run.
pub fn gather_json<T: serde::Serialize + serde::de::DeserializeOwned>(
    exchange: &mut dyn Exchange,
    mine: &T,
) -> Result<Vec<T>, ClusterError> {
    let rank = exchange.rank();
    let bytes = serde_json::to_vec(mine).map_err(|e| ClusterError::Rank {
        rank,
        message: e.to_string(),
    })?;
    exchange
        .all_gather(&bytes)?
        .iter()
        .map(|b| {
            serde_json::from_slice(b).map_err(|e| ClusterError::Rank {
                rank,
                message: format!("a rank's figures do not parse: {e}"),
            })
        })
        .collect()
}

/// Checks that every rank is about to build the same network: each rank's `what` (its
/// scenario's network, seed and sharding) must equal rank 0's, or the run stops on every
/// rank naming the first that differs.
pub fn agree<T: serde::Serialize>(
    exchange: &mut dyn Exchange,
    what: &T,
) -> Result<(), ClusterError> {
    let rank = exchange.rank();
    let mine = serde_json::to_vec(what).map_err(|e| ClusterError::Rank {
        rank,
        message: e.to_string(),
    })?;
    let all = exchange.all_gather(&mine)?;
    match all.iter().position(|x| *x != all[0]) {
        None => Ok(()),
        Some(other) => Err(ClusterError::Rank {
            rank,
            message: format!(
                "rank {other} builds another network than rank 0 (a different scenario, \
                 override, seed or shard count): every rank must run the same command on the \
                 same files"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_placements_are_checked() {
        pin_shards(Some(vec![1, 0, 1]));
        assert_eq!(rank_of_shards(&[5, 5, 5], 2).unwrap(), vec![1, 0, 1]);
        for bad in [3, 1] {
            let e = rank_of_shards(&[5, 5, 5], bad).unwrap_err().to_string();
            assert!(e.contains("runtime.shard_ranks"), "{e}");
        }
        assert!(rank_of_shards(&[5, 5], 2).is_err(), "wrong length");
        pin_shards(None);
        assert_eq!(rank_of_shards(&[5, 5, 5], 3).unwrap(), vec![0, 1, 2]);
    }

    /// Ranks that would build different networks all stop, naming the odd one.
    #[test]
    fn ranks_must_agree_on_the_network() {
        let same = on_thread_ranks(3, || {
            let mut x = take().expect("a rank of three");
            let r = agree(x.as_mut(), &("cuba", 1u64, 4usize));
            put_back(x);
            r.is_ok()
        });
        assert_eq!(same, vec![true; 3]);
        let differ = on_thread_ranks(3, || {
            let mut x = take().expect("a rank of three");
            let seed = if x.rank() == 2 { 9u64 } else { 1 };
            let r = agree(x.as_mut(), &("cuba", seed, 4usize));
            put_back(x);
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

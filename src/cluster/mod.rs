//! One network over several processes (ranks): the handle a run is given ([`Ranks`]: this
//! rank, how many, the exchange, pinned shards), the one sequence every run over ranks goes
//! through ([`run_ranked`], which a model parameterises as a [`RankedNetwork`]), which shards
//! each rank holds ([`placement`]), the [`RankBridge`] actor that exchanges a window's spikes across ranks in
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
pub mod ranked;
pub mod ranks;
pub mod remote;
pub mod shard_traffic;
pub mod threads;
pub mod wire;

pub use bridge::{connect_shards, reclaim, BridgeFigures, Origins, RankBridge};
pub use placement::place_shards;
pub use ranked::{run_ranked, Built, Link, LinkFigures, Placed, RankedNetwork, Report};
pub use ranks::Ranks;
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

/// The one conversion of an exchange's failure into the run's error.
impl From<ClusterError> for crate::run_error::NetworkRunError {
    fn from(e: ClusterError) -> Self {
        crate::run_error::NetworkRunError::Ranks(e.to_string())
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

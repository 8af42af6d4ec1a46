//! The MPI transport (the `mpi` feature, rsmpi over the system's Open MPI): [`start`] joins
//! the job `mpirun` or `srun` launched, and [`MpiRanks`] does the collectives.

use mpi::datatype::PartitionMut;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::Count;

use super::{ClusterError, Exchange};

/// This process's rank in `MPI_COMM_WORLD`.
pub struct MpiRanks {
    world: SimpleCommunicator,
    rank: usize,
    size: usize,
}

// SAFETY: MPI is initialised with `MPI_THREAD_SERIALIZED` at least (checked in `start`), and
// one thread at a time holds the communicator: the thread that installed it, or during a run
// the bridge actor it was handed to (the installing thread waits for the run to end).
unsafe impl Send for MpiRanks {}

/// Whether a process launcher (Open MPI's `mpirun`, or `srun` with PMI/PMIx) started this
/// process as part of a job.
pub fn launched_by_mpi() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
}

/// Joins the MPI job when a launcher started this process: initialises MPI and installs this
/// rank on the calling thread ([`super::install`]), with an abort that ends every rank.
/// Keep the returned universe until the end of `main` (dropping it finalises MPI).
pub fn start() -> Result<Option<mpi::environment::Universe>, ClusterError> {
    if !launched_by_mpi() {
        return Ok(None);
    }
    let refused = |m: &str| ClusterError::Rank {
        rank: 0,
        message: m.to_owned(),
    };
    let (universe, threading) = mpi::initialize_with_threading(mpi::Threading::Serialized)
        .ok_or_else(|| refused("MPI was already initialised"))?;
    if threading < mpi::Threading::Serialized {
        return Err(refused(
            "this MPI library does not allow calls from a thread other than the main one \
             (MPI_THREAD_SERIALIZED); axon's bridge actor exchanges from a worker thread",
        ));
    }
    let world = universe.world();
    let (rank, size) = (world.rank() as usize, world.size() as usize);
    super::set_abort(Box::new(|code| {
        SimpleCommunicator::world().abort(code);
    }));
    super::install(Box::new(MpiRanks { world, rank, size }));
    Ok(Some(universe))
}

impl Exchange for MpiRanks {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn all_gather(&mut self, mine: &[u8]) -> Result<Vec<Vec<u8>>, ClusterError> {
        let len = Count::try_from(mine.len()).map_err(|_| ClusterError::Rank {
            rank: self.rank,
            message: format!("{} bytes do not fit one MPI message", mine.len()),
        })?;
        let mut counts = vec![0 as Count; self.size];
        self.world.all_gather_into(&len, &mut counts[..]);
        let displs: Vec<Count> = counts
            .iter()
            .scan(0, |acc, &c| {
                let at = *acc;
                *acc += c;
                Some(at)
            })
            .collect();
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        let mut buf = vec![0u8; total];
        {
            let mut part = PartitionMut::new(&mut buf[..], &counts[..], &displs[..]);
            self.world.all_gather_varcount_into(mine, &mut part);
        }
        Ok(counts
            .iter()
            .zip(&displs)
            .map(|(&c, &d)| buf[d as usize..(d + c) as usize].to_vec())
            .collect())
    }

    fn abort(&self, code: i32) {
        self.world.abort(code);
    }
}

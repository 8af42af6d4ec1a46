//! The MPI transport (the `mpi` feature, rsmpi over the system's Open MPI): [`start`] joins
//! the job `mpirun` or `srun` launched and returns its [`Ranks`], and [`MpiRanks`] does the
//! collectives.

use mpi::datatype::PartitionMut;
use mpi::request::{Request, StaticScope};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::Count;

use super::{ClusterError, Exchange, Ranks};

/// This process's rank in `MPI_COMM_WORLD`.
pub struct MpiRanks {
    world: SimpleCommunicator,
    rank: usize,
    size: usize,
    /// Point-to-point sends under way, each with the frame it reads from.
    pending: Vec<PendingSend>,
}

/// The tag of point-to-point frames (collectives do not match point-to-point receives).
const FRAME_TAG: mpi::Tag = 7;

/// An `MPI_Isend` under way and the buffer it reads: the frame's `Vec` is taken apart while
/// MPI holds a `'static` view of it, and put back together once the send has completed.
struct PendingSend {
    request: Request<'static, [u8], StaticScope>,
    parts: (*mut u8, usize, usize),
}

impl Drop for MpiRanks {
    /// Sends still under way when the exchange goes (a run that failed on this rank, which
    /// then ends every rank): their requests and buffers are left to MPI_Abort, never freed
    /// under MPI's feet (rsmpi panics on a dropped request).
    fn drop(&mut self) {
        for p in self.pending.drain(..) {
            std::mem::forget(p);
        }
    }
}

impl PendingSend {
    fn start(world: &SimpleCommunicator, rank: usize, frame: Vec<u8>) -> Self {
        let mut frame = std::mem::ManuallyDrop::new(frame);
        let parts = (frame.as_mut_ptr(), frame.len(), frame.capacity());
        // SAFETY: the buffer stays allocated and untouched until `finish` rebuilds the Vec,
        // which happens only once MPI has completed the send.
        let view: &'static [u8] = unsafe { std::slice::from_raw_parts(parts.0, parts.1) };
        let request = world
            .process_at_rank(rank as mpi::Rank)
            .immediate_send_with_tag(StaticScope, view, FRAME_TAG);
        Self { request, parts }
    }

    /// The frame back if the send has completed, else the send still under way.
    fn finish(self) -> Result<Vec<u8>, Self> {
        let parts = self.parts;
        match self.request.test() {
            // SAFETY: the send has completed; these are the parts of the Vec `start` took.
            Ok(_) => Ok(unsafe { Vec::from_raw_parts(parts.0, parts.1, parts.2) }),
            Err(request) => Err(Self { request, parts }),
        }
    }
}

// SAFETY: MPI is initialised with `MPI_THREAD_SERIALIZED` at least (checked in `start`), and
// one thread at a time holds the communicator: the thread that holds the `Ranks`, or during a
// run the bridge or port actor it was lent to (that thread waits for the run to end).
unsafe impl Send for MpiRanks {}

/// Whether a process launcher (Open MPI's `mpirun`, or `srun` with PMI/PMIx) started this
/// process as part of a job.
pub fn launched_by_mpi() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
}

/// Joins the MPI job when a launcher started this process: initialises MPI and returns this
/// rank's [`Ranks`], with an abort that ends every rank ([`Ranks::single`] when no launcher
/// started it). Keep the returned universe until the end of `main`, after the `Ranks`
/// (dropping it finalises MPI).
pub fn start() -> Result<(Option<mpi::environment::Universe>, Ranks), ClusterError> {
    if !launched_by_mpi() {
        return Ok((None, Ranks::single()));
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
    let ranks = Ranks::new(Box::new(MpiRanks {
        world,
        rank,
        size,
        pending: Vec::new(),
    }))
    .with_abort(Box::new(|code| {
        SimpleCommunicator::world().abort(code);
    }));
    Ok((Some(universe), ranks))
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

    fn post(&mut self, rank: usize, frame: Vec<u8>) -> Result<(), ClusterError> {
        if rank >= self.size || Count::try_from(frame.len()).is_err() {
            return Err(ClusterError::Rank {
                rank: self.rank,
                message: format!(
                    "cannot send {} bytes to rank {rank} of {}",
                    frame.len(),
                    self.size
                ),
            });
        }
        self.pending
            .push(PendingSend::start(&self.world, rank, frame));
        Ok(())
    }

    fn sent(&mut self, free: &mut Vec<Vec<u8>>) -> bool {
        let mut i = 0;
        while i < self.pending.len() {
            match self.pending.swap_remove(i).finish() {
                Ok(frame) => free.push(frame),
                Err(p) => {
                    // Back in place: the one swapped in from the end moves back there.
                    self.pending.push(p);
                    let last = self.pending.len() - 1;
                    self.pending.swap(i, last);
                    i += 1;
                }
            }
        }
        self.pending.is_empty()
    }

    fn receive(&mut self, buf: &mut Vec<u8>) -> Result<Option<usize>, ClusterError> {
        let probe = self
            .world
            .any_process()
            .immediate_matched_probe_with_tag(FRAME_TAG);
        let Some((msg, status)) = probe else {
            return Ok(None);
        };
        let len = status.count(u8::equivalent_datatype()) as usize;
        buf.clear();
        buf.resize(len, 0);
        msg.matched_receive_into(&mut buf[..]);
        Ok(Some(status.source_rank() as usize))
    }

    fn abort(&self, code: i32) {
        self.world.abort(code);
    }
}

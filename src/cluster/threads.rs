//! [`ThreadRanks`]: ranks as threads of one process, exchanging through shared memory: the
//! same collectives as MPI, for tests and for trying a placement without MPI.

use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};

use super::{ClusterError, Exchange, Ranks};

/// One rank of a group of threads.
pub struct ThreadRanks {
    rank: usize,
    size: usize,
    slots: Arc<Mutex<Vec<Vec<u8>>>>,
    barrier: Arc<Barrier>,
    /// Point to point: every rank's inbox, and this rank's own.
    inboxes: Vec<mpsc::Sender<(usize, Vec<u8>)>>,
    inbox: mpsc::Receiver<(usize, Vec<u8>)>,
}

impl ThreadRanks {
    /// The `size` ranks of a new group, one per thread to run.
    pub fn group(size: usize) -> Vec<ThreadRanks> {
        let size = size.max(1);
        let slots = Arc::new(Mutex::new(vec![Vec::new(); size]));
        let barrier = Arc::new(Barrier::new(size));
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..size).map(|_| mpsc::channel()).unzip();
        receivers
            .into_iter()
            .enumerate()
            .map(|(rank, inbox)| ThreadRanks {
                rank,
                size,
                slots: slots.clone(),
                barrier: barrier.clone(),
                inboxes: senders.clone(),
                inbox,
            })
            .collect()
    }
}

impl Exchange for ThreadRanks {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn all_gather(&mut self, mine: &[u8]) -> Result<Vec<Vec<u8>>, ClusterError> {
        let poisoned = |_| ClusterError::Rank {
            rank: self.rank,
            message: "another rank panicked".to_owned(),
        };
        self.slots.lock().map_err(poisoned)?[self.rank] = mine.to_vec();
        self.barrier.wait();
        let all = self.slots.lock().map_err(poisoned)?.clone();
        // Nobody writes the next round's slot before everyone has read this one.
        self.barrier.wait();
        Ok(all)
    }

    fn post(&mut self, rank: usize, frame: Vec<u8>) -> Result<(), ClusterError> {
        let gone = |_| ClusterError::Rank {
            rank: self.rank,
            message: format!("rank {rank} has ended"),
        };
        self.inboxes
            .get(rank)
            .ok_or_else(|| ClusterError::Rank {
                rank: self.rank,
                message: format!("no rank {rank} of {}", self.size),
            })?
            .send((self.rank, frame))
            .map_err(gone)
    }

    fn sent(&mut self, _free: &mut Vec<Vec<u8>>) -> bool {
        // A channel send completes at once (the frame now belongs to the receiver).
        true
    }

    fn receive(&mut self, buf: &mut Vec<u8>) -> Result<Option<usize>, ClusterError> {
        Ok(self.inbox.try_recv().ok().map(|(from, frame)| {
            *buf = frame;
            from
        }))
    }

    fn abort(&self, _code: i32) {}
}

/// Runs `f` on `ranks` threads, each handed its rank of a new [`ThreadRanks`] group (so that
/// the runs `f` starts on it spread over them); each rank's result, in rank order.
pub fn on_thread_ranks<T: Send>(ranks: usize, f: impl Fn(&mut Ranks) -> T + Sync) -> Vec<T> {
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = ThreadRanks::group(ranks)
            .into_iter()
            .map(|x| s.spawn(move || f(&mut Ranks::new(Box::new(x)))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

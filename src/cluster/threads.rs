//! [`ThreadRanks`]: ranks as threads of one process, exchanging through shared memory: the
//! same collectives as MPI, for tests and for trying a placement without MPI.

use std::sync::{Arc, Barrier, Mutex};

use super::{ClusterError, Exchange};

/// One rank of a group of threads.
pub struct ThreadRanks {
    rank: usize,
    size: usize,
    slots: Arc<Mutex<Vec<Vec<u8>>>>,
    barrier: Arc<Barrier>,
}

impl ThreadRanks {
    /// The `size` ranks of a new group, one per thread to run.
    pub fn group(size: usize) -> Vec<ThreadRanks> {
        let size = size.max(1);
        let slots = Arc::new(Mutex::new(vec![Vec::new(); size]));
        let barrier = Arc::new(Barrier::new(size));
        (0..size)
            .map(|rank| ThreadRanks {
                rank,
                size,
                slots: slots.clone(),
                barrier: barrier.clone(),
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

    fn abort(&self, _code: i32) {}
}

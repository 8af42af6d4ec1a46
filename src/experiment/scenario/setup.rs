//! The setup a run gets on this machine: `runtime.executor` as named, or `auto` (the default)
//! resolved to the fastest measured setup for the workload, with the workers and shards that
//! go with it. The run prints it and `results.json` records it (`setup`).

use serde::{Deserialize, Serialize};

use crate::runtime::Executor;

/// `runtime.executor`: an executor by name, or `auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExecutorChoice {
    /// The fastest measured setup for the workload that gives the numbers of any other: today
    /// `pinned` with `runtime.workers` = all cores and, for spiking networks (whose spikes do
    /// not depend on the sharding), `runtime.shards` = the workers. Layer actors stay one per
    /// layer: a layer's sums split over shards round differently, so the numbers would move
    /// with the machine's core count.
    Auto,
    /// Tasks on a tokio multi-thread runtime.
    Tokio,
    /// One OS thread per actor.
    Threads,
    /// All actors on the calling thread, in a fixed order.
    Inline,
    /// `workers` OS threads, each running the actors placed on it.
    Pinned,
}

impl ExecutorChoice {
    /// The executor it names; `None` for `auto`.
    pub fn named(self) -> Option<Executor> {
        match self {
            ExecutorChoice::Auto => None,
            ExecutorChoice::Tokio => Some(Executor::Tokio),
            ExecutorChoice::Threads => Some(Executor::Threads),
            ExecutorChoice::Inline => Some(Executor::Inline),
            ExecutorChoice::Pinned => Some(Executor::Pinned),
        }
    }
}

/// The executor, workers and shards a run uses, and whether `auto` chose them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setup {
    /// The executor.
    pub executor: Executor,
    /// Worker threads (the BP baseline's threads too).
    pub workers: usize,
    /// Actors per hidden layer, or population shards (1 where the model does not shard).
    pub shards: usize,
    /// Whether `runtime.executor = "auto"` chose the executor (and the shards, when the
    /// scenario left `runtime.shards` out).
    pub auto: bool,
}

impl Setup {
    /// Resolves `choice` for a workload on `workers` threads. `shards` is `runtime.shards` as
    /// given (`None`: left out); `sharded` whether auto may shard the workload (its results do
    /// not depend on the sharding).
    pub fn resolve(
        choice: ExecutorChoice,
        workers: usize,
        shards: Option<usize>,
        sharded: bool,
    ) -> Self {
        match choice.named() {
            Some(executor) => Self {
                executor,
                workers,
                shards: shards.unwrap_or(1),
                auto: false,
            },
            None => Self {
                executor: Executor::Pinned,
                workers,
                shards: shards.unwrap_or(if sharded { workers } else { 1 }),
                auto: true,
            },
        }
    }

    /// One line for the terminal: `setup: pinned, 2 workers, 2 shards (auto)`.
    pub fn describe(&self) -> String {
        let name = format!("{:?}", self.executor).to_lowercase();
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        format!(
            "setup: {name}, {}, {}{}",
            plural(self.workers, "worker"),
            plural(self.shards, "shard"),
            if self.auto {
                " (runtime.executor = \"auto\"; name an executor to choose another)"
            } else {
                ""
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_is_pinned_on_every_worker_with_a_shard_each_where_the_model_shards() {
        let s = Setup::resolve(ExecutorChoice::Auto, 2, None, true);
        assert_eq!(
            (s.executor, s.workers, s.shards, s.auto),
            (Executor::Pinned, 2, 2, true)
        );
        assert_eq!(
            Setup::resolve(ExecutorChoice::Auto, 4, None, false).shards,
            1
        );
        assert_eq!(
            Setup::resolve(ExecutorChoice::Auto, 4, Some(3), true).shards,
            3
        );
        let named = Setup::resolve(ExecutorChoice::Tokio, 2, None, true);
        assert_eq!(
            (named.executor, named.shards, named.auto),
            (Executor::Tokio, 1, false)
        );
        assert_eq!(
            Setup::resolve(ExecutorChoice::Auto, 1, None, true).describe(),
            "setup: pinned, 1 worker, 1 shard (runtime.executor = \"auto\"; name an executor to \
             choose another)"
        );
    }
}

//! The setup a run gets on this machine: `runtime.executor` as named, or `auto` (the default)
//! resolved to the fastest measured setup for the workload, with the workers and shards that
//! go with it. The run prints it and `results.json` records it (`setup`).

use serde::{Deserialize, Serialize};

use crate::runtime::Executor;

/// `runtime.executor`: an executor by name, or `auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExecutorChoice {
    /// The fastest measured setup for the workload: today `pinned` with `runtime.workers` =
    /// all cores and `runtime.shards` = the workers, at most one shard per 1 M synapses
    /// (populations) or per 128 neurons of the narrowest hidden layer (layer actors).
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
    /// given (`None`: left out); `most` the most shards auto gives the workload (1: none).
    pub fn resolve(
        choice: ExecutorChoice,
        workers: usize,
        shards: Option<usize>,
        most: usize,
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
                shards: shards.unwrap_or(workers.min(most).max(1)),
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
        let s = Setup::resolve(ExecutorChoice::Auto, 2, None, usize::MAX);
        assert_eq!(
            (s.executor, s.workers, s.shards, s.auto),
            (Executor::Pinned, 2, 2, true)
        );
        assert_eq!(Setup::resolve(ExecutorChoice::Auto, 4, None, 2).shards, 2);
        assert_eq!(Setup::resolve(ExecutorChoice::Auto, 4, None, 1).shards, 1);
        assert_eq!(
            Setup::resolve(ExecutorChoice::Auto, 4, Some(3), 1).shards,
            3
        );
        let named = Setup::resolve(ExecutorChoice::Tokio, 2, None, usize::MAX);
        assert_eq!(
            (named.executor, named.shards, named.auto),
            (Executor::Tokio, 1, false)
        );
        assert_eq!(
            Setup::resolve(ExecutorChoice::Auto, 1, None, usize::MAX).describe(),
            "setup: pinned, 1 worker, 1 shard (runtime.executor = \"auto\"; name an executor to \
             choose another)"
        );
    }
}

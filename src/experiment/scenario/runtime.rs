//! `[runtime]` and `[trace]`: how actors run on the machine, how they are scheduled in time,
//! and the sampled message-event log.

use serde::{Deserialize, Serialize};

use super::{fmt_f64, invalid, AlgorithmKind, FaultsSection, ScenarioError};

const MAX_MAILBOX: usize = 1 << 24;
const MAX_WORKERS: usize = 4096;

/// How actors are scheduled in time (`runtime.schedule`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimeSchedule {
    /// Every message carries its step; an actor computes step `t + 1` once it holds all of
    /// step `t` from its neighbours. Deterministic for a seed.
    Lockstep,
    /// An actor updates whenever a message arrives, from the latest values it holds; a batch
    /// learns once every actor reports that its local energy changes less than
    /// `runtime.settle_tolerance` per update (no barrier per step). Timing-dependent.
    Async,
}

/// `[runtime]`: how actors run. (The synchronous `bp` baseline uses only `workers`.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeSection {
    /// Threads to use, 1..=4096. Default: all cores. The BP baseline uses at most this many.
    pub workers: Option<usize>,
    /// `auto` | `tokio` | `threads` | `inline` | `pinned`. Default `auto`: the fastest
    /// measured setup for the workload (today `pinned` on every worker, with a shard per
    /// worker, shards of at least 1 M synapses or 128 neurons; the run prints what it chose). The others: tasks on a
    /// thread pool; one OS thread per actor; one thread, fixed order; `workers` threads, each
    /// actor placed on one.
    pub executor: super::setup::ExecutorChoice,
    /// Data messages a mailbox holds before senders wait, >= 1. Default 1024.
    pub mailbox_capacity: usize,
    /// Seconds without any actor handling a message before the run fails as stalled, > 0.
    /// Default 10.
    pub stall_timeout_s: f64,
    /// Actors per hidden layer (population shards for spiking networks), >= 1 (at most the
    /// layer's width: one actor per neuron). Default: with `executor = "auto"` the workers
    /// (at most one per 1 M synapses of a spiking network, or per 128 neurons of the
    /// narrowest hidden layer), otherwise 1.
    pub shards: Option<usize>,
    /// `lockstep` | `async`. Default `lockstep`. (`async` is for `pc` only; see
    /// [`TimeSchedule`].)
    pub schedule: TimeSchedule,
    /// Async: an actor is settled when its local energy changes by at most this fraction per
    /// update, in (0, 1). Default 0.001.
    pub settle_tolerance: f64,
    /// Async: most updates an actor makes per training batch for each neighbouring layer it
    /// hears from (then it counts as settled), >= 1; 0 means `algorithm.inference_steps` (the
    /// depth lockstep uses). Default 0.
    pub max_updates: usize,
    /// Async: an actor that has received nothing for this many milliseconds counts as
    /// settled (so a lost message cannot hold a batch forever), > 0. Default 2.
    pub settle_quiet_ms: f64,
    /// Across MPI ranks: the rank of each population shard (`shards` entries, every rank
    /// holding at least one). Default `[]`: contiguous blocks balanced by synapse count.
    pub shard_ranks: Vec<usize>,
}

impl Default for RuntimeSection {
    fn default() -> Self {
        Self {
            workers: None,
            executor: super::setup::ExecutorChoice::Auto,
            mailbox_capacity: 1024,
            stall_timeout_s: 10.0,
            shards: None,
            schedule: TimeSchedule::Lockstep,
            settle_tolerance: 1e-3,
            max_updates: 0,
            settle_quiet_ms: 2.0,
            shard_ranks: Vec::new(),
        }
    }
}

impl RuntimeSection {
    /// Checks the sharding, mailbox and stall timeout.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        if self.shards == Some(0) {
            return Err(invalid(
                "runtime.shards",
                0,
                "must be >= 1 (the number of actors per hidden layer)",
            ));
        }
        let cap = self.mailbox_capacity;
        if cap == 0 || cap > MAX_MAILBOX {
            return Err(invalid(
                "runtime.mailbox_capacity",
                cap,
                &format!("must be between 1 and {MAX_MAILBOX}"),
            ));
        }
        let stall = self.stall_timeout_s;
        if !(stall.is_finite() && stall > 0.0 && stall <= 86_400.0) {
            return Err(invalid(
                "runtime.stall_timeout_s",
                fmt_f64(stall),
                "must be a finite number of seconds > 0 (and at most 86400)",
            ));
        }
        Ok(())
    }

    /// The schedule against what it runs: faults need `async`, `async` needs `pc`.
    pub fn check_schedule(
        &self,
        faults: &FaultsSection,
        kind: AlgorithmKind,
    ) -> Result<(), ScenarioError> {
        if self.schedule == TimeSchedule::Lockstep && faults.links().any() {
            return Err(invalid(
                "runtime.schedule",
                "\"lockstep\"",
                "must be \"async\" to inject faults.delay, drop, duplicate or reorder (lockstep \
                 waits for every message, so a dropped one would stall it)",
            ));
        }
        if self.schedule == TimeSchedule::Async && kind != AlgorithmKind::Pc {
            return Err(invalid(
                "runtime.schedule",
                "\"async\"",
                "works with algorithm.kind = \"pc\" only (Z-IL's exactness needs lockstep)",
            ));
        }
        Ok(())
    }

    /// Checks the asynchronous schedule's settling keys.
    pub fn validate_settling(&self) -> Result<(), ScenarioError> {
        let tol = self.settle_tolerance;
        if !(tol.is_finite() && tol > 0.0 && tol < 1.0) {
            return Err(invalid(
                "runtime.settle_tolerance",
                fmt_f64(tol),
                "must be in (0, 1): the relative change of an actor's local energy per update \
                 below which it counts as settled",
            ));
        }
        let q = self.settle_quiet_ms;
        if !(q.is_finite() && q > 0.0 && q <= 60_000.0) {
            return Err(invalid(
                "runtime.settle_quiet_ms",
                fmt_f64(q),
                "must be a number of milliseconds in (0, 60000]",
            ));
        }
        if self.max_updates > 1_000_000 {
            return Err(invalid(
                "runtime.max_updates",
                self.max_updates,
                "must be at most 1000000 (0: algorithm.inference_steps)",
            ));
        }
        Ok(())
    }

    /// The threads to use: `workers`, checked, or all cores when it is left out.
    pub fn resolve_workers(&self) -> Result<usize, ScenarioError> {
        match self.workers {
            Some(0) => Err(invalid(
                "runtime.workers",
                0,
                "must be >= 1 (leave it out to use all cores)",
            )),
            Some(n) if n > MAX_WORKERS => Err(invalid(
                "runtime.workers",
                n,
                &format!("must be at most {MAX_WORKERS} threads"),
            )),
            Some(n) => Ok(n),
            None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
        }
    }
}

/// `[trace]`: the sampled message-event log of actor runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceSection {
    /// Log 1 in N messages (send and receive time, edge, kind, bytes, step, mailbox depth) to
    /// `trace.jsonl` and `trace.json` (Chrome trace); 0 (default) logs none.
    pub sample: u64,
}

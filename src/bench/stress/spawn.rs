//! The spawn probe: what spawning many idle actors costs in time and memory.

use serde::Serialize;

use super::{ring, Token};
use crate::runtime::actor::{Actor, Context, Flow};
use crate::runtime::{Executor, Runtime, RuntimeConfig, RuntimeError};

/// Resident memory of this process in bytes (Linux; 0 elsewhere).
fn resident_bytes() -> u64 {
    crate::runtime::memory::resident_bytes().unwrap_or(0)
}

/// The last actor of the spawn probe: once it runs, every other actor has been spawned; it
/// reads the process's memory and ends the run.
struct Closer {
    resident: u64,
}

impl Actor<Token> for Closer {
    fn started(&mut self, _: &mut Context<'_, Token>) -> Flow {
        self.resident = resident_bytes();
        Flow::StopAll
    }
    fn handle(&mut self, _: Token, _: &mut Context<'_, Token>) -> Flow {
        Flow::Continue
    }
}

/// What spawning many idle actors costs.
#[derive(Clone, Debug, Serialize)]
pub struct SpawnReport {
    /// The executor.
    pub executor: Executor,
    /// Idle actors spawned.
    pub actors: usize,
    /// Seconds to build mailboxes and registry and spawn them all.
    pub spawn_s: f64,
    /// Resident memory added per idle actor (mailboxes, task, state), bytes.
    pub bytes_per_actor: f64,
}

/// Spawns `n` idle actors (each with one out-edge, as in a ring) and measures time and memory.
pub fn spawn_probe(
    executor: Executor,
    n: usize,
    workers: usize,
) -> Result<SpawnReport, RuntimeError> {
    let before = resident_bytes();
    let mut net = ring(n, |_| false, u64::MAX);
    let closer = net.add("closer", Closer { resident: 0 });
    net.connect(closer, 0);
    let cfg = RuntimeConfig {
        executor,
        workers,
        ..RuntimeConfig::default()
    };
    let report = Runtime::new(cfg).run(net)?;
    let resident = report.actor(closer).resident;
    Ok(SpawnReport {
        executor,
        actors: n,
        spawn_s: report.startup.as_secs_f64(),
        bytes_per_actor: resident.saturating_sub(before) as f64 / n as f64,
    })
}

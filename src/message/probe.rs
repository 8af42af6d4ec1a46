//! Probes: what a scenario asks an actor to record of its own state ([`ProbeTap`]), the
//! samples it sends ([`ProbeChunk`], message kind `probe`), and their assembly into one
//! array per probe ([`ProbeStore`], [`ProbeArray`]). An actor reads only its own variables;
//! nothing reads another actor's state.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

mod gather;
use gather::gather;

/// Where a live view takes probe chunks as they arrive (it must not block).
pub type ProbeFeed = Arc<dyn Fn(&ProbeChunk) + Send + Sync>;

/// A run's probes and the live view that takes their chunks as they come, if any.
#[derive(Clone, Default)]
pub struct Probes {
    /// The probes, in scenario order.
    pub plans: Vec<ProbePlan>,
    /// The live view's feed.
    pub feed: Option<ProbeFeed>,
}

impl std::fmt::Debug for Probes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probes")
            .field("plans", &self.plans)
            .field("feed", &self.feed.is_some())
            .finish()
    }
}

/// Two runs' probes are alike when they record the same (the feed is no part of the run).
impl PartialEq for Probes {
    fn eq(&self, other: &Self) -> bool {
        self.plans == other.plans
    }
}

impl Serialize for Probes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.plans.serialize(s)
    }
}

/// Probes whose names start so feed only a live view: their samples are not kept.
pub const LIVE_ONLY: &str = "live.";

/// Samples a layer actor's tap sends in one message (fewer at the end of its window).
pub const CHUNK_SAMPLES: usize = 256;

/// Bytes of values a spiking neuron's tap gathers before it sends them (at least
/// [`CHUNK_SAMPLES`] samples, at most [`MAX_CHUNK_SAMPLES`]). Neurons tick every few
/// microseconds, and each chunk wakes the receiver's worker, which cost a population shard
/// about a tenth of its loop at 256 samples of 100 neurons; at 1 MiB a chunk still goes out
/// every few milliseconds of a run.
pub const CHUNK_BYTES: usize = 1 << 20;

/// The most samples a spiking neuron's tap sends in one message.
pub const MAX_CHUNK_SAMPLES: usize = 1 << 16;

/// A state variable a probe records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeVariable {
    /// A LIF neuron's membrane potential (mV).
    V,
    /// Its excitatory synaptic current, as the potential jump it causes (mV).
    Ge,
    /// Its inhibitory synaptic current (mV).
    Gi,
    /// Whether it fired at the tick (0 or 1).
    Spikes,
    /// A predictive-coding layer's value neurons `x` (first example of the batch).
    Values,
    /// Its error neurons `eps = x - mu` (first example of the batch).
    Errors,
    /// The layer's free energy `0.5 ||eps||^2`, summed over the batch (one column).
    FreeEnergy,
    /// The L2 norm of each neuron's incoming weight row.
    WeightNorm,
}

impl ProbeVariable {
    /// Every variable, in the order the docs list them.
    pub const ALL: [ProbeVariable; 8] = [
        ProbeVariable::V,
        ProbeVariable::Ge,
        ProbeVariable::Gi,
        ProbeVariable::Spikes,
        ProbeVariable::Values,
        ProbeVariable::Errors,
        ProbeVariable::FreeEnergy,
        ProbeVariable::WeightNorm,
    ];

    /// Its name in a scenario.
    pub fn name(self) -> &'static str {
        match self {
            ProbeVariable::V => "v",
            ProbeVariable::Ge => "ge",
            ProbeVariable::Gi => "gi",
            ProbeVariable::Spikes => "spikes",
            ProbeVariable::Values => "values",
            ProbeVariable::Errors => "errors",
            ProbeVariable::FreeEnergy => "free_energy",
            ProbeVariable::WeightNorm => "weight_norm",
        }
    }

    /// The variable named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == name)
    }

    /// Its unit, for axes ("" when it has none).
    pub fn unit(self) -> &'static str {
        match self {
            ProbeVariable::V | ProbeVariable::Ge | ProbeVariable::Gi => "mV",
            _ => "",
        }
    }

    /// Whether it belongs to a spiking neuron (else to a layer actor).
    pub fn is_neuron(self) -> bool {
        matches!(
            self,
            ProbeVariable::V | ProbeVariable::Ge | ProbeVariable::Gi | ProbeVariable::Spikes
        )
    }

    /// Whether it has one value per sample rather than one per unit.
    pub fn is_scalar(self) -> bool {
        self == ProbeVariable::FreeEnergy
    }
}

/// One probe of a run, resolved: what it records of which units, when. The actors that own
/// the units each get a [`ProbeTap`] of their share ([`ProbePlan::taps`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbePlan {
    /// Its name (a key of `probes.safetensors`).
    pub name: String,
    /// What it records.
    pub variable: ProbeVariable,
    /// The layer (1-based) for a layer actor's variable; 0 for a spiking network's.
    pub layer: usize,
    /// The units: neuron indices in the network (spiking) or in the layer, ascending.
    pub units: Vec<u32>,
    /// The same units' indices in the target the scenario named (for the arrays).
    pub labels: Vec<u32>,
    /// Every how many ticks (or steps), `>= 1`.
    pub every: u64,
    /// The window `[from, until)` of ticks (or steps).
    pub from: u64,
    /// See `from`.
    pub until: u64,
}

impl ProbePlan {
    /// The taps of the actor holding units `range` of layer `layer` (0: a spiking network):
    /// one per probe with units there; a scalar variable's probe taps every shard of its
    /// layer (each sends its part, the store sums them).
    pub fn taps(plans: &[ProbePlan], layer: usize, range: std::ops::Range<usize>) -> Vec<ProbeTap> {
        let mut taps = Vec::new();
        for (i, p) in plans.iter().enumerate().filter(|(_, p)| p.layer == layer) {
            let (mut local, mut columns) = (Vec::new(), Vec::new());
            for (col, &u) in p.units.iter().enumerate() {
                if range.contains(&(u as usize)) {
                    local.push(u - range.start as u32);
                    columns.push(col as u32);
                }
            }
            if p.variable.is_scalar() {
                // A scalar's part names its shard (the first unit) for a fixed summing order.
                columns = vec![range.start as u32];
            } else if local.is_empty() {
                continue;
            }
            let when = (p.every, p.from, p.until);
            taps.push(ProbeTap::new(i as u16, p.variable, when, local, columns));
        }
        taps
    }

    /// The store for these probes' chunks.
    pub fn store(plans: &[ProbePlan]) -> ProbeStore {
        let named: Vec<_> = plans
            .iter()
            .map(|p| (p.name.clone(), p.variable, p.labels.clone()))
            .collect();
        ProbeStore::new(&named)
    }
}

/// The times and values of a chunk, shared with its receiver.
type ChunkBuffers = (Arc<Vec<u64>>, Arc<Vec<f32>>);

/// What one actor records for one probe: its units (indices into its own state), where
/// they go in the probe's array, when, and the samples not yet sent.
#[derive(Clone, Debug)]
pub struct ProbeTap {
    /// The probe's index in the scenario.
    pub probe: u16,
    /// What it records.
    pub variable: ProbeVariable,
    /// Every how many ticks (or steps).
    pub every: u64,
    /// The window `[from, until)` of ticks (or steps).
    pub from: u64,
    /// See `from`.
    pub until: u64,
    /// The units, as indices into the actor's own state.
    local: Vec<u32>,
    /// One past the largest of `local` (0 when there is none).
    reach: usize,
    /// Their columns in the probe's array.
    pub columns: Arc<Vec<u32>>,
    times: Vec<u64>,
    values: Vec<f32>,
    /// Samples per chunk.
    chunk: usize,
    /// Buffers of chunks sent: one goes back into use once its receiver has dropped it,
    /// so a steady stream of chunks allocates nothing.
    pool: Vec<ChunkBuffers>,
}

impl ProbeTap {
    /// A tap of `local` units (their columns `columns`) of `variable`, every `every` ticks in
    /// `[from, until)`.
    pub fn new(
        probe: u16,
        variable: ProbeVariable,
        (every, from, until): (u64, u64, u64),
        local: Vec<u32>,
        columns: Vec<u32>,
    ) -> Self {
        let mut tap = ProbeTap {
            probe,
            variable,
            every: every.max(1),
            from,
            until,
            reach: local.iter().map(|&i| i as usize + 1).max().unwrap_or(0),
            local,
            columns: Arc::new(columns),
            times: Vec::new(),
            values: Vec::new(),
            chunk: CHUNK_SAMPLES,
            pool: Vec::new(),
        };
        if variable.is_neuron() {
            let per = CHUNK_BYTES / (4 * tap.local.len().max(1));
            tap.chunk = per.clamp(CHUNK_SAMPLES, MAX_CHUNK_SAMPLES);
        }
        tap.times.reserve(tap.chunk);
        tap.values.reserve(tap.capacity());
        tap
    }

    /// Values a full chunk holds.
    fn capacity(&self) -> usize {
        self.chunk
            * if self.variable.is_scalar() {
                1
            } else {
                self.local.len()
            }
    }

    /// Records tick `t` of a variable held as one value per local unit in `src`. Returns a
    /// chunk to send when one is full.
    pub fn record_from(&mut self, t: u64, src: &[f32]) -> Option<ProbeChunk> {
        self.times.push(t);
        gather(&mut self.values, &self.local, self.reach, src);
        (self.times.len() >= self.chunk).then(|| self.take(false))
    }

    /// Whether tick `t` is sampled.
    pub fn due(&self, t: u64) -> bool {
        t >= self.from && t < self.until && (t - self.from).is_multiple_of(self.every)
    }

    /// Records tick `t`: `read(i)` is the value of local unit `i` (a scalar variable is
    /// read once, with `i = 0`). Returns a chunk to send when one is full.
    pub fn record(&mut self, t: u64, read: impl Fn(u32) -> f32) -> Option<ProbeChunk> {
        self.times.push(t);
        if self.variable.is_scalar() {
            self.values.push(read(0));
        } else {
            self.values.extend(self.local.iter().map(|&i| read(i)));
        }
        (self.times.len() >= self.chunk).then(|| self.take(false))
    }

    /// The samples held, as a chunk (`last`: the tap sends nothing more), in a buffer of the
    /// pool.
    pub fn take(&mut self, last: bool) -> ProbeChunk {
        let free = self
            .pool
            .iter_mut()
            .position(|(t, v)| Arc::get_mut(t).is_some() && Arc::get_mut(v).is_some());
        let i = free.unwrap_or_else(|| {
            self.pool.push(Default::default());
            self.pool.len() - 1
        });
        let capacity = self.capacity();
        let (t, v) = &mut self.pool[i];
        // The samples go out in the free buffer, and its old storage records the next ones:
        // nothing is copied, and nothing allocated once every buffer has grown.
        std::mem::swap(Arc::get_mut(t).expect("a free buffer"), &mut self.times);
        std::mem::swap(Arc::get_mut(v).expect("a free buffer"), &mut self.values);
        self.times.clear();
        self.values.clear();
        self.times.reserve(self.chunk);
        self.values.reserve(capacity);
        ProbeChunk {
            probe: self.probe,
            columns: self.columns.clone(),
            times: t.clone(),
            values: v.clone(),
            last,
        }
    }
}

/// Samples of one probe from one actor: per time, one value per column (message kind
/// `probe`).
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeChunk {
    /// The probe's index in the scenario.
    pub probe: u16,
    /// The columns of the probe's array these values fill.
    pub columns: Arc<Vec<u32>>,
    /// Tick (or step) of each sample.
    pub times: Arc<Vec<u64>>,
    /// `times x columns` values, row-major (`times x 1` for a scalar variable).
    pub values: Arc<Vec<f32>>,
    /// The sender's tap sends nothing more.
    pub last: bool,
}

impl ProbeChunk {
    /// Payload bytes.
    pub fn bytes(&self) -> usize {
        2 + 1 + 4 * self.columns.len() + 8 * self.times.len() + 4 * self.values.len()
    }
}

/// A probe as the run folder holds it: `times x units` values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeArray {
    /// The probe's name.
    pub name: String,
    /// What it recorded.
    pub variable: ProbeVariable,
    /// The units' indices in their target (one column per unit; a scalar: none).
    pub units: Vec<u32>,
    /// Tick (or step) of each row.
    pub times: Vec<u64>,
    /// `times x columns` values, row-major; a value no actor sent is NaN.
    pub values: Vec<f32>,
}

impl ProbeArray {
    /// Columns per row.
    pub fn columns(&self) -> usize {
        if self.variable.is_scalar() {
            1
        } else {
            self.units.len()
        }
    }
}

/// One probe in a [`ProbeStore`]: name, variable, units, the chunks received, or (when
/// its times are known before the run) its array, filled as chunks come.
#[derive(Clone, Debug)]
struct StoredProbe {
    name: String,
    variable: ProbeVariable,
    units: Vec<u32>,
    chunks: Vec<ProbeChunk>,
    dense: Option<Dense>,
}

/// A probe's array laid out before the run: rows at `from, from + every, ...`.
#[derive(Clone, Debug)]
struct Dense {
    from: u64,
    every: u64,
    times: Vec<u64>,
    values: Vec<f32>,
}

/// Chunks from every tap, assembled into one [`ProbeArray`] per probe. A store that knows
/// the run's ticks lays each probe's array out (and touches its memory) before the run and
/// copies each chunk in as it comes; otherwise it keeps the chunks and assembles at the end.
#[derive(Clone, Debug, Default)]
pub struct ProbeStore {
    probes: Vec<StoredProbe>,
    finished: usize,
}

impl ProbeStore {
    /// A store for probes of these names, variables and units (in scenario order).
    pub fn new(probes: &[(String, ProbeVariable, Vec<u32>)]) -> Self {
        ProbeStore {
            probes: probes
                .iter()
                .map(|(n, v, u)| StoredProbe {
                    name: n.clone(),
                    variable: *v,
                    units: u.clone(),
                    chunks: Vec::new(),
                    dense: None,
                })
                .collect(),
            finished: 0,
        }
    }

    /// The store of `plans` for a run of `ticks` ticks: each probe's array laid out.
    pub fn for_ticks(plans: &[ProbePlan], ticks: u64) -> Self {
        let mut store = ProbePlan::store(plans);
        for (p, stored) in plans.iter().zip(&mut store.probes) {
            if p.variable.is_scalar() || p.name.starts_with(LIVE_ONLY) {
                continue;
            }
            let end = p.until.min(ticks);
            let times: Vec<u64> = (p.from..end).step_by(p.every.max(1) as usize).collect();
            let values = vec![f32::NAN; times.len() * p.units.len()];
            stored.dense = Some(Dense {
                from: p.from,
                every: p.every.max(1),
                times,
                values,
            });
        }
        store
    }

    /// Adds a chunk (one for an unknown or live-only probe is counted, not kept).
    pub fn add(&mut self, c: ProbeChunk) {
        self.finished += usize::from(c.last);
        let Some(p) = self.probes.get_mut(usize::from(c.probe)) else {
            return;
        };
        if p.name.starts_with(LIVE_ONLY) || c.times.is_empty() {
            return;
        }
        let Some(d) = p.dense.as_mut() else {
            p.chunks.push(c);
            return;
        };
        let (width, per) = (p.units.len(), c.columns.len());
        // A tap of every unit in column order (the usual case) fills whole rows.
        let whole_rows =
            per == width && c.columns.iter().enumerate().all(|(i, &c)| c as usize == i);
        for (k, &t) in c.times.iter().enumerate() {
            let row = ((t - d.from) / d.every) as usize;
            let vals = &c.values[k * per..(k + 1) * per];
            if whole_rows {
                if let Some(slots) = d.values.get_mut(row * width..(row + 1) * width) {
                    slots.copy_from_slice(vals);
                }
                continue;
            }
            for (&col, &v) in c.columns.iter().zip(vals) {
                if let Some(slot) = d.values.get_mut(row * width + col as usize) {
                    *slot = v;
                }
            }
        }
    }

    /// Taps that sent their last chunk.
    pub fn finished(&self) -> usize {
        self.finished
    }

    /// The arrays, in scenario order.
    pub fn arrays(&self) -> Vec<ProbeArray> {
        self.probes
            .iter()
            .map(|p| match &p.dense {
                Some(d) => {
                    // Rows past the last one any actor filled (a run stopped early) go.
                    let width = p.units.len().max(1);
                    let filled = d
                        .values
                        .chunks(width)
                        .rposition(|r| r.iter().any(|v| !v.is_nan()));
                    let rows = filled.map_or(0, |r| r + 1);
                    ProbeArray {
                        name: p.name.clone(),
                        variable: p.variable,
                        units: p.units.clone(),
                        times: d.times[..rows].to_vec(),
                        values: d.values[..rows * width].to_vec(),
                    }
                }
                None => assemble(&p.name, p.variable, &p.units, &p.chunks),
            })
            .collect()
    }
}

/// One probe's array from its chunks: a row per time any chunk holds, NaN where none
/// said; a scalar's parts (one per shard, tagged by the shard's first unit) summed in
/// shard order, so the sum does not depend on arrival order.
fn assemble(
    name: &str,
    variable: ProbeVariable,
    units: &[u32],
    chunks: &[ProbeChunk],
) -> ProbeArray {
    let mut times: Vec<u64> = chunks
        .iter()
        .flat_map(|c| c.times.iter().copied())
        .collect();
    times.sort_unstable();
    times.dedup();
    let scalar = variable.is_scalar();
    let width = if scalar { 1 } else { units.len() };
    let mut values = vec![f32::NAN; times.len() * width];
    let row = |t: u64| times.binary_search(&t).unwrap_or(0);
    if scalar {
        let mut parts: Vec<(usize, u32, f32)> = chunks
            .iter()
            .flat_map(|c| {
                let source = c.columns.first().copied().unwrap_or(0);
                c.times
                    .iter()
                    .zip(c.values.iter())
                    .map(move |(&t, &v)| (t, source, v))
            })
            .map(|(t, source, v)| (row(t), source, v))
            .collect();
        parts.sort_by_key(|&(r, source, _)| (r, source));
        for (r, _, v) in parts {
            let slot = &mut values[r];
            *slot = if slot.is_nan() { v } else { *slot + v };
        }
    } else {
        for c in chunks {
            let per = c.columns.len();
            for (k, &t) in c.times.iter().enumerate() {
                let base = row(t) * width;
                for (&col, &v) in c.columns.iter().zip(&c.values[k * per..(k + 1) * per]) {
                    if let Some(slot) = values.get_mut(base + col as usize) {
                        *slot = v;
                    }
                }
            }
        }
    }
    ProbeArray {
        name: name.to_owned(),
        variable,
        units: units.to_vec(),
        times,
        values,
    }
}

#[cfg(test)]
mod tests;

//! NIR graphs (the Neuromorphic Intermediate Representation) on actors: one actor per node,
//! the graph's edges as the actors' edges, a driver that feeds the input one time step at a
//! time and collects the output. The Python package reads NIR files (with the `nir` package)
//! and hands the graph here as a [`GraphSpec`] and its parameter arrays.
//!
//! Each step, a node sums what its predecessors sent for that step, computes ([`node`]) and
//! sends its output on. One edge of every cycle (a recurrent layer) carries its sender's
//! output a step late, zeros at step 0 (`mark_delayed_edges` picks it). Messages carry their
//! step, so a node holds early ones until their step comes.

mod actors;
pub mod node;
mod params;

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use crate::message::SignalPool;
use crate::runtime::{ActorId, Executor, Network, Runtime, RuntimeConfig};
use actors::{NirDriver, NodeActor};
use node::{Dynamics, Method, Reset, State};
use params::dynamics_of;

/// What is wrong with a graph, its input, or its run.
#[derive(Debug, thiserror::Error)]
pub enum NirError {
    /// A node type axon does not run.
    #[error("node {node:?}: NIR type {kind:?} is not supported (supported: Input, Output, Affine, Linear, Scale, LIF, CubaLIF, LI, IF, Integrator, Threshold, Flatten)")]
    Unsupported {
        /// The node.
        node: String,
        /// Its NIR type.
        kind: String,
    },
    /// A parameter or shape that does not fit.
    #[error("node {node:?}: {message}")]
    Node {
        /// The node.
        node: String,
        /// What is wrong.
        message: String,
    },
    /// The graph as a whole (edges, inputs, outputs) or the input array.
    #[error("{0}")]
    Graph(String),
    /// The actors failed.
    #[error("{0}")]
    Runtime(#[from] crate::runtime::RuntimeError),
}

/// A node as the Python side describes it; its arrays come separately.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Name in the graph.
    pub name: String,
    /// NIR type name (`LIF`, `Affine`, ...).
    pub kind: String,
    /// Neurons (output width).
    pub size: usize,
}

/// A NIR graph to run.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphSpec {
    /// Nodes, inputs first.
    pub nodes: Vec<NodeSpec>,
    /// (from, to) node names.
    pub edges: Vec<(String, String)>,
    /// Time step (seconds, as NIR's time constants).
    pub dt: f32,
    /// Discretisation.
    pub method: Method,
    /// What a spike does to the membrane.
    pub reset: Reset,
}

/// A graph checked and ready to run.
pub struct NirGraph {
    names: Vec<String>,
    dynamics: Vec<Dynamics>,
    widths: Vec<usize>,
    /// Per node: (predecessor, closes a cycle).
    preds: Vec<Vec<(usize, bool)>>,
    succs: Vec<Vec<usize>>,
    inputs: Vec<usize>,
    output: usize,
    trace_sample: u64,
}

/// What a run hands back.
pub struct NirRun {
    /// The output node's values, time x batch x features, row-major.
    pub output: Vec<f32>,
    /// (time, batch, features).
    pub output_shape: Vec<usize>,
    /// Stateful nodes' membranes per step (time x batch x neurons), when recorded.
    pub states: BTreeMap<String, Vec<f32>>,
    /// What the driver and the node actors sent each other: every message counted per
    /// edge and kind, the sampled events (with [`NirGraph::sampling`]) and the actors' names.
    pub traffic: crate::spike::tally::TrafficLog,
}

type Arrays = HashMap<(String, String), Vec<f32>>;

impl NirGraph {
    /// Checks `spec` and its `arrays` ((node, parameter) -> values).
    pub fn build(spec: &GraphSpec, arrays: &Arrays) -> Result<Self, NirError> {
        if !(spec.dt.is_finite() && spec.dt > 0.0) {
            return Err(NirError::Graph(format!("dt = {} must be > 0", spec.dt)));
        }
        let index: HashMap<&str, usize> = spec
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect();
        let n = spec.nodes.len();
        let (mut preds, mut succs) = (vec![Vec::new(); n], vec![Vec::new(); n]);
        for (a, b) in &spec.edges {
            let find = |x: &String| {
                index
                    .get(x.as_str())
                    .copied()
                    .ok_or_else(|| NirError::Graph(format!("edge {a:?} -> {b:?}: no node {x:?}")))
            };
            let (a, b) = (find(a)?, find(b)?);
            succs[a].push(b);
            preds[b].push((a, false));
        }
        let kind = |i: usize| spec.nodes[i].kind.as_str();
        let inputs: Vec<usize> = (0..n).filter(|&i| kind(i) == "Input").collect();
        let outputs: Vec<usize> = (0..n).filter(|&i| kind(i) == "Output").collect();
        if inputs.is_empty() || outputs.len() != 1 {
            return Err(NirError::Graph(format!(
                "a graph needs at least one Input node and exactly one Output node; this one \
                 has {} and {}",
                inputs.len(),
                outputs.len()
            )));
        }
        let mut dynamics = Vec::with_capacity(n);
        for (i, node) in spec.nodes.iter().enumerate() {
            dynamics.push(dynamics_of(node, arrays, spec)?);
            if !inputs.contains(&i) && preds[i].is_empty() {
                return Err(NirError::Node {
                    node: node.name.clone(),
                    message: "has no incoming edge".to_owned(),
                });
            }
        }
        let stateful: Vec<bool> = dynamics
            .iter()
            .map(|d| matches!(d, Dynamics::Neuron(_)))
            .collect();
        mark_delayed_edges(&inputs, &succs, &stateful, &mut preds);
        let widths: Vec<usize> = spec.nodes.iter().map(|n| n.size).collect();
        let graph = Self {
            names: spec.nodes.iter().map(|n| n.name.clone()).collect(),
            dynamics,
            widths,
            preds,
            succs,
            inputs,
            output: outputs[0],
            trace_sample: 0,
        };
        graph.check_widths()?;
        Ok(graph)
    }

    /// Every predecessor's width is the node's input width.
    fn check_widths(&self) -> Result<(), NirError> {
        for (i, preds) in self.preds.iter().enumerate() {
            let want = self.input_width(i);
            for &(p, _) in preds {
                if self.widths[p] != want {
                    return Err(NirError::Node {
                        node: self.names[i].clone(),
                        message: format!(
                            "takes {want} inputs but {:?} sends {}",
                            self.names[p], self.widths[p]
                        ),
                    });
                }
            }
            if self.dynamics[i].outputs(want) != self.widths[i] {
                return Err(NirError::Node {
                    node: self.names[i].clone(),
                    message: format!(
                        "its parameters give {} outputs, not {}",
                        self.dynamics[i].outputs(want),
                        self.widths[i]
                    ),
                });
            }
        }
        Ok(())
    }

    fn input_width(&self, i: usize) -> usize {
        match &self.dynamics[i] {
            Dynamics::Affine { weight, .. } => weight.cols(),
            _ => self.widths[i],
        }
    }

    /// Logs 1 in `sample` messages of the run (0: none, as `trace.sample`), for
    /// [`NirRun::traffic`]'s events.
    pub fn sampling(mut self, sample: u64) -> Self {
        self.trace_sample = sample;
        self
    }

    /// Runs `input` (time x batch x features, row-major) through the graph on actors.
    pub fn run(
        self,
        input: &[f32],
        (steps, batch, features): (usize, usize, usize),
        record: bool,
    ) -> Result<NirRun, NirError> {
        let width = self.widths[self.inputs[0]];
        if features != width || input.len() != steps * batch * features {
            return Err(NirError::Graph(format!(
                "input of shape ({steps}, {batch}, {features}) for an Input node of {width} \
                 features: give an array of shape (time, batch, {width})"
            )));
        }
        if let Some(v) = input.iter().find(|v| !v.is_finite()) {
            return Err(NirError::Graph(format!(
                "the input holds a non-finite value ({v})"
            )));
        }
        let out_width = self.widths[self.output];
        let (net, driver, nodes) = self.network(input, (steps, batch), record);
        let config = RuntimeConfig {
            executor: Executor::Pinned,
            workers: 1,
            trace_sample: self.trace_sample,
            ..RuntimeConfig::default()
        };
        let mut report = Runtime::new(config).run(net)?;
        let mut states = BTreeMap::new();
        for id in nodes {
            let record = report.actor_mut(id).record.take();
            if let Some(values) = record.filter(|v| !v.is_empty()) {
                states.insert(report.names[id.index()].clone(), values);
            }
        }
        let traffic = crate::spike::tally::TrafficLog::take(&mut report);
        let driver = report.actor_mut(driver);
        Ok(NirRun {
            output: std::mem::take(&mut driver.output),
            output_shape: vec![steps, batch, out_width],
            states,
            traffic,
        })
    }

    /// The driver (actor 0) and one actor per node (node `i` is actor `i + 1`), wired, with
    /// their handles.
    fn network(
        &self,
        input: &[f32],
        (steps, batch): (usize, usize),
        record: bool,
    ) -> (
        Network<crate::message::Message>,
        ActorId<NirDriver>,
        Vec<ActorId<NodeActor>>,
    ) {
        let (width, out_width) = (self.widths[self.inputs[0]], self.widths[self.output]);
        let mut net = Network::new();
        let n = self.names.len();
        let driver = NirDriver {
            input: input.to_vec(),
            steps,
            batch,
            width,
            next: 0,
            output: Vec::with_capacity(steps * batch * out_width),
            pool: SignalPool::default(),
        };
        let did = net.add("nir driver", driver);
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let delayed_out = self.succs[i]
                .iter()
                .map(|&s| self.preds[s].iter().any(|&(p, d)| p == i && d))
                .collect();
            let actor = NodeActor {
                steps: steps as u64,
                index: i as u32,
                delayed_out,
                dynamics: self.dynamics[i].clone(),
                batch,
                in_width: self.input_width(i),
                out_width: self.widths[i],
                preds: self.preds[i].clone(),
                pending: BTreeMap::new(),
                state: State::default(),
                record: record.then(Vec::new),
                pool: SignalPool::default(),
                out: vec![0.0; batch * self.widths[i]],
            };
            nodes.push(net.add(self.names[i].clone(), actor));
        }
        for &i in &self.inputs {
            net.connect(did, i + 1);
        }
        for (i, succs) in self.succs.iter().enumerate() {
            for &s in succs {
                net.connect(i + 1, s + 1);
            }
        }
        net.connect(self.output + 1, did);
        (net, did, nodes)
    }
}

/// Marks one edge of every cycle as delayed by a step. Depth-first from the inputs, an edge
/// to a node on the current path closes a cycle; the delay goes on the cycle's first edge
/// that leaves a stateful node (a recurrent layer's spikes feed back a step late, as
/// snnTorch's `RLeaky` runs: `W_rec S_{t-1} + b_rec`), or on the closing edge if the cycle
/// has no stateful node.
fn mark_delayed_edges(
    inputs: &[usize],
    succs: &[Vec<usize>],
    stateful: &[bool],
    preds: &mut [Vec<(usize, bool)>],
) {
    let n = succs.len();
    // 0: unseen, 1: on the path, 2: done.
    let mut mark = vec![0u8; n];
    for &root in inputs {
        if mark[root] != 0 {
            continue;
        }
        let mut stack = vec![(root, 0usize)];
        mark[root] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let Some(&s) = succs[node].get(*next) else {
                mark[node] = 2;
                stack.pop();
                continue;
            };
            *next += 1;
            match mark[s] {
                0 => {
                    mark[s] = 1;
                    stack.push((s, 0));
                }
                1 => {
                    // The cycle: s -> ... -> node (the path's tail) -> s.
                    let from = stack
                        .iter()
                        .position(|&(x, _)| x == s)
                        .expect("on the path");
                    let path: Vec<usize> = stack[from..].iter().map(|&(x, _)| x).collect();
                    let at = path
                        .iter()
                        .position(|&x| stateful[x])
                        .unwrap_or(path.len() - 1);
                    let (a, b) = (path[at], *path.get(at + 1).unwrap_or(&s));
                    if let Some(p) = preds[b].iter_mut().find(|p| p.0 == a && !p.1) {
                        p.1 = true;
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests;

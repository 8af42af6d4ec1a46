//! NIR graphs (the Neuromorphic Intermediate Representation) on actors: one actor per node,
//! the graph's edges as the actors' edges, a driver that feeds the input one time step at a
//! time and collects the output. The Python package reads NIR files (with the `nir` package)
//! and hands the graph here as a [`GraphSpec`] and its parameter arrays.
//!
//! Each step, a node sums what its predecessors sent for that step, computes ([`node`]) and
//! sends its output on. One edge of every cycle (a recurrent layer) carries its sender's
//! output a step late, zeros at step 0 (`mark_delayed_edges` picks it). Messages carry their
//! step, so a node holds early ones until their step comes.

pub mod node;

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use crate::math::matrix::Matrix;
use crate::message::{Message, Signal, SignalPool};
use crate::runtime::actor::{Actor, Context, Flow};
use crate::runtime::{Executor, Network, Runtime, RuntimeConfig};
use node::{decay, Dynamics, Method, Neuron, Reset, State};

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
}

/// What a run hands back.
pub struct NirRun {
    /// The output node's values, time x batch x features, row-major.
    pub output: Vec<f32>,
    /// (time, batch, features).
    pub output_shape: Vec<usize>,
    /// Stateful nodes' membranes per step (time x batch x neurons), when recorded.
    pub states: BTreeMap<String, Vec<f32>>,
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
            net.add(self.names[i].clone(), actor);
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
        let config = RuntimeConfig {
            executor: Executor::Pinned,
            workers: 1,
            ..RuntimeConfig::default()
        };
        let mut report = Runtime::new(config).run(net)?;
        let mut states = BTreeMap::new();
        for (name, actor) in report.names.iter().zip(&mut report.actors).skip(1) {
            let node = (actor.as_mut() as &mut dyn std::any::Any).downcast_mut::<NodeActor>();
            if let Some(values) = node.and_then(|a| a.record.take()).filter(|v| !v.is_empty()) {
                states.insert(name.clone(), values);
            }
        }
        let driver = (report.actors[0].as_mut() as &mut dyn std::any::Any)
            .downcast_mut::<NirDriver>()
            .expect("actor 0 is the driver");
        Ok(NirRun {
            output: std::mem::take(&mut driver.output),
            output_shape: vec![steps, batch, out_width],
            states,
        })
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

/// Parameter `name` of `node`: `len` values (one value is broadcast).
fn param(arrays: &Arrays, node: &NodeSpec, name: &str, len: usize) -> Result<Vec<f32>, NirError> {
    let bad = |message: String| NirError::Node {
        node: node.name.clone(),
        message,
    };
    let v = arrays
        .get(&(node.name.clone(), name.to_owned()))
        .ok_or_else(|| bad(format!("{} needs parameter {name:?}", node.kind)))?;
    if let Some(x) = v.iter().find(|x| !x.is_finite()) {
        return Err(bad(format!(
            "parameter {name:?} holds a non-finite value ({x})"
        )));
    }
    match v.len() {
        1 => Ok(vec![v[0]; len]),
        l if l == len => Ok(v.clone()),
        l => Err(bad(format!(
            "parameter {name:?} has {l} values for {len} neurons"
        ))),
    }
}

/// Optional parameter: `default` when absent.
fn param_or(
    arrays: &Arrays,
    node: &NodeSpec,
    name: &str,
    len: usize,
    default: f32,
) -> Result<Vec<f32>, NirError> {
    if arrays.contains_key(&(node.name.clone(), name.to_owned())) {
        param(arrays, node, name, len)
    } else {
        Ok(vec![default; len])
    }
}

/// A node's dynamics from its type and arrays.
fn dynamics_of(node: &NodeSpec, arrays: &Arrays, spec: &GraphSpec) -> Result<Dynamics, NirError> {
    let n = node.size;
    let p = |name: &str| param(arrays, node, name, n);
    let positive = |name: &str, v: &[f32]| {
        if v.iter().all(|&t| t > 0.0) {
            Ok(())
        } else {
            Err(NirError::Node {
                node: node.name.clone(),
                message: format!("{name} must be > 0 in every neuron"),
            })
        }
    };
    let leaky = |tau: &[f32]| -> (Vec<f32>, Vec<f32>) {
        tau.iter().map(|&t| decay(t, spec.dt, spec.method)).unzip()
    };
    Ok(match node.kind.as_str() {
        "Input" | "Output" | "Flatten" => Dynamics::Identity,
        "Affine" | "Linear" => {
            let w = arrays
                .get(&(node.name.clone(), "weight".to_owned()))
                .ok_or_else(|| NirError::Node {
                    node: node.name.clone(),
                    message: "needs parameter \"weight\"".to_owned(),
                })?;
            if w.is_empty() || w.len() % n != 0 || w.iter().any(|x| !x.is_finite()) {
                return Err(NirError::Node {
                    node: node.name.clone(),
                    message: format!("weight of {} finite values does not have {n} rows", w.len()),
                });
            }
            let bias = if node.kind == "Affine" {
                p("bias")?
            } else {
                Vec::new()
            };
            Dynamics::Affine {
                weight: Matrix::from_vec(n, w.len() / n, w.clone()),
                bias,
            }
        }
        "Scale" => Dynamics::Scale(p("scale")?),
        "Threshold" => Dynamics::Threshold(p("threshold")?),
        "LIF" | "CubaLIF" | "LI" => {
            let tau_name = if node.kind == "CubaLIF" {
                "tau_mem"
            } else {
                "tau"
            };
            let tau = p(tau_name)?;
            positive(tau_name, &tau)?;
            let (keep, gain) = leaky(&tau);
            let (r, v_leak) = (p("r")?, p("v_leak")?);
            let mut neuron = Neuron {
                mem_gain: input_gain(&gain, &r, spec.method),
                leak: gain.iter().zip(&v_leak).map(|(g, l)| g * l).collect(),
                keep,
                v_init: v_leak,
                ..Neuron::default()
            };
            if node.kind != "LI" {
                spiking(&mut neuron, arrays, node, spec)?;
            }
            if node.kind == "CubaLIF" {
                let tau_syn = p("tau_syn")?;
                positive("tau_syn", &tau_syn)?;
                let (keep_syn, gain_syn) = leaky(&tau_syn);
                let w_in = param_or(arrays, node, "w_in", n, 1.0)?;
                neuron.syn_gain = input_gain(&gain_syn, &w_in, spec.method);
                neuron.keep_syn = keep_syn;
            }
            Dynamics::Neuron(neuron)
        }
        "IF" | "Integrator" => {
            let r = p("r")?;
            let mut neuron = Neuron {
                keep: vec![1.0; n],
                mem_gain: r.iter().map(|r| r * spec.dt).collect(),
                leak: vec![0.0; n],
                v_init: vec![0.0; n],
                ..Neuron::default()
            };
            if node.kind == "IF" {
                spiking(&mut neuron, arrays, node, spec)?;
            }
            Dynamics::Neuron(neuron)
        }
        other => {
            return Err(NirError::Unsupported {
                node: node.name.clone(),
                kind: other.to_owned(),
            })
        }
    })
}

/// The factor of an input `x` in `gain * (scale * x)`. By Euler, a factor within 1e-5 of 1
/// is 1: tools that export a discrete `v' = beta v + x` write `r = tau / dt` (or
/// `w_in = tau_syn / dt`), which `f32` rounds (9.999997 for `beta = 0.9`), and their importers
/// (snnTorch's) take the factor as exactly 1.
fn input_gain(gain: &[f32], scale: &[f32], method: Method) -> Vec<f32> {
    gain.iter()
        .zip(scale)
        .map(|(g, s)| {
            let f = g * s;
            if method == Method::Euler && (f - 1.0).abs() <= 1e-5 {
                1.0
            } else {
                f
            }
        })
        .collect()
}

/// A threshold and its reset.
fn spiking(
    neuron: &mut Neuron,
    arrays: &Arrays,
    node: &NodeSpec,
    spec: &GraphSpec,
) -> Result<(), NirError> {
    let n = node.size;
    neuron.v_threshold = param(arrays, node, "v_threshold", n)?;
    neuron.v_reset = param_or(arrays, node, "v_reset", n, 0.0)?;
    neuron.reset = Some(spec.reset);
    Ok(())
}

/// Feeds the input nodes one step at a time and collects the output node's steps.
struct NirDriver {
    input: Vec<f32>,
    steps: usize,
    batch: usize,
    width: usize,
    next: usize,
    output: Vec<f32>,
    pool: SignalPool,
}

impl NirDriver {
    fn feed(&mut self, ctx: &mut Context<'_, Message>) {
        let len = self.batch * self.width;
        let values = &self.input[self.next * len..(self.next + 1) * len];
        let signal = self
            .pool
            .signal(self.batch, self.width, |o| o.copy_from_slice(values));
        for edge in 0..ctx.edges() {
            ctx.send(edge, activity(self.next as u64, u32::MAX, signal.clone()));
        }
        self.next += 1;
    }
}

fn activity(step: u64, shard: u32, signal: Signal) -> Message {
    Message::Activity {
        step,
        shard,
        changed: true,
        signal,
    }
}

impl Actor<Message> for NirDriver {
    fn started(&mut self, ctx: &mut Context<'_, Message>) -> Flow {
        if self.steps == 0 {
            return Flow::StopAll;
        }
        self.feed(ctx);
        Flow::Continue
    }

    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        if let Message::Activity { signal, .. } = msg {
            self.output.extend_from_slice(signal.values());
            if self.next == self.steps {
                return Flow::StopAll;
            }
            self.feed(ctx);
        }
        Flow::Continue
    }
}

/// One NIR node.
struct NodeActor {
    /// Steps in the run: a delayed edge's output of the last step is for no step.
    steps: u64,
    index: u32,
    /// Per out-edge: whether it carries the output a step late.
    delayed_out: Vec<bool>,
    dynamics: Dynamics,
    batch: usize,
    in_width: usize,
    out_width: usize,
    /// (predecessor, closes a cycle).
    preds: Vec<(usize, bool)>,
    /// Per step: summed input and messages still to come.
    pending: BTreeMap<u64, (Vec<f32>, usize)>,
    state: State,
    record: Option<Vec<f32>>,
    pool: SignalPool,
    out: Vec<f32>,
}

impl NodeActor {
    /// Messages a step needs: one from every predecessor (the driver's, for an input node).
    fn expected(&self) -> usize {
        self.preds.len().max(1)
    }

    fn compute(&mut self, t: u64, input: Vec<f32>, ctx: &mut Context<'_, Message>) {
        self.dynamics
            .step(&input, self.batch, &mut self.state, &mut self.out);
        if let Some(r) = self.record.as_mut() {
            r.extend_from_slice(&self.state.v);
        }
        let out = &self.out;
        let signal = self
            .pool
            .signal(self.batch, self.out_width, |o| o.copy_from_slice(out));
        for edge in 0..ctx.edges() {
            let step = t + u64::from(self.delayed_out.get(edge) == Some(&true));
            ctx.send(edge, activity(step, self.index, signal.clone()));
        }
    }
}

impl Actor<Message> for NodeActor {
    /// A delayed edge's step-0 input is zero (nothing fired before the first step).
    fn started(&mut self, ctx: &mut Context<'_, Message>) -> Flow {
        let (batch, width) = (self.batch, self.out_width);
        for edge in 0..ctx.edges() {
            if self.delayed_out.get(edge) == Some(&true) {
                let signal = self.pool.signal(batch, width, |o| o.fill(0.0));
                ctx.send(edge, activity(0, self.index, signal));
            }
        }
        Flow::Continue
    }

    fn handle(&mut self, msg: Message, ctx: &mut Context<'_, Message>) -> Flow {
        let Message::Activity {
            step: t, signal, ..
        } = msg
        else {
            return Flow::Continue;
        };
        let len = self.batch * self.in_width;
        let entry = self.pending.entry(t).or_insert_with(|| (vec![0.0; len], 0));
        entry
            .0
            .iter_mut()
            .zip(signal.values())
            .for_each(|(a, v)| *a += v);
        entry.1 += 1;
        // Steps complete in order: a delayed edge's message for t + 1 may be early.
        while let Some((&t, (_, got))) = self.pending.first_key_value() {
            if *got < self.expected() {
                break;
            }
            let (input, _) = self.pending.remove(&t).expect("first key");
            if t < self.steps {
                self.compute(t, input, ctx);
            }
        }
        Flow::Continue
    }
}

#[cfg(test)]
mod tests;

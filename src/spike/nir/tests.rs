//! NIR graphs on actors against the same equations written as one loop: a feed-forward
//! Affine-LIF chain and a recurrent LIF layer (a cycle), spike for spike; and bad graphs
//! refused with the node named.

use super::*;

fn arrays(entries: &[(&str, &str, Vec<f32>)]) -> Arrays {
    entries
        .iter()
        .map(|(n, p, v)| ((n.to_string(), p.to_string()), v.clone()))
        .collect()
}

fn node(name: &str, kind: &str, size: usize) -> NodeSpec {
    NodeSpec {
        name: name.to_owned(),
        kind: kind.to_owned(),
        size,
    }
}

fn spec(nodes: Vec<NodeSpec>, edges: &[(&str, &str)]) -> GraphSpec {
    GraphSpec {
        nodes,
        edges: edges
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        dt: 1e-4,
        method: Method::Euler,
        reset: Reset::Subtract,
    }
}

/// A pseudo-random input in [0, 1).
fn input(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7919 + 13) % 1000) as f32 / 1000.0)
        .collect()
}

/// Input(3) -> Affine(2x3) -> LIF(2) [-> Linear(2x2) -> LIF, when recurrent] -> Output.
fn lif_graph(recurrent: bool) -> (GraphSpec, Arrays) {
    let mut nodes = vec![
        node("in", "Input", 3),
        node("fc", "Affine", 2),
        node("lif", "LIF", 2),
        node("out", "Output", 2),
    ];
    let mut edges = vec![("in", "fc"), ("fc", "lif"), ("lif", "out")];
    let mut a = arrays(&[
        ("fc", "weight", vec![0.9, -0.2, 0.4, 0.3, 0.8, -0.5]),
        ("fc", "bias", vec![0.05, 0.1]),
        ("lif", "tau", vec![1e-3]),
        ("lif", "r", vec![10.0]),
        ("lif", "v_leak", vec![0.0]),
        ("lif", "v_threshold", vec![1.0]),
    ]);
    if recurrent {
        nodes.push(node("rec", "Linear", 2));
        edges.extend([("lif", "rec"), ("rec", "lif")]);
        a.insert(("rec".into(), "weight".into()), vec![0.0, -0.6, 0.7, 0.0]);
    }
    (spec(nodes, &edges), a)
}

/// The same network as one loop: `v = 0.9 v + W x + b (+ R z_prev)`, spike on `v > 1`,
/// subtract 1.
fn reference(x: &[f32], steps: usize, batch: usize, recurrent: bool) -> Vec<f32> {
    let w = [[0.9f32, -0.2, 0.4], [0.3, 0.8, -0.5]];
    let b = [0.05f32, 0.1];
    let r = [[0.0f32, -0.6], [0.7, 0.0]];
    let mut out = Vec::new();
    let (mut v, mut z) = (vec![[0.0f32; 2]; batch], vec![[0.0f32; 2]; batch]);
    for t in 0..steps {
        for row in 0..batch {
            let xi = &x[(t * batch + row) * 3..][..3];
            let mut zn = [0.0f32; 2];
            for j in 0..2 {
                let mut i = (0..3).map(|k| w[j][k] * xi[k]).sum::<f32>() + b[j];
                if recurrent {
                    i += (0..2).map(|k| r[j][k] * z[row][k]).sum::<f32>();
                }
                // Euler with dt / tau = 0.1 and r = 10, as the node computes it.
                v[row][j] = 0.9 * v[row][j] + 0.1 * (10.0 * i);
                if v[row][j] - 1.0 > 0.0 {
                    zn[j] = 1.0;
                    v[row][j] -= 1.0;
                }
            }
            z[row] = zn;
            out.extend(zn);
        }
    }
    out
}

#[test]
fn feed_forward_and_recurrent_graphs_spike_as_the_loop() {
    for recurrent in [false, true] {
        let (spec, a) = lif_graph(recurrent);
        let (steps, batch) = (40, 3);
        let x = input(steps * batch * 3);
        let run = NirGraph::build(&spec, &a)
            .expect("a valid graph")
            .run(&x, (steps, batch, 3), true)
            .expect("runs");
        let want = reference(&x, steps, batch, recurrent);
        assert_eq!(run.output_shape, vec![steps, batch, 2]);
        assert_eq!(run.output, want, "recurrent: {recurrent}");
        assert!(want.iter().sum::<f32>() > 10.0, "the test spikes");
        assert_eq!(run.states["lif"].len(), steps * batch * 2);
    }
}

#[test]
fn bad_graphs_name_the_node() {
    let (mut s, a) = lif_graph(false);
    s.nodes[2].kind = "SpikingConv2d".into();
    let err = NirGraph::build(&s, &a).err().expect("refused").to_string();
    assert!(
        err.contains("\"lif\"") && err.contains("SpikingConv2d"),
        "{err}"
    );

    let (s, mut a) = lif_graph(false);
    a.insert(("lif".into(), "tau".into()), vec![f32::NAN]);
    let err = NirGraph::build(&s, &a).err().expect("refused").to_string();
    assert!(err.contains("non-finite"), "{err}");

    let (mut s, a) = lif_graph(false);
    s.nodes[0].size = 4;
    let err = NirGraph::build(&s, &a).err().expect("refused").to_string();
    assert!(
        err.contains("\"fc\"") && err.contains("takes 3 inputs"),
        "{err}"
    );

    let (s, a) = lif_graph(false);
    let g = NirGraph::build(&s, &a).expect("valid");
    let err = g.run(&[0.0; 10], (2, 1, 5), false).err().expect("refused");
    assert!(err.to_string().contains("shape (2, 1, 5)"), "{err}");
}

//! `[[probe]]`: what a run records of its actors' own state, as written ([`ProbeSection`]),
//! and its resolution against the model into [`ProbePlan`]s (targets and units checked,
//! samples drawn from the seed).

use serde::{Deserialize, Serialize};

use super::{invalid, AlgorithmKind, ScenarioError, ScenarioFile};
use crate::math::rng::SeededRng;
use crate::message::probe::{ProbePlan, ProbeVariable};

/// One `[[probe]]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSection {
    /// The probe's name in `probes.safetensors` and `Run.probes`. Default `TARGET.VARIABLE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A population (`E`, `I`; `L2/3E` ... `L6I`; `all`) or a layer (`layer-1`, ...).
    pub target: String,
    /// `v`, `ge`, `gi`, `spikes` (neurons); `values`, `errors`, `free_energy`,
    /// `weight_norm` (`pc` layers).
    pub variable: String,
    /// Indices of the units in the target. Give `units` or `sample`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<Vec<u32>>,
    /// A sample of this many units drawn from the seed and the target (the same units for
    /// every probe of that target and size). Default 10 (all if fewer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<usize>,
    /// Record every this many ticks (spiking) or inference steps (layers). Default 1.
    #[serde(default = "one")]
    pub every: u64,
    /// Record only ticks (or steps) `[start, end)`. Default the whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<[u64; 2]>,
}

fn one() -> u64 {
    1
}

/// The most probes a scenario may have.
pub const MAX_PROBES: usize = 64;
/// The most units one probe may record.
pub const MAX_UNITS: usize = 10_000;
/// Units a probe records when it names neither `units` nor `sample`.
pub const DEFAULT_SAMPLE: usize = 10;

/// What a probe may target in a model: its name, the first unit's index (in the network
/// for populations, in the layer for layers), its size, and the layer (0: a population).
type Target = (String, u32, u32, usize);

impl ScenarioFile {
    /// The model's probe targets and variables, or why it has none.
    fn probe_targets(&self) -> Result<(Vec<Target>, &'static [ProbeVariable]), &'static str> {
        use ProbeVariable as V;
        const NEURON: &[ProbeVariable] = &[V::V, V::Ge, V::Gi, V::Spikes];
        const LAYER: &[ProbeVariable] = &[V::Values, V::Errors, V::FreeEnergy, V::WeightNorm];
        match self.algorithm.kind {
            AlgorithmKind::Cuba => {
                let n = self.cuba.neurons as u32;
                let e = n * 4 / 5;
                let t = vec![("E".into(), 0, e, 0), ("I".into(), e, n - e, 0)];
                Ok((with_all(t, n), NEURON))
            }
            AlgorithmKind::Microcircuit => {
                use crate::models::microcircuit::model::POPULATIONS;
                let starts = self.microcircuit.config().model().starts();
                let t = (0..8)
                    .map(|p| {
                        let (a, b) = (starts[p] as u32, starts[p + 1] as u32);
                        (POPULATIONS[p].to_owned(), a, b - a, 0)
                    })
                    .collect();
                Ok((with_all(t, starts[8] as u32), NEURON))
            }
            AlgorithmKind::Pc | AlgorithmKind::Spc => {
                let layers = &self.network.layers;
                let t = (1..layers.len())
                    .map(|l| (format!("layer-{l}"), 0, layers[l] as u32, l))
                    .collect();
                Ok((t, LAYER))
            }
            _ => Err("probes record cuba, microcircuit, pc and spc runs (algorithm.kind)"),
        }
    }

    /// The `[[probe]]`s resolved: targets, variables and units checked, samples drawn.
    pub(super) fn probe_plans(&self) -> Result<Vec<ProbePlan>, ScenarioError> {
        if self.probe.is_empty() {
            return Ok(Vec::new());
        }
        if self.probe.len() > MAX_PROBES {
            return Err(invalid(
                "probe",
                self.probe.len(),
                &format!("at most {MAX_PROBES} probes"),
            ));
        }
        let (targets, variables) = self
            .probe_targets()
            .map_err(|why| invalid("probe", "set", why))?;
        let mut plans: Vec<ProbePlan> = Vec::new();
        for (i, p) in self.probe.iter().enumerate() {
            let plan = self.probe_plan(i, p, &targets, variables)?;
            if plans.iter().any(|q| q.name == plan.name) {
                return Err(invalid(
                    &format!("probe[{i}].name"),
                    format!("{:?}", plan.name),
                    "another probe has this name; give each its own",
                ));
            }
            plans.push(plan);
        }
        Ok(plans)
    }

    fn probe_plan(
        &self,
        i: usize,
        p: &ProbeSection,
        targets: &[Target],
        variables: &[ProbeVariable],
    ) -> Result<ProbePlan, ScenarioError> {
        let key = |k: &str| format!("probe[{i}].{k}");
        let names: Vec<&str> = targets.iter().map(|t| t.0.as_str()).collect();
        let Some((_, first, size, layer)) = targets.iter().find(|t| t.0 == p.target).cloned()
        else {
            let rule = format!("no such target here; the targets are {}", names.join(", "));
            return Err(invalid(&key("target"), format!("{:?}", p.target), &rule));
        };
        let listed: Vec<&str> = variables.iter().map(|v| v.name()).collect();
        let variable = ProbeVariable::parse(&p.variable)
            .filter(|v| variables.contains(v))
            .ok_or_else(|| {
                let rule = format!("the variables here are {}", listed.join(", "));
                invalid(&key("variable"), format!("{:?}", p.variable), &rule)
            })?;
        let name = p
            .name
            .clone()
            .unwrap_or_else(|| format!("{}.{}", p.target, p.variable));
        let reserved = name.starts_with(crate::message::probe::LIVE_ONLY);
        if reserved || name.is_empty() || name.len() > 100 || name.contains(['\n', '"', '\\']) {
            return Err(invalid(
                &key("name"),
                format!("{name:?}"),
                "must be 1-100 characters without quotes, backslashes or newlines, not starting \
                 with \"live.\" (the live view's own)",
            ));
        }
        let labels = if variable.is_scalar() {
            Vec::new()
        } else {
            self.probe_units(i, p, size)?
        };
        if p.every == 0 {
            return Err(invalid(&key("every"), 0, "must be at least 1"));
        }
        let (from, until) = match p.window {
            Some([a, b]) if a < b => (a, b),
            Some(w) => {
                return Err(invalid(
                    &key("window"),
                    format!("{w:?}"),
                    "must be [start, end] with start < end (ticks or inference steps)",
                ))
            }
            None => (0, u64::MAX),
        };
        Ok(ProbePlan {
            name,
            variable,
            layer,
            units: labels.iter().map(|&u| first + u).collect(),
            labels,
            every: p.every,
            from,
            until,
        })
    }

    /// Probe `i`'s units in a target of `size`: those listed, or a seeded sample.
    fn probe_units(
        &self,
        i: usize,
        p: &ProbeSection,
        size: u32,
    ) -> Result<Vec<u32>, ScenarioError> {
        let key = |k: &str| format!("probe[{i}].{k}");
        let mut units = match (&p.units, p.sample) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    &key("sample"),
                    "set",
                    "give units or sample, not both",
                ))
            }
            (Some(u), None) => {
                if let Some(&bad) = u.iter().find(|&&u| u >= size) {
                    let rule = format!("the target {:?} has units 0..{size}", p.target);
                    return Err(invalid(&key("units"), bad, &rule));
                }
                u.clone()
            }
            (None, n) => {
                let n = n.unwrap_or(DEFAULT_SAMPLE).min(size as usize);
                let mut all: Vec<u32> = (0..size).collect();
                // Seeded by the target: probes of one target with one sample size record
                // the same units (say, `v` and `spikes` of the same neurons).
                let purpose = format!("probe sample of {}", p.target);
                let mut rng = SeededRng::stream(self.seed, &purpose);
                rng.shuffle(&mut all);
                all.truncate(n);
                all
            }
        };
        units.sort_unstable();
        units.dedup();
        if units.is_empty() || units.len() > MAX_UNITS {
            return Err(invalid(
                &key("units"),
                units.len(),
                &format!("a probe records 1 to {MAX_UNITS} units"),
            ));
        }
        Ok(units)
    }
}

/// `targets` and `all` (every neuron of the network).
fn with_all(mut targets: Vec<Target>, n: u32) -> Vec<Target> {
    targets.push(("all".into(), 0, n, 0));
    targets
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(kind: &str, probe: &str) -> Result<Vec<ProbePlan>, ScenarioError> {
        let text = format!("[algorithm]\nkind = \"{kind}\"\n{probe}");
        let f: ScenarioFile = toml::from_str(&text).expect("parses");
        f.probe_plans()
    }

    #[test]
    fn probes_resolve_targets_units_and_samples() {
        let p = file(
            "cuba",
            "[[probe]]\ntarget = \"I\"\nvariable = \"v\"\nunits = [3, 1]\nevery = 5\n\
             [[probe]]\ntarget = \"E\"\nvariable = \"spikes\"\nsample = 100\n",
        )
        .unwrap();
        assert_eq!(p[0].name, "I.v");
        assert_eq!(p[0].units, vec![3201, 3203]);
        assert_eq!((p[0].labels.clone(), p[0].every), (vec![1, 3], 5));
        assert_eq!(p[1].units.len(), 100);
        assert!(p[1].units.iter().all(|&u| u < 3200));
        let again = file(
            "cuba",
            "[[probe]]\ntarget = \"E\"\nvariable = \"spikes\"\nsample = 100\n",
        );
        assert_eq!(again.unwrap()[0].units, p[1].units, "the sample is seeded");
    }

    #[test]
    fn bad_probes_name_the_key_and_list_what_exists() {
        let cases = [
            (
                "cuba",
                "target = \"X\"\nvariable = \"v\"",
                "probe[0].target",
                "E, I, all",
            ),
            (
                "cuba",
                "target = \"E\"\nvariable = \"w\"",
                "probe[0].variable",
                "v, ge, gi, spikes",
            ),
            (
                "cuba",
                "target = \"I\"\nvariable = \"v\"\nunits = [800]",
                "probe[0].units",
                "0..800",
            ),
            (
                "cuba",
                "target = \"I\"\nvariable = \"v\"\nevery = 0",
                "probe[0].every",
                "at least 1",
            ),
            (
                "cuba",
                "target = \"I\"\nvariable = \"v\"\nwindow = [5, 5]",
                "probe[0].window",
                "start < end",
            ),
            (
                "pc",
                "target = \"layer-9\"\nvariable = \"values\"",
                "probe[0].target",
                "layer-1",
            ),
            (
                "bp",
                "target = \"E\"\nvariable = \"v\"",
                "probe",
                "cuba, microcircuit, pc and spc",
            ),
        ];
        for (kind, body, key, says) in cases {
            let e = file(kind, &format!("[[probe]]\n{body}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(key) && e.contains(says), "{kind} {body}: {e}");
        }
        let twice = "[[probe]]\ntarget = \"E\"\nvariable = \"v\"\n".repeat(2);
        let e = file("cuba", &twice).unwrap_err().to_string();
        assert!(e.starts_with("probe[1].name"), "{e}");
    }
}

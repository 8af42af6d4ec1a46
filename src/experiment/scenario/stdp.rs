//! `[stdp_mnist]` and `[plasticity]`: Diehl & Cook's unsupervised MNIST network and the
//! spike-timing rule of its plastic synapses, as written; their rules; and the
//! [`DiehlCookConfig`] of `models::diehl_cook` they resolve to.

use serde::{Deserialize, Serialize};

use super::{fmt_f64, invalid, ScenarioError};
use crate::models::diehl_cook::DiehlCookConfig;
use crate::spike::plasticity::{
    PlasticProjections, Plasticity, Projection, StdpRule, TraceMode, WeightDependence,
};

/// `[stdp_mnist]`: the network, for `algorithm.kind = "stdp-mnist"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StdpMnistSection {
    /// Excitatory neurons (as many inhibitory ones), 1..=10000. Default 400.
    pub n_exc: usize,
    /// Passes over the training images, 1..=100. Default 1.
    pub epochs: usize,
    /// Training images per epoch (the first ones), >= 1. Default 60000.
    pub train_images: usize,
    /// Training images presented with learning off to label the neurons, >= 1. Default 10000.
    pub label_images: usize,
    /// Test images, >= 1. Default 10000.
    pub test_images: usize,
    /// Training images per point of the accuracy curve, >= 1. Default 1000.
    pub curve_every: usize,
    /// The input synapses' delays, ms: `[min, max]`, each drawn uniformly and truncated to
    /// whole ticks; 0 <= min <= max <= 100. Default `[0, 10]` (the published code's).
    pub input_delay_ms: [f64; 2],
}

impl Default for StdpMnistSection {
    fn default() -> Self {
        let c = DiehlCookConfig::default();
        StdpMnistSection {
            n_exc: c.n_exc,
            epochs: c.epochs,
            train_images: c.train_images,
            label_images: c.label_images,
            test_images: c.test_images,
            curve_every: c.curve_every,
            input_delay_ms: [c.input_delay_ms.0.into(), c.input_delay_ms.1.into()],
        }
    }
}

impl StdpMnistSection {
    /// Checks the sizes.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let c = self;
        if !(1..=10_000).contains(&c.n_exc) {
            return Err(invalid("stdp_mnist.n_exc", c.n_exc, "must be 1..=10000"));
        }
        if !(1..=100).contains(&c.epochs) {
            return Err(invalid("stdp_mnist.epochs", c.epochs, "must be 1..=100"));
        }
        for (key, v) in [
            ("stdp_mnist.train_images", c.train_images),
            ("stdp_mnist.label_images", c.label_images),
            ("stdp_mnist.test_images", c.test_images),
            ("stdp_mnist.curve_every", c.curve_every),
        ] {
            if v == 0 {
                return Err(invalid(key, v, "must be >= 1"));
            }
        }
        let [min, max] = c.input_delay_ms;
        if !(min.is_finite() && max.is_finite() && 0.0 <= min && min <= max && max <= 100.0) {
            return Err(invalid(
                "stdp_mnist.input_delay_ms",
                format!("[{}, {}]", fmt_f64(min), fmt_f64(max)),
                "must be [min, max] ms with 0 <= min <= max <= 100",
            ));
        }
        Ok(())
    }
}

/// The rule-specific constants of `[plasticity]`.
const CONSTANTS: [&str; 13] = [
    "a_plus",
    "a_minus",
    "a2_plus",
    "a3_plus",
    "a2_minus",
    "a3_minus",
    "tau_plus_ms",
    "tau_minus_ms",
    "tau_x_ms",
    "tau_y_ms",
    "eta",
    "x_target",
    "tau_pre_ms",
];

/// Which of [`CONSTANTS`] each rule reads.
const RULE_KEYS: [(&str, &[&str]); 3] = [
    (
        "pair",
        &["a_plus", "a_minus", "tau_plus_ms", "tau_minus_ms"],
    ),
    (
        "triplet",
        &[
            "a2_plus",
            "a3_plus",
            "a2_minus",
            "a3_minus",
            "tau_plus_ms",
            "tau_x_ms",
            "tau_minus_ms",
            "tau_y_ms",
        ],
    ),
    ("presynaptic", &["eta", "x_target", "tau_pre_ms"]),
];

/// `[plasticity]`: the rule of the plastic synapses. Every constant is optional; those the
/// rule does not read are refused (they would do nothing). Defaults: Diehl & Cook's code's
/// rule (`rule = "triplet"`, the minimal triplet rule with nearest-spike traces).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlasticitySection {
    /// `pair` | `triplet` | `presynaptic`. Default `triplet`.
    pub rule: Option<String>,
    /// `nearest` | `all-to-all`. Default `nearest`.
    pub traces: Option<String>,
    /// `additive` | `multiplicative` | `power-law`. Default `additive`.
    pub dependence: Option<String>,
    /// `power-law`'s exponent, > 0. Default 1.
    pub mu: Option<f64>,
    /// Bounds. Defaults 0 and 1.
    pub w_min: Option<f64>,
    /// Upper bound.
    pub w_max: Option<f64>,
    /// `pair`: amplitudes (defaults 0.01, 0.0105) and time constants, ms (20, 20).
    pub a_plus: Option<f64>,
    /// `pair`: depression amplitude.
    pub a_minus: Option<f64>,
    /// `pair`, `triplet`: presynaptic trace `r1`'s time constant, ms.
    pub tau_plus_ms: Option<f64>,
    /// `pair`, `triplet`: postsynaptic trace `o1`'s time constant, ms.
    pub tau_minus_ms: Option<f64>,
    /// `triplet`: amplitudes (defaults 0, 0.01, 0.0001, 0: Diehl & Cook's) and the slow
    /// traces' time constants, ms (`tau_x` 20, `tau_y` 40).
    pub a2_plus: Option<f64>,
    /// `triplet`: post-pre-post potentiation.
    pub a3_plus: Option<f64>,
    /// `triplet`: pair depression.
    pub a2_minus: Option<f64>,
    /// `triplet`: pre-post-pre depression.
    pub a3_minus: Option<f64>,
    /// `triplet`: `r2`'s time constant, ms.
    pub tau_x_ms: Option<f64>,
    /// `triplet`: `o2`'s time constant, ms.
    pub tau_y_ms: Option<f64>,
    /// `presynaptic`: learning rate (default 0.0001), target trace (0.4) and the
    /// presynaptic trace's time constant, ms (20).
    pub eta: Option<f64>,
    /// `presynaptic`: target trace.
    pub x_target: Option<f64>,
    /// `presynaptic`: trace time constant, ms.
    pub tau_pre_ms: Option<f64>,
    /// The plastic projections, `"PRE->POST"` each: on `cuba` and the microcircuit, which
    /// synapses learn (a side is a population's name, or `E` / `I` for every excitatory /
    /// inhibitory one); on `stdp-mnist` only `"input->E"`, its default.
    pub on: Option<Vec<String>>,
}

/// A population `[plasticity].on` can name: its name, neurons and whether it is excitatory.
pub type NamedPopulation = (&'static str, std::ops::Range<u32>, bool);

impl PlasticitySection {
    /// The rule these keys describe, checked: an unknown rule or mode, a constant the rule
    /// does not read, a tau <= 0, inverted bounds or a non-finite value is an error naming
    /// the key.
    pub fn plasticity(&self) -> Result<Plasticity, ScenarioError> {
        self.check_ranges()?;
        let name = self.rule.as_deref().unwrap_or("triplet");
        let rule = self.rule_named(name)?;
        let reads = RULE_KEYS
            .iter()
            .find(|(r, _)| *r == name)
            .map_or(&[][..], |r| r.1);
        if let Some(key) = CONSTANTS
            .iter()
            .find(|k| self.constant(k).is_some() && !reads.contains(k))
        {
            return Err(invalid(
                &format!("plasticity.{key}"),
                "set",
                &format!("rule \"{name}\" does not read it; remove it or change the rule"),
            ));
        }
        let dc = Plasticity::diehl_cook();
        let p = Plasticity {
            rule,
            traces: self.traces()?,
            dependence: self.dependence(self.get("mu", 1.0)?)?,
            w_min: self.get("w_min", dc.w_min)?,
            w_max: self.get("w_max", dc.w_max)?,
        };
        p.validate().map_err(|e| {
            invalid(
                &format!("plasticity.{}", e.key),
                fmt_f64(f64::from(e.value)),
                e.reason,
            )
        })?;
        Ok(p)
    }

    /// Rule `name` with its constants (unset ones take the rule's defaults).
    fn rule_named(&self, name: &str) -> Result<StdpRule, ScenarioError> {
        let g = |key: &str, default: f32| self.get(key, default);
        let dc = Plasticity::diehl_cook().rule;
        Ok(match (name, dc) {
            ("pair", _) => StdpRule::Pair {
                a_plus: g("a_plus", 0.01)?,
                a_minus: g("a_minus", 0.0105)?,
                tau_plus_ms: g("tau_plus_ms", 20.0)?,
                tau_minus_ms: g("tau_minus_ms", 20.0)?,
            },
            (
                "triplet",
                StdpRule::Triplet {
                    a2_plus,
                    a3_plus,
                    a2_minus,
                    a3_minus,
                    tau_plus_ms,
                    tau_x_ms,
                    tau_minus_ms,
                    tau_y_ms,
                },
            ) => StdpRule::Triplet {
                a2_plus: g("a2_plus", a2_plus)?,
                a3_plus: g("a3_plus", a3_plus)?,
                a2_minus: g("a2_minus", a2_minus)?,
                a3_minus: g("a3_minus", a3_minus)?,
                tau_plus_ms: g("tau_plus_ms", tau_plus_ms)?,
                tau_x_ms: g("tau_x_ms", tau_x_ms)?,
                tau_minus_ms: g("tau_minus_ms", tau_minus_ms)?,
                tau_y_ms: g("tau_y_ms", tau_y_ms)?,
            },
            ("presynaptic", _) => StdpRule::Presynaptic {
                eta: g("eta", 0.0001)?,
                x_target: g("x_target", 0.4)?,
                tau_pre_ms: g("tau_pre_ms", 20.0)?,
            },
            (other, _) => {
                return Err(invalid(
                    "plasticity.rule",
                    format!("{other:?}"),
                    "must be \"pair\", \"triplet\" or \"presynaptic\"",
                ))
            }
        })
    }

    /// Key `key` (finite) as the model takes it, or `default` when unset.
    fn get(&self, key: &str, default: f32) -> Result<f32, ScenarioError> {
        match self.constant(key) {
            None => Ok(default),
            Some(x) if x.is_finite() => Ok(x as f32),
            Some(x) => Err(invalid(
                &format!("plasticity.{key}"),
                fmt_f64(x),
                "must be a finite number",
            )),
        }
    }

    /// The documented ranges, checked before anything is narrowed to `f32`.
    fn check_ranges(&self) -> Result<(), ScenarioError> {
        let s = self;
        let check = |key: &str, v: Option<f64>, ok: &dyn Fn(f64) -> bool, rule: &str| match v {
            Some(x) if !ok(x) => Err(invalid(&format!("plasticity.{key}"), fmt_f64(x), rule)),
            _ => Ok(()),
        };
        let taus = [
            ("tau_plus_ms", s.tau_plus_ms),
            ("tau_minus_ms", s.tau_minus_ms),
            ("tau_x_ms", s.tau_x_ms),
            ("tau_y_ms", s.tau_y_ms),
            ("tau_pre_ms", s.tau_pre_ms),
        ];
        for (key, v) in taus {
            let ok = |x: f64| x > 0.0 && x <= 1e7;
            check(key, v, &ok, "a time constant must be in (0, 1e7] ms")?;
        }
        let amplitudes = [
            ("a_plus", s.a_plus),
            ("a_minus", s.a_minus),
            ("a2_plus", s.a2_plus),
            ("a3_plus", s.a3_plus),
            ("a2_minus", s.a2_minus),
            ("a3_minus", s.a3_minus),
            ("eta", s.eta),
            ("x_target", s.x_target),
        ];
        for (key, v) in amplitudes {
            let ok = |x: f64| x.is_finite() && x >= 0.0;
            check(
                key,
                v,
                &ok,
                "must be finite and >= 0 (depression subtracts)",
            )?;
        }
        let mu_ok = |x: f64| x > 0.0 && x <= 1000.0;
        check(
            "mu",
            s.mu,
            &mu_ok,
            "a power-law exponent must be in (0, 1000]",
        )?;
        let w_min = s.w_min.unwrap_or(0.0);
        let min_ok = |x: f64| x.is_finite() && x >= 0.0;
        check(
            "w_min",
            s.w_min,
            &min_ok,
            "must be finite and >= 0 (weights add to a conductance)",
        )?;
        let w_max = s.w_max.unwrap_or(1.0);
        if s.w_min.is_some() && w_min >= w_max {
            return Err(invalid(
                "plasticity.w_min",
                fmt_f64(w_min),
                "must be below w_max",
            ));
        }
        let max_ok = |x: f64| x > w_min && x <= 1e6;
        check("w_max", s.w_max, &max_ok, "must be in (w_min, 1e6]")?;
        Ok(())
    }

    /// The numeric key `key`, if set.
    fn constant(&self, key: &str) -> Option<f64> {
        let s = self;
        match key {
            "a_plus" => s.a_plus,
            "a_minus" => s.a_minus,
            "a2_plus" => s.a2_plus,
            "a3_plus" => s.a3_plus,
            "a2_minus" => s.a2_minus,
            "a3_minus" => s.a3_minus,
            "tau_plus_ms" => s.tau_plus_ms,
            "tau_minus_ms" => s.tau_minus_ms,
            "tau_x_ms" => s.tau_x_ms,
            "tau_y_ms" => s.tau_y_ms,
            "eta" => s.eta,
            "x_target" => s.x_target,
            "tau_pre_ms" => s.tau_pre_ms,
            "mu" => s.mu,
            "w_min" => s.w_min,
            "w_max" => s.w_max,
            _ => None,
        }
    }

    fn traces(&self) -> Result<TraceMode, ScenarioError> {
        match self.traces.as_deref().unwrap_or("nearest") {
            "nearest" => Ok(TraceMode::Nearest),
            "all-to-all" => Ok(TraceMode::AllToAll),
            other => Err(invalid(
                "plasticity.traces",
                format!("{other:?}"),
                "must be \"nearest\" or \"all-to-all\"",
            )),
        }
    }

    fn dependence(&self, mu: f32) -> Result<WeightDependence, ScenarioError> {
        let d = self.dependence.as_deref().unwrap_or("additive");
        if self.mu.is_some() && d != "power-law" {
            return Err(invalid(
                "plasticity.mu",
                "set",
                "only dependence = \"power-law\" reads it",
            ));
        }
        match d {
            "additive" => Ok(WeightDependence::Additive),
            "multiplicative" => Ok(WeightDependence::Multiplicative),
            "power-law" => Ok(WeightDependence::PowerLaw { mu }),
            other => Err(invalid(
                "plasticity.dependence",
                format!("{other:?}"),
                "must be \"additive\", \"multiplicative\" or \"power-law\"",
            )),
        }
    }

    /// The plastic projections of a recurrent network with `populations` (`model`: its kind,
    /// for messages): `None` when `on` is unset. A name that does not exist, an inhibitory
    /// presynaptic side, an empty list or unset bounds are errors naming the key.
    pub fn projections(
        &self,
        model: &str,
        populations: &[NamedPopulation],
    ) -> Result<Option<PlasticProjections>, ScenarioError> {
        let Some(on) = &self.on else {
            return Ok(None);
        };
        let rule = self.plasticity()?;
        if on.is_empty() {
            return Err(invalid(
                "plasticity.on",
                "[]",
                "names no projection; write e.g. [\"E->E\"], or remove [plasticity]",
            ));
        }
        let names: Vec<&str> = populations.iter().map(|p| p.0).collect();
        let side = |name: &str, spec: &str| -> Result<Vec<&NamedPopulation>, ScenarioError> {
            let found: Vec<&NamedPopulation> = populations
                .iter()
                .filter(|p| p.0 == name || (name == "E" && p.2) || (name == "I" && !p.2))
                .collect();
            if found.is_empty() {
                return Err(invalid(
                    "plasticity.on",
                    format!("{spec:?}"),
                    &format!(
                        "{model} has no population {name:?}; it has {}, and E / I for every \
                         excitatory / inhibitory one",
                        names.join(", ")
                    ),
                ));
            }
            Ok(found)
        };
        let mut projections = Vec::new();
        for spec in on {
            let Some((pre, post)) = spec.split_once("->") else {
                return Err(invalid(
                    "plasticity.on",
                    format!("{spec:?}"),
                    "must be \"PRE->POST\", e.g. \"E->E\"",
                ));
            };
            let (pre, post) = (pre.trim(), post.trim());
            for a in side(pre, spec)? {
                if !a.2 {
                    return Err(invalid(
                        "plasticity.on",
                        format!("{spec:?}"),
                        &format!(
                            "{} is inhibitory: its synapses cannot be plastic (the rules keep \
                             weights in [w_min >= 0, w_max], an inhibitory weight is negative)",
                            a.0
                        ),
                    ));
                }
                for b in side(post, spec)? {
                    projections.push(Projection {
                        pre: a.1.clone(),
                        post: b.1.clone(),
                        name: format!("{}->{}", a.0, b.0),
                    });
                }
            }
        }
        if self.w_max.is_none() {
            return Err(invalid(
                "plasticity.w_max",
                "unset",
                &format!(
                    "must be set for plastic {model} synapses: weights are in mV (a current \
                     jump), e.g. twice the initial weight (CUBA: 3.24 for its 1.62 mV)"
                ),
            ));
        }
        Ok(Some(PlasticProjections { rule, projections }))
    }

    /// Checks `on` for `stdp-mnist`, whose only plastic projection is the input's.
    pub fn check_stdp_mnist(&self) -> Result<(), ScenarioError> {
        match self.on.as_deref() {
            None => Ok(()),
            Some([one]) if one.replace(' ', "") == "input->E" => Ok(()),
            Some(other) => Err(invalid(
                "plasticity.on",
                format!("{other:?}"),
                "stdp-mnist's plastic synapses are input->E only; remove the key",
            )),
        }
    }

    /// The network's configuration with this rule.
    pub fn config(&self, net: &StdpMnistSection) -> Result<DiehlCookConfig, ScenarioError> {
        Ok(DiehlCookConfig {
            n_exc: net.n_exc,
            epochs: net.epochs,
            train_images: net.train_images,
            label_images: net.label_images,
            test_images: net.test_images,
            curve_every: net.curve_every,
            plasticity: self.plasticity()?,
            input_delay_ms: (net.input_delay_ms[0] as f32, net.input_delay_ms[1] as f32),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> Plasticity {
        let s: PlasticitySection = toml::from_str(text).expect("a [plasticity] table");
        s.plasticity().expect("valid")
    }

    /// The defaults docs/scenarios.md gives per rule.
    #[test]
    fn unset_constants_take_the_rules_defaults() {
        assert_eq!(rule(""), Plasticity::diehl_cook());
        let pair = rule("rule = \"pair\"");
        assert_eq!(
            pair.rule,
            StdpRule::Pair {
                a_plus: 0.01,
                a_minus: 0.0105,
                tau_plus_ms: 20.0,
                tau_minus_ms: 20.0
            }
        );
        assert_eq!((pair.w_min, pair.w_max), (0.0, 1.0));
        assert_eq!(pair.traces, TraceMode::Nearest);
        assert_eq!(
            rule("rule = \"presynaptic\"").rule,
            StdpRule::Presynaptic {
                eta: 0.0001,
                x_target: 0.4,
                tau_pre_ms: 20.0
            }
        );
        let p = rule("dependence = \"power-law\"");
        assert_eq!(p.dependence, WeightDependence::PowerLaw { mu: 1.0 });
    }
}

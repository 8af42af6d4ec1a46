//! Settings the chosen kind would not read: a section (or `[[probe]]`) that differs from its
//! defaults under a kind that ignores it is an error naming its first such key and the kinds
//! that read it, because a setting that silently does nothing misleads.

use super::algorithm::AlgorithmKind::{self, *};
use super::{invalid, ScenarioError, ScenarioFile};

/// The kinds that learn from MNIST through layers (or train a network to convert).
const LAYERED: &[AlgorithmKind] = &[Bp, Pc, Zil, Ep, Cep, Spc, SnnConvert];
/// The kinds whose layer actors train with checkpoints and feedback across actors.
const LAYER_ACTORS: &[AlgorithmKind] = &[Pc, Zil, Ep, Cep, Spc];

/// Each section that only some kinds read, and those kinds.
const READERS: &[(&str, &[AlgorithmKind])] = &[
    ("data", &[Bp, Pc, Zil, Ep, Cep, Spc, SnnConvert, StdpMnist]),
    ("network", LAYERED),
    ("train", LAYERED),
    ("compare", LAYER_ACTORS),
    ("checkpoint", &[Pc, Zil, Ep, Cep, Spc, StdpMnist]),
    ("faults", LAYER_ACTORS),
    ("cuba", &[Cuba]),
    ("microcircuit", &[Microcircuit]),
    ("stdp_mnist", &[StdpMnist]),
    ("spc", &[Spc]),
    ("convert", &[SnnConvert]),
    (
        "trace",
        &[
            Bp,
            Pc,
            Zil,
            Ep,
            Cep,
            Spc,
            Cuba,
            Microcircuit,
            StdpMnist,
            SnnConvert,
        ],
    ),
];

/// The kinds of equilibrium propagation.
const EP: &[AlgorithmKind] = &[Ep, Cep];

/// Each `[algorithm]` key that only some kinds read, and those kinds.
const ALGORITHM_READERS: &[(&str, &[AlgorithmKind])] = &[
    ("inference_steps", &[Pc]),
    ("inference_rate", &[Pc, Zil, Spc]),
    ("feedback", LAYER_ACTORS),
    ("kp_decay", LAYER_ACTORS),
    ("kp_init", LAYER_ACTORS),
    ("forward_init", &[Pc, Zil]),
    ("update_before_feedback", &[Pc, Zil]),
    ("free_steps", EP),
    ("nudged_steps", EP),
    ("beta", EP),
    ("random_sign_beta", EP),
    ("step", EP),
    ("layer_lr", EP),
];

/// Keys read only under a setting that a shared scenario (a sweep over that setting) may
/// not have in every combination: set without it, they draw a warning, not an error.
const CONDITIONAL: &[(&str, &str, &str)] = &[
    (
        "algorithm",
        "kp_decay",
        "algorithm.feedback = \"kolen-pollack\"",
    ),
    (
        "algorithm",
        "kp_init",
        "algorithm.feedback = \"kolen-pollack\"",
    ),
    (
        "runtime",
        "settle_tolerance",
        "runtime.schedule = \"async\"",
    ),
    ("runtime", "max_updates", "runtime.schedule = \"async\""),
    ("runtime", "settle_quiet_ms", "runtime.schedule = \"async\""),
];

/// `section.key`'s value in `table` when it differs from `defaults`'.
fn changed(
    table: &toml::Table,
    defaults: &toml::Table,
    section: &str,
    key: &str,
) -> Option<String> {
    let get = |t: &toml::Table| t.get(section).and_then(|s| s.get(key)).cloned();
    let mine = get(table)?;
    (Some(&mine) != get(defaults).as_ref()).then(|| mine.to_string())
}

/// The error for `key = value` under a `kind` that does not read it (only `readers` do).
fn unread(
    key: &str,
    value: String,
    kind: AlgorithmKind,
    what: &str,
    readers: &[AlgorithmKind],
) -> ScenarioError {
    let names: Vec<String> = readers
        .iter()
        .map(|k| format!("\"{}\"", k.name()))
        .collect();
    invalid(
        key,
        value,
        &format!(
            "algorithm.kind = \"{}\" does not read {what} (only {} do); remove it",
            kind.name(),
            names.join(", "),
        ),
    )
}

impl ScenarioFile {
    /// This file and the default one, as TOML tables.
    fn with_defaults(&self) -> Option<(toml::Table, toml::Table)> {
        let mine = toml::Table::try_from(self).ok()?;
        Some((mine, toml::Table::try_from(ScenarioFile::default()).ok()?))
    }

    /// The first set key of a section that `algorithm.kind` does not read, as an error that
    /// names it and the kinds that read it.
    pub(super) fn check_unused(&self) -> Result<(), ScenarioError> {
        let kind = self.algorithm.kind;
        let Some((mine, defaults)) = self.with_defaults() else {
            return Ok(());
        };
        for (section, readers) in READERS {
            if readers.contains(&kind) {
                continue;
            }
            let Some(key) = first_difference(mine.get(*section), defaults.get(*section)) else {
                continue;
            };
            let value = key
                .split('.')
                .skip(1)
                .try_fold(mine.get(*section), |v, k| Some(v?.get(k)))
                .flatten()
                .map_or_else(|| "set".to_owned(), ToString::to_string);
            let key = format!("{section}{key}");
            return Err(unread(&key, value, kind, &format!("[{section}]"), readers));
        }
        Ok(())
    }

    /// The first set `[algorithm]` key that `algorithm.kind` does not read, as an error that
    /// names it and the kinds that read it; a warning for each key read only under a setting
    /// this scenario does not have ([`CONDITIONAL`]). Checked after the sections' own rules,
    /// which say more (`runtime.schedule = "async"` needs `pc`, whatever else is set).
    pub(super) fn check_unused_keys(&self) -> Result<(), ScenarioError> {
        let kind = self.algorithm.kind;
        let Some((mine, defaults)) = self.with_defaults() else {
            return Ok(());
        };
        for (key, readers) in ALGORITHM_READERS {
            if let Some(value) =
                changed(&mine, &defaults, "algorithm", key).filter(|_| !readers.contains(&kind))
            {
                return Err(unread(
                    &format!("algorithm.{key}"),
                    value,
                    kind,
                    "it",
                    readers,
                ));
            }
        }
        let kp = self.algorithm.feedback == crate::learn::layer::Feedback::KolenPollack;
        let asynchronous = self.runtime.schedule == super::runtime::TimeSchedule::Async;
        for (section, key, setting) in CONDITIONAL {
            let on = if *section == "algorithm" {
                kp
            } else {
                asynchronous
            };
            let read = *section == "runtime" || LAYER_ACTORS.contains(&kind);
            if let Some(value) = changed(&mine, &defaults, section, key).filter(|_| !on && read) {
                tracing::warn!(
                    "{section}.{key} = {value} is read only with {setting}, which this scenario does not set: it changes nothing here"
                );
            }
        }
        Ok(())
    }
}

/// A kind that reads `key` (`section.key`, or a section), where the default kind (`bp`) does
/// not: for checks that set one key on an otherwise empty scenario.
#[cfg(test)]
pub(super) fn reader_of(key: &str) -> Option<AlgorithmKind> {
    let (section, rest) = key.split_once('.').unwrap_or((key, ""));
    let readers = match section {
        "algorithm" => ALGORITHM_READERS.iter().find(|(k, _)| *k == rest)?.1,
        _ => READERS.iter().find(|(s, _)| *s == section)?.1,
    };
    (!readers.contains(&Bp)).then(|| readers[0])
}

/// The first key (`.key`, or "" for the whole value) where `a` differs from `b`.
fn first_difference(a: Option<&toml::Value>, b: Option<&toml::Value>) -> Option<String> {
    match (a, b) {
        (Some(toml::Value::Table(a)), Some(toml::Value::Table(b))) => {
            a.iter().find_map(|(k, v)| {
                first_difference(Some(v), b.get(k)).map(|rest| format!(".{k}{rest}"))
            })
        }
        (Some(a), Some(b)) if a == b => None,
        (None, None) => None,
        (Some(_), _) | (None, Some(_)) => Some(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use crate::experiment::scenario::Scenario;

    #[test]
    fn a_key_the_kind_does_not_read_is_named() {
        let e = Scenario::from_toml("[algorithm]\nkind = \"cuba\"\n[train]\nlr = 0.5\n")
            .expect_err("train is not read by cuba");
        let text = e.to_string();
        assert!(text.starts_with("train.lr = 0.5: "), "{text}");
        assert!(text.contains("\"bp\""), "{text}");
        let e = Scenario::from_toml("[algorithm]\nkind = \"pc\"\n[cuba]\nneurons = 10\n")
            .expect_err("cuba is not read by pc");
        assert!(e.to_string().starts_with("cuba.neurons"), "{e}");
        // A key set to its default changes nothing, and what the kind reads passes.
        Scenario::from_toml("[algorithm]\nkind = \"pc\"\n[train]\nlr = 0.5\n")
            .expect("pc reads train");
    }

    #[test]
    fn an_algorithm_key_for_another_kind_is_named() {
        let e = Scenario::from_toml("[algorithm]\nkind = \"pc\"\nbeta = 0.2\n")
            .expect_err("pc does not read beta");
        let text = e.to_string();
        assert!(text.starts_with("algorithm.beta = 0.2: "), "{text}");
        assert!(text.contains("\"ep\", \"cep\""), "{text}");
        let e = Scenario::from_toml("[algorithm]\nkind = \"zil\"\ninference_steps = 5\n")
            .expect_err("zil runs one step per layer");
        assert!(
            e.to_string().starts_with("algorithm.inference_steps = 5"),
            "{e}"
        );
        let e = Scenario::from_toml("[algorithm]\nkind = \"cuba\"\nfeedback = \"random\"\n")
            .expect_err("cuba has no feedback");
        assert!(e.to_string().starts_with("algorithm.feedback"), "{e}");
        // What the kind reads passes; a Kolen-Pollack key under other feedback only warns
        // (a feedback sweep carries it into every combination).
        let ep =
            "[algorithm]\nkind = \"ep\"\nbeta = 0.2\n[network]\nactivation = \"hard-sigmoid\"\n[train]\nloss = \"mse\"\n";
        Scenario::from_toml(ep).expect("ep reads beta");
        Scenario::from_toml(
            "[algorithm]\nkind = \"pc\"\nfeedback = \"random\"\nkp_decay = 0.001\n",
        )
        .expect("a warning, not an error");
        Scenario::from_toml("[algorithm]\nkind = \"pc\"\n[runtime]\nsettle_quiet_ms = 5.0\n")
            .expect("a warning, not an error");
    }
}

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
        &[Bp, Pc, Zil, Ep, Cep, Spc, Cuba, Microcircuit, StdpMnist],
    ),
];

impl ScenarioFile {
    /// The first set key of a section that `algorithm.kind` does not read, as an error that
    /// names it and the kinds that read it.
    pub(super) fn check_unused(&self) -> Result<(), ScenarioError> {
        let kind = self.algorithm.kind;
        let (Ok(mine), Ok(defaults)) = (
            toml::Table::try_from(self),
            toml::Table::try_from(ScenarioFile::default()),
        ) else {
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
            let names: Vec<String> = readers
                .iter()
                .map(|k| format!("\"{}\"", k.name()))
                .collect();
            return Err(invalid(
                &key,
                value,
                &format!(
                    "algorithm.kind = \"{}\" does not read [{section}] (only {} do{}); remove it",
                    kind.name(),
                    names.join(", "),
                    if *section == "trace" && kind == SnnConvert {
                        ": the conversion network's messages are not traced yet"
                    } else {
                        ""
                    }
                ),
            ));
        }
        Ok(())
    }
}

/// A kind that reads `section`, where the default kind (`bp`) does not: for checks that set
/// one key on an otherwise empty scenario.
#[cfg(test)]
pub(super) fn reader_of(section: &str) -> Option<AlgorithmKind> {
    let (_, readers) = READERS.iter().find(|(s, _)| *s == section)?;
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
}

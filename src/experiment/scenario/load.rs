//! Reading a scenario: the file, its `--set KEY=VALUE` overrides by dotted path, and the
//! parser's errors that point into the text.

use std::path::{Path, PathBuf};

use super::{Scenario, ScenarioError, ScenarioFile};

/// Parses a `--set` value: TOML syntax (`3`, `0.1`, `[784, 10]`, `"adam"`, `true`), or a bare
/// word taken as a string (`adam`).
fn parse_override_value(text: &str) -> toml::Value {
    let doc = format!("v = {text}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(text.to_owned())),
        Err(_) => toml::Value::String(text.to_owned()),
    }
}

/// Applies one `KEY=VALUE` override to a parsed scenario table.
pub fn apply_override(table: &mut toml::Table, arg: &str) -> Result<(), ScenarioError> {
    let bad = |reason: &str| ScenarioError::BadOverride {
        arg: arg.to_owned(),
        reason: reason.to_owned(),
    };
    let (key, value) = arg
        .split_once('=')
        .ok_or_else(|| bad("expected KEY=VALUE, for example train.epochs=1"))?;
    let key = key.trim();
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(bad("the key must be a dotted path such as train.lr"));
    }
    let (last, path) = parts.split_last().expect("split always yields one part");
    let mut cur = table;
    for (i, p) in path.iter().enumerate() {
        let entry = cur
            .entry((*p).to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry.as_table_mut().ok_or_else(|| {
            bad(&format!(
                "{} is a value, not a section",
                parts[..=i].join(".")
            ))
        })?;
    }
    cur.insert((*last).to_owned(), parse_override_value(value.trim()));
    Ok(())
}

impl Scenario {
    /// Reads `path`, applies `overrides` (`KEY=VALUE`, dotted keys) and validates. A file with
    /// a `[sweep]` table is an error ([`ScenarioError::HasSweep`]): it describes many runs
    /// (see [`crate::experiment::sweep`]).
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ScenarioError::Parse {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?;
        if table.contains_key("sweep") {
            return Err(ScenarioError::HasSweep {
                path: path.to_owned(),
            });
        }
        if overrides.is_empty() {
            // From the text itself, so that errors point into the file as written.
            let file: ScenarioFile = toml::from_str(&text).map_err(|e| ScenarioError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
            return Self::validate_named(path, file);
        }
        for o in overrides {
            apply_override(&mut table, o)?;
        }
        Self::from_table_in(path, table, "after --set overrides: ")
    }

    /// Validates a parsed scenario table (overrides already applied, no `[sweep]` table).
    /// `path` names the file in errors, and its stem is the default name.
    pub fn from_table(path: &Path, table: toml::Table) -> Result<Self, ScenarioError> {
        Self::from_table_in(path, table, "")
    }

    /// [`Scenario::from_table`], with `context` before the parser's message.
    fn from_table_in(
        path: &Path,
        table: toml::Table,
        context: &str,
    ) -> Result<Self, ScenarioError> {
        let parse_err = |message: String| ScenarioError::Parse {
            path: path.to_owned(),
            message,
        };
        // Through text (not `Value::try_into`): the parser's errors then quote the offending
        // line.
        let merged = toml::to_string(&table).map_err(|e| parse_err(e.to_string()))?;
        let file: ScenarioFile =
            toml::from_str(&merged).map_err(|e| parse_err(format!("{context}{e}")))?;
        Self::validate_named(path, file)
    }

    /// Names a raw scenario after its file when it has no `name`, then validates it.
    fn validate_named(path: &Path, mut file: ScenarioFile) -> Result<Self, ScenarioError> {
        if file.name.is_none() {
            file.name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        }
        Self::validate(file)
    }

    /// Parses and validates scenario text (no file, no overrides).
    pub fn from_toml(text: &str) -> Result<Self, ScenarioError> {
        let file: ScenarioFile = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            path: PathBuf::from("<scenario>"),
            message: e.to_string(),
        })?;
        Self::validate(file)
    }
}

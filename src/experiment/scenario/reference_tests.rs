//! The scenario reference (`docs/scenarios.md`) against the parser, so that the two cannot
//! drift: every key the parser accepts has a row and every row names such a key; every
//! documented default is what a scenario resolves to without the key; every documented
//! range is the one validation enforces, at its bounds. (The accepted names of enum-valued
//! keys are `tests::the_scenario_reference_lists_the_accepted_names`.)

use std::collections::BTreeSet;
use std::path::Path;

use super::tests::{backticked, ENUM_KEYS};
use super::*;

/// The scenario reference, as compiled in (a change to it rebuilds the tests).
const REFERENCE: &str = include_str!("../../../docs/scenarios.md");

/// One row of the reference's key table.
pub(super) struct Row {
    pub(super) key: String,
    pub(super) default: String,
    pub(super) allowed: String,
}

/// The cells of a markdown table line (`\|` is a literal bar inside a cell).
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    let mut cells = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                cells.last_mut().expect("one cell").push('|');
            }
            '|' => cells.push(String::new()),
            _ => cells.last_mut().expect("one cell").push(c),
        }
    }
    cells.iter().map(|c| c.trim().to_owned()).collect()
}

/// The rows of the key table: the lines after its `| key | default | allowed |` header, up to
/// the first line that is not a table line. Each names exactly one key.
pub(super) fn rows() -> Vec<Row> {
    let mut lines = REFERENCE.lines();
    lines
        .by_ref()
        .find(|l| cells(l) == ["key", "default", "allowed"])
        .expect("docs/scenarios.md has a `| key | default | allowed |` table");
    lines
        .skip(1) // | --- | --- | --- |
        .take_while(|l| l.starts_with('|'))
        .map(|line| {
            let c = cells(line);
            assert_eq!(c.len(), 3, "a row has three cells: {line}");
            let keys = backticked(&c[0]);
            assert!(
                keys.len() == 1 && c[0] == format!("`{}`", keys[0]),
                "a row's first cell is one key, `section.key`: {line}"
            );
            Row {
                key: keys[0].clone(),
                default: c[1].clone(),
                allowed: c[2].clone(),
            }
        })
        .collect()
}

/// The raw defaults as TOML (`Option` keys left out).
fn raw_defaults() -> toml::Table {
    toml::Table::try_from(ScenarioFile::default()).expect("the defaults serialise")
}

/// The value at a dotted path of a table.
fn lookup<'a>(table: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    let (section, last) = match key.rsplit_once('.') {
        Some((s, l)) => (Some(s), l),
        None => (None, key),
    };
    let mut t = table;
    for part in section.into_iter().flat_map(|s| s.split('.')) {
        t = t.get(part)?.as_table()?;
    }
    t.get(last)
}

/// The keys of `section` (`""`: the top level), as the parser lists them when given an unknown
/// one: serde's field list of the section's struct.
fn fields(section: &str) -> Vec<String> {
    let text = if section.is_empty() {
        "no_such_key = 1\n".to_owned()
    } else {
        format!("[{section}]\nno_such_key = 1\n")
    };
    let e = toml::from_str::<ScenarioFile>(&text)
        .expect_err("an unknown key")
        .to_string();
    let (_, expected) = e
        .split_once("unknown field `no_such_key`, expected")
        .unwrap_or_else(|| panic!("[{section}]: {e}"));
    backticked(expected.lines().next().unwrap_or_default())
}

/// Every key the parser accepts, dotted: the leaves of the struct tree, found by asking each
/// section for its fields and descending into those whose default is a table.
fn parser_keys() -> Vec<String> {
    let defaults = raw_defaults();
    let mut keys = Vec::new();
    let mut sections = vec![String::new()];
    while let Some(section) = sections.pop() {
        for field in fields(&section) {
            let key = if section.is_empty() {
                field
            } else {
                format!("{section}.{field}")
            };
            if lookup(&defaults, &key).is_some_and(toml::Value::is_table) {
                sections.push(key);
            } else {
                keys.push(key);
            }
        }
    }
    keys.sort();
    keys
}

/// The scenario `--set` overrides make of an empty file named `reference.toml`, validated
/// (no data is read).
/// Unless the overrides choose a kind, the kind is one that reads the first key's section
/// (`cuba.neurons` under `cuba`, `faults.drop` under `pc`).
pub(super) fn resolve(sets: &[String]) -> Result<Scenario, ScenarioError> {
    let mut table = toml::Table::new();
    for s in sets {
        apply_override(&mut table, s)?;
    }
    let chosen = table.get("algorithm").and_then(|a| a.get("kind")).is_some();
    let key = sets.first().and_then(|s| s.split('=').next());
    if !chosen {
        for set in kind_sets(key.unwrap_or_default()) {
            apply_override(&mut table, &set)?;
        }
    }
    Scenario::from_table(Path::new("reference.toml"), table)
}

/// The overrides that choose a kind reading `key` (or its section) where `bp` does not (`spc`
/// with local feedback, `ep` with a bounded activation and the squared error, as they require); none where `bp`
/// reads it.
fn kind_sets(key: &str) -> Vec<String> {
    let Some(kind) = super::unused::reader_of(key) else {
        return Vec::new();
    };
    let mut sets = vec![format!("algorithm.kind=\"{}\"", kind.name())];
    if kind == AlgorithmKind::Spc {
        sets.push("algorithm.feedback=\"kolen-pollack\"".to_owned());
    }
    if kind.is_ep() {
        sets.push("network.activation=\"hard-sigmoid\"".to_owned());
        sets.push("train.loss=\"mse\"".to_owned());
    }
    sets
}

/// [`resolve`] of `&str` overrides, which must be valid.
fn resolved(sets: &[&str]) -> Scenario {
    let sets: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
    resolve(&sets).unwrap_or_else(|e| panic!("{sets:?}: {e}"))
}

#[test]
fn every_key_has_a_row_and_every_row_is_a_key() {
    let rows = rows();
    let documented: Vec<String> = rows.iter().map(|r| r.key.clone()).collect();
    let unique: BTreeSet<&String> = documented.iter().collect();
    assert_eq!(unique.len(), documented.len(), "a key has two rows");
    let parsed = parser_keys();
    assert!(parsed.len() > 50, "{parsed:?}");
    let undocumented: Vec<&String> = parsed.iter().filter(|k| !unique.contains(k)).collect();
    let unknown: Vec<&String> = documented.iter().filter(|k| !parsed.contains(k)).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "keys the parser accepts with no row in docs/scenarios.md: {undocumented:?}; rows \
         naming no key the parser accepts: {unknown:?}"
    );
}

/// Every key whose values are names (the parser says "unknown variant") is in `ENUM_KEYS`, so
/// its row's accepted names are checked too.
#[test]
fn every_enum_valued_key_is_checked_against_its_row() {
    let enum_keys: Vec<&str> = ENUM_KEYS.iter().map(|(k, _, _)| *k).collect();
    for key in parser_keys() {
        let mut t = toml::Table::new();
        apply_override(&mut t, &format!("{key}=\"no-such-value\"")).expect("a dotted key");
        let text = toml::to_string(&t).expect("a table");
        let is_enum = toml::from_str::<ScenarioFile>(&text)
            .is_err_and(|e| e.to_string().contains("unknown variant `no-such-value`"));
        assert_eq!(
            is_enum,
            enum_keys.contains(&key.as_str()),
            "{key}: an enum-valued key must be in tests::ENUM_KEYS, and only those"
        );
    }
}

/// Rows whose default is prose rather than a TOML value (all `Option` keys, left out of the
/// resolved file), with what the prose means and where it is checked.
const PROSE_DEFAULTS: &[(&str, &str)] = &[
    ("plasticity.mu", RULE_DEFAULTS),
    ("plasticity.a_plus", RULE_DEFAULTS),
    ("plasticity.a_minus", RULE_DEFAULTS),
    ("plasticity.tau_plus_ms", RULE_DEFAULTS),
    ("plasticity.tau_minus_ms", RULE_DEFAULTS),
    ("plasticity.a2_plus", RULE_DEFAULTS),
    ("plasticity.a3_plus", RULE_DEFAULTS),
    ("plasticity.a2_minus", RULE_DEFAULTS),
    ("plasticity.a3_minus", RULE_DEFAULTS),
    ("plasticity.tau_x_ms", RULE_DEFAULTS),
    ("plasticity.tau_y_ms", RULE_DEFAULTS),
    ("plasticity.eta", RULE_DEFAULTS),
    ("plasticity.x_target", RULE_DEFAULTS),
    ("plasticity.tau_pre_ms", RULE_DEFAULTS),
    (
        "plasticity.on",
        "unset; stdp-mnist's plastic synapses are input->E whatever it says: \
         `tests/stdp.rs::bad_plasticity_settings_exit_2_naming_the_key`",
    ),
    (
        "name",
        "the file's stem: `prose_defaults_mean_what_they_say`",
    ),
    (
        "data.train_limit",
        "unset loads every training example: `data_defaults_use_every_example_and_class`",
    ),
    (
        "data.test_limit",
        "unset loads every test example: `data_defaults_use_every_example_and_class`",
    ),
    (
        "data.classes",
        "unset is the largest label + 1: `data_defaults_use_every_example_and_class`",
    ),
    (
        "algorithm.inference_rate",
        "0.1 for pc, 1 for zil, by kind: `prose_defaults_mean_what_they_say`",
    ),
    (
        "algorithm.layer_lr",
        "train.lr for every weight layer: `prose_defaults_mean_what_they_say`",
    ),
    (
        "runtime.workers",
        "the machine's cores, resolved at load (not saved, so a resumed run uses its own \
         machine's): `prose_defaults_mean_what_they_say`",
    ),
    (
        "runtime.shards",
        "the workers under executor = \"auto\" (shards of >= 128 neurons or 1 M synapses), \
         else 1: \
         `auto_shards_follow_the_model`",
    ),
    (
        "faults.panic_actor",
        "none: no actor panics: `prose_defaults_mean_what_they_say`",
    ),
    (
        "convert.checkpoint",
        "none: snn-convert trains by BP first (the run's choice, not checked here): unset \
         in the resolved file",
    ),
];

/// How the plasticity constants' defaults, which depend on the rule, are checked.
const RULE_DEFAULTS: &str = "by rule: `stdp::tests::unset_constants_take_the_rules_defaults`";

/// Rows with a TOML value as default whose key is an `Option` nonetheless: unset, the
/// resolved file leaves it out and the run uses the documented value, so setting it changes
/// the resolved file but not the run. Checked in `prose_defaults_mean_what_they_say`.
const EFFECTIVE_DEFAULTS: &[&str] = &[
    "faults.panic_after_batches",
    "plasticity.rule",
    "plasticity.traces",
    "plasticity.dependence",
    "plasticity.w_min",
    "plasticity.w_max",
];

/// The TOML value a default cell holds, when it is exactly one backticked TOML value.
fn toml_default(cell: &str) -> Option<String> {
    let spans = backticked(cell);
    let [value] = spans.as_slice() else {
        return None;
    };
    if cell != format!("`{value}`") {
        return None;
    }
    let doc = format!("v = {value}");
    doc.parse::<toml::Table>().ok().map(|_| value.clone())
}

#[test]
fn every_documented_default_is_the_default() {
    let unset = resolved(&[]);
    let raw = raw_defaults();
    let mut prose = Vec::new();
    let mut problems = Vec::new();
    for row in rows() {
        let key = row.key.as_str();
        let Some(value) = toml_default(&row.default) else {
            if !PROSE_DEFAULTS.iter().any(|(k, _)| *k == key) {
                problems.push(format!(
                    "{key}: the default {:?} is not a TOML value; if it is prose on purpose, \
                     list it in PROSE_DEFAULTS with how it is checked",
                    row.default
                ));
            }
            if let Some(v) = lookup(&raw, key) {
                problems.push(format!(
                    "{key}: the default {:?} is prose, but the resolved file holds {v}",
                    row.default
                ));
            }
            prose.push(row.key.clone());
            continue;
        };
        if PROSE_DEFAULTS.iter().any(|(k, _)| *k == key) {
            problems.push(format!(
                "{key}: listed in PROSE_DEFAULTS but documents the TOML value {value}"
            ));
        }
        let set = match resolve(&[format!("{key}={value}")]) {
            Ok(set) => set,
            Err(e) => {
                problems.push(format!(
                    "{key} = {value}, the documented default, fails: {e}"
                ));
                continue;
            }
        };
        if EFFECTIVE_DEFAULTS.contains(&key) {
            if lookup(&raw, key).is_some() {
                problems.push(format!("{key}: in EFFECTIVE_DEFAULTS but not an Option"));
            }
            continue;
        }
        // The same kind as `resolve` chose for the key, without the key.
        let kind = kind_sets(key);
        let unset = if kind.is_empty() {
            unset.clone()
        } else {
            resolved(&kind.iter().map(String::as_str).collect::<Vec<_>>())
        };
        if set != unset || set.to_toml() != unset.to_toml() {
            let real = lookup(&raw, key).map_or("nothing (unset)".to_owned(), |v| v.to_string());
            problems.push(format!(
                "{key}: documented default {value}, but leaving it out resolves to {real}"
            ));
        }
    }
    for (key, _) in PROSE_DEFAULTS {
        if !prose.iter().any(|k| k == key) {
            problems.push(format!(
                "PROSE_DEFAULTS lists {key}, whose row does not have a prose default"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn prose_defaults_mean_what_they_say() {
    // name: the file's stem.
    let s = Scenario::from_table(Path::new("some/folder/my-run.toml"), toml::Table::new())
        .expect("defaults");
    assert_eq!(s.name(), "my-run");
    assert!(s.to_toml().contains("name = \"my-run\""), "{}", s.to_toml());

    // runtime.workers: all cores.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(resolved(&[]).workers(), cores);
    assert_eq!(
        resolved(&[&format!("runtime.workers={cores}")]).workers(),
        cores
    );

    // algorithm.inference_rate: 0.1 for pc, 1 for zil.
    for (kind, gamma) in [("pc", "0.1"), ("zil", "1")] {
        let kind_set = format!("algorithm.kind={kind}");
        let unset = resolved(&[&kind_set]).layer_config(1000);
        let set =
            resolved(&[&kind_set, &format!("algorithm.inference_rate={gamma}")]).layer_config(1000);
        assert_eq!(unset, set, "{kind}: inference_rate = {gamma}");
        assert_eq!(unset.gamma.to_string(), gamma, "{kind}");
    }

    // algorithm.layer_lr: train.lr for every weight layer.
    let ep = [
        "algorithm.kind=ep",
        "network.activation=hard-sigmoid",
        "train.loss=mse",
        "train.lr=0.003",
        "network.layers=[784, 32, 16, 10]",
    ];
    let unset = resolved(&ep).layer_config(1000);
    let mut with_rates = ep.to_vec();
    with_rates.push("algorithm.layer_lr=[0.003, 0.003, 0.003]");
    assert_eq!(unset, resolved(&with_rates).layer_config(1000));
    let rates = unset.ep.expect("ep").layer_lr;
    assert_eq!(rates, vec![0.003f32; 3]);

    // faults.panic_actor: none; faults.panic_after_batches: 1.
    assert_eq!(resolved(&[]).panic(), None);
    let panics = resolved(&["faults.panic_actor=\"layer-2\""]).panic();
    assert_eq!(panics, Some(("layer-2".to_owned(), 1)));
    let explicit = resolved(&[
        "faults.panic_actor=\"layer-2\"",
        "faults.panic_after_batches=1",
    ]);
    assert_eq!(explicit.panic(), panics);

    // convert.checkpoint: none.
    assert_eq!(resolved(&[]).convert().checkpoint, None);

    // cuba.we_mv: Brian2 writes 60 * 0.27 / 10, the same f32 as the documented 1.62.
    assert_eq!(resolved(&[]).cuba().we_mv as f32, 1.62f32);
}

/// `runtime.shards`' prose default: the workers under auto for the models that shard, else 1
/// (listed in `PROSE_DEFAULTS`).
#[test]
fn auto_shards_follow_the_model() {
    let widths = [
        "network.layers=[784, 256, 256, 10]",
        "network.layers=[784, 128, 10]",
    ];
    for (kind, layers, shards) in [
        ("cuba", widths[0], 1),
        ("microcircuit", widths[0], 3),
        ("pc", widths[0], 2),
        ("zil", widths[1], 1),
        ("bp", widths[0], 1),
    ] {
        let s = resolved(&[
            &format!("algorithm.kind={kind}"),
            layers,
            "runtime.workers=3",
        ]);
        assert_eq!(s.shards(), shards, "{kind} {layers}");
        assert!(s.setup().auto, "{kind}");
    }
    let big = [
        "algorithm.kind=cuba",
        "cuba.neurons=40000",
        "cuba.p_connect=0.002",
    ];
    assert_eq!(
        resolved(&[big[0], big[1], big[2], "runtime.workers=3"]).shards(),
        3
    );
    let named = resolved(&["runtime.executor=tokio", "runtime.workers=3"]);
    assert_eq!((named.shards(), named.setup().auto), (1, false));
}

/// Writes an IDX file of bytes with the given dimensions.
fn write_idx(path: &Path, dims: &[u32], data: &[u8]) {
    let mut bytes = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).expect("write an IDX file");
}

/// `data.train_limit`, `data.test_limit` and `data.classes` unset: every example, and the
/// largest label + 1 classes (on a 2x2 data set of 3 training and 2 test images).
#[test]
fn data_defaults_use_every_example_and_class() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let d = dir.path();
    let [train_images, train_labels, test_images, test_labels] = crate::data::dataset::FILE_NAMES;
    write_idx(&d.join(train_images), &[3, 2, 2], &[7; 12]);
    write_idx(&d.join(train_labels), &[3], &[0, 4, 1]);
    write_idx(&d.join(test_images), &[2, 2, 2], &[9; 8]);
    write_idx(&d.join(test_labels), &[2], &[2, 3]);
    let load = |sets: &[&str]| {
        let s = resolved(sets);
        let data = crate::data::dataset::Dataset::load(d, &s.data().load_options())
            .expect("the data set loads");
        (data.train.len(), data.test.len(), data.classes)
    };
    assert_eq!(load(&[]), (3, 2, 5));
    assert_eq!(
        load(&["data.train_limit=3", "data.test_limit=2", "data.classes=5"]),
        (3, 2, 5)
    );
    assert_eq!(
        load(&["data.train_limit=1", "data.test_limit=1"]),
        (1, 1, 5)
    );
}

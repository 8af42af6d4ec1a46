//! Unit tests of scenario parsing and validation, and of the accepted-value lists in the docs.

use super::*;
use crate::math::optimizer::OptimizerKind;

#[test]
fn defaults_validate_and_round_trip() {
    let s = Scenario::from_toml("").expect("defaults are valid");
    assert_eq!(s.file.network.layers, vec![784, 256, 256, 10]);
    let again = Scenario::from_toml(&s.to_toml()).expect("resolved file reloads");
    assert_eq!(again.file, s.file);
}

#[test]
fn errors_name_key_value_and_rule() {
    let e = Scenario::from_toml("[train]\nlr = nan\n").expect_err("NaN lr");
    assert_eq!(
        e.to_string(),
        "train.lr = NaN: must be a finite number > 0 (and < 1000)"
    );
    let e = Scenario::from_toml("[train]\nlr = -0.1\n").expect_err("negative lr");
    assert!(e.to_string().starts_with("train.lr = -0.1:"), "{e}");
    let e = Scenario::from_toml("[train]\nlearning_rate = 0.1\n").expect_err("unknown key");
    assert!(
        e.to_string().contains("unknown field `learning_rate`"),
        "{e}"
    );
    let e = Scenario::from_toml("[train]\nepochs = \"ten\"\n").expect_err("wrong type");
    assert!(e.to_string().contains("epochs"), "{e}");
    let e = Scenario::from_toml("[network]\nactivation = \"gelu\"\n").expect_err("unknown name");
    assert!(e.to_string().contains("relu"), "{e}");
}

#[test]
fn overrides_set_nested_keys() {
    let mut t: toml::Table = "[train]\nepochs = 3\n".parse().expect("valid toml");
    apply_override(&mut t, "train.epochs=1").expect("ok");
    apply_override(&mut t, "network.layers=[784,64,10]").expect("ok");
    apply_override(&mut t, "train.optimizer=sgd").expect("ok");
    let f: ScenarioFile = toml::Value::Table(t).try_into().expect("valid scenario");
    assert_eq!(f.train.epochs, 1);
    assert_eq!(f.network.layers, vec![784, 64, 10]);
    assert_eq!(f.train.optimizer, OptimizerKind::Sgd);
    let mut t = toml::Table::new();
    assert!(apply_override(&mut t, "train.epochs").is_err());
    assert!(apply_override(&mut t, "seed=1").is_ok());
    assert!(apply_override(&mut t, "seed.x=1").is_err());
}

#[test]
fn data_mismatch_says_both_numbers() {
    let s = Scenario::from_toml("[network]\nlayers = [100, 10]\n").expect("valid");
    let e = s.check_data(28, 28, 10).expect_err("mismatch");
    assert_eq!(
        e.to_string(),
        "network.layers[0] = 100: must equal the data's image size, 28x28 = 784 pixels"
    );
}

#[test]
fn duplicate_accepts_one_and_drop_does_not() {
    let ok = Scenario::from_toml(
        "[algorithm]\nkind = \"pc\"\n[runtime]\nschedule = \"async\"\n[faults]\nduplicate = 1.0\n",
    );
    assert!(ok.is_ok(), "{ok:?}");
    let e = Scenario::from_toml("[algorithm]\nkind = \"pc\"\n[faults]\nduplicate = 1.5\n")
        .expect_err("above 1");
    assert_eq!(
        e.to_string(),
        "faults.duplicate = 1.5: must be a probability in [0, 1]"
    );
    let e = Scenario::from_toml("[algorithm]\nkind = \"pc\"\n[faults]\ndrop = 1.0\n")
        .expect_err("every message lost");
    assert_eq!(
        e.to_string(),
        "faults.drop = 1: must be a probability in [0, 1)"
    );
}

/// Every enum-valued key: its dotted path, the source of the section file whose field
/// documents it, and that field's name.
pub(super) const ENUM_KEYS: &[(&str, &str, &str)] = &[
    (
        "network.activation",
        include_str!("network.rs"),
        "activation",
    ),
    ("network.init", include_str!("network.rs"), "init"),
    ("train.optimizer", include_str!("train.rs"), "optimizer"),
    ("train.loss", include_str!("train.rs"), "loss"),
    ("train.schedule", include_str!("train.rs"), "schedule"),
    ("algorithm.kind", include_str!("algorithm.rs"), "kind"),
    (
        "algorithm.feedback",
        include_str!("algorithm.rs"),
        "feedback",
    ),
    ("algorithm.kp_init", include_str!("algorithm.rs"), "kp_init"),
    ("runtime.executor", include_str!("runtime.rs"), "executor"),
    ("runtime.schedule", include_str!("runtime.rs"), "schedule"),
    ("compare.baseline", include_str!("compare.rs"), "baseline"),
    ("convert.input", include_str!("convert.rs"), "input"),
    (
        "microcircuit.drive",
        include_str!("microcircuit.rs"),
        "drive",
    ),
    ("faults.delay.kind", include_str!("faults.rs"), "delay"),
    ("faults.delay.unit", include_str!("faults.rs"), "delay"),
];

/// `key = "value"` as a scenario file (`a.b.c` becomes `[a.b]` and `c = ...`).
fn one_key(key: &str, value: &str) -> String {
    let (section, field) = key.rsplit_once('.').expect("a dotted key");
    format!("[{section}]\n{field} = \"{value}\"\n")
}

/// The names `key` accepts, as the parser says when given an unknown one.
pub(super) fn accepted(key: &str) -> Vec<String> {
    let e = toml::from_str::<ScenarioFile>(&one_key(key, "no-such-value"))
        .expect_err("an unknown name")
        .to_string();
    let (_, expected) = e
        .split_once("unknown variant `no-such-value`, expected")
        .unwrap_or_else(|| panic!("{key}: {e}"));
    backticked(expected.lines().next().unwrap_or_default())
}

/// The `` `name` `` spans of `text`, in order.
pub(super) fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The `///` lines above `pub FIELD:` in `source`, joined.
fn field_doc(source: &str, field: &str) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim_start().starts_with(&format!("pub {field}:")))
        .unwrap_or_else(|| panic!("no field {field}"));
    let mut doc: Vec<&str> = lines[..at]
        .iter()
        .rev()
        .map(|l| l.trim_start())
        .take_while(|l| l.starts_with("///"))
        .map(|l| l.trim_start_matches("///").trim())
        .collect();
    doc.reverse();
    doc.join(" ")
}

/// The lists `` `a` | `b` | `c` `` in a doc comment: backticked names separated by ` | `.
fn value_lists(doc: &str) -> Vec<Vec<String>> {
    let parts: Vec<&str> = doc.split('`').collect();
    let mut lists = Vec::new();
    let mut current: Vec<String> = Vec::new();
    // Odd parts are inside backticks; the even part between two names must be " | ".
    for i in (1..parts.len()).step_by(2) {
        current.push(parts[i].to_owned());
        let joined = parts.get(i + 1).is_some_and(|sep| *sep == " | ");
        if !joined {
            if current.len() > 1 {
                lists.push(std::mem::take(&mut current));
            }
            current.clear();
        }
    }
    lists
}

#[test]
fn every_documented_value_list_is_what_the_parser_accepts() {
    for &(key, source, field) in ENUM_KEYS {
        let names = accepted(key);
        assert!(names.len() >= 2, "{key}: {names:?}");
        for name in &names {
            toml::from_str::<ScenarioFile>(&one_key(key, name))
                .unwrap_or_else(|e| panic!("{key} = {name:?} is listed but rejected: {e}"));
        }
        let doc = field_doc(source, field);
        let lists = value_lists(&doc);
        assert!(
            lists.contains(&names),
            "{key}: the doc of `{field}` must list {names:?} as `a` | `b`; it lists {lists:?}: {doc}"
        );
        // Every list in the field's doc is some key's accepted values.
        for list in &lists {
            let documented = ENUM_KEYS
                .iter()
                .filter(|(_, s, f)| *f == field && std::ptr::eq(*s, source))
                .any(|(k, _, _)| accepted(k) == *list);
            assert!(
                documented,
                "{key}: `{field}` documents {list:?}, which no key accepts"
            );
        }
    }
}

#[test]
fn algorithm_names_round_trip() {
    for name in accepted("algorithm.kind") {
        let f: ScenarioFile =
            toml::from_str(&one_key("algorithm.kind", &name)).expect("an accepted name");
        assert_eq!(f.algorithm.kind.name(), name);
    }
}

/// The names an error message offers (quoted) are all accepted, and are the ones the rule
/// says: the EP activation advice names bounded activations, the EP feedback advice every
/// feedback but `direct`.
#[test]
fn names_in_error_messages_are_accepted() {
    let quoted = |text: &str| -> Vec<String> {
        text.split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    };
    let ep = "[algorithm]\nkind = \"ep\"\n";
    let e = Scenario::from_toml(ep).expect_err("relu").to_string();
    let (_, advice) = e.split_once("use ").expect("advice");
    let bounded: Vec<String> = quoted(advice);
    assert_eq!(bounded, ["hard-sigmoid", "shifted-sigmoid"], "{e}");
    for name in &bounded {
        let f: ScenarioFile =
            toml::from_str(&one_key("network.activation", name)).expect("accepted");
        assert!(f.network.activation.bounded(), "{name}");
    }
    let e = Scenario::from_toml(&format!(
        "{ep}feedback = \"direct\"\n[network]\nactivation = \"hard-sigmoid\"\n[train]\nloss = \"mse\"\n"
    ))
    .expect_err("direct")
    .to_string();
    let (_, advice) = e.split_once("use ").expect("advice");
    let mut others = accepted("algorithm.feedback");
    others.retain(|n| n != "direct");
    assert_eq!(quoted(advice), others, "{e}");
}

/// The scenario reference (docs/scenarios.md) lists, for each enum-valued key with a row, exactly the
/// accepted names (each item's leading `name`, before any `(...)` and the first `;`).
#[test]
fn the_scenario_reference_lists_the_accepted_names() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/scenarios.md"))
        .expect("docs/scenarios.md");
    for &(key, _, _) in ENUM_KEYS {
        let row_start = format!("| `{key}` |");
        let row = readme
            .lines()
            .find(|l| l.starts_with(&row_start))
            .unwrap_or_else(|| panic!("{key} has no row in the scenario reference"));
        let allowed = row.split(" | ").nth(2).expect("three cells");
        let mut flat = String::new();
        let mut depth = 0usize;
        for c in allowed.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ if depth == 0 => flat.push(c),
                _ => {}
            }
        }
        let head = flat.split(';').next().unwrap_or_default();
        let head = head.split(": ").next().unwrap_or_default();
        let mut listed = backticked(head);
        let mut names = accepted(key);
        listed.sort();
        names.sort();
        assert_eq!(listed, names, "scenario reference row of {key}: {row}");
    }
}

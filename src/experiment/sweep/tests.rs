//! Unit tests of sweep parsing, folder names, tables and plots.

use super::*;
use crate::experiment::plot::SweepAxis;

fn sweep(text: &str) -> Result<Option<Sweep>, SweepError> {
    Sweep::parse(Path::new("s.toml"), text, &[])
}

fn table_error(text: &str) -> String {
    let e = sweep(text).expect_err("a bad [sweep] table");
    assert!(e.is_bad_input(), "{e}");
    assert!(matches!(e, SweepError::Table { .. }), "{e}");
    e.to_string()
}

#[test]
fn no_sweep_table_is_none() {
    assert!(sweep("seed = 2\n").expect("valid").is_none());
}

#[test]
fn combinations_follow_file_order_first_key_outermost() {
    // Keys in file order, not sorted: "train.lr" comes before "algorithm.feedback".
    let s = sweep(
        "[algorithm]\nkind = \"pc\"\n[sweep]\n\"train.lr\" = [0.01, 0.001]\n\
         \"algorithm.feedback\" = [\"transpose\", \"random\", \"direct\"]\n",
    )
    .expect("valid")
    .expect("a sweep");
    assert_eq!(s.keys, ["train.lr", "algorithm.feedback"]);
    assert_eq!(s.combinations.len(), 6);
    let folders: Vec<&str> = s.combinations.iter().map(|c| c.folder.as_str()).collect();
    assert_eq!(
        folders,
        [
            "lr=0.01,feedback=transpose",
            "lr=0.01,feedback=random",
            "lr=0.01,feedback=direct",
            "lr=0.001,feedback=transpose",
            "lr=0.001,feedback=random",
            "lr=0.001,feedback=direct",
        ]
    );
    let c = &s.combinations[4];
    assert_eq!(c.number, 5);
    assert_eq!(c.scenario.train_config().lr, 0.001);
    assert_eq!(
        c.scenario.layer_config(0).feedback,
        crate::learn::layer::Feedback::Random
    );
    assert_eq!(c.scenario.name(), "s", "the file's stem");
    // The resolved scenario has no [sweep] table.
    assert!(!c.scenario.to_toml().contains("sweep"));
}

#[test]
fn unquoted_dotted_keys_and_seed_sweep_and_overrides() {
    let s = Sweep::parse(
        Path::new("x.toml"),
        "[sweep]\nseed = [1, 2]\ntrain.epochs = [1, 3]\n",
        &["train.lr=0.5".to_owned(), "seed=9".to_owned()],
    )
    .expect("valid")
    .expect("a sweep");
    assert_eq!(s.keys, ["seed", "train.epochs"]);
    let seeds: Vec<u64> = s.combinations.iter().map(|c| c.scenario.seed()).collect();
    assert_eq!(seeds, [1, 1, 2, 2], "the sweep's values win over --set");
    assert!(s
        .combinations
        .iter()
        .all(|c| c.scenario.train_config().lr == 0.5));
    assert_eq!(s.combinations[1].folder, "seed=1,epochs=3");
}

#[test]
fn folder_names_are_sanitised_and_distinct() {
    let v = |k: &str, t: &str| {
        (
            k.to_owned(),
            format!("v = {t}").parse::<toml::Table>().expect("toml")["v"].clone(),
        )
    };
    assert_eq!(
        folder_name(&[
            v("network.layers", "[784, 16, 10]"),
            v("train.optimizer", "\"a b/c\"")
        ]),
        "layers=784-16-10,optimizer=a_b_c"
    );
    assert_eq!(
        folder_name(&[v("a.b", "true"), v("c", "1.5")]),
        "b=true,c=1.5"
    );
    // "a/b" and "a_b" collide once sanitised: every such folder is numbered.
    let s = sweep(
        "[sweep]\n\"train.optimizer\" = [\"sgd\", \"adam\"]\n\"data.dir\" = [\"a/b\", \"a_b\"]\n",
    )
    .expect("valid")
    .expect("a sweep");
    let folders: Vec<&str> = s.combinations.iter().map(|c| c.folder.as_str()).collect();
    assert_eq!(
        folders,
        [
            "optimizer=sgd,dir=a_b-1",
            "optimizer=sgd,dir=a_b-2",
            "optimizer=adam,dir=a_b-3",
            "optimizer=adam,dir=a_b-4"
        ]
    );
}

#[test]
fn malformed_sweep_tables_are_errors() {
    assert!(table_error("sweep = 3\n").contains("must be a table"));
    assert!(table_error("[sweep]\n").contains("has no keys"));
    let e = table_error("[sweep]\n\"train.lr\" = 0.1\n");
    assert!(e.contains("\"train.lr\" = 0.1: must be an array"), "{e}");
    assert!(table_error("[sweep]\n\"train.lr\" = []\n").contains("at least one value"));
    assert!(table_error("[sweep]\nname = [\"a\", \"b\"]\n").contains("cannot be swept"));
    assert!(table_error("[sweep]\n\"sweep.x\" = [1]\n").contains("cannot be swept"));
    assert!(table_error("[sweep]\n\"train..lr\" = [1]\n").contains("dotted scenario path"));
    assert!(table_error("[sweep]\nseed = [1, 2, 1]\n").contains("listed twice"));
    let e = table_error("[sweep]\n\"train.lr\" = [0.1, 0.01]\ntrain.lr = [1.0]\n");
    assert!(e.contains("given twice"), "{e}");
    let many: Vec<String> = (0..101).map(|i| i.to_string()).collect();
    let e = table_error(&format!(
        "[sweep]\nseed = [{0}]\n\"train.epochs\" = [{0}]\n",
        many.join(", ")
    ));
    assert!(
        e.contains("10201 combinations (101 x 101): at most 10000"),
        "{e}"
    );
}

#[test]
fn a_bad_value_names_its_combination_key_and_value() {
    let e = sweep("[sweep]\n\"train.epochs\" = [1, 2]\n\"train.lr\" = [0.1, -1.0]\n")
        .expect_err("negative lr");
    assert!(e.is_bad_input());
    assert_eq!(
        e.to_string(),
        "[sweep] combination 2 of 4 (train.epochs = 1, train.lr = -1.0): \
         train.lr = -1: must be a finite number > 0 (and < 1000)"
    );
    let e = sweep("[sweep]\n\"algorithm.feedback\" = [\"transpose\", \"mirror\"]\n")
        .expect_err("unknown variant");
    let text = e.to_string();
    assert!(
        text.starts_with("[sweep] combination 2 of 2 (algorithm.feedback = \"mirror\"):")
            && text.contains("unknown variant `mirror`"),
        "{text}"
    );
    let e = sweep("[sweep]\n\"train.nope\" = [1]\n").expect_err("unknown key");
    assert!(e.to_string().contains("unknown field `nope`"), "{e}");
    let e = sweep("seed = 1\n[sweep]\n\"seed.x\" = [1]\n").expect_err("seed is a value");
    assert!(
        e.to_string()
            .ends_with("seed.x = 1: seed is a value, not a section"),
        "{e}"
    );
}

#[test]
fn loading_a_sweep_as_one_scenario_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.toml");
    std::fs::write(&path, "[sweep]\nseed = [1, 2]\n").expect("write");
    let e = Scenario::load(&path, &[]).expect_err("a sweep file");
    assert!(matches!(e, ScenarioError::HasSweep { .. }), "{e}");
    assert!(e.to_string().contains("[sweep] table"), "{e}");
}

fn row(number: usize, values: &[(&str, serde_json::Value)], acc: &[(&str, f64)]) -> SweepRow {
    SweepRow {
        combination: number,
        folder: String::new(),
        values: values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        status: RowStatus::Complete,
        error: None,
        algorithm: "pc".to_owned(),
        models: acc
            .iter()
            .map(|(m, a)| {
                (
                    (*m).to_owned(),
                    ModelRow {
                        test_accuracy: Some(*a),
                        epochs: 1,
                        wall_s: 0.5,
                    },
                )
            })
            .collect(),
        weight_transport_bytes: Some(2_500_000),
        messages: Some(42),
        bytes: Some(9_000_000),
        run_s: Some(1.0),
    }
}

#[test]
fn markdown_has_a_row_per_combination_and_model() {
    use serde_json::json;
    let keys = ["algorithm.feedback".to_owned()];
    let mut failed = row(2, &[("algorithm.feedback", json!("random"))], &[]);
    failed.status = RowStatus::Failed;
    failed.error = Some("stalled | for 10 s\nthen gave up".to_owned());
    let rows = [
        row(
            1,
            &[("algorithm.feedback", json!("transpose"))],
            &[("bp", 0.91), ("pc", 0.9)],
        ),
        failed,
    ];
    let md = markdown(&keys, &rows);
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(lines.len(), 5, "{md}");
    assert_eq!(
        lines[0],
        "| # | algorithm.feedback | model | test acc | epochs | train s | weight transport | messages | bytes | status |"
    );
    assert_eq!(
        lines[2],
        "| 1 | transpose | bp | 0.9100 | 1 | 0.50 | - | - | - | complete |"
    );
    assert_eq!(
        lines[3],
        "| 1 | transpose | pc | 0.9000 | 1 | 0.50 | 2.5 MB | 42 | 9.0 MB | complete |"
    );
    assert!(
        lines[4].starts_with("| 2 | random | - |")
            && lines[4].ends_with("failed: stalled \\| for 10 s then gave up |"),
        "{}",
        lines[4]
    );
}

/// The feedback x seed sweep of the plot tests, and a complete row per combination holding
/// `acc(combination)` (model, accuracy) pairs.
fn feedback_by_seed(
    acc: impl Fn(&Combination) -> Vec<(&'static str, f64)>,
) -> (Sweep, Vec<SweepRow>) {
    let s = sweep("[algorithm]\nkind = \"pc\"\n[sweep]\n\"algorithm.feedback\" = [\"random\", \"direct\"]\nseed = [2, 1]\n")
        .expect("valid")
        .expect("a sweep");
    let rows = s
        .combinations
        .iter()
        .map(|c| {
            let values: Vec<(&str, serde_json::Value)> = c
                .values
                .iter()
                .map(|(k, v)| (k.as_str(), toml_to_json(v)))
                .collect();
            row(c.number, &values, &acc(c))
        })
        .collect();
    (s, rows)
}

#[test]
fn plot_series_split_by_model_and_other_keys() {
    let (s, rows) = feedback_by_seed(|c| vec![("pc", 0.5 + c.number as f64 / 10.0)]);
    let (axis, series) = s.plot_series(0, &rows);
    assert_eq!(
        axis,
        SweepAxis::Categorical(vec!["random".into(), "direct".into()])
    );
    let labels: Vec<&str> = series.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, ["pc, seed=2", "pc, seed=1"]);
    assert_eq!(series[0].points, [(0.0, 0.6), (1.0, 0.8)]);
    let (axis, series) = s.plot_series(1, &rows);
    assert_eq!(axis, SweepAxis::Numeric(vec![2.0, 1.0]));
    // Sorted by x: seed 1 (combination 2) before seed 2 (combination 1).
    assert_eq!(series[0].label, "pc, feedback=random");
    assert_eq!(series[0].points, [(1.0, 0.7), (2.0, 0.6)]);
}

#[test]
fn a_model_that_the_other_keys_leave_unchanged_draws_one_line() {
    let (s, rows) = feedback_by_seed(|c| {
        let bp = if c.values[0].1.as_str() == Some("random") {
            0.97
        } else {
            0.96
        };
        vec![("bp", bp), ("pc", 0.5 + c.number as f64 / 10.0)]
    });
    let (_, series) = s.plot_series(0, &rows);
    let labels: Vec<&str> = series.iter().map(|s| s.label.as_str()).collect();
    // bp is the same for either seed here: one line, named for the model alone.
    assert_eq!(labels, ["bp", "pc, seed=2", "pc, seed=1"]);
    assert_eq!(series[0].points, [(0.0, 0.97), (1.0, 0.96)]);
}

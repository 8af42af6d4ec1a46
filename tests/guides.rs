//! The guides in `docs/guides/` are worked examples, and their commands run here: every `sh`
//! block of a guide is a shell script run in a scratch folder holding a copy of `scenarios/`
//! and the shipped `data/`, with the `axon` that `cargo test` built first on the `PATH`. Each
//! `axon` command (but `axon trace`) gets the arguments of the `<!-- small: ARGS -->` comment
//! just above its block appended (a subset of MNIST, one epoch, a short simulation: the CLI
//! lets a repeated flag take its last value). The script must exit 0, and every path on a
//! `# writes: A, B` line of the block (separated by a comma and a space: folder names may hold
//! commas) must exist afterwards. A `text` block below a `sh` block (with only prose between)
//! shows what that block prints: each of its lines must keep its shape in the block's real
//! output (the same words, labels and units; any number stands for any number, `...` for
//! anything, and a line of only `...` elides lines).
mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// One `sh` block of a guide (a default one, with no script, stands for another kind of block).
#[derive(Debug, Default)]
struct Block {
    /// 1-based line of the opening fence, for messages.
    line: usize,
    /// The block as run: `axon` lines with the small arguments appended.
    script: String,
    /// Files the block says it writes.
    writes: Vec<String>,
    /// The lines of the `text` blocks below it: what it prints, in shape.
    shown: Vec<String>,
}

/// The `sh` blocks of `markdown`, with their small arguments applied.
fn blocks(markdown: &str) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    let mut small: Option<String> = None;
    let mut lines = markdown.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        let t = line.trim();
        if let Some(args) = t
            .strip_prefix("<!-- small:")
            .and_then(|r| r.strip_suffix("-->"))
        {
            small = Some(args.trim().to_string());
            continue;
        }
        if t == "```text" {
            let shown: Vec<String> = lines
                .by_ref()
                .map(|(_, l)| l)
                .take_while(|l| l.trim() != "```")
                .map(str::to_owned)
                .collect();
            if let Some(block) = out.last_mut() {
                block.shown.extend(shown);
            }
            continue;
        }
        if t.starts_with("```") && t != "```sh" {
            // Another block (json, python): what follows no longer shows the sh block's output.
            lines.by_ref().find(|(_, l)| l.trim() == "```");
            out.push(Block::default());
            continue;
        }
        if t != "```sh" {
            if !t.is_empty() {
                small = None; // a small comment belongs to the block right below it
            }
            continue;
        }
        let args = small.take().unwrap_or_default();
        let mut block = Block {
            line: i + 1,
            ..Block::default()
        };
        for (_, l) in lines.by_ref() {
            if l.trim() == "```" {
                break;
            }
            if let Some(files) = l.trim().strip_prefix("# writes:") {
                block
                    .writes
                    .extend(files.split(", ").map(|f| f.trim().to_string()));
            }
            block.script.push_str(l);
            if l.starts_with("axon ") && !l.starts_with("axon trace ") && !args.is_empty() {
                block.script.push(' ');
                block.script.push_str(&args);
            }
            block.script.push('\n');
        }
        out.push(block);
    }
    out.retain(|b| !b.script.is_empty());
    out
}

/// A line's shape: whitespace runs made one space, each number (with its sign, thousands
/// commas, decimals and exponent) and each long hexadecimal token (a URL's token) made `#`.
fn shape(line: &str) -> String {
    let words: Vec<String> = line
        .split_whitespace()
        .map(|w| {
            let hex = w.len() >= 16 && w.chars().all(|c| c.is_ascii_hexdigit());
            if hex {
                return "#".to_owned();
            }
            let w = match w.split_once("token=") {
                Some((a, b)) if b.len() >= 16 => format!("{a}token=#{}", &b[32.min(b.len())..]),
                _ => w.to_owned(),
            };
            numbers_hashed(&w)
        })
        .collect();
    words.join(" ")
}

/// `w` with each number made `#`.
fn numbers_hashed(w: &str) -> String {
    let c: Vec<char> = w.chars().collect();
    let (mut out, mut i) = (String::new(), 0);
    while i < c.len() {
        let signed = (c[i] == '-' || c[i] == '+')
            && c.get(i + 1).is_some_and(char::is_ascii_digit)
            && (i == 0 || c[i - 1] == '(');
        if !(c[i].is_ascii_digit() || signed) {
            out.push(c[i]);
            i += 1;
            continue;
        }
        i += 1;
        while i < c.len() {
            let next_digit = c.get(i + 1).is_some_and(char::is_ascii_digit);
            let joins = ((c[i] == ',' || c[i] == '.') && next_digit)
                || (c[i] == 'e' && (next_digit || c.get(i + 1) == Some(&'-')))
                || ((c[i] == '-' || c[i] == '+') && c[i - 1] == 'e' && next_digit);
            if c[i].is_ascii_digit() || joins {
                i += 1;
            } else {
                break;
            }
        }
        out.push('#');
    }
    out
}

/// Whether a shown line's shape (`...` matching anything) matches a printed line's.
fn shape_matches(shown: &str, printed: &str) -> bool {
    let parts: Vec<&str> = shown.split("...").map(str::trim).collect();
    let Some((first, rest)) = parts.split_first() else {
        return false;
    };
    let Some(mut left) = printed.strip_prefix(first) else {
        return false;
    };
    if rest.is_empty() {
        return left.is_empty();
    }
    for (k, part) in rest.iter().enumerate() {
        if k + 1 == rest.len() {
            return left.trim_end().ends_with(part);
        }
        match left.find(part) {
            Some(at) => left = &left[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// The shown lines of `block` whose shape is in none of the printed lines.
fn unshown<'b>(block: &'b Block, printed: &str) -> Vec<&'b str> {
    let printed: Vec<String> = printed.lines().map(shape).collect();
    block
        .shown
        .iter()
        .filter(|l| !matches!(l.trim(), "" | "..."))
        .filter(|l| !printed.iter().any(|p| shape_matches(&shape(l), p)))
        .map(String::as_str)
        .collect()
}

/// A scratch folder laid out like the repository root for the guides' commands.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir(&scenarios).expect("scenarios dir");
    for entry in std::fs::read_dir(common::root().join("scenarios")).expect("scenarios/") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, scenarios.join(path.file_name().expect("name"))).expect("copy");
    }
    std::os::unix::fs::symlink(common::root().join("data"), dir.path().join("data"))
        .expect("link data/");
    dir
}

/// Runs every `sh` block of `docs/guides/NAME.md` and checks each results.json path the
/// guide names; returns how many blocks ran and the results.json files they wrote.
fn run_guide(name: &str) -> (usize, Vec<Value>) {
    let path = common::root()
        .join("docs/guides")
        .join(format!("{name}.md"));
    let markdown = std::fs::read_to_string(&path).expect("guide");
    let dir = scratch();
    let bin = Path::new(env!("CARGO_BIN_EXE_axon"));
    let path_var = format!(
        "{}:{}",
        bin.parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let found = blocks(&markdown);
    for block in &found {
        let out = Command::new("sh")
            .args(["-e", "-c", &block.script])
            .current_dir(dir.path())
            .env("PATH", &path_var)
            .output()
            .expect("sh runs");
        assert!(
            out.status.success(),
            "docs/guides/{name}.md:{}: the block failed ({})\n--- script\n{}--- stdout\n{}--- stderr\n{}",
            block.line,
            out.status,
            block.script,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let missing = unshown(block, &printed);
        assert!(
            missing.is_empty(),
            "docs/guides/{name}.md:{}: the guide shows lines that the block prints in no such shape:\n{}\n--- printed\n{printed}",
            block.line,
            missing.join("\n")
        );
        for file in &block.writes {
            assert!(
                dir.path().join(file).exists(),
                "docs/guides/{name}.md:{}: the block says it writes {file}, which is missing",
                block.line
            );
        }
    }
    let results = results_under(dir.path());
    let unknown = unresolved(
        &named_paths(&markdown, |l| l.contains("results.json")),
        &results,
    );
    assert!(
        unknown.is_empty(),
        "docs/guides/{name}.md names results.json paths that no results.json its commands wrote holds: {unknown:?}"
    );
    (found.len(), results)
}

/// Every results.json under `dir`, parsed.
fn results_under(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(results_under(&path));
        } else if path.file_name().is_some_and(|n| n == "results.json") {
            let text = std::fs::read_to_string(&path).expect("results.json");
            out.push(serde_json::from_str(&text).expect("results.json parses"));
        }
    }
    out
}

/// The dotted paths in backticks (`traffic.per_kind`, `pc[].tick_rates`) on the lines of
/// `text` that `keep` accepts.
fn named_paths(text: &str, keep: impl Fn(&str) -> bool) -> Vec<String> {
    let segment = |g: &str| {
        let g = g.strip_suffix("[]").unwrap_or(g);
        g.starts_with(|c: char| c.is_ascii_lowercase())
            && g.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let mut out: Vec<String> = Vec::new();
    for line in text.lines().filter(|l| keep(l)) {
        for (k, tok) in line.split('`').enumerate() {
            let dotted = tok.split('.').count() >= 2 && tok.split('.').all(segment);
            let file = [".md", ".json", ".jsonl", ".png", ".toml", ".safetensors"]
                .iter()
                .any(|x| tok.ends_with(x));
            if k % 2 == 1 && dotted && !file && !out.iter().any(|o| o == tok) {
                out.push(tok.to_owned());
            }
        }
    }
    out
}

/// Whether `path` (segments; `x[]` an array) is in `v`: an array holds it when an element does.
fn resolves(v: &Value, path: &[&str]) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return true;
    };
    match v {
        Value::Array(items) => items.iter().any(|i| resolves(i, path)),
        Value::Object(map) => {
            let key = first.strip_suffix("[]").unwrap_or(first);
            let wild = key == "*";
            map.iter()
                .filter(|(k, _)| wild || k.as_str() == key)
                .any(|(_, v)| resolves(v, rest))
        }
        _ => false,
    }
}

/// The `paths` that resolve in none of `results`, from the top or from a model's entry.
fn unresolved(paths: &[String], results: &[Value]) -> Vec<String> {
    paths
        .iter()
        .filter(|p| {
            let segs: Vec<&str> = p.split('.').collect();
            let in_model: Vec<&str> = ["models", "*"]
                .into_iter()
                .chain(segs.iter().copied())
                .collect();
            !results
                .iter()
                .any(|r| resolves(r, &segs) || resolves(r, &in_model))
        })
        .cloned()
        .collect()
}

/// The key paths of a JSON example, `models.*` standing for any model's name.
fn key_paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let k = if prefix == "models" { "*" } else { k.as_str() };
                let p = if prefix.is_empty() {
                    k.to_owned()
                } else {
                    format!("{prefix}.{k}")
                };
                key_paths(v, &p, out);
                out.push(p);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| key_paths(i, prefix, out)),
        _ => {}
    }
}

/// Every guide, each in a thread of its own; then the run folder reference against every
/// results.json the guides' commands wrote.
#[test]
fn the_guides_run_and_the_run_folder_reference_names_what_they_write() {
    let guides = [
        ("locality", 4),
        ("tracing", 3),
        ("stress", 6),
        ("spiking", 4),
        ("watching", 4),
    ];
    let results: Vec<Value> = std::thread::scope(|s| {
        let runs: Vec<_> = guides
            .iter()
            .map(|&(name, least)| (name, least, s.spawn(move || run_guide(name))))
            .collect();
        let mut all = Vec::new();
        for (name, least, run) in runs {
            let (blocks, results) = run
                .join()
                .unwrap_or_else(|_| panic!("the {name} guide failed (above)"));
            assert!(
                blocks >= least,
                "{name}: {blocks} blocks ran, fewer than {least}"
            );
            all.extend(results);
        }
        all
    });
    // The reference's example is bp-mnist's, which no guide runs.
    let (mut results, bp) = (results, tempfile::tempdir().expect("temp dir"));
    let out = bp.path().join("bp");
    let small = "--set data.train_limit=512 --set data.test_limit=256 --set train.epochs=1";
    let mut args = vec![
        "run",
        "scenarios/bp-mnist.toml",
        "-q",
        "--out",
        out.to_str().expect("utf-8"),
    ];
    args.extend(small.split(' '));
    assert!(common::axon(&args).status.success(), "bp-mnist runs");
    results.extend(results_under(bp.path()));
    let reference =
        std::fs::read_to_string(common::root().join("docs/run-folder.md")).expect("run-folder.md");
    let section = reference
        .split_once("`results.json`:")
        .and_then(|(_, r)| r.split_once("### Checkpoints"))
        .map(|(s, _)| s)
        .expect("run-folder.md's results.json section");
    let scenario_keys =
        std::fs::read_to_string(common::root().join("docs/scenarios.md")).expect("scenarios.md");
    let named: Vec<String> = named_paths(section, |_| true)
        .into_iter()
        .filter(|p| !scenario_keys.contains(&format!("`{p}`")))
        .collect();
    let unknown = unresolved(&named, &results);
    assert!(
        unknown.is_empty(),
        "docs/run-folder.md names results.json paths that no guide's run wrote: {unknown:?}"
    );
    let example = section
        .split_once("```json")
        .and_then(|(_, r)| r.split_once("```"))
        .map(|(j, _)| j)
        .expect("the example");
    let example: Value = serde_json::from_str(example).expect("the example parses");
    let mut keys = Vec::new();
    key_paths(&example, "", &mut keys);
    let unknown = unresolved(&keys, &results);
    assert!(
        unknown.is_empty(),
        "docs/run-folder.md's example has keys that no guide's run wrote: {unknown:?}"
    );
}

/// Every guide is run above and listed in the guides' index, and the README links the index.
#[test]
fn every_guide_is_run_and_listed() {
    let tested = ["locality", "tracing", "stress", "spiking", "watching"]; // run above
    let dir = common::root().join("docs/guides");
    let index = std::fs::read_to_string(dir.join("README.md")).expect("guides index");
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .expect("docs/guides")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md") && n != "README.md")
        .collect();
    found.sort();
    let mut expected: Vec<String> = tested.iter().map(|n| format!("{n}.md")).collect();
    expected.sort();
    assert_eq!(
        found, expected,
        "a guide without a test (or a test without a guide)"
    );
    for file in &expected {
        assert!(
            index.contains(&format!("]({file})")),
            "{file} is not in the index"
        );
    }
    let readme = std::fs::read_to_string(common::root().join("README.md")).expect("README");
    assert!(readme.contains("docs/guides/README.md"));
}

/// The parser: small arguments go on `axon` lines (not `axon trace`), writes are collected,
/// and a comment separated from its block by prose is not applied.
#[test]
fn guide_blocks_are_read_as_documented() {
    let md = "<!-- small: --epochs 1 -->\n```sh\naxon bench bp\naxon trace summarize t\n# writes: a, b/c=1,d=2\n```\n\n<!-- small: --x -->\nprose\n```sh\naxon run f\n```\n";
    let b = blocks(md);
    assert_eq!(b.len(), 2);
    assert_eq!(
        b[0].script,
        "axon bench bp --epochs 1\naxon trace summarize t\n# writes: a, b/c=1,d=2\n"
    );
    assert_eq!(b[0].writes, ["a", "b/c=1,d=2"]);
    assert_eq!(b[0].line, 2);
    assert_eq!(b[1].script, "axon run f\n");
}

/// Shapes: numbers of any form match numbers, words must be equal, `...` matches anything.
#[test]
fn shown_lines_are_matched_by_shape() {
    let shape_of = |s: &str| shape(s);
    assert_eq!(
        shape_of("cuba: 4000 neurons, 21,446 spikes (5.36 Hz) in 0.021 s (+0.016 s)"),
        "cuba: # neurons, # spikes (# Hz) in # s (# s)"
    );
    assert_eq!(shape_of("layer-1   -4.2e-3 %"), "layer-# # %");
    assert_eq!(
        shape_of("at http://127.0.0.1:40179/?token=5f12f68f2ad6237e3bf87e46cbd78138"),
        "at http://#:#/?token=#"
    );
    assert!(shape_matches("a # b", "a # b"));
    assert!(!shape_matches("a # b", "a # b c"));
    assert!(shape_matches(
        "live at ... (axon view)",
        "live at http://x/?token=# (axon view)"
    ));
    assert!(!shape_matches("live at ... (axon view)", "live at x"));
    let md = "```sh\naxon run x\n```\nprose\n```text\nx: 1 spike\n...\n```\n```json\n{}\n```\n```text\nnot x\n```\n";
    let b = blocks(md);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].shown, ["x: 1 spike", "..."]);
    assert_eq!(unshown(&b[0], "x: 20 spike\n"), Vec::<&str>::new());
    assert_eq!(unshown(&b[0], "x: 20 spikes\n"), ["x: 1 spike"]);
}

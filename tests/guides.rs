//! The guides in `docs/guides/` are worked examples, and their commands run here: every `sh`
//! block of a guide is a shell script run in a scratch folder holding a copy of `scenarios/`
//! and the shipped `data/`, with the `axon` that `cargo test` built first on the `PATH`. Each
//! `axon` command (but `axon trace`) gets the arguments of the `<!-- small: ARGS -->` comment
//! just above its block appended (a subset of MNIST, one epoch, a short simulation: the CLI
//! lets a repeated flag take its last value). The script must exit 0, and every path on a
//! `# writes: A, B` line of the block (separated by a comma and a space: folder names may hold
//! commas) must exist afterwards.
mod common;

use std::path::Path;
use std::process::Command;

/// One `sh` block of a guide.
#[derive(Debug)]
struct Block {
    /// 1-based line of the opening fence, for messages.
    line: usize,
    /// The block as run: `axon` lines with the small arguments appended.
    script: String,
    /// Files the block says it writes.
    writes: Vec<String>,
}

/// The `sh` blocks of `markdown`, with their small arguments applied.
fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
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
        if t != "```sh" {
            if !t.is_empty() {
                small = None; // a small comment belongs to the block right below it
            }
            continue;
        }
        let args = small.take().unwrap_or_default();
        let mut block = Block {
            line: i + 1,
            script: String::new(),
            writes: Vec::new(),
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
    out
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

/// Runs every `sh` block of `docs/guides/NAME.md`; returns how many ran.
fn run_guide(name: &str) -> usize {
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
        for file in &block.writes {
            assert!(
                dir.path().join(file).exists(),
                "docs/guides/{name}.md:{}: the block says it writes {file}, which is missing",
                block.line
            );
        }
    }
    found.len()
}

#[test]
fn the_locality_guide_runs() {
    assert!(run_guide("locality") >= 4);
}

#[test]
fn the_tracing_guide_runs() {
    assert!(run_guide("tracing") >= 3);
}

#[test]
fn the_stress_guide_runs() {
    assert!(run_guide("stress") >= 6);
}

#[test]
fn the_spiking_guide_runs() {
    assert!(run_guide("spiking") >= 4);
}

#[test]
fn the_watching_guide_runs() {
    assert!(run_guide("watching") >= 4);
}

/// Every guide is run above and listed in the guides' index, and the README links the index.
#[test]
fn every_guide_is_run_and_listed() {
    let tested = ["locality", "tracing", "stress", "spiking", "watching"];
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

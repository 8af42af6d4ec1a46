//! The maps of the source tree cannot drift from it: the crate-level doc in `src/lib.rs` and
//! the tree in `docs/architecture.md` name every module of every top-level folder, and every
//! file opens with a `//!` line saying what it owns.
mod common;

use std::path::Path;

/// The modules under `src/DIR/`: its files (less `mod.rs` and `tests.rs`) and folders.
fn children(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .expect("src folder")
        .map(|e| e.expect("entry").path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            match name.strip_suffix(".rs") {
                Some("mod" | "tests") => None,
                Some(stem) => Some(stem.to_string()),
                None if p.is_dir() && name != "tests" => Some(name),
                None => None,
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The top-level modules: `src/*/` folders and `src/*.rs` files but `lib` and `main`.
fn top_level() -> Vec<String> {
    let mut top = children(&common::root().join("src"));
    top.retain(|m| m != "lib" && m != "main" && m != "cli");
    top
}

#[test]
fn the_crate_doc_maps_every_module() {
    let lib = std::fs::read_to_string(common::root().join("src/lib.rs")).expect("lib.rs");
    let map: Vec<&str> = lib.lines().take_while(|l| l.starts_with("//!")).collect();
    let map = map.join("\n");
    // Each top-level module has a bullet `- [`name`]:` followed by its children.
    for top in top_level() {
        let start = map
            .find(&format!("- [`{top}`]"))
            .unwrap_or_else(|| panic!("src/lib.rs's layout map has no bullet for {top}"));
        let rest = &map[start + 3..];
        let bullet = &rest[..rest.find("\n//! - ").unwrap_or(rest.len())];
        let dir = common::root().join("src").join(&top);
        if !dir.is_dir() {
            continue;
        }
        for child in children(&dir) {
            assert!(
                bullet.contains(&format!("`{child}`")),
                "src/lib.rs's layout map does not name {top}::{child} in {top}'s bullet"
            );
        }
    }
}

#[test]
fn the_architecture_tree_names_every_module() {
    let arch = std::fs::read_to_string(common::root().join("docs/architecture.md"))
        .expect("docs/architecture.md");
    let tree_start = arch.find("```text\nsrc/").expect("the tree block");
    let tree = &arch[tree_start..];
    let tree = &tree[..tree[8..].find("```").expect("end of the tree") + 8];
    for top in top_level().into_iter().chain(["cli".to_string()]) {
        assert!(
            tree.contains(&top),
            "docs/architecture.md's tree lacks {top}"
        );
        let dir = common::root().join("src").join(&top);
        if !dir.is_dir() {
            continue;
        }
        for child in children(&dir) {
            assert!(
                tree.contains(&child),
                "docs/architecture.md's tree does not name {top}/{child}"
            );
        }
    }
}

#[test]
fn every_source_file_says_what_it_owns() {
    fn walk(dir: &Path, bad: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("src folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, bad);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("source");
                if !text.trim_start().starts_with("//!") {
                    bad.push(path.display().to_string());
                }
            }
        }
    }
    let mut bad = Vec::new();
    walk(&common::root().join("src"), &mut bad);
    assert!(
        bad.is_empty(),
        "files without a leading `//!` line: {bad:?}"
    );
}

//! The import graph of `src/` keeps its shape: no cycle between files, and every import
//! points down the layers (`state`/`io` at the bottom, then the maths, data, the runtime, the
//! errors of a run, the message vocabulary, the cluster, learning, the spiking core, the
//! models, experiments, the benchmarks, and the CLI on top), so the spiking core imports no
//! model and the runtime no learning rule.
//!
//! An edge A -> B exists when a file A names a `crate::`, `super::` or `self::` path that
//! resolves to an item defined in file B (following `pub use` re-exports to the file that
//! defines the item). Unit-test code (`tests.rs` files and `#[cfg(test)] mod` blocks) is left
//! out: tests may look anywhere. The same scan checks that a run's actors are read through
//! the handles their network gave out, not type-tested outside the runtime.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level modules from the bottom up: a file may import only from its own top-level
/// module or from one listed before it.
const LAYERS: &[&str] = &[
    "state",
    "io",
    "math",
    "data",
    "runtime",
    "run_error",
    "message",
    "cluster",
    "learn",
    "spike",
    "models",
    "experiment",
    "bench",
    "cli",
];

/// One source file: its module path (`["learn", "coordinator"]`) and its code less comments,
/// strings and unit tests.
struct Source {
    module: Vec<String>,
    code: String,
}

/// Every `.rs` file under `src/` but unit-test files, by path relative to `src/`.
fn sources() -> BTreeMap<String, Source> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, Source>) {
        for entry in std::fs::read_dir(dir).expect("src folder") {
            let path = entry.expect("entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if name != "tests" {
                    walk(&path, root, out);
                }
            } else if name.ends_with(".rs") && name != "tests.rs" {
                let rel = path.strip_prefix(root).expect("under src").to_path_buf();
                let text = std::fs::read_to_string(&path).expect("source");
                let code = drop_test_blocks(&strip_comments_and_strings(&text));
                out.insert(
                    slash(&rel),
                    Source {
                        module: module_of(&rel),
                        code,
                    },
                );
            }
        }
    }
    let root = common::root().join("src");
    let mut out = BTreeMap::new();
    walk(&root, &root, &mut out);
    out
}

fn slash(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// `learn/coordinator/mod.rs` -> `["learn", "coordinator"]`; `lib.rs`, `main.rs` -> `[]`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = slash(&rel.with_extension(""))
        .split('/')
        .map(String::from)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code with comments, string literals and character literals blanked out.
fn strip_comments_and_strings(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let (mut out, mut i) = (String::with_capacity(b.len()), 0);
    while i < b.len() {
        let next = b.get(i + 1).copied();
        if b[i] == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if b[i] == '/' && next == Some('*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == '*' && b[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if b[i] == 'r'
            && matches!(next, Some('#' | '"'))
            && !ident_char(b.get(i.wrapping_sub(1)))
        {
            let hashes = b[i + 1..].iter().take_while(|&&c| c == '#').count();
            if b.get(i + 1 + hashes) != Some(&'"') {
                out.push(b[i]);
                i += 1;
                continue;
            }
            i += 2 + hashes;
            while i < b.len()
                && !(b[i] == '"'
                    && b[i + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&c| c == '#')
                        .count()
                        == hashes)
            {
                i += 1;
            }
            i += 1 + hashes;
            out.push_str("\"\"");
        } else if b[i] == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                i += if b[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == '\'' && next == Some('\\') {
            i += 2;
            while i < b.len() && b[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else if b[i] == '\'' && b.get(i + 2) == Some(&'\'') {
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn ident_char(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// The code without `#[cfg(test)] mod NAME { ... }` blocks.
fn drop_test_blocks(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        let head = after.trim_start();
        let is_mod = head.starts_with("mod ")
            || head.starts_with("pub mod ")
            || head.starts_with("pub(crate) mod ");
        match (is_mod, after.find(['{', ';'])) {
            (true, Some(open)) if after.as_bytes()[open] == b'{' => {
                let mut depth = 0usize;
                let mut end = after.len();
                for (k, ch) in after[open..].char_indices() {
                    depth = match ch {
                        '{' => depth + 1,
                        '}' => depth - 1,
                        _ => depth,
                    };
                    if depth == 0 {
                        end = open + k + 1;
                        break;
                    }
                }
                rest = &after[end..];
            }
            _ => rest = after,
        }
    }
    out.push_str(rest);
    out
}

/// The paths a file names: `crate::a::{b, c::d}` expanded into `crate::a::b`, `crate::a::c::d`.
fn paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let start_ok = !ident_char(chars.get(i.wrapping_sub(1))) && (i == 0 || chars[i - 1] != ':');
        let word: String = chars[i..]
            .iter()
            .take_while(|c| ident_char(Some(c)))
            .collect();
        if start_ok
            && matches!(word.as_str(), "crate" | "super" | "self")
            && chars[i + word.len()..].starts_with(&[':', ':'])
        {
            let (tree, len) = read_tree(&chars[i..]);
            expand(&tree, &mut out);
            i += len.max(1);
        } else {
            i += word.len().max(1);
        }
    }
    out
}

/// A path with its brace groups, from the start of `chars`; and how many chars it took.
fn read_tree(chars: &[char]) -> (String, usize) {
    let (mut depth, mut tree, mut i) = (0usize, String::new(), 0);
    while i < chars.len() {
        let c = chars[i];
        let in_path = ident_char(Some(&c)) || c == ':' || c == '*';
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            _ if depth > 0 || in_path => {}
            _ => break,
        }
        if !(c.is_whitespace() && depth == 0) {
            tree.push(c);
        }
        i += 1;
        if depth == 0 && c == '}' {
            break;
        }
    }
    (tree, i)
}

/// `a::{b, c::{d, e}}` -> `a::b`, `a::c::d`, `a::c::e` (appended to `out`).
fn expand(tree: &str, out: &mut Vec<String>) {
    let Some(open) = tree.find('{') else {
        let p = tree
            .split(" as ")
            .next()
            .unwrap_or(tree)
            .trim()
            .trim_end_matches("::*")
            .trim_end_matches(':');
        out.push(p.split_whitespace().collect());
        return;
    };
    let (prefix, inner) = (
        &tree[..open],
        &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())],
    );
    let mut depth = 0;
    let mut part = String::new();
    for c in inner.chars().chain([',']) {
        match c {
            ',' if depth == 0 => {
                if !part.trim().is_empty() {
                    expand(&format!("{prefix}{}", part.trim()), out);
                }
                part.clear();
                continue;
            }
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        part.push(c);
    }
}

/// The crate-rooted segments of `path` named in module `module`.
fn absolute(module: &[String], path: &str) -> Vec<String> {
    let mut segs: Vec<String> = path
        .split("::")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let mut base: Vec<String> = match segs.first().map(String::as_str) {
        Some("crate") => {
            segs.remove(0);
            Vec::new()
        }
        _ => module.to_vec(),
    };
    while let Some(s) = segs.first() {
        match s.as_str() {
            "super" => {
                base.pop();
            }
            "self" => {}
            _ => break,
        }
        segs.remove(0);
    }
    base.extend(segs);
    base
}

/// The import graph: file -> the files it imports from.
fn graph(src: &BTreeMap<String, Source>) -> BTreeMap<String, BTreeSet<String>> {
    let by_module: BTreeMap<&[String], &str> = src
        .iter()
        .filter(|(f, _)| f.as_str() != "main.rs")
        .map(|(f, s)| (s.module.as_slice(), f.as_str()))
        .collect();
    let cli: BTreeMap<&[String], &str> = src
        .iter()
        .filter(|(f, _)| f.starts_with("cli/") || *f == "main.rs")
        .map(|(f, s)| (s.module.as_slice(), f.as_str()))
        .collect();
    let mut g = BTreeMap::new();
    for (file, s) in src {
        let modules = if file.starts_with("cli/") || file == "main.rs" {
            &cli
        } else {
            &by_module
        };
        let mut to = BTreeSet::new();
        for p in paths(&s.code) {
            if let Some(target) = resolve(src, modules, &absolute(&s.module, &p), 0) {
                if target != *file {
                    to.insert(target);
                }
            }
        }
        g.insert(file.clone(), to);
    }
    g
}

/// The file defining the item at `full`: the longest module prefix, then through its
/// `pub use` re-exports (a few hops at most).
fn resolve(
    src: &BTreeMap<String, Source>,
    modules: &BTreeMap<&[String], &str>,
    full: &[String],
    hops: usize,
) -> Option<String> {
    let k = (0..=full.len())
        .rev()
        .find(|&k| modules.contains_key(&full[..k]))?;
    let file = modules[&full[..k]];
    let Some(item) = full.get(k) else {
        return Some(file.to_string());
    };
    if hops < 4 {
        let s = &src[file];
        for stmt in s.code.split(';') {
            let stmt = stmt.trim();
            let Some(tree) = stmt
                .strip_prefix("pub use ")
                .or_else(|| stmt.strip_prefix("pub(crate) use "))
            else {
                continue;
            };
            let mut ps = Vec::new();
            expand(
                &tree.split_whitespace().collect::<Vec<_>>().join(" "),
                &mut ps,
            );
            for p in ps {
                let last = p.rsplit("::").next().unwrap_or("");
                if last == item {
                    let rel = if p.starts_with("crate")
                        || p.starts_with("super")
                        || p.starts_with("self")
                    {
                        p.clone()
                    } else {
                        format!("self::{p}")
                    };
                    let mut target = absolute(&s.module, &rel);
                    target.extend(full[k + 1..].iter().cloned());
                    return resolve(src, modules, &target, hops + 1).or(Some(file.to_string()));
                }
            }
        }
    }
    Some(file.to_string())
}

/// The strongly connected groups of more than one file (Tarjan).
fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, (usize, usize)>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, (n, n));
            self.stack.push(v);
            self.on.insert(v);
            for w in self.g.get(v).into_iter().flatten() {
                if !self.index.contains_key(w.as_str()) {
                    self.visit(w);
                    let low = self.index[v].1.min(self.index[w.as_str()].1);
                    self.index.get_mut(v).expect("visited").1 = low;
                } else if self.on.contains(w.as_str()) {
                    let low = self.index[v].1.min(self.index[w.as_str()].0);
                    self.index.get_mut(v).expect("visited").1 = low;
                }
            }
            if self.index[v].0 == self.index[v].1 {
                let mut group = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on.remove(w);
                    group.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    self.out.push(group);
                }
            }
        }
    }
    let mut walk = Walk {
        g,
        index: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.out
}

/// The top-level module of a file: `learn/pc.rs` -> `learn`, `state.rs` -> `state`.
fn top(file: &str) -> &str {
    let first = file.split('/').next().unwrap_or(file);
    first.strip_suffix(".rs").unwrap_or(first)
}

/// Fails naming `what` and every item of `found`, if there is one.
fn none_of<T: std::fmt::Debug>(found: &[T], what: &str) {
    assert!(found.is_empty(), "{what}: {found:#?}");
}

#[test]
fn no_two_files_import_each_other_even_through_others() {
    let what = "import cycles between files (break each by moving what both need below both)";
    none_of(&cycles(&graph(&sources())), what);
}

#[test]
fn every_import_points_down_the_layers() {
    let g = graph(&sources());
    let level = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut wrong = Vec::new();
    for (a, bs) in &g {
        let Some(la) = level(top(a)) else {
            assert!(
                matches!(top(a), "lib" | "main"),
                "{a}: a top-level module missing from LAYERS in tests/imports.rs"
            );
            continue;
        };
        for b in bs {
            match level(top(b)) {
                Some(lb) if lb < la || top(a) == top(b) => {}
                Some(_) => wrong.push(format!("{a} -> {b}")),
                None => {}
            }
        }
    }
    let what = format!("imports pointing up or sideways (layers from the bottom: {LAYERS:?})");
    none_of(&wrong, &what);
}

#[test]
fn benchmarks_never_import_a_run() {
    // `bench` sits above `experiment` for its scenarios, plots and run-folder errors, but a
    // benchmark times the library's parts, not `experiment::run`'s end-to-end run.
    let g = graph(&sources());
    let wrong: Vec<String> = g
        .iter()
        .filter(|(a, _)| top(a) == "bench")
        .flat_map(|(a, bs)| {
            bs.iter()
                .filter(|b| b.starts_with("experiment/run/"))
                .map(move |b| format!("{a} -> {b}"))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "bench imports experiment::run: {wrong:#?}"
    );
}

#[test]
fn the_graph_sees_what_it_must() {
    // Guards against a parser that finds nothing: known edges of each kind of path.
    let g = graph(&sources());
    let has = |a: &str, b: &str| g.get(a).is_some_and(|s| s.contains(b));
    assert!(
        has("learn/layer/core.rs", "state.rs"),
        "a `use crate::` import"
    );
    assert!(
        has("experiment/run_dir.rs", "io.rs"),
        "a `use crate::` import of a function"
    );
    assert!(
        g.values().map(BTreeSet::len).sum::<usize>() > 300,
        "the graph has {} edges",
        g.values().map(BTreeSet::len).sum::<usize>()
    );
    let mut bad = Vec::new();
    expand("crate::a::{b, c::{d, e as f}, g::*}", &mut bad);
    assert_eq!(
        bad,
        [
            "crate::a::b",
            "crate::a::c::d",
            "crate::a::c::e",
            "crate::a::g"
        ]
    );
    let stripped = strip_comments_and_strings("a // crate::x\n\"crate::y\" '\"' crate::z");
    assert_eq!(paths(&stripped), ["crate::z"]);
}

#[test]
fn actors_are_read_through_their_handles_not_by_type_tests() {
    // A finished run hands an actor back for the `ActorId` its network gave out
    // (`RunReport::actor`, `actor_mut` in runtime/network.rs: the one place that tests an
    // actor's type, guaranteed by the handle). Elsewhere only panic payloads are type-tested.
    let mut found = Vec::new();
    let mut in_runtime = 0;
    for (file, src) in sources() {
        for call in ["downcast_ref", "downcast_mut"] {
            for (at, _) in src.code.match_indices(call) {
                let rest = &src.code[at + call.len()..];
                if rest.starts_with("::<&str>") || rest.starts_with("::<String>") {
                    continue;
                }
                if file == "runtime/network.rs" {
                    in_runtime += 1;
                } else {
                    found.push(format!("{file}: {call}"));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "actors type-tested outside RunReport::actor (keep the ActorId that Network::add \
         returned and read the actor with report.actor(id)): {found:?}"
    );
    assert_eq!(
        in_runtime, 2,
        "RunReport::actor and actor_mut, one type test each"
    );
}

//! The house's shape, checked from the source: no circle of imports between the files of
//! `src/` (nor between its top-level modules), and no file much over 500 lines.
//!
//! Every `crate::`, `super::` and `self::` path in a file's code is an import of the file
//! that defines the module it names. `mod x;` declarations are not imports. Test code
//! (`tests.rs`, `testing.rs`) may reach anything and is left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path like `["check", "plan"]`, with the file that defines it.
type Modules = BTreeMap<Vec<String>, PathBuf>;

fn modules(root: &Path, crate_root: &Path, files: &[PathBuf]) -> Modules {
    let mut out = Modules::new();
    for file in files {
        let rel = file.strip_prefix(root).unwrap();
        if file == crate_root {
            out.insert(Vec::new(), file.clone());
            continue;
        }
        let mut parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
            .collect();
        if parts.last().is_some_and(|p| p == "mod") {
            parts.pop();
        }
        out.insert(parts, file.clone());
    }
    out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn is_test_code(path: &Path) -> bool {
    matches!(
        path.file_name().and_then(|n| n.to_str()),
        Some("tests.rs" | "testing.rs")
    )
}

/// The code of a file without comments, string literals and `#[cfg(test)] mod tests`.
fn code(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("");
        let mut in_str = false;
        for c in line.chars() {
            if c == '"' {
                in_str = !in_str;
            } else if !in_str {
                out.push(c);
            }
        }
        out.push('\n');
    }
    match out.find("#[cfg(test)]\nmod tests {") {
        Some(i) => out[..i].to_string(),
        None => out,
    }
}

/// The child modules a file declares (`mod x;`, `pub mod x;`).
fn children(code: &str) -> Vec<String> {
    code.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            let l = l.strip_prefix("pub(crate) ").unwrap_or(l);
            l.strip_prefix("mod ")?
                .strip_suffix(';')
                .map(str::to_string)
        })
        .collect()
}

/// The module paths a file's code names, resolved against its own module path `me`:
/// `crate::`, `super::` and `self::` paths, and paths into the file's own child modules
/// (`child::x`, as a parent's `pub use child::X` re-export).
fn references(code: &str, me: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    for child in children(code) {
        let start = format!("{child}::");
        let mut from = 0;
        while let Some(i) = code[from..].find(&start).map(|i| i + from) {
            from = i + start.len();
            let before = if i > 0 { bytes[i - 1] } else { b' ' };
            if before.is_ascii_alphanumeric() || before == b'_' || before == b':' {
                continue;
            }
            for path in expand(&code[i..]) {
                let mut full = me.to_vec();
                full.extend(path);
                out.push(full);
            }
        }
    }
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(start).map(|i| i + from) {
            from = i + start.len();
            if i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_') {
                continue;
            }
            // The module this path starts from (a `mod.rs` file is its folder's module).
            let mut base: Vec<String> = match start {
                "crate::" => Vec::new(),
                "self::" => me.to_vec(),
                _ => me[..me.len().saturating_sub(1)].to_vec(),
            };
            let mut rest = &code[from..];
            // `super::super::x`
            while let Some(r) = rest.strip_prefix("super::") {
                base.pop();
                rest = r;
            }
            for path in expand(rest) {
                let mut full = base.clone();
                full.extend(path);
                out.push(full);
            }
        }
    }
    out
}

/// `a::b::C` -> [[a, b, C]]; `{a::b, c}` -> [[a, b], [c]] (one level of braces).
fn expand(rest: &str) -> Vec<Vec<String>> {
    let ident = |s: &str| -> Vec<String> {
        s.split("::")
            .map(|p| {
                p.trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|p| !p.is_empty())
            .collect()
    };
    let head: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
        .collect();
    let prefix = ident(head.trim_end_matches(':'));
    let after = &rest[head.len()..];
    if (head.ends_with("::") || head.is_empty())
        && let Some(inner) = after.strip_prefix('{')
    {
        let inner = inner.split('}').next().unwrap_or("");
        return inner
            .split(',')
            .map(|item| {
                let mut p = prefix.clone();
                p.extend(ident(item.trim().trim_start_matches('{')));
                p
            })
            .collect();
    }
    vec![prefix]
}

/// The file defining the longest module prefix of `path`.
fn resolve<'m>(modules: &'m Modules, path: &[String]) -> Option<&'m PathBuf> {
    (0..=path.len()).rev().find_map(|n| modules.get(&path[..n]))
}

/// Edges between files (`from` imports `to`), leaving out test code and the crate root.
fn edges(modules: &Modules) -> BTreeSet<(PathBuf, PathBuf)> {
    let mut out = BTreeSet::new();
    for (me, file) in modules {
        if me.is_empty() || is_test_code(file) {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        for path in references(&code(&text), me) {
            if let Some(to) = resolve(modules, &path)
                && to != file
                && !is_test_code(to)
                && modules.get(&Vec::new()) != Some(to)
            {
                out.insert((file.clone(), to.clone()));
            }
        }
    }
    out
}

/// A cycle in the graph, if there is one.
fn find_cycle<N: Ord + Clone>(edges: &BTreeSet<(N, N)>) -> Option<Vec<N>> {
    let mut graph: BTreeMap<N, Vec<N>> = BTreeMap::new();
    for (a, b) in edges {
        graph.entry(a.clone()).or_default().push(b.clone());
    }
    fn visit<N: Ord + Clone>(
        n: &N,
        graph: &BTreeMap<N, Vec<N>>,
        state: &mut BTreeMap<N, u8>,
        stack: &mut Vec<N>,
    ) -> Option<Vec<N>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let at = stack.iter().position(|s| s == n).unwrap();
                let mut cycle = stack[at..].to_vec();
                cycle.push(n.clone());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(n.clone(), 1);
        stack.push(n.clone());
        for next in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, graph, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(n.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if let Some(c) = visit(n, &graph, &mut state, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

fn check_crate(root: &Path, crate_root: &Path, files: &[PathBuf]) {
    let modules = modules(root, crate_root, files);
    let file_edges = edges(&modules);
    assert!(
        file_edges.len() >= files.len(),
        "only {} imports found among {} files: the reader is broken",
        file_edges.len(),
        files.len()
    );
    if let Some(cycle) = find_cycle(&file_edges) {
        let names: Vec<String> = cycle
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().display().to_string())
            .collect();
        panic!("import circle between files: {}", names.join(" -> "));
    }
    // The same between top-level modules (a folder and its files count as one).
    let top = |p: &PathBuf| {
        p.strip_prefix(root)
            .unwrap()
            .iter()
            .next()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string()
    };
    let module_edges: BTreeSet<(String, String)> = file_edges
        .iter()
        .map(|(a, b)| (top(a), top(b)))
        .filter(|(a, b)| a != b)
        .collect();
    if let Some(cycle) = find_cycle(&module_edges) {
        panic!("import circle between modules: {}", cycle.join(" -> "));
    }
}

#[test]
fn no_circle_of_imports_in_src() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (bin, lib): (Vec<PathBuf>, Vec<PathBuf>) = rust_files(&src)
        .into_iter()
        .partition(|p| p.starts_with(src.join("cli")) || p.ends_with("main.rs"));
    assert!(lib.len() > 20 && bin.len() > 3);
    check_crate(&src, &src.join("lib.rs"), &lib);
    // The binary: its modules are `cli` and those under src/cli/.
    check_crate(&src, &src.join("main.rs"), &bin);
}

#[test]
fn the_detector_finds_a_circle() {
    let edges: BTreeSet<(u8, u8)> = [(1, 2), (2, 3), (3, 1), (3, 4)].into();
    assert_eq!(find_cycle(&edges), Some(vec![1, 2, 3, 1]));
    let edges: BTreeSet<(u8, u8)> = [(1, 2), (2, 3), (1, 3)].into();
    assert_eq!(find_cycle(&edges), None);
    let me = vec!["check".to_string(), "plan".to_string()];
    assert_eq!(
        references("use super::ledger::{Known, Ledger};", &me),
        [
            vec!["check", "ledger", "Known"],
            vec!["check", "ledger", "Ledger"]
        ]
    );
    assert_eq!(
        references("use crate::{error::chain, store};", &me),
        [vec!["error", "chain"], vec!["store"]]
    );
    let parent = vec!["config".to_string()];
    assert_eq!(
        references("mod issues;\npub use issues::{Issue, Issues};", &parent),
        [
            vec!["config", "issues", "Issue"],
            vec!["config", "issues", "Issues"]
        ]
    );
}

#[test]
fn no_file_in_src_is_much_over_500_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for file in rust_files(&src) {
        let lines = std::fs::read_to_string(&file).unwrap().lines().count();
        let limit = if is_test_code(&file) { 700 } else { 550 };
        assert!(lines <= limit, "{} has {lines} lines", file.display());
    }
}

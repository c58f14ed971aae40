//! No module of a crate depends on a module that depends back on it, however
//! long the loop: each crate's modules form layers a reader can take in
//! order. Read from the source (no build needed): for every module directly
//! under a crate's root (`src/x.rs` or `src/x/…`), the crate modules it names
//! — `crate::y` in code, and names the root re-exports (`pub use y::Name`,
//! so `crate::Name` counts as `y`). Comments do not count; a module's own
//! children (`super::`) are part of it.

// A panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use test_support::repo::{files, read, root, workspace_members};

/// Every crate of the workspace, by its `src` directory.
fn crates() -> Vec<PathBuf> {
    workspace_members()
        .into_iter()
        .map(|member| root().join(member).join("src"))
        .filter(|src| src.join("lib.rs").exists() || src.join("main.rs").exists())
        .collect()
}

/// The code of a file without its comments.
fn code(path: &Path) -> String {
    read(path)
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level module a file belongs to (`None` for the crate root).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    (name != "lib" && name != "main").then(|| name.to_owned())
}

/// Identifiers at the top level of `use crate::{…}` groups and after every
/// `crate::` path.
fn crate_names(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut current = String::new();
            let mut at_start = true;
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => at_start = true,
                    c if depth == 1 && at_start && (c.is_alphanumeric() || c == '_') => {
                        current.push(c);
                    }
                    _ => {
                        if !current.is_empty() {
                            names.insert(std::mem::take(&mut current));
                        }
                        if depth == 1 && !c.is_whitespace() {
                            at_start = false;
                        }
                    }
                }
            }
            if !current.is_empty() {
                names.insert(current);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

/// Names the crate root re-exports from a module: `pub use m::{A, B}`.
fn reexports(root: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for statement in root.split(';') {
        let Some(path) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, items)) = path.split_once("::") else {
            continue;
        };
        for item in items.split(|c: char| "{},".contains(c)) {
            let item = item.trim().rsplit("::").next().unwrap_or("").trim();
            if !item.is_empty() {
                map.insert(item.to_owned(), module.trim().to_owned());
            }
        }
    }
    map
}

/// Module → the crate's other modules it names.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let root_file = if src.join("lib.rs").exists() {
        src.join("lib.rs")
    } else {
        src.join("main.rs")
    };
    let reexported = reexports(&code(&root_file));
    let files = files(src, ".rs");
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(src, f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(module) = module_of(src, file) else {
            continue;
        };
        let edges = graph.entry(module.clone()).or_default();
        for name in crate_names(&code(file)) {
            let target = if modules.contains(&name) {
                Some(name)
            } else {
                reexported.get(&name).cloned()
            };
            if let Some(target) = target.filter(|t| *t != module && modules.contains(t)) {
                edges.insert(target);
            }
        }
    }
    graph
}

/// A loop in `graph`, if there is one, as the modules along it.
fn find_loop(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_depends_on_one_that_depends_back_on_it() {
    let crates = crates();
    assert!(crates.len() >= 8, "{crates:?}");
    let loops: Vec<String> = crates
        .iter()
        .filter_map(|src| {
            find_loop(&graph(src)).map(|cycle| format!("{}: {}", src.display(), cycle.join(" → ")))
        })
        .collect();
    assert!(loops.is_empty(), "module loops:\n{}", loops.join("\n"));
}

#[test]
fn the_reader_finds_a_loop_and_resolves_reexports() {
    let mut graph = BTreeMap::new();
    graph.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    graph.insert("b".to_owned(), BTreeSet::from(["c".to_owned()]));
    graph.insert("c".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(find_loop(&graph).unwrap(), ["a", "b", "c", "a"]);
    graph.get_mut("c").unwrap().clear();
    assert_eq!(find_loop(&graph), None);

    let names = crate_names(
        "use crate::{\n    AmqpConfig, dispatch::{self, Context},\n    wire,\n};\nlet x = crate::trace::inject();",
    );
    assert_eq!(
        names,
        BTreeSet::from(["AmqpConfig", "dispatch", "wire", "trace"].map(str::to_owned))
    );
    let map = reexports("pub use config::ServerConfig;\npub use server::{Connected, serve};");
    assert_eq!(map["Connected"], "server");
    assert_eq!(map["ServerConfig"], "config");
}

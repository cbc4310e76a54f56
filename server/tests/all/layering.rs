//! The server's modules depend on each other in one direction: routes -> (extract, plots) ->
//! services -> (state, error) -> store -> core. This test reads the sources, collects each
//! top-level module's `crate::` references, and fails on any cycle between modules (naming it)
//! and on a lower layer that reaches up.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each top-level module of `server/src` and the modules it names through `crate::`.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("server/src is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(&src).expect("under src");
            let first = relative.components().next().expect("a component");
            let module = first
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            if module == "lib" || module == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a readable source file");
            let deps = graph.entry(module.clone()).or_default();
            for name in referenced_modules(&text) {
                if name != module {
                    deps.insert(name);
                }
            }
        }
    }
    graph
}

/// Module names after `crate::`, including each name of a `crate::{a, b::c}` list.
fn referenced_modules(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(list) = rest.strip_prefix('{') {
            let end = list.find('}').unwrap_or(list.len());
            for item in list[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != "self" {
                    out.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    // Types re-exported at the crate root live in these modules.
    for (alias, module) in [
        ("Store", "store"),
        ("AppState", "state"),
        ("ApiConfig", "state"),
    ] {
        if out.remove(alias) {
            out.insert(module.to_string());
        }
    }
    out.retain(|n| n.chars().next().is_some_and(|c| c.is_lowercase()));
    out
}

/// A cycle through `node`, if there is one.
fn find_cycle(
    graph: &BTreeMap<String, BTreeSet<String>>,
    node: &str,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if let Some(i) = path.iter().position(|n| n == node) {
        let mut cycle = path[i..].to_vec();
        cycle.push(node.to_string());
        return Some(cycle);
    }
    if done.contains(node) {
        return None;
    }
    path.push(node.to_string());
    for next in graph.get(node).into_iter().flatten() {
        if let Some(c) = find_cycle(graph, next, path, done) {
            return Some(c);
        }
    }
    path.pop();
    done.insert(node.to_string());
    None
}

#[test]
fn server_modules_form_no_cycle() {
    let graph = module_graph();
    assert!(
        ["routes", "services", "store"]
            .iter()
            .all(|m| graph.contains_key(*m))
    );
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = find_cycle(&graph, node, &mut Vec::new(), &mut done) {
            panic!("module cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn lower_layers_do_not_reach_up() {
    let graph = module_graph();
    let allowed: &[(&str, &[&str])] = &[
        ("store", &[]),
        ("profiles", &[]),
        ("plots", &["store"]),
        ("metrics", &[]),
        ("error", &["store"]),
        ("state", &["store", "metrics"]),
        ("services", &["store", "state", "error", "profiles"]),
    ];
    for (module, may_use) in allowed {
        let uses = &graph[*module];
        let extra: Vec<&String> = uses
            .iter()
            .filter(|u| !may_use.contains(&u.as_str()))
            .collect();
        assert!(
            extra.is_empty(),
            "{module} may use only {may_use:?}, but uses {extra:?}"
        );
    }
}

#[test]
fn the_reader_sees_crate_references() {
    let text = "use crate::store::{A, B};\nuse crate::{error::X, state};\nlet s: crate::Store;";
    let found = referenced_modules(text);
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        ["error", "state", "store"]
    );
}

//! The docs checked against the repository, statically: no service runs, no
//! network, a few milliseconds. What a reader is promised and no test would
//! otherwise notice going stale (issue 16).
//!
//! - **Links.** Every relative link in every Markdown file of the repository
//!   (outside `target/`, `node_modules/` and hidden directories; links in
//!   code blocks and code spans are not links) names an existing file or
//!   directory, and every `#anchor`, in the same file or another, is the
//!   GitHub slug of one of the target's headings: lower case, spaces to
//!   `-`, every character but letters, digits, `-` and `_` dropped, the
//!   second heading of one name `-1`, the third `-2`.
//! - **Environment variables.** The variables read by the product's code
//!   (the four services' `src/` and `shared/{platform,messaging,contracts}/src`,
//!   each file up to its `#[cfg(test)]` module) are found by one rule: a
//!   call of a reader — `string_or`, `parse_or`, `duration_or`, `optional`,
//!   `secret` (which also reads `<NAME>_FILE`), `env::var`, `env::var_os`,
//!   or a function of the same file taking `name: &str` first and passing
//!   it on to one of those (a wrapper that checks a range) — whose first argument is an ALL_CAPS string
//!   literal; plus the few
//!   helpers that read fixed names, listed in `code::NAMED_READERS`. A reader's
//!   second argument is its default when it is a literal, a
//!   `Duration::from_secs`/`from_millis` of one, an arithmetic product, a
//!   `const` (of the same file or of `shared/contracts`), `X.parse()` of
//!   one, or `defaults.field` (the field's value in the same file's
//!   `fn new`); a service's default written any other way fails the check,
//!   asking for a constant. Then, against `docs/configuration.md`'s first
//!   table: every variable read is documented (in the Variable column, or
//!   for the standard `OTEL_*` ones named in a row), every variable in the
//!   Variable column is read, every service reading a variable is in a row
//!   of that variable, and each default a service's code states is the
//!   row's (durations compared as durations).
//! - **`.env.example`.** Every `NAME=` line is read by the code or by
//!   `docker-compose.yml` and is in `docs/configuration.md`; its value is
//!   empty or a default the code states (any service's) or, for a variable
//!   without one in code, a default `docs/configuration.md` states; every
//!   variable the code reads is named in it.
//! - **gRPC.** Every RPC in `proto/*.proto` is listed in `docs/grpc.md`'s
//!   summary of its service, `service Name { Rpc, … }`.
//! - **OpenAPI.** In every `description` and `summary` of the gateway's
//!   OpenAPI document (built by the gateway, as `/openapi.json` serves it):
//!   relative links and `docs/….md#anchor` references resolve from the
//!   repository's root, and every ALL_CAPS_WITH_UNDERSCORES name is a
//!   variable `docs/configuration.md` names (`openapi.rs`, issue 28).

use std::collections::BTreeSet;

use configuration::spans;
use test_support::repo::{files, read, root};

mod code;
mod configuration;
mod links;
mod openapi;

#[test]
fn every_rpc_is_in_grpc_md() {
    let root = root();
    let grpc_md = read("docs/grpc.md");
    let protos = files(&root.join("proto"), ".proto");
    let mut checked = 0;
    for proto in protos {
        let mut service = None;
        for line in read(&proto).lines().map(str::trim) {
            if let Some(name) = line.strip_prefix("service ") {
                let name = name.trim_end_matches('{').trim().to_owned();
                let summary = grpc_md
                    .find(&format!("service {name} {{"))
                    .map(|at| grpc_md[at..].split('}').next().unwrap_or_default())
                    .unwrap_or_else(|| panic!("docs/grpc.md has no `service {name} {{ … }}`"))
                    .to_owned();
                service = Some((name, summary));
            }
            let Some(rpc) = line.strip_prefix("rpc ").and_then(|l| l.split('(').next()) else {
                continue;
            };
            let (name, summary) = service.as_ref().expect("an rpc inside a service");
            let listed = summary
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(|word| word == rpc.trim());
            assert!(
                listed,
                "docs/grpc.md's `service {name} {{ … }}` does not list {rpc}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 6, "found only {checked} RPCs in proto/");
}

/// The README's list of recipes is the justfile's.
#[test]
fn the_readme_names_every_recipe() {
    let readme = read("README.md");
    let listed = readme
        .split("\n## Recipes\n")
        .nth(1)
        .expect("README.md has a `## Recipes` section");
    let listed: BTreeSet<String> = spans(listed).into_iter().filter(|s| s != "just").collect();
    let recipes: BTreeSet<String> = read("justfile")
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase()) && !l.contains(":="))
        .filter_map(|l| Some(l.split([' ', ':']).next()?.to_owned()))
        .filter(|r| r != "default")
        .collect();
    assert!(recipes.len() > 5, "found only {recipes:?} in the justfile");
    let missing: Vec<&String> = recipes.difference(&listed).collect();
    let extra: Vec<&String> = listed.difference(&recipes).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "README.md's recipes: missing {missing:?}, no such recipe {extra:?}"
    );
}

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
//! - **Environment variables.** The variables the services read are what
//!   each service's `clap` command declares (`<service>::Config::command()`,
//!   walked argument by argument: its variable and its default, as
//!   `--help` prints them), plus the few read outside it, listed in
//!   `code::OUTSIDE_CLAP` with the reason; no source is read as text. Each
//!   declared variable has help, and one that may hold a secret hides its
//!   value from `--help`. Then, against `docs/configuration.md`'s first
//!   table: every variable read is documented (in the Variable column, or
//!   for the standard `OTEL_*` ones named in a row), every variable in the
//!   Variable column is read, every service reading a variable is in a row
//!   of that variable, and each declared default is the row's (durations
//!   compared as durations).
//! - **`.env.example`.** Every `NAME=` line is read by the code or by
//!   `docker-compose.yml` and is in `docs/configuration.md`; its value is
//!   empty or a default a service declares (any service's) or, for a
//!   variable without one, a default `docs/configuration.md` states; every
//!   variable a service reads is named in it.
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

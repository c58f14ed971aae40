//! The gateway's OpenAPI document, checked as the Markdown is: its
//! descriptions are prose a reader follows from `/docs` (issue 28).
//!
//! The document is the one `GET /openapi.json` serves, built by the gateway
//! itself (`api_gateway::routes::document`), so every `description` and
//! `summary` is checked — the `#[utoipa::path]` attributes, the handlers'
//! doc comments, and what `openapi.rs` adds to every operation — without
//! reading Rust source as text. In each:
//! - every relative link, `[text](dest)`, names a file of the repository
//!   (a description has no page of its own, so `dest` is taken from the
//!   root) and its `#anchor` a heading there; a link to a server path
//!   (`/openapi.json`) or a URL is not checked;
//! - every `….md` or `….md#anchor` named in the text (`docs/errors.md`,
//!   in a code span or not) resolves the same way;
//! - every ALL_CAPS name with an underscore (`USER_SERVICE_TIMEOUT`; a
//!   `GRPC_TLS_*` is a prefix) is a variable docs/configuration.md names,
//!   or one of the few constants listed in [`CONSTANTS`].

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
};

use serde_json::Value;

use crate::{
    code::is_variable_name,
    configuration::spans,
    links::{heading_slugs, links},
    read, root,
};

/// ALL_CAPS names a description may give that are constants, not
/// variables: the code's own name for a limit the description states.
const CONSTANTS: [&str; 1] = [
    // `TopUpRequest.amount_cents`: user-service's limit on a top-up.
    "MAX_AMOUNT_CENTS",
];

#[test]
fn every_link_file_and_variable_in_the_openapi_descriptions_exists() {
    let document = serde_json::to_value(api_gateway::routes::document())
        .expect("the OpenAPI document is JSON");
    let mut texts = Vec::new();
    descriptions(&document, "", &mut texts);
    assert!(
        texts.len() > 40,
        "expected the operations' descriptions, found {texts:?}"
    );
    let repo = Repo::new(root());
    let broken: Vec<String> = texts
        .iter()
        .flat_map(|(at, text)| {
            repo.problems(text)
                .into_iter()
                .map(move |problem| format!("{at}: {problem}"))
        })
        .collect();
    assert!(
        broken.is_empty(),
        "the OpenAPI document's descriptions:\n{}",
        broken.join("\n")
    );
    // An exemption nothing needs any more goes.
    for constant in CONSTANTS {
        assert!(
            texts.iter().any(|(_, text)| text.contains(constant)),
            "no description names {constant} any more: take it out of `CONSTANTS`"
        );
    }
}

/// The checker finds what it is for: a missing file, a missing heading, a
/// link that is Rust's and not the reader's, an undocumented variable —
/// and passes their correct forms.
#[test]
fn the_description_checker_finds_each_kind_of_mistake() {
    let repo = Repo::new(root());
    let good = "See [errors](docs/errors.md), `docs/security.md#service-to-service-trust` \
                and docs/configuration.md; past `USER_SERVICE_TIMEOUT` (or any `GRPC_TLS_*`): \
                504, RFC 9457 `application/problem+json`, `GET /openapi.json`, \
                [the spec](https://www.rfc-editor.org/rfc/rfc9457) and [the page](/docs).";
    assert_eq!(repo.problems(good), Vec::<String>::new());

    for (bad, expected) in [
        (
            "See [errors](docs/no-such-page.md).",
            "docs/no-such-page.md",
        ),
        ("See `docs/errors.md#no-such-heading`.", "no-such-heading"),
        ("See [errors](docs/errors.md#nor-this).", "nor-this"),
        (
            "Built by [`describe`](crate::openapi::describe).",
            "crate::openapi",
        ),
        (
            "Past `USER_SERVICE_DEADLINE`: 504.",
            "USER_SERVICE_DEADLINE",
        ),
        ("Any of `NO_SUCH_*`.", "NO_SUCH_*"),
    ] {
        let problems = repo.problems(bad);
        assert!(
            problems.len() == 1 && problems[0].contains(expected),
            "{bad:?} should give one problem naming {expected:?}, gave {problems:?}"
        );
    }
}

/// Every `description` and `summary` string below `value`, with the JSON
/// path it sits at (`/paths/~1orders/post/responses/409/description`).
fn descriptions(value: &Value, at: &str, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(members) => {
            for (key, member) in members {
                let here = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                match member {
                    Value::String(text) if key == "description" || key == "summary" => {
                        found.push((here, text.clone()));
                    }
                    _ => descriptions(member, &here, found),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                descriptions(item, &format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

/// What a description may point at: the repository's files (from its
/// root) and the variables docs/configuration.md names.
struct Repo {
    root: PathBuf,
    variables: BTreeSet<String>,
}

impl Repo {
    fn new(root: PathBuf) -> Self {
        // Line by line, so that a fence's three backticks pair with nothing.
        let variables = read("docs/configuration.md")
            .lines()
            .flat_map(spans)
            .filter(|span| is_variable_name(span))
            .collect();
        Self { root, variables }
    }

    /// What in `text` does not resolve, one sentence each.
    fn problems(&self, text: &str) -> Vec<String> {
        let mut problems = Vec::new();
        let mut slugs_of = BTreeMap::new();
        let linked = links(text).into_iter().filter(|dest| {
            !(dest.contains("://") || dest.starts_with("mailto:") || dest.starts_with('/'))
        });
        let named = named_pages(text);
        for reference in linked.chain(named).collect::<BTreeSet<_>>() {
            let (path, anchor) = match reference.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (reference.as_str(), None),
            };
            let file = self.root.join(path);
            if path.is_empty() || !file.exists() {
                problems.push(format!(
                    "({reference}): no such file in the repository (a description's \
                     links are taken from the root: `docs/….md`)"
                ));
                continue;
            }
            let Some(anchor) = anchor else { continue };
            let slugs = slugs_of
                .entry(path.to_owned())
                .or_insert_with(|| heading_slugs(&read(&file)));
            if !slugs.contains(anchor) {
                problems.push(format!("({reference}): no heading with this anchor"));
            }
        }
        for name in variable_names(text)
            .into_iter()
            .filter(|name| !CONSTANTS.contains(&name.as_str()))
        {
            let documented = match name.strip_suffix('*') {
                Some(prefix) => self.variables.iter().any(|v| v.starts_with(prefix)),
                None => self.variables.contains(&name),
            };
            if !documented {
                problems.push(format!(
                    "`{name}` looks like an environment variable, and docs/configuration.md \
                     names none such"
                ));
            }
        }
        problems
    }
}

/// Every `….md` or `….md#anchor` written in `text`, in a code span or not,
/// that is not a URL's.
fn named_pages(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || "`()[]<>\"',;".contains(c))
        .map(|word| word.trim_end_matches(['.', ':', '!', '?']))
        .filter(|word| !word.contains("://"))
        .filter(|word| {
            let path = word.split('#').next().unwrap_or_default();
            path.len() > 3 && path.ends_with(".md")
        })
        .map(str::to_owned)
        .collect()
}

/// Every ALL_CAPS word with an underscore in `text` (`RUST_LOG`), or such
/// a prefix ending in `_*`; single words (`JSON`, `RFC`) are not variables.
fn variable_names(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '*'))
        .filter(|word| {
            let name = word.strip_suffix("_*").unwrap_or(word);
            name.contains('_') && is_variable_name(name)
        })
        .map(|word| {
            word.strip_suffix("_*")
                .map_or(word.to_owned(), |p| format!("{p}_*"))
        })
        .collect()
}

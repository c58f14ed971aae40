//! Relative links and their anchors.

use std::{
    collections::{BTreeSet, HashMap},
    path::PathBuf,
};

use crate::{files, read, root};

#[test]
pub(crate) fn every_relative_link_and_anchor_resolves() {
    let root = root();
    let markdown = files(&root, ".md");
    assert!(markdown.len() > 10, "expected the docs, found {markdown:?}");

    let mut broken = Vec::new();
    let mut slugs_of: HashMap<PathBuf, BTreeSet<String>> = HashMap::new();
    for file in &markdown {
        let text = read(file);
        for target in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (target.as_str(), None),
            };
            let resolved = if path.is_empty() {
                file.clone()
            } else {
                file.parent().expect("a directory").join(path)
            };
            let shown = format!(
                "{}: ({target})",
                file.strip_prefix(&root).unwrap().display()
            );
            if !resolved.exists() {
                broken.push(format!("{shown}: no such file"));
                continue;
            }
            let Some(anchor) = anchor else { continue };
            let key = resolved.canonicalize().expect("an existing path");
            let slugs = slugs_of
                .entry(key.clone())
                .or_insert_with(|| heading_slugs(&read(&key)));
            if !slugs.contains(anchor) {
                broken.push(format!("{shown}: no heading with this anchor"));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The text outside fenced code blocks, with code spans blanked out.
pub(crate) fn prose(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut fence: Option<&str> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        match fence {
            Some(open) if trimmed.starts_with(open) => fence = None,
            Some(_) => {}
            None if trimmed.starts_with("```") => fence = Some("```"),
            None if trimmed.starts_with("~~~") => fence = Some("~~~"),
            None => lines.push(without_code_spans(line)),
        }
    }
    lines
}

pub(crate) fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    for (i, part) in line.split('`').enumerate() {
        if i % 2 == 0 {
            out.push_str(part);
        } else {
            out.push_str("``");
        }
    }
    out
}

/// The destinations of inline links and images: `[text](dest "title")`.
pub(crate) fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in prose(text) {
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let Some(end) = rest.find(')') else { break };
            let dest = rest[..end].split_whitespace().next().unwrap_or("");
            let dest = dest.trim_start_matches('<').trim_end_matches('>');
            if !dest.is_empty() {
                found.push(dest.to_owned());
            }
            rest = &rest[end..];
        }
    }
    found
}

pub(crate) fn heading_slugs(text: &str) -> BTreeSet<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut slugs = BTreeSet::new();
    for line in prose(text) {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let heading = heading.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let base = slug(heading.trim());
        let n = seen.entry(base.clone()).or_insert(0);
        slugs.insert(if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        *n += 1;
    }
    slugs
}

/// GitHub's anchor for a heading; a link's text stands for the link.
pub(crate) fn slug(heading: &str) -> String {
    let mut text = String::new();
    let mut rest = heading;
    while let Some(at) = rest.find("](") {
        text.push_str(&rest[..at]);
        let close = rest[at..].find(')').map_or(rest.len(), |end| at + end + 1);
        rest = &rest[close..];
    }
    text.push_str(rest);
    text.to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
pub(crate) fn slugs_are_github_s() {
    assert_eq!(
        slug("Load balancing and scaling out"),
        "load-balancing-and-scaling-out"
    );
    assert_eq!(
        slug("gRPC: mutual TLS, and a grant per RPC"),
        "grpc-mutual-tls-and-a-grant-per-rpc"
    );
    assert_eq!(
        slug("The server: [`lib.rs`](../x/lib.rs)"),
        "the-server-librs"
    );
    assert_eq!(
        slug("Only for `just run` and `just test`"),
        "only-for-just-run-and-just-test"
    );
    let twice = heading_slugs("# A\n## A\n```\n# not a heading\n```\n## A\n");
    assert_eq!(twice, ["a", "a-1", "a-2"].map(String::from).into());
}

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
//!   helpers that read fixed names, listed in [`NAMED_READERS`]. A reader's
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

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    fs,
    path::{Path, PathBuf},
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_owned()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn files(dir: &Path, extension: &str, found: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !(name.starts_with('.') || name == "target" || name == "node_modules") {
                files(&path, extension, found);
            }
        } else if name.ends_with(extension) {
            found.push(path);
        }
    }
    found.sort();
}

// ---------------------------------------------------------------- links

#[test]
fn every_relative_link_and_anchor_resolves() {
    let root = root();
    let mut markdown = Vec::new();
    files(&root, ".md", &mut markdown);
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
fn prose(text: &str) -> Vec<String> {
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

fn without_code_spans(line: &str) -> String {
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
fn links(text: &str) -> Vec<String> {
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

fn heading_slugs(text: &str) -> BTreeSet<String> {
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
fn slug(heading: &str) -> String {
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
fn slugs_are_github_s() {
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

// ---------------------------------------------------------------- code

const SERVICES: [&str; 4] = [
    "api-gateway",
    "user-service",
    "order-service",
    "notification-service",
];

/// Calls whose first argument, an ALL_CAPS literal, is the variable read.
const READERS: [&str; 7] = [
    "string_or",
    "parse_or",
    "duration_or",
    "optional",
    "secret",
    "env::var",
    "env::var_os",
];

/// Helpers that read fixed names: the call, the names, and whether the
/// call's argument is the first name's default.
const NAMED_READERS: [(&str, &[&str], bool); 4] = [
    ("amqp_url(", &["AMQP_URL"], true),
    (
        "DbConfig::from_env(",
        &[
            "DATABASE_URL",
            "DATABASE_MAX_CONNECTIONS",
            "DATABASE_ACQUIRE_TIMEOUT",
        ],
        true,
    ),
    (
        "GrpcTls::from_env(",
        &[
            "GRPC_TLS_CA",
            "GRPC_TLS_CERT",
            "GRPC_TLS_KEY",
            "GRPC_TLS_CA_FILE",
            "GRPC_TLS_CERT_FILE",
            "GRPC_TLS_KEY_FILE",
        ],
        false,
    ),
    ("EnvFilter::try_from_default_env(", &["RUST_LOG"], false),
];

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Text(String),
    Number(u64),
    Millis(u64),
}

impl Value {
    fn matches(&self, documented: &str) -> bool {
        match self {
            Value::Text(text) => text == documented,
            Value::Number(n) => documented.parse() == Ok(*n),
            Value::Millis(ms) => millis(documented) == Some(*ms),
        }
    }
}

/// `250ms`, `3s`, `1m 30s`, `15m`, `1h`.
fn millis(text: &str) -> Option<u64> {
    let mut total = 0;
    for part in text.split_whitespace() {
        let digits = part.find(|c: char| !c.is_ascii_digit())?;
        let n: u64 = part[..digits].parse().ok()?;
        total += n * match &part[digits..] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return None,
        };
    }
    Some(total)
}

/// One variable read: by which crate, with which default.
#[derive(Debug)]
struct Read {
    crate_name: String,
    name: String,
    default: Option<Value>,
    at: String,
}

fn product_sources() -> Vec<(String, PathBuf)> {
    let root = root();
    let mut sources = Vec::new();
    let crates = SERVICES
        .iter()
        .map(|s| (s.to_string(), root.join(s).join("src")))
        .chain(
            ["platform", "messaging", "contracts"]
                .map(|c| (c.to_string(), root.join("shared").join(c).join("src"))),
        );
    for (crate_name, dir) in crates {
        let mut found = Vec::new();
        files(&dir, ".rs", &mut found);
        assert!(!found.is_empty(), "no sources in {}", dir.display());
        sources.extend(found.into_iter().map(|f| (crate_name.clone(), f)));
    }
    sources
}

/// A file without its `#[cfg(test)]` module (the last item, by convention).
fn without_tests(source: &str) -> &str {
    source
        .find("#[cfg(test)]\nmod ")
        .map_or(source, |at| &source[..at])
}

/// The arguments of the call whose `(` is at `open`, split at top-level commas.
fn arguments(source: &str, open: usize) -> Vec<String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut depth = 0;
    let mut in_string = false;
    let mut chars = source[open + 1..].chars();
    while let Some(c) = chars.next() {
        if in_string {
            current.push(c);
            match c {
                '\\' => current.extend(chars.next()),
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth == 0 => break,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                args.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    args.push(current);
    args.into_iter()
        .map(|a| a.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|a| !a.is_empty())
        .collect()
}

fn literal(arg: &str) -> Option<String> {
    let inner = arg.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains('"')).then(|| inner.to_owned())
}

fn is_variable_name(name: &str) -> bool {
    name.len() > 1
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Offsets just past every call of `callee` that is not its definition.
fn calls<'s>(source: &'s str, callee: &'s str) -> impl Iterator<Item = usize> + 's {
    source.match_indices(callee).filter_map(move |(at, _)| {
        let before = &source[..at];
        let joined = before.ends_with(|c: char| c.is_alphanumeric() || c == '_')
            || before.trim_end().ends_with("fn");
        (!joined).then_some(at + callee.len())
    })
}

/// Constants of the contracts crate, by name, for defaults taken from it.
fn contract_constants() -> String {
    let mut found = Vec::new();
    files(&root().join("shared/contracts/src"), ".rs", &mut found);
    found.iter().map(|f| read(f)).collect::<Vec<_>>().join("\n")
}

fn resolve(expr: &str, file: &str, contracts: &str, depth: u32) -> Option<Value> {
    let mut expr = expr.trim().trim_start_matches('&').trim();
    for conversion in [".to_owned()", ".to_string()", ".into()"] {
        expr = expr.strip_suffix(conversion).unwrap_or(expr);
    }
    if depth > 5 {
        return None;
    }
    if let Some(text) = literal(expr) {
        return Some(Value::Text(text));
    }
    if expr == "true" || expr == "false" {
        return Some(Value::Text(expr.to_owned()));
    }
    if let Some(n) = product(expr) {
        return Some(Value::Number(n));
    }
    for (call, scale) in [
        ("Duration::from_secs(", 1000),
        ("Duration::from_millis(", 1),
    ] {
        if let Some(inner) = expr.strip_prefix(call).and_then(|e| e.strip_suffix(')')) {
            return product(inner).map(|n| Value::Millis(n * scale));
        }
    }
    if let Some(inner) = expr.split_once(".parse()").map(|(inner, _)| inner) {
        return resolve(inner, file, contracts, depth + 1);
    }
    if let Some(field) = expr.strip_prefix("defaults.") {
        let new = &file[file.find("fn new(")?..];
        let at = new.find(&format!("\n            {field}: "))?;
        let value = new[at..].split_once(": ")?.1.split(",\n").next()?;
        return resolve(value, file, contracts, depth + 1);
    }
    let name = expr.rsplit("::").next()?;
    if !is_variable_name(name) {
        return None;
    }
    for source in [file, contracts] {
        if let Some(at) = source.find(&format!("const {name}: ")) {
            let value = source[at..].split_once('=')?.1.split(';').next()?;
            return resolve(value, file, contracts, depth + 1);
        }
    }
    None
}

/// `64 * 1024`, `10u16`, `15 * 60`.
fn product(expr: &str) -> Option<u64> {
    expr.split('*')
        .map(|factor| {
            let factor = factor.trim().replace('_', "");
            let digits: String = factor.chars().take_while(char::is_ascii_digit).collect();
            let suffix = &factor[digits.len()..];
            let typed = suffix.is_empty()
                || ["u8", "u16", "u32", "u64", "usize", "i32", "i64"].contains(&suffix);
            (typed && !digits.is_empty())
                .then(|| digits.parse::<u64>().ok())
                .flatten()
        })
        .try_fold(1, |acc, n| n.map(|n| acc * n))
}

fn reads() -> Vec<Read> {
    let root = root();
    let contracts = contract_constants();
    let mut found = Vec::new();
    for (crate_name, path) in product_sources() {
        let whole = read(&path);
        let source = without_tests(&whole);
        let file = path
            .strip_prefix(&root)
            .expect("under the root")
            .display()
            .to_string();
        let mut push = |name: &str, default: Option<&str>| {
            let default_value = default.and_then(|d| resolve(d, source, &contracts, 0));
            let is_parameter =
                default.is_some_and(|d| d.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            assert!(
                default.is_none() || default_value.is_some() || is_parameter,
                "{file}: cannot read the default of {name}, `{}`: state it as a \
                 literal or a constant (tests/tests/docs.rs says which forms)",
                default.unwrap_or_default()
            );
            found.push(Read {
                crate_name: crate_name.clone(),
                name: name.to_owned(),
                default: default_value,
                at: file.clone(),
            });
        };
        let local_readers: Vec<String> = source
            .match_indices("fn ")
            .filter_map(|(at, _)| {
                let (name, rest) = source[at + 3..].split_once('(')?;
                let body = rest.split("\n}\n").next()?;
                let is_reader = rest.starts_with("name: &str")
                    && READERS.iter().any(|r| body.contains(&format!("{r}(name,")))
                    && !READERS.contains(&name)
                    && name.chars().all(|c| c.is_ascii_lowercase() || c == '_');
                is_reader.then(|| name.to_owned())
            })
            .collect();
        let readers = READERS.iter().map(|r| r.to_string()).chain(local_readers);
        for reader in readers {
            for open in calls(source, &format!("{reader}(")) {
                let args = arguments(source, open - 1);
                let Some(name) = args.first().and_then(|a| literal(a)) else {
                    continue;
                };
                if !is_variable_name(&name) {
                    continue;
                }
                push(&name, args.get(1).map(String::as_str));
                if reader == "secret" {
                    push(&format!("{name}_FILE"), None);
                }
            }
        }
        for (call, names, first_is_default) in NAMED_READERS {
            for open in calls(source, call) {
                let args = arguments(source, open - 1);
                for (i, name) in names.iter().enumerate() {
                    let default = (i == 0 && first_is_default).then(|| args.first()).flatten();
                    push(name, default.map(String::as_str));
                }
            }
        }
    }
    found
}

// ---------------------------------------------------------------- docs

/// A row of configuration.md's first table.
#[derive(Debug)]
struct Row {
    names: Vec<String>,
    /// `None`: every service.
    services: Option<Vec<String>>,
    /// The documented default of each name, for that service (`None`:
    /// every service of the row).
    defaults: Vec<(String, Option<String>, String)>,
    text: String,
}

fn spans(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn tables(markdown: &str) -> Vec<Vec<Vec<String>>> {
    let mut tables = Vec::new();
    let mut current: Vec<Vec<String>> = Vec::new();
    for line in markdown.lines() {
        if let Some(row) = line.strip_prefix('|') {
            let cells: Vec<String> = row
                .trim_end()
                .trim_end_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect();
            if !cells
                .iter()
                .all(|c| c.chars().all(|c| c == '-' || c == ':'))
            {
                current.push(cells);
            }
        } else if !current.is_empty() {
            tables.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        tables.push(current);
    }
    tables
}

fn documented_rows(markdown: &str) -> Vec<Row> {
    let main = tables(markdown)
        .into_iter()
        .find(|t| t[0] == ["Variable", "Service", "Default", "Meaning"])
        .expect("docs/configuration.md has a table | Variable | Service | Default | Meaning |");
    main.into_iter()
        .skip(1)
        .map(|cells| {
            assert!(cells.len() >= 4, "a row of four cells: {cells:?}");
            let names: Vec<String> = spans(&cells[0])
                .into_iter()
                .filter(|n| is_variable_name(n))
                .collect();
            let services = (!(cells[1] == "all" || cells[1] == "every service")).then(|| {
                SERVICES
                    .iter()
                    .filter(|s| cells[1].contains(*s))
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
            });
            let values = spans(&cells[2]);
            let per_service: Vec<(String, String)> = SERVICES
                .iter()
                .filter_map(|s| {
                    let at = cells[2].find(&format!("{s} `"))?;
                    Some((s.to_string(), spans(&cells[2][at..])[0].clone()))
                })
                .collect();
            let mut defaults = Vec::new();
            for (i, name) in names.iter().enumerate() {
                if !per_service.is_empty() {
                    for (service, value) in &per_service {
                        defaults.push((name.clone(), Some(service.clone()), value.clone()));
                    }
                } else if values.len() == names.len() {
                    defaults.push((name.clone(), None, values[i].clone()));
                } else if values.len() == 1 {
                    defaults.push((name.clone(), None, values[0].clone()));
                } else if values.is_empty() {
                    defaults.push((name.clone(), None, cells[2].clone()));
                } else {
                    panic!(
                        "docs/configuration.md: cannot tell which default is whose in {cells:?}: \
                         one per variable, one for all, or `<service> `value`` each"
                    );
                }
            }
            Row {
                names,
                services,
                defaults,
                text: cells.join(" | "),
            }
        })
        .collect()
}

#[test]
fn every_variable_read_is_documented_with_its_default_and_nothing_else_is() {
    let reads = reads();
    let names_read: BTreeSet<&str> = reads.iter().map(|r| r.name.as_str()).collect();
    for expected in [
        "DATABASE_URL",
        "USER_SERVICE_TIMEOUT",
        "SAGA_STALE_AFTER",
        "RUST_LOG",
    ] {
        assert!(
            names_read.contains(expected),
            "the extraction missed {expected}: {names_read:?}"
        );
    }
    let rows = documented_rows(&read(&root().join("docs/configuration.md")));
    let mut problems = Vec::new();

    let in_column: BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| &r.names)
        .map(String::as_str)
        .collect();
    for read in &reads {
        let mentioned = rows.iter().any(|r| spans(&r.text).contains(&read.name));
        if !in_column.contains(read.name.as_str()) && !mentioned {
            problems.push(format!(
                "{} reads {}, which configuration.md does not document",
                read.at, read.name
            ));
        }
    }
    for name in &in_column {
        if !names_read.contains(name) {
            problems.push(format!(
                "configuration.md documents {name}, which no code reads"
            ));
        }
    }

    for read in reads
        .iter()
        .filter(|r| SERVICES.contains(&r.crate_name.as_str()))
    {
        let rows_of: Vec<&Row> = rows
            .iter()
            .filter(|r| r.names.contains(&read.name))
            .filter(|r| {
                r.services
                    .as_ref()
                    .is_none_or(|s| s.contains(&read.crate_name))
            })
            .collect();
        if rows_of.is_empty() && in_column.contains(read.name.as_str()) {
            problems.push(format!(
                "{} reads {}, but no row of configuration.md names {} for it",
                read.at, read.name, read.crate_name
            ));
        }
        let Some(default) = &read.default else {
            continue;
        };
        for row in rows_of {
            for (name, service, documented) in &row.defaults {
                let applies = service.as_ref().is_none_or(|s| *s == read.crate_name);
                if *name == read.name && applies && !default.matches(documented) {
                    problems.push(format!(
                        "{}: {}'s default is {default:?}; configuration.md says `{documented}`",
                        read.at, read.name
                    ));
                }
            }
        }
    }
    // The shared crates' own defaults hold for every service.
    for read in reads
        .iter()
        .filter(|r| !SERVICES.contains(&r.crate_name.as_str()))
    {
        let Some(default) = &read.default else {
            continue;
        };
        for row in &rows {
            for (name, _, documented) in &row.defaults {
                if *name == read.name && !default.matches(documented) {
                    problems.push(format!(
                        "{}: {}'s default is {default:?}; configuration.md says `{documented}`",
                        read.at, read.name
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn env_example_lists_what_is_read_with_the_defaults() {
    let root = root();
    let example = read(&root.join(".env.example"));
    let compose = read(&root.join("docker-compose.yml"));
    let configuration = read(&root.join("docs/configuration.md"));
    let reads = reads();

    let mut code_defaults: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for read in &reads {
        code_defaults
            .entry(&read.name)
            .or_default()
            .extend(&read.default);
    }
    let mut doc_defaults: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for table in tables(&configuration) {
        let Some(default_column) = table[0].iter().position(|c| c == "Default") else {
            continue;
        };
        for cells in &table[1..] {
            let names: Vec<String> = spans(&cells[0])
                .into_iter()
                .filter(|n| is_variable_name(n))
                .collect();
            let cell = &cells[default_column];
            let values = spans(cell);
            for (i, name) in names.iter().enumerate() {
                let value = match values.len() {
                    0 => cell.clone(),
                    n if n == names.len() => values[i].clone(),
                    _ => values[0].clone(),
                };
                doc_defaults.entry(name.clone()).or_default().push(value);
            }
        }
    }

    let mut problems = Vec::new();
    let mut listed = BTreeSet::new();
    for line in example.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        listed.insert(name);
        let in_compose =
            compose.contains(&format!("${{{name}:")) || compose.contains(&format!("${{{name}}}"));
        if !code_defaults.contains_key(name) && !in_compose {
            problems.push(format!(
                ".env.example: {name} is read neither by the code nor by docker-compose.yml"
            ));
        }
        if !doc_defaults.contains_key(name) {
            problems.push(format!(
                ".env.example: {name} is not in docs/configuration.md"
            ));
        }
        if value.is_empty() {
            continue;
        }
        let ok = match code_defaults.get(name).filter(|d| !d.is_empty()) {
            Some(defaults) => defaults.iter().any(|d| d.matches(value)),
            None => doc_defaults
                .get(name)
                .is_some_and(|d| d.iter().any(|d| d == value)),
        };
        if !ok {
            problems.push(format!(
                ".env.example: {name}={value}, but the code's defaults are {:?} and configuration.md's {:?}",
                code_defaults.get(name),
                doc_defaults.get(name)
            ));
        }
    }
    let words: BTreeSet<&str> = example
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    for read in &reads {
        if !words.contains(read.name.as_str()) {
            problems.push(format!(
                "{} reads {}, which .env.example does not name",
                read.at, read.name
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_rpc_is_in_grpc_md() {
    let root = root();
    let grpc_md = read(&root.join("docs/grpc.md"));
    let mut protos = Vec::new();
    files(&root.join("proto"), ".proto", &mut protos);
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

/// The tables for `just run` and docker compose list variables that the
/// scripts, the justfile, docker-compose.yml and the deployment read, not
/// the services: each must still be named by one of those.
#[test]
fn every_variable_of_the_tooling_tables_is_used() {
    let root = root();
    let configuration = read(&root.join("docs/configuration.md"));
    let mut sources = vec![root.join("justfile"), root.join("docker-compose.yml")];
    for (dir, extension) in [
        ("scripts", ""),
        ("deploy", ""),
        ("tests/src", ".rs"),
        ("shared/test-support/src", ".rs"),
    ] {
        files(&root.join(dir), extension, &mut sources);
    }
    let words: BTreeSet<String> = sources
        .iter()
        .filter_map(|p| fs::read_to_string(p).ok())
        .flat_map(|text| {
            text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    let mut unused = Vec::new();
    for table in tables(&configuration).iter().skip(1) {
        assert_eq!(
            table[0][0], "Variable",
            "a table of variables: {:?}",
            table[0]
        );
        for cells in &table[1..] {
            for name in spans(&cells[0]).into_iter().filter(|n| is_variable_name(n)) {
                if !words.contains(&name) {
                    unused.push(name);
                }
            }
        }
    }
    assert!(
        unused.is_empty(),
        "docs/configuration.md lists {unused:?} for `just run` or compose, but no script, \
         justfile, docker-compose.yml or deploy/ file names them"
    );
}

/// The README's list of recipes is the justfile's.
#[test]
fn the_readme_names_every_recipe() {
    let root = root();
    let readme = read(&root.join("README.md"));
    let listed = readme
        .split("\n## Recipes\n")
        .nth(1)
        .expect("README.md has a `## Recipes` section");
    let listed: BTreeSet<String> = spans(listed).into_iter().filter(|s| s != "just").collect();
    let recipes: BTreeSet<String> = read(&root.join("justfile"))
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

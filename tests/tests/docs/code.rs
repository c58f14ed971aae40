//! The variables the product's code reads, and the defaults it states.

use std::path::PathBuf;

use crate::{files, read, root};

pub(crate) const SERVICES: [&str; 4] = [
    "api-gateway",
    "user-service",
    "order-service",
    "notification-service",
];

/// Calls whose first argument, an ALL_CAPS literal, is the variable read.
/// `secret` also reads `<NAME>_FILE`; `url_or` (a server's URL) that, and
/// the password apart, `<PREFIX>_PASSWORD_FILE`.
pub(crate) const READERS: [&str; 8] = [
    "string_or",
    "parse_or",
    "duration_or",
    "optional",
    "secret",
    "url_or",
    "env::var",
    "env::var_os",
];

/// What else a read of `name` by `reader` reads.
fn also_read(reader: &str, name: &str) -> Vec<String> {
    let prefix = name.strip_suffix("_URL").unwrap_or(name);
    match reader {
        "secret" => vec![format!("{name}_FILE")],
        "url_or" => vec![format!("{name}_FILE"), format!("{prefix}_PASSWORD_FILE")],
        _ => Vec::new(),
    }
}

/// Helpers that read fixed names: the call, the names, and whether the
/// call's argument is the first name's default.
pub(crate) const NAMED_READERS: [(&str, &[&str], bool); 3] = [
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
pub(crate) enum Value {
    Text(String),
    Number(u64),
    Millis(u64),
}

impl Value {
    pub(crate) fn matches(&self, documented: &str) -> bool {
        match self {
            Value::Text(text) => text == documented,
            Value::Number(n) => documented.parse() == Ok(*n),
            Value::Millis(ms) => millis(documented) == Some(*ms),
        }
    }
}

/// `250ms`, `3s`, `1m 30s`, `15m`, `1h`.
pub(crate) fn millis(text: &str) -> Option<u64> {
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
pub(crate) struct Read {
    pub(crate) crate_name: String,
    pub(crate) name: String,
    pub(crate) default: Option<Value>,
    pub(crate) at: String,
}

pub(crate) fn product_sources() -> Vec<(String, PathBuf)> {
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
        let found = files(&dir, ".rs");
        assert!(!found.is_empty(), "no sources in {}", dir.display());
        sources.extend(found.into_iter().map(|f| (crate_name.clone(), f)));
    }
    sources
}

/// A file without its `#[cfg(test)]` module (the last item, by convention).
pub(crate) fn without_tests(source: &str) -> &str {
    source
        .find("#[cfg(test)]\nmod ")
        .map_or(source, |at| &source[..at])
}

/// The arguments of the call whose `(` is at `open`, split at top-level commas.
pub(crate) fn arguments(source: &str, open: usize) -> Vec<String> {
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

pub(crate) fn literal(arg: &str) -> Option<String> {
    let inner = arg.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains('"')).then(|| inner.to_owned())
}

pub(crate) fn is_variable_name(name: &str) -> bool {
    name.len() > 1
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Offsets just past every call of `callee` that is not its definition.
pub(crate) fn calls<'s>(source: &'s str, callee: &'s str) -> impl Iterator<Item = usize> + 's {
    source.match_indices(callee).filter_map(move |(at, _)| {
        let before = &source[..at];
        let joined = before.ends_with(|c: char| c.is_alphanumeric() || c == '_')
            || before.trim_end().ends_with("fn");
        (!joined).then_some(at + callee.len())
    })
}

/// Constants of the contracts crate, by name, for defaults taken from it.
pub(crate) fn contract_constants() -> String {
    files(&root().join("shared/contracts/src"), ".rs")
        .iter()
        .map(read)
        .collect::<Vec<_>>()
        .join("\n")
}

pub(crate) fn resolve(expr: &str, file: &str, contracts: &str, depth: u32) -> Option<Value> {
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
pub(crate) fn product(expr: &str) -> Option<u64> {
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

pub(crate) fn reads() -> Vec<Read> {
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
                 literal or a constant (tests/tests/docs/main.rs says which forms)",
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
                for also in also_read(&reader, &name) {
                    push(&also, None);
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

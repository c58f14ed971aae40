//! The answers the README shows, against the answers the system gives.

use std::collections::BTreeMap;

use serde_json::Value;

/// What a second run answers, against the README's note: the status it
/// names, or else the same answer as the README shows, about the same `id`.
pub(super) fn again(
    note: &str,
    expected: &[String],
    first: &str,
    stdout: &str,
    statuses: &[u16],
) -> Vec<String> {
    let named = note
        .split(|c: char| !c.is_ascii_digit())
        .find(|word| word.len() == 3)
        .and_then(|word| word.parse::<u16>().ok());
    if let Some(named) = named {
        return match statuses.last() {
            Some(&status) if status == named => Vec::new(),
            status => vec![format!("status {status:?}, not {named}")],
        };
    }
    let mut failures = compare(expected, stdout, statuses);
    let id = |text: &str| {
        let body = text.rsplit("\r\n\r\n").next().unwrap_or(text);
        serde_json::from_str::<Value>(body.trim())
            .ok()?
            .get("id")
            .cloned()
    };
    if id(first) != id(stdout) {
        failures.push(format!(
            "another id: {:?}, first {:?}",
            id(stdout),
            id(first)
        ));
    }
    failures
}

pub(super) fn is_header(line: &str) -> bool {
    line.split_once(": ").is_some_and(|(name, _)| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '-')
    })
}

/// What differs between the answer and what the README shows.
pub(super) fn compare(expected: &[String], stdout: &str, statuses: &[u16]) -> Vec<String> {
    let mut failures = Vec::new();
    let Some(&status) = statuses.last() else {
        return vec!["no curl ran".to_owned()];
    };
    let (head, body) = match stdout.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/") => (head, body),
        _ => ("", stdout),
    };
    let json_shown: String = expected
        .iter()
        .filter(|l| !l.starts_with("HTTP/") && !is_header(l))
        .cloned()
        .collect::<Vec<_>>()
        .join("");

    let shown_status = expected
        .iter()
        .find_map(|l| l.strip_prefix("HTTP/1.1 "))
        .and_then(|l| l.split(' ').next()?.parse::<u16>().ok())
        .or_else(|| {
            let members = members(&json_shown);
            members
                .get("status")
                .and_then(|v| v.first()?.as_u64())
                .and_then(|s| u16::try_from(s).ok())
        });
    match shown_status {
        Some(shown) if shown != status => failures.push(format!("status {status}, not {shown}")),
        None if !(200..300).contains(&status) => {
            failures.push(format!("status {status}, not a 2xx"))
        }
        _ => {}
    }

    for header in expected.iter().filter(|l| is_header(l)) {
        let (name, value) = header.split_once(": ").unwrap();
        let prefix = value
            .split(|c: char| c.is_ascii_digit())
            .next()
            .unwrap_or("");
        let found = head.lines().any(|l| {
            l.to_ascii_lowercase().starts_with(&format!("{name}: "))
                && l[name.len() + 2..].starts_with(prefix)
        });
        if !found {
            failures.push(format!("no header `{name}: {prefix}…`"));
        }
    }

    if json_shown.is_empty() {
        return failures;
    }
    let Ok(actual) = serde_json::from_str::<Value>(body.trim()) else {
        failures.push(format!("the answer is not JSON: {body}"));
        return failures;
    };
    let mut actual_members = BTreeMap::new();
    collect(&actual, &mut actual_members);
    for (key, values) in members(&json_shown) {
        let Some(found) = actual_members.get(&key) else {
            failures.push(format!("no member `{key}`"));
            continue;
        };
        for value in values.iter().filter(|v| comparable(&key, v)) {
            if !found.contains(value) {
                failures.push(format!("no `{key}` is {value} (found {found:?})"));
            }
        }
    }
    failures
}

fn collect(value: &Value, into: &mut BTreeMap<String, Vec<Value>>) {
    match value {
        Value::Object(map) => {
            for (key, member) in map {
                into.entry(key.clone()).or_default().push(member.clone());
                collect(member, into);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect(i, into)),
        _ => {}
    }
}

/// Ids, timestamps and tokens differ from run to run; `…` marks elisions.
fn comparable(key: &str, value: &Value) -> bool {
    let elided_or_varying = match value {
        Value::String(s) => s.contains('…') || uuid::Uuid::parse_str(s).is_ok(),
        Value::Object(_) | Value::Array(_) => true,
        _ => false,
    };
    !(elided_or_varying
        || key == "id"
        || key.ends_with("_id")
        || key.ends_with("_at")
        || key.ends_with("_token"))
}

/// Every `"key":` the README shows, with its value when that is a scalar
/// written out in full.
pub(super) fn members(shown: &str) -> BTreeMap<String, Vec<Value>> {
    let mut found: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut rest = shown;
    while let Some(start) = rest.find('"') {
        let Some((string, after)) = json_string(&rest[start..]) else {
            break;
        };
        rest = after;
        let Some(value) = rest.strip_prefix(':') else {
            continue;
        };
        let entry = found.entry(string).or_default();
        if value.starts_with('"') {
            if let Some((text, after)) = json_string(value) {
                entry.push(Value::String(text));
                rest = after;
            }
        } else {
            let scalar: String = value
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
                .collect();
            if let Ok(v) = serde_json::from_str::<Value>(&scalar) {
                entry.push(v);
            }
        }
    }
    found
}

/// The JSON string at the start of `text` (which begins with `"`), decoded,
/// and what follows it.
fn json_string(text: &str) -> Option<(String, &str)> {
    let mut escaped = false;
    for (i, c) in text.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => {
                let decoded = serde_json::from_str(&text[..=i]).ok()?;
                return Some((decoded, &text[i + 1..]));
            }
            _ => {}
        }
    }
    None
}

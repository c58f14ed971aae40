//! The README's walk-through ("Try it"), run against a real system, so the
//! README is a tested example rather than a promise.
//!
//! Every `sh` block of the section is split into commands (a line and its
//! `\` continuations) and run in order through `bash -c`, with the shell
//! variables earlier commands set (`TOKEN`, `USER_ID`, `ADMIN_TOKEN`)
//! carried over, `localhost:3000` rewritten to the system's gateway, and the
//! development admin's password `just run` uses (which the README shows, and
//! `scripts/run.sh` is checked to still use) replaced by the system's. `curl`
//! is a function that adds `--max-time 10` and writes each status code to
//! stderr, leaving the output the README's pipes read untouched; each
//! command is killed after 30 s.
//!
//! The `# …` lines right after a command are what it answers: a status line
//! (`# HTTP/1.1 201 Created`), headers (`# location: /users/…`), and JSON, in
//! which `…` stands for what the README leaves out. Checked: the status
//! (the status line's, or a problem's `"status"`, else a 2xx), each header's
//! name and its value up to the first id, every key the JSON shows
//! (anywhere in the answer), and every value it shows that is not an id, a
//! timestamp, a token or elided (some member of that name in the answer has
//! it). Comments that are prose are not checked. A command with a
//! "(run it again: …)" note is run a second time and must answer the
//! status the note names, or else again what the README shows, about the
//! same `id` (the Idempotency-Key's promise). A read (no body) is retried for up to 10 s
//! until it matches: notifications arrive through the events exchange a
//! moment after the orders that cause them.
//!
//! Not run: the `grpcurl` block (grpcurl is not installed where the tests
//! run; `user-service/tests/it/ops.rs` covers reflection, and
//! `tests/tests/it/trust.rs` the grants it shows).

use std::{collections::BTreeMap, time::Duration};

use serde_json::Value;
use system_tests::{ADMIN_PASSWORD, Options, System};
use tokio::process::Command;

const README_ADMIN_PASSWORD: &str = "change me, I am the dev admin";
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
const READ_RETRY: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Step {
    command: String,
    expected: Vec<String>,
    /// The README's "(run it again: …)" note, when it has one.
    again: Option<String>,
}

#[tokio::test]
async fn the_readme_walk_through_answers_as_shown() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let run_sh = std::fs::read_to_string(root.join("scripts/run.sh")).unwrap();
    assert!(
        run_sh.contains(README_ADMIN_PASSWORD),
        "scripts/run.sh no longer uses the README's development admin password"
    );
    let steps = steps(&readme);
    assert!(
        steps.len() > 20,
        "expected the README's curl commands, found {steps:#?}"
    );
    let variables: Vec<String> = steps
        .iter()
        .filter_map(|s| {
            let (name, _) = s.command.split_once("=$(")?;
            name.chars()
                .all(|c| c.is_ascii_uppercase() || c == '_')
                .then(|| name.to_owned())
        })
        .collect();

    let system = System::start(Options::default()).await;
    let gateway = system.url("").trim_start_matches("http://").to_owned();
    let state = tempfile_path(&system.id);
    std::fs::write(&state, "").unwrap();

    for step in &steps {
        let command = step
            .command
            .replace("localhost:3000", &gateway)
            .replace(README_ADMIN_PASSWORD, ADMIN_PASSWORD);
        let script = format!(
            "set -o pipefail\n\
             curl() {{ command curl --max-time 10 -w '%{{stderr}}%{{http_code}}\\n' \"$@\"; }}\n\
             source {state}\n{command}\n\
             declare -p {} > {state} 2>/dev/null || true\n",
            variables.join(" "),
            state = state.display(),
        );
        let is_read = !command.contains(" -d ");
        let deadline =
            tokio::time::Instant::now() + if is_read { READ_RETRY } else { Duration::ZERO };
        let first = loop {
            let (stdout, statuses) = run(&script).await;
            let failures = compare(&step.expected, &stdout, &statuses);
            if failures.is_empty() {
                break stdout;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "README.md: `{}`\nanswered:\n{stdout}\n(statuses {statuses:?})\nbut the README shows:\n{}\n{}\n{}",
                    step.command,
                    step.expected.join("\n"),
                    failures.join("\n"),
                    system.logs_hint()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        if let Some(note) = &step.again {
            let (stdout, statuses) = run(&script).await;
            let failures = again(note, &step.expected, &first, &stdout, &statuses);
            assert!(
                failures.is_empty(),
                "README.md: `{}` run again ({note}) answered:\n{stdout}\n(statuses {statuses:?})\n{}",
                step.command,
                failures.join("\n")
            );
        }
    }
    std::fs::remove_file(&state).ok();
}

/// What a second run answers, against the README's note: the status it
/// names, or else the same answer as the README shows, about the same `id`.
fn again(
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

fn tempfile_path(id: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("readme-{id}.sh"))
}

/// Runs one command; its stdout, and the status of each curl it ran.
async fn run(script: &str) -> (String, Vec<u16>) {
    let output = tokio::time::timeout(
        COMMAND_TIMEOUT,
        Command::new("bash")
            .arg("-c")
            .arg(script)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("still running after {COMMAND_TIMEOUT:?}:\n{script}"))
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let statuses = stderr
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert!(
        output.status.success(),
        "failed ({}):\n{script}\n{stderr}",
        output.status
    );
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        statuses,
    )
}

/// The commands of the "Try it" section's `sh` blocks, each with the
/// answer lines the README shows after it.
fn steps(readme: &str) -> Vec<Step> {
    let section = readme
        .split("\n## Try it\n")
        .nth(1)
        .expect("README.md has a `## Try it` section")
        .split("\n## ")
        .next()
        .unwrap();
    let mut steps: Vec<Step> = Vec::new();
    let mut in_block = false;
    let mut block = Vec::new();
    for line in section.lines() {
        if !in_block {
            in_block = line.trim() == "```sh";
            continue;
        }
        if line.trim() == "```" {
            in_block = false;
            if !block.iter().any(|l: &&str| l.contains("grpcurl")) {
                steps.extend(parse_block(&block));
            }
            block.clear();
            continue;
        }
        block.push(line);
    }
    steps
}

fn parse_block(lines: &[&str]) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut continuing = false;
    let mut answering = false;
    for line in lines {
        if continuing {
            let step = steps.last_mut().unwrap();
            step.command.push('\n');
            step.command.push_str(line);
            continuing = line.ends_with('\\');
        } else if let Some(comment) = line.strip_prefix('#') {
            let is_answer = comment.starts_with(" {")
                || comment.starts_with(" HTTP/")
                || comment.starts_with("  ")
                || is_header(comment.trim());
            if let Some(note) = comment.trim().strip_prefix("(run it again: ") {
                if let Some(step) = steps.last_mut().filter(|_| answering) {
                    step.again = Some(note.trim_end_matches(')').to_owned());
                }
            } else if answering && is_answer {
                steps
                    .last_mut()
                    .unwrap()
                    .expected
                    .push(comment.trim().to_owned());
            } else {
                answering = false;
            }
        } else if line.trim().is_empty() {
            answering = false;
        } else {
            steps.push(Step {
                command: (*line).to_owned(),
                expected: Vec::new(),
                again: None,
            });
            continuing = line.ends_with('\\');
            answering = true;
        }
    }
    steps
}

fn is_header(line: &str) -> bool {
    line.split_once(": ").is_some_and(|(name, _)| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '-')
    })
}

/// What differs between the answer and what the README shows.
fn compare(expected: &[String], stdout: &str, statuses: &[u16]) -> Vec<String> {
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
fn members(shown: &str) -> BTreeMap<String, Vec<Value>> {
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

#[test]
fn the_walk_through_is_parsed_into_commands_and_answers() {
    let block = [
        "curl -si localhost:3000/users -H 'a' \\",
        "  -d '{}'",
        "# HTTP/1.1 201 Created",
        "# location: /users/01a2",
        "# {\"id\":\"x\",\"status\":409,",
        "#  \"reason\":\"r\"}",
        "# (run it again: 409)",
        "",
        "# Log in:",
        "TOKEN=$(curl -s x)",
        "# The other form:",
        "curl -s y",
    ];
    let steps = parse_block(&block);
    assert_eq!(steps.len(), 3, "{steps:#?}");
    assert_eq!(steps[0].expected.len(), 4, "{steps:#?}");
    assert!(steps[1].expected.is_empty(), "{steps:#?}");
    assert_eq!(steps[0].again.as_deref(), Some("409"));
    let shown = members(&steps[0].expected[2..].join(""));
    assert_eq!(shown["status"], [Value::from(409)]);
    assert_eq!(shown["reason"], [Value::from("r")]);
}

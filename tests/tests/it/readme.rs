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

use std::time::Duration;

use serde_json::Value;
use system_tests::{ADMIN_PASSWORD, Options, System};
use tokio::process::Command;

mod answers;

use answers::{again, compare, is_header, members};

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
    let readme = test_support::repo::read("README.md");
    let run_sh = test_support::repo::read("scripts/run.sh");
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

//! What a copy of this repository on GitHub runs and ships beside the code:
//! the CI workflow (.github/workflows/), Dependabot's configuration, the
//! licence and the line endings. GitHub is not reachable where these tests
//! run, so the workflow is checked by the tools GitHub's own parser agrees
//! with — actionlint (with shellcheck on every `run:` script) and
//! check-jsonschema's copies of the workflow and Dependabot schemas — and
//! by its structure against the repository: the test job's servers are the
//! images docker-compose.yml runs, the compose job brings every container
//! up healthy and always takes it down, the token is read-only, the audit
//! has a schedule, Dependabot covers every ecosystem we pin. What only
//! GitHub can show (that a job passes there) is said in docs/testing.md.

#![allow(clippy::unwrap_used)]

use std::{collections::BTreeMap, os::unix::fs::PermissionsExt, path::PathBuf, process::Command};

use deploy::{
    read, root,
    tools::{run, tool},
};
use serde_json::Value;

const CI: &str = ".github/workflows/ci.yml";
const DEPENDABOT: &str = ".github/dependabot.yml";
/// The servers `just test` needs (`just check-deps tests`): the test job
/// must run each, as compose does.
const TEST_SERVERS: [&str; 4] = ["postgres", "rabbitmq", "nats", "redis"];
/// The ecosystems whose versions the repository pins: Cargo.lock, the
/// workflow's actions, the Dockerfile's images.
const ECOSYSTEMS: [&str; 3] = ["cargo", "github-actions", "docker"];

fn yaml(path: &str) -> Value {
    serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn workflows() -> Vec<PathBuf> {
    let dir = root().join(".github/workflows");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no workflow in .github/workflows");
    found
}

fn in_root(program: &str) -> Command {
    let mut command = Command::new(tool(program));
    command.current_dir(root());
    command
}

fn job<'a>(workflow: &'a Value, name: &str) -> &'a Value {
    let job = &workflow["jobs"][name];
    assert!(job.is_object(), "{CI}: no `{name}` job");
    job
}

/// The `run:` scripts of a job's steps, in order.
fn runs(job: &Value) -> Vec<&str> {
    job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|step| step["run"].as_str())
        .collect()
}

/// The step whose `run:` contains `text`.
fn step_running<'a>(job: &'a Value, text: &str) -> &'a Value {
    job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["run"].as_str().is_some_and(|r| r.contains(text)))
        .unwrap_or_else(|| panic!("{CI}: no step runs `{text}`"))
}

/// `key = "value"` in `section` of the root Cargo.toml.
fn cargo_toml(section: &str, key: &str) -> String {
    let manifest = read("Cargo.toml");
    let body = manifest
        .split(&format!("\n[{section}]\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("Cargo.toml has no [{section}]"))
        .split("\n[")
        .next()
        .unwrap();
    body.lines()
        .filter_map(|line| line.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("Cargo.toml's [{section}] has no {key}"))
}

#[test]
fn the_workflows_pass_actionlint() {
    // Expressions and the contexts they may use, action inputs, cron,
    // `needs`, and shellcheck on every `run:` (scripts/tools.sh installs it).
    run(in_root("actionlint").arg("-no-color").args(workflows()));
}

#[test]
fn the_workflows_and_dependabot_yml_follow_their_schemas() {
    for workflow in workflows() {
        run(in_root("check-jsonschema")
            .args(["--builtin-schema", "vendor.github-workflows"])
            .arg(workflow));
    }
    run(in_root("check-jsonschema").args(["--builtin-schema", "vendor.dependabot", DEPENDABOT]));
}

#[test]
fn the_test_job_runs_the_servers_compose_runs_of_the_same_images() {
    let compose = yaml("docker-compose.yml");
    let workflow = yaml(CI);
    let services = job(&workflow, "test")["services"]
        .as_object()
        .unwrap_or_else(|| panic!("{CI}: the test job has no service containers"));
    let images: BTreeMap<&str, &str> = services
        .iter()
        .map(|(name, service)| (name.as_str(), service["image"].as_str().unwrap()))
        .collect();
    for server in TEST_SERVERS {
        assert!(
            images.contains_key(server),
            "{CI}: the test job runs no `{server}`, which `just test` needs"
        );
    }
    for (name, image) in images {
        let composes = compose["services"][name]["image"]
            .as_str()
            .unwrap_or_else(|| panic!("docker-compose.yml has no `{name}` service"));
        assert_eq!(
            image, composes,
            "{CI}: the test job's `{name}` is not the image docker-compose.yml runs"
        );
    }
}

#[test]
fn the_test_job_runs_just_test_on_the_workspaces_rust() {
    let workflow = yaml(CI);
    let test = job(&workflow, "test");
    assert!(
        runs(test)
            .iter()
            .any(|r| r.trim() == "bash .ci/run" || r.contains("just test")),
        "{CI}: the test job runs neither .ci/run nor `just test`"
    );
    // Cargo.toml's rust-version, in every job that installs Rust: the
    // oldest the workspace promises is the one CI proves.
    let rust_version = cargo_toml("workspace.package", "rust-version");
    let mut toolchains = 0;
    for (name, job) in workflow["jobs"].as_object().unwrap() {
        for step in job["steps"].as_array().unwrap() {
            let uses = step["uses"].as_str().unwrap_or_default();
            if uses.starts_with("dtolnay/rust-toolchain@") {
                toolchains += 1;
                assert_eq!(
                    step["with"]["toolchain"].as_str(),
                    Some(rust_version.as_str()),
                    "{CI}: job {name} installs another Rust than Cargo.toml's rust-version"
                );
            }
        }
    }
    assert!(toolchains > 0, "{CI}: no job installs Rust");
}

#[test]
fn the_compose_job_waits_for_every_container_walks_the_readme_and_always_tears_down() {
    let workflow = yaml(CI);
    let compose = job(&workflow, "compose");
    for script in ["scripts/env.sh", "scripts/readme-curls.sh"] {
        step_running(compose, script);
        let mode = std::fs::metadata(root().join(script))
            .unwrap_or_else(|e| panic!("{script}, which the compose job runs: {e}"));
        assert!(
            mode.permissions().mode() & 0o111 != 0,
            "{script} is not executable"
        );
    }
    let up = step_running(compose, "docker compose up")["run"]
        .as_str()
        .unwrap();
    for flag in ["--build", "--wait"] {
        assert!(up.contains(flag), "{CI}: `{up}` lacks {flag}");
    }
    let down = step_running(compose, "docker compose down");
    assert_eq!(
        down["if"], "always()",
        "{CI}: tear down even after a failure"
    );
    assert!(
        down["run"].as_str().unwrap().contains(" -v"),
        "{CI}: `docker compose down` keeps the volumes"
    );
    let logs = step_running(compose, "docker compose logs");
    assert_eq!(
        logs["if"], "failure()",
        "{CI}: the logs, when a step failed"
    );
}

#[test]
fn the_readme_walk_through_is_found_by_the_script_the_compose_job_runs() {
    // A README reworded out of the script's reach would make the compose
    // job pass having checked nothing (the script itself also refuses
    // fewer than 20 commands).
    let listed = run(Command::new("bash")
        .args(["scripts/readme-curls.sh", "--list"])
        .current_dir(root()));
    let commands: Vec<&str> = listed.lines().filter(|l| l.contains("curl ")).collect();
    assert!(commands.len() >= 20, "{listed}");
    assert!(
        listed.lines().any(|l| l.starts_with("201\t")) && listed.contains("409\t"),
        "the statuses the README shows were not read:\n{listed}"
    );
    assert!(!listed.contains("grpcurl"), "the grpcurl block is not run");
}

#[test]
fn the_token_is_read_only_and_every_action_is_pinned_to_a_commit() {
    for path in workflows() {
        let name = path.strip_prefix(root()).unwrap().display().to_string();
        let workflow = yaml(&name);
        assert_eq!(
            workflow["permissions"],
            serde_json::json!({ "contents": "read" }),
            "{name}: top-level permissions must be `contents: read`"
        );
        for (id, job) in workflow["jobs"].as_object().unwrap() {
            if let Some(permissions) = job["permissions"].as_object() {
                assert!(
                    permissions.values().all(|v| v != "write"),
                    "{name}: job {id} asks for write access"
                );
            }
            for step in job["steps"].as_array().unwrap() {
                let Some(uses) = step["uses"].as_str() else {
                    continue;
                };
                let commit = uses.rsplit_once('@').map_or("", |(_, at)| at);
                assert!(
                    commit.len() == 40 && commit.chars().all(|c| c.is_ascii_hexdigit()),
                    "{name}: job {id} uses {uses}, not pinned to a full commit SHA"
                );
            }
        }
    }
}

#[test]
fn the_audit_runs_every_week() {
    let workflow = yaml(CI);
    let crons: Vec<&str> = workflow["on"]["schedule"]
        .as_array()
        .unwrap_or_else(|| panic!("{CI}: no `on.schedule`"))
        .iter()
        .filter_map(|s| s["cron"].as_str())
        .collect();
    assert!(!crons.is_empty(), "{CI}: no cron in `on.schedule`");
    let audit = job(&workflow, "audit");
    assert!(
        runs(audit).iter().any(|r| r.trim() == "just audit"),
        "{CI}: the audit job does not run `just audit`"
    );
    assert!(
        read("justfile").contains("\naudit:"),
        "the justfile has no `audit` recipe"
    );
    let condition = audit["if"].as_str().unwrap_or_default();
    assert!(
        condition.is_empty() || condition.contains("'schedule'"),
        "{CI}: the audit job does not run on the schedule: `if: {condition}`"
    );
}

#[test]
fn dependabot_updates_cargo_the_actions_and_the_images_weekly() {
    let dependabot = yaml(DEPENDABOT);
    let updates = dependabot["updates"].as_array().unwrap();
    for ecosystem in ECOSYSTEMS {
        let update = updates
            .iter()
            .find(|u| u["package-ecosystem"] == ecosystem)
            .unwrap_or_else(|| panic!("{DEPENDABOT}: no `{ecosystem}` updates"));
        assert_eq!(update["directory"], "/", "{ecosystem}");
        assert_eq!(update["schedule"]["interval"], "weekly", "{ecosystem}");
        let grouped = update["groups"].as_object().is_some_and(|groups| {
            groups.values().any(|g| {
                let types = &g["update-types"];
                types
                    .as_array()
                    .is_some_and(|t| t.contains(&"minor".into()) && t.contains(&"patch".into()))
            })
        });
        assert!(
            grouped,
            "{DEPENDABOT}: {ecosystem}'s minor and patch updates are not grouped"
        );
    }
}

#[test]
fn the_licence_is_the_mit_licence_cargo_toml_names() {
    assert_eq!(cargo_toml("workspace.package", "license"), "MIT");
    let licence = read("LICENSE");
    assert!(
        licence.starts_with("MIT License\n\nCopyright (c) "),
        "{licence}"
    );
    // The MIT licence's own sentences (opensource.org/license/mit).
    for sentence in [
        "Permission is hereby granted, free of charge, to any person obtaining a copy",
        "The above copyright notice and this permission notice shall be included in all",
        "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR",
    ] {
        assert!(licence.contains(sentence), "LICENSE lacks {sentence:?}");
    }
}

#[test]
fn scripts_and_container_files_check_out_with_lf_whatever_git_is_told() {
    // git's own reading of .gitattributes, for every tracked script and
    // the files run inside containers.
    let tracked = String::from_utf8(
        Command::new("git")
            .args(["ls-files", "-z"])
            .current_dir(root())
            .output()
            .expect("git ls-files (needs git)")
            .stdout,
    )
    .unwrap();
    let mut checked: Vec<&str> = tracked
        .split('\0')
        .filter(|p| p.ends_with(".sh") || p.ends_with(".yml") || p.ends_with(".yaml"))
        .collect();
    assert!(
        checked.iter().any(|p| p.ends_with(".sh")),
        "no .sh file tracked"
    );
    checked.extend([".ci/run", "Dockerfile", "justfile"]);
    let attributes = run(Command::new("git")
        .args(["check-attr", "eol", "--"])
        .args(&checked)
        .current_dir(root()));
    for path in checked {
        assert!(
            attributes.contains(&format!("{path}: eol: lf\n")),
            ".gitattributes does not force LF for {path}:\n{attributes}"
        );
    }
    let png = run(Command::new("git")
        .args([
            "check-attr",
            "binary",
            "--",
            "docs/images/api-reference.png",
        ])
        .current_dir(root()));
    assert!(png.ends_with(": binary: set\n"), "{png}");
}

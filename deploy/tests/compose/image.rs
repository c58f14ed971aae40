//! The image compose runs: the Dockerfile builds exactly the binaries
//! compose runs, with its dependencies cached, and ships them to a non-root
//! runtime; the build context leaves out what git ignores.

use std::collections::BTreeSet;

use deploy::{read, workspace_binaries};

use crate::{binaries_run, compose};

/// Flags that would build more than the services: every workspace member,
/// the bench tooling's binaries, test and bench targets.
const TOO_MUCH: [&str; 8] = [
    "--workspace",
    "--all",
    "--bins",
    "--all-targets",
    "--tests",
    "--benches",
    "--examples",
    "--exclude",
];

/// The Dockerfile's instructions, continuation lines joined and comments
/// dropped.
fn instructions(dockerfile: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    out
}

/// The `RUN` instruction running `command` (e.g. `cargo build`); exactly one.
fn run_of(instructions: &[String], command: &str) -> Vec<String> {
    let runs: Vec<&String> = instructions
        .iter()
        .filter(|i| i.starts_with("RUN ") && i.contains(command))
        .collect();
    match runs.as_slice() {
        [run] => run.split_whitespace().map(str::to_owned).collect(),
        _ => panic!("the Dockerfile must run `{command}` once, not {runs:?}"),
    }
}

/// The packages and binaries a cargo command line selects (`-p`,
/// `--package`, `--bin`).
fn selected(words: &[String]) -> BTreeSet<String> {
    words
        .windows(2)
        .filter(|w| ["-p", "--package", "--bin"].contains(&w[0].as_str()))
        .map(|w| w[1].clone())
        .collect()
}

#[test]
fn dockerfile_builds_and_ships_exactly_the_binaries_compose_runs() {
    let dockerfile = read("Dockerfile");
    let instructions = instructions(&dockerfile);
    let build = run_of(&instructions, "cargo build");
    for flag in ["--release", "--locked"] {
        assert!(
            build.iter().any(|w| w == flag),
            "cargo build without {flag}"
        );
    }
    for flag in TOO_MUCH {
        assert!(
            !build.iter().any(|w| w == flag),
            "cargo build {flag} builds more than the services (bench tooling, tests): \
             name each service with -p"
        );
    }
    let built = selected(&build);
    let run = binaries_run(&compose());
    for (bin, services) in &run {
        assert!(
            built.contains(bin),
            "compose runs {bin} ({services:?}), which the Dockerfile does not build"
        );
        let copy = format!("/app/target/release/{bin} /usr/local/bin/{bin}");
        assert!(
            dockerfile.contains(&copy),
            "the Dockerfile does not ship {bin}"
        );
    }
    assert_eq!(
        built,
        run.keys().cloned().collect(),
        "the Dockerfile builds only what compose runs"
    );
    assert_eq!(built, workspace_binaries(), "every service binary is built");

    // The dependency layer is only reused by a build that unifies the same
    // features, i.e. selects the same packages.
    let cook = run_of(&instructions, "cargo chef cook");
    assert_eq!(
        selected(&cook),
        built,
        "cargo chef cook must select the packages cargo build does"
    );
    assert!(
        dockerfile.matches("\nFROM ").count() >= 2,
        "multi-stage build expected"
    );
}

#[test]
fn cargo_chef_is_pinned_and_the_runtime_user_is_numeric() {
    let instructions = instructions(&read("Dockerfile"));
    let install = run_of(&instructions, "cargo install cargo-chef");
    let version = install
        .windows(2)
        .find(|w| w[0] == "--version")
        .map(|w| w[1].clone());
    let version = version.expect("cargo install cargo-chef --version X.Y.Z: pinned");
    let exact =
        version.split('.').count() == 3 && version.split('.').all(|n| n.parse::<u32>().is_ok());
    assert!(
        exact,
        "cargo-chef pinned to an exact version, not {version:?}"
    );
    assert!(install.iter().any(|w| w == "--locked"), "{install:?}");

    // Kubernetes' runAsNonRoot can only verify a numeric user; the manifests
    // run as 65532, distroless' `nonroot`.
    let user = instructions.iter().rev().find(|i| i.starts_with("USER "));
    assert_eq!(
        user.map(String::as_str),
        Some("USER 65532:65532"),
        "the runtime runs as 65532:65532"
    );
    let runtime = instructions.iter().rev().find(|i| i.starts_with("FROM "));
    assert!(
        runtime.is_some_and(|from| from.contains("distroless") && from.contains(":nonroot")),
        "the runtime is distroless: {runtime:?}"
    );
}

/// A pattern as it reads from the root: `/target` and `target/` are
/// `target`; a name with no inner slash matches at any depth (`**/name`),
/// as both git and `.dockerignore` (with `**`) read it.
fn from_root(pattern: &str, unanchored_any_depth: bool) -> String {
    let trimmed = pattern.trim_end_matches('/');
    match trimmed.strip_prefix('/') {
        Some(anchored) => anchored.to_owned(),
        None if unanchored_any_depth && !trimmed.contains('/') => format!("**/{trimmed}"),
        None => trimmed.to_owned(),
    }
}

fn patterns(file: &str) -> Vec<String> {
    read(file)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_build_context_leaves_out_what_git_ignores() {
    // .dockerignore patterns are anchored at the root unless they say `**`.
    let ignored: BTreeSet<String> = patterns(".dockerignore")
        .iter()
        .map(|p| from_root(p, false))
        .collect();
    for pattern in patterns(".gitignore") {
        let want = from_root(&pattern, true);
        assert!(
            ignored.contains(&want),
            ".gitignore has {pattern}: .dockerignore needs {want} (build output, \
             credentials and installs stay out of the build context)"
        );
    }
    for must in ["**/node_modules", ".git", "target"] {
        assert!(ignored.contains(must), ".dockerignore lacks {must}");
    }
}

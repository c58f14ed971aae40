//! The README's Docker section, run as a new user would: a fresh copy of
//! the repository, exactly the commands the section shows up to `docker
//! compose up` (which needs an engine, so the CI workflow runs it), then
//! docker-compose.yml interpolated by a real Compose implementation
//! (podman-compose, which needs no engine for `config`) — every required
//! variable present — and every secret file each container mounts present
//! and valid for the server or service that reads it (docs/deployment.md).

#![allow(clippy::unwrap_used)]

use std::{
    collections::BTreeMap,
    fs,
    path::Path,
    process::{Command, Stdio},
};

use deploy::{
    read, root,
    tools::{Scratch, printed, run, tool},
};
use serde_json::Value;

/// The shell lines of the README's "With Docker" section, up to (not
/// including) `docker compose up`.
fn docker_section_commands() -> Vec<String> {
    let readme = read("README.md");
    let section = readme
        .split("\n## With Docker\n")
        .nth(1)
        .expect("README.md has a `## With Docker` section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("the section shows its commands in a ```sh block");
    let commands: Vec<String> = block
        .lines()
        .take_while(|l| !l.trim_start().starts_with("docker compose up"))
        .map(str::to_owned)
        .collect();
    assert!(
        block.lines().any(|l| l.starts_with("docker compose up")),
        "the section ends in `docker compose up`: {block}"
    );
    commands
}

/// The files of the working tree git would commit: what a clone has.
fn fresh_copy(to: &Path) {
    let listed = run(Command::new("git").current_dir(root()).args([
        "ls-files",
        "--cached",
        "--others",
        "--exclude-standard",
        "-z",
    ]));
    for file in listed.split('\0').filter(|f| !f.is_empty()) {
        let from = root().join(file);
        if !from.is_file() {
            continue; // deleted in the working tree
        }
        let dest = to.join(file);
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::copy(&from, &dest).unwrap();
    }
}

/// `podman-compose config` of `dir` with `profiles`: the file as compose
/// resolves it from `.env`; fails on a missing required variable.
fn resolved(dir: &Path, profiles: &[&str]) -> Value {
    let mut command = Command::new(tool("podman-compose"));
    command.current_dir(dir).arg("--dry-run");
    for profile in profiles {
        command.args(["--profile", profile]);
    }
    let output = command
        .arg("config")
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        output.status.success() && !printed(&output).contains("Error"),
        "compose cannot interpolate docker-compose.yml after the README's commands \
         (profiles {profiles:?}):\n{}",
        printed(&output)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    serde_norway::from_str(&text).unwrap()
}

/// What the consumer of a secret accepts, by the secret's name; `Err` says
/// why not.
fn valid_for_its_consumer(name: &str, value: &str) -> Result<(), String> {
    let plain = |v: &str| {
        v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._~-".contains(c))
    };
    match name {
        "jwt-signing-key" => {
            // Spelt in two: deploy/tests/secrets.rs looks for key headers.
            if value.starts_with(concat!("-----BEGIN PRIVATE", " KEY-----")) {
                Ok(())
            } else {
                Err("user-service reads a PKCS#8 PEM".into())
            }
        }
        "admin-password" if !(12..=128).contains(&value.chars().count()) => {
            Err("user-service wants 12 to 128 characters".into())
        }
        // nats-server reads a value that starts with a digit as a number,
        // and refuses to start.
        n if n.ends_with("-nats-password")
            && !(value.starts_with(|c: char| c.is_ascii_alphabetic())
                && value.chars().all(|c| c.is_ascii_alphanumeric())) =>
        {
            Err("NATS needs letters and digits, a letter first".into())
        }
        // deploy/redis/start.sh and deploy/rabbitmq/render.sh substitute
        // them unquoted.
        n if (n.ends_with("-redis-password")
            || n.contains("amqp")
            || n.starts_with("rabbitmq"))
            && !plain(value) =>
        {
            Err("letters, digits and . _ ~ - only".into())
        }
        _ if value.is_empty() || value.contains(['\n', '\r']) => {
            Err("empty, or more than one line".into())
        }
        _ => Ok(()),
    }
}

#[test]
fn the_readme_docker_commands_make_everything_compose_needs() {
    let scratch = Scratch::new("readme-env");
    let clone = scratch.path().join("rust-shop");
    fresh_copy(&clone);
    for line in docker_section_commands() {
        let output = Command::new("bash")
            .current_dir(&clone)
            .args(["-euo", "pipefail", "-c", &line])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "README's `{line}` failed:\n{}",
            printed(&output)
        );
    }

    for profiles in [&[][..], &["nats"], &["redis"], &["nats", "redis"]] {
        let compose = resolved(&clone, profiles);
        let services = compose["services"].as_object().unwrap();
        let declared = compose["secrets"].as_object().unwrap();
        let mut checked = BTreeMap::new();
        for (service, spec) in services {
            for secret in spec["secrets"].as_array().into_iter().flatten() {
                let name = secret.as_str().unwrap();
                let file = declared[name]["file"].as_str().unwrap();
                let path = clone.join(file);
                let value = fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("{service} mounts {name}: {file}: {e}"));
                if let Err(why) = valid_for_its_consumer(name, value.trim_end_matches('\n')) {
                    panic!("{service} mounts {name} ({file}), which its reader refuses: {why}");
                }
                checked.insert(name.to_owned(), service.clone());
            }
        }
        assert!(checked.len() >= 10, "{checked:?}");
        let started = |name: &str| services.contains_key(name);
        for server in ["nats", "redis"] {
            assert_eq!(
                started(server),
                profiles.contains(&server),
                "{server} starts with its profile only (profiles {profiles:?})"
            );
        }
    }

    // Run again, the command keeps everything: a second run must not lock
    // the servers' volumes out with new passwords.
    let before = fs::read_to_string(clone.join("secrets/postgres-password")).unwrap();
    let env_before = fs::read_to_string(clone.join(".env")).unwrap();
    for line in docker_section_commands() {
        let status = Command::new("bash")
            .current_dir(&clone)
            .args(["-euo", "pipefail", "-c", &line])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "`{line}`, run again");
    }
    assert_eq!(
        fs::read_to_string(clone.join("secrets/postgres-password")).unwrap(),
        before
    );
    assert_eq!(fs::read_to_string(clone.join(".env")).unwrap(), env_before);
}

#[test]
fn a_secret_a_consumer_would_refuse_is_caught() {
    for (name, value) in [
        ("api-gateway-nats-password", "8f3a91"),
        ("api-gateway-redis-password", "a b"),
        ("order-service-amqp-password", "pa$$"),
        ("admin-password", "short"),
        ("jwt-signing-key", "not a key"),
        ("postgres-password", ""),
    ] {
        assert!(
            valid_for_its_consumer(name, value).is_err(),
            "{name}={value:?}"
        );
    }
    assert!(valid_for_its_consumer("api-gateway-nats-password", "n8f3a91").is_ok());
}

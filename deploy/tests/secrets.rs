//! No private key is committed: every file git tracks is searched for a
//! PEM private key (`-----BEGIN … PRIVATE KEY-----`, PKCS#8, PKCS#1, SEC1,
//! OpenSSH) and for the overlay's generated secrets; only the named test
//! fixtures below may hold one, each with the reason. Keys are generated —
//! `user-service generate-signing-key`, `generate-dev-certs`,
//! scripts/k8s-local-secrets.sh — into git-ignored folders.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use deploy::root;

/// Files allowed to hold a private key, and why. Empty: the tests generate
/// theirs at run time.
const FIXTURES: &[(&str, &str)] = &[];

/// The folders the generators write into: git must ignore them.
const GENERATED: [&str; 2] = [
    "deploy/k8s/overlays/local/certs/ca.pem",
    "deploy/k8s/overlays/local/secrets/jwt-signing-key.pem",
];

fn tracked() -> Vec<String> {
    let output = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root())
        .output()
        .expect("git ls-files (needs git)");
    assert!(output.status.success(), "git ls-files failed");
    String::from_utf8(output.stdout)
        .unwrap()
        .split('\0')
        .filter(|path| !path.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether `text` holds a PEM private key block.
fn holds_private_key(text: &str) -> bool {
    text.match_indices("-----BEGIN ").any(|(at, _)| {
        let label = &text[at + "-----BEGIN ".len()..];
        label
            .split_once("-----")
            // A PEM label is capitals and spaces (RFC 7468 §3).
            .is_some_and(|(label, _)| {
                label.ends_with("PRIVATE KEY")
                    && label.len() < 40
                    && label.chars().all(|c| c.is_ascii_uppercase() || c == ' ')
            })
    })
}

#[test]
fn no_tracked_file_holds_a_private_key_outside_the_named_fixtures() {
    let offenders: Vec<String> = tracked()
        .into_iter()
        .filter(|path| !FIXTURES.iter().any(|(fixture, _)| fixture == path))
        .filter(|path| {
            // Binary and unreadable files hold no PEM text.
            std::fs::read_to_string(root().join(path)).is_ok_and(|text| holds_private_key(&text))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "private keys committed in {offenders:?}: generate them instead (deploy/k8s/README.md), \
         or name a test fixture in {}",
        file!()
    );
}

#[test]
fn the_generated_secrets_are_ignored_by_git() {
    for path in GENERATED {
        let ignored = Command::new("git")
            .args(["check-ignore", "-q", "--no-index", path])
            .current_dir(root())
            .status()
            .unwrap();
        assert!(
            ignored.success(),
            "{path} would be committed: add it to .gitignore"
        );
    }
}

#[test]
fn the_search_finds_every_kind_of_pem_private_key() {
    for label in [
        "PRIVATE KEY",
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "OPENSSH PRIVATE KEY",
    ] {
        assert!(holds_private_key(&format!(
            "x\n-----BEGIN {label}-----\nMC4C\n"
        )));
    }
    assert!(!holds_private_key("-----BEGIN CERTIFICATE-----\nMIIB\n"));
    assert!(!holds_private_key(
        r#"if !pem.contains("PRIVATE KEY-----") {"#
    ));
    assert!(!holds_private_key(
        "a PEM private key (`-----BEGIN … PRIVATE KEY-----`)"
    ));
}

//! This crate exists for its tests, which check the deployment files that
//! cannot be exercised on a machine without a Docker engine or a Kubernetes
//! cluster; the library holds only the helpers both test files use.
//!
//! # Layout
//! - `postgres/init.sql`: creates one database per service in compose.
//! - `tests/compose.rs`: parses `docker-compose.yml` and the `Dockerfile` and
//!   checks them against the workspace (every binary built and run, every
//!   service healthy before its dependents start, only the gateway public).
//! - `k8s/`: Kubernetes manifests, a kustomize `base/` and an `overlays/local/`
//!   for kind or minikube; how to run them in `k8s/README.md`.
//! - `tests/k8s.rs` (with `tests/k8s/`): parses the manifests and checks them
//!   against the workspace and compose (a Deployment per binary, probes on
//!   declared ports, locked-down pods, every compose variable provided and
//!   credentials only from a Secret, Services, autoscalers).

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("deploy/ sits in the workspace root")
        .to_owned()
}

/// A file of the repository, by its path from the root; panics (these are
/// test helpers) naming the file when it cannot be read.
pub fn read(path: &str) -> String {
    fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// Every service binary the workspace builds: members with a `src/main.rs`
/// (tooling such as `bench` keeps its binaries in `src/bin/`).
pub fn workspace_binaries() -> BTreeSet<String> {
    let manifest: toml::Table = read("Cargo.toml")
        .parse()
        .expect("Cargo.toml is valid TOML");
    manifest["workspace"]["members"]
        .as_array()
        .expect("workspace.members is a list")
        .iter()
        .filter_map(|m| m.as_str())
        .filter(|m| root().join(m).join("src/main.rs").exists())
        .filter_map(|m| m.rsplit('/').next().map(str::to_owned))
        .collect()
}

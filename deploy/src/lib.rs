//! No code: this crate exists for its tests, which check the deployment
//! files that cannot be exercised on a machine without a Docker engine or a
//! Kubernetes cluster.
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

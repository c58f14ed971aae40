//! Prometheus and Grafana in compose: pinned, read-only, on the host's
//! loopback only, and scraping every service where it serves its metrics.

use std::collections::BTreeSet;

use deploy::{read, root, workspace_binaries};
use serde_json::Value;

use crate::{compose, services};

/// Where compose mounts Prometheus' configuration from.
const PROMETHEUS_CONFIG: &str = "deploy/prometheus/prometheus.yml";

/// `name:tag` with a full version (`v3.13.2`, `13.2.0`): no `latest`, no
/// moving major or minor tag.
fn pinned(image: &str, name: &str) -> bool {
    let Some(tag) = image.strip_prefix(&format!("{name}:")) else {
        return false;
    };
    let version = tag.strip_prefix('v').unwrap_or(tag);
    version.split('.').count() == 3 && version.split('.').all(|n| n.parse::<u32>().is_ok())
}

fn mounts(service: &Value) -> BTreeSet<String> {
    service["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// A `host:container[:ro]` bind mount whose host side is in the repo.
fn assert_mounted(service: &str, mounts: &BTreeSet<String>, mount: &str) {
    assert!(mounts.contains(mount), "{service} must mount {mount}");
    let host = mount.split(':').next().unwrap();
    assert!(
        root().join(host).exists(),
        "{service} mounts {host}, which is not in the repo"
    );
}

fn assert_locked_down(name: &str, service: &Value) {
    assert_eq!(service["read_only"], true, "{name} runs read-only");
    assert_eq!(service["cap_drop"], serde_json::json!(["ALL"]), "{name}");
    let no_new = service["security_opt"]
        .as_array()
        .is_some_and(|o| o.iter().any(|o| o == "no-new-privileges:true"));
    assert!(no_new, "{name} sets no-new-privileges");
}

#[test]
fn prometheus_is_pinned_read_only_and_keeps_its_data_in_a_volume() {
    let compose = compose();
    let prometheus = &services(&compose)["prometheus"];
    let image = prometheus["image"].as_str().unwrap_or_default();
    assert!(pinned(image, "prom/prometheus"), "pin a version: {image}");
    assert_locked_down("prometheus", prometheus);
    let mounts = mounts(prometheus);
    let config = format!("./{PROMETHEUS_CONFIG}:/etc/prometheus/prometheus.yml:ro");
    assert_mounted("prometheus", &mounts, &config);
    // Prometheus reads its rule files relative to the configuration's
    // directory, and skips a pattern that matches nothing without a word:
    // each must be mounted beside it, or no alert is ever evaluated.
    let rule_files = rule_files();
    assert!(
        !rule_files.is_empty(),
        "{PROMETHEUS_CONFIG} loads no rule_files (deploy/prometheus/alerts.yml)"
    );
    for file in rule_files {
        let mount = format!("./deploy/prometheus/{file}:/etc/prometheus/{file}:ro");
        assert_mounted("prometheus", &mounts, &mount);
    }
    // Its one writable path: the TSDB, kept across recreates.
    let tsdb = mounts.iter().find_map(|m| m.strip_suffix(":/prometheus"));
    let tsdb = tsdb.expect("prometheus keeps /prometheus in a volume");
    assert!(
        compose["volumes"].get(tsdb).is_some(),
        "{tsdb} must be a named volume"
    );
}

/// The `rule_files` of [`PROMETHEUS_CONFIG`], as written (relative to it).
fn rule_files() -> Vec<String> {
    let config: Value = serde_norway::from_str(&read(PROMETHEUS_CONFIG))
        .unwrap_or_else(|e| panic!("{PROMETHEUS_CONFIG} does not parse: {e}"));
    config["rule_files"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let file = f.as_str().unwrap_or_default();
            assert!(
                !file.contains(['/', '*', '?', '[']),
                "{PROMETHEUS_CONFIG}: rule file {file:?} is not one file beside it"
            );
            file.to_owned()
        })
        .collect()
}

#[test]
fn grafana_is_provisioned_from_the_repo_and_anonymous_visitors_only_view() {
    let compose = compose();
    let grafana = &services(&compose)["grafana"];
    let image = grafana["image"].as_str().unwrap_or_default();
    assert!(pinned(image, "grafana/grafana"), "pin a version: {image}");
    assert_locked_down("grafana", grafana);
    let mounts = mounts(grafana);
    for mount in [
        "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro",
        "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro",
    ] {
        assert_mounted("grafana", &mounts, mount);
    }
    let env = &grafana["environment"];
    assert_eq!(env["GF_AUTH_ANONYMOUS_ENABLED"], "true");
    assert_eq!(
        env["GF_AUTH_ANONYMOUS_ORG_ROLE"], "Viewer",
        "anonymous visitors view, never edit"
    );
    // Its admin password from a secret file (`just env`), never a value.
    assert_eq!(
        env["GF_SECURITY_ADMIN_PASSWORD__FILE"], "/run/secrets/grafana-admin-password",
        "Grafana's admin password from its secret"
    );
    assert!(env.get("GF_SECURITY_ADMIN_PASSWORD").is_none());
}

/// Where a scrape job finds its targets: `host:port` of static targets, and
/// `name:port` of DNS discovery (type A: one target per address).
fn targets(job: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut fixed = BTreeSet::new();
    for config in job["static_configs"].as_array().into_iter().flatten() {
        for target in config["targets"].as_array().into_iter().flatten() {
            fixed.extend(target.as_str().map(str::to_owned));
        }
    }
    let mut discovered = BTreeSet::new();
    for config in job["dns_sd_configs"].as_array().into_iter().flatten() {
        let kind = config["type"].as_str().unwrap_or("SRV");
        let port = &config["port"];
        for name in config["names"].as_array().into_iter().flatten() {
            if kind == "A" || kind == "AAAA" {
                discovered.insert(format!("{}:{port}", name.as_str().unwrap_or_default()));
            }
        }
    }
    (fixed, discovered)
}

#[test]
fn prometheus_scrapes_every_replica_of_every_service_on_its_admin_port() {
    let compose = compose();
    let services = services(&compose);
    let config: Value = serde_norway::from_str(&read(PROMETHEUS_CONFIG))
        .unwrap_or_else(|e| panic!("{PROMETHEUS_CONFIG} does not parse: {e}"));
    let jobs = config["scrape_configs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for bin in workspace_binaries() {
        let service = &services[&bin];
        let admin = service["environment"]["ADMIN_LISTEN_ADDR"]
            .as_str()
            .unwrap();
        let port = admin.rsplit(':').next().unwrap();
        let want = format!("{bin}:{port}");
        let replicas = service["deploy"]["replicas"].as_u64().unwrap_or(1);
        let scraped = jobs.iter().any(|job| {
            let (fixed, discovered) = targets(job);
            // A fixed name reaches one replica per scrape, whichever Docker's
            // DNS picks: counters of different processes in one series.
            discovered.contains(&want) || (replicas == 1 && fixed.contains(&want))
        });
        assert!(
            scraped,
            "{PROMETHEUS_CONFIG}: no job scrapes {want} ({bin}'s ADMIN_LISTEN_ADDR in \
             compose, {replicas} replica(s); by DNS discovery, type A, when there can be \
             several)"
        );
    }
}

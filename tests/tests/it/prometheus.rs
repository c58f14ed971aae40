//! The shipped monitoring against the real system: Prometheus (the real
//! server) scrapes the four binaries with the jobs of
//! `deploy/prometheus/prometheus.yml`, every target must be up, the series
//! an operator relies on must move with traffic, and every expression of
//! the Grafana dashboard (`deploy/grafana/dashboards/rust-shop.json`) must
//! return data — so a renamed metric or a broken panel fails here, not on
//! someone's screen. Grafana itself is not run (it is not installable
//! here); its provisioning files are checked for what would break it.

use std::{collections::BTreeSet, time::Duration};

use serde_json::Value;
use system_tests::{
    Options, System,
    grafana::{dashboard, panels, queries},
    prometheus::Prometheus,
};

/// Every service's job: they must all be scraped.
const JOBS: [&str; 4] = [
    "api-gateway",
    "notification-service",
    "order-service",
    "user-service",
];

/// How long Prometheus may take to see everything (it scrapes every second).
const WITHIN: Duration = Duration::from_secs(30);

#[tokio::test]
async fn prometheus_scrapes_every_service_and_every_dashboard_query_has_data() {
    // Arrange: the system, and Prometheus scraping it.
    let system = System::start(Options::default()).await;
    let prometheus = Prometheus::scrape(&system).await;
    wait_targets_up(&prometheus).await;

    // Act: traffic in two rounds a few scrapes apart, so counters move
    // between samples (a series' first sample is no increase).
    for _ in 0..2 {
        let user = system.user_with_credit(10_000).await;
        let (status, body) = system.place_order(&user, "STICKER-PACK", 1).await;
        assert_eq!(status, 201, "{body}");
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }

    // Assert: the series that matter moved, in the jobs that own them...
    let every_job = |expr: &'static str| (expr, Expect::EveryJob);
    let positive = |expr: &'static str| (expr, Expect::Positive);
    let checks = [
        every_job("process_resident_memory_bytes > 0"),
        every_job("rate(process_cpu_seconds_total[1m]) >= 0"),
        every_job("build_info == 1"),
        positive(r#"sum(increase(http_requests_total{job="api-gateway",route="/orders"}[1m]))"#),
        positive(
            r#"sum(increase(saga_outcomes_total{job="order-service",outcome="confirmed"}[1m]))"#,
        ),
        positive(
            r#"sum(increase(grpc_server_requests_total{job="user-service",grpc_method="Debit",grpc_code="OK"}[1m]))"#,
        ),
        positive(
            r#"sum(increase(grpc_client_requests_total{job="order-service",grpc_method="Debit",grpc_code="OK"}[1m]))"#,
        ),
        positive(
            r#"sum(increase(grpc_client_requests_total{job="api-gateway",grpc_service="user.UserService",grpc_code="OK"}[1m]))"#,
        ),
        positive(
            r#"sum(increase(messaging_client_requests_total{job="api-gateway",pattern="create_order",outcome="ok"}[1m]))"#,
        ),
        positive(
            r#"sum(increase(messages_total{job="notification-service",outcome="acked"}[1m]))"#,
        ),
        positive(r#"max(rabbitmq_queue_consumers{job="order-service",queue="orders_queue"})"#),
    ];
    // ...and every panel's query has data.
    let dashboard = queries();
    assert!(!dashboard.is_empty(), "the dashboard has no queries");
    let queries: Vec<(String, String, Expect)> = checks
        .iter()
        .map(|(expr, expect)| ("check".to_owned(), (*expr).to_owned(), *expect))
        .chain(dashboard.iter().map(|q| {
            let name = format!("panel {:?} query {}", q.panel, q.ref_id);
            (name, q.promql(), Expect::Data)
        }))
        .collect();

    let failures = wait_all(&prometheus, &queries).await;
    assert!(
        failures.is_empty(),
        "within {WITHIN:?}:\n{}\nPrometheus: {} (log {}); {}",
        failures.join("\n"),
        prometheus.url,
        prometheus.log.display(),
        system.logs_hint()
    );
}

#[derive(Debug, Clone, Copy)]
enum Expect {
    /// At least one series.
    Data,
    /// One series per job in [`JOBS`].
    EveryJob,
    /// A single value above zero.
    Positive,
}

/// Polls until every query (named, for the failure message) gives what it
/// should, or [`WITHIN`] passed: then the failures, each naming its query,
/// its expression and what it returned.
async fn wait_all(prometheus: &Prometheus, queries: &[(String, String, Expect)]) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let mut failures = Vec::new();
        for (name, expr, expect) in queries {
            if let Err(why) = check(prometheus, expr, *expect).await {
                failures.push(format!("  {name}: {expr}\n    {why}"));
            }
        }
        if failures.is_empty() || tokio::time::Instant::now() >= deadline {
            return failures;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn check(prometheus: &Prometheus, expr: &str, expect: Expect) -> Result<(), String> {
    let result = prometheus.query(expr).await?;
    let jobs: BTreeSet<&str> = result
        .iter()
        .filter_map(|series| series["metric"]["job"].as_str())
        .collect();
    let value = |series: &Value| {
        series["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    let ok = match expect {
        Expect::Data => !result.is_empty(),
        Expect::EveryJob => jobs == BTreeSet::from(JOBS),
        Expect::Positive => result.len() == 1 && value(&result[0]) > 0.0,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("expected {expect:?}, got {}", Value::from(result)))
    }
}

/// Waits until Prometheus scrapes one target per service and all are up.
async fn wait_targets_up(prometheus: &Prometheus) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut targets = Vec::new();
    while tokio::time::Instant::now() < deadline {
        targets = prometheus.targets().await;
        let up: BTreeSet<&str> = targets
            .iter()
            .filter(|(_, _, health, _)| health == "up")
            .map(|(job, _, _, _)| job.as_str())
            .collect();
        if targets.len() == JOBS.len() && up == BTreeSet::from(JOBS) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let report: Vec<String> = targets
        .iter()
        .map(|(job, url, health, error)| format!("  {job} {url}: {health} {error}"))
        .collect();
    panic!(
        "not every job's target was up (want one each of {JOBS:?}):\n{}",
        report.join("\n")
    );
}

/// What would make Grafana show an empty or broken dashboard, checked
/// without Grafana: the provisioning files agree with each other and with
/// where docker-compose.yml mounts them.
#[test]
fn the_grafana_provisioning_and_dashboard_fit_together() {
    let root = test_support::repo::root();
    let yaml = |path: &str| -> serde_norway::Value {
        let text = std::fs::read_to_string(root.join(path)).unwrap();
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    };

    // The datasource: Prometheus on the compose network, a fixed uid.
    let datasources = yaml("deploy/grafana/provisioning/datasources/prometheus.yml");
    let datasource = &datasources["datasources"][0];
    assert_eq!(datasource["type"], "prometheus");
    assert_eq!(datasource["url"], "http://prometheus:9090");
    let uid = datasource["uid"]
        .as_str()
        .expect("the datasource has a uid");

    // Compose mounts the provisioning where Grafana reads it, and the
    // dashboards where the provider reads them; the datasource's host is
    // compose's Prometheus.
    let compose = yaml("docker-compose.yml");
    assert!(
        compose["services"]["prometheus"].is_mapping(),
        "the datasource's http://prometheus:9090 is a compose service"
    );
    let mounts: Vec<&str> = compose["services"]["grafana"]["volumes"]
        .as_sequence()
        .expect("docker-compose.yml: grafana mounts its provisioning")
        .iter()
        .filter_map(serde_norway::Value::as_str)
        .collect();
    let mounted_at = |source: &str| {
        mounts.iter().find_map(|mount| {
            let target = mount.strip_prefix(source)?.strip_prefix(':')?;
            Some(target.strip_suffix(":ro").unwrap_or(target).to_owned())
        })
    };
    assert_eq!(
        mounted_at("./deploy/grafana/provisioning").as_deref(),
        Some("/etc/grafana/provisioning"),
        "{mounts:?}"
    );
    let providers = yaml("deploy/grafana/provisioning/dashboards/rust-shop.yml");
    let provider = &providers["providers"][0];
    assert_eq!(provider["type"], "file");
    assert_eq!(
        provider["options"]["path"].as_str(),
        mounted_at("./deploy/grafana/dashboards").as_deref(),
        "the dashboards provider reads where docker-compose.yml mounts deploy/grafana/dashboards"
    );

    // Every panel queries that datasource; ids and refIds are unique.
    let dashboard = dashboard();
    assert!(dashboard["uid"].is_string(), "a fixed dashboard uid");
    let mut ids = BTreeSet::new();
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().unwrap_or_default();
        let id = panel["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("{title}: no id"));
        assert!(ids.insert(id), "{title}: panel id {id} used twice");
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], uid, "{title}: datasource");
        let targets = panel["targets"].as_array().expect("a panel has targets");
        assert!(!targets.is_empty(), "{title}: no queries");
        let mut ref_ids = BTreeSet::new();
        for target in targets {
            let ref_id = target["refId"].as_str().unwrap_or_default();
            assert!(ref_ids.insert(ref_id), "{title}: refId {ref_id:?} twice");
            assert_eq!(
                target["datasource"]["uid"], uid,
                "{title} {ref_id}: datasource"
            );
        }
    }
    for query in queries() {
        assert!(
            !query.expr.trim().is_empty() && !query.promql().contains('$'),
            "{} {}: {:?} is empty or uses a variable this test cannot replace",
            query.panel,
            query.ref_id,
            query.expr
        );
    }
}

//! What the services export on their admin ports: every metric says what
//! it is (a `# HELP` line for each `# TYPE`) after traffic through all four
//! services; every process reports itself and its build; callers count
//! their calls to other services; consumers report their queues.
//! (tests/tests/it/prometheus.rs scrapes them with a real Prometheus.)

use system_tests::{Options, System, process::counter};

#[tokio::test]
async fn every_metric_of_every_service_has_help_text() {
    let system = System::start(Options::default()).await;
    let user = system.user_with_credit(10_000).await;
    let (status, body) = system.place_order(&user, "STICKER-PACK", 1).await;
    assert_eq!(status, 201, "{body}");
    system
        .wait_settled(std::time::Duration::from_secs(15))
        .await;

    for process in system.processes() {
        let text = process.metrics().await;
        let typed: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert!(!typed.is_empty(), "{}: no metrics at all", process.name);
        for name in typed {
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "{}: {name} has no # HELP",
                process.name
            );
        }
    }
}

/// Every service reports its own process (memory, CPU, file descriptors,
/// threads) and the build it runs, read at the scrape.
#[tokio::test]
async fn every_service_reports_its_process_and_build() {
    let system = System::start(Options::default()).await;

    for process in system.processes() {
        let text = process.metrics().await;
        let name = process.binary.name();
        for gauge in [
            "process_resident_memory_bytes",
            "process_cpu_seconds_total",
            "process_open_fds",
            "process_threads",
            "process_start_time_seconds",
        ] {
            assert!(
                counter(&text, gauge, &[]) > 0.0,
                "{}: {gauge} missing or 0",
                process.name
            );
        }
        let build = [
            format!("service=\"{name}\""),
            format!("version=\"{}\"", package_version(name)),
        ];
        let build: Vec<&str> = build.iter().map(String::as_str).collect();
        assert_eq!(
            counter(&text, "build_info", &build),
            1.0,
            "{}: build_info{build:?}",
            process.name
        );
    }
}

/// The callers count their calls, as they saw them: the gateway's and
/// order-service's to user-service over gRPC, the gateway's to order-service
/// over RabbitMQ. The consumers report their queues' depth and consumers.
#[tokio::test]
async fn callers_count_their_calls_and_consumers_report_their_queues() {
    let system = System::start(Options::default()).await;
    let user = system.user_with_credit(10_000).await;

    let (status, body) = system.place_order(&user, "STICKER-PACK", 1).await;
    assert_eq!(status, 201, "{body}");

    let gateway = system.gateway.metrics().await;
    let order_service = system.order_services[0].metrics().await;
    let user_service = r#"grpc_service="user.UserService""#;
    let orders = r#"queue="orders_queue""#;
    let calls: [(&str, &str, &[&str]); 5] = [
        (
            &gateway,
            "grpc_client_requests_total",
            &[user_service, r#"grpc_method="Create""#, r#"grpc_code="OK""#],
        ),
        (
            &gateway,
            "grpc_client_request_duration_seconds_count",
            &[user_service, r#"grpc_method="TopUp""#],
        ),
        (
            &order_service,
            "grpc_client_requests_total",
            &[user_service, r#"grpc_method="Debit""#, r#"grpc_code="OK""#],
        ),
        (
            &gateway,
            "messaging_client_requests_total",
            &[orders, r#"pattern="create_order""#, r#"outcome="ok""#],
        ),
        (
            &gateway,
            "messaging_client_request_duration_seconds_count",
            &[orders, r#"pattern="create_order""#],
        ),
    ];
    for (text, name, labels) in calls {
        assert!(
            counter(text, name, labels) >= 1.0,
            "{name}{labels:?} not counted:\n{text}"
        );
    }

    // Sampled as each consumer starts: one consumer each, and a depth.
    let consumers = [
        (&system.order_services[0], "orders_queue"),
        (&system.notification_service, "notifications_queue"),
        (&system.notification_service, "notification-service.events"),
    ];
    for (process, queue) in consumers {
        let label = format!("queue=\"{queue}\"");
        let text = process.metrics().await;
        assert_eq!(
            counter(&text, "rabbitmq_queue_consumers", &[&label]),
            1.0,
            "{}: consumers of {queue}",
            process.name
        );
        assert!(
            text.contains(&format!("rabbitmq_queue_messages_ready{{{label}}}")),
            "{}: depth of {queue}:\n{text}",
            process.name
        );
    }
}

/// The `version` of a service's Cargo package, which its `build_info` must
/// report.
fn package_version(service: &str) -> String {
    let manifest = format!("{service}/Cargo.toml");
    test_support::repo::read(&manifest)
        .lines()
        .find_map(|line| line.strip_prefix("version = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no version in {manifest}"))
        .to_owned()
}

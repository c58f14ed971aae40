//! Dependencies going away under a running system, without restarting any
//! service: Postgres connections cut and refused. Only this system's
//! databases are touched, so other tests keep running.

use std::time::{Duration, Instant};

use sqlx::PgPool;
use system_tests::{Options, System, invariants::scalar, postgres_url};

/// A request during an outage must be answered within this (the services'
/// `DATABASE_ACQUIRE_TIMEOUT` is 2 s here): fast and clear, never a hang.
const FAIL_FAST: Duration = Duration::from_secs(6);

#[tokio::test]
async fn database_cut_off_answers_503_fast_and_recovers_without_restart() {
    let system = System::start(Options {
        env: vec![("DATABASE_ACQUIRE_TIMEOUT".into(), "2s".into())],
        ..Options::default()
    })
    .await;
    let initial = system.stock().await;
    let user = system.user_with_credit(100_000).await;
    let (status, body) = system.place_order(&user, "STICKER-PACK", 1).await;
    assert_eq!(status, 201, "{body}");

    let pids: Vec<u32> = system.processes().map(|p| p.pid()).collect();
    // Every connection to the system's databases dropped, and new ones
    // refused, as during a Postgres restart or failover.
    let server = PgPool::connect(&postgres_url()).await.unwrap();
    let databases: Vec<String> = ["users", "orders", "notifications"]
        .iter()
        .map(|name| system.database_name(name).to_owned())
        .collect();
    set_outage(&server, &databases, true).await;

    let started = Instant::now();
    let (status, content_type) = system.get_user(&user).await;
    let read = (status, started.elapsed());
    let started = Instant::now();
    let (order_status, order_body) = system.place_order(&user, "STICKER-PACK", 1).await;
    let order = (order_status, started.elapsed());

    set_outage(&server, &databases, false).await;

    assert_eq!(read.0, 503, "a read while the database is away");
    assert!(read.1 < FAIL_FAST, "the read took {:?}", read.1);
    assert_eq!(
        content_type.as_deref(),
        Some("application/problem+json"),
        "the 503's body"
    );
    assert_eq!(
        order.0, 503,
        "an order while the database is away: {order_body}"
    );
    assert!(order.1 < FAIL_FAST, "the order took {:?}", order.1);

    // Back without a restart: the pools reconnect on their own.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = system.place_order(&user, "STICKER-PACK", 1).await;
        if status == 201 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "orders still fail after the outage: {status} {body}\n{}",
            system.logs_hint()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    system.wait_healthy(Duration::from_secs(15)).await;
    for (process, pid) in system.processes().zip(&pids) {
        assert_eq!(process.pid(), *pid, "{} was restarted", process.name);
        assert!(process.is_ready().await, "{} is not ready", process.name);
    }
    // The failed order was answered, not parked: nothing dead-lettered.
    system.wait_settled(Duration::from_secs(15)).await;
    system.assert_invariants(&initial, (0, 0)).await;
}

/// Refuses (or allows again) connections to `databases`, and drops the
/// existing ones.
async fn set_outage(server: &PgPool, databases: &[String], down: bool) {
    for db in databases {
        sqlx::query(&format!(
            "ALTER DATABASE \"{db}\" WITH ALLOW_CONNECTIONS {}",
            !down
        ))
        .execute(server)
        .await
        .unwrap();
        if down {
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            )
            .bind(db)
            .execute(server)
            .await
            .unwrap();
        }
    }
}

/// A consumer that stops answering (SIGSTOP: a GC pause, a stuck host).
/// The gateway answers 504 when the request's deadline passes, and the
/// request, delivered after SIGCONT, is not executed: the client was told
/// "unknown", and a late order nobody waits for must not take stock or
/// credit behind its back.
#[tokio::test]
async fn a_paused_order_service_gets_a_504_in_time_and_never_runs_the_expired_order() {
    let deadline = Duration::from_secs(2);
    let system = System::start(Options {
        env: vec![("ORDER_SERVICE_TIMEOUT".into(), "2s".into())],
        ..Options::default()
    })
    .await;
    let initial = system.stock().await;
    let user = system.user_with_credit(100_000).await;

    system.order_services[0].signal("STOP");
    let started = Instant::now();
    let (status, body) = system
        .client()
        .place_order_keyed(&user, "STICKER-PACK", 1, Some("late-order"))
        .await;
    let waited = started.elapsed();
    // Paused past the deadline, then resumed.
    tokio::time::sleep(Duration::from_secs(1)).await;
    system.order_services[0].signal("CONT");

    assert_eq!(status, 504, "{body}");
    assert!(
        waited >= deadline && waited < deadline + Duration::from_secs(2),
        "answered after {waited:?}, deadline {deadline:?}"
    );
    // The resumed service reached the request and dropped it unexecuted.
    let metrics_deadline = Instant::now() + Duration::from_secs(10);
    while system_tests::process::counter(
        &system.order_services[0].metrics().await,
        "messages_total",
        &[r#"outcome="expired""#],
    ) < 1.0
    {
        assert!(
            Instant::now() < metrics_deadline,
            "the expired request was not seen as expired\n{}",
            system.logs_hint()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let orders = system.db("orders").await;
    let placed = scalar(&orders, "SELECT count(*) FROM orders").await;
    assert_eq!(placed, 0, "the expired order was executed");

    // Serving again; the invariants hold.
    let (status, body) = system.place_order(&user, "STICKER-PACK", 1).await;
    assert_eq!(status, 201, "{body}");
    system.wait_settled(Duration::from_secs(15)).await;
    system.assert_invariants(&initial, (0, 0)).await;
}

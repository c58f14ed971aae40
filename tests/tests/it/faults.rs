//! Bursts of orders with a service killed (SIGKILL) in the middle and
//! restarted, or its broker connections dropped, then every answer checked
//! against the databases and the business invariants
//! (`system_tests::burst`, whose doc states the client contract).

use std::time::Duration;

use system_tests::{Binary, Options, System, burst::Burst};

#[tokio::test]
async fn a_burst_settles_every_order_once() {
    burst(None).await;
}

#[tokio::test]
async fn order_service_killed_mid_burst_loses_and_repeats_nothing() {
    burst(Some(Fault::Kill(Binary::OrderService))).await;
}

#[tokio::test]
async fn user_service_killed_mid_saga_takes_no_credit_without_an_order() {
    burst(Some(Fault::Kill(Binary::UserService))).await;
}

#[tokio::test]
async fn notification_service_killed_mid_burst_notifies_each_event_once() {
    burst(Some(Fault::Kill(Binary::NotificationService))).await;
}

#[tokio::test]
async fn broker_connections_dropped_mid_burst_reconnect_and_lose_no_event() {
    burst(Some(Fault::BrokerGone)).await;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// SIGKILL, a pause, a restart.
    Kill(Binary),
    /// Every AMQP connection of the system closed by the broker, as in a
    /// RabbitMQ restart (without disturbing the tests running beside this
    /// one; `tests/tests/restarts.rs` restarts the broker itself); the
    /// services must reconnect on their own.
    BrokerGone,
}

async fn burst(fault: Option<Fault>) {
    let mut system = System::start(Options::default()).await;
    let mut burst = Burst::start(&system).await;
    // When the killed service was back (ready again).
    let mut back = None;
    match fault {
        Some(Fault::Kill(binary)) => {
            burst.fault_time().await;
            let process = match binary {
                Binary::OrderService => &mut system.order_services[0],
                Binary::UserService => &mut system.user_services[0],
                Binary::NotificationService => &mut system.notification_service,
                Binary::ApiGateway => &mut system.gateway,
            };
            process.signal("KILL");
            process.wait_exit(Duration::from_secs(5)).await;
            // Down long enough for calls and deliveries to fail.
            tokio::time::sleep(Duration::from_millis(500)).await;
            process.start();
            process.wait_ready(Duration::from_secs(15)).await;
            back = Some(std::time::Instant::now());
            burst.fault_over();
        }
        Some(Fault::BrokerGone) => {
            burst.fault_time().await;
            let closed = system.drop_broker_connections().await;
            // Each service has at least one connection.
            assert!(closed >= 4, "closed {closed} connections");
            // Back by themselves, within seconds.
            for process in system.processes() {
                process.wait_ready(Duration::from_secs(15)).await;
            }
            burst.fault_over();
        }
        None => {}
    }
    let report = burst.check(&system).await;
    // The figures docs/reliability.md reports (`--nocapture` shows them),
    // with the production defaults of SAGA_RECOVERY_INTERVAL and
    // SAGA_STALE_AFTER: from the service being back to every order settled
    // (an upper bound on the resume: the burst's last answers are in it).
    let settled = back.map(|back| back.elapsed());
    eprintln!("burst, fault {fault:?}: {report:?}, all settled {settled:?} after the restart");
    if fault == Some(Fault::Kill(Binary::UserService)) {
        assert!(
            report.retried_charges > 0,
            "no debit failed while user-service was down"
        );
    }
}

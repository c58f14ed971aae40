//! Bursts of orders with a service killed (SIGKILL) in the middle and
//! restarted, then the business invariants (`system_tests::invariants`).
//!
//! The client contract (docs/reliability.md): every answer that carries an
//! order id is that order's final outcome — 201 confirmed, anything else
//! rejected. A 503/504 without an id, or no answer at all, means "outcome
//! unknown": the client sends the same request with the same
//! `Idempotency-Key` until it gets an id, and that answer is the outcome of
//! the one order the key stands for.

use std::{sync::Arc, time::Duration};

use serde_json::Value;
use system_tests::{Binary, Options, System, client::Client};
use tokio::sync::Semaphore;

const ORDERS: usize = 500;
const CLIENTS: usize = 32;
const USERS: usize = 50;
/// The fault strikes after this many orders were sent.
const FAULT_AT: usize = 150;

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
    /// RabbitMQ restart; the services must reconnect on their own.
    BrokerGone,
}

struct Answer {
    key: String,
    status: u16,
    body: Value,
    /// Requests sent for this key (more than one: an unknown outcome was
    /// asked again).
    attempts: u32,
}

impl Answer {
    /// The order id an answer carries: a 201's order, or a problem's
    /// `order_id` (a rejection).
    fn order_id(&self) -> Option<&str> {
        self.body["id"]
            .as_str()
            .or_else(|| self.body["order_id"].as_str())
    }
}

async fn burst(fault: Option<Fault>) {
    let mut system = System::start(Options {
        env: vec![
            // Sagas orphaned by a kill are picked up within seconds.
            ("SAGA_STALE_AFTER".into(), "2s".into()),
            ("SAGA_RECOVERY_INTERVAL".into(), "1s".into()),
        ],
        ..Options::default()
    })
    .await;
    let orders_db = system.db("orders").await;
    // Plenty of stickers and mugs; CAP-NAVY (3 in stock) runs out.
    sqlx::query("UPDATE products SET stock = 100000 WHERE sku IN ('STICKER-PACK', 'MUG-STEEL')")
        .execute(&orders_db)
        .await
        .unwrap();
    let initial = system.stock().await;
    let mut users = Vec::new();
    for i in 0..USERS {
        // Every fifth user can afford two stickers: the rest are refused.
        let credit = if i % 5 == 0 { 1_000 } else { 1_000_000 };
        users.push(system.user_with_credit(credit).await);
    }

    // The burst runs on while the fault strikes and the service restarts.
    let (reached, fault_now) = tokio::sync::oneshot::channel();
    let sender = tokio::spawn(send(system.client(), users, system.id.clone(), reached));
    match fault {
        Some(Fault::Kill(binary)) => {
            fault_now.await.unwrap();
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
        }
        Some(Fault::BrokerGone) => {
            fault_now.await.unwrap();
            let closed = system.drop_broker_connections().await;
            // Each service has at least one connection.
            assert!(closed >= 4, "closed {closed} connections");
            // Back by themselves, within seconds.
            for process in system.processes() {
                process.wait_ready(Duration::from_secs(15)).await;
            }
        }
        None => {}
    }
    let answers = sender.await.unwrap();
    let settling = std::time::Instant::now();
    system.wait_settled(Duration::from_secs(30)).await;
    // The figures docs/reliability.md reports (`--nocapture` shows them).
    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    for answer in &answers {
        *by_status.entry(answer.status).or_default() += 1;
    }
    let asked_again = answers.iter().filter(|a| a.attempts > 1).count();
    // Evidence the fault struck work in flight, from order-service's log:
    // debits refused while user-service was down and retried, deliveries
    // redelivered after order-service died.
    let order_log: String = system.order_services.iter().map(|p| p.log()).collect();
    let retried_charges = order_log.matches("charge failed").count();
    let replayed = order_log.matches("duplicate request").count()
        + order_log.matches("saga recovered").count();
    if fault == Some(Fault::Kill(Binary::UserService)) {
        assert!(
            retried_charges > 0,
            "no debit failed while user-service was down"
        );
    }
    eprintln!(
        "burst, fault {fault:?}: final answers {by_status:?}; {asked_again} keys asked again; \
         {retried_charges} charges retried; {replayed} orders replayed or recovered; \
         settled {:?} after the last answer",
        settling.elapsed()
    );

    // Each key is one order, whose final state is what its answer said.
    for answer in &answers {
        let id = answer.order_id().unwrap_or_else(|| {
            panic!(
                "{}: no outcome after retries: {} {}\n{}",
                answer.key,
                answer.status,
                answer.body,
                system.logs_hint()
            )
        });
        let (order, status): (String, String) =
            sqlx::query_as(// Keys are scoped by user.
                "SELECT id::text, status FROM orders WHERE idempotency_key = 'key:' || user_id || ':' || $1")
                .bind(&answer.key)
                .fetch_one(&orders_db)
                .await
                .unwrap();
        assert_eq!(
            order, id,
            "{}: answered one order, recorded another",
            answer.key
        );
        let told = if answer.status == 201 {
            "confirmed"
        } else {
            "rejected"
        };
        assert_eq!(
            status, told,
            "{}: answered {} {}",
            answer.key, answer.status, answer.body
        );
    }
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&orders_db)
        .await
        .unwrap();
    assert_eq!(
        recorded,
        i64::try_from(ORDERS).unwrap(),
        "one order per key"
    );
    let confirmed = answers.iter().filter(|a| a.status == 201).count();
    assert!(
        confirmed > ORDERS / 2 && confirmed < ORDERS,
        "{confirmed} of {ORDERS} confirmed: the mix should confirm most and reject some"
    );

    system.assert_invariants(&initial, (0, 0)).await;
}

/// Sends the burst: [`ORDERS`] orders from [`CLIENTS`] concurrent clients,
/// each asking again with its key until it learns the outcome; `reached`
/// fires when [`FAULT_AT`] were sent.
async fn send(
    gateway: Client,
    users: Vec<String>,
    run: String,
    reached: tokio::sync::oneshot::Sender<()>,
) -> Vec<Answer> {
    let clients = Arc::new(Semaphore::new(CLIENTS));
    let mut sent = tokio::task::JoinSet::new();
    let mut reached = Some(reached);
    for i in 0..ORDERS {
        let permit = clients.clone().acquire_owned().await.unwrap();
        let gateway = gateway.clone();
        let user = users[i % USERS].clone();
        let sku = match i % 10 {
            0 => "CAP-NAVY",
            1..=3 => "MUG-STEEL",
            _ => "STICKER-PACK",
        };
        let key = format!("burst-{run}-{i}");
        sent.spawn(async move {
            let _permit = permit;
            let mut attempts = 0;
            loop {
                let (status, body) = gateway.place_order_keyed(&user, sku, 1, Some(&key)).await;
                attempts += 1;
                let answer = Answer {
                    key: key.clone(),
                    status,
                    body,
                    attempts,
                };
                if answer.order_id().is_some() || (400..500).contains(&status) || attempts == 30 {
                    return answer;
                }
                // Outcome unknown: ask again with the same key.
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        if i == FAULT_AT
            && let Some(reached) = reached.take()
        {
            let _ = reached.send(());
        }
    }
    sent.join_all().await
}

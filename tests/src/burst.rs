//! The burst of orders the fault scenarios run (issue 7, docs/reliability.md):
//! [`ORDERS`] orders from [`CLIENTS`] concurrent clients across [`USERS`]
//! users with mixed credit and a scarce SKU, so some orders are confirmed and
//! some rejected. A test strikes its fault once [`FAULT_AT`] were sent
//! ([`Burst::fault_time`]), says when it is over ([`Burst::fault_over`]),
//! then [`Burst::check`] holds every answer against the databases and the
//! invariants.
//!
//! Between the two the burst trickles, one order per [`DURING_FAULT`], so
//! orders are in flight when the fault strikes and sent while it lasts
//! however fast the system is: at full speed a faster order path once
//! finished the burst before `rabbitmqctl stop_app` had taken effect, and
//! the restart test saw nothing struck.
//!
//! The client contract: every answer that carries an order id is that
//! order's final outcome — 201 confirmed, anything else rejected. A 503/504
//! without an id, or no answer at all, means "outcome unknown": the client
//! sends the same request with the same `Idempotency-Key` until it gets an
//! id, and that answer is the outcome of the one order the key stands for.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::Value;
use tokio::{
    sync::{Semaphore, oneshot, watch},
    task::JoinHandle,
};

use crate::{
    System,
    client::Client,
    invariants::{Stock, scalar},
};

pub const ORDERS: usize = 500;
pub const CLIENTS: usize = 32;
pub const USERS: usize = 50;
/// The fault strikes after this many orders were sent.
pub const FAULT_AT: usize = 150;
/// How long a client keeps asking for an outcome (a broker restart plus the
/// services' reconnect backoff must fit in it).
const GIVE_UP_AFTER: Duration = Duration::from_secs(30);
/// The pace while a fault is on: the rest of the burst then spans 10 s, a
/// broker's stop, its outage and its start.
const DURING_FAULT: Duration = Duration::from_millis(30);

/// A burst being sent.
#[derive(Debug)]
pub struct Burst {
    initial: Stock,
    users: Vec<String>,
    sender: JoinHandle<Vec<Answer>>,
    reached: Option<oneshot::Receiver<()>>,
    phase: watch::Sender<Phase>,
}

/// Where the test is with its fault, as the sender sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No fault (yet): full speed.
    Unarmed,
    /// The test waits for [`FAULT_AT`] to strike: trickle from there.
    Armed,
    /// The fault is over: full speed again.
    Over,
}

/// What a burst's clients were told, for docs/reliability.md (`--nocapture`
/// prints it).
#[derive(Debug)]
pub struct Report {
    /// Final answers by status.
    pub final_answers: BTreeMap<u16, usize>,
    /// Answers without an outcome (503, 504, 0 = no answer) by status: the
    /// requests the client had to send again.
    pub unknown_outcomes: BTreeMap<u16, usize>,
    /// The longest any one request waited for its answer.
    pub slowest: Duration,
    /// Debits order-service saw fail and retried (from its log).
    pub retried_charges: usize,
    /// Orders replayed by their key or resumed by saga recovery (from its log).
    pub replayed: usize,
    /// From the last answer until the system was idle.
    pub settled_after: Duration,
}

#[derive(Debug)]
struct Answer {
    key: String,
    status: u16,
    body: Value,
    /// Statuses of the earlier requests for this key, which carried no outcome.
    unknown: Vec<u16>,
    slowest: Duration,
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

impl Burst {
    /// Stocks the catalogue, creates the users and starts sending.
    pub async fn start(system: &System) -> Self {
        let orders_db = system.db("orders").await;
        // Plenty of stickers and mugs; CAP-NAVY (3 in stock) runs out.
        sqlx::query(
            "UPDATE products SET stock = 100000 WHERE sku IN ('STICKER-PACK', 'MUG-STEEL')",
        )
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
        let (reached, fault_time) = oneshot::channel();
        let (phase, watching) = watch::channel(Phase::Unarmed);
        let sender = tokio::spawn(send(
            system.client(),
            users.clone(),
            system.id.clone(),
            reached,
            watching,
        ));
        Self {
            initial,
            users,
            sender,
            reached: Some(fault_time),
            phase,
        }
    }

    /// The users ordering.
    pub fn users(&self) -> &[String] {
        &self.users
    }

    /// Waits until [`FAULT_AT`] orders were sent: the moment to strike.
    /// The burst trickles from then until [`Burst::fault_over`].
    pub async fn fault_time(&mut self) {
        self.phase.send_replace(Phase::Armed);
        if let Some(reached) = self.reached.take() {
            reached.await.unwrap();
        }
    }

    /// The fault is over: the rest of the burst goes at full speed.
    pub fn fault_over(&self) {
        self.phase.send_replace(Phase::Over);
    }

    /// Waits for every final answer and for the system to settle, then
    /// checks that each key is exactly one order in the state its answer
    /// announced, that the mix confirmed most and rejected some, and the
    /// invariants with empty dead-letter queues.
    pub async fn check(self, system: &System) -> Report {
        let answers = self.sender.await.unwrap();
        let settling = Instant::now();
        system.wait_settled(Duration::from_secs(30)).await;
        let report = report(system, &answers, settling.elapsed());

        // "Outcome unknown" is a 503 or a 504, never an error of ours.
        let odd: Vec<_> = answers
            .iter()
            .filter(|a| a.unknown.iter().any(|s| ![503, 504].contains(s)))
            .map(|a| (&a.key, &a.unknown))
            .collect();
        assert!(
            odd.is_empty(),
            "answered other than 503/504 before the outcome: {odd:?}\n{}",
            system.logs_hint()
        );
        let orders_db = system.db("orders").await;
        for answer in &answers {
            let id = answer.order_id().unwrap_or_else(|| {
                panic!(
                    "{}: no outcome within {GIVE_UP_AFTER:?}: {} {}\n{}",
                    answer.key,
                    answer.status,
                    answer.body,
                    system.logs_hint()
                )
            });
            let (order, status): (String, String) = sqlx::query_as(
                // Keys are scoped by user.
                "SELECT id::text, status FROM orders \
                 WHERE idempotency_key = 'key:' || user_id || ':' || $1",
            )
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
        let recorded = scalar(&orders_db, "SELECT count(*) FROM orders").await;
        assert_eq!(
            recorded,
            i64::try_from(ORDERS).unwrap(),
            "one order per key"
        );
        let confirmed = report.final_answers.get(&201).copied().unwrap_or(0);
        assert!(
            confirmed > ORDERS / 2 && confirmed < ORDERS,
            "{confirmed} of {ORDERS} confirmed: the mix should confirm most and reject some"
        );
        system.assert_invariants(&self.initial, (0, 0)).await;
        report
    }
}

fn report(system: &System, answers: &[Answer], settled_after: Duration) -> Report {
    let mut final_answers = BTreeMap::new();
    let mut unknown_outcomes = BTreeMap::new();
    for answer in answers {
        *final_answers.entry(answer.status).or_default() += 1;
        for status in &answer.unknown {
            *unknown_outcomes.entry(*status).or_default() += 1;
        }
    }
    // Evidence the fault struck work in flight, from order-service's log:
    // debits refused and retried, deliveries replayed after a crash.
    let order_log: String = system.order_services.iter().map(|p| p.log()).collect();
    Report {
        final_answers,
        unknown_outcomes,
        slowest: answers.iter().map(|a| a.slowest).max().unwrap_or_default(),
        retried_charges: order_log.matches("charge failed").count(),
        replayed: order_log.matches("duplicate request").count()
            + order_log.matches("saga recovered").count(),
        settled_after,
    }
}

/// Sends the burst, each client asking again with its key until it learns
/// the outcome; `reached` fires when [`FAULT_AT`] were sent, and from there
/// the burst trickles while `phase` is armed.
async fn send(
    gateway: Client,
    users: Vec<String>,
    run: String,
    reached: oneshot::Sender<()>,
    phase: watch::Receiver<Phase>,
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
            let mut unknown = Vec::new();
            let mut slowest = Duration::ZERO;
            let first = Instant::now();
            loop {
                let started = Instant::now();
                let (status, body) = gateway.place_order_keyed(&user, sku, 1, Some(&key)).await;
                slowest = slowest.max(started.elapsed());
                let answer = Answer {
                    key: key.clone(),
                    status,
                    body,
                    unknown,
                    slowest,
                };
                if answer.order_id().is_some()
                    || (400..500).contains(&status)
                    || first.elapsed() > GIVE_UP_AFTER
                {
                    return answer;
                }
                // Outcome unknown: ask again with the same key.
                unknown = answer.unknown;
                unknown.push(status);
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        if i == FAULT_AT
            && let Some(reached) = reached.take()
        {
            let _ = reached.send(());
        }
        if i >= FAULT_AT && *phase.borrow() == Phase::Armed {
            tokio::time::sleep(DURING_FAULT).await;
        }
    }
    sent.join_all().await
}

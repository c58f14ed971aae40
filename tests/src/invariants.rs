//! The business invariants a system must hold once it is idle, whatever was
//! done to it (issue 7, docs/reliability.md):
//!
//! - per SKU, the stock at the start = stock now + what confirmed orders took
//!   (a rejected order gives its reservation back; none is left pending);
//! - per user, the balance = top-ups − debits + refunds, and the net charge
//!   (debits − refunds) = the totals of the user's confirmed orders: no credit
//!   taken without a confirmed order;
//! - one `order_confirmed` / `order_rejected` event per final order, matching
//!   its status, every event published;
//! - one notification per event (user-service's and order-service's);
//! - the dead-letter queues hold exactly the messages a test expects there.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use sqlx::PgPool;
use uuid::Uuid;

use crate::System;

/// Stock per SKU.
pub type Stock = BTreeMap<String, i64>;

impl System {
    /// Stock per SKU now (take it before the load, for [`Self::assert_invariants`]).
    pub async fn stock(&self) -> Stock {
        let orders = self.db("orders").await;
        let stock: Vec<(String, i32)> = sqlx::query_as("SELECT sku, stock FROM products")
            .fetch_all(&orders)
            .await
            .unwrap();
        stock.into_iter().map(|(s, n)| (s, i64::from(n))).collect()
    }

    /// Waits until no order is pending, every event is published and every
    /// event has reached notification-service; panics with what was left
    /// after `within`.
    pub async fn wait_settled(&self, within: Duration) {
        let (orders, users, notifications) = self.pools().await;
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let pending: i64 = scalar(
                &orders,
                "SELECT count(*) FROM orders WHERE status = 'pending'",
            )
            .await;
            let unpublished =
                scalar(&orders, UNPUBLISHED).await + scalar(&users, UNPUBLISHED).await;
            let events = scalar(&orders, "SELECT count(*) FROM outbox").await
                + scalar(&users, "SELECT count(*) FROM outbox").await;
            let notified = scalar(&notifications, "SELECT count(*) FROM notifications").await;
            if pending == 0 && unpublished == 0 && notified >= events {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not settled within {within:?}: {pending} orders pending, {unpublished} events \
                 unpublished, {notified} of {events} events notified\n{}",
                self.logs_hint()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Asserts the invariants above; `initial` is [`Self::stock`] before the
    /// load, `dead_letters` how many messages each dead-letter queue
    /// (orders, notifications) should hold. Call after [`Self::wait_settled`].
    pub async fn assert_invariants(&self, initial: &Stock, dead_letters: (u32, u32)) {
        let (orders, users, notifications) = self.pools().await;

        // Stock: nothing reserved for a rejected order, nothing lost.
        let sold: Vec<(String, i64)> = sqlx::query_as(
            r#"SELECT i.sku, sum(i.quantity)::bigint FROM order_items i
               JOIN orders o ON o.id = i.order_id WHERE o.status = 'confirmed' GROUP BY i.sku"#,
        )
        .fetch_all(&orders)
        .await
        .unwrap();
        let sold: Stock = sold.into_iter().collect();
        let now = self.stock().await;
        for (sku, start) in initial {
            let left = now.get(sku).copied().unwrap_or(0);
            let sold = sold.get(sku).copied().unwrap_or(0);
            assert_eq!(
                *start,
                left + sold,
                "{sku}: started with {start}, {left} left + {sold} sold"
            );
        }
        let pending: i64 = scalar(
            &orders,
            "SELECT count(*) FROM orders WHERE status = 'pending'",
        )
        .await;
        assert_eq!(pending, 0, "orders left pending");

        // Money: the ledger explains every balance, and every charge is a
        // confirmed order.
        let ledger: Vec<(Uuid, i64, i64, i64)> = sqlx::query_as(
            r#"SELECT u.id, u.balance_cents,
                      coalesce(sum(CASE e.kind WHEN 'top_up' THEN e.amount_cents
                                               WHEN 'debit' THEN -e.amount_cents
                                               ELSE e.amount_cents END), 0)::bigint,
                      coalesce(sum(CASE e.kind WHEN 'debit' THEN e.amount_cents
                                               WHEN 'refund' THEN -e.amount_cents
                                               ELSE 0 END), 0)::bigint
               FROM users u LEFT JOIN credit_entries e ON e.user_id = u.id
               GROUP BY u.id, u.balance_cents"#,
        )
        .fetch_all(&users)
        .await
        .unwrap();
        let paid: Vec<(Uuid, i64)> = sqlx::query_as(
            r#"SELECT user_id, sum(total_cents)::bigint FROM orders
               WHERE status = 'confirmed' GROUP BY user_id"#,
        )
        .fetch_all(&orders)
        .await
        .unwrap();
        let paid: BTreeMap<Uuid, i64> = paid.into_iter().collect();
        for (user, balance, from_ledger, charged) in ledger {
            assert_eq!(balance, from_ledger, "user {user}: balance vs its ledger");
            let confirmed = paid.get(&user).copied().unwrap_or(0);
            assert_eq!(
                charged, confirmed,
                "user {user}: charged {charged}, confirmed orders worth {confirmed}"
            );
        }

        // Events: one per final order, naming its outcome, all published.
        let finals: Vec<(String, String)> = sqlx::query_as(
            r#"SELECT o.id::text || ':' || o.status, coalesce(string_agg(x.name, ','), '')
               FROM orders o
               LEFT JOIN outbox x ON x.payload->>'order_id' = o.id::text
               GROUP BY o.id, o.status"#,
        )
        .fetch_all(&orders)
        .await
        .unwrap();
        for (order, events) in finals {
            let expected = if order.ends_with(":confirmed") {
                "order_confirmed"
            } else {
                "order_rejected"
            };
            assert_eq!(events, expected, "events of order {order}");
        }
        let unpublished = scalar(&orders, UNPUBLISHED).await + scalar(&users, UNPUBLISHED).await;
        assert_eq!(unpublished, 0, "events never published");

        // Notifications: exactly one per event, and none for anything else.
        let mut events = ids(&orders, "SELECT id FROM outbox").await;
        events.extend(ids(&users, "SELECT id FROM outbox").await);
        let notified = ids(&notifications, "SELECT event_id FROM notifications").await;
        let rows = scalar(&notifications, "SELECT count(*) FROM notifications").await;
        assert_eq!(
            usize::try_from(rows).unwrap(),
            notified.len(),
            "two notifications for one event"
        );
        assert_eq!(notified, events, "notifications vs events");

        // Dead letters: exactly the poison the test sent.
        let orders_dlq = self
            .queue_depth(&format!("{}.dead-letter", self.orders_queue))
            .await;
        let notifications_dlq = self
            .queue_depth(&format!("{}.dead-letter", self.notifications_queue))
            .await
            + self
                .queue_depth(&format!("{}.dead-letter", self.notification_events_queue))
                .await;
        assert_eq!(
            (orders_dlq, notifications_dlq),
            dead_letters,
            "dead-lettered messages (orders, notifications)"
        );
    }

    async fn pools(&self) -> (PgPool, PgPool, PgPool) {
        (
            self.db("orders").await,
            self.db("users").await,
            self.db("notifications").await,
        )
    }
}

const UNPUBLISHED: &str = "SELECT count(*) FROM outbox WHERE published_at IS NULL";

/// One number from the database: `SELECT count(*) …` and the like.
pub async fn scalar(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

async fn ids(pool: &PgPool, sql: &str) -> BTreeSet<Uuid> {
    sqlx::query_scalar(sql)
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

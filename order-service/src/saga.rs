//! The order saga: reserve stock → charge store credit → confirm, with
//! compensation in reverse (refund, release stock) when a step fails.
//!
//! Step 1 (reserve) is [`crate::placing::place`]. Each later transition is one
//! conditional UPDATE on the order's `status`/`saga_step`, committed before
//! the next remote call, so a crash at any point leaves a state that
//! [`Saga::drive`] resumes from, and two drivers of one order (a redelivered
//! message and the recovery loop) cannot both apply a transition. The remote
//! calls are idempotent by a key derived from the order id: a resumed saga
//! that charges again is not charged twice, and a refund gives back at most
//! what was taken — nothing, if the debit never happened.
//!
//! ```text
//! pending/charging --debit ok------------> confirmed
//!        |-- declined, or user-service unreachable after retries
//!        v
//! pending/compensating --refund, release stock--> rejected
//! ```

use std::time::Duration;

use contracts::{
    ErrorCode,
    events::{OrderConfirmed, OrderRejected},
    orders::{Order, OrderStatus},
};
use messaging::outbox::Outbox;
use sqlx::PgPool;
use uuid::Uuid;

pub use crate::orders::SagaStep;
use crate::{
    error::Error,
    orders::{self, SagaState as State},
    products,
    users::{Charge, UserClient},
};

/// How hard the saga tries a remote step before it gives up on it.
#[derive(Debug, Clone)]
pub struct Saga {
    pub pool: PgPool,
    pub users: UserClient,
    /// Calls of a remote step before the saga compensates (charge) or leaves
    /// the order to recovery (refund).
    pub attempts: u32,
    /// Delay before the second call; doubles after each.
    pub retry_delay: Duration,
    /// Where the transitions that end an order record their events (and
    /// which wakes the relay after each).
    pub outbox: Outbox,
}

/// The debit of an order is keyed by the order: one order, one charge.
pub fn debit_key(order: Uuid) -> String {
    format!("order:{order}")
}

impl Saga {
    /// Advances the order's saga as far as it can go now, and returns the
    /// order: `confirmed`, `rejected`, or still `pending` when a refund must
    /// wait for user-service (recovery finishes it).
    pub async fn drive(&self, id: Uuid) -> Result<Order, Error> {
        loop {
            let state = orders::saga_state(&self.pool, id)
                .await?
                .ok_or(Error::OrderNotFound(id))?;
            match (state.status, state.saga_step) {
                (OrderStatus::Pending, SagaStep::Charging) => {
                    self.charge(id, &state).await?;
                }
                (OrderStatus::Pending, SagaStep::Compensating) => {
                    if !self.compensate(id, &state).await? {
                        break;
                    }
                }
                _ => break,
            }
        }
        orders::find(&self.pool, id).await
    }

    /// Drives an order [`crate::placing::place`] has just recorded. Its state is
    /// known, so the common path — charge, confirm — reads nothing back;
    /// anything else goes through [`Saga::drive`].
    pub async fn advance(&self, order: Order) -> Result<Order, Error> {
        if order.status != OrderStatus::Pending {
            return Ok(order);
        }
        let id = order.id;
        let state = State {
            user_id: order.user_id,
            total_cents: order.total_cents,
            status: order.status,
            saga_step: SagaStep::Charging,
        };
        if self.charge(id, &state).await? {
            return Ok(Order {
                status: OrderStatus::Confirmed,
                ..order
            });
        }
        self.drive(id).await
    }

    /// `true` when this call confirmed the order.
    async fn charge(&self, id: Uuid, state: &State) -> Result<bool, Error> {
        let mut delays = platform::backoff::delays(self.retry_delay, None);
        for attempt in 1..=self.attempts {
            match self
                .users
                .debit(state.user_id, state.total_cents, &debit_key(id))
                .await
            {
                Charge::Charged => {
                    return self.confirm(id, state).await;
                }
                Charge::Declined(e) => {
                    let reason = Some((e.code, e.message.as_str()));
                    self.transition(id, SagaStep::Charging, SagaStep::Compensating, reason)
                        .await?;
                    return Ok(false);
                }
                Charge::Unknown(why) if attempt < self.attempts => {
                    tracing::warn!(order_id = %id, attempt, why, "charge failed; retrying");
                    tokio::time::sleep(delays.next().unwrap_or(self.retry_delay)).await;
                }
                Charge::Unknown(why) => {
                    tracing::warn!(order_id = %id, why, "charge failed; compensating");
                    let reason = (
                        ErrorCode::Unavailable,
                        "payment is unavailable right now; nothing was charged",
                    );
                    self.transition(id, SagaStep::Charging, SagaStep::Compensating, Some(reason))
                        .await?;
                    return Ok(false);
                }
            }
        }
        Ok(false)
    }

    /// Refund, then release the stock and reject. `false` when the refund
    /// could not be made now; the order stays pending for recovery.
    async fn compensate(&self, id: Uuid, state: &State) -> Result<bool, Error> {
        let mut delays = platform::backoff::delays(self.retry_delay, None);
        for attempt in 1..=self.attempts {
            match self.users.refund(state.user_id, &debit_key(id)).await {
                Ok(()) => {
                    self.release_and_reject(id).await?;
                    return Ok(true);
                }
                Err(why) => {
                    tracing::warn!(order_id = %id, attempt, why, "refund failed");
                    if attempt < self.attempts {
                        tokio::time::sleep(delays.next().unwrap_or(self.retry_delay)).await;
                    }
                }
            }
        }
        Ok(false)
    }

    /// Moves a pending order from saga step `from` to `to`, recording a
    /// rejection reason when one is given; the order stays `pending` (its
    /// final status is set with its event, by [`Saga::confirm`] or
    /// [`Saga::release_and_reject`]). Does nothing if another driver moved
    /// it first; the caller re-reads the state.
    async fn transition(
        &self,
        id: Uuid,
        from: SagaStep,
        to: SagaStep,
        reason: Option<(ErrorCode, &str)>,
    ) -> Result<(), Error> {
        orders::move_step(&self.pool, id, from, to, reason).await
    }

    /// Rejects the order and puts its stock back, in one transaction, once.
    async fn release_and_reject(&self, id: Uuid) -> Result<(), Error> {
        let mut tx = self.outbox.begin(&self.pool).await?;
        if let Some(rejected) = orders::reject(&mut tx, id).await? {
            let event = OrderRejected {
                order_id: id,
                user_id: rejected.user_id,
                total_cents: rejected.total_cents,
                reason: rejected.reason.unwrap_or_default(),
            };
            tx.record(event).await?;
            metrics::counter!("saga_outcomes_total", "outcome" => OrderStatus::Rejected.as_str())
                .increment(1);
            products::release(&mut tx, id).await?;
        }
        // Wakes the relay when an event was recorded.
        tx.commit().await?;
        tracing::info!(order_id = %id, "order rejected; stock released");
        Ok(())
    }

    /// Confirms the order and records `order_confirmed` — one statement, so
    /// both or neither, without a transaction around it — once; `true` when
    /// this call did it. The event's figures come from `state`: an order's
    /// user and total never change.
    async fn confirm(&self, id: Uuid, state: &State) -> Result<bool, Error> {
        let event = OrderConfirmed {
            order_id: id,
            user_id: state.user_id,
            total_cents: state.total_cents,
        };
        let done = self
            .outbox
            .write(event, async |row| {
                orders::confirm(&self.pool, id, &row).await
            })
            .await?;
        if done {
            metrics::counter!("saga_outcomes_total", "outcome" => OrderStatus::Confirmed.as_str())
                .increment(1);
        }
        Ok(done)
    }
}

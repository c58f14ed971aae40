//! Handling one delivery, from bytes to settlement.
//!
//! Settlement policy (docs/messaging.md):
//! - handler succeeded, or failed for a business reason: reply, then ack;
//! - transient failure: retried in place, `max_attempts` in all, with a
//!   growing delay — for a request, only while another run can end before
//!   its deadline (estimated by the last run); when they are exhausted, a
//!   request is answered
//!   UNAVAILABLE and acked (its sender knows, and retries with its key), an
//!   event is requeued (nobody was told; it waits for the dependency). Only
//!   messages no retry can fix reach the dead-letter queue;
//! - oversized or unparseable body, no handler, a handler calling it
//!   poison, or a handler that panicked:
//!   dead-letter with the reason, then reply an error if one is expected;
//! - a request whose deadline passed while it waited: ack without running it;
//! - a redelivery (the consumer died or lost its connection while handling
//!   it): requeued with its count of redeliveries, unrun; past
//!   `max_redeliveries`, dead-lettered — a message that crashes every
//!   consumer must not loop forever.
//!
//! Replies are published before the ack: a crash between the two redelivers
//! the request, and idempotent handlers answer it again harmlessly. Acking
//! first would lose the answer instead.

mod headers;

use std::{sync::Arc, time::SystemTime};

use contracts::{ErrorCode, ServiceError};
use lapin::{BasicProperties, Channel, message::Delivery};
use serde_json::Value;

use self::headers::{caller, deadline, message_id, redeliveries};
use crate::{
    amqp::provenance::is_direct_reply_to,
    amqp::publish::publish_confirmed,
    amqp::settle::Unsettled,
    config::ServerConfig,
    handling::{self, Outcome, count, error_reply},
    router::{Message, Router},
    wire::{self, Incoming, NO_MESSAGE_HANDLER, Reply},
};

/// What every delivery of one server is handled with.
pub(crate) struct Context {
    pub(crate) config: ServerConfig,
    pub(crate) router: Router,
    /// The broker account this server logs in as (see `Unsettled::requeue`).
    pub(crate) own_account: String,
}

pub(crate) async fn process(delivery: Delivery, context: Arc<Context>, publish: Channel) {
    let redelivered = delivery.redelivered;
    let delivery = Unsettled::new(delivery, &context.own_account);
    let (outcome, correlation_id) = handle(&delivery, redelivered, &context).await;
    // Nothing is ever published to a queue the requester names: only to its
    // own channel (a request naming another is dead-lettered in `handle`).
    let reply_to = delivery
        .properties()
        .reply_to()
        .as_ref()
        .map(|s| s.as_str().to_owned())
        .filter(|reply_to| is_direct_reply_to(reply_to));
    settle(
        delivery,
        outcome,
        reply_to.as_deref(),
        correlation_id.as_deref(),
        &publish,
        &context,
    )
    .await;
}

/// Decides what becomes of a delivery: checks it, runs its handler; returns
/// the outcome and the correlation id a reply carries.
async fn handle(
    delivery: &Unsettled,
    redelivered: bool,
    context: &Context,
) -> (Outcome, Option<String>) {
    let config = &context.config;
    let properties = delivery.properties();
    let correlation_id = properties
        .correlation_id()
        .as_ref()
        .map(|s| s.as_str().to_owned());

    let size = delivery.body().len();
    if size > config.max_message_bytes {
        let reason = format!(
            "message of {size} bytes exceeds the limit of {}",
            config.max_message_bytes
        );
        let error = ServiceError::new(ErrorCode::InvalidArgument, reason.clone());
        let reply = Some(error_reply(error));
        return (Outcome::DeadLetter { reason, reply }, correlation_id);
    }
    let redeliveries = redeliveries(properties);
    if redelivered {
        // Its consumer died or lost its connection while handling it. Maybe
        // this message is what kills it (an abort, the OOM killer: nothing a
        // catch_unwind sees), so it is not run now: a copy carrying the count
        // goes to the back of the queue, and once the count passes the limit
        // the message is dead-lettered. Before parsing, which may be the
        // crash.
        let redeliveries = redeliveries + 1;
        if redeliveries > config.max_redeliveries {
            let reason = format!(
                "delivered {redeliveries} times and never settled: it may crash its consumer"
            );
            let error = ServiceError::new(ErrorCode::Internal, "internal error");
            let reply = Some(error_reply(error));
            return (Outcome::DeadLetter { reason, reply }, correlation_id);
        }
        return (Outcome::Redelivered { redeliveries }, correlation_id);
    }
    let incoming: Incoming = match serde_json::from_slice(delivery.body()) {
        Ok(incoming) => incoming,
        Err(e) => {
            let reason = format!("body is not a NestJS envelope: {e}");
            return (
                Outcome::DeadLetter {
                    reason,
                    reply: None,
                },
                correlation_id,
            );
        }
    };
    let correlation_id = correlation_id.or_else(|| incoming.id.clone());

    let deadline = deadline(properties);
    if deadline.is_some_and(|d| SystemTime::now() > d) {
        return (Outcome::Expired, correlation_id);
    }

    let route = wire::route(&incoming.pattern);
    let Some(handler) = context.router.handlers.get(&route) else {
        let outcome = Outcome::DeadLetter {
            reason: format!("no handler for pattern {route:?}"),
            reply: Some(Reply::err(Value::String(NO_MESSAGE_HANDLER.into()))),
        };
        return (outcome, correlation_id);
    };

    // Who may send it: an event only its publisher, through the exchange;
    // a request only an account allowed to call (the gateway's).
    let origin = delivery.origin();
    let distrust = match context.router.publishers.get(&route) {
        Some(publisher) => {
            let exchanges: Vec<&str> = config.bindings.iter().map(|(e, _)| e.as_str()).collect();
            let reason = origin.distrust(&route, publisher, &exchanges);
            reason.map(|reason| (reason, ErrorCode::PermissionDenied))
        }
        None => (origin.distrust_request(&route, &config.callers))
            .map(|reason| (reason, ErrorCode::Unauthenticated)),
    };
    if let Some((reason, code)) = distrust {
        tracing::warn!(reason, "refused a message");
        let reply = Some(error_reply(ServiceError::new(code, reason.clone())));
        return (Outcome::DeadLetter { reason, reply }, correlation_id);
    }
    if let Some(reply_to) = properties.reply_to().as_ref().map(|r| r.as_str())
        && !is_direct_reply_to(reply_to)
    {
        let reason = format!(
            "reply_to {reply_to:?} is not a direct reply-to address: replies go only to the requester's channel"
        );
        tracing::warn!(reason, "refused a request");
        let outcome = Outcome::DeadLetter {
            reason,
            reply: None,
        };
        return (outcome, correlation_id);
    }

    let message = Message {
        data: incoming.data,
        message_id: message_id(properties, incoming.id.as_deref()),
        redelivered: redeliveries > 0,
        caller: caller(properties),
    };
    // One span per delivery, a child of the sender's span when the message
    // carries a trace context.
    let span = tracing::info_span!(
        "message",
        pattern = %route,
        redeliveries,
        trace_id = tracing::field::Empty
    );
    crate::amqp::trace::set_parent(&span, properties.headers().as_ref());
    let outcome = handling::execute(handler, message, config, deadline, &route, span).await;
    (outcome, correlation_id)
}

/// The one place a delivery is settled and its requester (`reply_to`, with
/// the correlation id) answered.
async fn settle(
    delivery: Unsettled,
    outcome: Outcome,
    reply_to: Option<&str>,
    correlation_id: Option<&str>,
    publish: &Channel,
    context: &Context,
) {
    let (config, own_account) = (&context.config, context.own_account.as_str());
    let answer = |reply: Reply| async move {
        if let Some(reply_to) = reply_to {
            send_reply(publish, reply_to, correlation_id, &reply).await;
        }
    };
    match outcome {
        Outcome::Reply(reply) => {
            answer(reply).await;
            count(&config.queue, "acked");
            delivery.ack().await;
        }
        Outcome::Expired => {
            tracing::warn!("request dequeued after its deadline; not executed");
            count(&config.queue, "expired");
            delivery.ack().await;
        }
        Outcome::GaveUp { reason } if reply_to.is_some() => {
            answer(error_reply(ServiceError::new(
                ErrorCode::Unavailable,
                "a dependency is unavailable; try again shortly",
            )))
            .await;
            tracing::warn!(reason, "gave up; answered UNAVAILABLE");
            count(&config.queue, "gave_up");
            delivery.ack().await;
        }
        Outcome::GaveUp { reason } => {
            tracing::warn!(reason, "gave up for now; the event is requeued");
            count(&config.queue, "requeued");
            let redeliveries = redeliveries(delivery.properties());
            delivery
                .requeue(publish, &config.queue, redeliveries, own_account)
                .await;
        }
        Outcome::Redelivered { redeliveries } => {
            tracing::warn!(
                redeliveries,
                "redelivered unsettled; requeued with its count"
            );
            count(&config.queue, "redelivered");
            delivery
                .requeue(publish, &config.queue, redeliveries, own_account)
                .await;
        }
        Outcome::DeadLetter { reason, reply } => {
            // Dead-letter first: by the time the requester hears of the
            // failure, the message is already where an operator can find it.
            count(&config.queue, "dead_lettered");
            delivery
                .dead_letter(publish, &config.queue, &config.dead_letter_queue, &reason)
                .await;
            if let Some(reply) = reply {
                answer(reply).await;
            }
        }
    }
}

async fn send_reply(
    publish: &Channel,
    reply_to: &str,
    correlation_id: Option<&str>,
    reply: &Reply,
) {
    let mut properties = BasicProperties::default().with_content_type("application/json".into());
    if let Some(id) = correlation_id {
        properties = properties.with_correlation_id(id.into());
    }
    if let Err(e) = publish_confirmed(publish, reply_to, &reply.encode(), properties).await {
        // The requester times out; a retry with the same idempotency key gets
        // the same answer.
        tracing::warn!(error = %e, "reply could not be published");
    }
}

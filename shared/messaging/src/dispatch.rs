//! Handling one delivery, from bytes to settlement.
//!
//! Settlement policy (docs/messaging.md):
//! - handler succeeded, or failed for a business reason: reply, then ack;
//! - transient failure: retried in place, `max_attempts` in all, with a
//!   growing delay; when they are exhausted, a request is answered
//!   UNAVAILABLE and acked (its sender knows, and retries with its key), an
//!   event is requeued (nobody was told; it waits for the dependency). Only
//!   messages no retry can fix reach the dead-letter queue;
//! - oversized or unparseable body, no handler, a handler calling it
//!   poison, or a handler that panicked:
//!   dead-letter with the reason, then reply an error if one is expected;
//! - a request whose deadline passed while it waited: ack without running it.
//!
//! Replies are published before the ack: a crash between the two redelivers
//! the request, and idempotent handlers answer it again harmlessly. Acking
//! first would lose the answer instead.

use std::{
    any::Any,
    panic::AssertUnwindSafe,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use contracts::{ErrorCode, ServiceError};
use futures_util::FutureExt;
use lapin::{BasicProperties, Channel, message::Delivery, types::AMQPValue};
use serde_json::Value;

use crate::{
    client::DEADLINE_HEADER,
    publish::publish_confirmed,
    server::{Context, Handler, HandlerError, Message, ServerConfig},
    settle::Unsettled,
    wire::{self, Incoming, NO_MESSAGE_HANDLER, Reply},
};

enum Outcome {
    Reply(Reply),
    DeadLetter {
        reason: String,
        error: ServiceError,
    },
    /// A dependency stayed unavailable through every attempt.
    GaveUp {
        reason: String,
    },
}

pub(crate) async fn process(delivery: Delivery, context: Arc<Context>, publish: Channel) {
    let redelivered = delivery.redelivered;
    let delivery = Unsettled::new(delivery);
    let config = &context.config;
    let reply_to = delivery
        .properties()
        .reply_to()
        .as_ref()
        .map(|s| s.as_str().to_owned());
    let dead_letter = |delivery: Unsettled, reason: String| {
        let publish = publish.clone();
        async move {
            count(&config.queue, "dead_lettered");
            delivery
                .dead_letter(&publish, &config.queue, &config.dead_letter_queue, &reason)
                .await;
        }
    };

    let size = delivery.body().len();
    if size > config.max_message_bytes {
        let reason = format!(
            "message of {size} bytes exceeds the limit of {}",
            config.max_message_bytes
        );
        let correlation_id = delivery
            .properties()
            .correlation_id()
            .as_ref()
            .map(|s| s.as_str().to_owned());
        dead_letter(delivery, reason.clone()).await;
        if let Some(reply_to) = &reply_to {
            let error = ServiceError::new(ErrorCode::InvalidArgument, reason);
            let reply = Reply::err(serde_json::to_value(error).unwrap_or_default());
            send_reply(&publish, reply_to, correlation_id.as_deref(), &reply).await;
        }
        return;
    }
    let incoming: Incoming = match serde_json::from_slice(delivery.body()) {
        Ok(incoming) => incoming,
        Err(e) => {
            return dead_letter(delivery, format!("body is not a NestJS envelope: {e}")).await;
        }
    };
    let correlation_id = delivery
        .properties()
        .correlation_id()
        .as_ref()
        .map(|s| s.as_str().to_owned())
        .or_else(|| incoming.id.clone());

    if deadline_passed(delivery.properties()) {
        tracing::warn!("request dequeued after its deadline; not executed");
        count(&config.queue, "expired");
        return delivery.ack().await;
    }

    let route = wire::route(&incoming.pattern);
    let Some(handler) = context.router.handlers.get(&route) else {
        dead_letter(delivery, format!("no handler for pattern {route:?}")).await;
        if let Some(reply_to) = &reply_to {
            let reply = Reply::err(Value::String(NO_MESSAGE_HANDLER.into()));
            send_reply(&publish, reply_to, correlation_id.as_deref(), &reply).await;
        }
        return;
    };

    let message = Message {
        data: incoming.data,
        message_id: message_id(delivery.properties(), incoming.id.as_deref()),
        redelivered,
    };
    // One span per delivery, a child of the sender's span when the message
    // carries a trace context.
    let span = tracing::info_span!(
        "message",
        pattern = %route,
        redelivered,
        trace_id = tracing::field::Empty
    );
    crate::trace::set_parent(&span, delivery.properties().headers().as_ref());
    let started = std::time::Instant::now();
    // A handler that panics would panic again on every redelivery, and its
    // delivery would never be settled: the panic is caught and the message
    // treated as poison.
    let run = AssertUnwindSafe(run_with_retries(handler, message, config)).catch_unwind();
    let outcome = match tracing::Instrument::instrument(run, span).await {
        Ok(outcome) => outcome,
        Err(panic) => Outcome::DeadLetter {
            reason: format!("handler panicked: {}", panic_message(panic.as_ref())),
            error: ServiceError::new(ErrorCode::Internal, "internal error"),
        },
    };
    // Routed patterns are the handlers this service registered: a bounded
    // label, unlike the pattern of an unroutable message.
    metrics::histogram!(
        "message_handling_duration_seconds",
        "queue" => config.queue.clone(),
        "pattern" => route.clone()
    )
    .record(started.elapsed().as_secs_f64());

    match outcome {
        Outcome::Reply(reply) => {
            if let Some(reply_to) = &reply_to {
                send_reply(&publish, reply_to, correlation_id.as_deref(), &reply).await;
            }
            count(&config.queue, "acked");
            delivery.ack().await;
        }
        Outcome::GaveUp { reason } => match &reply_to {
            Some(reply_to) => {
                let error = ServiceError::new(
                    ErrorCode::Unavailable,
                    "a dependency is unavailable; try again shortly",
                );
                let reply = Reply::err(serde_json::to_value(error).unwrap_or_default());
                send_reply(&publish, reply_to, correlation_id.as_deref(), &reply).await;
                tracing::warn!(reason, "gave up; answered UNAVAILABLE");
                count(&config.queue, "gave_up");
                delivery.ack().await;
            }
            None => {
                tracing::warn!(reason, "gave up for now; the event is requeued");
                count(&config.queue, "requeued");
                delivery.requeue().await;
            }
        },
        Outcome::DeadLetter { reason, error } => {
            // Dead-letter first: by the time the requester hears of the
            // failure, the message is already where an operator can find it.
            dead_letter(delivery, reason).await;
            if let Some(reply_to) = &reply_to {
                let reply = Reply::err(serde_json::to_value(error).unwrap_or_default());
                send_reply(&publish, reply_to, correlation_id.as_deref(), &reply).await;
            }
        }
    }
}

async fn run_with_retries(handler: &Handler, message: Message, config: &ServerConfig) -> Outcome {
    let mut delay = config.retry_delay;
    let mut attempt = 1;
    loop {
        match handler(message.clone()).await {
            Ok(response) => return Outcome::Reply(Reply::ok(response)),
            Err(HandlerError::Reply(error)) => {
                return Outcome::Reply(Reply::err(serde_json::to_value(error).unwrap_or_default()));
            }
            Err(HandlerError::Poison(reason)) => {
                return Outcome::DeadLetter {
                    error: ServiceError::new(ErrorCode::InvalidArgument, reason.clone()),
                    reason,
                };
            }
            Err(HandlerError::Transient(reason)) if attempt < config.max_attempts => {
                tracing::warn!(attempt, reason, "transient failure; retrying");
                count(&config.queue, "retried");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            Err(HandlerError::Transient(reason)) => {
                return Outcome::GaveUp {
                    reason: format!("after {attempt} attempts: {reason}"),
                };
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

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

fn message_id(properties: &BasicProperties, envelope_id: Option<&str>) -> String {
    properties
        .message_id()
        .as_ref()
        .map(|s| s.as_str())
        .or(envelope_id)
        .or_else(|| properties.correlation_id().as_ref().map(|s| s.as_str()))
        .unwrap_or_default()
        .to_owned()
}

fn deadline_passed(properties: &BasicProperties) -> bool {
    let Some(AMQPValue::LongLongInt(deadline_ms)) = properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(DEADLINE_HEADER))
    else {
        return false;
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    i128::try_from(now_ms).unwrap_or(i128::MAX) > i128::from(*deadline_ms)
}

/// Counts a settlement (or retry) per queue: `messages_total{queue, outcome}`
/// on the service's `/metrics`. Patterns are not a label: a client could
/// invent unbounded numbers of them.
fn count(queue: &str, outcome: &'static str) {
    metrics::counter!("messages_total", "queue" => queue.to_owned(), "outcome" => outcome)
        .increment(1);
}

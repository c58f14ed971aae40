//! What every transport does with a message once it has one: run its
//! handler (transient failures retried in place, a panic caught) and turn
//! the result into an [`Outcome`] — which the transport then carries out as
//! it can: RabbitMQ acks, requeues and dead-letters (dispatch.rs); NATS and
//! TCP only reply and log ([`reply_without_broker`]). One mapping from
//! [`HandlerError`] to the error a requester sees, whatever the transport.
//!
//! [`HandlerError`]: crate::HandlerError

mod retry;

use std::{
    any::Any,
    panic::AssertUnwindSafe,
    time::{Duration, SystemTime},
};

use contracts::{ErrorCode, ServiceError};
use futures_util::FutureExt;

use crate::{
    config::ServerConfig,
    router::{Handler, Message},
    wire::Reply,
};

pub(crate) enum Outcome {
    Reply(Reply),
    /// Poison: to the dead-letter queue (where there is one), then `reply`
    /// to a requester.
    DeadLetter {
        reason: String,
        reply: Option<Reply>,
    },
    /// A dependency stayed unavailable through every attempt.
    GaveUp {
        reason: String,
    },
    /// A request received after its deadline: the client has its 504.
    Expired,
    /// Delivered before and never settled: back to the queue, counted
    /// (RabbitMQ only).
    Redelivered {
        redeliveries: u32,
    },
}

/// Runs `handler` on `message` inside `span` (one per message, a child of
/// the sender's trace when it sent one): retried while transient and the
/// requester's `deadline` allows, a panic made poison, its time recorded by
/// queue and route.
pub(crate) async fn execute(
    handler: &Handler,
    message: Message,
    config: &ServerConfig,
    deadline: Option<SystemTime>,
    route: &str,
    span: tracing::Span,
) -> Outcome {
    let started = std::time::Instant::now();
    // A handler that panics would panic again on every redelivery, and its
    // delivery would never be settled: the panic is caught and the message
    // treated as poison.
    let run = AssertUnwindSafe(retry::run_with_retries(handler, message, config, deadline))
        .catch_unwind();
    let outcome = match tracing::Instrument::instrument(run, span).await {
        Ok(outcome) => outcome,
        Err(panic) => Outcome::DeadLetter {
            reason: format!("handler panicked: {}", panic_message(panic.as_ref())),
            reply: Some(error_reply(ServiceError::new(
                ErrorCode::Internal,
                "internal error",
            ))),
        },
    };
    // Routed patterns are the handlers this service registered: a bounded
    // label, unlike the pattern of an unroutable message.
    metrics::histogram!(
        "message_handling_duration_seconds",
        "queue" => config.queue.clone(),
        "pattern" => route.to_owned()
    )
    .record(started.elapsed().as_secs_f64());
    outcome
}

/// What a transport with no broker queue behind it (NATS, TCP) makes of an
/// outcome: the reply a requester gets (`None` for an event, or a request
/// past its deadline), counted, and logged where RabbitMQ would requeue or
/// dead-letter — there is nowhere to put the message, so the log is the
/// record.
pub(crate) fn reply_without_broker(outcome: Outcome, queue: &str, request: bool) -> Option<Reply> {
    let reply = match outcome {
        Outcome::Reply(reply) => {
            count(queue, "replied");
            Some(reply)
        }
        Outcome::Expired => {
            tracing::warn!("request received after its deadline; not executed");
            count(queue, "expired");
            None
        }
        Outcome::GaveUp { reason } => {
            count(queue, "gave_up");
            if request {
                tracing::warn!(reason, "gave up; answered UNAVAILABLE");
            } else {
                tracing::error!(reason, "gave up on an event; nothing can requeue it");
            }
            Some(error_reply(ServiceError::new(
                ErrorCode::Unavailable,
                "a dependency is unavailable; try again shortly",
            )))
        }
        Outcome::DeadLetter { reason, reply } => {
            tracing::warn!(reason, "message refused");
            count(queue, "refused");
            reply
        }
        Outcome::Redelivered { .. } => None,
    };
    reply.filter(|_| request)
}

/// A message refused with `code`: a [`Outcome::DeadLetter`] whose reply
/// says why.
pub(crate) fn refuse(code: ErrorCode, reason: String) -> Outcome {
    let reply = Some(error_reply(ServiceError::new(code, reason.clone())));
    Outcome::DeadLetter { reason, reply }
}

/// An event `router` trusts only from one broker account, arriving over
/// `transport`, which cannot vouch for its sender: refused.
pub(crate) fn untrusted(router: &crate::Router, route: &str, transport: &str) -> Option<Outcome> {
    router.publishers.contains_key(route).then(|| {
        let reason = format!(
            "{route} is trusted only from its publisher's broker account, which {transport} cannot vouch for"
        );
        refuse(ErrorCode::PermissionDenied, reason)
    })
}

/// A structured error as NestJS carries it: the reply's `err`.
pub(crate) fn error_reply(error: ServiceError) -> Reply {
    Reply::err(serde_json::to_value(error).unwrap_or_default())
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Counts a settlement (or retry) per queue: `messages_total{queue, outcome}`
/// on the service's `/metrics`. Patterns are not a label: a client could
/// invent unbounded numbers of them.
pub(crate) fn count(queue: &str, outcome: &'static str) {
    metrics::counter!("messages_total", "queue" => queue.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// Runs `handle` on each message of `messages` until they end or
/// `shutdown`, at most `limit` at once — back-pressure like a prefetch: a
/// message waits where it is while every permit is taken. How every
/// broker-less server (NATS, Redis) takes its messages; the tasks are in
/// `in_flight`, for [`finish_in_flight`].
pub(crate) async fn handle_each<M, Fut>(
    messages: &mut (impl futures_util::Stream<Item = M> + Unpin),
    limit: usize,
    in_flight: &tokio_util::task::TaskTracker,
    shutdown: &tokio_util::sync::CancellationToken,
    handle: impl Fn(M) -> Fut,
) where
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    use futures_util::StreamExt;
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(limit.max(1)));
    loop {
        let message = tokio::select! {
            message = messages.next() => match message {
                Some(message) => message,
                None => break,
            },
            () = shutdown.cancelled() => break,
        };
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let handled = handle(message);
        in_flight.spawn(async move {
            handled.await;
            drop(permit);
        });
    }
}

/// Lets the requests in `in_flight` finish, for at most `grace`: how every
/// broker-less server (NATS, Redis, TCP) ends once it takes no more.
pub(crate) async fn finish_in_flight(in_flight: &tokio_util::task::TaskTracker, grace: Duration) {
    in_flight.close();
    if tokio::time::timeout(grace, in_flight.wait()).await.is_err() {
        tracing::warn!(
            ?grace,
            "requests still running at the end of the grace period"
        );
    }
}

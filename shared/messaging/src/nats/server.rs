//! A [`Router`] served on NATS: each route's subject subscribed in the
//! service's queue group, requests answered on their reply subject, with
//! the AMQP server's handling (crate::handling): deadlines, retries in
//! place, panics caught, the same error replies.
//!
//! What NATS cannot give, it does not pretend to: no acknowledgement, so a
//! server that dies mid-request loses it (the client times out and retries
//! with its key); no dead-letter queue, so what the AMQP server would
//! dead-letter is logged and answered; no sender identity the server can
//! check, so events a route trusts only from one broker account
//! ([`Router::event_with`]) are refused here.

use std::{collections::HashMap, sync::Arc, time::SystemTime};

use async_nats::{Message as NatsMessage, Subscriber};
use contracts::ErrorCode;
use futures_util::stream::SelectAll;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    Connected,
    config::ServerConfig,
    handling::{self, Outcome, refuse},
    router::{Message, Router},
    text_headers as headers,
    wire::Incoming,
};

/// Serves `router` on `client` until `shutdown`, then stops taking requests
/// and lets those in flight finish within the grace period. The queue
/// group is `config.queue`; at most `config.prefetch` requests run at once.
/// `connected` is set once the server has every subscription (async-nats
/// renews them on each reconnect), for readiness checks and tests.
pub async fn serve(
    client: async_nats::Client,
    config: ServerConfig,
    router: Router,
    connected: Connected,
    shutdown: CancellationToken,
) {
    let mut routes = HashMap::new();
    let mut messages: SelectAll<Subscriber> = SelectAll::new();
    for route in router.handlers.keys() {
        let subject = crate::router::subject(&config.queue, route);
        match client
            .queue_subscribe(subject.clone(), config.queue.clone())
            .await
        {
            Ok(subscriber) => messages.push(subscriber),
            // Only a closed client or an invalid subject: a pattern NATS
            // cannot carry is a configuration error worth a loud log, not
            // a reason to serve nothing else.
            Err(e) => tracing::error!(subject, error = %e, "cannot subscribe"),
        }
        routes.insert(subject, route.clone());
    }
    // A flush returns once the server has processed everything sent before
    // it, the subscriptions included. Without a connection it waits for one.
    tokio::select! {
        flushed = client.flush() => {
            if let Err(e) = flushed {
                tracing::warn!(error = %e, "NATS flush failed");
            }
        }
        () = shutdown.cancelled() => {}
    }
    connected.set(true);
    tracing::info!(
        group = config.queue,
        subjects = routes.len(),
        "serving on NATS"
    );

    let context = Arc::new(Context {
        client: client.clone(),
        config,
        router,
        routes,
    });
    let in_flight = TaskTracker::new();
    // A message waits in the client's buffer while every permit is taken.
    let limit = usize::from(context.config.prefetch);
    handling::handle_each(&mut messages, limit, &in_flight, &shutdown, |message| {
        let context = context.clone();
        async move { handle(message, &context).await }
    })
    .await;

    connected.set(false);
    for subscriber in messages.iter_mut() {
        let _ = subscriber.unsubscribe().await;
    }
    handling::finish_in_flight(&in_flight, context.config.grace_period).await;
    // Replies published by the last handlers leave before we return.
    let _ = context.client.flush().await;
}

struct Context {
    client: async_nats::Client,
    config: ServerConfig,
    router: Router,
    /// Subject → the route it serves.
    routes: HashMap<String, String>,
}

async fn handle(message: NatsMessage, context: &Context) {
    let (outcome, id) = decide(&message, context).await;
    let request = message.reply.is_some();
    let reply = handling::reply_without_broker(outcome, &context.config.queue, request);
    if let (Some(reply_to), Some(mut reply)) = (message.reply, reply) {
        // NestJS's NATS client drops a reply whose id is not its request's.
        reply.id = id;
        let body = reply.encode();
        if let Err(e) = context.client.publish(reply_to, body.into()).await {
            tracing::warn!(error = %e, "reply could not be published");
        }
    }
}

/// What becomes of one message, and the request id its reply carries; the
/// AMQP server's `dispatch::handle` without what only a broker queue has
/// (redeliveries, provenance).
async fn decide(message: &NatsMessage, context: &Context) -> (Outcome, Option<String>) {
    let config = &context.config;
    let size = message.payload.len();
    if size > config.max_message_bytes {
        let reason = format!(
            "message of {size} bytes exceeds the limit of {}",
            config.max_message_bytes
        );
        return (refuse(ErrorCode::InvalidArgument, reason), None);
    }
    let incoming: Incoming = match serde_json::from_slice(&message.payload) {
        Ok(incoming) => incoming,
        Err(e) => {
            let reason = format!("body is not a NestJS envelope: {e}");
            return (refuse(ErrorCode::InvalidArgument, reason), None);
        }
    };
    let id = incoming.id.clone();
    let deadline = headers::deadline(message.headers.as_ref());
    if deadline.is_some_and(|d| SystemTime::now() > d) {
        return (Outcome::Expired, id);
    }
    // NestJS routes by the subject the message came on, not the envelope.
    let Some(route) = context.routes.get(message.subject.as_str()) else {
        return (
            refuse(ErrorCode::NotFound, "no handler for this subject".into()),
            id,
        );
    };
    if let Some(refused) = handling::untrusted(&context.router, route, "NATS") {
        return (refused, id);
    }
    let Some(handler) = context.router.handlers.get(route) else {
        return (
            refuse(ErrorCode::NotFound, "no handler for this subject".into()),
            id,
        );
    };
    let message_id = id.clone().unwrap_or_default();
    let span = tracing::info_span!("message", pattern = %route, transport = "nats");
    headers::set_parent(&span, message.headers.as_ref());
    let request = Message {
        data: incoming.data,
        message_id,
        redelivered: false,
        caller: headers::caller(message.headers.as_ref()),
    };
    let outcome = handling::execute(handler, request, config, deadline, route, span).await;
    (outcome, id)
}

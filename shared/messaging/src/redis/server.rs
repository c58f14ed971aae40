//! A [`Router`] served on Redis: each route's channel subscribed, requests
//! answered on `<channel>.reply` with their id (NestJS's `ServerRedis`),
//! with the handling every transport shares (crate::handling): deadlines,
//! retries in place, panics caught, the same error replies.
//!
//! What pub/sub cannot give, it does not pretend to: no acknowledgement,
//! so a server that dies mid-request loses it (the client times out and
//! retries with its key); no dead-letter queue, so what the AMQP server
//! would dead-letter is logged and answered; no competing consumers, so
//! each replica runs every request; no sender identity the server can
//! check, so events a route trusts only from one broker account
//! ([`Router::event_with`]) are refused here.

use std::{collections::HashMap, sync::Arc, time::SystemTime};

use contracts::ErrorCode;
use tokio::sync::mpsc;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::subscriber::{Delivery, Subscription};
use crate::{
    Connected,
    config::ServerConfig,
    handling::{self, Outcome, refuse},
    router::subject,
    router::{Message, Router},
    text_headers,
    wire::Incoming,
};

/// Serves `router` on Redis (`client`) until `shutdown`, then stops taking
/// requests and lets those in flight finish within the grace period. At
/// most `config.prefetch` requests run at once. `connected` is set while
/// every channel is subscribed (after each reconnect, again).
pub async fn serve(
    client: ::redis::Client,
    config: ServerConfig,
    router: Router,
    connected: Connected,
    shutdown: CancellationToken,
) {
    let publisher = match super::publisher(client.clone()) {
        Ok(publisher) => publisher,
        Err(e) => {
            tracing::error!(error = %e, "cannot serve on Redis");
            return;
        }
    };
    let routes: HashMap<String, String> = router
        .handlers
        .keys()
        .map(|route| (subject(&config.queue, route), route.clone()))
        .collect();
    let prefetch = usize::from(config.prefetch.max(1));
    let (deliveries, incoming) = mpsc::channel::<Delivery>(prefetch);
    let subscription_stop = CancellationToken::new();
    let _subscription = Subscription::spawn(
        client,
        routes.keys().cloned().collect(),
        deliveries,
        connected.clone(),
        subscription_stop.clone(),
    );
    tracing::info!(
        group = config.queue,
        channels = routes.len(),
        "serving on Redis"
    );

    let context = Arc::new(Context {
        publisher,
        config,
        router,
        routes,
    });
    let in_flight = TaskTracker::new();
    let mut incoming = tokio_stream::wrappers::ReceiverStream::new(incoming);
    handling::handle_each(&mut incoming, prefetch, &in_flight, &shutdown, |delivery| {
        let context = context.clone();
        async move { handle(delivery, &context).await }
    })
    .await;

    // Unsubscribed (the connection closes): Redis sends no more.
    subscription_stop.cancel();
    connected.set(false);
    handling::finish_in_flight(&in_flight, context.config.grace_period).await;
}

struct Context {
    publisher: ::redis::aio::ConnectionManager,
    config: ServerConfig,
    router: Router,
    /// Channel → the route it serves.
    routes: HashMap<String, String>,
}

async fn handle((channel, payload): Delivery, context: &Context) {
    let (outcome, id) = decide(&channel, &payload, context).await;
    let queue = &context.config.queue;
    // NestJS answers only what carries an id: anything else is an event.
    let Some(reply) = handling::reply_without_broker(outcome, queue, id.is_some()) else {
        return;
    };
    let body = crate::wire::Reply { id, ..reply }.encode();
    let mut publisher = context.publisher.clone();
    if let Err(e) = super::publish(&mut publisher, &super::reply_channel(&channel), body).await {
        tracing::warn!(error = %e, "reply could not be published");
    }
}

/// What becomes of one message, and the request id its reply carries.
async fn decide(channel: &str, payload: &[u8], context: &Context) -> (Outcome, Option<String>) {
    let config = &context.config;
    if payload.len() > config.max_message_bytes {
        let reason = format!(
            "message of {} bytes exceeds the limit of {}",
            payload.len(),
            config.max_message_bytes
        );
        return (refuse(ErrorCode::InvalidArgument, reason), None);
    }
    let incoming: Incoming = match serde_json::from_slice(payload) {
        Ok(incoming) => incoming,
        Err(e) => {
            let reason = format!("body is not a NestJS envelope: {e}");
            return (refuse(ErrorCode::InvalidArgument, reason), None);
        }
    };
    let id = incoming.id.clone();
    let headers = incoming.headers.as_ref();
    let deadline = text_headers::deadline(headers);
    if deadline.is_some_and(|d| SystemTime::now() > d) {
        return (Outcome::Expired, id);
    }
    // NestJS routes by the channel the message came on, not the envelope.
    let Some((route, handler)) = context
        .routes
        .get(channel)
        .and_then(|route| Some((route, context.router.handlers.get(route)?)))
    else {
        let reason = "no handler for this channel".to_owned();
        return (refuse(ErrorCode::NotFound, reason), id);
    };
    if let Some(refused) = handling::untrusted(&context.router, route, "Redis") {
        return (refused, id);
    }
    let span = tracing::info_span!("message", pattern = %route, transport = "redis");
    text_headers::set_parent(&span, headers);
    let message = Message {
        caller: text_headers::caller(headers),
        data: incoming.data,
        message_id: id.clone().unwrap_or_default(),
        redelivered: false,
    };
    let outcome = handling::execute(handler, message, config, deadline, route, span).await;
    (outcome, id)
}

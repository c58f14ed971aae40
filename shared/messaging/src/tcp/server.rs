//! A [`Router`] served on NestJS's TCP transport: one JSON-framed stream
//! per connection, requests answered on the connection they came on
//! (`{id, response | err, isDisposed}`), with the handling every transport
//! shares (crate::handling).
//!
//! TCP is point to point and keeps nothing: a server that dies mid-request
//! loses it (the client times out, or sees the connection drop, and
//! retries with its key); there is no dead-letter queue (what RabbitMQ
//! would dead-letter is logged and answered) and no broker account to
//! vouch for an event's sender (routes trusted only from one are refused).
//! NestJS's TCP envelope carries no headers, so a request has no caller and
//! no deadline here.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{Semaphore, mpsc},
};
use tokio_util::{
    codec::{FramedRead, FramedWrite},
    sync::CancellationToken,
    task::TaskTracker,
};

use super::framing::JsonFrames;
use crate::{
    Connected,
    config::ServerConfig,
    handling::{self, Outcome, count},
    router::{Message, Router},
    wire::{self, Incoming, NO_MESSAGE_HANDLER, Reply},
};

/// Replies waiting for a slow reader, per connection, before the handlers
/// of that connection wait in turn.
const REPLY_BUFFER: usize = 64;

struct Context {
    config: ServerConfig,
    router: Router,
    /// Handlers running at once, across connections (`config.prefetch`).
    permits: Arc<Semaphore>,
    in_flight: TaskTracker,
}

/// Serves `router` on `listener` until `shutdown`, then stops accepting and
/// reading, lets the requests in flight finish within the grace period,
/// and closes the connections.
pub async fn serve(
    listener: TcpListener,
    config: ServerConfig,
    router: Router,
    connected: Connected,
    shutdown: CancellationToken,
) {
    let context = Arc::new(Context {
        permits: Arc::new(Semaphore::new(usize::from(config.prefetch.max(1)))),
        config,
        router,
        in_flight: TaskTracker::new(),
    });
    let connections = TaskTracker::new();
    connected.set(true);
    tracing::info!(addr = ?listener.local_addr().ok(), "serving on TCP");
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: wait, not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(stream, context.clone(), shutdown.clone()));
    }
    connected.set(false);
    drop(listener);
    context.in_flight.close();
    let grace = context.config.grace_period;
    if tokio::time::timeout(grace, context.in_flight.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            ?grace,
            "requests still running at the end of the grace period"
        );
    }
    connections.close();
    let _ = tokio::time::timeout(grace, connections.wait()).await;
}

/// Reads one connection's frames until it closes, its framing breaks, or
/// shutdown; writes its replies in the order they are ready.
async fn connection(stream: TcpStream, context: Arc<Context>, shutdown: CancellationToken) {
    let (read, write) = stream.into_split();
    let max_units = context.config.max_message_bytes;
    let mut frames = FramedRead::new(read, JsonFrames::new(max_units));
    let (replies, mut outgoing) = mpsc::channel::<String>(REPLY_BUFFER);
    let writer = tokio::spawn(async move {
        let mut sink = FramedWrite::new(write, JsonFrames::new(usize::MAX));
        while let Some(reply) = outgoing.recv().await {
            if let Err(e) = sink.send(reply.as_str()).await {
                tracing::debug!(error = %e, "a reply could not be written");
                break;
            }
        }
    });
    loop {
        let frame = tokio::select! {
            frame = frames.next() => frame,
            () = shutdown.cancelled() => break,
        };
        let text = match frame {
            Some(Ok(text)) => text,
            Some(Err(e)) => {
                // No way to find the next frame: NestJS drops the socket too.
                tracing::warn!(error = %e, "dropping a TCP connection");
                break;
            }
            None => break,
        };
        // Back-pressure: no more is read while every permit is taken.
        let Ok(permit) = context.permits.clone().acquire_owned().await else {
            break;
        };
        let (task_context, replies) = (context.clone(), replies.clone());
        context.in_flight.spawn(async move {
            if let Some(reply) = handle(&text, &task_context).await {
                let _ = replies.send(reply).await;
            }
            drop(permit);
        });
    }
    // The writer ends once every handler of this connection has replied
    // (each holds a sender) and this one is gone.
    drop(replies);
    let _ = writer.await;
}

/// One frame: its reply, if it is a request.
async fn handle(text: &str, context: &Context) -> Option<String> {
    let queue = &context.config.queue;
    let incoming: Incoming = match serde_json::from_str(text) {
        Ok(incoming) => incoming,
        Err(e) => {
            tracing::warn!(error = %e, "a frame is not a NestJS envelope");
            count(queue, "refused");
            return None;
        }
    };
    let id = incoming.id.clone();
    let outcome = decide(incoming, context).await;
    let reply = handling::reply_without_broker(outcome, queue, id.is_some())?;
    let reply = Reply { id, ..reply }.encode();
    Some(String::from_utf8(reply).expect("JSON is UTF-8"))
}

async fn decide(incoming: Incoming, context: &Context) -> Outcome {
    let route = wire::route(&incoming.pattern);
    let Some(handler) = context.router.handlers.get(&route) else {
        return Outcome::DeadLetter {
            reason: format!("no handler for pattern {route:?}"),
            reply: Some(Reply::err(Value::String(NO_MESSAGE_HANDLER.into()))),
        };
    };
    if let Some(refused) = handling::untrusted(&context.router, &route, "TCP") {
        return refused;
    }
    let span = tracing::info_span!("message", pattern = %route, transport = "tcp");
    let message = Message {
        data: incoming.data,
        message_id: incoming.id.unwrap_or_default(),
        redelivered: false,
        caller: None,
    };
    handling::execute(handler, message, &context.config, None, &route, span).await
}

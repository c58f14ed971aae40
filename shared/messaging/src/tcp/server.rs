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
//!
//! Who calls: NestJS's TCP envelope carries no headers, and anyone who
//! reaches the port can connect. With [`TcpTrust`] the connection is mutual
//! TLS, the client's certificate must be signed by the services' CA, and
//! only the services it names may call (others get `PERMISSION_DENIED`);
//! then — and only then — the caller and deadline in the envelope's
//! `headers` member (crate::text_headers) are believed. Without it (NestJS
//! peers in plain TCP) requests run for nobody.

use std::{sync::Arc, time::SystemTime};

use contracts::ErrorCode;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpListener,
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
    handling::{self, Outcome, count, refuse},
    router::{Message, Router},
    text_headers,
    wire::{self, Incoming, NO_MESSAGE_HANDLER, Reply},
};

/// Mutual TLS on a TCP listener, and who may call through it.
#[derive(Clone)]
pub struct TcpTrust {
    /// Requires a client certificate signed by the CA
    /// (`GrpcTls::stream_server`).
    pub tls: Arc<rustls::ServerConfig>,
    /// The services that may call, e.g. `["api-gateway"]`: a certificate
    /// must carry one's SPIFFE ID in `spiffe`.
    pub callers: Vec<String>,
    /// Where callers must come from (`platform::tls::spiffe`).
    pub spiffe: platform::tls::Spiffe,
}

impl std::fmt::Debug for TcpTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpTrust")
            .field("callers", &self.callers)
            .finish_non_exhaustive()
    }
}

/// Who is on the other end of a connection.
#[derive(Debug, Clone)]
enum Peer {
    /// Plain TCP: anyone; nothing it says about a caller is believed.
    Anonymous,
    /// A verified certificate naming a service that may call.
    Trusted,
    /// A verified certificate naming none that may (its URIs, to say so).
    Refused(Vec<String>),
}

/// Replies waiting for a slow reader, per connection, before the handlers
/// of that connection wait in turn.
const REPLY_BUFFER: usize = 64;

struct Context {
    config: ServerConfig,
    trust: Option<TcpTrust>,
    router: Router,
    /// Handlers running at once, across connections (`config.prefetch`).
    permits: Arc<Semaphore>,
    in_flight: TaskTracker,
}

/// Serves `router` on `listener` until `shutdown`, then stops accepting and
/// reading, lets the requests in flight finish within the grace period,
/// and closes the connections. `trust`: mutual TLS and who may call; `None`
/// is plain TCP, as NestJS's default.
pub async fn serve(
    listener: TcpListener,
    config: ServerConfig,
    trust: Option<TcpTrust>,
    router: Router,
    connected: Connected,
    shutdown: CancellationToken,
) {
    let context = Arc::new(Context {
        permits: Arc::new(Semaphore::new(usize::from(config.prefetch.max(1)))),
        config,
        trust,
        router,
        in_flight: TaskTracker::new(),
    });
    let connections = TaskTracker::new();
    connected.set(true);
    tracing::info!(
        addr = ?listener.local_addr().ok(),
        tls = context.trust.is_some(),
        "serving on TCP"
    );
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
        let (context, shutdown) = (context.clone(), shutdown.clone());
        connections.spawn(async move {
            let Some(trust) = &context.trust else {
                return connection(stream, Peer::Anonymous, context, shutdown).await;
            };
            let accept = tokio_rustls::TlsAcceptor::from(trust.tls.clone()).accept(stream);
            match tokio::time::timeout(platform::tls::HANDSHAKE_TIMEOUT, accept).await {
                Ok(Ok(stream)) => {
                    let peer = peer(&stream, trust);
                    connection(stream, peer, context, shutdown).await;
                }
                // No certificate, another CA's, or silence: nothing to answer.
                Ok(Err(e)) => tracing::info!(error = %e, "TLS handshake refused"),
                Err(_) => tracing::info!("TLS handshake timed out"),
            }
        });
    }
    connected.set(false);
    drop(listener);
    let grace = context.config.grace_period;
    handling::finish_in_flight(&context.in_flight, grace).await;
    connections.close();
    let _ = tokio::time::timeout(grace, connections.wait()).await;
}

/// Who the verified certificate of `stream` names, and whether one of them
/// may call.
fn peer<S>(stream: &tokio_rustls::server::TlsStream<S>, trust: &TcpTrust) -> Peer {
    let peer = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .map(|leaf| trust.spiffe.peer(leaf.as_ref()))
        .unwrap_or_default();
    if peer
        .services
        .iter()
        .any(|name| trust.callers.contains(name))
    {
        Peer::Trusted
    } else {
        Peer::Refused(peer.presented)
    }
}

/// Reads one connection's frames until it closes, its framing breaks, or
/// shutdown; writes its replies in the order they are ready.
async fn connection<S: AsyncRead + AsyncWrite + Send + 'static>(
    stream: S,
    peer: Peer,
    context: Arc<Context>,
    shutdown: CancellationToken,
) {
    let (read, write) = tokio::io::split(stream);
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
        let (task_context, replies, peer) = (context.clone(), replies.clone(), peer.clone());
        context.in_flight.spawn(async move {
            if let Some(reply) = handle(&text, &peer, &task_context).await {
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
async fn handle(text: &str, peer: &Peer, context: &Context) -> Option<String> {
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
    let outcome = decide(incoming, peer, context).await;
    let reply = handling::reply_without_broker(outcome, queue, id.is_some())?;
    let reply = Reply { id, ..reply }.encode();
    Some(String::from_utf8(reply).expect("JSON is UTF-8"))
}

async fn decide(incoming: Incoming, peer: &Peer, context: &Context) -> Outcome {
    if let Peer::Refused(names) = peer {
        let reason = format!("{names:?} may not call this service over TCP");
        return refuse(ErrorCode::PermissionDenied, reason);
    }
    let headers = incoming.headers.as_ref();
    let deadline = text_headers::deadline(headers);
    if deadline.is_some_and(|d| SystemTime::now() > d) {
        return Outcome::Expired;
    }
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
    text_headers::set_parent(&span, headers);
    let caller = match peer {
        Peer::Trusted => text_headers::caller(headers),
        _ => None,
    };
    let message = Message {
        caller,
        data: incoming.data,
        message_id: incoming.id.unwrap_or_default(),
        redelivered: false,
    };
    handling::execute(handler, message, &context.config, deadline, &route, span).await
}

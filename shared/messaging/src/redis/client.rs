//! The Redis carrier of a [`Client`], over a [`RedisLink`], to a NestJS `@MessagePattern` on `Transport.REDIS` or to
//! [`super::serve`] — NestJS's `ClientRedis`: requests published on the
//! pattern's channel, replies read from `<channel>.reply` (subscribed on
//! first use) and matched to their request by id.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::{Value, value::RawValue};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{RedisConfig, RedisError, subscriber::Subscription};
use crate::{
    Carrier, Client, Connected, RpcError, Transport,
    client::Outgoing,
    error::TransportError,
    pending::Waiting,
    router::subject,
    text_headers::{self, HeaderMembers},
    wire::{self, Reply},
};

/// Replies read ahead of the task matching them to requests.
const REPLY_BUFFER: usize = 1024;

/// One process's connections to Redis, shared by all of its clients: a
/// publisher and a subscriber for replies (NestJS's two ioredis
/// connections), each reconnecting by itself. Cheap to clone; its tasks end
/// with the last clone or [`Self::close`].
#[derive(Debug, Clone)]
pub struct RedisLink {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    publisher: ::redis::aio::ConnectionManager,
    replies: Subscription,
    /// Reply channels subscribed so far (kept across reconnects).
    subscribed: Mutex<HashSet<String>>,
    waiting: Arc<Waiting>,
    closed: CancellationToken,
    _stop: DropGuard,
}

impl RedisLink {
    /// Starts connecting in the background; fails only on a bad URL.
    pub fn start(config: &RedisConfig) -> Result<Self, RedisError> {
        let client = config.client()?;
        let publisher = super::publisher(client.clone())?;
        let closed = CancellationToken::new();
        let (deliveries, mut incoming) = mpsc::channel(REPLY_BUFFER);
        let replies = Subscription::spawn(
            client,
            Vec::new(),
            deliveries,
            Connected::default(),
            closed.clone(),
        );
        let waiting: Arc<Waiting> = Arc::default();
        let replies_to = waiting.clone();
        tokio::spawn(async move {
            while let Some((_channel, payload)) = incoming.recv().await {
                // Other clients' replies come here too (NestJS's design):
                // those whose id nobody here waits for are dropped.
                match serde_json::from_slice::<Reply>(&payload) {
                    Ok(reply) => replies_to.deliver(reply),
                    Err(_) => tracing::debug!("a reply that is not a NestJS reply"),
                }
            }
        });
        Ok(Self {
            inner: Arc::new(Inner {
                publisher,
                replies,
                subscribed: Mutex::default(),
                waiting,
                _stop: closed.clone().drop_guard(),
                closed,
            }),
        })
    }

    /// Whether the reply subscription is up right now.
    pub fn is_connected(&self) -> bool {
        self.inner.replies.is_connected()
    }

    /// Waits (bounded) until connected; for start-up and tests.
    pub async fn wait_connected(&self, within: Duration) -> bool {
        crate::connected::wait_until(within, || self.is_connected()).await
    }

    /// A readiness check named `name` that passes while connected.
    pub fn readiness_check(&self, name: &'static str) -> platform::admin::Check {
        let link = self.clone();
        platform::admin::Check::flag(
            name,
            move || link.is_connected(),
            "not connected to Redis; reconnecting",
        )
    }

    /// Stops reconnecting; calls fail as not connected from now on.
    pub fn close(&self) {
        self.inner.closed.cancel();
    }

    /// Subscribes to `channel` unless done before, as NestJS's client does
    /// before its first request on a pattern.
    async fn listen_on(&self, channel: &str) -> Result<(), RpcError> {
        if lock(&self.inner.subscribed).contains(channel) {
            return Ok(());
        }
        self.inner.replies.subscribe(channel.to_owned()).await?;
        lock(&self.inner.subscribed).insert(channel.to_owned());
        Ok(())
    }

    async fn publish(&self, channel: &str, body: Vec<u8>) -> Result<u64, RpcError> {
        let mut publisher = self.inner.publisher.clone();
        super::publish(&mut publisher, channel, body)
            .await
            .map_err(|e| {
                if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() {
                    RpcError::NotConnected
                } else {
                    TransportError::Redis(e.to_string()).into()
                }
            })
    }
}

/// Requests and events for one service (`group`: its queue name, which
/// names its health-check channel) over a shared [`RedisLink`].
#[derive(Debug)]
struct RedisCarrier {
    link: RedisLink,
    group: String,
}

impl Client {
    /// A client for the service `group` names (its queue name) on `link`,
    /// whose requests wait at most `timeout`.
    pub fn redis(link: &RedisLink, group: impl Into<String>, timeout: Duration) -> Self {
        let carrier = RedisCarrier {
            link: link.clone(),
            group: group.into(),
        };
        Self::new(carrier, timeout)
    }
}

impl Carrier for RedisCarrier {
    const TRANSPORT: Transport = Transport::Redis;

    fn destination(&self) -> &str {
        &self.group
    }

    fn is_connected(&self) -> bool {
        self.link.is_connected()
    }

    async fn request(&self, request: Outgoing<'_>) -> Result<Value, RpcError> {
        if !self.is_connected() {
            return Err(RpcError::NotConnected);
        }
        let channel = subject(&self.group, request.pattern);
        self.link.listen_on(&super::reply_channel(&channel)).await?;
        let id = uuid::Uuid::new_v4().to_string();
        let headers: HeaderMembers = text_headers::request(request.timeout, request.caller);
        let body =
            wire::encode_with_headers(request.pattern, request.data, Some(&id), Some(&headers))?;
        let (reply, _forget) = self.link.inner.waiting.register(&id);
        if self.link.publish(&channel, body).await? == 0 {
            return Err(RpcError::NoServer);
        }
        let reply = reply.await.map_err(|_| RpcError::ConnectionLost)?;
        reply.into_result().map_err(RpcError::Remote)
    }

    /// Publishes an event (the envelope without `id`) on the pattern's
    /// channel, to every subscribed replica of every service. At most once:
    /// Redis keeps nothing for a subscriber that is not there.
    async fn emit(&self, pattern: &str, data: &RawValue) -> Result<(), RpcError> {
        let headers: HeaderMembers = text_headers::event();
        let body = wire::encode_with_headers(pattern, &data, None, Some(&headers))?;
        let channel = subject(&self.group, pattern);
        self.link.publish(&channel, body).await?;
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves the map as it was.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

//! The client face on Redis: what [`crate::RpcClient`] does on RabbitMQ,
//! to a NestJS `@MessagePattern` on `Transport.REDIS` or to
//! [`super::serve`] — NestJS's `ClientRedis`: requests published on the
//! pattern's channel, replies read from `<channel>.reply` (subscribed on
//! first use) and matched to their request by id.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use contracts::identity::Caller;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{RedisConfig, RedisError, subscriber::Subscription};
use crate::{
    Connected, RpcError,
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
        crate::connection::wait_until(within, || self.is_connected()).await
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
                    RpcError::Transport(e.to_string())
                }
            })
    }
}

/// Requests and events for one service (`group`: its queue name, which
/// names its health-check channel) over a shared [`RedisLink`]. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct RedisClient {
    link: RedisLink,
    group: String,
    timeout: Duration,
    caller: Option<Caller>,
}

impl RedisClient {
    pub fn new(link: &RedisLink, group: impl Into<String>, timeout: Duration) -> Self {
        Self {
            link: link.clone(),
            group: group.into(),
            timeout,
            caller: None,
        }
    }

    /// This client sending its requests for `caller` (envelope headers
    /// `x-caller-id`, `x-caller-role`; see [`crate::RpcClient::on_behalf_of`]).
    #[must_use]
    pub fn on_behalf_of(&self, caller: Caller) -> Self {
        Self {
            caller: Some(caller),
            ..self.clone()
        }
    }

    pub fn is_connected(&self) -> bool {
        self.link.is_connected()
    }

    /// The client's own deadline.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A request and its reply, within `timeout`. Counted and timed like
    /// every client's calls (`messaging_client_*`, `queue` = the group).
    pub async fn send_value_within(
        &self,
        pattern: &str,
        data: Value,
        timeout: Duration,
    ) -> Result<Value, RpcError> {
        let call = self.request(pattern, data, timeout);
        crate::metrics::timed_call_within(&self.group, pattern, timeout, call).await
    }

    async fn request(
        &self,
        pattern: &str,
        data: Value,
        timeout: Duration,
    ) -> Result<Value, RpcError> {
        if !self.is_connected() {
            return Err(RpcError::NotConnected);
        }
        let channel = subject(&self.group, pattern);
        self.link.listen_on(&super::reply_channel(&channel)).await?;
        let id = uuid::Uuid::new_v4().to_string();
        let headers: HeaderMembers = text_headers::request(timeout, self.caller.as_ref());
        let body = wire::encode_with_headers(pattern, &data, Some(&id), Some(&headers))?;
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
    pub async fn emit<D: Serialize>(&self, pattern: &str, data: &D) -> Result<(), RpcError> {
        let headers: HeaderMembers = text_headers::event();
        let body = wire::encode_with_headers(pattern, data, None, Some(&headers))?;
        let channel = subject(&self.group, pattern);
        tokio::time::timeout(self.timeout, self.link.publish(&channel, body))
            .await
            .map_err(|_| RpcError::Timeout(self.timeout))??;
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves the map as it was.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

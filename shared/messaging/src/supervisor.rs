//! Keeps an [`RpcClient`](crate::RpcClient)'s connection up and routes
//! replies to the requests waiting for them.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError, RwLock, Weak},
    time::Duration,
};

use lapin::{
    Channel, Consumer,
    options::{BasicConsumeOptions, ConfirmSelectOptions},
    types::FieldTable,
};
use tokio::sync::oneshot;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::{
    AmqpConfig, RpcError,
    connection::{Backoff, connect},
    topology::{declare_exchange, declare_queue},
    wire::{DIRECT_REPLY_TO, Reply},
};

/// Keeps one connection up for as long as the client lives: connect, declare,
/// consume replies; when the connection is lost, fail what is in flight and
/// reconnect with backoff.
pub(crate) async fn supervise(inner: Weak<Inner>, config: AmqpConfig, shutdown: CancellationToken) {
    let mut backoff = Backoff::new(&config);
    while !shutdown.is_cancelled() {
        let Some((queue, exchange)) = inner
            .upgrade()
            .map(|i| (i.queue.clone(), i.exchange.clone()))
        else {
            return;
        };
        match open(&config, &queue, exchange.as_deref()).await {
            Ok((connection, channel, replies)) => {
                backoff.reset();
                if let Some(i) = inner.upgrade() {
                    i.set_channel(Some(channel));
                }
                tracing::info!(queue, "rpc client connected");
                dispatch_replies(&inner, replies, &shutdown).await;
                if let Some(i) = inner.upgrade() {
                    i.set_channel(None);
                    i.fail_pending();
                }
                let _ = connection.close(200, "client closing".into()).await;
                if shutdown.is_cancelled() {
                    return;
                }
                tracing::warn!(queue, "rpc client lost its connection; reconnecting");
            }
            Err(e) => tracing::warn!(queue, error = %e, "rpc client cannot connect; retrying"),
        }
        tokio::select! {
            () = tokio::time::sleep(backoff.next_delay()) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

async fn open(
    config: &AmqpConfig,
    queue: &str,
    exchange: Option<&str>,
) -> lapin::Result<(lapin::Connection, Channel, Consumer)> {
    let connection = connect(config, "rpc-client").await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    // Declared as the server declares it, so requests sent before the server
    // first starts wait in the queue (until their expiration) instead of
    // being dropped as unroutable.
    if !queue.is_empty() {
        declare_queue(&channel, queue).await?;
    }
    if let Some(exchange) = exchange {
        declare_exchange(&channel, exchange).await?;
    }
    // Direct reply-to: no reply queue to declare or clean up. The consumer
    // must exist, in no-ack mode, before the first request is published.
    let replies = channel
        .basic_consume(
            DIRECT_REPLY_TO.into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok((connection, channel, replies))
}

async fn dispatch_replies(
    inner: &Weak<Inner>,
    mut replies: Consumer,
    shutdown: &CancellationToken,
) {
    loop {
        let delivery = tokio::select! {
            () = shutdown.cancelled() => return,
            next = replies.next() => match next {
                Some(Ok(delivery)) => delivery,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "reply consumer failed");
                    return;
                }
                None => return,
            },
        };
        let Some(inner) = inner.upgrade() else { return };
        let Some(id) = delivery.properties.correlation_id().as_ref() else {
            tracing::warn!("reply without correlation_id dropped");
            continue;
        };
        // A reply whose sender gave up (deadline) finds no entry: ignored.
        if let Some(tx) = inner.pending().remove(id.as_str()) {
            let reply = serde_json::from_slice::<Reply>(&delivery.data).map_err(RpcError::from);
            let _ = tx.send(reply);
        }
    }
}

/// The state a client's clones share with the task keeping its connection
/// up: the channel (while connected) and the requests awaiting replies.
pub(crate) type PendingReply = oneshot::Sender<Result<Reply, RpcError>>;

#[derive(Debug)]
pub(crate) struct Inner {
    /// The queue `send` and `emit` target; empty for a pure publisher.
    pub(crate) queue: String,
    /// The exchange `publish` targets, declared on connect.
    pub(crate) exchange: Option<String>,
    /// The broker account this client logs in as: the `user_id` of what it
    /// publishes, which RabbitMQ refuses unless it is the connection's own.
    pub(crate) user: String,
    pub(crate) timeout: Duration,
    /// `None` while disconnected: `send` fails fast instead of waiting.
    pub(crate) channel: RwLock<Option<Channel>>,
    pub(crate) pending: Mutex<HashMap<String, PendingReply>>,
    pub(crate) shutdown: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Inner {
    pub(crate) fn channel(&self) -> Option<Channel> {
        self.channel
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_channel(&self, channel: Option<Channel>) {
        *self.channel.write().unwrap_or_else(PoisonError::into_inner) = channel;
    }

    pub(crate) fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, PendingReply>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn register<'a>(&'a self, id: &str, tx: PendingReply) -> Registration<'a> {
        self.pending().insert(id.to_owned(), tx);
        Registration {
            inner: self,
            id: id.to_owned(),
        }
    }

    /// Answers every waiting `send` at once: after a lost connection their
    /// replies can never arrive (direct reply-to is bound to the channel).
    pub(crate) fn fail_pending(&self) {
        for (_, tx) in self.pending().drain() {
            let _ = tx.send(Err(RpcError::ConnectionLost));
        }
    }
}

/// Removes a request from the pending map however `send` ends (reply,
/// deadline, or the caller dropping the future).
pub(crate) struct Registration<'a> {
    inner: &'a Inner,
    id: String,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.inner.pending().remove(&self.id);
    }
}

//! Keeps a [`Link`](crate::Link)'s connection up — declaring what its
//! clients and publishers use — and routes replies to the requests waiting
//! for them.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Mutex, PoisonError, RwLock, Weak},
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
    amqp::connection::{backoff, connect},
    amqp::topology::declare_exchange,
    wire::{DIRECT_REPLY_TO, Reply},
};

/// Keeps one connection up for as long as the link lives: connect, declare,
/// consume replies; when the connection is lost, fail what is in flight and
/// reconnect with backoff.
pub(crate) async fn supervise(inner: Weak<Inner>, config: AmqpConfig, shutdown: CancellationToken) {
    let mut backoff = backoff(&config);
    while !shutdown.is_cancelled() {
        let Some(declared) = inner.upgrade().map(|i| i.declared()) else {
            return;
        };
        match open(&config, &declared).await {
            Ok((connection, channel, replies)) => {
                backoff.reset();
                if let Some(i) = inner.upgrade() {
                    i.set_channel(Some(channel));
                }
                tracing::info!(exchanges = ?declared.exchanges, "rabbitmq link connected");
                dispatch_replies(&inner, replies, &shutdown).await;
                if let Some(i) = inner.upgrade() {
                    i.set_channel(None);
                    i.fail_pending();
                }
                let _ = connection.close(200, "client closing".into()).await;
                if shutdown.is_cancelled() {
                    return;
                }
                tracing::warn!(exchanges = ?declared.exchanges, "rabbitmq link lost its connection; reconnecting");
            }
            Err(e) => {
                tracing::warn!(exchanges = ?declared.exchanges, error = %e, "rabbitmq link cannot connect; retrying");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff.next_delay()) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

async fn open(
    config: &AmqpConfig,
    declared: &Declared,
) -> lapin::Result<(lapin::Connection, Channel, Consumer)> {
    let connection = connect(config, "rpc-client").await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    // Queues are their servers' to declare: a client's requests to one
    // that does not exist yet come back (mandatory) as NoServer.
    for exchange in &declared.exchanges {
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

/// What a link declares on every connect: its publishers' exchanges.
#[derive(Debug, Default, Clone)]
pub(crate) struct Declared {
    pub(crate) exchanges: BTreeSet<String>,
}

/// The state a link's clients and publishers share with the task keeping
/// its connection up: the channel (while connected) and the requests
/// awaiting replies.
pub(crate) type PendingReply = oneshot::Sender<Result<Reply, RpcError>>;

#[derive(Debug)]
pub(crate) struct Inner {
    /// The exchanges its publishers publish to, declared on every connect.
    pub(crate) declared: Mutex<Declared>,
    /// The broker account this link logs in as: the `user_id` of what it
    /// publishes, which RabbitMQ refuses unless it is the connection's own.
    pub(crate) user: String,
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

    pub(crate) fn declared(&self) -> Declared {
        self.declared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
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

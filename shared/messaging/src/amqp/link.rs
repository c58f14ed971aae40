//! One connection to RabbitMQ, kept up in the background and shared by the
//! request clients ([`Client::amqp`](crate::Client::amqp)) and event
//! publishers ([`EventPublisher::on`](crate::EventPublisher::on)) made on it: one TCP connection, one confirm
//! channel and one direct reply-to consumer per process, however many
//! queues it sends to — the gateway talks to order-service and
//! notification-service over one link.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError, RwLock},
    time::Duration,
};

use lapin::Channel;
use tokio_util::sync::CancellationToken;

use crate::{
    AmqpConfig,
    amqp::supervisor::{self, Declared, Inner},
    amqp::topology::declare_exchange,
};

/// A supervised connection. Cheap to clone; the connection closes when the
/// last clone (and every client and publisher made from it) is dropped, or
/// at [`Link::close`].
#[derive(Debug, Clone)]
pub struct Link {
    pub(crate) inner: Arc<Inner>,
}

impl Link {
    /// Starts connecting in the background and returns at once: a caller
    /// that starts before the broker gets `NotConnected` (a fast 503), not
    /// a hang, and the link connects when the broker appears.
    pub fn start(config: AmqpConfig) -> Self {
        crate::metrics::describe();
        let inner = Arc::new(Inner {
            declared: Mutex::new(Declared::default()),
            user: config.user(),
            channel: RwLock::new(None),
            pending: Mutex::new(HashMap::new()),
            shutdown: CancellationToken::new(),
        });
        let shutdown = inner.shutdown.clone();
        tokio::spawn(supervisor::supervise(
            Arc::downgrade(&inner),
            config,
            shutdown,
        ));
        Self { inner }
    }

    pub fn is_connected(&self) -> bool {
        self.inner.channel().is_some()
    }

    /// A readiness check named `name` that passes while the link is
    /// connected.
    pub fn readiness_check(&self, name: &'static str) -> platform::admin::Check {
        let link = self.clone();
        platform::admin::Check::flag(
            name,
            move || link.is_connected(),
            "not connected; reconnecting",
        )
    }

    /// Waits (bounded) until the link is connected; for start-up and tests.
    pub async fn wait_connected(&self, within: Duration) -> bool {
        crate::connected::wait_until(within, || self.is_connected()).await
    }

    /// Stops reconnecting and closes the connection, for every client and
    /// publisher on it.
    pub fn close(&self) {
        self.inner.shutdown.cancel();
    }

    /// The broker account the link logs in as.
    pub(crate) fn user(&self) -> &str {
        &self.inner.user
    }

    pub(crate) fn channel(&self) -> Option<Channel> {
        self.inner.channel()
    }

    /// Declares the topic exchange `exchange` on every connect, and now if
    /// the link is already up (a publisher made after the first connect).
    pub(crate) fn declare_exchange(&self, exchange: &str) {
        {
            let mut declared = self
                .inner
                .declared
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !declared.exchanges.insert(exchange.to_owned()) {
                return;
            }
        }
        if let Some(channel) = self.channel() {
            let exchange = exchange.to_owned();
            tokio::spawn(async move {
                if let Err(e) = declare_exchange(&channel, &exchange).await {
                    tracing::warn!(exchange, error = %e, "cannot declare; will on reconnect");
                }
            });
        }
    }
}

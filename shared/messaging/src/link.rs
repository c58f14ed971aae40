//! One connection to RabbitMQ, kept up in the background and shared by the
//! request clients ([`RpcClient::on`](crate::RpcClient::on)) and event
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
    supervisor::{self, Declared, Inner},
    topology::{declare_exchange, declare_queue},
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
        crate::connection::wait_until(within, || self.is_connected()).await
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

    /// Declares `queue` (as its server declares it) on every connect.
    pub(crate) fn declare_queue(&self, queue: &str) {
        self.declare(Target::Queue(queue.to_owned()));
    }

    /// Declares the topic exchange `exchange` on every connect.
    pub(crate) fn declare_exchange(&self, exchange: &str) {
        self.declare(Target::Exchange(exchange.to_owned()));
    }

    /// Remembers `target` for every connect, and declares it now if the
    /// link is already up (a client made after the first connect).
    fn declare(&self, target: Target) {
        {
            let mut declared = self
                .inner
                .declared
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let new = match &target {
                Target::Queue(queue) => declared.queues.insert(queue.clone()),
                Target::Exchange(exchange) => declared.exchanges.insert(exchange.clone()),
            };
            if !new {
                return;
            }
        }
        if let Some(channel) = self.channel() {
            tokio::spawn(async move {
                let declared = match &target {
                    Target::Queue(queue) => declare_queue(&channel, queue).await,
                    Target::Exchange(exchange) => declare_exchange(&channel, exchange).await,
                };
                if let Err(e) = declared {
                    tracing::warn!(?target, error = %e, "cannot declare; will on reconnect");
                }
            });
        }
    }
}

#[derive(Debug)]
enum Target {
    Queue(String),
    Exchange(String),
}

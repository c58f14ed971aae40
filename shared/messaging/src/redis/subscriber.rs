//! A Redis subscription that outlives its connection: NestJS's ioredis
//! resubscribes after a reconnect, and so does this. A task owns the
//! pub/sub connection, (re)connects with backoff, subscribes to every
//! channel it was given so far, and forwards each message.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use platform::backoff::Backoff;

use crate::{Connected, RpcError, error::TransportError};

const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// A message: its channel and payload.
pub(crate) type Delivery = (String, Vec<u8>);

/// The handle of a running subscription. Cheap to clone; the task stops on
/// the shutdown token it was spawned with.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    subscribe: mpsc::UnboundedSender<(String, oneshot::Sender<Result<(), String>>)>,
    connected: Connected,
}

impl Subscription {
    /// Subscribes to `channels` (more can be added later) and forwards
    /// their messages to `deliveries`, until `shutdown`; `connected` is set
    /// while subscribed. When `deliveries`
    /// is full, reading waits (Redis buffers, up to its output limit for
    /// pub/sub clients, then drops the connection — and we reconnect).
    pub(crate) fn spawn(
        client: ::redis::Client,
        channels: Vec<String>,
        deliveries: mpsc::Sender<Delivery>,
        connected: Connected,
        shutdown: CancellationToken,
    ) -> Self {
        let (subscribe, requests) = mpsc::unbounded_channel();
        let task = Task {
            client,
            channels,
            requests,
            deliveries,
            connected: connected.clone(),
        };
        tokio::spawn(task.run(shutdown));
        Self {
            subscribe,
            connected,
        }
    }

    /// Connected and subscribed to every channel so far.
    pub(crate) fn is_connected(&self) -> bool {
        self.connected.get()
    }

    /// Adds `channel`, kept across reconnects; returns once Redis confirmed
    /// it. Fails at once while disconnected.
    pub(crate) async fn subscribe(&self, channel: String) -> Result<(), RpcError> {
        if !self.is_connected() {
            return Err(RpcError::NotConnected);
        }
        let (done, confirmed) = oneshot::channel();
        self.subscribe
            .send((channel, done))
            .map_err(|_| RpcError::NotConnected)?;
        confirmed
            .await
            .map_err(|_| RpcError::ConnectionLost)?
            .map_err(|e| TransportError::Redis(e).into())
    }
}

struct Task {
    client: ::redis::Client,
    channels: Vec<String>,
    requests: mpsc::UnboundedReceiver<(String, oneshot::Sender<Result<(), String>>)>,
    deliveries: mpsc::Sender<Delivery>,
    connected: Connected,
}

impl Task {
    async fn run(mut self, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(RECONNECT_MIN, RECONNECT_MAX);
        while !shutdown.is_cancelled() {
            match self.session(&shutdown).await {
                // It was up: try again at once, then back off.
                Ok(()) => backoff.reset(),
                Err(e) => tracing::warn!(error = %e, "Redis subscription failed"),
            }
            self.connected.set(false);
            tokio::select! {
                () = tokio::time::sleep(backoff.next_delay()) => {}
                () = shutdown.cancelled() => {}
            }
        }
    }

    /// One connection: subscribe, forward until it drops or shutdown.
    async fn session(&mut self, shutdown: &CancellationToken) -> Result<(), ::redis::RedisError> {
        let connect = tokio::time::timeout(super::CONNECT_TIMEOUT, self.client.get_async_pubsub());
        let pubsub = connect.await.map_err(|_| {
            ::redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
        })??;
        let (mut sink, mut stream) = pubsub.split();
        // Logged in and allowed to talk at all (a missing password only
        // shows on the first command).
        sink.ping::<String>().await?;
        if !self.channels.is_empty() {
            sink.subscribe(&self.channels).await?;
        }
        self.connected.set(true);
        tracing::info!(channels = self.channels.len(), "subscribed on Redis");
        loop {
            tokio::select! {
                message = stream.next() => {
                    let Some(message) = message else {
                        tracing::warn!("Redis connection lost; resubscribing");
                        return Ok(());
                    };
                    let delivery = (
                        message.get_channel_name().to_owned(),
                        message.get_payload_bytes().to_vec(),
                    );
                    if self.deliveries.send(delivery).await.is_err() {
                        return Ok(()); // nobody reads any more: shutting down
                    }
                }
                Some((channel, done)) = self.requests.recv() => {
                    let result = sink.subscribe(&channel).await;
                    if result.is_ok() && !self.channels.contains(&channel) {
                        self.channels.push(channel);
                    }
                    let _ = done.send(result.as_ref().map(|_| ()).map_err(ToString::to_string));
                    result?;
                }
                () = shutdown.cancelled() => return Ok(()),
            }
        }
    }
}

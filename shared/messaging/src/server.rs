//! The server face: consumes one durable queue with manual ack and a prefetch
//! limit, routes each delivery by pattern to a handler (like NestJS's
//! `@MessagePattern` / `@EventPattern`), replies when the sender asked for a
//! reply, and settles every delivery exactly once. How one delivery is
//! handled and settled is in [`crate::dispatch`].

use std::{collections::HashMap, future::Future, pin::Pin, sync::Arc, time::Duration};

use contracts::ServiceError;
use lapin::{
    Channel, Consumer,
    options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions},
    types::FieldTable,
};
use serde_json::Value;
use tokio_stream::StreamExt;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    AmqpConfig,
    connection::{Backoff, connect},
    dispatch,
    topology::{bind, declare_queue},
};

/// What a handler receives.
#[derive(Debug, Clone)]
pub struct Message {
    /// The `data` member of the envelope.
    pub data: Value,
    /// Stable across redeliveries: the AMQP `message_id`, else the envelope
    /// `id`, else the `correlation_id`; empty for an event that has none.
    /// Handlers use it to make their work idempotent.
    pub message_id: String,
    /// This message was delivered before and never settled (its consumer
    /// died or lost its connection): work it started may be done already.
    pub redelivered: bool,
    /// Who the request is made for, as the gateway verified it (the
    /// `x-caller-id` / `x-caller-role` headers); `None` for events and for
    /// senders that name no caller. Handlers check access with it.
    pub caller: Option<contracts::identity::Caller>,
}

/// How a handler failed, which decides how the delivery is settled.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A business answer (not found, invalid, conflict): replied as `err`,
    /// then acked. Retrying would give the same answer.
    #[error("{0}")]
    Reply(ServiceError),
    /// A dependency failed (database, another service): worth retrying.
    #[error("transient failure: {0}")]
    Transient(String),
    /// The message can never succeed: dead-lettered with this reason.
    #[error("poison message: {0}")]
    Poison(String),
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
pub(crate) type Handler =
    Arc<dyn Fn(Message) -> BoxFuture<Result<Value, HandlerError>> + Send + Sync>;

/// Pattern → handler.
#[derive(Default, Clone)]
pub struct Router {
    pub(crate) handlers: HashMap<String, Handler>,
    /// Event patterns registered with [`Router::event_with`], and the one
    /// broker account each may come from.
    pub(crate) publishers: HashMap<String, String>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.handlers.keys()).finish()
    }
}

impl Router {
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes `pattern` (a string, or the canonical JSON of an object
    /// pattern, see [`wire::route`]) to `handler`. Requests get the handler's
    /// result as their reply; events (no `reply_to`) only run it.
    pub fn route<F, Fut>(mut self, pattern: &str, handler: F) -> Self
    where
        F: Fn(Message) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, HandlerError>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |message| Box::pin(handler(message)));
        self.handlers.insert(pattern.to_owned(), handler);
        self
    }

    /// Routes `pattern` to `handler(state, message)`, a plain async fn
    /// taking the service's shared state (cloned per delivery) and returning
    /// the service's own error type, mapped to a settlement through its
    /// `Into<HandlerError>`. Keeps handlers testable without a broker.
    pub fn route_with<S, F, Fut, E>(self, pattern: &str, state: &S, handler: F) -> Self
    where
        S: Clone + Send + Sync + 'static,
        F: Fn(S, Message) -> Fut + Copy + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, E>> + Send + 'static,
        E: Into<HandlerError>,
    {
        let state = state.clone();
        self.route(pattern, move |message| {
            let state = state.clone();
            async move { handler(state, message).await.map_err(Into::into) }
        })
    }

    /// Routes event `pattern` to `handler(state, message)` like
    /// [`Router::route_with`], but runs it only for deliveries that came
    /// through an exchange the queue is bound to ([`ServerConfig::bindings`])
    /// and that RabbitMQ attributes to the broker account `publisher` (the
    /// AMQP `user_id`, which the broker checks against the publisher's login).
    /// Anything else — the same envelope published straight to the queue
    /// through the default exchange, or by another account — is
    /// dead-lettered with the reason: whoever may send requests cannot
    /// forge events (docs/security.md).
    pub fn event_with<S, F, Fut, E>(
        mut self,
        pattern: &str,
        publisher: &str,
        state: &S,
        handler: F,
    ) -> Self
    where
        S: Clone + Send + Sync + 'static,
        F: Fn(S, Message) -> Fut + Copy + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, E>> + Send + 'static,
        E: Into<HandlerError>,
    {
        self.publishers
            .insert(pattern.to_owned(), publisher.to_owned());
        self.route_with(pattern, state, handler)
    }

    /// Answers [`HEALTH_CHECK`] requests with the outcome of `checks` (the
    /// same ones the admin port's `/readyz` runs), so a client of the queue
    /// — the gateway's `/health` — learns that a consumer is alive, keeping
    /// up, and has its dependencies: no answer within its deadline means no
    /// replica is consuming, or the queue is backed up.
    pub fn health_checks(self, checks: Vec<platform::admin::Check>) -> Self {
        let checks = Arc::new(checks);
        self.route(HEALTH_CHECK, move |_| {
            let checks = checks.clone();
            async move {
                let (up, report) = platform::admin::run_checks(&checks).await;
                if up {
                    Ok(serde_json::json!({ "status": "up", "checks": report }))
                } else {
                    Err(HandlerError::Reply(ServiceError::new(
                        contracts::ErrorCode::Unavailable,
                        serde_json::to_string(&report).unwrap_or_default(),
                    )))
                }
            }
        })
    }
}

/// The pattern of a health request; see [`Router::health_checks`].
pub const HEALTH_CHECK: &str = contracts::patterns::HEALTH_CHECK;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub amqp: AmqpConfig,
    /// The work queue, e.g. `orders_queue`.
    pub queue: String,
    /// Where poison messages go, e.g. `orders_queue.dead-letter`.
    pub dead_letter_queue: String,
    /// Unacked deliveries in flight at once (AMQP `basic.qos`): bounds memory
    /// and concurrency, and leaves the rest of the queue to other replicas.
    pub prefetch: u16,
    /// Runs of a handler failing transiently before a request is answered
    /// UNAVAILABLE or an event requeued.
    pub max_attempts: u32,
    /// Deliveries of one message that may end unsettled — its consumer died
    /// or lost its connection — before it is dead-lettered as the likely
    /// cause (docs/messaging.md).
    pub max_redeliveries: u32,
    /// Largest body handled; a bigger one is dead-lettered unparsed. No
    /// request or event of ours comes near it; it stops one sender from
    /// making a consumer parse megabytes of JSON.
    pub max_message_bytes: usize,
    /// Delay before the second run; doubles for each further run.
    pub retry_delay: Duration,
    /// How long shutdown waits for in-flight deliveries to finish and ack.
    pub grace_period: Duration,
    /// `(exchange, routing key)` pairs the queue is bound to, for services
    /// that consume events: each service binds its own queue, so every
    /// service gets every event and its replicas share them.
    pub bindings: Vec<(String, String)>,
    /// Whether the consumer is connected right now, for readiness checks.
    pub connected: Connected,
}

/// A shared flag: is the consumer connected and consuming? Clones share it.
#[derive(Debug, Clone, Default)]
pub struct Connected(Arc<std::sync::atomic::AtomicBool>);

impl Connected {
    pub fn get(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A readiness check that passes while the consumer is connected.
    pub fn readiness_check(&self) -> platform::admin::Check {
        let connected = self.clone();
        platform::admin::Check::flag(
            "rabbitmq",
            move || connected.get(),
            "not consuming; reconnecting",
        )
    }

    fn set(&self, connected: bool) {
        self.0
            .store(connected, std::sync::atomic::Ordering::Relaxed);
    }
}

/// [`ServerConfig::max_message_bytes`] unless configured: 256 KiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 * 1024;

impl ServerConfig {
    pub fn new(amqp: AmqpConfig, queue: impl Into<String>) -> Self {
        let queue = queue.into();
        Self {
            amqp,
            dead_letter_queue: format!("{queue}.dead-letter"),
            queue,
            prefetch: 10,
            max_attempts: 3,
            max_redeliveries: 5,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            retry_delay: Duration::from_millis(100),
            grace_period: Duration::from_secs(10),
            bindings: Vec::new(),
            connected: Connected::default(),
        }
    }
}

/// Serves `router` on the configured queue until `shutdown` is cancelled,
/// reconnecting with backoff whenever the connection is lost. On shutdown
/// it cancels its consumer (the broker stops delivering), lets in-flight
/// deliveries finish and settle within the grace period, then closes.
pub async fn serve(config: ServerConfig, router: Router, shutdown: CancellationToken) {
    let own_account = config.amqp.user();
    let context = Arc::new(Context {
        config,
        router,
        own_account,
    });
    let mut backoff = Backoff::new(&context.config.amqp);
    while !shutdown.is_cancelled() {
        match Session::open(&context.config).await {
            Ok(session) => {
                backoff.reset();
                context.config.connected.set(true);
                session.run(&context, &shutdown).await;
                context.config.connected.set(false);
                if shutdown.is_cancelled() {
                    break;
                }
                tracing::warn!(
                    queue = context.config.queue,
                    "consumer lost its connection; reconnecting"
                );
            }
            Err(e) => {
                tracing::warn!(queue = context.config.queue, error = %e, "cannot connect to RabbitMQ; retrying")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff.next_delay()) => {}
            () = shutdown.cancelled() => break,
        }
    }
    tracing::info!(queue = context.config.queue, "consumer stopped");
}

pub(crate) struct Context {
    pub(crate) config: ServerConfig,
    pub(crate) router: Router,
    /// The broker account this server logs in as (see `Unsettled::requeue`).
    pub(crate) own_account: String,
}

struct Session {
    connection: lapin::Connection,
    consume: Channel,
    /// Replies and dead letters go out on their own channel in confirm mode,
    /// so a failed publish never takes the consuming channel (and every
    /// unacked delivery on it) down with it.
    publish: Channel,
    consumer: Consumer,
}

impl Session {
    async fn open(config: &ServerConfig) -> lapin::Result<Self> {
        let connection = connect(&config.amqp, &config.queue).await?;
        let consume = connection.create_channel().await?;
        let publish = connection.create_channel().await?;
        publish
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        declare_queue(&consume, &config.queue).await?;
        declare_queue(&consume, &config.dead_letter_queue).await?;
        for (exchange, routing_key) in &config.bindings {
            bind(&consume, &config.queue, exchange, routing_key).await?;
        }
        consume
            .basic_qos(config.prefetch, BasicQosOptions::default())
            .await?;
        let consumer = consume
            .basic_consume(
                config.queue.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(), // manual ack
                FieldTable::default(),
            )
            .await?;
        tracing::info!(
            queue = config.queue,
            prefetch = config.prefetch,
            "consuming"
        );
        Ok(Self {
            connection,
            consume,
            publish,
            consumer,
        })
    }

    async fn run(mut self, context: &Arc<Context>, shutdown: &CancellationToken) {
        let in_flight = TaskTracker::new();
        loop {
            let delivery = tokio::select! {
                () = shutdown.cancelled() => {
                    let tag = self.consumer.tag();
                    let _ = self.consume.basic_cancel(tag, BasicCancelOptions::default()).await;
                    break;
                }
                next = self.consumer.next() => match next {
                    Some(Ok(delivery)) => delivery,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "consumer failed");
                        break;
                    }
                    None => break,
                },
            };
            in_flight.spawn(dispatch::process(
                delivery,
                context.clone(),
                self.publish.clone(),
            ));
        }
        in_flight.close();
        if !shutdown.is_cancelled() {
            // The consumer is gone (connection lost, or the broker cancelled
            // it), and the broker is already redelivering its unacked
            // deliveries: waiting for their handlers would only keep this
            // service from consuming. They finish in the background (acks on
            // a dead channel fail harmlessly), then the old connection closes.
            tracing::warn!(
                in_flight = in_flight.len(),
                "consumer lost with deliveries in flight; reconnecting now"
            );
            let grace_period = context.config.grace_period;
            tokio::spawn(async move {
                let _ = tokio::time::timeout(grace_period, in_flight.wait()).await;
                let _ = self.connection.close(200, "consumer lost".into()).await;
            });
            return;
        }
        tracing::info!(
            in_flight = in_flight.len(),
            "stopped taking deliveries; finishing those in flight"
        );
        if tokio::time::timeout(context.config.grace_period, in_flight.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "grace period over with deliveries in flight; the broker will redeliver them"
            );
        }
        let _ = self.connection.close(200, "server closing".into()).await;
    }
}

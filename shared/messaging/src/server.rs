//! The server face: consumes one durable queue with manual ack and a prefetch
//! limit, routes each delivery by pattern to a handler (like NestJS's
//! `@MessagePattern` / `@EventPattern`), replies when the sender asked for a
//! reply, and settles every delivery exactly once.
//!
//! Settlement policy (docs/messaging.md):
//! - handler succeeded, or failed for a business reason: reply, then ack;
//! - transient failure: retried in place, `max_attempts` in all, with a
//!   growing delay; when they are exhausted: reply UNAVAILABLE, dead-letter;
//! - unparseable body, no handler, or a handler calling it poison: reply an
//!   error if a reply is expected, dead-letter with the reason;
//! - a request whose deadline passed while it waited: ack without running it.
//!
//! Replies are published before the ack: a crash between the two redelivers
//! the request, and idempotent handlers answer it again harmlessly. Acking
//! first would lose the answer instead.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use contracts::{ErrorCode, ServiceError};
use lapin::{
    BasicProperties, Channel, Consumer,
    message::Delivery,
    options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions},
    types::{AMQPValue, FieldTable},
};
use serde_json::Value;
use tokio_stream::StreamExt;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    AmqpConfig,
    client::{DEADLINE_HEADER, publish_confirmed},
    connection::{Backoff, connect},
    settle::Unsettled,
    topology::declare_queue,
    wire::{self, Incoming, NO_MESSAGE_HANDLER, Reply},
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
    /// Set by the broker when this message was delivered before and not acked.
    pub redelivered: bool,
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
type Handler = Arc<dyn Fn(Message) -> BoxFuture<Result<Value, HandlerError>> + Send + Sync>;

/// Pattern → handler.
#[derive(Default, Clone)]
pub struct Router {
    handlers: HashMap<String, Handler>,
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
}

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
    /// Runs of a handler failing transiently before it is dead-lettered.
    pub max_attempts: u32,
    /// Delay before the second run; doubles for each further run.
    pub retry_delay: Duration,
    /// How long shutdown waits for in-flight deliveries to finish and ack.
    pub grace_period: Duration,
}

impl ServerConfig {
    pub fn new(amqp: AmqpConfig, queue: impl Into<String>) -> Self {
        let queue = queue.into();
        Self {
            amqp,
            dead_letter_queue: format!("{queue}.dead-letter"),
            queue,
            prefetch: 10,
            max_attempts: 3,
            retry_delay: Duration::from_millis(100),
            grace_period: Duration::from_secs(10),
        }
    }
}

/// Serves `router` on the configured queue until `shutdown` is cancelled,
/// reconnecting with backoff whenever the connection is lost. On shutdown
/// it cancels its consumer (the broker stops delivering), lets in-flight
/// deliveries finish and settle within the grace period, then closes.
pub async fn serve(config: ServerConfig, router: Router, shutdown: CancellationToken) {
    let context = Arc::new(Context { config, router });
    let mut backoff = Backoff::new(&context.config.amqp);
    while !shutdown.is_cancelled() {
        match Session::open(&context.config).await {
            Ok(session) => {
                backoff.reset();
                session.run(&context, &shutdown).await;
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

struct Context {
    config: ServerConfig,
    router: Router,
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
            in_flight.spawn(process(delivery, context.clone(), self.publish.clone()));
        }
        in_flight.close();
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

enum Outcome {
    Reply(Reply),
    DeadLetter { reason: String, error: ServiceError },
}

async fn process(delivery: Delivery, context: Arc<Context>, publish: Channel) {
    let redelivered = delivery.redelivered;
    let delivery = Unsettled::new(delivery);
    let config = &context.config;
    let reply_to = delivery
        .properties()
        .reply_to()
        .as_ref()
        .map(|s| s.as_str().to_owned());
    let dead_letter = |delivery: Unsettled, reason: String| {
        let publish = publish.clone();
        async move {
            delivery
                .dead_letter(&publish, &config.queue, &config.dead_letter_queue, &reason)
                .await;
        }
    };

    let incoming: Incoming = match serde_json::from_slice(delivery.body()) {
        Ok(incoming) => incoming,
        Err(e) => {
            return dead_letter(delivery, format!("body is not a NestJS envelope: {e}")).await;
        }
    };
    let correlation_id = delivery
        .properties()
        .correlation_id()
        .as_ref()
        .map(|s| s.as_str().to_owned())
        .or_else(|| incoming.id.clone());

    if deadline_passed(delivery.properties()) {
        tracing::warn!("request dequeued after its deadline; not executed");
        return delivery.ack().await;
    }

    let route = wire::route(&incoming.pattern);
    let Some(handler) = context.router.handlers.get(&route) else {
        dead_letter(delivery, format!("no handler for pattern {route:?}")).await;
        if let Some(reply_to) = &reply_to {
            let reply = Reply::err(Value::String(NO_MESSAGE_HANDLER.into()));
            send_reply(&publish, reply_to, correlation_id.as_deref(), &reply).await;
        }
        return;
    };

    let message = Message {
        data: incoming.data,
        message_id: message_id(delivery.properties(), incoming.id.as_deref()),
        redelivered,
    };
    // One span per delivery, a child of the sender's span when the message
    // carries a trace context.
    let span = tracing::info_span!("message", pattern = %route, redelivered);
    crate::trace::set_parent(&span, delivery.properties().headers().as_ref());
    let outcome =
        tracing::Instrument::instrument(run_with_retries(handler, message, config), span).await;

    match outcome {
        Outcome::Reply(reply) => {
            if let Some(reply_to) = &reply_to {
                send_reply(&publish, reply_to, correlation_id.as_deref(), &reply).await;
            }
            delivery.ack().await;
        }
        Outcome::DeadLetter { reason, error } => {
            // Dead-letter first: by the time the requester hears of the
            // failure, the message is already where an operator can find it.
            dead_letter(delivery, reason).await;
            if let Some(reply_to) = &reply_to {
                let reply = Reply::err(serde_json::to_value(error).unwrap_or_default());
                send_reply(&publish, reply_to, correlation_id.as_deref(), &reply).await;
            }
        }
    }
}

async fn run_with_retries(handler: &Handler, message: Message, config: &ServerConfig) -> Outcome {
    let mut delay = config.retry_delay;
    let mut attempt = 1;
    loop {
        match handler(message.clone()).await {
            Ok(response) => return Outcome::Reply(Reply::ok(response)),
            Err(HandlerError::Reply(error)) => {
                return Outcome::Reply(Reply::err(serde_json::to_value(error).unwrap_or_default()));
            }
            Err(HandlerError::Poison(reason)) => {
                return Outcome::DeadLetter {
                    error: ServiceError::new(ErrorCode::InvalidArgument, reason.clone()),
                    reason,
                };
            }
            Err(HandlerError::Transient(reason)) if attempt < config.max_attempts => {
                tracing::warn!(attempt, reason, "transient failure; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            Err(HandlerError::Transient(reason)) => {
                return Outcome::DeadLetter {
                    reason: format!("gave up after {attempt} attempts: {reason}"),
                    error: ServiceError::new(
                        ErrorCode::Unavailable,
                        "a dependency is unavailable; try again shortly",
                    ),
                };
            }
        }
    }
}

async fn send_reply(
    publish: &Channel,
    reply_to: &str,
    correlation_id: Option<&str>,
    reply: &Reply,
) {
    let mut properties = BasicProperties::default().with_content_type("application/json".into());
    if let Some(id) = correlation_id {
        properties = properties.with_correlation_id(id.into());
    }
    if let Err(e) = publish_confirmed(publish, reply_to, &reply.encode(), properties).await {
        // The requester times out; a retry with the same idempotency key gets
        // the same answer.
        tracing::warn!(error = %e, "reply could not be published");
    }
}

fn message_id(properties: &BasicProperties, envelope_id: Option<&str>) -> String {
    properties
        .message_id()
        .as_ref()
        .map(|s| s.as_str())
        .or(envelope_id)
        .or_else(|| properties.correlation_id().as_ref().map(|s| s.as_str()))
        .unwrap_or_default()
        .to_owned()
}

fn deadline_passed(properties: &BasicProperties) -> bool {
    let Some(AMQPValue::LongLongInt(deadline_ms)) = properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(DEADLINE_HEADER))
    else {
        return false;
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    i128::try_from(now_ms).unwrap_or(i128::MAX) > i128::from(*deadline_ms)
}

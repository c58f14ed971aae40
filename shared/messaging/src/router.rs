//! What handlers see: the [`Message`] they receive, the [`HandlerError`]
//! that decides how its delivery is settled, and the [`Router`] from
//! patterns to handlers — like NestJS's `@MessagePattern` / `@EventPattern`,
//! with events that may name the one broker account trusted to publish them.

use std::{collections::HashMap, future::Future, pin::Pin, sync::Arc};

use contracts::{
    ServiceError,
    events::{Event, EventBody},
    requests::Request,
};
use serde_json::Value;

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
    /// The message can never succeed — the sender's fault (a malformed
    /// request or event): dead-lettered with this reason, and a request is
    /// answered INVALID_ARGUMENT with it.
    #[error("poison message: {0}")]
    Poison(String),
    /// Our fault: a bug, or a dependency failing in a way no retry fixes
    /// (a constraint the code should have kept, a reply that cannot be
    /// encoded). A request is answered INTERNAL with nothing of the cause
    /// (a client must never see SQL or a stack of ours); the cause is
    /// logged, and the message dead-lettered with it for a human.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A request as a typed handler receives it ([`Router::request`]): its
/// decoded `data`, and what the [`Message`] says about it.
#[derive(Debug, Clone)]
pub struct Call<R> {
    pub request: R,
    /// Who the request is made for ([`Message::caller`]).
    pub caller: Option<contracts::identity::Caller>,
    /// Stable across redeliveries ([`Message::message_id`]).
    pub message_id: String,
    pub redelivered: bool,
}

impl<R: Request> Call<R> {
    fn decode(message: Message) -> Result<Self, HandlerError> {
        let request = serde_json::from_value(message.data)
            .map_err(|e| HandlerError::Poison(e.to_string()))?;
        Ok(Self {
            request,
            caller: message.caller,
            message_id: message.message_id,
            redelivered: message.redelivered,
        })
    }
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
    /// pattern, see [`crate::wire::route`]) to `handler`. Requests get the handler's
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

    /// Routes the request type `R` ([`contracts::requests::Request`]: its
    /// pattern and its reply, named once) to `handler(state, call)`: the
    /// `data` decoded into an `R` first — one that does not decode is
    /// poison, dead-lettered with serde's reason and answered
    /// INVALID_ARGUMENT — and the handler's `R::Reply` encoded as the
    /// response. No handler decodes or encodes JSON itself.
    pub fn request<R, S, F, Fut, E>(self, state: &S, handler: F) -> Self
    where
        R: Request,
        S: Clone + Send + Sync + 'static,
        F: Fn(S, Call<R>) -> Fut + Copy + Send + Sync + 'static,
        Fut: Future<Output = Result<R::Reply, E>> + Send + 'static,
        E: Into<HandlerError>,
    {
        self.route_with(
            R::PATTERN,
            state,
            move |state: S, message: Message| async move {
                let call = Call::decode(message)?;
                let reply = handler(state, call).await.map_err(Into::into)?;
                serde_json::to_value(reply)
                    .map_err(|e| HandlerError::Internal(format!("encoding the reply: {e}")))
            },
        )
    }

    /// Routes the event type `T` (`contracts::events::EventBody`: it names
    /// itself) to `handler(state, event)` like [`Router::event_with`] — only
    /// from `publisher`, through a bound exchange — with its envelope
    /// decoded first: one that does not decode is poison, dead-lettered with
    /// serde's reason.
    pub fn event<T, S, F, Fut, E>(self, publisher: &str, state: &S, handler: F) -> Self
    where
        T: EventBody,
        S: Clone + Send + Sync + 'static,
        F: Fn(S, Event<T>) -> Fut + Copy + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<HandlerError>,
    {
        self.event_with(
            T::NAME,
            publisher,
            state,
            move |state: S, message: Message| async move {
                let event: Event<T> = serde_json::from_value(message.data)
                    .map_err(|e| HandlerError::Poison(e.to_string()))?;
                handler(state, event).await.map_err(Into::into)?;
                Ok::<_, HandlerError>(Value::Null)
            },
        )
    }

    /// Routes event `pattern` to `handler(state, message)` like
    /// [`Router::route_with`], but runs it only for deliveries that came
    /// through an exchange the queue is bound to ([`crate::ServerConfig::bindings`])
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

/// The NATS subject or Redis channel a route is served on: the pattern
/// itself, as NestJS does — except the health check, which every service
/// answers and so is made the service's own (`orders_queue.health_check`):
/// a NestJS peer has no such pattern, and without the prefix the gateway's
/// check of one service could be answered by another.
pub fn subject(group: &str, route: &str) -> String {
    if route == HEALTH_CHECK {
        format!("{group}.{route}")
    } else {
        route.to_owned()
    }
}

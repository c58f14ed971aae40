//! The server face: consumes one durable queue with manual ack and a prefetch
//! limit, routes each delivery by pattern to a handler of the
//! [`crate::Router`], replies when the sender asked for a reply, and
//! settles every delivery exactly once. How one delivery is handled and
//! settled is in `amqp/dispatch.rs`; the queue's depth is sampled beside
//! it (`crate::depth`).

use std::sync::Arc;

use lapin::{
    Channel, Consumer,
    options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions},
    types::FieldTable,
};
use tokio_stream::StreamExt;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    Connected, Router, ServerConfig,
    amqp::connection::{backoff, connect},
    amqp::dispatch::{self, Context},
    amqp::topology::{bind, declare_queue},
};

/// Serves `router` on the configured queue until `shutdown` is cancelled,
/// reconnecting with backoff whenever the connection is lost. On shutdown
/// it cancels its consumer (the broker stops delivering), lets in-flight
/// deliveries finish and settle within the grace period, then closes.
///
/// `connected` is set while a session consumes, for readiness checks.
pub async fn serve(
    config: ServerConfig,
    router: Router,
    connected: Connected,
    shutdown: CancellationToken,
) {
    crate::metrics::describe();
    let own_account = config.amqp.user();
    let context = Arc::new(Context {
        config,
        router,
        own_account,
    });
    let mut backoff = backoff(&context.config.amqp);
    while !shutdown.is_cancelled() {
        match Session::open(&context.config).await {
            Ok(session) => {
                backoff.reset();
                connected.set(true);
                session.run(&context, &shutdown).await;
                connected.set(false);
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

struct Session {
    /// Shared with the depth sampler, which opens its own channel on it.
    connection: Arc<lapin::Connection>,
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
            connection: Arc::new(connection),
            consume,
            publish,
            consumer,
        })
    }

    async fn run(mut self, context: &Arc<Context>, shutdown: &CancellationToken) {
        // Ends with this session: the next one samples on its own connection.
        let sampling = shutdown.child_token();
        let _stop_sampling = sampling.clone().drop_guard();
        tokio::spawn(crate::amqp::depth::sample(
            self.connection.clone(),
            vec![
                context.config.queue.clone(),
                context.config.dead_letter_queue.clone(),
            ],
            sampling,
        ));
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

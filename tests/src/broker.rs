//! Talking to a system's queues directly, as a misbehaving (or NestJS)
//! client would: raw publishes, queue depths, dead letters.

use lapin::{
    BasicProperties, Channel, Connection,
    options::{BasicGetOptions, BasicPublishOptions, QueueDeclareOptions},
    types::AMQPValue,
};

use test_support::rabbitmqctl;

use crate::{Process, System};

/// The header dead letters carry their reason in (messaging::REASON_HEADER).
const REASON_HEADER: &str = "x-dead-letter-reason";

impl System {
    /// Publishes `body` straight to `queue` through the default exchange, as
    /// the gateway's broker account — the one the services take requests
    /// from — and naming it as `user_id` unless `properties` name another:
    /// a misbehaving gateway, or a NestJS one.
    pub async fn publish_raw(&self, queue: &str, body: &[u8], properties: BasicProperties) {
        let properties = match properties.user_id() {
            Some(_) => properties,
            None => properties.with_user_id("api-gateway".into()),
        };
        let (connection, channel) = open(&self.vhost.url("api-gateway")).await;
        channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                body,
                properties,
            )
            .await
            .unwrap()
            .await
            .unwrap();
        let _ = connection.close(200, "bye".into()).await;
    }

    /// Closes, on the broker, every AMQP connection of this system's
    /// processes — what a RabbitMQ restart does to them — and leaves every
    /// other system's alone. Returns how many it closed.
    pub async fn drop_broker_connections(&self) -> usize {
        let pids: Vec<String> = self
            .processes()
            .map(|p: &Process| format!("pid={},", p.pid()))
            .collect();
        tokio::task::spawn_blocking(move || {
            let sockets = std::process::Command::new("ss")
                .args(["-tnpH", "state", "established", "( dport = :5672 )"])
                .output()
                .unwrap();
            let sockets = String::from_utf8_lossy(&sockets.stdout).into_owned();
            // The client ports of this system's connections.
            let ports: Vec<String> = sockets
                .lines()
                .filter(|line| pids.iter().any(|pid| line.contains(pid.as_str())))
                .filter_map(|line| {
                    // Recv-Q Send-Q Local Peer Process
                    let local = line.split_whitespace().nth(2)?;
                    Some(local.rsplit(':').next()?.to_owned())
                })
                .collect();
            // rabbitmqctl closes a connection by its Erlang pid.
            let listed = rabbitmqctl(&["list_connections", "pid", "peer_port"]);
            let mut closed = 0;
            for line in listed.lines() {
                let mut fields = line.split_whitespace();
                let (Some(pid), Some(port)) = (fields.next(), fields.next()) else {
                    continue;
                };
                if ports.iter().any(|p| p == port) {
                    rabbitmqctl(&["close_connection", pid, "system test: broker gone"]);
                    closed += 1;
                }
            }
            closed
        })
        .await
        .unwrap()
    }

    /// Messages ready in `queue`.
    pub async fn queue_depth(&self, queue: &str) -> u32 {
        let (connection, channel) = open(&self.vhost.admin_url()).await;
        let declared = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await
            .unwrap();
        let _ = connection.close(200, "bye".into()).await;
        declared.message_count()
    }

    /// The reasons of the messages in dead-letter queue `queue`, read without
    /// taking them (they return to the queue when the channel closes).
    pub async fn dead_letter_reasons(&self, queue: &str) -> Vec<String> {
        let (connection, channel) = open(&self.vhost.admin_url()).await;
        let mut reasons = Vec::new();
        while let Some(message) = channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: false })
            .await
            .unwrap()
        {
            let reason = message
                .delivery
                .properties
                .headers()
                .as_ref()
                .and_then(|h| h.inner().get(REASON_HEADER).cloned());
            reasons.push(match reason {
                Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into(),
                other => format!("no reason header: {other:?}"),
            });
        }
        let _ = connection.close(200, "bye".into()).await;
        reasons
    }
}

/// A connection to the system's vhost as the test's own account.
async fn open(url: &str) -> (Connection, Channel) {
    let connection = Connection::connect(url, Default::default()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    (connection, channel)
}

impl System {
    /// A channel logged in as one service's broker account (e.g.
    /// `"api-gateway"`), in confirm mode: what someone holding that
    /// service's credentials could do.
    pub async fn connect_as(&self, account: &str) -> (Connection, Channel) {
        let (connection, channel) = open(&self.vhost.url(account)).await;
        channel.confirm_select(Default::default()).await.unwrap();
        (connection, channel)
    }
}

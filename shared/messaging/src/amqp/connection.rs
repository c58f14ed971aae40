//! Connecting to RabbitMQ ([`AmqpConfig`]), and the back-off between
//! reconnection attempts.

use platform::backoff::Backoff;
use secrecy::ExposeSecret;

use lapin::{Connection, ConnectionProperties};

use crate::AmqpConfig;

pub(crate) async fn connect(config: &AmqpConfig, name: &str) -> lapin::Result<Connection> {
    // The connection name shows up in the management UI and `rabbitmqctl
    // list_connections`, which is how an operator tells services apart.
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    Connection::connect(&with_frame_max(config.url.expose_secret()), properties).await
}

/// lapin keeps two buffers of 32 frames per connection, allocated up front:
/// at the broker's default frame size (128 KiB) that is 8 MiB per
/// connection, most of a service's memory. Our messages are a few KiB
/// (larger ones span several frames), so ask for small frames unless the URL
/// says otherwise (`?frame_max=`).
fn with_frame_max(url: &str) -> String {
    if url.contains("frame_max=") {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}frame_max={FRAME_MAX}")
}

/// Frame size asked of the broker, in bytes: 32 of them make 256 KiB of
/// buffer each way.
const FRAME_MAX: u32 = 8 * 1024;

/// The back-off between reconnections to the broker: `reconnect_min`,
/// doubling up to `reconnect_max`, jittered (`platform::backoff`).
pub(crate) fn backoff(config: &AmqpConfig) -> Backoff {
    Backoff::new(config.reconnect_min, config.reconnect_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_comes_from_the_url() {
        let config = AmqpConfig::new("amqp://order-service:s3cret@h:5672/%2f".to_owned());
        assert_eq!(config.user(), "order-service");
        assert_eq!(AmqpConfig::new("not a url".to_owned()).user(), "");
    }

    #[test]
    fn small_frames_unless_the_url_chooses() {
        assert_eq!(
            with_frame_max("amqp://h:5672/%2f"),
            "amqp://h:5672/%2f?frame_max=8192"
        );
        assert_eq!(
            with_frame_max("amqp://h/%2f?heartbeat=10"),
            "amqp://h/%2f?heartbeat=10&frame_max=8192"
        );
        assert_eq!(
            with_frame_max("amqp://h/?frame_max=65536"),
            "amqp://h/?frame_max=65536"
        );
        assert!(
            with_frame_max("amqp://h/")
                .parse::<lapin::uri::AMQPUri>()
                .is_ok()
        );
    }
}

//! What this crate records, each metric described once here and recorded
//! where it happens: deliveries and handling time (`dispatch`), the
//! outbox's backlog (`outbox`), the request-response calls an
//! [`Client`](crate::Client) makes ([`record_call`]), and the depth
//! and consumers of the queues a server consumes (`depth`).
//!
//! Labels are bounded: queues are configuration, patterns the callers'
//! constants (`contracts::patterns`) or routed ones, outcomes fixed sets.

use crate::RpcError;

/// The `# HELP` text of the metrics this crate records; `serve`, the
/// client and the outbox's sampler call it (after installing the recorder,
/// so it sticks).
pub(crate) fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    platform::admin::prometheus();
    describe_counter!(
        "messages_total",
        "Deliveries settled (or retried), by queue and outcome."
    );
    describe_histogram!(
        "message_handling_duration_seconds",
        Unit::Seconds,
        "Time a handler took, by queue and routed pattern."
    );
    describe_gauge!(
        "outbox_pending",
        "Events committed to the outbox and not yet published, read at each scrape."
    );
    describe_gauge!(
        "outbox_oldest_pending_seconds",
        Unit::Seconds,
        "Age of the oldest unpublished outbox event, read at each scrape."
    );
    describe_counter!(
        "messaging_client_requests_total",
        "Request-response calls made over RabbitMQ, by queue, pattern and outcome \
         (ok, error, timeout, unavailable)."
    );
    describe_histogram!(
        "messaging_client_request_duration_seconds",
        Unit::Seconds,
        "Time a request-response call over RabbitMQ took until its reply (or failure), \
         by queue and pattern."
    );
    describe_gauge!(
        "rabbitmq_queue_messages_ready",
        "Messages ready for delivery in a queue this process consumes (not those delivered \
         and unacked), from a passive declare every 15 s."
    );
    describe_gauge!(
        "rabbitmq_queue_consumers",
        "Consumers attached to a queue this process consumes, from a passive declare every 15 s."
    );
}

/// How a request-response call ended, as a label: one of a fixed set.
///
/// - `ok`: the reply carried a result;
/// - `error`: a reply came, carrying an error (the handler's, or one we could
///   not read) — the server did answer;
/// - `timeout`: no reply within the deadline; the outcome is unknown;
/// - `unavailable`: the broker could not take or return it — not connected,
///   the connection lost under it, the publish refused or failed, nobody
///   serving the pattern (NATS).
pub(crate) fn outcome<T>(result: &Result<T, RpcError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(RpcError::Remote(_) | RpcError::Codec(_)) => "error",
        Err(RpcError::Timeout(_)) => "timeout",
        Err(
            RpcError::NotConnected
            | RpcError::ConnectionLost
            | RpcError::Rejected
            | RpcError::NoServer
            | RpcError::Transport(_),
        ) => "unavailable",
    }
}

/// [`timed_call`] bounded by `timeout`: past it, [`RpcError::Timeout`].
pub(crate) async fn timed_call_within<T>(
    queue: &str,
    pattern: &str,
    timeout: std::time::Duration,
    call: impl std::future::Future<Output = Result<T, RpcError>>,
) -> Result<T, RpcError> {
    let bounded = async {
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| RpcError::Timeout(timeout))?
    };
    timed_call(queue, pattern, bounded).await
}

/// Runs one request-response call on `queue` (a queue name, or a NATS
/// queue group), counting it by outcome and timing it — for every client,
/// whatever its transport.
pub(crate) async fn timed_call<T>(
    queue: &str,
    pattern: &str,
    call: impl std::future::Future<Output = Result<T, RpcError>>,
) -> Result<T, RpcError> {
    let started = std::time::Instant::now();
    let result = call.await;
    let (queue, pattern) = (queue.to_owned(), pattern.to_owned());
    metrics::counter!(
        "messaging_client_requests_total",
        "queue" => queue.clone(),
        "pattern" => pattern.clone(),
        "outcome" => outcome(&result)
    )
    .increment(1);
    metrics::histogram!(
        "messaging_client_request_duration_seconds",
        "queue" => queue,
        "pattern" => pattern
    )
    .record(started.elapsed().as_secs_f64());
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_is_one_of_four_outcomes() {
        let json_error = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let cases: [(Result<(), RpcError>, &str); 8] = [
            (Ok(()), "ok"),
            (Err(RpcError::Remote(serde_json::json!("no"))), "error"),
            (Err(RpcError::Codec(json_error)), "error"),
            (
                Err(RpcError::Timeout(std::time::Duration::from_secs(1))),
                "timeout",
            ),
            (Err(RpcError::NotConnected), "unavailable"),
            (Err(RpcError::ConnectionLost), "unavailable"),
            (Err(RpcError::Rejected), "unavailable"),
            (
                Err(RpcError::from(lapin::Error::from(
                    lapin::ErrorKind::ChannelsLimitReached,
                ))),
                "unavailable",
            ),
        ];
        for (result, expected) in cases {
            assert_eq!(outcome(&result), expected, "{result:?}");
        }
    }
}

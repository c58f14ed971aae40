//! Running a handler, with transient failures retried in place: `max_attempts`
//! runs in all, the delay doubling from `retry_delay` with jitter
//! (`platform::backoff`), and for a request only while another run can
//! still end before its deadline.

use std::time::{Duration, Instant, SystemTime};

use contracts::{ErrorCode, ServiceError};

use super::{Outcome, count, error_reply};
use crate::{
    config::ServerConfig,
    router::{Handler, HandlerError, Message},
    wire::Reply,
};

/// Runs the handler, retrying transient failures; `deadline` is the
/// requester's, if it sent one.
pub(super) async fn run_with_retries(
    handler: &Handler,
    message: Message,
    config: &ServerConfig,
    deadline: Option<SystemTime>,
) -> Outcome {
    let mut delays = platform::backoff::delays(config.retry_delay, None);
    let mut attempt = 1;
    loop {
        let started = Instant::now();
        let reason = match handler(message.clone()).await {
            Ok(response) => return Outcome::Reply(Reply::ok(response)),
            Err(HandlerError::Reply(error)) => return Outcome::Reply(error_reply(error)),
            Err(HandlerError::Poison(reason)) => {
                let error = ServiceError::new(ErrorCode::InvalidArgument, reason.clone());
                return Outcome::DeadLetter {
                    reason,
                    reply: Some(error_reply(error)),
                };
            }
            Err(HandlerError::Internal(cause)) => {
                tracing::error!(cause, "internal error");
                let error = ServiceError::new(ErrorCode::Internal, "internal error");
                return Outcome::DeadLetter {
                    reason: format!("internal error: {cause}"),
                    reply: Some(error_reply(error)),
                };
            }
            Err(HandlerError::Transient(reason)) => reason,
        };
        // A run that would end after the requester stopped listening only
        // turns the UNAVAILABLE it could still hear into a 504 that says
        // less: give up while it listens. A failing run is expected to take
        // as long as the last one (e.g. the database's acquire timeout).
        let delay = delays.next().unwrap_or(config.retry_delay);
        let next_run_ends = delay + started.elapsed();
        if attempt >= config.max_attempts || misses(deadline, next_run_ends) {
            return Outcome::GaveUp {
                reason: format!("after {attempt} attempts: {reason}"),
            };
        }
        tracing::warn!(attempt, reason, "transient failure; retrying");
        count(&config.queue, "retried");
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

/// Whether something ending `after` from now would miss `deadline`.
fn misses(deadline: Option<SystemTime>, after: Duration) -> bool {
    deadline.is_some_and(|deadline| SystemTime::now() + after > deadline)
}

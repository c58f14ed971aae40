//! What a delivery's properties and headers say about it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use contracts::identity::Caller;
use lapin::{BasicProperties, types::AMQPValue};

use crate::headers::{CALLER_ID_HEADER, CALLER_ROLE_HEADER, DEADLINE_HEADER, REDELIVERIES_HEADER};

/// The id that is stable across redeliveries: the AMQP `message_id`, else the
/// envelope's `id`, else the `correlation_id`.
pub(super) fn message_id(properties: &BasicProperties, envelope_id: Option<&str>) -> String {
    properties
        .message_id()
        .as_ref()
        .map(|s| s.as_str())
        .or(envelope_id)
        .or_else(|| properties.correlation_id().as_ref().map(|s| s.as_str()))
        .unwrap_or_default()
        .to_owned()
}

/// The requester's deadline, from the header our clients send
/// (milliseconds since the epoch); NestJS clients send none.
pub(super) fn deadline(properties: &BasicProperties) -> Option<SystemTime> {
    let Some(AMQPValue::LongLongInt(deadline_ms)) = properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(DEADLINE_HEADER))
    else {
        return None;
    };
    let since_epoch = Duration::from_millis(u64::try_from(*deadline_ms).unwrap_or(0));
    UNIX_EPOCH.checked_add(since_epoch)
}

/// How often the message was delivered and never settled, by its header.
pub(super) fn redeliveries(properties: &BasicProperties) -> u32 {
    match properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(REDELIVERIES_HEADER))
    {
        Some(AMQPValue::LongUInt(n)) => *n,
        _ => 0,
    }
}

/// Who the request is made for, from the headers the gateway's client sets
/// ([`crate::Client::on_behalf_of`]); `None` when absent or malformed.
pub(super) fn caller(properties: &BasicProperties) -> Option<Caller> {
    let headers = properties.headers().as_ref()?;
    let text = |name: &str| match headers.inner().get(name) {
        Some(AMQPValue::LongString(s)) => std::str::from_utf8(s.as_bytes()).ok(),
        Some(AMQPValue::ShortString(s)) => Some(s.as_str()),
        _ => None,
    };
    Caller::from_headers(text(CALLER_ID_HEADER), text(CALLER_ROLE_HEADER))
}

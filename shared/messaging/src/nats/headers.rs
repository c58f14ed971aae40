//! The AMQP transport's headers (crate::headers), as NATS message headers:
//! the same names, text values.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::HeaderMap;
use contracts::identity::Caller;
use opentelemetry::propagation::{Extractor, Injector};

use crate::headers::{CALLER_ID_HEADER, CALLER_ROLE_HEADER, DEADLINE_HEADER};

/// A request's headers: its deadline, the trace context, who it is for.
pub(super) fn request(timeout: Duration, caller: Option<&Caller>) -> HeaderMap {
    let mut headers = event();
    let deadline = SystemTime::now() + timeout;
    let deadline_ms = deadline
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    headers.insert(DEADLINE_HEADER, deadline_ms.to_string().as_str());
    if let Some(caller) = caller {
        headers.insert(CALLER_ID_HEADER, caller.user_id.to_string().as_str());
        headers.insert(CALLER_ROLE_HEADER, caller.role.as_str());
    }
    headers
}

/// An event's headers: the trace context.
pub(super) fn event() -> HeaderMap {
    let mut headers = HeaderMap::new();
    platform::propagation::inject(&mut Writer(&mut headers));
    headers
}

/// The requester's deadline, when it sent one.
pub(super) fn deadline(headers: Option<&HeaderMap>) -> Option<SystemTime> {
    let millis: u64 = text(headers, DEADLINE_HEADER)?.parse().ok()?;
    UNIX_EPOCH.checked_add(Duration::from_millis(millis))
}

/// Who the request is made for; `None` when absent or malformed.
pub(super) fn caller(headers: Option<&HeaderMap>) -> Option<Caller> {
    Caller::from_headers(
        text(headers, CALLER_ID_HEADER),
        text(headers, CALLER_ROLE_HEADER),
    )
}

/// Makes the trace context in `headers`, if any, the parent of `span`.
pub(super) fn set_parent(span: &tracing::Span, headers: Option<&HeaderMap>) {
    let none = HeaderMap::new();
    platform::propagation::set_parent_from(span, &Reader(headers.unwrap_or(&none)));
}

fn text<'a>(headers: Option<&'a HeaderMap>, name: &str) -> Option<&'a str> {
    headers?.get(name).map(|value| value.as_str())
}

struct Writer<'a>(&'a mut HeaderMap);

impl Injector for Writer<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value.as_str());
    }
}

struct Reader<'a>(&'a HeaderMap);

impl Extractor for Reader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|value| value.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_ref()).collect()
    }
}

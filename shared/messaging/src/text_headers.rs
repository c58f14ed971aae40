//! The AMQP transport's headers (crate::headers) where a transport carries
//! text: NATS message headers, and — since NestJS's Redis and TCP envelopes
//! have none — a `headers` member of the JSON envelope. The same names
//! everywhere: `x-deadline`, `x-caller-id`, `x-caller-role`, `traceparent`.

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use contracts::identity::Caller;
use opentelemetry::propagation::{Extractor, Injector};

use crate::headers::{CALLER_ID_HEADER, CALLER_ROLE_HEADER, DEADLINE_HEADER};

/// Text headers, whichever way a transport carries them.
pub(crate) trait TextHeaders: Default {
    fn set(&mut self, name: &str, value: &str);
    fn text(&self, name: &str) -> Option<&str>;
    fn names(&self) -> Vec<&str>;
}

impl TextHeaders for async_nats::HeaderMap {
    fn set(&mut self, name: &str, value: &str) {
        self.insert(name, value);
    }

    fn text(&self, name: &str) -> Option<&str> {
        self.get(name).map(|value| value.as_str())
    }

    fn names(&self) -> Vec<&str> {
        self.iter().map(|(name, _)| name.as_ref()).collect()
    }
}

/// The envelope member's form.
pub(crate) type HeaderMembers = BTreeMap<String, String>;

impl TextHeaders for HeaderMembers {
    fn set(&mut self, name: &str, value: &str) {
        self.insert(name.to_owned(), value.to_owned());
    }

    fn text(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }

    fn names(&self) -> Vec<&str> {
        self.keys().map(String::as_str).collect()
    }
}

/// A request's headers: its deadline, the trace context, who it is for.
pub(crate) fn request<H: TextHeaders>(timeout: Duration, caller: Option<&Caller>) -> H {
    let mut headers: H = event();
    let deadline = SystemTime::now() + timeout;
    let deadline_ms = deadline
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    headers.set(DEADLINE_HEADER, &deadline_ms.to_string());
    if let Some(caller) = caller {
        headers.set(CALLER_ID_HEADER, &caller.user_id.to_string());
        headers.set(CALLER_ROLE_HEADER, caller.role.as_str());
    }
    headers
}

/// An event's headers: the trace context.
pub(crate) fn event<H: TextHeaders>() -> H {
    let mut headers = H::default();
    platform::propagation::inject(&mut Writer(&mut headers));
    headers
}

/// The requester's deadline, when it sent one.
pub(crate) fn deadline<H: TextHeaders>(headers: Option<&H>) -> Option<SystemTime> {
    let millis: u64 = headers?.text(DEADLINE_HEADER)?.parse().ok()?;
    UNIX_EPOCH.checked_add(Duration::from_millis(millis))
}

/// Who the request is made for; `None` when absent or malformed.
pub(crate) fn caller<H: TextHeaders>(headers: Option<&H>) -> Option<Caller> {
    let headers = headers?;
    Caller::from_headers(
        headers.text(CALLER_ID_HEADER),
        headers.text(CALLER_ROLE_HEADER),
    )
}

/// Makes the trace context in `headers`, if any, the parent of `span`.
pub(crate) fn set_parent<H: TextHeaders>(span: &tracing::Span, headers: Option<&H>) {
    let none = H::default();
    platform::propagation::set_parent_from(span, &Reader(headers.unwrap_or(&none)));
}

struct Writer<'a, H>(&'a mut H);

impl<H: TextHeaders> Injector for Writer<'_, H> {
    fn set(&mut self, key: &str, value: String) {
        self.0.set(key, &value);
    }
}

struct Reader<'a, H>(&'a H);

impl<H: TextHeaders> Extractor for Reader<'_, H> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.text(key)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.names()
    }
}

#[cfg(test)]
mod tests {
    use contracts::identity::Role;

    use super::*;

    #[test]
    fn a_request_carries_its_deadline_and_caller_in_either_form() {
        let caller = Caller {
            user_id: uuid::Uuid::now_v7(),
            role: Role::Admin,
        };
        let before = SystemTime::now();
        let members: HeaderMembers = request(Duration::from_secs(5), Some(&caller));
        let nats: async_nats::HeaderMap = request(Duration::from_secs(5), Some(&caller));
        for (deadline, seen) in [
            (deadline(Some(&members)), self::caller(Some(&members))),
            (deadline(Some(&nats)), self::caller(Some(&nats))),
        ] {
            let deadline = deadline.expect("a deadline");
            assert!(deadline > before + Duration::from_secs(4), "{deadline:?}");
            assert!(deadline <= SystemTime::now() + Duration::from_secs(5));
            assert_eq!(seen, Some(caller));
        }
    }

    #[test]
    fn missing_or_malformed_headers_are_no_caller_and_no_deadline() {
        let mut members = HeaderMembers::new();
        assert_eq!(caller(Some(&members)), None);
        members.set(CALLER_ID_HEADER, "not-a-uuid");
        members.set(CALLER_ROLE_HEADER, "customer");
        members.set(DEADLINE_HEADER, "soon");
        assert_eq!(caller(Some(&members)), None);
        assert_eq!(deadline(Some(&members)), None);
        assert_eq!(caller::<HeaderMembers>(None), None);
    }
}

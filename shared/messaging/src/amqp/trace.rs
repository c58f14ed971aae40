//! W3C trace context in AMQP headers (`traceparent`, `tracestate`), so a
//! request keeps one trace across the broker. NestJS peers ignore the
//! headers; a message without them starts a new trace.

use lapin::types::{AMQPValue, FieldTable};
use opentelemetry::propagation::{Extractor, Injector};

/// Adds the current span's trace context to `headers`.
pub(crate) fn inject(headers: &mut FieldTable) {
    platform::propagation::inject(&mut Headers(headers));
}

/// Makes the trace context in `headers`, if any, the parent of `span`.
/// Without one the span starts a trace of its own.
pub(crate) fn set_parent(span: &tracing::Span, headers: Option<&FieldTable>) {
    let none = FieldTable::default();
    platform::propagation::set_parent_from(span, &ReadHeaders(headers.unwrap_or(&none)));
}

struct Headers<'a>(&'a mut FieldTable);

impl Injector for Headers<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0
            .insert(key.into(), AMQPValue::LongString(value.into()));
    }
}

struct ReadHeaders<'a>(&'a FieldTable);

impl Extractor for ReadHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match self.0.inner().get(key)? {
            AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok(),
            AMQPValue::ShortString(s) => Some(s.as_str()),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        self.0.inner().keys().map(|k| k.as_str()).collect()
    }
}

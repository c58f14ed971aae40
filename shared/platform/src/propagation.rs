//! W3C trace context (`traceparent`, `tracestate`) across process boundaries:
//! HTTP headers and gRPC metadata (both `http::HeaderMap`), and AMQP headers
//! (in the messaging crate, through [`inject`] and [`extract`]).
//!
//! The sending side injects the context of the current `tracing` span; the
//! receiving side extracts it and makes it the parent of its own span, so
//! one request is one trace across every service it touches.

use opentelemetry::{
    Context, global,
    propagation::{Extractor, Injector},
    trace::TraceContextExt,
};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use tonic::{body::Body, transport::Channel};
use tower::{ServiceBuilder, util::MapRequest};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Writes the current span's context into `carrier`.
pub fn inject(carrier: &mut dyn Injector) {
    let context = tracing::Span::current().context();
    global::get_text_map_propagator(|propagator| propagator.inject_context(&context, carrier));
}

/// Reads a context from `carrier` (empty when it carries none).
pub fn extract(carrier: &dyn Extractor) -> Context {
    global::get_text_map_propagator(|propagator| propagator.extract(carrier))
}

/// Makes the context in `carrier`, if any, the parent of `span`, then
/// records the trace id in the span's `trace_id` field (when it declares one:
/// `trace_id = tracing::field::Empty`), so every log line inside the span
/// names the trace it belongs to — the id to search for in Jaeger.
pub fn set_parent_from(span: &tracing::Span, carrier: &dyn Extractor) {
    // Fails only when the span is disabled (filtered out); nothing to link then.
    let _ = span.set_parent(extract(carrier));
    let trace_id = span.context().span().span_context().trace_id();
    if trace_id != opentelemetry::trace::TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace_id));
    }
}

/// Makes the context in HTTP headers (or gRPC metadata), if any, the parent
/// of `span`.
pub fn set_parent_from_headers(span: &tracing::Span, headers: &http::HeaderMap) {
    set_parent_from(span, &HeaderExtractor(headers));
}

/// A gRPC channel that adds the current trace context to every call.
pub type TracedChannel = MapRequest<Channel, fn(http::Request<Body>) -> http::Request<Body>>;

/// Wraps `channel` so every call carries the caller's trace context in its
/// metadata. The header is written when the call is made, inside the
/// caller's span.
pub fn traced(channel: Channel) -> TracedChannel {
    ServiceBuilder::new()
        .map_request(inject_headers as fn(http::Request<Body>) -> http::Request<Body>)
        .service(channel)
}

fn inject_headers(mut request: http::Request<Body>) -> http::Request<Body> {
    inject(&mut HeaderInjector(request.headers_mut()));
    request
}

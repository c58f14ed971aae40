//! Telemetry set-up, one call per binary: structured logs and OpenTelemetry
//! traces, with W3C trace context as the propagation format.
//!
//! - `RUST_LOG` selects what is logged (default `info`); `LOG_FORMAT=json`
//!   switches to one JSON object per line, otherwise output is human-readable.
//! - Spans always get OpenTelemetry ids, so trace context propagates across
//!   services (see [`crate::propagation`]) even when nothing is exported.
//! - With `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans are exported over OTLP/gRPC
//!   in batches; the standard `OTEL_*` variables apply (`OTEL_SERVICE_NAME`
//!   overrides the built-in service name).

use opentelemetry::{global, trace::TracerProvider as _};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Keeps telemetry alive; dropping it flushes spans not exported yet. Hold it
/// in `main` until the service has shut down.
#[derive(Debug)]
#[must_use = "telemetry is flushed when the guard is dropped"]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("telemetry: flushing spans failed: {e}");
        }
    }
}

/// Installs the global subscriber, tracer provider and propagator for
/// `service`. Call once, first thing in `main`.
pub fn init(service: &'static str) -> TelemetryGuard {
    let provider = tracer_provider(service);
    global::set_text_map_propagator(TraceContextPropagator::new());
    global::set_tracer_provider(provider.clone());
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer(service));

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    if json {
        registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true),
            )
            .init();
    } else {
        registry.with(fmt::layer().with_target(false)).init();
    }
    tracing::info!(
        service,
        version = env!("CARGO_PKG_VERSION"),
        "telemetry initialised"
    );
    TelemetryGuard { provider }
}

fn tracer_provider(service: &'static str) -> SdkTracerProvider {
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(service);
    }
    let builder = SdkTracerProvider::builder().with_resource(resource.build());
    // Unset or empty (the OpenTelemetry spec treats both alike): no export.
    if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_none_or(|v| v.is_empty()) {
        return builder.build();
    }
    match opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
    {
        Ok(exporter) => builder.with_batch_exporter(exporter).build(),
        Err(e) => {
            // Tracing is an aid, not a dependency: run without export.
            eprintln!("telemetry: OTLP exporter unavailable ({e}); spans are not exported");
            builder.build()
        }
    }
}

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
//! - The binary's name and version ([`Service`], made by [`service!`](crate::service))
//!   name its logs and traces (`service.name`, `service.version`) and its
//!   `build_info` metric.

use opentelemetry::{KeyValue, global, trace::TracerProvider as _};
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

/// Which binary this is. Make it with [`service!`](crate::service), which
/// takes the version from the calling crate — the binary's package — not
/// from this one.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// The service's name, e.g. `order-service`.
    pub name: &'static str,
    /// Its Cargo package version.
    pub version: &'static str,
}

/// `platform::service!("order-service")`: this binary's [`Service`], with
/// the `CARGO_PKG_VERSION` of the crate the macro is used in.
#[macro_export]
macro_rules! service {
    ($name:expr) => {
        $crate::telemetry::Service {
            name: $name,
            version: env!("CARGO_PKG_VERSION"),
        }
    };
}

/// Installs the global subscriber, tracer provider and propagator for
/// `service`, and sets its `build_info` metric. Call once, first thing in
/// `main`.
pub fn init(service: Service) -> TelemetryGuard {
    // Installed first, or the gauge would be set on the no-op recorder.
    crate::admin::prometheus();
    crate::metrics::process::record_build_info(service.name, service.version);
    let provider = tracer_provider(service);
    global::set_text_map_propagator(TraceContextPropagator::new());
    global::set_tracer_provider(provider.clone());
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer(service.name));

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
        service = service.name,
        version = service.version,
        "telemetry initialised"
    );
    TelemetryGuard { provider }
}

fn tracer_provider(service: Service) -> SdkTracerProvider {
    let mut resource =
        Resource::builder().with_attribute(KeyValue::new("service.version", service.version));
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(service.name);
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

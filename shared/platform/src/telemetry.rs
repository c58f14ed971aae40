//! Logging set-up, one call per binary.
//!
//! `RUST_LOG` selects what is logged (default `info`); `LOG_FORMAT=json`
//! switches to one JSON object per line for log shippers, otherwise output is
//! human-readable.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Keeps telemetry alive; dropping it flushes what is buffered. Hold it in
/// `main` until the service has shut down.
#[derive(Debug)]
#[must_use = "telemetry is flushed when the guard is dropped"]
pub struct TelemetryGuard {
    _private: (),
}

/// Installs the global subscriber for `service`. Call once, first thing in
/// `main`.
pub fn init(service: &'static str) -> TelemetryGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));

    let registry = tracing_subscriber::registry().with(filter);
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
    TelemetryGuard { _private: () }
}

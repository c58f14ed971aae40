//! W3C trace context travels in AMQP headers: the handler's span belongs to
//! the sender's trace.

use std::{sync::OnceLock, time::Duration};

use lapin::types::AMQPValue;
use messaging::Router;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use serde_json::{Value, json};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::prelude::*;

use crate::helpers::Bus;

/// What `platform::telemetry::init` installs, minus the log output.
fn init_tracing() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        tracing_subscriber::registry()
            .with(layer)
            .try_init()
            .unwrap();
    });
}

fn current_trace_id() -> String {
    tracing::Span::current()
        .context()
        .span()
        .span_context()
        .trace_id()
        .to_string()
}

#[tokio::test]
async fn the_handler_runs_in_the_senders_trace() {
    init_tracing();
    let mut bus = Bus::new().await;
    bus.start_server(Router::new().route("whoami", |_| async { Ok(json!(current_trace_id())) }));
    let client = bus.client(Duration::from_secs(5)).await;

    let root = tracing::info_span!("checkout");
    let sender_trace = root.in_scope(current_trace_id);
    let handler_trace: String = client
        .send("whoami", &json!({}))
        .instrument(root)
        .await
        .unwrap();

    assert_ne!(
        sender_trace,
        opentelemetry::trace::TraceId::INVALID.to_string()
    );
    assert_eq!(handler_trace, sender_trace);
    bus.cleanup().await;
}

#[tokio::test]
async fn the_request_carries_a_traceparent_header() {
    init_tracing();
    let bus = Bus::new().await;
    let client = bus.client(Duration::from_secs(10)).await;

    // Nobody serves the queue (its server is down): the request waits there
    // to be inspected.
    bus.declare(&bus.config.queue).await;
    let sending = tokio::spawn(async move {
        client
            .send_value("anything", Value::Null)
            .instrument(tracing::info_span!("caller"))
            .await
    });
    let mut message = None;
    for _ in 0..500 {
        message = bus
            .admin
            .basic_get(
                bus.config.queue.as_str().into(),
                lapin::options::BasicGetOptions { no_ack: true },
            )
            .await
            .unwrap();
        if message.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sending.abort();

    let message = message.expect("the request never reached the queue");
    let headers = message.delivery.properties.headers().clone().unwrap();
    let Some(AMQPValue::LongString(traceparent)) = headers.inner().get("traceparent") else {
        panic!("no traceparent header in {headers:?}");
    };
    let traceparent = String::from_utf8_lossy(traceparent.as_bytes()).into_owned();
    // version-traceid-spanid-flags (W3C Trace Context, section 3.2)
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        [2, 32, 16, 2],
        "{traceparent}"
    );
    bus.cleanup().await;
}

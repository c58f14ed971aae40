//! One `POST /orders` is one trace with spans from all four services, linked
//! parent to child across HTTP, AMQP, gRPC and the outbox. The spans are
//! collected by an OTLP receiver in this test, the way Jaeger or an
//! OpenTelemetry collector would receive them.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::any_value::Value as AnyValue,
};
use serde_json::json;
use system_tests::{Options, System};
use tonic::{Request, Response, Status};

/// One received span, flattened.
#[derive(Debug, Clone)]
struct Span {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    attributes: Vec<String>,
}

#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<Span>>>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut spans = self.0.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref()?.value.as_ref())
                .map(|v| match v {
                    AnyValue::StringValue(s) => s.clone(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                spans.push(Span {
                    service: service.clone(),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    attributes: span
                        .attributes
                        .iter()
                        .map(|kv| format!("{}={:?}", kv.key, kv.value))
                        .collect(),
                });
            }
        }
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn start_receiver() -> (String, Receiver) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let receiver = Receiver::default();
    let service = TraceServiceServer::new(receiver.clone());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (endpoint, receiver)
}

#[tokio::test]
async fn an_order_is_one_trace_across_all_four_services() {
    let (endpoint, receiver) = start_receiver().await;
    let system = System::start(Options {
        otlp_endpoint: Some(endpoint),
        // Lines logged inside the request's spans on every service: the
        // gateway's request log and the services' SQL statements.
        env: vec![("RUST_LOG".into(), "info,tower_http=debug,sqlx=debug".into())],
        ..Options::default()
    })
    .await;
    let user = system.user_with_credit(10_000).await;

    // The client is traced too: its context is the root of the trace.
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let client_span = &trace_id[..16];
    let response = system
        .http
        .post(system.url("/orders"))
        .header("traceparent", format!("00-{trace_id}-{client_span}-01"))
        .json(&json!({"user_id": user, "items": [{"sku": "MUG-STEEL", "quantity": 1}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    // Spans arrive in batches, the notification's after the event is
    // consumed: wait (bounded) until the last edge is there.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let trace = loop {
        let trace: Vec<Span> = receiver
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect();
        if edges(&trace).is_ok() || tokio::time::Instant::now() > deadline {
            break trace;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    if let Err(missing) = edges(&trace) {
        panic!("{missing}; spans of the trace: {trace:#?}");
    }

    // The gateway's span continues the client's trace.
    let gateway_root = trace
        .iter()
        .find(|s| s.service == "api-gateway" && s.parent_span_id == client_span)
        .unwrap_or_else(|| panic!("no gateway span is the client's child: {trace:#?}"));
    assert_eq!(gateway_root.name, "http", "{gateway_root:?}");
    // Every service's log lines inside the trace name it.
    for process in system.processes() {
        assert!(
            process.log().lines().any(|line| line.contains(&trace_id)),
            "no log line of {} names trace {trace_id}",
            process.name
        );
    }
    // Low-cardinality names and no personal data in any field.
    for span in &trace {
        assert!(!span.name.contains(&user), "id in a span name: {span:?}");
        assert!(
            !span.attributes.iter().any(|a| a.contains("@example.com")),
            "an email in a span field: {span:?}"
        );
    }
}

/// The parent/child edges one order makes, or the first one missing:
/// gateway → order-service (AMQP), order-service → user-service (gRPC debit),
/// order-service → notification-service (the outbox event).
fn edges(trace: &[Span]) -> Result<(), String> {
    let by_id: HashMap<&str, &Span> = trace.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let has_edge = |from: &str, to: &str| {
        trace.iter().any(|child| {
            child.service == to
                && by_id
                    .get(child.parent_span_id.as_str())
                    .is_some_and(|parent| parent.service == from)
        })
    };
    for (from, to) in [
        ("api-gateway", "order-service"),
        ("order-service", "user-service"),
        ("order-service", "notification-service"),
    ] {
        if !has_edge(from, to) {
            return Err(format!("no {to} span is a child of a {from} span"));
        }
    }
    Ok(())
}

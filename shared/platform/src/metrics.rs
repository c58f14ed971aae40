//! Request metrics for the servers and clients every service runs, and
//! what each process reports about itself, recorded with the `metrics`
//! crate into the process's Prometheus recorder
//! ([`crate::admin::prometheus`]) and scraped from the admin port.
//!
//! - HTTP (the gateway): [`record_http`], called by its middleware, gives
//!   `http_requests_total{method, route, status}` and
//!   `http_request_duration_seconds{method, route}`.
//! - gRPC (user-service): [`GrpcMetricsLayer`] on the tonic server gives
//!   `grpc_server_requests_total{grpc_service, grpc_method, grpc_code}` and
//!   `grpc_server_request_duration_seconds{grpc_service, grpc_method}`, the
//!   label names and canonical code names (`OK`, `NOT_FOUND`) of the
//!   OpenTelemetry conventions and go-grpc-prometheus.
//! - gRPC clients (the gateway, order-service): [`GrpcClientMetricsLayer`],
//!   on every channel [`crate::balance`] opens, gives the same as
//!   `grpc_client_*` (see [`grpc_client`]).
//! - Every process: `process_*` and `build_info` (see [`process`]).
//!
//! Labels are bounded: routes are templates (`/users/{id}`), RPCs are the
//! served methods (a call to an unknown one counts as `unknown`).
//!
//! # Layout
//! - this file: HTTP, the gRPC server, and what both gRPC sides share.
//! - [`grpc_client`]: the gRPC client layer.
//! - [`process`]: process metrics and `build_info`.

pub mod grpc_client;
pub mod process;

pub use grpc_client::{GrpcClientMetrics, GrpcClientMetricsLayer};

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use tonic::Code;
use tower::{Layer, Service};

/// The `# HELP` text of the metrics this crate records (the HTTP and gRPC
/// servers', the gRPC clients', the database pool's, the process's); called
/// once the recorder is installed.
/// Every crate describes its own the same way, beside where it records them.
pub(crate) fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "http_requests_total",
        "HTTP requests answered, by method, route template and status."
    );
    describe_histogram!(
        "http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request, by method and route template."
    );
    describe_counter!(
        "grpc_server_requests_total",
        "gRPC calls answered, by service, method and canonical status code."
    );
    describe_histogram!(
        "grpc_server_request_duration_seconds",
        Unit::Seconds,
        "Time to answer a gRPC call, by service and method."
    );
    describe_counter!(
        "grpc_client_requests_total",
        "gRPC calls made, one per server tried, by service, method and canonical status code \
         (UNAVAILABLE: no connection; DEADLINE_EXCEEDED: no answer in time)."
    );
    describe_histogram!(
        "grpc_client_request_duration_seconds",
        Unit::Seconds,
        "Time a gRPC call took until its answer (or failure), by service and method."
    );
    describe_gauge!(
        "db_pool_connections",
        "Database pool connections, by state (idle, in_use), read at each scrape."
    );
    describe_gauge!(
        "db_pool_max_connections",
        "The database pool's size limit (DATABASE_MAX_CONNECTIONS)."
    );
    describe_counter!(
        "group_commit_batches_total",
        "Statements a group commit wrote, by writer (see group_commit_items_total)."
    );
    describe_counter!(
        "group_commit_items_total",
        "Items a group commit wrote, by writer; divided by group_commit_batches_total, \
         the mean batch."
    );
    process::describe();
}

/// Counts one HTTP request and records how long it took.
pub fn record_http(method: &str, route: &str, status: u16, elapsed: Duration) {
    let (method, route) = (method.to_owned(), route.to_owned());
    metrics::counter!(
        "http_requests_total",
        "method" => method.clone(),
        "route" => route.clone(),
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(elapsed.as_secs_f64());
}

/// Adds per-RPC counts and latency to a tonic server:
/// `Server::builder().layer(GrpcMetricsLayer)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcMetricsLayer;

impl<S> Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics { inner }
    }
}

#[derive(Debug, Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, R> Service<http::Request<B>> for GrpcMetrics<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let rpc = request.uri().path().to_owned();
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await;
            let code = match &result {
                Ok(response) => status_code(response.headers()),
                Err(_) => Code::Internal,
            };
            // Unknown methods are answered UNIMPLEMENTED by tonic's router;
            // their paths are whatever a client sent, so not a label.
            let (service, method) = if code == Code::Unimplemented {
                ("unknown".to_owned(), "unknown".to_owned())
            } else {
                split_rpc(&rpc)
            };
            metrics::counter!(
                "grpc_server_requests_total",
                "grpc_service" => service.clone(),
                "grpc_method" => method.clone(),
                "grpc_code" => code_name(code)
            )
            .increment(1);
            metrics::histogram!(
                "grpc_server_request_duration_seconds",
                "grpc_service" => service,
                "grpc_method" => method
            )
            .record(started.elapsed().as_secs_f64());
            result
        })
    }
}

/// `/user.UserService/FindOne` → (`user.UserService`, `FindOne`).
fn split_rpc(path: &str) -> (String, String) {
    let path = path.strip_prefix('/').unwrap_or(path);
    match path.split_once('/') {
        Some((service, method)) => (service.to_owned(), method.to_owned()),
        None => ("unknown".to_owned(), path.to_owned()),
    }
}

/// The canonical name of a gRPC status code, as the gRPC spec and every
/// other exporter write it (tonic's `Debug` says `NotFound`).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A failed unary call is answered "trailers-only": its `grpc-status` is in
/// the headers. A successful one carries `grpc-status: 0` in the trailers,
/// after the message, so no status in the headers means OK. (A stream that
/// fails after its first message would count as OK; every RPC here is
/// unary.)
fn status_code(headers: &http::HeaderMap) -> Code {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(Code::Ok, Code::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpcs_are_labelled_by_service_and_method_with_canonical_codes() {
        let (service, method) = split_rpc("/user.UserService/FindOne");
        assert_eq!(
            (service.as_str(), method.as_str()),
            ("user.UserService", "FindOne")
        );
        assert_eq!(code_name(Code::NotFound), "NOT_FOUND");
        assert_eq!(code_name(Code::Ok), "OK");
    }

    #[test]
    fn status_comes_from_the_headers_of_a_trailers_only_answer() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(status_code(&headers), Code::Ok);
        headers.insert("grpc-status", http::HeaderValue::from_static("5"));
        assert_eq!(status_code(&headers), Code::NotFound);
        headers.insert("grpc-status", http::HeaderValue::from_static("junk"));
        assert_eq!(status_code(&headers), Code::Ok);
    }
}

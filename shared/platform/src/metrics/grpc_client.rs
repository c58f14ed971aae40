//! Client-side gRPC metrics: what each call to another service cost and
//! how it ended, as the caller saw it — including calls that never reached
//! a server, which the server's own metrics cannot count.
//!
//! `grpc_client_requests_total{grpc_service, grpc_method, grpc_code}` and
//! `grpc_client_request_duration_seconds{grpc_service, grpc_method}`, the
//! labels of the server side ([`super::GrpcMetricsLayer`]). They are
//! bounded: the paths are the generated client's, not anyone's input.
//!
//! The layer sits on the channel to one server, so it counts attempts: a
//! call the balancer ([`crate::balance`]) sends on to the next server after
//! a refused connection counts once per server tried (UNAVAILABLE, then its
//! answer) — which is how a dead replica shows up here while the gateway's
//! HTTP answers stay fine.

use std::{
    task::{Context, Poll},
    time::Instant,
};

use tonic::Code;
use tower::{Layer, Service};

use super::{BoxFuture, code_name, split_rpc, status_code};

/// Adds per-call counts and latency to a client channel:
/// `ServiceBuilder::new().layer(GrpcClientMetricsLayer).service(channel)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcClientMetricsLayer;

impl<S> Layer<S> for GrpcClientMetricsLayer {
    type Service = GrpcClientMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcClientMetrics { inner }
    }
}

#[derive(Debug, Clone)]
pub struct GrpcClientMetrics<S> {
    inner: S,
}

impl<S, B, R> Service<http::Request<B>> for GrpcClientMetrics<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: std::error::Error + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let (service, method) = split_rpc(request.uri().path());
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await;
            let code = match &result {
                Ok(response) => answered(response),
                Err(error) => failed(error),
            };
            metrics::counter!(
                "grpc_client_requests_total",
                "grpc_service" => service.clone(),
                "grpc_method" => method.clone(),
                "grpc_code" => code_name(code)
            )
            .increment(1);
            // Until the response's headers: for a unary call the message
            // and trailers follow at once.
            metrics::histogram!(
                "grpc_client_request_duration_seconds",
                "grpc_service" => service,
                "grpc_method" => method
            )
            .record(started.elapsed().as_secs_f64());
            result
        })
    }
}

/// The code of a call a server (or a proxy) answered: its `grpc-status`,
/// else — an HTTP error from something that is not a gRPC server — the code
/// the gRPC spec maps that HTTP status to (doc/http-grpc-status-mapping.md).
fn answered<R>(response: &http::Response<R>) -> Code {
    if response.headers().contains_key("grpc-status") {
        return status_code(response.headers());
    }
    match response.status().as_u16() {
        200 => Code::Ok,
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502 | 503 | 504 => Code::Unavailable,
        _ => Code::Unknown,
    }
}

/// The code of a call that got no answer. A spent deadline is
/// DEADLINE_EXCEEDED, as the gRPC spec and the server side say (tonic's
/// client reports it as CANCELLED "Timeout expired"); anything else is the
/// connection failing — refused, reset, closed — which is UNAVAILABLE.
fn failed(error: &(dyn std::error::Error + 'static)) -> Code {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<tonic::TimeoutExpired>() {
            return Code::DeadlineExceeded;
        }
        cause = error.source();
    }
    Code::Unavailable
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tonic::transport::Endpoint;
    use tower::ServiceExt;

    use super::*;

    fn response(status: u16, grpc_status: Option<&'static str>) -> http::Response<()> {
        let mut response = http::Response::builder().status(status);
        if let Some(code) = grpc_status {
            response = response.header("grpc-status", code);
        }
        response.body(()).unwrap()
    }

    #[test]
    fn an_answer_has_its_grpc_status_or_the_specs_mapping_of_its_http_status() {
        assert_eq!(answered(&response(200, None)), Code::Ok);
        assert_eq!(answered(&response(200, Some("5"))), Code::NotFound);
        assert_eq!(answered(&response(503, None)), Code::Unavailable);
        assert_eq!(answered(&response(404, None)), Code::Unimplemented);
        assert_eq!(answered(&response(418, None)), Code::Unknown);
    }

    #[tokio::test]
    async fn no_answer_is_unavailable_or_a_spent_deadline() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let refused = Endpoint::from_shared(format!("http://{closed}"))
            .unwrap()
            .connect_lazy()
            .oneshot(http::Request::new(tonic::body::Body::empty()))
            .await
            .unwrap_err();
        assert_eq!(failed(&refused), Code::Unavailable, "{refused:?}");

        // Accepts the connection and never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let slow = Endpoint::from_shared(format!("http://{}", silent.local_addr().unwrap()))
            .unwrap()
            .connect_timeout(Duration::from_millis(100))
            .timeout(Duration::from_millis(300))
            .connect_lazy()
            .oneshot(http::Request::new(tonic::body::Body::empty()))
            .await
            .unwrap_err();
        assert_eq!(failed(&slow), Code::DeadlineExceeded, "{slow:?}");
    }
}

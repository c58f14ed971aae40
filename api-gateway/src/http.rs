//! The middleware stack, applied once to every route: request ids, tracing,
//! request metrics, each client's fair share (and its body read in time),
//! load shedding past a concurrency limit, a request
//! timeout, panic recovery, the body limit, and a last net that turns any
//! bare error response into problem+json.

use std::any::Any;

use axum::{
    BoxError, Router,
    body::{Body, Bytes, HttpBody},
    error_handling::HandleErrorLayer,
    extract::{DefaultBodyLimit, MatchedPath, Request},
    http::{HeaderValue, Method, StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
};
use tower::{ServiceBuilder, limit::GlobalConcurrencyLimitLayer};
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    sensitive_headers::SetSensitiveRequestHeadersLayer,
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use crate::{
    Config,
    fair_share::{self, Admission, PerClient},
    problem::{PROBLEM_JSON, Problem},
};

pub(crate) fn layers(router: Router, config: &Config) -> Router {
    // Outermost first: the request id exists before the span that logs it,
    // and the problem rewrite sees what the timeout and panic layers produce.
    let stack = ServiceBuilder::new()
        // Tokens are credentials: marked sensitive, no log or debug print of
        // the request shows them.
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
        ]))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(TraceLayer::new_for_http().make_span_with(make_span))
        .layer(middleware::from_fn(record_metrics))
        // Each client's share, and its body read, before it may take one of
        // the global slots below (fair_share.rs).
        .layer(middleware::from_fn_with_state(
            Admission {
                proxies: config.trusted_proxies.clone(),
                per_address: PerClient::new(config.max_concurrent_requests_per_client),
                body_timeout: config.body_read_timeout,
                body_limit: config.body_limit_bytes,
            },
            fair_share::admit,
        ))
        // Past the limit a request is refused at once (503, Retry-After)
        // rather than queued: a queue would only make every client wait
        // longer, and hold its memory meanwhile. Global: `Router::layer`
        // gives each route its own copy of a layer, and a plain
        // `concurrency_limit` would then be a limit per route.
        .layer(HandleErrorLayer::new(overloaded))
        .load_shed()
        .layer(GlobalConcurrencyLimitLayer::new(
            config.max_concurrent_requests,
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(middleware::map_response(problem_for_bare_errors))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            config.request_timeout,
        ));
    router
        .layer(DefaultBodyLimit::max(config.body_limit_bytes))
        .layer(stack)
}

/// One span per request. The name is constant and the route is the matched
/// template (`/users/{id}`), not the raw path, to keep cardinality low.
fn make_span(req: &Request) -> tracing::Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("<unmatched>", MatchedPath::as_str);
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let span = tracing::info_span!(
        "http",
        method = %req.method(),
        route,
        request_id,
        trace_id = tracing::field::Empty
    );
    // A caller that is itself traced (another service, a browser with
    // OpenTelemetry) continues its trace here.
    platform::propagation::set_parent_from_headers(&span, req.headers());
    span
}

/// Counts the request and its latency per route template, with the status
/// the client finally sees (outside the problem rewrite, timeout and panic
/// layers).
async fn record_metrics(req: Request, next: middleware::Next) -> Response {
    let started = std::time::Instant::now();
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "<unmatched>".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    platform::metrics::record_http(
        method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// The method as a metric label: one of the standard nine, or `_OTHER`
/// (OpenTelemetry's convention), so a client sending made-up methods cannot
/// create a new time series with each.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}

/// The answer to a request shed by the concurrency limit.
async fn overloaded(error: BoxError) -> Response {
    if !error.is::<tower::load_shed::error::Overloaded>() {
        tracing::error!(%error, "middleware failed");
    }
    let mut response = Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the gateway is at its concurrency limit; try again shortly",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Rewrites error responses that are not problem+json yet — axum's 404 and
/// 405, the timeout's empty 504 — keeping their status and headers (`Allow`).
async fn problem_for_bare_errors<B>(response: axum::http::Response<B>) -> Response
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response.map(Body::new);
    }
    let detail = match status {
        StatusCode::NOT_FOUND => "no resource at this path",
        StatusCode::METHOD_NOT_ALLOWED => "this path does not accept this method; see `Allow`",
        StatusCode::GATEWAY_TIMEOUT => "the request did not complete in time",
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is larger than the gateway accepts",
        _ => status.canonical_reason().unwrap_or("error"),
    };
    let (mut parts, _) = response.into_parts();
    let problem = Problem::new(status, detail).into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    Response::from_parts(parts, problem.into_body())
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %message, "handler panicked");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "an unexpected error occurred",
    )
    .into_response()
}

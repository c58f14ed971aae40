//! `GET /health`: the whole system's health in one answer — 200 when every
//! service and the broker answer, 503 otherwise, with a report naming each
//! dependency and its state. The 503 is a problem+json like every other
//! error; the report rides in an extension member.
//!
//! - user-service: `grpc.health.v1` on every server (up when one serves);
//! - order-service, notification-service: a `health_check` request on their
//!   queues, answered by any replica with its own readiness checks (database,
//!   consumer). No answer within `HEALTH_TIMEOUT` means no replica consumes,
//!   or the queue is backed up;
//! - rabbitmq: the gateway's own connection.
//!
//! The report is at most a second old (`HEALTH_CACHE_TTL`): the public
//! route would otherwise let anyone make every service check itself per
//! request.
//!
//! The endpoint is public, so it says up or down and nothing else: why a
//! dependency is down (addresses, error text) is logged, and each service's
//! own admin port (`/readyz`) reports its checks in detail.

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use contracts::patterns::HEALTH_CHECK;
use messaging::{Client, RpcError};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::routes;

use crate::{
    AppState,
    problem::Problem,
    routing::{Access, Routes},
};

pub(crate) fn routes(routes: Routes) -> Routes {
    routes.route(Access::Public, routes!(health))
}

#[derive(Debug, Serialize)]
struct Dependency {
    status: &'static str,
}

/// Every dependency is up.
#[derive(Debug, Serialize, ToSchema)]
struct Report {
    /// `up`.
    #[schema(value_type = String, pattern = "^up$")]
    status: &'static str,
    /// Each dependency (`user-service`, `order-service`,
    /// `notification-service`, and the brokers in use: `rabbitmq`, `nats`)
    /// and its `status`.
    #[schema(value_type = Object)]
    dependencies: Map<String, Value>,
}

/// The system's health
///
/// 200 when every service and the broker answer; otherwise 503, a
/// problem whose `dependencies` member says which is `down`.
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "getHealth",
    tag = "health",
    responses(
        (status = 200, description = "Everything is up.", body = Report),
        (status = 503, description = "A dependency is down; see `dependencies`."),
    ),
)]
async fn health(State(state): State<AppState>) -> impl IntoResponse {
    // The public route asks every service: at most once a second, however
    // many ask (recent.rs).
    let Outcome {
        all_up,
        dependencies,
    } = state.health().get(|| check(&state)).await;
    if all_up {
        return (
            StatusCode::OK,
            Json(Report {
                status: "up",
                dependencies,
            }),
        )
            .into_response();
    }
    let mut extensions = Map::new();
    extensions.insert("dependencies".into(), Value::Object(dependencies));
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "a dependency is down; see `dependencies`",
    )
    .with_extensions(extensions)
    .into_response()
}

/// What one round of checks found.
#[derive(Debug, Clone)]
pub struct Outcome {
    all_up: bool,
    dependencies: Map<String, Value>,
}

/// Asks every service and broker, each within `HEALTH_TIMEOUT`.
async fn check(state: &AppState) -> Outcome {
    let timeout = state.config().health_timeout;
    let (user_service, order_service, notification_service) = tokio::join!(
        state.users().check_health(timeout),
        ask(state.orders(), timeout),
        ask(state.notifications(), timeout),
    );
    let mut results = vec![
        ("user-service", user_service),
        ("order-service", order_service),
        ("notification-service", notification_service),
    ];
    for broker in state.brokers() {
        results.push((broker.name(), broker.run().await));
    }
    let all_up = results.iter().all(|(_, result)| result.is_ok());
    let dependencies: Map<String, Value> = results
        .into_iter()
        .map(|(name, result)| (name.to_owned(), to_value(dependency(name, result))))
        .collect();
    Outcome {
        all_up,
        dependencies,
    }
}

/// A `health_check` request to the service behind `client`.
async fn ask(client: &Client, timeout: std::time::Duration) -> Result<(), String> {
    match client
        .send_value_within(HEALTH_CHECK, Value::Object(Map::new()), timeout)
        .await
    {
        Ok(_) => Ok(()),
        Err(RpcError::Timeout(_)) => Err(format!(
            "no answer within {timeout:?}: no replica is consuming, or its queue is backed up"
        )),
        Err(RpcError::Remote(error)) => Err(error
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(|| error.to_string(), str::to_owned)),
        Err(e) => Err(e.to_string()),
    }
}

fn dependency(name: &str, result: Result<(), String>) -> Dependency {
    match result {
        Ok(()) => Dependency { status: "up" },
        Err(detail) => {
            tracing::warn!(dependency = name, %detail, "health check failed");
            Dependency { status: "down" }
        }
    }
}

fn to_value(dep: Dependency) -> Value {
    serde_json::to_value(dep).expect("a dependency report serializes")
}

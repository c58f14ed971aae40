//! `GET /health`: 200 when every dependency answers, 503 otherwise, with a
//! report naming each dependency and its state. The 503 is a problem+json
//! like every other error; the report rides in an extension member.

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::{AppState, error::Problem};

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

#[derive(Debug, Serialize)]
struct Dependency {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

#[derive(Debug, Serialize)]
struct Report {
    status: &'static str,
    dependencies: Map<String, Value>,
}

async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let user_service = state
        .users()
        .check_health(state.config().health_timeout)
        .await;

    let rabbitmq = if state.orders().is_connected() {
        Ok(())
    } else {
        Err("not connected; reconnecting".to_owned())
    };

    let all_up = user_service.is_ok() && rabbitmq.is_ok();
    let mut dependencies = Map::new();
    dependencies.insert("user-service".into(), to_value(dependency(user_service)));
    dependencies.insert("rabbitmq".into(), to_value(dependency(rabbitmq)));

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

fn dependency(result: Result<(), String>) -> Dependency {
    match result {
        Ok(()) => Dependency {
            status: "up",
            detail: None,
        },
        Err(detail) => Dependency {
            status: "down",
            detail: Some(detail),
        },
    }
}

fn to_value(dep: Dependency) -> Value {
    serde_json::to_value(dep).expect("a dependency report serializes")
}

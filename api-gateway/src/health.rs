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

/// `api-gateway healthcheck`: `GET /health` on the local server, success on
/// a 200. The container HEALTHCHECK runs it, so the runtime image needs no
/// curl; a one-request HTTP/1.1 exchange is all it takes.
pub async fn probe(listen_addr: std::net::SocketAddr) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let exchange = async {
        let addr = platform::local_dial_addr(listen_addr);
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut head = [0u8; 12]; // "HTTP/1.1 200"
        stream.read_exact(&mut head).await?;
        anyhow::Ok(head)
    };
    let head = tokio::time::timeout(std::time::Duration::from_secs(3), exchange).await??;
    anyhow::ensure!(
        head.ends_with(b" 200"),
        "GET /health answered {:?}",
        String::from_utf8_lossy(&head)
    );
    Ok(())
}

//! The admin HTTP port every RabbitMQ-consuming service serves beside its
//! real work (the NestJS "hybrid app" pattern): liveness and readiness for
//! orchestrators and compose healthchecks.
//!
//! - `GET /livez`: 200 while the process serves HTTP at all.
//! - `GET /readyz`: 200 when every readiness check passes, else 503; the
//!   JSON body names each check and its state.
//! - `GET /metrics`: the process's metrics in the Prometheus text format
//!   (recorded with the `metrics` crate anywhere in the process).
//!
//! [`probe`] is the client side: `<binary> healthcheck` runs it, so container
//! images need no curl.

use std::{
    collections::BTreeMap,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, OnceLock},
    time::Duration,
};

use anyhow::Context;
use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A named readiness check: `Ok` when the dependency answers.
#[derive(Clone)]
pub struct Check {
    name: &'static str,
    run: Arc<dyn Fn() -> CheckFuture + Send + Sync>,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check").field("name", &self.name).finish()
    }
}

impl Check {
    pub fn new<F, Fut>(name: &'static str, run: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self {
            name,
            run: Arc::new(move || Box::pin(run())),
        }
    }
}

/// How long one readiness check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The admin server, bound, not yet serving.
#[derive(Debug)]
pub struct AdminServer {
    listener: TcpListener,
    checks: Vec<Check>,
}

impl AdminServer {
    pub async fn bind(addr: SocketAddr, checks: Vec<Check>) -> anyhow::Result<Self> {
        prometheus(); // record from start-up on, not from the first scrape
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the admin port {addr}"))?;
        Ok(Self { listener, checks })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves in a task of its own until `token` is cancelled, the way a
    /// service runs it beside its consumer.
    pub fn spawn(self, token: CancellationToken) -> JoinHandle<anyhow::Result<()>> {
        tokio::spawn(self.run_until(async move { token.cancelled().await }))
    }

    /// Serves until `shutdown` completes.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = Router::new()
            .route("/livez", get(|| async { "ok" }))
            .route("/readyz", get(readyz))
            .route("/metrics", get(|| async { prometheus().render() }))
            .with_state(Arc::new(self.checks));
        axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving the admin port")
    }
}

async fn readyz(State(checks): State<Arc<Vec<Check>>>) -> impl IntoResponse {
    let mut report = BTreeMap::new();
    let mut ready = true;
    for check in checks.iter() {
        let outcome = tokio::time::timeout(CHECK_TIMEOUT, (check.run)()).await;
        let state = match outcome {
            Ok(Ok(())) => json!({"status": "up"}),
            Ok(Err(detail)) => json!({"status": "down", "detail": detail}),
            Err(_) => {
                json!({"status": "down", "detail": format!("no answer within {CHECK_TIMEOUT:?}")})
            }
        };
        ready &= state["status"] == "up";
        report.insert(check.name, state);
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body: Value =
        json!({"status": if ready { "ready" } else { "not ready" }, "checks": report});
    (status, Json(body))
}

/// The process-wide Prometheus recorder, installed on first use. Every
/// `metrics::counter!` in the process records into it.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .install_recorder()
            .expect("no other metrics recorder is installed")
    })
}

/// `GET path` on the local server at `listen_addr`; success on a 200. A
/// one-request HTTP/1.1 exchange, so `<binary> healthcheck` needs no client
/// library and the image no curl.
pub async fn probe(listen_addr: SocketAddr, path: &str) -> anyhow::Result<()> {
    let (status_line, _) = fetch(listen_addr, path).await?;
    anyhow::ensure!(
        status_line.starts_with("HTTP/1.1 200"),
        "GET {path} answered {status_line:?}"
    );
    Ok(())
}

/// `GET path` on the local server: the status line and the body.
pub async fn fetch(listen_addr: SocketAddr, path: &str) -> anyhow::Result<(String, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let exchange = async {
        let mut stream =
            tokio::net::TcpStream::connect(crate::local_dial_addr(listen_addr)).await?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        anyhow::Ok(String::from_utf8_lossy(&response).into_owned())
    };
    let response = tokio::time::timeout(Duration::from_secs(3), exchange).await??;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or((response.as_str(), ""));
    let status_line = head.lines().next().unwrap_or_default().to_owned();
    Ok((status_line, body.to_owned()))
}

//! The admin HTTP port every RabbitMQ-consuming service serves beside its
//! real work (the NestJS "hybrid app" pattern): liveness and readiness for
//! orchestrators and compose healthchecks.
//!
//! - `GET /livez`: 200 while the process serves HTTP at all.
//! - `GET /readyz`: 200 when every readiness check passes, else 503; the
//!   JSON body names each check and its state.
//! - `GET /metrics`: the process's metrics in the Prometheus text format
//!   (recorded with the `metrics` crate anywhere in the process). Gauges
//!   that are read rather than recorded (pool usage, outbox backlog, the
//!   process's CPU and memory) are refreshed just before each scrape, by
//!   [`Sampler`]s and [`crate::metrics::process::collect`].
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

    /// A check of a flag kept up to date elsewhere (a connection's state):
    /// passes while `up()` is true, else fails with `down` as its detail.
    pub fn flag(
        name: &'static str,
        up: impl Fn() -> bool + Send + Sync + 'static,
        down: &'static str,
    ) -> Self {
        Self::new(name, move || {
            let result = if up() { Ok(()) } else { Err(down.to_owned()) };
            std::future::ready(result)
        })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Runs the check, bounded by [`CHECK_TIMEOUT`].
    pub async fn run(&self) -> Result<(), String> {
        match tokio::time::timeout(CHECK_TIMEOUT, (self.run)()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
        }
    }
}

/// Runs every check; `(all passed, {name: {"status": "up"|"down", "detail"}})`.
pub async fn run_checks(checks: &[Check]) -> (bool, BTreeMap<&'static str, Value>) {
    let mut report = BTreeMap::new();
    let mut ready = true;
    for check in checks {
        let state = match check.run().await {
            Ok(()) => json!({"status": "up"}),
            Err(detail) => json!({"status": "down", "detail": detail}),
        };
        ready &= state["status"] == "up";
        report.insert(check.name, state);
    }
    (ready, report)
}

/// Refreshes gauges just before a scrape: values that are cheaper to read
/// on demand (a pool's size, a backlog count) than to track on every change.
#[derive(Clone)]
pub struct Sampler(Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>);

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sampler")
    }
}

impl Sampler {
    pub fn new<F, Fut>(sample: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self(Arc::new(move || Box::pin(sample())))
    }
}

/// How long one readiness check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The admin server, bound, not yet serving.
#[derive(Debug)]
pub struct AdminServer {
    listener: TcpListener,
    checks: Vec<Check>,
    samplers: Vec<Sampler>,
}

struct Probes {
    checks: Vec<Check>,
    samplers: Vec<Sampler>,
}

impl AdminServer {
    pub async fn bind(addr: SocketAddr, checks: Vec<Check>) -> anyhow::Result<Self> {
        prometheus(); // record from start-up on, not from the first scrape
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the admin port {addr}"))?;
        Ok(Self {
            listener,
            checks,
            samplers: Vec::new(),
        })
    }

    /// Adds gauges refreshed before every scrape of `/metrics`.
    pub fn with_samplers(mut self, samplers: impl IntoIterator<Item = Sampler>) -> Self {
        self.samplers.extend(samplers);
        self
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
            .route("/metrics", get(metrics))
            .with_state(Arc::new(Probes {
                checks: self.checks,
                samplers: self.samplers,
            }));
        axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving the admin port")
    }
}

async fn metrics(State(probes): State<Arc<Probes>>) -> String {
    crate::metrics::process::collect();
    for sampler in &probes.samplers {
        // A sampler stuck on its dependency must not stall the scrape: its
        // gauges keep their last value.
        let _ = tokio::time::timeout(CHECK_TIMEOUT, (sampler.0)()).await;
    }
    prometheus().render()
}

async fn readyz(State(probes): State<Arc<Probes>>) -> impl IntoResponse {
    let (ready, report) = run_checks(&probes.checks).await;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body: Value =
        json!({"status": if ready { "ready" } else { "not ready" }, "checks": report});
    (status, Json(body))
}

/// Latency buckets, in seconds, for every histogram: from half a millisecond
/// (a cached read) to ten seconds (the longest deadline we configure).
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often recorded histogram samples are folded into their buckets. The
/// exporter keeps every raw sample until then — or until a scrape — so
/// without upkeep a process nobody scrapes (compose, a cluster without
/// Prometheus) grows by 8 bytes per sample for ever: ~10 MiB a minute under
/// load. Folding an idle second's samples costs microseconds.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The process-wide Prometheus recorder, installed on first use, with a
/// thread running its upkeep every [`UPKEEP_INTERVAL`]. Every
/// `metrics::counter!` / `histogram!` in the process records into it;
/// histograms are rendered as Prometheus histograms (buckets), which
/// aggregate across replicas, unlike summaries.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets(LATENCY_BUCKETS)
            .expect("the bucket list is not empty")
            .install_recorder()
            .expect("no other metrics recorder is installed");
        crate::metrics::describe();
        // A thread, not a task: the recorder may be installed before (or
        // outside) a Tokio runtime, and must keep draining whatever the
        // runtime is doing. `install()` would spawn this, and an HTTP
        // listener we do not want.
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_INTERVAL);
                    upkeep.run_upkeep();
                }
            })
            .expect("spawning the metrics upkeep thread");
        handle
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

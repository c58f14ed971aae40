//! Real NestJS peers (`@nestjs/microservices` 11, `Transport.RMQ`,
//! `Transport.NATS` or `Transport.TCP`, pinned in
//! `interop/nestjs/package-lock.json`), run with node: a `ClientProxy` that
//! sends one request or emits one event, a server that answers `sum` and
//! prints the events it receives, and NestJS's TCP framing on its own.

use std::{path::PathBuf, process::Stdio, sync::OnceLock, time::Duration};

use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, BufReader, Lines},
    process::{Child, ChildStdout, Command},
};

use crate::{amqp_url, nats_url, redis_url};

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/nestjs")
}

/// `npm ci` once per test binary (the script itself locks and caches).
fn ensure_installed() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let status = std::process::Command::new(interop_dir().join("install.sh"))
            .status()
            .expect("running interop/nestjs/install.sh");
        assert!(
            status.success(),
            "installing the NestJS peers failed (needs node and npm)"
        );
    });
}

/// Which NestJS transport a peer speaks, and where its broker is.
#[derive(Debug, Clone)]
pub enum Transport {
    /// `Transport.RMQ` at this AMQP URL.
    Rmq(String),
    /// `Transport.NATS` at this NATS URL.
    Nats(String),
    /// `Transport.REDIS` at this Redis URL.
    Redis(String),
    /// `Transport.TCP` on this port of 127.0.0.1.
    Tcp(u16),
}

impl Transport {
    /// RabbitMQ at [`amqp_url`].
    pub fn rmq() -> Self {
        Self::Rmq(amqp_url())
    }

    /// NATS at [`nats_url`].
    pub fn nats() -> Self {
        Self::Nats(nats_url())
    }

    /// Redis at [`redis_url`].
    pub fn redis() -> Self {
        Self::Redis(redis_url())
    }

    fn apply(&self, command: &mut Command) {
        match self {
            Self::Rmq(url) => command.env("TRANSPORT", "rmq").env("AMQP_URL", url),
            Self::Nats(url) => command.env("TRANSPORT", "nats").env("NATS_URL", url),
            Self::Redis(url) => command.env("TRANSPORT", "redis").env("REDIS_URL", url),
            Self::Tcp(port) => command
                .env("TRANSPORT", "tcp")
                .env("TCP_PORT", port.to_string()),
        };
    }
}

/// Sends one request with a NestJS `ClientProxy` to `queue`: returns
/// `{"response": R}` or `{"err": E}`. A `pattern` starting with `{` is sent
/// as an object pattern.
pub async fn send(queue: &str, pattern: &str, data: Value) -> Value {
    send_with_headers(queue, pattern, data, None).await
}

/// [`send`] with AMQP headers (an `RmqRecord`, as a NestJS gateway sends the
/// caller it verified: `{"x-caller-id": .., "x-caller-role": ..}`).
pub async fn send_with_headers(
    queue: &str,
    pattern: &str,
    data: Value,
    headers: Option<Value>,
) -> Value {
    send_as(&amqp_url(), queue, pattern, data, headers).await
}

/// One request from a NestJS `ClientProxy` on `transport` (on RabbitMQ to
/// `queue`; on NATS to the pattern's subject; on TCP to the port), with headers if given (an
/// `RmqRecord` / `NatsRecord`): `{"response": R}` or `{"err": E}`.
pub async fn send_over(
    transport: &Transport,
    queue: &str,
    pattern: &str,
    data: Value,
    headers: Option<Value>,
) -> Value {
    run_client(transport, queue, pattern, data, headers, false).await
}

/// One event emitted by a NestJS `ClientProxy` on `transport`; returns once
/// the client has published it.
pub async fn emit_over(transport: &Transport, queue: &str, pattern: &str, data: Value) {
    let outcome = run_client(transport, queue, pattern, data, None, true).await;
    assert_eq!(outcome, serde_json::json!({"emitted": true}), "NestJS emit");
}

/// [`send_with_headers`] logged into the broker at `url` (another account,
/// another vhost).
pub async fn send_as(
    url: &str,
    queue: &str,
    pattern: &str,
    data: Value,
    headers: Option<Value>,
) -> Value {
    let transport = Transport::Rmq(url.to_owned());
    run_client(&transport, queue, pattern, data, headers, false).await
}

async fn run_client(
    transport: &Transport,
    queue: &str,
    pattern: &str,
    data: Value,
    headers: Option<Value>,
    emit: bool,
) -> Value {
    ensure_installed();
    let mut command = Command::new("node");
    command
        .arg(interop_dir().join("client.js"))
        .env("QUEUE", queue)
        .env("PATTERN", pattern)
        .env("DATA", data.to_string());
    transport.apply(&mut command);
    if let Some(headers) = headers {
        command.env("HEADERS", headers.to_string());
    }
    if emit {
        command.env("EMIT", "1");
    }
    let run = command.output();
    let output = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the NestJS client hung")
        .expect("node must be on PATH");
    assert!(
        output.status.success(),
        "NestJS client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // NestJS logs to stdout too; the outcome is the last line.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: NestJS client printed {stdout:?}"))
}

/// NestJS's own TCP framing (`JsonSocket`), through `interop/nestjs/
/// framing.js`: `"frame"` turns JSON values, one per line, into its frames;
/// `"parse"` turns frames back into JSON values, one per line.
pub async fn framing(mode: &str, input: &[u8]) -> Vec<u8> {
    use tokio::io::AsyncWriteExt;
    ensure_installed();
    let mut child = Command::new("node")
        .arg(interop_dir().join("framing.js"))
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node must be on PATH");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).await.unwrap();
    drop(stdin);
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("framing.js hung")
        .unwrap();
    assert!(
        output.status.success(),
        "framing.js {mode}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// A running NestJS server with a `@MessagePattern('sum')` and an
/// `@EventPattern(event)`: a `ServerRMQ` on `queue`, optionally bound to a
/// topic `exchange` with routing key `event`, or a `ServerNats` in queue
/// group `queue`. Killed when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Server {
    /// Starts the server and waits until it consumes.
    pub async fn start(queue: &str, event: &str, exchange: Option<&str>) -> Self {
        Self::start_over(&Transport::rmq(), queue, "sum", event, exchange).await
    }

    /// [`Server::start`] on `transport`, its sum handler on pattern `sum`
    /// (NATS subjects are global: a test names its own).
    pub async fn start_over(
        transport: &Transport,
        queue: &str,
        sum: &str,
        event: &str,
        exchange: Option<&str>,
    ) -> Self {
        ensure_installed();
        let mut command = Command::new("node");
        transport.apply(&mut command);
        command
            .arg(interop_dir().join("server.js"))
            .env("QUEUE", queue)
            .env("SUM", sum)
            .env("EVENT", event)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        if let Some(exchange) = exchange {
            command.env("EXCHANGE", exchange);
        }
        let mut child = command.spawn().expect("node must be on PATH");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut server = Self { child, lines };
        loop {
            // NestJS logs to stdout too; wait for our own marker.
            if server.next_line().await == "ready" {
                return server;
            }
        }
    }

    /// The next event the server received, as `{"pattern": .., "data": ..}`.
    pub async fn next_event(&mut self) -> Value {
        loop {
            let line = self.next_line().await;
            if let Ok(event) = serde_json::from_str::<Value>(&line) {
                return event;
            }
        }
    }

    async fn next_line(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(20), self.lines.next_line())
            .await
            .expect("the NestJS server said nothing")
            .unwrap()
            .expect("the NestJS server exited")
    }

    /// Closes its stdin, on which the server exits.
    pub async fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

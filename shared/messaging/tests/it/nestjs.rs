//! Interoperability with real NestJS peers (`@nestjs/microservices` 11,
//! `Transport.RMQ`, pinned in interop/nestjs/package-lock.json): a NestJS
//! client talks to our server, our client talks to a NestJS server.

use std::{path::PathBuf, process::Stdio, sync::OnceLock, time::Duration};

use contracts::{ErrorCode, ServiceError};
use messaging::{HandlerError, Router, wire::NO_MESSAGE_HANDLER};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{Bus, amqp_url};

pub(crate) fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/nestjs")
}

/// `npm ci` once per test binary (the script itself locks and caches).
pub(crate) fn ensure_installed() {
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

/// Runs the NestJS client once: `{"response": R}` or `{"err": E}`.
pub(crate) async fn nestjs_send(queue: &str, pattern: &str, data: Value) -> Value {
    ensure_installed();
    let output = tokio::process::Command::new("node")
        .arg(interop_dir().join("client.js"))
        .env("AMQP_URL", amqp_url())
        .env("QUEUE", queue)
        .env("PATTERN", pattern)
        .env("DATA", data.to_string())
        .output();
    let output = tokio::time::timeout(Duration::from_secs(30), output)
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

#[tokio::test]
async fn a_nestjs_client_gets_replies_and_errors_from_our_server() {
    let mut bus = Bus::new().await;
    bus.start_server(
        Router::new()
            .route("sum", |m| async move {
                let numbers: Vec<i64> = serde_json::from_value(m.data)
                    .map_err(|e| HandlerError::Poison(e.to_string()))?;
                Ok(json!(numbers.iter().sum::<i64>()))
            })
            .route("find", |_| async {
                Err::<Value, _>(HandlerError::Reply(ServiceError::new(
                    ErrorCode::NotFound,
                    "no such thing",
                )))
            }),
    );
    let queue = bus.config.queue.clone();

    let ok = nestjs_send(&queue, "sum", json!([1, 2, 3])).await;
    let business = nestjs_send(&queue, "find", json!({})).await;
    let unknown = nestjs_send(&queue, "multiply", json!([2, 3])).await;

    assert_eq!(ok, json!({"response": 6}));
    assert_eq!(
        business,
        json!({"err": {"code": "NOT_FOUND", "message": "no such thing"}})
    );
    assert_eq!(unknown, json!({"err": NO_MESSAGE_HANDLER}));
    bus.cleanup().await;
}

#[tokio::test]
async fn an_object_pattern_from_nestjs_is_routed_by_its_canonical_string() {
    let mut bus = Bus::new().await;
    // What `@MessagePattern({ role: 'math', cmd: 'sum' })` registers.
    bus.start_server(
        Router::new().route(r#"{"cmd":"sum","role":"math"}"#, |m| async move {
            let numbers: Vec<i64> =
                serde_json::from_value(m.data).map_err(|e| HandlerError::Poison(e.to_string()))?;
            Ok(json!(numbers.iter().sum::<i64>()))
        }),
    );

    // Keys in another order than the route: NestJS sorts them, so do we.
    let answer = nestjs_send(
        &bus.config.queue,
        r#"{"role":"math","cmd":"sum"}"#,
        json!([20, 22]),
    )
    .await;

    assert_eq!(answer, json!({"response": 42}));
    bus.cleanup().await;
}

#[tokio::test]
async fn our_client_sends_to_and_emits_events_at_a_nestjs_server() {
    ensure_installed();
    let bus = Bus::new().await;
    let mut server = tokio::process::Command::new("node")
        .arg(interop_dir().join("server.js"))
        .env("AMQP_URL", amqp_url())
        .env("QUEUE", &bus.config.queue)
        .env("EVENT", "order_placed")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node must be on PATH");
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let next_line = async |lines: &mut tokio::io::Lines<_>| {
        tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the NestJS server said nothing")
            .unwrap()
            .expect("the NestJS server exited")
    };
    assert_eq!(next_line(&mut lines).await, "ready");
    let client = bus.client(Duration::from_secs(10)).await;

    let sum: i64 = client.send("sum", &[4, 5]).await.unwrap();
    client
        .emit(
            "order_placed",
            &json!({"order_id": "o-1", "total_cents": 2500}),
        )
        .await
        .unwrap();
    let event: Value = serde_json::from_str(&next_line(&mut lines).await).unwrap();

    assert_eq!(sum, 9);
    assert_eq!(
        event,
        json!({"pattern": "order_placed", "data": {"order_id": "o-1", "total_cents": 2500}})
    );
    drop(server.stdin.take());
    let _ = tokio::time::timeout(Duration::from_secs(5), server.wait()).await;
    bus.cleanup().await;
}

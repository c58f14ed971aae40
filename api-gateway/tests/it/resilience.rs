//! The gateway when user-service is down, silent, or healthy: a fast, clear
//! answer every time, never a hang.

use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::helpers::{TestApp, UNVERIFIABLE_TOKEN, assert_problem, client};

/// An address nothing listens on: bind a port, then release it.
async fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("https://{addr}")
}

#[tokio::test]
async fn user_service_down_is_503() {
    let app = TestApp::gateway_only(&closed_port_url().await)
        .start()
        .await;

    // A token cannot be verified without the issuer's keys: 503 too.
    let get = client(Some(UNVERIFIABLE_TOKEN))
        .get(app.url(&format!("/users/{}", uuid::Uuid::now_v7())))
        .send()
        .await
        .unwrap();
    let post = app.create_user("Ada", "ada@example.com").await;

    let body = assert_problem(get, 503).await;
    assert!(
        body["detail"].as_str().unwrap().contains("user-service"),
        "{body}"
    );
    assert_problem(post, 503).await;
}

#[tokio::test]
async fn user_service_that_accepts_but_never_answers_is_504() {
    // A peer that completes the TCP handshake and then says nothing: the
    // case only a client-side deadline catches.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", silent.local_addr().unwrap());
    let _held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            sockets.push(socket);
        }
    });
    let app = TestApp::gateway_only(&url)
        .gateway(|gateway| gateway.user_service_timeout = Duration::from_millis(300))
        .start()
        .await;

    let response = client(Some(UNVERIFIABLE_TOKEN))
        .get(app.url(&format!("/users/{}", uuid::Uuid::now_v7())))
        .send()
        .await
        .unwrap();

    let body = assert_problem(response, 504).await;
    assert!(
        body["detail"].as_str().unwrap().contains("in time"),
        "{body}"
    );
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn health_is_200_naming_each_dependency_when_all_are_up(pool: PgPool) {
    let app = TestApp::builder(pool)
        .with_orders()
        .with_notifications()
        .start()
        .await;

    let response = app.http.get(app.url("/health")).send().await.unwrap();

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "up", "{body}");
    for dependency in [
        "user-service",
        "order-service",
        "notification-service",
        "rabbitmq",
    ] {
        assert_eq!(
            body["dependencies"][dependency]["status"], "up",
            "{dependency}: {body}"
        );
    }
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn health_reports_a_service_with_no_consumer_on_its_queue_as_down(pool: PgPool) {
    // user-service only: nobody consumes the orders and notifications queues.
    let app = TestApp::builder(pool).start().await;

    let response = app.http.get(app.url("/health")).send().await.unwrap();

    let body = assert_problem(response, 503).await;
    let dependencies = &body["dependencies"];
    assert_eq!(dependencies["user-service"]["status"], "up", "{body}");
    assert_eq!(dependencies["rabbitmq"]["status"], "up", "{body}");
    for service in ["order-service", "notification-service"] {
        assert_eq!(dependencies[service]["status"], "down", "{body}");
        assert!(dependencies[service].get("detail").is_none(), "{body}");
    }
}

#[tokio::test]
async fn health_is_503_naming_the_dependency_that_is_down() {
    let app = TestApp::gateway_only(&closed_port_url().await)
        .start()
        .await;

    let response = app.http.get(app.url("/health")).send().await.unwrap();

    let body = assert_problem(response, 503).await;
    let user_service = &body["dependencies"]["user-service"];
    assert_eq!(user_service["status"], "down", "{body}");
    // Public: no address or error text says why.
    assert_eq!(user_service.as_object().unwrap().len(), 1, "{body}");
}

use std::time::Duration;

use api_gateway::Config;
use reqwest::{Response, header::CONTENT_TYPE};
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::oneshot;

/// A gateway (and, usually, a user-service behind it). Dropping it shuts
/// both down.
pub(crate) struct TestApp {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    _shutdown: Vec<oneshot::Sender<()>>,
}

impl TestApp {
    /// The whole path: gateway → gRPC → user-service → this test's database.
    pub(crate) async fn spawn(pool: PgPool) -> Self {
        let config = user_service::Config::new("127.0.0.1:0".parse().unwrap());
        let users = user_service::App::with_pool(config, pool).await.unwrap();
        let url = format!("http://{}", users.local_addr());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(users.run_until(async {
            let _ = rx.await;
        }));

        let mut app = Self::spawn_gateway(gateway_config(&url)).await;
        app._shutdown.push(tx);
        app
    }

    /// Only the gateway, with whatever user-service URL the test wants
    /// (a closed port, a silent peer).
    pub(crate) async fn spawn_gateway(config: Config) -> Self {
        // Bound before spawning: no readiness sleep needed.
        let app = api_gateway::App::build(config).await.unwrap();
        let base = format!("http://{}", app.local_addr());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        Self {
            base,
            // A client-side timeout turns a hang into a test failure
            // instead of a stuck run.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap(),
            _shutdown: vec![tx],
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) async fn create_user(&self, name: &str, email: &str) -> Response {
        self.http
            .post(self.url("/users"))
            .json(&serde_json::json!({ "name": name, "email": email }))
            .send()
            .await
            .unwrap()
    }
}

pub(crate) fn gateway_config(user_service_url: &str) -> Config {
    Config::new("127.0.0.1:0".parse().unwrap(), user_service_url)
}

/// Asserts an RFC 9457 problem with `status` and returns its body.
pub(crate) async fn assert_problem(response: Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(content_type, "application/problem+json", "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["type"], "about:blank", "{body}");
    assert!(body["title"].is_string(), "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    body
}

pub(crate) async fn count_users(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(pool)
        .await
        .unwrap()
}

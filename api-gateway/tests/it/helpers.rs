//! What the tests share: [`TestApp`], started by its builder
//! ([`app`]), with the services behind it ([`services`]), and the
//! assertions every file makes.

use std::time::Duration;

use api_gateway::Config;
use reqwest::{Response, header::CONTENT_TYPE};
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::oneshot;

use test_support::databases::OwnDatabase;

use crate::queues::QueueJanitor;

mod app;
mod services;

pub(crate) use services::pki;

/// The admin user-service creates at start in these tests.
pub(crate) const ADMIN_EMAIL: &str = "admin@example.com";
pub(crate) const ADMIN_PASSWORD: &str = "admin password for tests";
/// A well-formed token naming a key no issuer has: the gateway must fetch
/// the issuer's keys to refuse it.
pub(crate) const UNVERIFIABLE_TOKEN: &str = "eyJhbGciOiJFZERTQSIsImtpZCI6InVua25vd24ifQ.e30.c2ln";
/// A password that passes the length check.
pub(crate) const PASSWORD: &str = "correct horse battery";

/// A gateway (and, usually, services behind it), started by
/// [`TestApp::builder`] or [`TestApp::gateway_only`]. Dropping it shuts
/// them all down.
pub(crate) struct TestApp {
    pub(crate) base: String,
    /// Signed in as the admin (once a user-service is there): for tests of
    /// what the routes do, not of who may call them.
    pub(crate) http: reqwest::Client,
    /// No token at all.
    pub(crate) anonymous: reqwest::Client,
    /// The gateway's config as it was started: its queues, and where its
    /// user-service is.
    pub(crate) config: Config,
    /// This test's events exchange, with notification-service.
    pub(crate) events_exchange: Option<String>,
    _shutdown: Vec<oneshot::Sender<()>>,
    _queues: QueueJanitor,
    /// The databases of the services other than the one whose database
    /// the test was given (dropped last, once the services are told to stop).
    users_db: Option<OwnDatabase>,
    notifications_db: Option<OwnDatabase>,
}

impl TestApp {
    /// user-service's database, when this app started one for it.
    pub(crate) fn users_db(&self) -> &PgPool {
        &self
            .users_db
            .as_ref()
            .expect("no user-service database")
            .pool
    }

    /// notification-service's database, when this app started one for it.
    pub(crate) fn notifications_db(&self) -> &PgPool {
        let db = self.notifications_db.as_ref();
        &db.expect("no notification-service database").pool
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path` as the admin, its JSON body (whatever the status).
    pub(crate) async fn get_json(&self, path: &str) -> Value {
        self.get_json_as(&self.http, path).await
    }

    /// `GET path` with `client` (a user's token), its JSON body.
    pub(crate) async fn get_json_as(&self, client: &reqwest::Client, path: &str) -> Value {
        client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub(crate) async fn create_user(&self, name: &str, email: &str) -> Response {
        self.anonymous
            .post(self.url("/users"))
            .json(&serde_json::json!({ "name": name, "email": email, "password": PASSWORD }))
            .send()
            .await
            .unwrap()
    }

    /// `POST /auth/token`: the response, whatever it is.
    pub(crate) async fn log_in(&self, email: &str, password: &str) -> Response {
        self.anonymous
            .post(self.url("/auth/token"))
            .json(&serde_json::json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap()
    }

    /// A bearer token for `email`.
    pub(crate) async fn token(&self, email: &str, password: &str) -> String {
        let response = self.log_in(email, password).await;
        assert_eq!(response.status(), 200, "logging in as {email}");
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// From now on `self.http` calls as the admin.
    async fn sign_in_as_admin(&mut self) {
        let token = self.token(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        self.http = client(Some(&token));
    }
}

/// An HTTP client, sending `token` as its bearer token if given.
pub(crate) fn client(token: Option<&str>) -> reqwest::Client {
    test_support::http_client(token, Duration::from_secs(15))
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

/// Customers (the admin the tests start with does not count).
pub(crate) async fn count_users(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'customer'")
        .fetch_one(pool)
        .await
        .unwrap()
}

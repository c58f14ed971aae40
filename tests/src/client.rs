//! The calls tests make through the gateway, as a client would: customers
//! sign up and log in, the admin tops up their credit, and each customer's
//! requests carry their own token.

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use serde_json::{Value, json};

use crate::{PASSWORD, System};

/// Customers' tokens by user id, shared by every [`Client`] of a system.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tokens(Arc<RwLock<HashMap<String, String>>>);

impl Tokens {
    fn insert(&self, user: &str, token: String) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(user.to_owned(), token);
    }

    /// The customer's token; a user the harness did not sign up has none.
    fn get(&self, user: &str) -> Option<String> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(user)
            .cloned()
    }
}

/// An HTTP client sending `token` as its bearer token, if given.
pub fn http(token: Option<&str>) -> reqwest::Client {
    test_support::http_client(token, Duration::from_secs(30))
}

impl System {
    /// `POST /auth/token`; the access token.
    pub async fn log_in(&self, email: &str, password: &str) -> String {
        let response = self
            .anonymous
            .post(self.url("/auth/token"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "logging in as {email}");
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Signs a customer up and in; their id. Their token is remembered:
    /// [`Self::token`], and every [`Client`] call for them uses it.
    pub async fn customer(&self) -> String {
        let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
        let response = self
            .anonymous
            .post(self.url("/users"))
            .json(&json!({"name": "System Test", "email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "signing up");
        let user: Value = response.json().await.unwrap();
        let user_id = user["id"].as_str().unwrap().to_owned();
        let token = self.log_in(&email, PASSWORD).await;
        self.tokens.insert(&user_id, token);
        user_id
    }

    /// The email `user_id` signed up with, from user-service's database.
    pub async fn email_of(&self, user_id: &str) -> String {
        let users = self.db("users").await;
        sqlx::query_scalar("SELECT email FROM users WHERE id = $1::uuid")
            .bind(user_id)
            .fetch_one(&users)
            .await
            .unwrap()
    }

    /// A customer with `balance_cents` of store credit (topped up by the
    /// admin); their id.
    pub async fn user_with_credit(&self, balance_cents: i64) -> String {
        let user_id = self.customer().await;
        if balance_cents > 0 {
            let response = self
                .http
                .post(self.url(&format!("/users/{user_id}/credit")))
                .header("idempotency-key", format!("seed-{user_id}"))
                .json(&json!({"amount_cents": balance_cents}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "topping up");
        }
        user_id
    }

    /// The token of a customer [`Self::customer`] signed up.
    pub fn token(&self, user_id: &str) -> String {
        self.tokens.get(user_id).expect("a customer of this system")
    }

    /// A client calling as the customer `user_id`.
    pub fn as_customer(&self, user_id: &str) -> reqwest::Client {
        http(Some(&self.token(user_id)))
    }

    /// `GET path` as the customer `user_id`: its JSON body, whatever the
    /// status.
    pub async fn get_json_as(&self, user_id: &str, path: &str) -> Value {
        self.as_customer(user_id)
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `GET /users/{id}` as that user: the status and the content type of
    /// the answer.
    pub async fn get_user(&self, id: &str) -> (u16, Option<String>) {
        let response = self
            .as_customer(id)
            .get(self.url(&format!("/users/{id}")))
            .send()
            .await
            .unwrap();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        (response.status().as_u16(), content_type)
    }

    /// `POST /orders` as `user_id`: the status and the body (an order or a
    /// problem).
    pub async fn place_order(&self, user_id: &str, sku: &str, quantity: u32) -> (u16, Value) {
        self.client().place_order(user_id, sku, quantity).await
    }

    /// A client of the gateway that tasks can own (the system cannot be
    /// shared while a test stops and restarts its processes).
    pub fn client(&self) -> Client {
        Client {
            http: self.anonymous.clone(),
            base: self.url(""),
            tokens: self.tokens.clone(),
        }
    }
}

/// The gateway's address, an HTTP client and the customers' tokens: cheap
/// to clone.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    tokens: Tokens,
}

impl Client {
    /// `POST /orders` as `user_id`: the status and the body (an order or a
    /// problem); a request that got no answer at all (the connection
    /// failed) is status 0.
    pub async fn place_order(&self, user_id: &str, sku: &str, quantity: u32) -> (u16, Value) {
        self.place_order_keyed(user_id, sku, quantity, None).await
    }

    /// [`Self::place_order`] with an `Idempotency-Key`: sent again with the
    /// same key after a 503/504 or no answer, it gets the order's outcome.
    pub async fn place_order_keyed(
        &self,
        user_id: &str,
        sku: &str,
        quantity: u32,
        key: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}/orders", self.base))
            .json(&json!({"user_id": user_id, "items": [{"sku": sku, "quantity": quantity}]}));
        if let Some(token) = self.tokens.get(user_id) {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await;
        match response {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.json().await.unwrap_or(Value::Null))
            }
            Err(e) => (0, json!({"error": e.to_string()})),
        }
    }
}

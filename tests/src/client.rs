//! The calls tests make through the gateway, as a client would.

use serde_json::{Value, json};

use crate::System;

impl System {
    /// Creates a user with `balance_cents` of store credit; its id.
    pub async fn user_with_credit(&self, balance_cents: i64) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let response = self
            .http
            .post(self.url("/users"))
            .json(&json!({"name": "System Test", "email": format!("{id}@example.com")}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "creating a user");
        let user: Value = response.json().await.unwrap();
        let user_id = user["id"].as_str().unwrap().to_owned();
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

    /// `GET /users/{id}`: the status and the content type of the answer.
    pub async fn get_user(&self, id: &str) -> (u16, Option<String>) {
        let response = self
            .http
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

    /// `POST /orders`: the status and the body (an order or a problem).
    pub async fn place_order(&self, user_id: &str, sku: &str, quantity: u32) -> (u16, Value) {
        self.client().place_order(user_id, sku, quantity).await
    }

    /// A client of the gateway that tasks can own (the system cannot be
    /// shared while a test stops and restarts its processes).
    pub fn client(&self) -> Client {
        Client {
            http: self.http.clone(),
            base: self.url(""),
        }
    }
}

/// The gateway's address and an HTTP client: cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    /// `POST /orders`: the status and the body (an order or a problem); a
    /// request that got no answer at all (the connection failed) is status 0.
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

//! The NestJS RabbitMQ wire format (`@nestjs/microservices`, `Transport.RMQ`),
//! byte for byte, so a NestJS service and a Rust service can talk.
//!
//! - request: `{"pattern":P,"data":D,"id":ID}`, properties `reply_to` and
//!   `correlation_id` = ID;
//! - event: `{"pattern":P,"data":D}`, no `reply_to`;
//! - reply: `{"response":R,"isDisposed":true}` or `{"err":E,"isDisposed":true}`,
//!   sent to the request's `reply_to` with its `correlation_id`.
//!
//! Bodies are compact UTF-8 JSON. docs/messaging.md shows captured bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The error NestJS answers when no `@MessagePattern` matches
/// (`NO_MESSAGE_HANDLER` in `@nestjs/microservices/constants`).
pub const NO_MESSAGE_HANDLER: &str =
    "There is no matching message handler defined in the remote service.";

/// The property NestJS and RabbitMQ's direct reply-to use for replies.
pub const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// An incoming request or event. `id` is present on requests only.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Incoming {
    pub pattern: Value,
    #[serde(default)]
    pub data: Value,
    #[serde(default)]
    pub id: Option<String>,
    /// What the AMQP transport carries in message headers, on the
    /// transports whose NestJS envelope is all there is (Redis, TCP): the
    /// deadline, the caller, the trace context. NestJS ignores the member
    /// and never sends it.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
}

#[derive(Serialize)]
struct Outgoing<'a, D: Serialize> {
    pattern: &'a str,
    data: &'a D,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<&'a BTreeMap<String, String>>,
}

/// Encodes a request (`id` given) or an event (`id` absent).
pub fn encode<D: Serialize>(
    pattern: &str,
    data: &D,
    id: Option<&str>,
) -> serde_json::Result<Vec<u8>> {
    encode_with_headers(pattern, data, id, None)
}

/// [`encode`] with an envelope member `headers` (see [`Incoming::headers`]).
pub fn encode_with_headers<D: Serialize>(
    pattern: &str,
    data: &D,
    id: Option<&str>,
    headers: Option<&BTreeMap<String, String>>,
) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&Outgoing {
        pattern,
        data,
        id,
        headers,
    })
}

/// The route of a pattern, as NestJS computes it (`transformPatternToRoute`):
/// a string is itself; an object is its JSON with keys sorted, recursively,
/// and no whitespace; anything else is its JSON.
pub fn route(pattern: &Value) -> String {
    match pattern {
        Value::String(s) => s.clone(),
        other => canonical(other),
    }
}

fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical(&map[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        scalar => scalar.to_string(),
    }
}

/// A reply as it travels back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub err: Option<Value>,
    #[serde(rename = "isDisposed", default)]
    pub is_disposed: bool,
    /// The request's id: NestJS's NATS, Redis and TCP servers answer with
    /// it (their clients match replies by it); on RabbitMQ the correlation
    /// id does that, and it is left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl Reply {
    pub fn ok(response: Value) -> Self {
        Self {
            response: Some(response),
            err: None,
            is_disposed: true,
            id: None,
        }
    }

    pub fn err(err: Value) -> Self {
        Self {
            response: None,
            err: Some(err),
            is_disposed: true,
            id: None,
        }
    }

    /// NestJS treats any non-null `err` as a failure, whatever `response` holds.
    pub fn into_result(self) -> Result<Value, Value> {
        match self.err {
            Some(err) if !err.is_null() => Err(err),
            _ => Ok(self.response.unwrap_or(Value::Null)),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a reply of JSON values serializes")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn request_and_event_bodies_match_nestjs_bytes() {
        let data = json!({"user_id": "u1", "items": [{"sku": "TEE", "quantity": 2}]});
        assert_eq!(
            String::from_utf8(encode("create_order", &data, Some("abc")).unwrap()).unwrap(),
            r#"{"pattern":"create_order","data":{"items":[{"quantity":2,"sku":"TEE"}],"user_id":"u1"},"id":"abc"}"#
        );
        assert_eq!(
            String::from_utf8(encode("order_created", &json!({"n": 1}), None).unwrap()).unwrap(),
            r#"{"pattern":"order_created","data":{"n":1}}"#
        );
    }

    #[test]
    fn reply_bodies_match_nestjs_bytes() {
        assert_eq!(
            String::from_utf8(Reply::ok(json!({"id": 1})).encode()).unwrap(),
            r#"{"response":{"id":1},"isDisposed":true}"#
        );
        assert_eq!(
            String::from_utf8(Reply::err(json!(NO_MESSAGE_HANDLER)).encode()).unwrap(),
            r#"{"err":"There is no matching message handler defined in the remote service.","isDisposed":true}"#
        );
    }

    #[test]
    fn decodes_what_a_nestjs_client_sends() {
        // Captured from @nestjs/microservices 11 ClientRMQ: a 21-char nanoid id.
        let body = br#"{"pattern":"create_order","data":{"user_id":"u1","items":[]},"id":"V1StGXR8_Z5jdHi6B-myT"}"#;
        let incoming: Incoming = serde_json::from_slice(body).unwrap();
        assert_eq!(incoming.id.as_deref(), Some("V1StGXR8_Z5jdHi6B-myT"));
        assert_eq!(route(&incoming.pattern), "create_order");
    }

    #[test]
    fn object_patterns_route_by_sorted_compact_json() {
        let pattern = json!({"role": "order", "cmd": {"z": 1, "a": [2, {"y": 0, "b": 1}]}});
        assert_eq!(
            route(&pattern),
            r#"{"cmd":{"a":[2,{"b":1,"y":0}],"z":1},"role":"order"}"#
        );
    }

    #[test]
    fn any_non_null_err_is_a_failure() {
        let reply: Reply = serde_json::from_str(
            r#"{"err":{"code":"NOT_FOUND"},"response":null,"isDisposed":true}"#,
        )
        .unwrap();
        assert!(reply.into_result().is_err());
        let reply: Reply =
            serde_json::from_str(r#"{"err":null,"response":[1],"isDisposed":true}"#).unwrap();
        assert_eq!(reply.into_result().unwrap(), json!([1]));
    }
}

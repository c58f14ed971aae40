//! Bad text in request bodies (issue 26): a NUL, other control characters,
//! bytes that are not UTF-8 — in each field of each body of every route
//! that takes one, JSON and form alike. The routes come from the gateway's
//! own table and their bodies from its own document, so a new route or a
//! new field is attacked without anyone adding it here. Each request must
//! be a 400 problem+json naming the field, never a 5xx: a NUL that reached
//! Postgres was one (`POST /auth/token` with `username=a%00b`).

use api_gateway::routes::{Access, document, table};
use reqwest::StatusCode;
use serde_json::{Value, json};
use system_tests::{Options, System};

/// What is put in a field, between ordinary characters: as text (escaped
/// in JSON as JSON requires, percent-encoded in a form), or as raw bytes
/// that are not UTF-8.
const DEFECTS: [(&str, &[u8]); 8] = [
    ("NUL", b"\0"),
    ("U+0001", b"\x01"),
    ("line feed", b"\n"),
    ("DEL", b"\x7f"),
    ("U+0085, a C1 control", "\u{85}".as_bytes()),
    ("byte 0xFF", b"\xff"),
    ("a truncated sequence", b"\xc3"),
    ("an encoded surrogate", b"\xed\xa0\x80"),
];

#[tokio::test]
async fn bad_text_in_any_field_of_any_body_is_a_400_naming_the_field() {
    let system = System::start(Options::default()).await;
    let customer = system.customer().await;
    let as_customer = system.as_customer(&customer);
    let document = serde_json::to_value(document()).unwrap();
    let mut tried = Vec::new();

    for route in table() {
        let method = route.method.as_str().to_lowercase();
        let operation = &document["paths"][&route.path][&method];
        let Some(content) = operation["requestBody"]["content"].as_object() else {
            continue;
        };
        // Each route as a caller it lets through, on the customer's own
        // things, so that only the bad field can be why it is refused.
        let caller = match route.access {
            Access::Public => &system.anonymous,
            Access::User => &as_customer,
            Access::Admin => &system.http,
        };
        let url = system.url(&route.path.replace("{id}", &customer));
        for (media_type, media) in content {
            let valid = sample(&document, &media["schema"], &customer);
            for (pointer, field) in fields(&valid, "", "") {
                for (defect, bytes) in DEFECTS {
                    let body = match media_type.as_str() {
                        "application/json" => json_with(&valid, &pointer, bytes),
                        "application/x-www-form-urlencoded" => form_with(&valid, &field, bytes),
                        other => panic!("{} {}: a body of {other}", route.method, route.path),
                    };
                    let response = caller
                        .request(route.method.clone(), &url)
                        .header("content-type", media_type)
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    let at = format!(
                        "{} {} {media_type}: {defect} in {field}",
                        route.method, route.path
                    );
                    let status = response.status();
                    let content_type = response
                        .headers()
                        .get("content-type")
                        .map(|v| v.to_str().unwrap().to_owned());
                    let problem: Value = response.json().await.unwrap_or(Value::Null);
                    assert_eq!(
                        status,
                        StatusCode::BAD_REQUEST,
                        "{at}: {problem}\n{}",
                        system.logs_hint()
                    );
                    assert_eq!(
                        content_type.as_deref(),
                        Some("application/problem+json"),
                        "{at}"
                    );
                    let named = problem["errors"]
                        .as_array()
                        .is_some_and(|errors| errors.iter().any(|e| e["field"] == field.as_str()));
                    assert!(named, "{at}: the problem names the field: {problem}");
                    tried.push(at);
                }
            }
        }
    }
    // JSON: 2 fields of a log-in, 3 of a sign-up, 1 of a top-up, 3 of an
    // order; the form: 5 of a log-in.
    assert!(tried.len() >= 14 * DEFECTS.len(), "{tried:#?}");
}

/// A valid-looking instance of `schema`: every property, each string its
/// example (the customer's id for a UUID), each number its example or
/// minimum, each array one item.
fn sample(document: &Value, schema: &Value, user_id: &str) -> Value {
    let schema = resolve(document, schema);
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds.iter().find(|k| *k != "null").cloned(),
        kind => Some(kind.clone()),
    };
    match kind.as_ref().and_then(Value::as_str) {
        Some("object") => Value::Object(
            schema["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, property)| (name.clone(), sample(document, property, user_id)))
                .collect(),
        ),
        Some("array") => json!([sample(document, &schema["items"], user_id)]),
        Some("string") if schema["format"] == "uuid" => json!(user_id),
        Some("string") => schema.get("example").cloned().unwrap_or_else(|| json!("x")),
        Some("integer" | "number") => schema
            .get("example")
            .or_else(|| schema.get("minimum"))
            .cloned()
            .unwrap_or_else(|| json!(1)),
        other => panic!("no sample for a {other:?}: {schema}"),
    }
}

fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            resolve(document, &document["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// Every leaf of `value`: its JSON pointer and its name as the gateway
/// names a field (`items[0].sku`).
fn fields(value: &Value, pointer: &str, name: &str) -> Vec<(String, String)> {
    match value {
        Value::Object(object) => object
            .iter()
            .flat_map(|(key, item)| {
                let named = if name.is_empty() {
                    key.clone()
                } else {
                    format!("{name}.{key}")
                };
                fields(item, &format!("{pointer}/{key}"), &named)
            })
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .flat_map(|(i, item)| fields(item, &format!("{pointer}/{i}"), &format!("{name}[{i}]")))
            .collect(),
        _ => vec![(pointer.to_owned(), name.to_owned())],
    }
}

/// `valid` as JSON, the field at `pointer` replaced by a string holding
/// `bytes`: as text (serde_json escapes what JSON requires) when they are
/// UTF-8, raw when they are not.
fn json_with(valid: &Value, pointer: &str, bytes: &[u8]) -> Vec<u8> {
    const MARK: &str = "\u{e000}mark\u{e000}";
    let mut body = valid.clone();
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => format!("ok{text}ok"),
        Err(_) => MARK.to_owned(),
    };
    *body.pointer_mut(pointer).unwrap() = json!(text);
    let json = body.to_string();
    match json.split_once(MARK) {
        Some((before, after)) => {
            [before.as_bytes(), b"ok", bytes, b"ok", after.as_bytes()].concat()
        }
        None => json.into_bytes(),
    }
}

/// `valid` as a form, `field`'s value holding `bytes`, percent-encoded.
fn form_with(valid: &Value, field: &str, bytes: &[u8]) -> Vec<u8> {
    let encode = |raw: &[u8]| -> String {
        raw.iter()
            .map(|&b| {
                if b.is_ascii_alphanumeric() {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    valid
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, value)| {
            let value = if name == field {
                [b"ok", bytes, b"ok"].concat()
            } else {
                value.as_str().unwrap().as_bytes().to_vec()
            };
            format!("{}={}", encode(name.as_bytes()), encode(&value))
        })
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

//! The OpenAPI document: that it lists exactly the routes the gateway
//! serves, describes each fully, states the services' real limits, and is
//! what `GET /openapi.json` serves beside a working reference page.
//! (Validation against the OpenAPI 3.1 schema, a Schemathesis run and a
//! real browser are in the system tests: `tests/tests/it/openapi.rs`.)

use std::collections::BTreeSet;

use api_gateway::routes::{self, Access};
use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::TestApp;

fn document() -> Value {
    serde_json::to_value(routes::document()).unwrap()
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every `(METHOD, path, operation)` in the document.
fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                found.push((method.to_uppercase(), path.clone(), operation.clone()));
            }
        }
    }
    found
}

#[test]
fn the_document_lists_exactly_the_routes_of_the_table() {
    let document = document();
    let documented: BTreeSet<(String, String)> = operations(&document)
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    let routed: BTreeSet<(String, String)> = routes::table()
        .into_iter()
        .map(|route| (route.method.to_string(), route.path))
        .collect();
    assert_eq!(documented, routed);
    assert!(routed.len() >= 13, "{routed:?}");
    assert_eq!(document["openapi"], "3.1.0");
}

#[test]
fn every_operation_says_what_it_answers_and_who_may_call_it() {
    let document = document();
    let table = routes::table();
    let mut ids = BTreeSet::new();
    for (method, path, operation) in operations(&document) {
        let at = format!("{method} {path}");
        let route = table
            .iter()
            .find(|r| r.method.as_str() == method && r.path == path)
            .unwrap();
        assert!(operation["summary"].is_string(), "{at}: no summary");
        assert!(operation["tags"][0].is_string(), "{at}: no tag");
        assert!(
            ids.insert(operation["operationId"].as_str().unwrap().to_owned()),
            "{at}: operationId used twice"
        );
        let responses = operation["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|status| status.starts_with('2')),
            "{at}: no success response"
        );
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    response["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{at} {status}: errors are problem+json"
                );
            }
        }
        for status in ["500", "503", "504"] {
            assert!(responses.contains_key(status), "{at}: no {status}");
        }
        let secured = operation["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        assert_eq!(
            secured,
            route.access != Access::Public,
            "{at}: bearer scheme iff protected"
        );
        if route.access != Access::Public {
            assert!(
                responses["401"]["headers"]["WWW-Authenticate"].is_object(),
                "{at}: 401 with its challenge"
            );
        }
        if route.access == Access::Admin {
            assert!(responses.contains_key("403"), "{at}: admins only is a 403");
        }
        if operation.get("requestBody").is_some() {
            for status in ["400", "413", "415", "422"] {
                assert!(responses.contains_key(status), "{at}: no {status}");
            }
        }
    }
    let scheme = &document["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
}

#[test]
fn the_headers_clients_rely_on_are_documented() {
    let document = document();
    let paths = &document["paths"];
    for (path, method) in [("/orders", "post"), ("/users/{id}/credit", "post")] {
        let parameters = paths[path][method]["parameters"].as_array().unwrap();
        assert!(
            parameters
                .iter()
                .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header"),
            "{method} {path}: {parameters:?}"
        );
    }
    for (path, status) in [("/orders", "201"), ("/users", "201")] {
        let headers = &paths[path]["post"]["responses"][status]["headers"];
        assert!(headers["Location"].is_object(), "POST {path}: {headers}");
    }
    let limited = &paths["/auth/token"]["post"]["responses"]["429"];
    assert!(limited["headers"]["Retry-After"].is_object(), "{limited}");
    let forms = &paths["/auth/token"]["post"]["requestBody"]["content"];
    assert!(forms["application/json"].is_object(), "{forms}");
    assert!(
        forms["application/x-www-form-urlencoded"].is_object(),
        "{forms}"
    );
}

/// The limits the document states are the ones the services enforce
/// (`contracts::limits`, written into the schemas by the gateway): a field
/// left out of the gateway's table, or a schema that stops taking it, fails
/// here.
#[test]
fn documented_limits_are_the_services_limits() {
    let document = document();
    let schemas = &document["components"]["schemas"];
    let field = |schema: &str, field: &str| schemas[schema]["properties"][field].clone();
    let number = |value: &Value, key: &str| {
        value[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key} in {value}"))
    };

    let name = field("CreateUserRequest", "name");
    assert_eq!(
        number(&name, "maxLength"),
        contracts::limits::NAME_MAX_CHARS as u64
    );
    let email = field("CreateUserRequest", "email");
    assert_eq!(
        number(&email, "maxLength"),
        contracts::limits::EMAIL_MAX_CHARS as u64
    );
    let password = field("CreateUserRequest", "password");
    assert_eq!(
        number(&password, "minLength"),
        contracts::limits::PASSWORD_MIN_CHARS as u64
    );
    assert_eq!(
        number(&password, "maxLength"),
        contracts::limits::PASSWORD_MAX_CHARS as u64
    );
    let amount = field("TopUpRequest", "amount_cents");
    assert_eq!(
        number(&amount, "maximum"),
        contracts::limits::MAX_AMOUNT_CENTS as u64
    );
    let items = field("CreateOrderRequest", "items");
    assert_eq!(
        number(&items, "maxItems"),
        contracts::limits::MAX_LINES as u64
    );
    let quantity = field("OrderLine", "quantity");
    assert_eq!(
        number(&quantity, "maximum"),
        contracts::limits::MAX_QUANTITY as u64
    );
    let sku = field("OrderLine", "sku");
    assert_eq!(
        number(&sku, "maxLength"),
        contracts::limits::MAX_SKU_CHARS as u64
    );
    let offset = document["paths"]["/users"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "offset")
        .unwrap()["schema"]
        .clone();
    assert_eq!(number(&offset, "maximum"), contracts::limits::MAX_OFFSET);
    let key = document["paths"]["/orders"]["post"]["parameters"][0]["schema"].clone();
    assert_eq!(
        number(&key, "maxLength"),
        contracts::limits::MAX_IDEMPOTENCY_KEY_CHARS as u64
    );
}

/// The typed fields are documented as the strings they were: ids as
/// `format: uuid`, times as `format: date-time`, and an order's status and
/// a user's role as the enums of their wire names.
#[test]
fn typed_fields_keep_their_documented_formats() {
    let document = document();
    let schemas = &document["components"]["schemas"];
    let formats = [
        ("Order", "id", "uuid"),
        ("Order", "user_id", "uuid"),
        ("Order", "created_at", "date-time"),
        ("Notification", "id", "uuid"),
        ("Notification", "user_id", "uuid"),
        ("Notification", "event_id", "uuid"),
        ("Notification", "created_at", "date-time"),
        ("UserResponse", "id", "uuid"),
        ("UserResponse", "created_at", "date-time"),
        ("BalanceResponse", "user_id", "uuid"),
        ("CreateOrderRequest", "user_id", "uuid"),
    ];
    for (schema, field, format) in formats {
        let property = &schemas[schema]["properties"][field];
        assert_eq!(property["format"], format, "{schema}.{field}: {property}");
        assert!(
            property["type"] == "string" || property["type"][0] == "string",
            "{schema}.{field}: {property}"
        );
    }
    let status = &schemas["Order"]["properties"]["status"];
    assert_eq!(
        status["$ref"], "#/components/schemas/OrderStatus",
        "{status}"
    );
    assert_eq!(
        schemas["OrderStatus"]["enum"],
        serde_json::json!(["pending", "confirmed", "rejected"])
    );
    let role = &schemas["UserResponse"]["properties"]["role"];
    assert_eq!(role["$ref"], "#/components/schemas/Role", "{role}");
    assert_eq!(
        schemas["Role"]["enum"],
        serde_json::json!(["customer", "admin"])
    );
}

/// The body extractors refuse control characters in every field of every
/// body (`api_gateway::text`); the document says so on every string a body
/// may hold — a field, or the name or value of one a body leaves open —
/// with the rule's pattern, one of its own, or a format that excludes them.
#[test]
fn every_string_a_body_may_hold_excludes_control_characters() {
    let document = document();
    let mut strings = Vec::new();
    for (method, path, operation) in operations(&document) {
        let Some(content) = operation["requestBody"]["content"].as_object() else {
            continue;
        };
        for (media_type, media) in content {
            let at = format!("{method} {path} {media_type}");
            body_strings(&document, &media["schema"], &at, &mut strings);
        }
    }
    assert!(strings.len() >= 14, "{strings:?}");
    for (at, schema) in strings {
        // The rule's pattern, or one that excludes the same (a name is not
        // blank either), a literal, or a format that excludes them.
        let pattern = schema["pattern"].as_str().unwrap_or_default();
        let described = pattern == api_gateway::text::PATTERN
            || pattern.starts_with(r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f]")
            || pattern == "^password$"
            || ["email", "uuid"].contains(&schema["format"].as_str().unwrap_or_default());
        assert!(described, "{at}: {schema}");
    }
}

/// Every string schema reachable from `schema`, with where it is.
fn body_strings(document: &Value, schema: &Value, at: &str, found: &mut Vec<(String, Value)>) {
    if let Some(name) = schema["$ref"].as_str() {
        let name = name.trim_start_matches("#/components/schemas/");
        return body_strings(
            document,
            &document["components"]["schemas"][name],
            at,
            found,
        );
    }
    let is = |kind: &str| {
        schema["type"] == kind
            || schema["type"]
                .as_array()
                .is_some_and(|t| t.contains(&kind.into()))
    };
    if is("string") {
        found.push((at.to_owned(), schema.clone()));
    }
    if is("object") {
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            body_strings(document, property, &format!("{at}.{name}"), found);
        }
        if schema["additionalProperties"] != false {
            let names = &schema["propertyNames"];
            assert!(names.is_object(), "{at}: open, without propertyNames");
            body_strings(document, names, &format!("{at} (a name)"), found);
            if schema["additionalProperties"].is_object() {
                let values = &schema["additionalProperties"];
                body_strings(document, values, &format!("{at} (a value)"), found);
            }
        }
    }
    if is("array") {
        body_strings(document, &schema["items"], &format!("{at}[]"), found);
    }
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn the_gateway_serves_its_document_and_reference_page(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;

    let served: Value = app.get_json_as(&app.anonymous, "/openapi.json").await;
    assert_eq!(served, document());

    let page = app.anonymous.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("default-src 'self'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // The assets come from the gateway itself, not a CDN.
    assert!(!html.contains("https://"), "{html}");
    for asset in [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-initializer.js",
    ] {
        let response = app
            .anonymous
            .get(app.url(&format!("/docs/{asset}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert!(!response.bytes().await.unwrap().is_empty(), "{asset}");
    }
    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/docs"))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.headers()["location"], "/docs/");
}

/// The other direction: every operation of the document is a route the
/// gateway really serves (no 404 "no resource" or 405 from routing).
#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn every_documented_operation_is_routed(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let id = uuid::Uuid::now_v7().to_string();
    for (method, path, _) in operations(&document()) {
        let url = app.url(&path.replace("{id}", &id));
        let response = app
            .anonymous
            .request(method.parse().unwrap(), url)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        assert_ne!(status, 405, "{method} {path}");
        assert_ne!(
            body["detail"], "no resource at this path",
            "{method} {path}: {status}"
        );
    }
}

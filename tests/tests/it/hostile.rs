//! Hostile HTTP input at the gateway, generated with proptest: malformed
//! JSON, wrong types, missing fields, huge bodies and numbers, zero and
//! negative quantities, non-UUID ids, unicode and SQL-looking strings. Every
//! generated request is invalid by construction (each carries at least one
//! defect), so every answer must be a 4xx problem+json — never a 5xx, never
//! a crash — and nothing may be written.

use proptest::{prelude::*, strategy::ValueTree, test_runner::TestRunner};
use serde_json::{Value, json};
use system_tests::{Options, System, invariants::scalar};

/// Requests per kind of input.
const CASES: usize = 120;

#[tokio::test]
async fn generated_hostile_requests_get_4xx_problems_and_write_nothing() {
    let system = System::start(Options::default()).await;
    let user = system.user_with_credit(100_000).await;
    let customer = system.as_customer(&user);
    let pids: Vec<u32> = system.processes().map(|p| p.pid()).collect();
    // A fixed seed: the same cases on every run, so a red run is reproduced
    // by running it again (a random seed failed once in a full run and could
    // not be replayed).
    let mut runner = TestRunner::deterministic();
    let mut sample = |strategy: BoxedStrategy<Value>| {
        (0..CASES)
            .map(|_| strategy.new_tree(&mut runner).unwrap().current())
            .collect::<Vec<_>>()
    };

    let mut requests: Vec<(reqwest::Method, String, Body)> = Vec::new();
    for body in sample(bad_order(user.clone()).boxed()) {
        requests.push((reqwest::Method::POST, "/orders".into(), Body::Json(body)));
    }
    for body in sample(bad_user().boxed()) {
        requests.push((reqwest::Method::POST, "/users".into(), Body::Json(body)));
    }
    let credit = format!("/users/{user}/credit");
    for body in sample(bad_top_up().boxed()) {
        requests.push((reqwest::Method::POST, credit.clone(), Body::Json(body)));
    }
    // An empty id is no id: `/users/` is the (valid) list of users.
    let id = hostile_string().prop_filter("empty", |s| !s.is_empty());
    for id in sample(id.prop_map(Value::from).boxed()) {
        let id = id.as_str().unwrap_or_default().to_owned();
        for path in [&["users"][..], &["orders"], &["users", "", "orders"]] {
            requests.push((reqwest::Method::GET, encoded(path, &id), Body::None));
        }
    }
    for bytes in sample(
        prop::collection::vec(any::<u8>(), 0..300)
            .prop_map(|b| Value::from(String::from_utf8_lossy(&b).into_owned()))
            .boxed(),
    ) {
        let raw = bytes.as_str().unwrap_or_default().as_bytes().to_vec();
        requests.push((reqwest::Method::POST, "/orders".into(), Body::Raw(raw)));
    }
    // Truncated, too big, and the wrong content type. "Too big" is just over
    // the gateway's 64 KiB limit: much bigger, and the gateway's early 413
    // can reach the client as a reset while it is still sending — correct
    // HTTP, but not an answer this test could check.
    let valid = json!({"user_id": user, "items": [{"sku": "STICKER-PACK", "quantity": 1}]});
    let text = valid.to_string();
    for cut in 0..text.len() {
        requests.push((
            reqwest::Method::POST,
            "/orders".into(),
            Body::Raw(text.as_bytes()[..cut].to_vec()),
        ));
    }
    let huge = format!(
        r#"{{"user_id": "{user}", "items": [], "pad": "{}"}}"#,
        "x".repeat(96 * 1024)
    );
    requests.push((
        reqwest::Method::POST,
        "/orders".into(),
        Body::Raw(huge.into()),
    ));
    requests.push((reqwest::Method::POST, "/orders".into(), Body::Text(text)));

    for (method, path, body) in &requests {
        // As the customer, but top-ups, an admin's: each request reaches the
        // validation it attacks instead of stopping at the access check.
        let caller = if path.ends_with("/credit") {
            &system.http
        } else {
            &customer
        };
        let mut request = caller.request(method.clone(), system.url(path));
        request = match body {
            Body::None => request,
            Body::Json(value) => request.json(value),
            Body::Raw(bytes) => request
                .header("content-type", "application/json")
                .body(bytes.clone()),
            Body::Text(text) => request
                .header("content-type", "text/plain")
                .body(text.clone()),
        };
        let response = request.send().await.unwrap_or_else(|e| {
            panic!(
                "{method} {path} {body:?}: no answer: {e}\n{}",
                system.logs_hint()
            )
        });
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            status.is_client_error() && content_type == "application/problem+json",
            "{method} {path} {body:?} → {status} {content_type}: {}\n{}",
            response.text().await.unwrap_or_default(),
            system.logs_hint()
        );
    }

    // Nothing written, nobody crashed.
    let orders = system.db("orders").await;
    let users = system.db("users").await;
    assert_eq!(scalar(&orders, "SELECT count(*) FROM orders").await, 0);
    assert_eq!(
        scalar(&users, "SELECT count(*) FROM users WHERE role = 'customer'").await,
        1
    );
    assert_eq!(
        scalar(&users, "SELECT count(*) FROM credit_entries").await,
        1
    );
    for (process, pid) in system.processes().zip(&pids) {
        assert_eq!(process.pid(), *pid, "{} restarted", process.name);
    }
    system.wait_healthy(std::time::Duration::from_secs(5)).await;
}

#[derive(Debug)]
enum Body {
    None,
    Json(Value),
    Raw(Vec<u8>),
    Text(String),
}

/// `/a/<id>/b…`: `id` percent-encoded as one path segment where `""` is.
fn encoded(segments: &[&str], id: &str) -> String {
    let mut url = reqwest::Url::parse("http://x/").unwrap();
    {
        let mut path = url.path_segments_mut().unwrap();
        path.clear();
        path.push(segments[0]).push(id);
        for segment in &segments[1..] {
            if !segment.is_empty() {
                path.push(segment);
            }
        }
    }
    url.path().to_owned()
}

fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z0-9-]{0,40}",
        Just("' OR 1=1; DROP TABLE orders; --".to_owned()),
        Just("../../etc/passwd".to_owned()),
        Just(String::new()),
        Just("\u{0}\u{202e}ｕｓｅｒ🙂".to_owned()),
        Just("00000000-0000-0000-0000-00000000000g".to_owned()),
        Just("x".repeat(10_000)),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        hostile_string().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(hostile_string(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Anything a `user_id` must not be: not a string holding a UUID.
fn not_a_uuid() -> impl Strategy<Value = Value> {
    any_json().prop_filter("a UUID string", |v| {
        v.as_str().is_none_or(|s| uuid::Uuid::parse_str(s).is_err())
    })
}

/// Anything a quantity or amount must not be: not an integer in 1..=1000.
fn bad_count() -> impl Strategy<Value = Value> {
    prop_oneof![
        (i64::MIN..=0).prop_map(Value::from),
        (1_001..=i64::MAX).prop_map(Value::from),
        ((i64::MAX as u64 + 1)..=u64::MAX).prop_map(Value::from),
        any::<f64>()
            .prop_filter("whole", |f| f.fract() != 0.0)
            .prop_map(Value::from),
        any_json().prop_filter("a number", |v| !v.is_number()),
    ]
}

/// A create-order body with at least one defect.
fn bad_order(user: String) -> impl Strategy<Value = Value> {
    let item = |sku: Value, quantity: Value| json!({"sku": sku, "quantity": quantity});
    let good_item = item(json!("STICKER-PACK"), json!(1));
    prop_oneof![
        not_a_uuid().prop_map({
            let good_item = good_item.clone();
            move |id| json!({"user_id": id, "items": [good_item]})
        }),
        prop_oneof![
            any_json().prop_filter("an array", |v| !v.is_array()),
            Just(json!([]))
        ]
        .prop_map({
            let user = user.clone();
            move |items| json!({"user_id": user, "items": items})
        }),
        bad_count().prop_map({
            let user = user.clone();
            move |q| json!({"user_id": user, "items": [item(json!("STICKER-PACK"), q)]})
        }),
        prop_oneof![
            hostile_string().prop_map(Value::from),
            any_json().prop_filter("a string", |v| !v.is_string())
        ]
        .prop_map({
            let user = user.clone();
            move |sku| json!({"user_id": user, "items": [item(sku, json!(1))]})
        }),
        // Someone else's order: 403 for a customer.
        Just(json!({"user_id": uuid::Uuid::now_v7(), "items": [good_item.clone()]})),
        Just(json!({"user_id": user})),
        any_json().prop_filter("an object", |v| !v.is_object()),
    ]
}

/// A create-user body whose email cannot be valid.
fn bad_user() -> impl Strategy<Value = Value> {
    let bad_email = prop_oneof![
        hostile_string()
            .prop_filter("has @", |s| !s.contains('@'))
            .prop_map(Value::from),
        any_json().prop_filter("a string", |v| !v.is_string()),
    ];
    (any_json(), bad_email).prop_map(
        |(name, email)| json!({"name": name, "email": email, "password": system_tests::PASSWORD}),
    )
}

/// A top-up whose amount cannot be valid.
fn bad_top_up() -> impl Strategy<Value = Value> {
    prop_oneof![
        bad_count().prop_filter("a valid amount", |v| {
            // Amounts have no 1000 cap: only non-positive and non-integers.
            v.as_i64().is_none_or(|n| n <= 0)
        }),
        Just(json!({})),
    ]
    .prop_map(|amount| {
        if amount.is_object() {
            amount
        } else {
            json!({"amount_cents": amount})
        }
    })
}

//! The security suite: every attack docs/security.md's threat model names,
//! tried against the real binaries, and each refusal asserted.
//!
//! - every route that is not public, taken from the gateway's own route
//!   table (a new route is attacked without anyone remembering to), without
//!   a token and with each kind of forged token: 401 + `WWW-Authenticate`;
//! - customer A against customer B's user, orders, notifications and
//!   credit, and an order in B's name: 404 or 403, and nothing changes;
//! - log-in brute force: 429 with `Retry-After`;
//! - slowloris: a connection that never finishes its headers is cut, and
//!   so is a keep-alive connection left idle as long;
//! - made-up HTTP methods: one `_OTHER` metric series, not one each;
//! - overload: past the concurrency limit, 503 with `Retry-After` at once.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use api_gateway::routes::{Access, table};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use system_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, Options, System, invariants::scalar};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(sub: &str, role: &str, iss: &str, aud: &str, exp: u64) -> Value {
    json!({"sub": sub, "role": role, "iss": iss, "aud": aud, "iat": now(), "exp": exp, "jti": "t"})
}

fn sign(header: &Header, claims: &Value, pem: &str) -> String {
    let key = user_service::tokens::encoding_key(pem).unwrap();
    jsonwebtoken::encode(header, claims, &key).unwrap()
}

/// Unpadded base64url (RFC 7515 §2), as JWTs are encoded.
fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn b64(value: &Value) -> String {
    base64_url(value.to_string().as_bytes())
}

/// Every kind of token that must not get in, for a real admin's id (so
/// only the token's flaw can be why it is refused), by name.
async fn forged_tokens(system: &System) -> Vec<(&'static str, String)> {
    let jwks: Value = system
        .anonymous
        .get(system.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
    let admin = system.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let users = system.db("users").await;
    let admin_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users WHERE role = 'admin'")
        .fetch_one(&users)
        .await
        .unwrap();
    let admin_id = admin_id.to_string();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.clone());
    let hour = now() + 3600;
    let good = claims(&admin_id, "admin", "rust-shop", "rust-shop-api", hour);
    let real_key = &system.signing_key;
    let other_key = user_service::tokens::generate_pem();
    // Header `alg: none`, no signature (RFC 7519 §6): the oldest trick.
    let unsigned = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": kid})),
        b64(&good)
    );
    // The public key used as an HMAC secret ("algorithm confusion").
    let public_x = jwks["keys"][0]["x"].as_str().unwrap().to_owned();
    let mut hs256 = Header::new(Algorithm::HS256);
    hs256.kid = Some(kid.clone());
    let confused = jsonwebtoken::encode(
        &hs256,
        &good,
        &EncodingKey::from_secret(public_x.as_bytes()),
    )
    .unwrap();
    let signed_payload = admin.rsplit_once('.').unwrap().0;
    vec![
        ("alg none", unsigned),
        ("HS256 with the public key as secret", confused),
        ("signed by another key", sign(&header, &good, &other_key)),
        (
            "signature of another token",
            format!("{signed_payload}.{}", base64_url(b"forged")),
        ),
        (
            "expired",
            sign(
                &header,
                &claims(
                    &admin_id,
                    "admin",
                    "rust-shop",
                    "rust-shop-api",
                    now() - 120,
                ),
                real_key,
            ),
        ),
        (
            "another audience",
            sign(
                &header,
                &claims(&admin_id, "admin", "rust-shop", "other-api", hour),
                real_key,
            ),
        ),
        (
            "another issuer",
            sign(
                &header,
                &claims(&admin_id, "admin", "evil", "rust-shop-api", hour),
                real_key,
            ),
        ),
        ("not valid yet (`nbf` in an hour)", {
            let mut early = good.clone();
            early["nbf"] = json!(hour);
            sign(&header, &early, real_key)
        }),
        ("not a JWT", "not.a.token".into()),
        ("garbage", "%%%".into()),
    ]
}

#[tokio::test]
async fn every_protected_route_refuses_a_missing_or_forged_token() {
    let system = System::start(Options::default()).await;
    let routes = table();
    let protected: Vec<_> = routes
        .iter()
        .filter(|r| r.access != Access::Public)
        .collect();
    assert!(protected.len() >= 6, "the table lists the API: {routes:?}");
    let forged = forged_tokens(&system).await;
    let id = uuid::Uuid::now_v7().to_string();

    for route in &protected {
        let path = route.path.replace("{id}", &id);
        let mut attempts = vec![("no token", None)];
        attempts.extend(
            forged
                .iter()
                .map(|(name, token)| (*name, Some(token.as_str()))),
        );
        for (name, token) in attempts {
            let mut request = system
                .anonymous
                .request(route.method.clone(), system.url(&path))
                .json(&json!({"amount_cents": 100, "items": []}));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            let challenge = response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            let status = response.status();
            let body = response.text().await.unwrap();
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{} {path} with {name}: {body}",
                route.method
            );
            let challenge = challenge.unwrap_or_default();
            assert!(
                challenge.starts_with("Bearer realm=\"rust-shop\""),
                "{challenge}"
            );
            if token.is_some() {
                assert!(
                    challenge.contains("error=\"invalid_token\""),
                    "{name}: {challenge}"
                );
            }
        }
    }
    // Another scheme is no bearer token either.
    let basic = system
        .anonymous
        .get(system.url("/users"))
        .header("authorization", "Basic YWRtaW46YWRtaW4=")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    // And the public routes are public.
    for route in routes
        .iter()
        .filter(|r| r.access == Access::Public && r.method == Method::GET)
    {
        let status = system
            .anonymous
            .get(system.url(&route.path))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::OK, "{} {}", route.method, route.path);
    }
    let users = system.db("users").await;
    assert_eq!(
        scalar(&users, "SELECT count(*) FROM credit_entries").await,
        0
    );
}

#[tokio::test]
async fn a_customer_cannot_reach_another_customers_things() {
    let system = System::start(Options::default()).await;
    let (ada, bob) = (
        system.user_with_credit(10_000).await,
        system.user_with_credit(10_000).await,
    );
    let (status, order) = system.place_order(&bob, "MUG-STEEL", 1).await;
    assert_eq!(status, 201, "{order}");
    let bobs_order = order["id"].as_str().unwrap();
    let as_ada = system.as_customer(&ada);
    let get = |path: String| {
        let request = as_ada.get(system.url(&path));
        async move { request.send().await.unwrap() }
    };

    let mut refused = Vec::new();
    for path in [
        format!("/users/{bob}"),
        format!("/users/{bob}/orders"),
        format!("/users/{bob}/notifications"),
        format!("/orders/{bobs_order}"),
    ] {
        let response = get(path.clone()).await;
        refused.push((path, response.status().as_u16()));
    }
    let list = get("/users?offset=0".into()).await.status();
    let credit = as_ada
        .post(system.url(&format!("/users/{ada}/credit")))
        .json(&json!({"amount_cents": 100_000_000}))
        .send()
        .await
        .unwrap()
        .status();
    let in_bobs_name = as_ada
        .post(system.url("/orders"))
        .json(&json!({"user_id": bob, "items": [{"sku": "MUG-STEEL", "quantity": 1}]}))
        .send()
        .await
        .unwrap()
        .status();
    let own = get(format!("/users/{ada}")).await.status();

    for (path, status) in &refused {
        assert_eq!(*status, 404, "{path}: existence is not revealed");
    }
    assert_eq!(list, 403, "the user list is admin-only");
    assert_eq!(credit, 403, "a customer cannot mint credit, even their own");
    assert_eq!(in_bobs_name, 403, "an order in someone else's name");
    assert_eq!(own, 200);
    let users = system.db("users").await;
    let bob_balance =
        sqlx::query_scalar::<_, i64>("SELECT balance_cents FROM users WHERE id = $1::uuid")
            .bind(&bob)
            .fetch_one(&users)
            .await
            .unwrap();
    assert_eq!(
        bob_balance,
        10_000 - 1_250,
        "Bob paid for his one order only"
    );
    let orders = system.db("orders").await;
    assert_eq!(scalar(&orders, "SELECT count(*) FROM orders").await, 1);
}

#[tokio::test]
async fn the_edge_holds_brute_force_slowloris_method_floods_and_overload() {
    let system = System::start(Options {
        env: vec![
            ("HEADER_READ_TIMEOUT".into(), "1s".into()),
            ("MAX_CONCURRENT_REQUESTS".into(), "4".into()),
            ("ORDER_SERVICE_TIMEOUT".into(), "3s".into()),
        ],
        ..Options::default()
    })
    .await;
    // A connection per request: with a 1 s header-read timeout the gateway
    // closes idle keep-alive connections too, and a pooled one reused at
    // that moment would fail a request for the test's reason, not the
    // gateway's.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    // Brute force on one account from one address: the limit per account
    // and address (5 a minute).
    let victim = system.customer().await;
    let email = system.email_of(&victim).await;
    // (signing up logged the customer in once: four guesses remain)
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let response = http
            .post(system.url("/auth/token"))
            .json(&json!({"email": email, "password": "guessing, guessing"}))
            .send()
            .await
            .unwrap();
        let retry_after = response.headers().get("retry-after").cloned();
        statuses.push((response.status().as_u16(), retry_after.is_some()));
    }
    assert_eq!(
        statuses,
        [
            (401, false),
            (401, false),
            (401, false),
            (401, false),
            (429, true)
        ]
    );

    // Slowloris: headers that never end. The connection is cut after
    // HEADER_READ_TIMEOUT (1 s), not held.
    let mut slow = tokio::net::TcpStream::connect(system.gateway.listen_addr.unwrap())
        .await
        .unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: shop\r\nX-Slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buffer = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut buffer)).await;
    assert!(
        closed.is_ok(),
        "the slow connection was still open after 10 s"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cut after {:?}",
        started.elapsed()
    );

    // An idle keep-alive connection is closed after the same timeout: the
    // clock runs whenever the gateway waits for a request (hyper), which is
    // why clients must drop idle connections sooner (docs/configuration.md).
    let mut idle = tokio::net::TcpStream::connect(system.gateway.listen_addr.unwrap())
        .await
        .unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: shop\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 9];
    idle.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 ", "the request on it was answered");
    let answered = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        // The rest of the response, then the end of the stream.
        let mut rest = Vec::new();
        idle.read_to_end(&mut rest).await
    })
    .await;
    assert!(
        closed.is_ok(),
        "the idle keep-alive connection was still open after 10 s"
    );
    // Kept alive at first (not closed with its response), cut once idle.
    let idle_for = answered.elapsed();
    assert!(
        idle_for > Duration::from_millis(500) && idle_for < Duration::from_secs(5),
        "idle connection closed after {idle_for:?}"
    );

    // Made-up methods: each is a 4xx, and all share one metric series.
    for i in 0..50 {
        let method = Method::from_bytes(format!("BREW{i}").as_bytes()).unwrap();
        let status = http
            .request(method, system.url("/products"))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_client_error(), "{status}");
    }
    let metrics = system.gateway.metrics().await;
    let methods: std::collections::BTreeSet<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("http_requests_total{"))
        .filter_map(|l| l.split("method=\"").nth(1)?.split('"').next())
        .collect();
    assert!(methods.contains("_OTHER"), "{methods:?}");
    // The brute force shows on the gateway's metrics.
    assert!(
        metrics.contains(r#"login_attempts_total{outcome="limited"} 1"#),
        "{metrics}"
    );
    assert!(
        methods.iter().all(|m| !m.starts_with("BREW")),
        "{methods:?}"
    );

    // Overload: order-service paused, four requests hold every slot; a
    // fifth, to another route (the limit is the gateway's, not a route's),
    // is shed at once with 503 and Retry-After.
    for order_service in &system.order_services {
        order_service.signal("STOP");
    }
    let mut held = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let request = http.get(system.url("/products"));
        held.spawn(async move { request.send().await.map(|r| r.status().as_u16()) });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let shed = http
        .get(system.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    let shed_after = started.elapsed();
    let shed_status = shed.status();
    let retry_after = shed.headers().get("retry-after").cloned();
    for order_service in &system.order_services {
        order_service.signal("CONT");
    }
    let held: Vec<_> = held.join_all().await;
    assert_eq!(shed_status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry_after.unwrap(), "1");
    assert!(
        shed_after < Duration::from_secs(1),
        "shed after {shed_after:?}"
    );
    assert!(held.iter().all(|r| r.is_ok()), "{held:?}");
}

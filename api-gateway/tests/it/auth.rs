//! Log-in and tokens at the gateway: the JSON and OAuth forms of
//! `POST /auth/token`, no account enumeration, the rate limits, the JWKS,
//! and tokens from an external OpenID Connect issuer.

use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{PASSWORD, TestApp, assert_problem, client};

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn a_token_comes_from_json_or_the_oauth_password_form(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    app.create_user("Ada", "ada@example.com").await;

    let json = app.log_in("ADA@example.com", PASSWORD).await;
    let form = app
        .anonymous
        .post(app.url("/auth/token"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=password&username=ada%40example.com&password={}&scope=openid",
            PASSWORD.replace(' ', "+")
        ))
        .send()
        .await
        .unwrap();

    for response in [json, form] {
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer", "{body}");
        assert_eq!(body["expires_in"], 900, "{body}");
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(token.split('.').count(), 3, "a JWS: {token}");
    }
    let other_grant = app
        .anonymous
        .post(app.url("/auth/token"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&username=a&password=b")
        .send()
        .await
        .unwrap();
    assert_problem(other_grant, 400).await;
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn a_wrong_password_and_an_unknown_email_get_the_same_401(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    app.create_user("Ada", "ada@example.com").await;

    let wrong = app.log_in("ada@example.com", "not her password").await;
    let unknown = app.log_in("nobody@example.com", PASSWORD).await;

    let challenge =
        |r: &reqwest::Response| r.headers()[WWW_AUTHENTICATE].to_str().unwrap().to_owned();
    let (wrong_challenge, unknown_challenge) = (challenge(&wrong), challenge(&unknown));
    let (wrong, unknown) = (
        assert_problem(wrong, 401).await,
        assert_problem(unknown, 401).await,
    );
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["error"], "invalid_grant", "{wrong}");
    assert_eq!(wrong_challenge, unknown_challenge);
    assert!(
        wrong_challenge.starts_with("Bearer realm=\"rust-shop\""),
        "{wrong_challenge}"
    );
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn guessing_one_accounts_password_is_cut_off_with_429(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    app.create_user("Ada", "ada@example.com").await;

    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            app.log_in("ada@example.com", "guess guess guess")
                .await
                .status()
                .as_u16(),
        );
    }
    let limited = app.log_in("Ada@Example.com", PASSWORD).await;

    assert_eq!(statuses, [401; 5]);
    let retry_after: u64 = limited.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_problem(limited, 429).await;
    // Another account is not locked by it.
    app.create_user("Bob", "bob@example.com").await;
    assert_eq!(app.log_in("bob@example.com", PASSWORD).await.status(), 200);
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn one_address_trying_many_accounts_is_cut_off_with_429(pool: PgPool) {
    let app = TestApp::builder(pool)
        .gateway(|gateway| gateway.login_limit_per_address = 3)
        // Signing in as the admin would take one of the three attempts.
        .not_signed_in()
        .start()
        .await;

    let mut statuses = Vec::new();
    for i in 0..4 {
        let email = format!("victim{i}@example.com");
        statuses.push(app.log_in(&email, PASSWORD).await.status().as_u16());
    }

    assert_eq!(statuses, [401, 401, 401, 429]);
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn the_jwks_publishes_public_keys_only(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;

    let response = app
        .anonymous
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/jwk-set+json"
    );
    let jwks: Value = response.json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "OKP", "{jwks}");
    assert_eq!(key["crv"], "Ed25519", "{jwks}");
    assert_eq!(key["alg"], "EdDSA", "{jwks}");
    assert!(key["kid"].is_string() && key["x"].is_string(), "{jwks}");
    assert!(key.get("d").is_none(), "no private part: {jwks}");
}

/// A test-local OpenID Connect issuer: its own key, its JWKS on a port of
/// its own.
struct Issuer {
    key: EncodingKey,
    kid: String,
    jwks_url: String,
}

impl Issuer {
    async fn start() -> Self {
        let pem = user_service::tokens::generate_pem();
        let key = user_service::tokens::encoding_key(&pem).unwrap();
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::EdDSA).unwrap();
        let kid = "test-issuer-key-1".to_owned();
        jwk.common.key_id = Some(kid.clone());
        let jwks = json!({ "keys": [jwk] });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let jwks_url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let router = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || async move { axum::Json(jwks) }),
        );
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { key, kid, jwks_url }
    }

    fn token(&self, claims: Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.key).unwrap()
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn tokens_of_an_external_issuer_are_accepted_when_configured(pool: PgPool) {
    let issuer = Issuer::start().await;
    let app = TestApp::builder(pool)
        .gateway(|gateway| {
            gateway.auth.issuer = "https://issuer.test/realms/shop".into();
            gateway.auth.audience = "shop-api".into();
            gateway.auth.jwks_url = Some(issuer.jwks_url.clone());
        })
        .start()
        .await;
    let user: Value = app
        .create_user("Ada", "ada@example.com")
        .await
        .json()
        .await
        .unwrap();
    let id = user["id"].as_str().unwrap();
    let claims = |iss: &str, aud: &str, exp: u64| json!({"sub": id, "iss": iss, "aud": aud, "iat": now(), "exp": exp});
    let get = |token: String| {
        let request = client(Some(&token)).get(app.url(&format!("/users/{id}")));
        async move { request.send().await.unwrap() }
    };
    let hour = now() + 3600;

    let external =
        get(issuer.token(claims("https://issuer.test/realms/shop", "shop-api", hour))).await;
    let other_audience = get(issuer.token(claims(
        "https://issuer.test/realms/shop",
        "rust-shop-api",
        hour,
    )))
    .await;
    let built_in = app.token("ada@example.com", PASSWORD).await;
    let built_in = get(built_in).await;

    assert_eq!(external.status(), 200, "{:?}", external.text().await);
    assert_problem(other_audience, 401).await;
    // The built-in issuer's tokens are not the configured issuer's.
    assert_problem(built_in, 401).await;
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn an_issuer_that_is_down_is_asked_once_per_interval_not_once_per_request(pool: PgPool) {
    // A JWKS endpoint that fails, counting how often it is asked.
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_url = format!("http://{}/jwks", listener.local_addr().unwrap());
    let counter = asked.clone();
    let router = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || async move {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            axum::http::StatusCode::INTERNAL_SERVER_ERROR
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    let app = TestApp::builder(pool)
        .gateway(|gateway| gateway.auth.jwks_url = Some(jwks_url))
        .start()
        .await;
    let caller = client(Some(crate::helpers::UNVERIFIABLE_TOKEN));

    let started = std::time::Instant::now();
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let response = caller.get(app.url("/users/me")).send().await.unwrap();
        statuses.push(response.status().as_u16());
    }

    assert_eq!(statuses, [503; 20], "the issuer is down: 503, not 401");
    // One attempt per second at most (MIN_REFRESH_INTERVAL), whatever the
    // number of requests.
    let asked = asked.load(std::sync::atomic::Ordering::SeqCst);
    let allowed = started.elapsed().as_secs() as usize + 1;
    assert!(
        asked <= allowed,
        "asked {asked} times in {:?}",
        started.elapsed()
    );
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn after_a_key_rotation_tokens_of_both_keys_are_accepted(pool: PgPool) {
    let (old_key, new_key) = (
        user_service::tokens::generate_pem(),
        user_service::tokens::generate_pem(),
    );
    let own_pool = || PgPool::connect_with((*pool.connect_options()).clone());
    // Before: user-service signs with the old key.
    let old_app = TestApp::builder(own_pool().await.unwrap())
        .user_service(|users| users.tokens.signing_key = Some(old_key.clone().into()))
        .start()
        .await;
    old_app.create_user("Ada", "ada@example.com").await;
    let old_token = old_app.token("ada@example.com", PASSWORD).await;
    drop(old_app);
    // After: the new key signs, the old one is still published.
    let app = TestApp::builder(own_pool().await.unwrap())
        .user_service(|users| {
            users.tokens.signing_key = Some(new_key.into());
            users.tokens.previous_key = Some(old_key.into());
        })
        .start()
        .await;
    let new_token = app.token("ada@example.com", PASSWORD).await;

    let kid = |token: &str| jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    assert_ne!(kid(&old_token), kid(&new_token));
    for token in [&old_token, &new_token] {
        let me = client(Some(token))
            .get(app.url("/users/me"))
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), 200, "token of key {}", kid(token));
    }
}

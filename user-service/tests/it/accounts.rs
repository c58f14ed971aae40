//! Accounts, tokens and access: who may call what (the table in
//! proto/user.proto), log-in without account enumeration, the first admin.

use contracts::{
    identity::{Caller, Role},
    user as pb,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use secrecy::SecretString;
use sqlx::PgPool;
use tonic::Code;
use user_service::config::AdminAccount;
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp};

async fn sign_up(app: &mut TestApp, email: &str) -> Uuid {
    let user = app
        .as_caller(None)
        .create(pb::CreateUser {
            name: "Customer".into(),
            email: email.into(),
            password: PASSWORD.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(user.role, "customer");
    user.id.parse().unwrap()
}

fn customer(user_id: Uuid) -> Option<Caller> {
    Some(Caller {
        user_id,
        role: Role::Customer,
    })
}

async fn token(app: &TestApp, email: &str, password: &str) -> Result<String, tonic::Status> {
    app.as_caller(None)
        .issue_token(pb::Credentials {
            email: email.into(),
            password: password.into(),
        })
        .await
        .map(|r| r.into_inner().access_token)
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn a_customer_reads_only_itself_and_no_admin_operation(pool: PgPool) {
    let mut app = TestApp::spawn(pool).await;
    let (ada, bob) = (
        sign_up(&mut app, "ada@example.com").await,
        sign_up(&mut app, "bob@example.com").await,
    );
    let mut as_ada = app.as_caller(customer(ada));

    let own = as_ada
        .find_one(pb::UserById {
            id: ada.to_string(),
        })
        .await;
    let other = as_ada
        .find_one(pb::UserById {
            id: bob.to_string(),
        })
        .await;
    let list = as_ada.find_all(pb::ListUsers::default()).await;
    let top_up = as_ada
        .top_up(pb::CreditChange {
            user_id: ada.to_string(),
            amount_cents: 100_000,
            idempotency_key: String::new(),
        })
        .await;
    let anonymous = app
        .as_caller(None)
        .find_one(pb::UserById {
            id: ada.to_string(),
        })
        .await;

    assert!(own.is_ok());
    let other = other.unwrap_err();
    assert_eq!(other.code(), Code::NotFound, "another's user looks absent");
    assert_eq!(other.message(), format!("no user with id {bob}"));
    assert_eq!(list.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(top_up.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(anonymous.unwrap_err().code(), Code::Unauthenticated);
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn log_in_issues_a_verifiable_token_and_refuses_alike_wrong_password_and_unknown_email(
    pool: PgPool,
) {
    let mut app = TestApp::spawn(pool.clone()).await;
    let ada = sign_up(&mut app, "ada@example.com").await;

    let issued = token(&app, "ADA@example.com", PASSWORD).await.unwrap();
    let wrong = token(&app, "ada@example.com", "not the password").await;
    let unknown = token(&app, "nobody@example.com", PASSWORD).await;
    let jwks = app
        .as_caller(None)
        .get_jwks(pb::JwksRequest {})
        .await
        .unwrap()
        .into_inner()
        .json;

    let jwks: JwkSet = serde_json::from_str(&jwks).unwrap();
    let kid = jsonwebtoken::decode_header(&issued).unwrap().kid.unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["rust-shop-api"]);
    validation.set_issuer(&["rust-shop"]);
    let key = DecodingKey::from_jwk(jwks.find(&kid).unwrap()).unwrap();
    let claims = jsonwebtoken::decode::<serde_json::Value>(&issued, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], ada.to_string());
    assert_eq!(claims["role"], "customer");

    let (wrong, unknown) = (wrong.unwrap_err(), unknown.unwrap_err());
    assert_eq!(wrong.code(), Code::Unauthenticated);
    assert_eq!(
        (wrong.code(), wrong.message()),
        (unknown.code(), unknown.message()),
        "nothing tells an unknown email from a wrong password"
    );
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(ada)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert!(!stored.contains(PASSWORD));
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn a_short_password_is_refused_naming_the_field(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let refused = app
        .as_caller(None)
        .create(pb::CreateUser {
            name: "Ada".into(),
            email: "ada@example.com".into(),
            password: "too short".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().contains("password: must be 12 to 128"),
        "{}",
        refused.message()
    );
    assert!(
        !refused.message().contains("too short"),
        "the password is not echoed"
    );
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn the_first_admin_is_created_once_and_its_password_follows_the_environment(pool: PgPool) {
    let admin = |password: &str| {
        let mut config = user_service::Config::new("127.0.0.1:0".parse().unwrap());
        config.admin_account = Some(AdminAccount {
            email: "root@example.com".into(),
            password: SecretString::from(password.to_owned()),
        });
        config
    };
    // Each start gets its own pool: a service closes its pool when it stops.
    let own_pool = || PgPool::connect_with((*pool.connect_options()).clone());
    let first =
        TestApp::spawn_config(own_pool().await.unwrap(), admin("first admin password")).await;
    let first_token = token(&first, "root@example.com", "first admin password").await;
    drop(first);
    let second =
        TestApp::spawn_config(own_pool().await.unwrap(), admin("second admin password")).await;

    assert!(first_token.is_ok());
    assert!(
        token(&second, "root@example.com", "second admin password")
            .await
            .is_ok()
    );
    assert!(
        token(&second, "root@example.com", "first admin password")
            .await
            .is_err()
    );
    let admins: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'admin'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(admins, 1);
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn a_new_admin_email_adds_an_admin_and_leaves_the_previous_one_an_admin(pool: PgPool) {
    let admin = |email: &str| {
        let mut config = user_service::Config::new("127.0.0.1:0".parse().unwrap());
        config.admin_account = Some(AdminAccount {
            email: email.into(),
            password: SecretString::from("an admin password".to_owned()),
        });
        config
    };
    let own_pool = || PgPool::connect_with((*pool.connect_options()).clone());
    drop(TestApp::spawn_config(own_pool().await.unwrap(), admin("old@example.com")).await);

    let new = TestApp::spawn_config(own_pool().await.unwrap(), admin("new@example.com")).await;

    // Configuration only ever promotes: the previous admin keeps its role
    // (and its password) until someone demotes it — docs/security.md says how.
    let admins: Vec<String> =
        sqlx::query_scalar("SELECT email FROM users WHERE role = 'admin' ORDER BY email")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(admins, ["new@example.com", "old@example.com"]);
    assert!(
        token(&new, "old@example.com", "an admin password")
            .await
            .is_ok()
    );
}

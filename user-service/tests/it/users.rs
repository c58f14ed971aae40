use contracts::user as pb;
use sqlx::PgPool;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::TestApp;

fn create(name: &str, email: &str) -> pb::CreateUser {
    pb::CreateUser {
        name: name.into(),
        email: email.into(),
        password: crate::helpers::PASSWORD.into(),
    }
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn create_then_find_one_returns_the_stored_user(pool: PgPool) {
    let mut app = TestApp::spawn(pool).await;

    let created = app
        .users
        .create(create(" Ada Lovelace ", "Ada@Example.com"))
        .await
        .unwrap()
        .into_inner();
    let found = app
        .users
        .find_one(pb::UserById {
            id: created.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();

    assert_eq!(found, created);
    assert_eq!(found.name, "Ada Lovelace", "name is trimmed");
    assert_eq!(found.email, "Ada@Example.com", "email keeps its case");
    let id = uuid::Uuid::parse_str(&found.id).unwrap();
    assert_eq!(id.get_version_num(), 7, "ids are UUIDv7");
    assert!(chrono::DateTime::parse_from_rfc3339(&found.created_at).is_ok());
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn find_one_of_an_unknown_id_is_not_found(pool: PgPool) {
    let mut app = TestApp::spawn(pool).await;

    let status = app
        .users
        .find_one(pb::UserById {
            id: uuid::Uuid::now_v7().to_string(),
        })
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::NotFound);
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn find_one_of_a_malformed_id_is_invalid_argument_naming_the_field(pool: PgPool) {
    let mut app = TestApp::spawn(pool).await;

    let status = app
        .users
        .find_one(pb::UserById { id: "42".into() })
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::InvalidArgument);
    let violations = status.get_details_bad_request().unwrap().field_violations;
    assert_eq!(violations[0].field, "id");
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn invalid_input_lists_every_bad_field(pool: PgPool) {
    let mut app = TestApp::spawn(pool).await;

    let status = app
        .users
        .create(create("", "not-an-email"))
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> = status
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["name", "email"]);
    assert!(status.message().contains("email"), "{}", status.message());
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn duplicate_email_differing_only_in_case_already_exists(pool: PgPool) {
    let mut app = TestApp::spawn(pool.clone()).await;
    app.users
        .create(create("Ada", "ada@example.com"))
        .await
        .unwrap();

    let status = app
        .users
        .create(create("Ada Again", "ADA@example.COM"))
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::AlreadyExists);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn concurrent_creates_with_one_email_make_exactly_one_user(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;

    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..8 {
        let mut client = app.users.clone();
        attempts.spawn(async move {
            client
                .create(create(&format!("Racer {i}"), "race@example.com"))
                .await
        });
    }
    let results = attempts.join_all().await;

    let created = results.iter().filter(|r| r.is_ok()).count();
    let taken = results
        .iter()
        .filter(|r| matches!(r, Err(s) if s.code() == Code::AlreadyExists))
        .count();
    assert_eq!((created, taken), (1, 7));
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn find_all_pages_in_creation_order_and_caps_the_limit(pool: PgPool) {
    let mut app = TestApp::spawn(pool.clone()).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let user = app
            .users
            .create(create(&format!("User {i}"), &format!("u{i}@example.com")))
            .await
            .unwrap()
            .into_inner();
        ids.push(user.id);
    }

    let first = app
        .users
        .find_all(pb::ListUsers {
            limit: 2,
            offset: 0,
        })
        .await
        .unwrap();
    let rest = app
        .users
        .find_all(pb::ListUsers {
            limit: 2,
            offset: 2,
        })
        .await
        .unwrap();
    let paged: Vec<String> = first
        .into_inner()
        .users
        .into_iter()
        .chain(rest.into_inner().users)
        .map(|u| u.id)
        .collect();
    assert_eq!(paged, ids);

    // 150 more rows straight into the table: a huge limit is capped at 100.
    sqlx::query(
        "INSERT INTO users (id, name, email)
         SELECT gen_random_uuid(), 'Bulk', 'bulk' || n || '@example.com'
         FROM generate_series(1, 150) AS n",
    )
    .execute(&pool)
    .await
    .unwrap();
    let capped = app
        .users
        .find_all(pb::ListUsers {
            limit: 10_000,
            offset: 0,
        })
        .await
        .unwrap();
    assert_eq!(capped.into_inner().users.len(), 100);
}

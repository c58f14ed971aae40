//! Password hashing as a bounded resource (`hash_pool.rs`): calls past the
//! queue are refused at once, log-ins keep the hashers sign-ups may not
//! take, a taken email costs no hash, and a cancelled call's hash keeps its
//! hasher until it ends. The tests fill the pool by holding places in it
//! (`TestApp::hashing`), so nothing depends on how long a hash takes.

use std::{num::NonZeroUsize, time::Duration};

use contracts::user as pb;
use sqlx::PgPool;
use tokio::task::JoinSet;
use tonic::{Code, Status};
use tonic_types::StatusExt;
use user_service::{
    Config,
    config::HashingConfig,
    hash_pool::{Admission, Purpose},
};

use crate::helpers::{Client, PASSWORD, TestApp};

/// A safety net, not a measurement: what the tests wait for happens in
/// milliseconds, or never if the pool is wrong.
const PATIENCE: Duration = Duration::from_secs(30);

fn hashers(concurrency: usize, queue: usize) -> Config {
    let mut config = Config::new("127.0.0.1:0".parse().unwrap());
    config.hashing = HashingConfig {
        concurrency: NonZeroUsize::new(concurrency).unwrap(),
        queue,
        // Long: a call in the queue waits for the place the test frees.
        wait: PATIENCE,
    };
    config
}

async fn sign_up(mut client: Client, email: &str) -> Result<pb::User, Status> {
    // The gateway's deadline, far away: a refusal must not be its expiry.
    let mut request = tonic::Request::new(pb::CreateUser {
        name: "Customer".into(),
        email: email.into(),
        password: PASSWORD.into(),
    });
    request.set_timeout(PATIENCE);
    client
        .create(request)
        .await
        .map(tonic::Response::into_inner)
}

async fn log_in(mut client: Client, email: &str) -> Result<pb::AccessToken, Status> {
    client
        .issue_token(pb::Credentials {
            email: email.into(),
            password: PASSWORD.into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Every place `purpose` may take while the queue is empty.
async fn fill(app: &TestApp, purpose: Purpose) -> Vec<Admission> {
    let mut held = Vec::new();
    while let Ok(place) = app.hashing.admit(purpose).await {
        held.push(place);
    }
    held
}

fn assert_busy(status: &Status) {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(
        status.get_details_retry_info().and_then(|r| r.retry_delay),
        Some(Duration::from_secs(1)),
        "says when to try again"
    );
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn sign_ups_past_the_queue_are_refused_at_once_not_after_the_deadline(pool: PgPool) {
    let app = TestApp::spawn_config(pool, hashers(1, 2)).await;
    // The one hasher is busy (with a log-in) until the test lets it go.
    let busy = app.hashing.admit(Purpose::LogIn).await.unwrap();

    let mut calls = JoinSet::new();
    for i in 0..10 {
        let (client, email) = (app.as_caller(None), format!("c{i}@example.com"));
        calls.spawn(async move { sign_up(client, &email).await });
    }
    // One sign-up holds the sign-up share and waits for the hasher, two wait
    // in the queue; the other seven are refused while the hasher is still
    // busy, so none of them waited for it.
    let refused = tokio::time::timeout(PATIENCE, async {
        let mut refused = Vec::new();
        while refused.len() < 7 {
            refused.push(calls.join_next().await.unwrap().unwrap().unwrap_err());
        }
        refused
    })
    .await
    .expect("sign-ups past the queue waited instead of being refused");
    let stats = app.hashing.stats();
    drop(busy);
    let admitted = calls.join_all().await;

    refused.iter().for_each(assert_busy);
    assert_eq!(stats.refused.sign_up, 7);
    assert_eq!(stats.waiting.sign_up, 2);
    assert!(admitted.iter().all(Result::is_ok), "{admitted:?}");
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn log_ins_keep_their_share_while_sign_ups_fill_theirs(pool: PgPool) {
    let app = TestApp::spawn_config(pool, hashers(2, 0)).await;
    sign_up(app.as_caller(None), "ada@example.com")
        .await
        .unwrap();

    let sign_ups = fill(&app, Purpose::SignUp).await;
    let another_sign_up = sign_up(app.as_caller(None), "bob@example.com").await;
    let known = log_in(app.as_caller(None), "ada@example.com").await;
    let unknown = log_in(app.as_caller(None), "nobody@example.com").await;

    assert_eq!(sign_ups.len(), 1, "sign-ups may take half the hashers");
    assert_busy(&another_sign_up.unwrap_err());
    assert!(known.is_ok(), "{known:?}");
    assert_eq!(unknown.unwrap_err().code(), Code::Unauthenticated);
    assert_eq!(app.hashing.stats().hashed.log_in, 2);
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn a_log_in_for_an_unknown_email_takes_a_hasher_like_a_known_one(pool: PgPool) {
    let app = TestApp::spawn_config(pool, hashers(2, 0)).await;
    sign_up(app.as_caller(None), "ada@example.com")
        .await
        .unwrap();

    let log_ins = fill(&app, Purpose::LogIn).await;
    let known = log_in(app.as_caller(None), "ada@example.com").await;
    let unknown = log_in(app.as_caller(None), "nobody@example.com").await;

    assert_eq!(log_ins.len(), 2, "log-ins may take every hasher");
    // The dummy verification is bounded like a real one, and refused alike:
    // the refusal tells nothing about the email either.
    let (known, unknown) = (known.unwrap_err(), unknown.unwrap_err());
    assert_busy(&known);
    assert_eq!(
        (known.code(), known.message()),
        (unknown.code(), unknown.message())
    );
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn a_taken_email_is_answered_before_any_hash(pool: PgPool) {
    let app = TestApp::spawn_config(pool, hashers(2, 0)).await;
    sign_up(app.as_caller(None), "ada@example.com")
        .await
        .unwrap();
    let hashed = app.hashing.stats().hashed.sign_up;

    // Every hasher busy: a call that needed one would be refused.
    let busy = fill(&app, Purpose::LogIn).await;
    let again = sign_up(app.as_caller(None), "ADA@example.com").await;
    drop(busy);

    assert_eq!(again.unwrap_err().code(), Code::AlreadyExists);
    let stats = app.hashing.stats();
    assert_eq!(stats.hashed.sign_up, hashed, "no hash for a taken email");
    assert_eq!(stats.refused.sign_up, 0);
}

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn a_cancelled_calls_hash_keeps_its_hasher_until_it_ends(pool: PgPool) {
    let app = TestApp::spawn_config(pool.clone(), hashers(1, 4)).await;
    // A stored hash of a hundred passes (what a stronger configuration, or
    // another service, wrote): its verification takes about a second, long
    // enough to cancel its call in the middle.
    sqlx::query(
        "INSERT INTO users (id, name, email, password_hash) \
         VALUES ($1, 'Slow', 'slow@example.com', $2)",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(
        "$argon2id$v=19$m=19456,t=100,p=1$Y2FuY2VsbGVkIHNhbHQgMTY\
         $AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    )
    .execute(&pool)
    .await
    .unwrap();
    let slow = tokio::spawn(log_in(app.as_caller(None), "slow@example.com"));
    tokio::time::timeout(PATIENCE, async {
        while app.hashing.stats().running == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the slow verification started");

    // The client goes away (RST_STREAM): the server drops the call, not
    // the hash running for it.
    slow.abort();
    let _ = slow.await;
    let next = sign_up(app.as_caller(None), "ada@example.com").await;

    assert!(next.is_ok(), "{next:?}");
    let stats = app.hashing.stats();
    assert_eq!(stats.hashed.log_in, 1, "the cancelled call's hash ran");
    assert_eq!(stats.running, 0);
    assert_eq!(
        stats.buffers, 1,
        "the next hash ran only after the cancelled one: one hasher, one buffer"
    );
}

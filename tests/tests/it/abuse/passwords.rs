//! What costs a password hash: sign-ups and log-ins, from one address.

use std::time::Instant;

use serde_json::json;
use system_tests::{Options, System};
use tokio::task::JoinSet;

use super::{ATTACKER, CUSTOMER, client_from};

#[tokio::test]
async fn a_sign_up_flood_from_one_address_is_refused_at_once_and_log_ins_go_on() {
    let system = System::start(Options {
        env: vec![("SIGNUP_LIMIT_PER_ADDRESS".into(), "10".into())],
        ..Options::default()
    })
    .await;
    let customer_id = system.customer().await;
    let email = system.email_of(&customer_id).await;

    let attacker = client_from(ATTACKER, None);
    let mut flood = JoinSet::new();
    for i in 0..200 {
        let request = attacker.post(system.url("/users")).json(&json!({
            "name": "Flood",
            "email": format!("flood{i}-{}@example.com", uuid::Uuid::new_v4().simple()),
            "password": "correct horse battery staple",
        }));
        flood.spawn(async move {
            let started = Instant::now();
            let status = request
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            (status, started.elapsed())
        });
    }
    // The customer logs in from elsewhere, throughout.
    let customer = client_from(CUSTOMER, None);
    let mut log_ins = Vec::new();
    for _ in 0..5 {
        let response = customer
            .post(system.url("/auth/token"))
            .json(&json!({"email": email, "password": system_tests::PASSWORD}))
            .send()
            .await
            .unwrap();
        log_ins.push(response.status().as_u16());
    }
    let flood = flood.join_all().await;

    assert_eq!(log_ins, [200; 5]);
    let created = flood.iter().filter(|(s, _)| *s == 201).count();
    let refused: Vec<_> = flood
        .iter()
        .filter(|(s, _)| *s == 429 || *s == 503)
        .collect();
    assert!(created <= 10, "{created} sign-ups got through");
    assert_eq!(created + refused.len(), 200, "{flood:?}");
    let slowest_refusal = refused.iter().map(|(_, took)| *took).max().unwrap();
    eprintln!(
        "{} refused, the slowest after {slowest_refusal:?}",
        refused.len()
    );
}

#[tokio::test]
async fn wrong_passwords_from_one_address_do_not_lock_the_owner_out_from_another() {
    let system = System::start(Options::default()).await;
    let ada = system.customer().await;
    let email = system.email_of(&ada).await;

    let attacker = client_from(ATTACKER, None);
    let mut statuses = Vec::new();
    for _ in 0..100 {
        let response = attacker
            .post(system.url("/auth/token"))
            .json(&json!({"email": email, "password": "guessing, guessing"}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    let owner = client_from(CUSTOMER, None)
        .post(system.url("/auth/token"))
        .json(&json!({"email": email, "password": system_tests::PASSWORD}))
        .send()
        .await
        .unwrap();

    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 5);
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 95);
    assert_eq!(owner.status(), 200, "the owner was locked out");
}

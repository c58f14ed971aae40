//! What costs a password hash: sign-ups and log-ins, from one address.

use std::time::{Duration, Instant};

use serde_json::json;
use system_tests::{Options, System};
use tokio::task::JoinSet;

use super::{ATTACKER, CUSTOMER, client_from};

/// 200 sign-ups at once from [`ATTACKER`], each with a fresh email: each
/// one's status (0: no answer) and how long it took.
fn sign_up_flood(system: &System) -> JoinSet<(u16, Duration)> {
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
            let status = request.send().await.map(|r| r.status().as_u16());
            (status.unwrap_or(0), started.elapsed())
        });
    }
    flood
}

#[tokio::test]
async fn a_sign_up_flood_from_one_address_is_refused_at_once_and_log_ins_go_on() {
    let system = System::start(Options {
        env: vec![("SIGNUP_LIMIT_PER_ADDRESS".into(), "10".into())],
        ..Options::default()
    })
    .await;
    let customer_id = system.customer().await;
    let email = system.email_of(&customer_id).await;

    let flood = sign_up_flood(&system);
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

/// A process's resident memory, from `/proc/<pid>/status` (`VmRSS`), in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap();
    kib / 1024.0
}

#[tokio::test]
async fn a_sign_up_flood_past_the_gateway_is_bounded_by_the_hash_pool_in_time_and_memory() {
    // As if from many addresses: the gateway lets them all through (no
    // share per client to speak of), and user-service's pool of two hashers
    // is what holds.
    let system = System::start(Options {
        env: vec![
            ("PASSWORD_HASH_CONCURRENCY".into(), "2".into()),
            ("MAX_CONCURRENT_REQUESTS_PER_CLIENT".into(), "1000".into()),
        ],
        ..Options::default()
    })
    .await;
    let customer_id = system.customer().await;
    let email = system.email_of(&customer_id).await;
    let pid = system.user_services[0].pid();
    let idle = rss_mib(pid);

    let sampling = tokio::spawn(async move {
        let mut peak: f64 = 0.0;
        for _ in 0..200 {
            peak = peak.max(rss_mib(pid));
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        peak
    });
    let flood = sign_up_flood(&system);
    let customer = client_from(CUSTOMER, None);
    let log_in = customer
        .post(system.url("/auth/token"))
        .json(&json!({"email": email, "password": system_tests::PASSWORD}))
        .send()
        .await
        .unwrap()
        .status();
    let flood: Vec<u16> = flood.join_all().await.into_iter().map(|(s, _)| s).collect();
    let peak = sampling.await.unwrap();
    let after = rss_mib(pid);

    // Every sign-up was answered: created, or refused (503, the pool full).
    assert!(flood.iter().all(|s| *s == 201 || *s == 503), "{flood:?}");
    assert_eq!(log_in, 200);
    let created = flood.iter().filter(|s| **s == 201).count();
    eprintln!(
        "{created} created, {} refused; user-service RSS: idle {idle:.1} MiB, \
         peak {peak:.1} MiB, after {after:.1} MiB",
        200 - created
    );
    // Compose gives it 128 MiB for two hashers (deploy/tests/k8s/sizing.rs);
    // hashing adds at most one 19 MiB buffer per hasher, kept for reuse.
    assert!(peak < 128.0, "peak {peak:.1} MiB");
    assert!(
        after <= idle + 2.0 * 19.0 + 8.0,
        "idle {idle:.1}, after {after:.1} MiB"
    );
}

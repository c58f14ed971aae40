//! Resources sized for what the services hold: user-service's password
//! hashers (`user-service/src/hash_pool.rs`) each take a core and 19 MiB
//! while they hash, so the CPU and memory limits in Kubernetes and compose
//! follow `PASSWORD_HASH_CONCURRENCY`, which both set.

use serde_json::Value;

use crate::manifests::{base, container, env, find, read};

/// Argon2id's working memory per hasher (OWASP's 19 MiB).
const HASHER_MIB: f64 = 19.0;
/// user-service besides its hashers: 32 MiB measured idle (docs/security.md,
/// "Measured"), and room for the calls in flight.
const BASE_MIB: f64 = 48.0;

#[test]
fn user_service_has_a_core_and_19_mib_per_password_hasher() {
    let docs = base();
    let d = find(&docs, "Deployment", "user-service").unwrap();
    let hashers: f64 = env(&docs, d)
        .get("PASSWORD_HASH_CONCURRENCY")
        .expect("the Deployment sets PASSWORD_HASH_CONCURRENCY")
        .resolve(&docs)
        .parse()
        .unwrap();
    let resources = &container(d)["resources"];
    let needed = BASE_MIB + hashers * HASHER_MIB;
    assert!(
        cores(&resources["limits"]["cpu"]) >= hashers,
        "{}: a CPU limit below {hashers} hashers: {resources}",
        d.id()
    );
    for level in ["requests", "limits"] {
        let memory = mebibytes(&resources[level]["memory"]);
        assert!(
            memory >= needed,
            "{}: {level}.memory {memory} MiB, {hashers} hashers need {needed}",
            d.id()
        );
    }

    let compose: Value = serde_norway::from_str(&read("docker-compose.yml")).unwrap();
    let service = &compose["services"]["user-service"];
    let hashers: f64 = service["environment"]["PASSWORD_HASH_CONCURRENCY"]
        .as_str()
        .expect("compose sets PASSWORD_HASH_CONCURRENCY")
        .parse()
        .unwrap();
    assert!(
        cores(&service["cpus"]) >= hashers,
        "compose's user-service: cpus below {hashers} hashers"
    );
    let memory = mebibytes(&service["mem_limit"]);
    let needed = BASE_MIB + hashers * HASHER_MIB;
    assert!(
        memory >= needed,
        "compose's user-service: mem_limit {memory} MiB, {hashers} hashers need {needed}"
    );
}

/// A CPU quantity: `2`, `"2"`, `"1.5"`, `"500m"`.
fn cores(quantity: &Value) -> f64 {
    if let Some(n) = quantity.as_f64() {
        return n;
    }
    let text = quantity.as_str().unwrap_or_else(|| panic!("no CPU limit"));
    match text.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().unwrap() / 1000.0,
        None => text.parse().unwrap(),
    }
}

/// A memory quantity in MiB: Kubernetes' `96Mi`, `1Gi`, compose's `128m`,
/// `1g`.
fn mebibytes(quantity: &Value) -> f64 {
    let text = quantity
        .as_str()
        .unwrap_or_else(|| panic!("no memory limit"));
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().unwrap();
    match unit {
        "Mi" | "m" | "M" => number,
        "Gi" | "g" | "G" => number * 1024.0,
        other => panic!("{text}: unit {other:?}"),
    }
}

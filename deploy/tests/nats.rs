//! deploy/nats/nats.conf: each account may publish and subscribe to exactly
//! the subjects its service sends or serves — the patterns of
//! shared/contracts/src/patterns.rs, as messaging::router::subject names them
//! — and nats-server accepts the file. (The system tests run it:
//! tests/tests/it/transports.rs.)

#![allow(clippy::unwrap_used)]

use std::{
    collections::{BTreeMap, BTreeSet},
    process::Command,
};

use contracts::patterns::{
    HEALTH_CHECK, NOTIFICATION_SERVICE_PATTERNS, NOTIFICATIONS_QUEUE, ORDER_SERVICE_PATTERNS,
    ORDERS_QUEUE,
};
use deploy::{read, root};
use messaging::router::subject;

const CONF: &str = "deploy/nats/nats.conf";

/// What one account may do, as the file says it.
#[derive(Debug, Default)]
struct Permissions {
    publish: BTreeSet<String>,
    publish_denies_all: bool,
    subscribe: BTreeSet<String>,
    allow_responses: bool,
}

/// The users of the `authorization` block, by name: a reader of this file's
/// own layout (one `user:` per block, lists of quoted subjects), not a
/// general NATS config parser.
fn accounts() -> BTreeMap<String, Permissions> {
    let text = read(CONF);
    let text: String = text
        .lines()
        .map(|line| line.split('#').next().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    let mut accounts = BTreeMap::new();
    for block in text.split("user: ").skip(1) {
        let name = block.lines().next().unwrap().trim().to_owned();
        let list = |key: &str| -> (BTreeSet<String>, bool) {
            let Some(start) = block.find(&format!("{key}: ")) else {
                return (BTreeSet::new(), false);
            };
            let rest = &block[start + key.len() + 2..];
            if rest.starts_with("{ deny: [\">\"] }") {
                return (BTreeSet::new(), true);
            }
            let end = rest.find(']').unwrap();
            let subjects = rest[..end]
                .split('"')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect();
            (subjects, false)
        };
        let (publish, publish_denies_all) = list("publish");
        let (subscribe, _) = list("subscribe");
        let allow_responses = block.contains("allow_responses: true");
        accounts.insert(
            name,
            Permissions {
                publish,
                publish_denies_all,
                subscribe,
                allow_responses,
            },
        );
    }
    accounts
}

/// The subjects a service serves on NATS.
fn served(queue: &str, patterns: &[&str]) -> BTreeSet<String> {
    patterns
        .iter()
        .chain([&HEALTH_CHECK])
        .map(|pattern| subject(queue, pattern))
        .collect()
}

#[test]
fn each_account_may_do_exactly_what_its_service_does() {
    let accounts = accounts();
    let orders = served(ORDERS_QUEUE, &ORDER_SERVICE_PATTERNS);
    let notifications = served(NOTIFICATIONS_QUEUE, &NOTIFICATION_SERVICE_PATTERNS);
    assert_eq!(
        accounts.keys().collect::<Vec<_>>(),
        ["api-gateway", "notification-service", "order-service"],
        "{CONF}: the accounts"
    );

    let gateway = &accounts["api-gateway"];
    let sends: BTreeSet<String> = orders.union(&notifications).cloned().collect();
    assert_eq!(gateway.publish, sends, "{CONF}: what the gateway may send");
    assert_eq!(
        gateway.subscribe,
        BTreeSet::from(["_INBOX.>".to_owned()]),
        "{CONF}: the gateway hears its replies only"
    );

    for (service, serves) in [
        ("order-service", &orders),
        ("notification-service", &notifications),
    ] {
        let account = &accounts[service];
        assert_eq!(&account.subscribe, serves, "{CONF}: what {service} serves");
        assert!(
            account.publish_denies_all && account.publish.is_empty(),
            "{CONF}: {service} may publish nothing"
        );
        assert!(
            account.allow_responses,
            "{CONF}: {service} must answer requests"
        );
    }
}

#[test]
fn nats_server_accepts_the_file() {
    let binary = std::env::var("NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
    let output = Command::new(&binary)
        .arg("-c")
        .arg(root().join(CONF))
        .arg("-t")
        .envs([
            ("API_GATEWAY_NATS_PASSWORD", "gateway-password"),
            ("ORDER_SERVICE_NATS_PASSWORD", "order-password"),
            (
                "NOTIFICATION_SERVICE_NATS_PASSWORD",
                "notification-password",
            ),
        ])
        .output()
        .unwrap_or_else(|e| panic!("{binary} (the NATS server the README asks for): {e}"));
    assert!(
        output.status.success(),
        "{CONF}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

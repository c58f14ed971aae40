//! Compose ships RabbitMQ 4; the tests run this machine's 3.10
//! (docs/testing.md, "Server versions"). RabbitMQ 4 removed what 3.10 still
//! allows and this code must not rely on: transient (non-durable)
//! non-exclusive queues, and global QoS (a prefetch shared by a channel's
//! consumers). A whole system, after an order and a notifications read —
//! every queue declared, every consumer started, the reply path used — is
//! checked through the broker itself.

use system_tests::{Options, System};
use test_support::rabbitmqctl;

#[tokio::test]
async fn the_system_uses_nothing_rabbitmq_4_removed() {
    let system = System::start(Options::default()).await;
    let user = system.user_with_credit(100_000).await;
    let (status, _) = system.place_order(&user, "STICKER-PACK", 1).await;
    assert_eq!(status, 201);
    let notifications = system.get_json_as(&user, "/notifications").await;
    assert!(notifications.is_array() || notifications.is_object());
    let vhost = system.vhost.name.as_str();

    let queues = rabbitmqctl(&[
        "list_queues",
        "-p",
        vhost,
        "name",
        "durable",
        "exclusive",
        "--no-table-headers",
    ]);
    let queues: Vec<Vec<&str>> = queues
        .lines()
        .map(|l| l.split_whitespace().collect())
        .filter(|words: &Vec<&str>| words.len() == 3)
        .collect();
    assert!(
        queues.len() >= 4,
        "the system's queues (requests, events, dead letters): {queues:?}"
    );
    for queue in &queues {
        let (durable, exclusive) = (queue[1] == "true", queue[2] == "true");
        assert!(
            durable || exclusive,
            "{}: a transient non-exclusive queue, which RabbitMQ 4 refuses",
            queue[0]
        );
    }

    let channels = rabbitmqctl(&[
        "list_channels",
        "vhost",
        "consumer_count",
        "global_prefetch_count",
        "--no-table-headers",
    ]);
    let ours: Vec<Vec<&str>> = channels
        .lines()
        .map(|l| l.split_whitespace().collect())
        .filter(|words: &Vec<&str>| words.len() == 3 && words[0] == vhost)
        .collect();
    assert!(
        ours.iter().any(|c| c[1] != "0"),
        "the services' consumers are on channels of {vhost}: {channels}"
    );
    for channel in &ours {
        assert_eq!(
            channel[2], "0",
            "a channel with a global prefetch, which RabbitMQ 4 no longer has: {channel:?}"
        );
    }
}

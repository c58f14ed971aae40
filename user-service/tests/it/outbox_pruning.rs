//! The outbox does not grow forever: the relay deletes published events once
//! they are past their retention, and nothing else.

use std::{collections::HashSet, time::Duration};

use messaging::{AmqpConfig, EventPublisher, outbox::Relay};
use sqlx::PgPool;
use test_support::amqp_url;

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn the_relay_prunes_published_events_past_their_retention_and_nothing_else(pool: PgPool) {
    // Event ids are UUIDv7: an id minted two hours ago is a two-hour-old row.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let minted_ago = |ago_ms: u128, n: u128| uuid::Uuid::from_u128(((now_ms - ago_ms) << 80) | n);
    let two_hours = 2 * 60 * 60 * 1000;
    let rows = [
        (minted_ago(two_hours, 1), true, "old and published: pruned"),
        (
            minted_ago(two_hours, 2),
            false,
            "old but never published: kept",
        ),
        (minted_ago(1000, 3), true, "published a second ago: kept"),
    ];
    for (id, published, _) in &rows {
        sqlx::query(
            "INSERT INTO outbox (id, name, payload, published_at)
             VALUES ($1, 'user_created', '{}', CASE WHEN $2 THEN now() END)",
        )
        .bind(id)
        .bind(published)
        .execute(&pool)
        .await
        .unwrap();
    }
    let publisher = EventPublisher::start(
        AmqpConfig::new(amqp_url()),
        "unused",
        Duration::from_secs(1),
    );
    let relay = Relay::new(
        pool.clone(),
        publisher,
        Duration::from_secs(1),
        Default::default(),
    )
    .with_retention(Duration::from_secs(60 * 60));

    assert_eq!(relay.prune().await.unwrap(), 1);
    assert_eq!(relay.prune().await.unwrap(), 0, "idempotent");
    let left: HashSet<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM outbox")
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    for (id, _, what) in &rows[1..] {
        assert!(left.contains(id), "{what}");
    }
    assert!(!left.contains(&rows[0].0), "{}", rows[0].2);
}

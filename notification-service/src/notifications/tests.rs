//! The group commit's statement against a real database.

#![allow(clippy::unwrap_used)]

use super::*;

fn confirmed(event_id: Uuid, user_id: Uuid) -> Pending {
    Pending::new(event_id, "order_confirmed", user_id, "s".into(), "b".into())
}

#[sqlx::test(migrator = "crate::MIGRATOR")]
async fn a_batch_records_each_new_event_once_and_says_which_were_new(pool: PgPool) {
    let user = Uuid::now_v7();
    let (done_before, a, b) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    assert_eq!(
        record_all(&pool, &[confirmed(done_before, user)])
            .await
            .unwrap(),
        [true]
    );
    let batch = [
        confirmed(a, user),
        confirmed(done_before, user),
        confirmed(b, user),
        // The same event twice in one batch (a redelivery beside its
        // first delivery): the first occurrence is the new one.
        confirmed(a, user),
    ];
    assert_eq!(
        record_all(&pool, &batch).await.unwrap(),
        [true, false, true, false]
    );
    let per_event: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT event_id, count(*) FROM notifications GROUP BY event_id ORDER BY event_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut expected = vec![(done_before, 1), (a, 1), (b, 1)];
    expected.sort();
    assert_eq!(per_event, expected);
    let claims: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(claims, 3);
}

#[sqlx::test(migrator = "crate::MIGRATOR")]
async fn concurrent_writers_through_the_recorder_record_each_event_once(pool: PgPool) {
    let recorder = recorder(&pool);
    let user = Uuid::now_v7();
    let events: Vec<Uuid> = (0..100).map(|_| Uuid::now_v7()).collect();
    // Each event written twice, all at once: batches form behind the
    // first write, with duplicates inside them and across them.
    let mut writes = tokio::task::JoinSet::new();
    for &event_id in events.iter().chain(&events) {
        let recorder = recorder.clone();
        writes.spawn(async move { recorder.write(confirmed(event_id, user)).await });
    }
    let mut new = 0;
    while let Some(write) = writes.join_next().await {
        new += usize::from(write.unwrap().unwrap());
    }
    assert_eq!(new, events.len(), "each event is new exactly once");
    let (notifications, distinct): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT event_id) FROM notifications")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((notifications, distinct), (100, 100));
}

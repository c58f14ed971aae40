//! The outbox table this service's migrations make is the one the outbox
//! module defines and its statements are checked against
//! (`messaging::outbox::SCHEMA`, docs/outbox.md).

use sqlx::PgPool;

#[sqlx::test(migrator = "user_service::MIGRATOR")]
async fn the_migrated_outbox_is_the_outbox_modules_table(pool: PgPool) {
    test_support::schema::assert_table_matches(&pool, "outbox", messaging::outbox::SCHEMA).await;
}

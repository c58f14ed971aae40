//! Whether a table a service's migrations made is the table a module
//! defines: for a module that owns a table each service creates in its own
//! database (the outbox, `messaging::outbox::SCHEMA`), so the module's
//! statements, checked against its definition, run on every service's.

use sqlx::{Connection, PgPool};

/// The columns (name, type, nullability, default), constraints and indexes
/// of `table` as `migrated` holds it, in its `public` schema; panics when
/// they differ from those `definition` makes. The definition is applied in
/// a schema of its own in the same database, dropped afterwards.
pub async fn assert_table_matches(migrated: &PgPool, table: &str, definition: &str) {
    let reference = format!("reference_{}", uuid::Uuid::new_v4().simple());
    let mut conn = migrated.acquire().await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    sqlx::raw_sql(&format!(
        "CREATE SCHEMA {reference}; SET LOCAL search_path TO {reference};"
    ))
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::raw_sql(definition).execute(&mut *tx).await.unwrap();
    let expected = shape(&mut tx, &reference, table).await;
    let actual = shape(&mut tx, "public", table).await;
    // Rolled back: the reference schema goes with it.
    tx.rollback().await.unwrap();
    assert!(
        !expected.is_empty(),
        "the definition makes no table {table}"
    );
    assert_eq!(
        actual, expected,
        "{table}: the migrated table (left) differs from its definition (right)"
    );
}

/// One line per column, constraint and index, without the schema's name.
async fn shape(conn: &mut sqlx::PgConnection, schema: &str, table: &str) -> Vec<String> {
    let lines: Vec<String> = sqlx::query_scalar(
        r#"
        SELECT 'column ' || column_name || ' ' || data_type || ' null=' || is_nullable
               || ' default=' || coalesce(column_default, '')
        FROM information_schema.columns
        WHERE table_schema = $1 AND table_name = $2
        UNION ALL
        SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(c.oid)
        FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE n.nspname = $1 AND c.conrelid = (quote_ident($1) || '.' || quote_ident($2))::regclass
        UNION ALL
        SELECT 'index ' || indexname || ' ' || replace(indexdef, ' ' || schemaname || '.', ' ')
        FROM pg_indexes
        WHERE schemaname = $1 AND tablename = $2
        ORDER BY 1
        "#,
    )
    .bind(schema)
    .bind(table)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    lines
}

-- The outbox table, as this module reads and writes it: the one definition
-- of it. Each publishing service applies it in a migration of its own (a
-- service's database is its own); each service's tests compare the table its
-- migrations make with this one (`outbox_schema` in user-service's and
-- order-service's tests), and scripts/sqlx-prepare.sh checks the module's
-- statements against it. Change it only together with a new migration in
-- every service that has an outbox.
CREATE TABLE outbox (
    id            uuid        PRIMARY KEY,                -- the event id (UUIDv7)
    name          text        NOT NULL,                   -- routing key and pattern
    payload       jsonb       NOT NULL,                   -- the event
    headers       jsonb       NOT NULL DEFAULT '{}',      -- W3C trace context
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);

-- The relay claims pending rows oldest first.
CREATE INDEX outbox_pending ON outbox (created_at, id) WHERE published_at IS NULL;

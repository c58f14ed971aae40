-- The transactional outbox (see shared/messaging/src/outbox.rs): events
-- written with the change that causes them, published by the relay.
-- IF NOT EXISTS because every service declares the same table and the
-- end-to-end tests run several services' migrations on one database.
CREATE TABLE IF NOT EXISTS outbox (
    id            uuid        PRIMARY KEY,
    name          text        NOT NULL,
    payload       jsonb       NOT NULL,
    headers       jsonb       NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);

CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (created_at, id) WHERE published_at IS NULL;

-- The catalogue and its stock. Money is integer cents throughout.
CREATE TABLE products (
    sku          text    PRIMARY KEY,
    name         text    NOT NULL,
    price_cents  bigint  NOT NULL CHECK (price_cents > 0),
    stock        integer NOT NULL CHECK (stock >= 0)
);

CREATE TABLE orders (
    id                   uuid        PRIMARY KEY,
    user_id              uuid        NOT NULL,
    status               text        NOT NULL CHECK (status IN ('pending', 'confirmed', 'rejected')),
    total_cents          bigint      NOT NULL CHECK (total_cents >= 0),
    -- Either the client's Idempotency-Key (scoped by user) or the request's
    -- message id: a redelivered or retried request finds its order here
    -- instead of placing a second one. Unique, so two concurrent copies
    -- cannot both insert.
    idempotency_key      text        NOT NULL,
    -- The normalised request, to tell a genuine retry from a key reused
    -- for a different order.
    request_fingerprint  text        NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_idempotency_key UNIQUE (idempotency_key)
);

CREATE INDEX orders_user_id_created_at ON orders (user_id, created_at DESC);

CREATE TABLE order_items (
    order_id          uuid    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    sku               text    NOT NULL REFERENCES products (sku),
    quantity          integer NOT NULL CHECK (quantity > 0),
    unit_price_cents  bigint  NOT NULL CHECK (unit_price_cents > 0),
    PRIMARY KEY (order_id, sku)
);

-- A small seed catalogue, so a fresh system can take orders at once.
-- CAP-NAVY has little stock, to show a 409 with curl.
INSERT INTO products (sku, name, price_cents, stock) VALUES
    ('TEE-BLACK-M',   'Black T-shirt, size M', 1999, 100),
    ('HOODIE-GREY-L', 'Grey hoodie, size L',   4999,  20),
    ('MUG-STEEL',     'Steel camping mug',     1250,  50),
    ('STICKER-PACK',  'Sticker pack',           399, 500),
    ('CAP-NAVY',      'Navy cap',              2499,   3);

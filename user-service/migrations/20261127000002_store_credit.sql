-- Store credit: a ledger of entries, and the balance it sums to, kept on the
-- user row and changed in the same transaction as each entry. The CHECK makes
-- an overdraft impossible whatever the code does; the ledger makes every
-- change explainable: balance = top-ups - debits + refunds.
ALTER TABLE users
    ADD COLUMN balance_cents bigint NOT NULL DEFAULT 0 CHECK (balance_cents >= 0);

CREATE TABLE credit_entries (
    id               uuid        PRIMARY KEY,
    user_id          uuid        NOT NULL REFERENCES users (id),
    kind             text        NOT NULL CHECK (kind IN ('top_up', 'debit', 'refund')),
    amount_cents     bigint      NOT NULL CHECK (amount_cents > 0),
    -- A retried call finds its entry here instead of counting twice.
    idempotency_key  text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT credit_entries_idempotency_key UNIQUE (idempotency_key)
);

CREATE INDEX credit_entries_user_id ON credit_entries (user_id);

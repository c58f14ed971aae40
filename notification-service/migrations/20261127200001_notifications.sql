-- What this service knows of users, built from user_created events: a local
-- projection, so an order event can be addressed without asking
-- user-service (which may be down) for the email.
CREATE TABLE recipients (
    user_id  uuid PRIMARY KEY,
    name     text NOT NULL,
    email    text NOT NULL
);

-- One row per notification sent (here: recorded) — the email it would send.
CREATE TABLE notifications (
    id          uuid        PRIMARY KEY,
    event_id    uuid        NOT NULL UNIQUE,
    event       text        NOT NULL,
    user_id     uuid        NOT NULL,
    recipient   text        NOT NULL,
    subject     text        NOT NULL,
    body        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX notifications_user_id ON notifications (user_id, created_at DESC);

-- The inbox: every event handled, written in the same transaction as its
-- effects. A redelivered or republished event finds its id here and does
-- nothing: at-least-once delivery, effectively-once processing.
CREATE TABLE processed_events (
    event_id      uuid        PRIMARY KEY,
    event         text        NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now()
);

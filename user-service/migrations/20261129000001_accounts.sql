-- Accounts: a password (only its Argon2id hash, in PHC string format) and a
-- role. Users created before accounts existed have no password and cannot
-- log in until one is set; every user is a customer unless made an admin
-- (the first admin comes from ADMIN_EMAIL / ADMIN_PASSWORD at start-up).
ALTER TABLE users
    ADD COLUMN password_hash text,
    ADD COLUMN role text NOT NULL DEFAULT 'customer' CHECK (role IN ('customer', 'admin'));

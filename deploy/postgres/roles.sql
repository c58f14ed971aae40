-- One role per service, owning only its own database (database-per-service):
-- no superuser, no CREATEDB, no CREATEROLE, and every database refuses
-- connections from any role but its owner. The services run their migrations
-- as that owner. The one description of the services' Postgres access, run
-- by compose's Postgres on its first start (init.sh), by `just run`
-- (scripts/postgres-roles.sh) and by the system tests; idempotent — run it
-- again to change a password or adopt databases made before the roles.
--
--   psql -v ON_ERROR_STOP=1 \
--     -v users_password=… -v orders_password=… -v notifications_password=… \
--     -v users_db=users -v orders_db=orders -v notifications_db=notifications \
--     -f deploy/postgres/roles.sql        (as a superuser)
\set QUIET on

-- Parallel runs (the system tests) would race to create the same roles.
SELECT pg_advisory_lock(hashtext('rust-shop roles.sql')) AS locked \gset

SELECT 'CREATE ROLE user_service'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'user_service') \gexec
SELECT 'CREATE ROLE order_service'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'order_service') \gexec
SELECT 'CREATE ROLE notification_service'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'notification_service') \gexec

ALTER ROLE user_service WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'users_password';
ALTER ROLE order_service WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'orders_password';
ALTER ROLE notification_service WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'notifications_password';

SELECT format('CREATE DATABASE %I OWNER user_service', :'users_db')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'users_db') \gexec
SELECT format('CREATE DATABASE %I OWNER order_service', :'orders_db')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'orders_db') \gexec
SELECT format('CREATE DATABASE %I OWNER notification_service', :'notifications_db')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'notifications_db') \gexec

-- Only the owner connects (PUBLIC may by default).
SELECT format('ALTER DATABASE %I OWNER TO user_service', :'users_db') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'users_db') \gexec
SELECT format('ALTER DATABASE %I OWNER TO order_service', :'orders_db') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'orders_db') \gexec
SELECT format('ALTER DATABASE %I OWNER TO notification_service', :'notifications_db') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'notifications_db') \gexec

-- A database made before the roles (by a superuser) keeps its tables owned
-- by that superuser: hand its public schema and what is in it to the owner.
\set owner user_service
\connect :users_db
\ir adopt.sql
\set owner order_service
\connect :orders_db
\ir adopt.sql
\set owner notification_service
\connect :notifications_db
\ir adopt.sql

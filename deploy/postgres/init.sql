-- One Postgres server, one database per service (database-per-service).
-- Run once by the postgres image on an empty data volume. The services would
-- also create their own database when missing; creating them here keeps that
-- privilege out of the services in production set-ups.
CREATE DATABASE users;
CREATE DATABASE orders;
CREATE DATABASE notifications;

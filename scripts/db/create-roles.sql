-- Two roles for one service database (least privilege):
--   owner: owns the schema; runs the migrations and installs pg-boss's schema (MIGRATIONS_DATABASE_URL).
--   app:   the running service (DATABASE_URL): SELECT/INSERT/UPDATE/DELETE on tables, sequences; no DDL.
-- Run once, as a superuser, connected to the service's (empty) database:
--   psql -d vmapi -v owner=vmapi_owner -v app=vmapi_app \
--        -v owner_password="$OWNER_PW" -v app_password="$APP_PW" -f scripts/db/create-roles.sql
-- Every privilege the app role gets comes from the owner's default privileges below, so tables,
-- sequences and schemas the owner creates later (new migrations, pg-boss upgrades, the partition
-- pg-boss creates for each new queue) are the app's to read and write, and nothing more.
\set ON_ERROR_STOP on
SELECT current_database() AS db \gset

CREATE ROLE :"owner" LOGIN PASSWORD :'owner_password' NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE ROLE :"app" LOGIN PASSWORD :'app_password' NOSUPERUSER NOCREATEDB NOCREATEROLE;

-- The owner may create schemas (pgboss) and, as the database's owner, tables in public (PostgreSQL 15+).
ALTER DATABASE :"db" OWNER TO :"owner";
GRANT ALL ON SCHEMA public TO :"owner";
-- Nobody else creates anything (PostgreSQL < 15 let PUBLIC create in public) or connects.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"app";
GRANT USAGE ON SCHEMA public TO :"app";

ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" GRANT USAGE ON SCHEMAS TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO :"app";

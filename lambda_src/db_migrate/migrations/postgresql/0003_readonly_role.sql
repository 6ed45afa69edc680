-- The operators' read-only login role: reads rows of items (and of the tables later migrations
-- create), writes nothing, owns nothing, runs no DDL, and has no privilege on schema_migrations.
-- It has no password: on RDS and Aurora it signs in with IAM database authentication (rds_iam),
-- through the access instance's tunnel (make db-tunnel).
--
-- Safety, besides the privileges:
-- - CONNECTION LIMIT 5: a few operators' sessions, never enough to crowd out the API.
-- - default_transaction_read_only: every transaction starts read only, a second wall behind the
--   missing write privileges (the role may turn it off for its session; the privileges still
--   refuse).
-- - idle_in_transaction_session_timeout: a transaction left open in a terminal holds its
--   tables' locks, and a migration's ALTER TABLE would wait behind it and fail the deploy; such
--   a session is ended after a minute. statement_timeout bounds a runaway query the same way.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app_readonly') THEN
        CREATE ROLE app_readonly LOGIN CONNECTION LIMIT 5;
    END IF;
    -- rds_iam exists on RDS and Aurora only; vanilla PostgreSQL (tests) has no IAM sign-in.
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_iam') THEN
        GRANT rds_iam TO app_readonly;
    END IF;
END
$$;

ALTER ROLE app_readonly SET default_transaction_read_only = on;
ALTER ROLE app_readonly SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE app_readonly SET statement_timeout = '5min';

-- CREATE on the schema and TEMPORARY on the database are already revoked from PUBLIC (0002).
GRANT USAGE ON SCHEMA public TO app_readonly;
GRANT SELECT ON items TO app_readonly;
REVOKE ALL ON schema_migrations FROM app_readonly;

-- Tables the migrations create from now on (as this role, the master user, in schema public)
-- are readable by app_readonly without a grant of their own: SELECT only, on tables and views,
-- never sequences or functions, and never on tables that existed before this file
-- (schema_migrations, created by the runner before any migration, stays closed). A later
-- migration whose table operators must not read revokes it in the same file:
--     REVOKE SELECT ON secret_table FROM app_readonly;
-- (MySQL has no default privileges: there each new table gets its GRANT in its migration.)
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO app_readonly;

-- The API's login role: reads and writes rows of items, owns nothing, runs no DDL.
-- It has no password: on Aurora it signs in with IAM database authentication (rds_iam).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app_api') THEN
        CREATE ROLE app_api LOGIN;
    END IF;
    -- rds_iam exists on RDS and Aurora only; vanilla PostgreSQL (tests) has no IAM sign-in.
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_iam') THEN
        GRANT rds_iam TO app_api;
    END IF;
END
$$;

-- No DDL at all: not even temporary tables, which PostgreSQL grants to PUBLIC by default.
DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END
$$;

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO app_api;
GRANT SELECT, INSERT, UPDATE, DELETE ON items TO app_api;
REVOKE ALL ON schema_migrations FROM PUBLIC, app_api;

-- The operators' read-only login user: reads rows of items, writes nothing, owns nothing, runs
-- no DDL, and has no privilege at all on schema_migrations (nor CREATE TEMPORARY TABLES). At most
-- 5 connections at once: a few operators' sessions, never enough to crowd out the API.
--
-- On RDS and Aurora it signs in with IAM database authentication (AWSAuthenticationPlugin),
-- over TLS only, through the access instance's tunnel (make db-tunnel). Where that plugin is not
-- loaded (a local MariaDB or MySQL: error 1524, ER_PLUGIN_IS_NOT_LOADED) the user is created
-- locked, with a random password no one knows, so that it never ends up open; tests unlock it
-- with a password of their own (devkit.mysql's grant_local_login), standing in for the IAM token.
--
-- MySQL has no default privileges (PostgreSQL's 0003 has them): a later migration that adds a
-- table operators may read grants it SELECT itself: GRANT SELECT ON new_table TO 'app_readonly'@'%'.
--
-- Re-runnable, as every MySQL migration must be (see db_migrate.mysql): an existing user is
-- left as it is, the procedure is dropped before it is created, and a GRANT given twice is one.
DROP PROCEDURE IF EXISTS db_migrate_create_app_readonly;

CREATE PROCEDURE db_migrate_create_app_readonly()
BEGIN
    DECLARE CONTINUE HANDLER FOR 1524
    BEGIN
        SET @db_migrate_create_app_readonly = CONCAT(
            'CREATE USER IF NOT EXISTS ''app_readonly''@''%'' IDENTIFIED BY ''',
            SHA2(CONCAT(RAND(), UUID(), SYSDATE(6)), 256),
            ''' REQUIRE SSL WITH MAX_USER_CONNECTIONS 5 ACCOUNT LOCK'
        );
        PREPARE create_locked FROM @db_migrate_create_app_readonly;
        EXECUTE create_locked;
        DEALLOCATE PREPARE create_locked;
        SET @db_migrate_create_app_readonly = NULL;
    END;
    CREATE USER IF NOT EXISTS 'app_readonly'@'%'
        IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL
        WITH MAX_USER_CONNECTIONS 5;
END;

CALL db_migrate_create_app_readonly();

DROP PROCEDURE db_migrate_create_app_readonly;

GRANT SELECT ON items TO 'app_readonly'@'%';

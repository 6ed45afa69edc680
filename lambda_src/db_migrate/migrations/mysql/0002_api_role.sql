-- The API's login user: reads and writes rows of items, owns nothing, runs no DDL, and has no
-- privilege at all on schema_migrations (nor CREATE TEMPORARY TABLES).
--
-- On RDS and Aurora it signs in with IAM database authentication (AWSAuthenticationPlugin),
-- over TLS only. Where that plugin is not loaded (a local MariaDB or MySQL: error 1524,
-- ER_PLUGIN_IS_NOT_LOADED) the user is created locked, with a random password no one knows, so
-- that it never ends up open; tests unlock it with a password of their own (devkit.mysql's
-- grant_local_login), standing in for the IAM token.
--
-- Re-runnable, as every MySQL migration must be (see db_migrate.mysql): an existing user is
-- left as it is, and the procedure is dropped before it is created.
DROP PROCEDURE IF EXISTS db_migrate_create_app_api;

CREATE PROCEDURE db_migrate_create_app_api()
BEGIN
    DECLARE CONTINUE HANDLER FOR 1524
    BEGIN
        SET @db_migrate_create_app_api = CONCAT(
            'CREATE USER IF NOT EXISTS ''app_api''@''%'' IDENTIFIED BY ''',
            SHA2(CONCAT(RAND(), UUID(), SYSDATE(6)), 256),
            ''' REQUIRE SSL ACCOUNT LOCK'
        );
        PREPARE create_locked FROM @db_migrate_create_app_api;
        EXECUTE create_locked;
        DEALLOCATE PREPARE create_locked;
        SET @db_migrate_create_app_api = NULL;
    END;
    CREATE USER IF NOT EXISTS 'app_api'@'%'
        IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL;
END;

CALL db_migrate_create_app_api();

DROP PROCEDURE db_migrate_create_app_api;

GRANT SELECT, INSERT, UPDATE, DELETE ON items TO 'app_api'@'%';

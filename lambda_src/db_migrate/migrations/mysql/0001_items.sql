-- The items the API serves (the MySQL family: RDS for MySQL 8.0/8.4, Aurora MySQL 3; written for
-- MariaDB 10.11 too, which the local tests run on). Optimistic locking uses `version`; pagination
-- is keyset on (created_at, id), which the index below serves in both directions.
--
-- The API supplies `id`: a UUID as lowercase text. utf8mb4_bin (ascii_bin for the id) compares
-- byte for byte, so the API's exact comparisons hold (a _ci collation would find 'A...' for
-- 'a...'), and it exists under that name on MySQL 8 and on MariaDB alike (utf8mb4_0900_* does
-- not on MariaDB 10.11). Timestamps are UTC (DATETIME has no time zone).
--
-- Re-runnable, as every MySQL migration must be (see db_migrate.mysql): IF NOT EXISTS.
CREATE TABLE IF NOT EXISTS items (
    id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    name VARCHAR(200) NOT NULL,
    description VARCHAR(2000) NOT NULL DEFAULT '',
    created_at DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
    updated_at DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
    version INT NOT NULL DEFAULT 1,
    PRIMARY KEY (id),
    INDEX items_created_at_id_idx (created_at, id),
    CONSTRAINT items_name_length CHECK (CHAR_LENGTH(name) BETWEEN 1 AND 200),
    CONSTRAINT items_name_not_blank CHECK (name REGEXP '[^[:space:]]'),
    CONSTRAINT items_description_length CHECK (CHAR_LENGTH(description) <= 2000),
    CONSTRAINT items_version_positive CHECK (version >= 1)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

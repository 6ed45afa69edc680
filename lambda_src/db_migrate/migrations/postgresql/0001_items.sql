-- The items the API serves. Optimistic locking uses `version`; pagination is keyset on
-- (created_at, id), which the index below serves in both directions.
CREATE TABLE items (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL
        CONSTRAINT items_name_length CHECK (char_length(name) BETWEEN 1 AND 200)
        CONSTRAINT items_name_not_blank CHECK (name ~ '[^[:space:]]'),
    description text NOT NULL DEFAULT ''
        CONSTRAINT items_description_length CHECK (char_length(description) <= 2000),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    version integer NOT NULL DEFAULT 1
        CONSTRAINT items_version_positive CHECK (version >= 1)
);

CREATE INDEX items_created_at_id_idx ON items (created_at, id);

-- users.updated_at, kept current by a trigger so that no code path can
-- forget it. The function is generic: any table with an updated_at column
-- can use it.

-- migrate:up
ALTER TABLE users
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    -- Only a real change moves the timestamp; a no-op UPDATE keeps it.
    IF NEW IS DISTINCT FROM OLD THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$fn$;

COMMENT ON FUNCTION set_updated_at() IS 'BEFORE UPDATE trigger: sets NEW.updated_at to now()';

CREATE TRIGGER users_set_updated_at
    BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- migrate:down
DROP TRIGGER users_set_updated_at ON users;
DROP FUNCTION set_updated_at();
ALTER TABLE users DROP COLUMN updated_at;

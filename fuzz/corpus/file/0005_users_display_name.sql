-- A name to show instead of the email address. Nullable, so adding it is
-- instant even on a large table; the check only bounds its length.

-- migrate:up
ALTER TABLE users
    ADD COLUMN display_name text,
    ADD CONSTRAINT users_display_name_length
        CHECK (char_length(display_name) BETWEEN 1 AND 100);

-- migrate:down
ALTER TABLE users DROP COLUMN display_name;

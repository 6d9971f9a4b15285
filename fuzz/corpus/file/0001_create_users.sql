-- The accounts table. Emails are stored lower-cased by the application;
-- the check keeps a mixed-case duplicate from slipping past the unique key.

-- migrate:up
CREATE TABLE users (
    id          bigserial   PRIMARY KEY,
    email       text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_email_lower CHECK (email = lower(email)),
    CONSTRAINT users_email_shape CHECK (email LIKE '%_@_%')
);

COMMENT ON TABLE users IS 'One row per account; email is the login name.';

-- migrate:down
DROP TABLE users;

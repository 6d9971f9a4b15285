-- Login sessions. A session dies with its user.

-- migrate:up
CREATE TABLE sessions (
    id          bigserial   PRIMARY KEY,
    user_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token       text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    CONSTRAINT sessions_token_key UNIQUE (token),
    CONSTRAINT sessions_expiry_after_creation CHECK (expires_at > created_at)
);

-- migrate:down
DROP TABLE sessions;

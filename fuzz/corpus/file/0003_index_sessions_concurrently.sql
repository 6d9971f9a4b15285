-- Indexes for "sessions of this user" and for the job that purges expired
-- sessions. Built CONCURRENTLY so logins keep working while they build,
-- which cannot run inside a transaction: hence transaction:false, and one
-- statement at a time.
--
-- If a build fails or is cancelled, PostgreSQL leaves an INVALID index of
-- that name behind and a rerun stops at "already exists". Drop it with
-- DROP INDEX CONCURRENTLY and run mig-apply again; the statements already
-- done are not repeated.

-- migrate:up transaction:false
CREATE INDEX CONCURRENTLY sessions_user_id_idx ON sessions (user_id);
CREATE INDEX CONCURRENTLY sessions_expires_at_idx ON sessions (expires_at);

-- migrate:down transaction:false
-- IF EXISTS: this also undoes a half-done up.
DROP INDEX CONCURRENTLY IF EXISTS sessions_expires_at_idx;
DROP INDEX CONCURRENTLY IF EXISTS sessions_user_id_idx;

-- migrate:up transaction:false
CREATE INDEX CONCURRENTLY i ON t (x);
-- migrate:down transaction:false
DROP INDEX CONCURRENTLY i;

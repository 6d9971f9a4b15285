#!/usr/bin/env bats
# Real migration directories as users bring them: goose files with
# multi-statement StatementBegin/End blocks, golang-migrate pairs wrapped in
# BEGIN; ... COMMIT;, a pg_dump --data-only file used unchanged as a data
# migration, and a project's history with DO blocks, functions, enums,
# partitions and views. Each must apply as its own tool (or psql) runs it,
# revert fully, and what mig cannot run as written must be refused before
# anything runs.

load helper

FIX=$REPO/test/fixtures/realfiles

# Databases a test makes besides its own, dropped in teardown.
EXTRA_DBS=()

teardown() {
	local db
	if [[ -n ${JOB:-} ]]; then
		kill -9 "$JOB" 2>/dev/null || true
		wait "$JOB" 2>/dev/null || true
	fi
	for db in "${EXTRA_DBS[@]}"; do
		PSQL_ADMIN_DB=postgres psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
	done
	mig_teardown
}

# new_db SUFFIX: creates the database ${TEST_DB}_SUFFIX, owned by mig.
new_db() {
	local db=${TEST_DB}_$1
	PSQL_ADMIN_DB=postgres psql_admin -c "CREATE DATABASE $db OWNER mig STRATEGY FILE_COPY"
	EXTRA_DBS+=("$db")
}

# pg_tool TOOL ARGS...: a PostgreSQL client tool as the superuser over the
# server's socket, as psql_admin runs psql.
pg_tool() {
	local tool=$1
	shift
	env -u PGPASSWORD -u PGSERVICE -u PGOPTIONS -u PGSSLMODE -u PGDATABASE \
		"${PGTMP_BIN:+$PGTMP_BIN/}$tool" -h "$PGTMP_SOCKDIR" -p "$PGTMP_PORT" \
		-U postgres "$@"
}

# schema_of DB: pg_dump --schema-only of DB without mig's history table,
# owners and grants (psql and mig run as different roles), and without the
# random keys of pg_dump's \restrict lines.
schema_of() {
	pg_tool pg_dump --schema-only --no-owner --no-privileges -T mig_history -d "$1" |
		grep -v -e '^\\restrict ' -e '^\\unrestrict '
}

# rows_of DB TABLE...: every row of each TABLE, in COPY text form, sorted.
rows_of() {
	local db=$1 t
	shift
	for t in "$@"; do
		echo "== $t"
		PSQL_ADMIN_DB=$db psql_admin -c "COPY (SELECT * FROM $t ORDER BY 1, 2) TO STDOUT"
	done
}

# goose_up FILE: the Up part of a goose file, as psql would be given it.
goose_up() {
	awk '/^-- \+goose Up/ { on = 1; next } /^-- \+goose Down/ { on = 0 } on' "$1"
}

# bounded CMD...: CMD, killed if it has not ended after 30 s. A COPY the old
# code did not understand left it waiting forever and deaf to SIGTERM.
bounded() {
	timeout -k 5 30 "$@"
}

# nothing_applied: no history table, so nothing was run or recorded.
nothing_applied() {
	run table_exists mig_history
	assert_failure
	run table_exists first_t
	assert_failure
}

# ---- goose --------------------------------------------------------------

@test "realfiles: a goose directory with multi-statement StatementBegin blocks applies as psql runs it and reverts fully" {
	new_db ref
	new_db empty
	cp "$FIX"/goose/*.sql "$MIGDIR"/
	run --separate-stderr bounded mig-apply < <(mig-list)
	assert_success
	assert_equal "${#lines[@]}" 4
	run applied_versions
	assert_output $'20240115093000\n20240122141500\n20240203110000\n20240210083000'

	# The same Up parts through psql, file by file, give the same schema.
	local f
	for f in "$MIGDIR"/*.sql; do
		goose_up "$f" | PSQL_ADMIN_DB=${TEST_DB}_ref psql_admin
	done
	run diff <(schema_of "${TEST_DB}_ref") <(schema_of "$TEST_DB")
	assert_success
	# The block's ALTER TYPE ran after the CREATE TYPE, in the same query.
	run psql_admin -c "SELECT string_agg(e, ',') FROM unnest(enum_range(NULL::order_status)::text[]) AS e"
	assert_output 'pending,paid,shipped,cancelled'
	# The trigger function's body is whole: an update stamps updated_at.
	psql_admin -c "INSERT INTO customers (email) VALUES ('a@example.com');
		INSERT INTO orders (customer_id, total_cents, updated_at) VALUES (1, 100, '2000-01-01')"
	psql_admin -c "UPDATE orders SET status = 'paid'"
	run psql_admin -c "SELECT updated_at > '2000-01-01' FROM orders"
	assert_output t
	run psql_admin -c "SELECT state, statements_done FROM mig_history WHERE version = '20240210083000'"
	assert_output 'applied|2'

	run --separate-stderr bounded mig-revert --all < <(mig-list)
	assert_success
	assert_equal "${#lines[@]}" 4
	# Only the history table is left, and it is empty.
	run diff <(schema_of "${TEST_DB}_empty") <(schema_of "$TEST_DB")
	assert_success
	run psql_admin -c "SELECT count(*) FROM mig_history"
	assert_output 0
	run psql_admin -c "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class
		WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p', 'v', 'm', 'S')"
	assert_output 'mig_history,mig_history_id_seq'
}

# ---- golang-migrate -----------------------------------------------------

@test "realfiles: golang-migrate pairs wrapped in BEGIN; ... COMMIT; apply, record and backfill right" {
	cp "$FIX"/golang-migrate/*.sql "$MIGDIR"/
	run --separate-stderr bounded mig-apply --to 000002 < <(mig-list)
	assert_success
	# The rows the old feed left, before the backfill.
	psql_admin <<-'EOF'
		INSERT INTO events (kind, happened) VALUES
		    ('signup', '2024-03-01 10:00:00+02'),
		    ('login', ''),
		    ('login', '  n/a '),
		    ('purchase', NULL),
		    ('refund', ' 2024-02-29T23:59:59Z '),
		    ('import', '2023-12-31 23:30:00 America/New_York');
	EOF

	run --separate-stderr bounded mig-apply --to 000003 < <(mig-list)
	assert_success
	assert_output $'000003\tbackfill_occurred_at\tmigrations/000003_backfill_occurred_at.up.sql'
	run psql_admin -c "SELECT kind, to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
		payload ->> 'backfilled' FROM events ORDER BY id"
	assert_output - <<-'EOF'
		signup|2024-03-01 08:00:00|true
		login||false
		login||false
		purchase||false
		refund|2024-02-29 23:59:59|true
		import|2024-01-01 04:30:00|true
	EOF
	run psql_admin -c "SELECT version, state, duration_ms >= 0, applied_at IS NOT NULL,
		up_sql LIKE 'BEGIN;%COMMIT;' || chr(10) FROM mig_history ORDER BY id"
	assert_output - <<-'EOF'
		000001|applied|t|t|f
		000002|applied|t|t|f
		000003|applied|t|t|t
	EOF
	# The migration's transaction is closed: the session is usable, and the
	# next wrapped file applies in the same run as a plain one would.
	run --separate-stderr bounded mig-apply < <(mig-list)
	assert_success
	assert_output $'000004\toccurred_at_not_null\tmigrations/000004_occurred_at_not_null.up.sql'
	run psql_admin -c "SELECT count(*) FILTER (WHERE occurred_at = 'epoch'), count(*) FROM events"
	assert_output '3|6'

	# The wrapped down files undo them, in their own transactions too.
	run --separate-stderr bounded mig-revert --to 000002 < <(mig-list)
	assert_success
	run psql_admin -c "SELECT count(occurred_at), count(payload -> 'backfilled') FROM events"
	assert_output '0|0'
	run applied_versions
	assert_output $'000001\n000002'
}

@test "realfiles: a failing statement inside a BEGIN; ... COMMIT; file rolls back all of that file, history row included" {
	cat >"$MIGDIR/000001_create_events.up.sql" <<-'EOF'
		CREATE TABLE events (id bigserial PRIMARY KEY, kind text NOT NULL,
		    happened text, occurred_at timestamptz, payload jsonb NOT NULL DEFAULT '{}');
		CREATE TABLE event_kinds (kind text PRIMARY KEY);
		INSERT INTO events (kind, happened) VALUES
		    ('signup', '2024-03-01 10:00:00+02'), ('login', 'yesterday-ish');
	EOF
	cat >"$MIGDIR/000002_backfill.up.sql" <<-'EOF'
		BEGIN;

		UPDATE events SET payload = payload || '{"v": 2}';
		INSERT INTO event_kinds SELECT DISTINCT kind FROM events;
		UPDATE events SET occurred_at = happened::timestamptz;

		COMMIT;
	EOF
	echo 'UPDATE events SET occurred_at = NULL;' >"$MIGDIR/000002_backfill.down.sql"
	run --separate-stderr bounded mig-apply < <(mig-list)
	assert_failure 1
	assert_output $'000001\tcreate_events\tmigrations/000001_create_events.up.sql'
	[[ $stderr == *'migrations/000002_backfill.up.sql:5:'*'ERROR: '*'yesterday-ish'*'(SQLSTATE 22007)'* ]] ||
		fail "no file:line and error in: $stderr"
	# Nothing of 000002: not the first UPDATE, not the INSERT, no row.
	run psql_admin -c "SELECT count(*) FILTER (WHERE payload ? 'v'), count(occurred_at) FROM events"
	assert_output '0|0'
	run psql_admin -c "SELECT count(*) FROM event_kinds"
	assert_output 0
	run applied_versions
	assert_output 000001

	# Fixed the golang-migrate way (edit, run again), it applies whole.
	sed -i 's/happened::timestamptz/CASE WHEN happened ~ '"'^[0-9]'"' THEN happened::timestamptz END/' \
		"$MIGDIR/000002_backfill.up.sql"
	run --separate-stderr bounded mig-apply < <(mig-list)
	assert_success
	assert_output $'000002\tbackfill\tmigrations/000002_backfill.up.sql'
	run psql_admin -c "SELECT count(*) FILTER (WHERE payload ? 'v'), count(occurred_at) FROM events"
	assert_output '2|1'
	run psql_admin -c "SELECT string_agg(kind, ',' ORDER BY kind) FROM event_kinds"
	assert_output 'login,signup'
}

@test "realfiles: two BEGIN; ... COMMIT; transactions in one file are 65 at file:line before anything runs" {
	echo 'CREATE TABLE first_t (id int);' >"$MIGDIR/0001_first.up.sql"
	cat >"$MIGDIR/0002_two_tx.up.sql" <<-'EOF'
		BEGIN;
		CREATE TABLE a (id int);
		COMMIT;
		BEGIN;
		CREATE TABLE b (id int);
		COMMIT;
	EOF
	run --separate-stderr bounded mig-apply < <(mig-list)
	assert_failure 65
	assert_output ''
	[[ $stderr == *"migrations/0002_two_tx.up.sql:3: 'COMMIT' in a transactional migration"* ]] ||
		fail "no file:line naming the COMMIT in: $stderr"
	nothing_applied
	run table_exists a
	assert_failure
	run table_exists b
	assert_failure

	# Checked before connecting: a server that is not there does not matter.
	DATABASE_URL="postgresql://mig@127.0.0.1:$(free_port)/nowhere" \
		run --separate-stderr bounded mig-apply < <(mig-list)
	assert_failure 65
	[[ $stderr == *'0002_two_tx.up.sql:3:'* ]] || fail "not the file check: $stderr"

	# -n runs the same checks.
	run --separate-stderr bounded mig-apply -n < <(mig-list)
	assert_failure 65
	nothing_applied
}

@test "realfiles: BEGIN; ... COMMIT; files inside --single-transaction apply as one batch and roll back as one" {
	cp "$FIX"/golang-migrate/*.sql "$MIGDIR"/
	run --separate-stderr bounded mig-apply --single-transaction < <(mig-list)
	assert_success
	assert_equal "${#lines[@]}" 4
	run applied_versions
	assert_output $'000001\n000002\n000003\n000004'
	run psql_admin -c "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'events'::regclass AND attname = 'occurred_at'"
	assert_output t
	run --separate-stderr bounded mig-revert --all < <(mig-list)
	assert_success

	# A failure in a later file undoes the earlier wrapped ones: their
	# COMMIT did not end the batch.
	cat >"$MIGDIR/000005_broken.up.sql" <<-'EOF'
		BEGIN;
		INSERT INTO events (kind, occurred_at) VALUES ('x', now());
		SELECT 1 / 0;
		COMMIT;
	EOF
	run --separate-stderr bounded mig-apply --single-transaction < <(mig-list)
	assert_failure 1
	assert_output ''
	[[ $stderr == *'migrations/000005_broken.up.sql:3:'*'division by zero'* ]] || fail "no file:line in: $stderr"
	run table_exists events
	assert_failure
	run psql_admin -c "SELECT count(*) FROM mig_history"
	assert_output 0
}

# ---- pg_dump --data-only as a data migration -----------------------------

SOURCE_SCHEMA="CREATE TABLE authors (
    id        serial PRIMARY KEY,
    name      text NOT NULL,
    bio       text,
    joined_at timestamptz
);
CREATE TABLE books (
    id           serial PRIMARY KEY,
    author_id    integer NOT NULL REFERENCES authors (id),
    title        text NOT NULL,
    notes        text,
    published_at timestamptz,
    price        numeric(8,2)
);
CREATE TABLE tags (
    label text PRIMARY KEY,
    note  text
);
CREATE TABLE imports (
    raw     text,
    line_no integer
);"

# make_source: the database ${TEST_DB}_src with the tables of SOURCE_SCHEMA
# and awkward rows (tabs, newlines, CR, backslashes, '\.', unicode, NULLs
# and empty strings, infinite timestamps, a gap in a serial), and
# $BATS_TEST_TMPDIR/dump.sql, what pg_dump --data-only makes of it.
make_source() {
	new_db src
	PSQL_ADMIN_DB=${TEST_DB}_src psql_admin -c "$SOURCE_SCHEMA"
	PSQL_ADMIN_DB=${TEST_DB}_src psql_admin <<-'EOF'
		INSERT INTO authors (name, bio, joined_at) VALUES
		    ('Zoë Ölund', E'line one\nline two\twith a tab', '2023-05-01 12:00:00+00'),
		    ('removed', NULL, NULL),
		    ('Back\slash', NULL, '1999-12-31 23:59:59.999999+05:30'),
		    ('日本語の著者 🚀', E'ends with a backslash \\', NULL),
		    ('\.', E'\\.\n\\.\n\\copy x from stdin\r\nafter a CR LF', 'infinity'),
		    ('', '', '-infinity');
		DELETE FROM authors WHERE name = 'removed';
		INSERT INTO books (author_id, title, notes, published_at, price)
		SELECT a.id, 'Book of ' || a.name,
		       CASE WHEN a.id % 2 = 0 THEN NULL ELSE E'note\twith\ttabs; and ; semicolons' END,
		       '2020-02-29 08:15:00-08', 12.5 * a.id
		FROM authors a ORDER BY a.id;
		INSERT INTO tags VALUES
		    (E'\\N', 'a backslash and N, not NULL'), ('\.', NULL), (E'\\', E'\\'),
		    ('plain', 'x;y;z'), ('-- not a comment', '/* nor this */');
		INSERT INTO imports VALUES
		    (NULL, 1), ('\.', 2), (E'\n\\.\n', 3), (E'\\', 4), (E'\\i other.sql', 5);
	EOF
	pg_tool pg_dump --data-only -d "${TEST_DB}_src" >"$BATS_TEST_TMPDIR/dump.sql"
	# What the dump must exercise: COPY rows, a data line that starts with a
	# backslash, and (pg_dump 15.14 and later) its \restrict lines.
	grep -q '^COPY public.imports (raw, line_no) FROM stdin;$' "$BATS_TEST_TMPDIR/dump.sql"
	grep -q '^\\N	1$' "$BATS_TEST_TMPDIR/dump.sql"
	grep -q "^SELECT pg_catalog.setval('public.authors_id_seq', 6, true);$" "$BATS_TEST_TMPDIR/dump.sql"
}

# same_data_as_source: every table and sequence of the test database holds
# what the source holds.
same_data_as_source() {
	run diff <(rows_of "${TEST_DB}_src" authors books tags imports) \
		<(rows_of "$TEST_DB" authors books tags imports)
	assert_success
	run psql_admin -c "SELECT last_value, is_called FROM authors_id_seq UNION ALL
		SELECT last_value, is_called FROM books_id_seq"
	assert_output $'6|t\n5|t'
	# A sanity check of the check: the source is not empty.
	run psql_admin -c "SELECT count(*) FROM authors"
	assert_output 5
}

write_schema_mig() {
	printf -- '-- migrate:up\n%s\n\n-- migrate:down\nDROP TABLE imports, tags, books, authors;\n' \
		"$SOURCE_SCHEMA" >"$MIGDIR/0001_schema.sql"
}

@test "realfiles: pg_dump --data-only output, unchanged, is a data migration that copies every row" {
	make_source
	grep -q '^\\restrict ' "$BATS_TEST_TMPDIR/dump.sql" || skip "this pg_dump writes no \\restrict line"
	write_schema_mig
	cp "$BATS_TEST_TMPDIR/dump.sql" "$MIGDIR/0002_seed.up.sql"
	run --separate-stderr bounded mig-apply < <(mig-list)
	assert_success
	assert_output $'0001\tschema\tmigrations/0001_schema.sql\n0002\tseed\tmigrations/0002_seed.up.sql'
	same_data_as_source
	run psql_admin -c "SELECT version, state FROM mig_history ORDER BY id"
	assert_output $'0001|applied\n0002|applied'
}

@test "realfiles: a pg_dump --data-only file without \\restrict lines (pg_dump before 15.14) copies every row" {
	make_source
	write_schema_mig
	grep -v -e '^\\restrict ' -e '^\\unrestrict ' "$BATS_TEST_TMPDIR/dump.sql" >"$MIGDIR/0002_seed.up.sql"
	run --separate-stderr bounded mig-apply < <(mig-list)
	assert_success
	assert_output $'0001\tschema\tmigrations/0001_schema.sql\n0002\tseed\tmigrations/0002_seed.up.sql'
	same_data_as_source
	run psql_admin -c "SELECT version, state FROM mig_history ORDER BY id"
	assert_output $'0001|applied\n0002|applied'

	# It reverts with its down file and applies again, the rows the same.
	echo 'TRUNCATE imports, tags, books, authors RESTART IDENTITY;' >"$MIGDIR/0002_seed.down.sql"
	run --separate-stderr bounded mig-revert < <(mig-list)
	assert_success
	run psql_admin -c "SELECT count(*) FROM authors"
	assert_output 0
	run --separate-stderr bounded mig-apply < <(mig-list)
	assert_success
	same_data_as_source
}

@test "realfiles: the same pg_dump data under -- migrate:up transaction:false applies statement by statement" {
	make_source
	write_schema_mig
	{
		echo '-- migrate:up transaction:false'
		grep -v -e '^\\restrict ' -e '^\\unrestrict ' "$BATS_TEST_TMPDIR/dump.sql"
	} >"$MIGDIR/0002_seed.up.sql"
	run --separate-stderr bounded mig-apply < <(mig-list)
	assert_success
	assert_output $'0001\tschema\tmigrations/0001_schema.sql\n0002\tseed\tmigrations/0002_seed.up.sql'
	same_data_as_source
	# 10 SETs, 4 COPYs, 2 setvals.
	run psql_admin -c "SELECT version, state, statements_done FROM mig_history ORDER BY id"
	assert_output $'0001|applied|0\n0002|applied|16'
}

@test "realfiles: the unchanged pg_dump data under -- migrate:up transaction:false applies" {
	make_source
	grep -q '^\\restrict ' "$BATS_TEST_TMPDIR/dump.sql" || skip "this pg_dump writes no \\restrict line"
	write_schema_mig
	{
		echo '-- migrate:up transaction:false'
		cat "$BATS_TEST_TMPDIR/dump.sql"
	} >"$MIGDIR/0002_seed.up.sql"
	run --separate-stderr bounded mig-apply < <(mig-list)
	assert_success
	same_data_as_source
	run psql_admin -c "SELECT version, state, statements_done FROM mig_history ORDER BY id"
	assert_output $'0001|applied|0\n0002|applied|16'
}

# ---- what mig must refuse, and what only looks like it -------------------

# refused LINE_PREFIX: mig-apply on the directory exits 65 naming
# LINE_PREFIX (PATH:LINE:), prints nothing on stdout and runs nothing.
refused() {
	run --separate-stderr bounded mig-apply < <(mig-list)
	assert_failure 65
	assert_output ''
	[[ $stderr == *"$1"* ]] || fail "expected '$1' in: $stderr"
	nothing_applied
}

@test "realfiles: COPY ... TO STDOUT is 65 at its line and nothing runs" {
	echo 'CREATE TABLE first_t (id int);' >"$MIGDIR/0001_first.up.sql"
	printf -- '-- migrate:up\nCREATE TABLE t (id int);\n\nCOPY (SELECT 1) TO STDOUT;\n' >"$MIGDIR/0002_export.sql"
	refused 'migrations/0002_export.sql:4: COPY ... TO STDOUT'
	printf -- '-- migrate:up\nCOPY t (id) FROM stdin;\n1\n\\.\ncopy t to stdout with (format csv);\n' >"$MIGDIR/0002_export.sql"
	refused 'migrations/0002_export.sql:5: COPY ... TO STDOUT'
}

@test "realfiles: COPY FROM STDIN rows with no closing \\. line are 65 at the COPY's line and nothing runs" {
	echo 'CREATE TABLE first_t (id int);' >"$MIGDIR/0001_first.up.sql"
	cat >"$MIGDIR/0002_seed.sql" <<-'EOF'
		-- migrate:up
		CREATE TABLE t (id int, label text);
		COPY t (id, label) FROM stdin;
		1	one
		2	two
		-- migrate:down
		DROP TABLE t;
	EOF
	refused 'migrations/0002_seed.sql:3: the rows of this COPY ... FROM STDIN have no closing'
	# A '\.' inside a row, '\\.', ' \.' or '\.x' does not end them either.
	printf -- '-- migrate:up\nCREATE TABLE t (id int, label text);\nCOPY t FROM stdin;\n1\t\\.\n\\\\.\t2\n \\.\n\\.x\n' \
		>"$MIGDIR/0002_seed.sql"
	refused 'migrations/0002_seed.sql:3: the rows of this COPY ... FROM STDIN have no closing'
}

@test "realfiles: a psql meta-command is 65 at its line, in any section and any migration of the run, and nothing runs" {
	echo 'CREATE TABLE first_t (id int);' >"$MIGDIR/0001_first.up.sql"
	printf -- '-- migrate:up\nCREATE TABLE second_t (id int);\n' >"$MIGDIR/0002_second.sql"
	cat >"$MIGDIR/0003_seed.sql" <<-'EOF'
		-- migrate:up
		CREATE TABLE t (id int);
		\i other.sql
		-- migrate:down
		DROP TABLE t;
	EOF
	refused "migrations/0003_seed.sql:3: '\\i' is a psql meta-command; mig runs SQL, not psql scripts"
	run table_exists second_t
	assert_failure

	printf -- '-- migrate:up\n\\set x 1\nSELECT :x;\n' >"$MIGDIR/0003_seed.sql"
	refused "migrations/0003_seed.sql:2: '\\set' is a psql meta-command"
	printf -- '-- +goose Up\nCREATE TABLE t (id int);\n-- +goose Down\n\\set ON_ERROR_STOP on\nDROP TABLE t;\n' \
		>"$MIGDIR/0003_seed.sql"
	refused "migrations/0003_seed.sql:4: '\\set' is a psql meta-command"
	rm "$MIGDIR/0003_seed.sql"
	printf -- '-- migrate:up transaction:false\nCREATE TABLE t (id int);\n\\copy t from data.csv\n' \
		>"$MIGDIR/0003_seed.up.sql"
	refused "migrations/0003_seed.up.sql:3: '\\copy' is a psql meta-command"
}

@test "realfiles: backslash lines inside strings, comments and COPY rows are data, not meta-commands: the rows are what psql gives" {
	new_db ref
	cat >"$MIGDIR/0001_notes.sql" <<-'EOF'
		-- migrate:up
		CREATE TABLE notes (id int PRIMARY KEY, body text);

		/* A block comment may hold what looks like psql:
		\set ON_ERROR_STOP on
		\i seed.sql
		*/
		INSERT INTO notes VALUES (1, E'first line
		\\second line starts with an escaped backslash
		\. third starts with an escaped dot');

		INSERT INTO notes VALUES (2, 'standard string
		\.
		\i not a command either');

		INSERT INTO notes VALUES (3, $txt$dollar quoted
		\copy nothing
		\.
		$txt$);

		COPY notes (id, body) FROM stdin;
		4	\\i looks like a meta-command
		5	\N
		6	tab\there, newline\nthere, \\. in the middle; and a semicolon
		\.

		COPY notes (body, id) FROM stdin;
		\N	7
		\\.	8
		\\set x 1	9
		\.

		INSERT INTO notes SELECT 10, "col
		\x" FROM (SELECT 'quoted identifier' AS "col
		\x") AS q;

		-- migrate:down
		DROP TABLE notes;
	EOF
	run --separate-stderr bounded mig-apply < <(mig-list)
	assert_success
	assert_output $'0001\tnotes\tmigrations/0001_notes.sql'
	sed -n '2,/^-- migrate:down/p' "$MIGDIR/0001_notes.sql" | PSQL_ADMIN_DB=${TEST_DB}_ref psql_admin
	run diff <(rows_of "${TEST_DB}_ref" notes) <(rows_of "$TEST_DB" notes)
	assert_success
	run psql_admin -c "SELECT count(*), count(body) FROM notes"
	assert_output '10|8'
	run psql_admin -c "SELECT body FROM notes WHERE id IN (2, 8) ORDER BY id"
	assert_output $'standard string\n\\.\n\\i not a command either\n\\.'
}

# ---- interrupts while a COPY migration runs ------------------------------

# bulk_migrations [TRIGGER_SQL]: 0001 makes table bulk (with TRIGGER_SQL
# after it), 0002 copies 200000 rows into it and then sleeps 30 s.
bulk_migrations() {
	printf -- '-- migrate:up\nCREATE TABLE bulk (id int PRIMARY KEY, label text);\n%s\n-- migrate:down\nDROP TABLE bulk;\n' \
		"${1:-}" >"$MIGDIR/0001_bulk.sql"
	{
		echo '-- migrate:up'
		echo 'COPY bulk (id, label) FROM stdin;'
		awk 'BEGIN { for (i = 1; i <= 200000; i++) printf "%d\trow %d\n", i, i }'
		echo '\.'
		echo 'SELECT pg_sleep(30);'
		echo '-- migrate:down'
		echo 'TRUNCATE bulk;'
	} >"$MIGDIR/0002_load.sql"
	run --separate-stderr bounded mig-apply --to 0001 < <(mig-list)
	assert_success
	mig-list >"$BATS_TEST_TMPDIR/list"
}

# interrupt_within MS: SIGINT to JOB; it exits 130 within MS, nothing of
# 0002 is committed, and its backend is gone.
interrupt_within() {
	local t0 took st=0
	t0=$(date +%s%N)
	kill -INT "$JOB"
	wait "$JOB" || st=$?
	took=$((($(date +%s%N) - t0) / 1000000))
	JOB=
	cat err
	echo "exit $st after $took ms"
	[[ $st == 130 ]]
	((took < $1))
	run cat err
	assert_line --partial 'interrupted by SIGINT while running 0002_load; it was cancelled and rolled back'
	run cat out
	assert_output ''
	run psql_admin -c "SELECT count(*) FROM bulk"
	assert_output 0
	run applied_versions
	assert_output 0001
	wait_until 10 "SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'mig-apply'"
}

@test "realfiles: SIGINT after a 200000-row COPY, in the statement after it, exits 130 at once and commits nothing" {
	bulk_migrations
	env --default-signal=INT mig-apply <"$BATS_TEST_TMPDIR/list" >out 2>err &
	JOB=$!
	# The COPY is done once the statement after it runs.
	wait_until 20 "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'mig-apply'
		AND state = 'active' AND query LIKE 'SELECT pg_sleep(30)%'"
	local backend
	backend=$(psql_admin -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'mig-apply'")
	interrupt_within 5000
	# Cancelled on the server, not left to sleep on.
	run grep -q "\[$backend\] mig-apply ERROR:  canceling statement due to user request" "$PGTMP_DIR/server.log"
	assert_success
}

@test "realfiles: SIGINT while COPY rows are still streaming to a slow server exits 130 within seconds and commits nothing" {
	# A row trigger slows the server to about 1000 rows a second, so the
	# rows are still being sent when the signal comes.
	bulk_migrations "CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
    PERFORM pg_sleep(0.001);
    RETURN NEW;
END
\$\$;
CREATE TRIGGER bulk_slow BEFORE INSERT ON bulk FOR EACH ROW EXECUTE FUNCTION slow_row();"
	env --default-signal=INT mig-apply <"$BATS_TEST_TMPDIR/list" >out 2>err &
	JOB=$!
	wait_until 20 "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'mig-apply'
		AND state = 'active' AND query LIKE 'COPY bulk%'"
	sleep 2
	interrupt_within 5000
}

# ---- another project's history -------------------------------------------

@test "realfiles: a project's history (DO blocks, functions, enums, partitions, backfill, view) applies, reverts fully and applies again the same" {
	new_db empty
	cp "$FIX"/history/*.sql "$MIGDIR"/
	run --separate-stderr bounded mig-apply < <(mig-list)
	assert_success
	assert_equal "${#lines[@]}" 7
	schema_of "$TEST_DB" >"$BATS_TEST_TMPDIR/first.sql"
	# What the files meant: spot checks of each habit.
	run psql_admin -c "SELECT slug, plan FROM active_accounts ORDER BY id"
	assert_output $'acme-inc|pro\no-brien-sons|free\nn-c-d-gmbh|free'
	run psql_admin -c "SELECT count(*) FROM pg_inherits WHERE inhparent = 'account_events'::regclass"
	assert_output 13
	run psql_admin -c "SELECT string_agg(e, ',') FROM unnest(enum_range(NULL::account_plan)::text[]) AS e"
	assert_output 'free,pro,enterprise'
	run psql_admin -c "SELECT op, count(*) FROM audit_log GROUP BY op"
	assert_output 'U|3'
	psql_admin -c "UPDATE accounts SET plan = 'enterprise' WHERE id = 1"
	run psql_admin -c "SELECT diff FROM audit_log ORDER BY id DESC LIMIT 1"
	assert_output '{"plan": "enterprise"}'

	run --separate-stderr bounded mig-revert --all < <(mig-list)
	assert_success
	assert_equal "${#lines[@]}" 7
	run diff <(schema_of "${TEST_DB}_empty") <(schema_of "$TEST_DB")
	assert_success
	run applied_versions
	assert_output ''

	run --separate-stderr bounded mig-apply < <(mig-list)
	assert_success
	assert_equal "${#lines[@]}" 7
	run diff "$BATS_TEST_TMPDIR/first.sql" <(schema_of "$TEST_DB")
	assert_success
	# A sanity check of the check: the schema is not empty.
	run grep -c 'CREATE TABLE public.account_events_2023_' "$BATS_TEST_TMPDIR/first.sql"
	assert_output 12
}

#!/usr/bin/env bats
# Migration files: the dbmate and goose single-file layouts, the
# golang-migrate pair, section markers and options, reversibility, the
# errors a malformed file gives (before connecting), and the checksum.

load helper

TAB=$'\t'

listed() {
	mig-list
}

# An address where nothing listens: a tool that connects gives 69.
NOWHERE="postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"

# ---- dbmate layout ------------------------------------------------------

@test "files: a dbmate file applies its up section and reverts with its down section" {
	put 0001_users.sql <<-'EOF'
		-- migrate:up
		CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL);
		INSERT INTO users (email) VALUES ('a@example.com');

		-- migrate:down
		DROP TABLE users;
	EOF
	run --separate-stderr mig-apply < <(listed)
	assert_success
	assert_output "0001${TAB}users${TAB}migrations/0001_users.sql"
	run psql_admin -c "SELECT email FROM users"
	assert_output 'a@example.com'
	run psql_admin -c "SELECT down_sql FROM mig_history"
	assert_output 'DROP TABLE users;'

	run --separate-stderr mig-revert < <(listed)
	assert_success
	run table_exists users
	assert_failure
	run applied_versions
	assert_output ''
}

@test "files: blank lines and -- comments may stand before the first marker" {
	put 0001_a.sql <<-'EOF'

		-- A header comment, as editors and generators write.
		   -- indented too

		-- migrate:up
		CREATE TABLE a (id int);
		-- migrate:down
		DROP TABLE a;
	EOF
	run mig-apply -q < <(listed)
	assert_success
	run table_exists a
	assert_success
}

@test "files: a /* */ comment may stand before the first marker" {
	put 0001_a.sql <<-'EOF'
		/* Author: someone
		   Ticket: 42 */
		/* one-liner */ -- and a line comment
		-- migrate:up
		CREATE TABLE a (id int);
	EOF
	run mig-apply -q < <(listed)
	assert_success
	run table_exists a
	assert_success
}

@test "files: --migrate:up without a space is a marker, as in dbmate" {
	put 0001_a.sql <<-'EOF'
		--migrate:up
		CREATE TABLE a (id int);
		--migrate:down
		DROP TABLE a;
	EOF
	run mig-apply -q < <(listed)
	assert_success
	run psql_admin -c "SELECT down_sql FROM mig_history"
	assert_output 'DROP TABLE a;'
}

@test "files: without transaction:false an up section runs in a transaction" {
	put 0001_idx.sql <<-'EOF'
		-- migrate:up
		CREATE TABLE t (id int);
		CREATE INDEX CONCURRENTLY t_id ON t (id);
	EOF
	run --separate-stderr mig-apply < <(listed)
	assert_failure 1
	[[ $stderr == *"migrations/0001_idx.sql:3:1: ERROR:"* ]] || fail "no file:line in: $stderr"
	[[ $stderr == *"25001"* ]]
	run table_exists t
	assert_failure
}

@test "files: -- migrate:up transaction:false runs the section outside a transaction" {
	put 0001_idx.sql <<-'EOF'
		-- migrate:up transaction:false
		CREATE TABLE t (id int);
		CREATE INDEX CONCURRENTLY t_id ON t (id);
		-- migrate:down transaction:false
		DROP INDEX CONCURRENTLY t_id;
		DROP TABLE t;
	EOF
	run --separate-stderr mig-apply < <(listed)
	assert_success
	assert_output "0001${TAB}idx${TAB}migrations/0001_idx.sql"
	run psql_admin -c "SELECT indexname FROM pg_indexes WHERE tablename = 't'"
	assert_output t_id
	run psql_admin -c "SELECT state, statements_done FROM mig_history"
	assert_output 'applied|2'

	# The down marker's option is honoured too: DROP INDEX CONCURRENTLY.
	run --separate-stderr mig-revert < <(listed)
	assert_success
	run table_exists t
	assert_failure
	run applied_versions
	assert_output ''
}

@test "files: the down marker's transaction:false survives a revert from the history" {
	put 0001_idx.sql <<-'EOF'
		-- migrate:up
		CREATE TABLE t (id int);
		CREATE INDEX t_id ON t (id);
		-- migrate:down transaction:false
		DROP INDEX CONCURRENTLY t_id;
		DROP TABLE t;
	EOF
	run mig-apply -q < <(listed)
	assert_success
	rm "$MIGDIR/0001_idx.sql"
	run --separate-stderr mig-revert </dev/null
	assert_success
	run table_exists t
	assert_failure
}

@test "files: an unknown marker option is 65 naming file and line" {
	put 0001_a.sql <<-'EOF'
		-- migrate:up
		CREATE TABLE a (id int);
		-- migrate:down transaction:maybe
		DROP TABLE a;
	EOF
	run --separate-stderr mig-apply < <(listed)
	assert_failure 65
	assert_equal "$output" ''
	[[ $stderr == *"migrations/0001_a.sql:3:"* ]] || fail "no file:line in: $stderr"
	[[ $stderr == *"transaction:maybe"* ]]
	run table_exists mig_history
	assert_failure
}

@test "files: an unknown marker is 65 naming file and line" {
	put 0001_a.sql <<-'EOF'
		-- migrate:up
		CREATE TABLE a (id int);
		-- migrate:sideways
	EOF
	run --separate-stderr mig-apply < <(listed)
	assert_failure 65
	[[ $stderr == *"migrations/0001_a.sql:3:"* ]] || fail "no file:line in: $stderr"
}

# ---- goose layout -------------------------------------------------------

@test "files: a goose file with a plpgsql function in StatementBegin/End applies and reverts" {
	put 0001_fn.sql <<-'EOF'
		-- +goose Up
		CREATE TABLE counters (n int NOT NULL);
		INSERT INTO counters VALUES (0);

		-- +goose StatementBegin
		CREATE FUNCTION bump(step int) RETURNS int LANGUAGE plpgsql AS $$
		DECLARE
			result int;
		BEGIN
			UPDATE counters SET n = n + step;
			SELECT n INTO result FROM counters;
			RETURN result;
		END;
		$$;
		-- +goose StatementEnd

		-- +goose Down
		-- +goose StatementBegin
		DROP FUNCTION bump(int);
		-- +goose StatementEnd
		DROP TABLE counters;
	EOF
	run --separate-stderr mig-apply < <(listed)
	assert_success
	assert_output "0001${TAB}fn${TAB}migrations/0001_fn.sql"
	run psql_admin -c "SELECT bump(3); SELECT bump(4)"
	assert_output $'3\n7'

	run --separate-stderr mig-revert < <(listed)
	assert_success
	run psql_admin -c "SELECT count(*) FROM pg_proc WHERE proname = 'bump'"
	assert_output 0
	run table_exists counters
	assert_failure
}

@test "files: goose StatementBegin/End keeps a semicolon-laden body whole outside a transaction" {
	put 0001_fn.sql <<-'EOF'
		-- +goose NO TRANSACTION
		-- +goose Up
		CREATE TABLE log (msg text);
		-- +goose StatementBegin
		CREATE FUNCTION note(m text) RETURNS void LANGUAGE plpgsql AS '
		BEGIN
			INSERT INTO log VALUES (m);
			INSERT INTO log VALUES (m || ''!'');
		END;
		';
		-- +goose StatementEnd
		SELECT note('hi');
		-- +goose Down
		DROP FUNCTION note(text);
		DROP TABLE log;
	EOF
	run --separate-stderr mig-apply < <(listed)
	assert_success
	run psql_admin -c "SELECT msg FROM log ORDER BY msg"
	assert_output $'hi\nhi!'
	run psql_admin -c "SELECT state, statements_done FROM mig_history"
	assert_output 'applied|3'
}

@test "files: -- +goose NO TRANSACTION runs outside a transaction" {
	put 0001_idx.sql <<-'EOF'
		-- +goose NO TRANSACTION
		-- +goose Up
		CREATE TABLE t (id int);
		CREATE INDEX CONCURRENTLY t_id ON t (id);

		-- +goose Down
		DROP INDEX CONCURRENTLY t_id;
		DROP TABLE t;
	EOF
	run --separate-stderr mig-apply < <(listed)
	assert_success
	run psql_admin -c "SELECT indexname FROM pg_indexes WHERE tablename = 't'"
	assert_output t_id
	run --separate-stderr mig-revert < <(listed)
	assert_success
	run table_exists t
	assert_failure
}

@test "files: a goose file without NO TRANSACTION runs in a transaction" {
	put 0001_idx.sql <<-'EOF'
		-- +goose Up
		CREATE TABLE t (id int);
		CREATE INDEX CONCURRENTLY t_id ON t (id);
	EOF
	run --separate-stderr mig-apply < <(listed)
	assert_failure 1
	run table_exists t
	assert_failure
}

@test "files: an unknown goose annotation is 65 naming file and line" {
	put 0001_a.sql <<-'EOF'
		-- +goose Up
		SELECT 1;
		-- +goose Sideways
	EOF
	run --separate-stderr mig-apply < <(listed)
	assert_failure 65
	[[ $stderr == *"migrations/0001_a.sql:3:"* ]] || fail "no file:line in: $stderr"
}

@test "files: a goose Up given twice is 65 at the second one's line" {
	put 0001_a.sql <<-'EOF'
		-- +goose Up
		SELECT 1;
		-- +goose Down
		SELECT 2;
		-- +goose Up
		SELECT 3;
	EOF
	run --separate-stderr mig-apply < <(listed)
	assert_failure 65
	[[ $stderr == *"migrations/0001_a.sql:5:"* ]] || fail "no file:line in: $stderr"
}

@test "files: a goose file's checksum is the SHA-256 of its up section" {
	put 0001_a.sql <<-'EOF'
		-- +goose Up
		CREATE TABLE a (id int);
		-- +goose Down
		DROP TABLE a;
	EOF
	run mig-apply -q < <(listed)
	assert_success
	run psql_admin -c "SELECT checksum FROM mig_history"
	assert_output "$(sha $'CREATE TABLE a (id int);\n')"
}

# ---- the pair layout ----------------------------------------------------

@test "files: a pair applies the .up.sql and reverts with the .down.sql" {
	printf 'CREATE TABLE p (id int);\n' | put 0001_p.up.sql
	printf 'DROP TABLE p;\n' | put 0001_p.down.sql
	run --separate-stderr mig-apply < <(listed)
	assert_success
	assert_output "0001${TAB}p${TAB}migrations/0001_p.up.sql"
	run psql_admin -c "SELECT checksum = '$(sha $'CREATE TABLE p (id int);\n')', down_sql FROM mig_history"
	assert_output 't|DROP TABLE p;'
	run --separate-stderr mig-revert < <(listed)
	assert_success
	assert_output "0001${TAB}p${TAB}migrations/0001_p.up.sql"
	run table_exists p
	assert_failure
}

@test "files: pair files may open with marker lines carrying options" {
	put 0001_p.up.sql <<-'EOF'
		-- migrate:up transaction:false
		CREATE TABLE p (id int);
		CREATE INDEX CONCURRENTLY p_id ON p (id);
	EOF
	put 0001_p.down.sql <<-'EOF'
		-- +goose NO TRANSACTION
		DROP INDEX CONCURRENTLY p_id;
		DROP TABLE p;
	EOF
	run --separate-stderr mig-apply < <(listed)
	assert_success
	run psql_admin -c "SELECT indexname FROM pg_indexes WHERE tablename = 'p'"
	assert_output p_id
	# The marker line is not part of the up section.
	run psql_admin -c "SELECT checksum FROM mig_history"
	assert_output "$(sha $'CREATE TABLE p (id int);\nCREATE INDEX CONCURRENTLY p_id ON p (id);\n')"
	run --separate-stderr mig-revert < <(listed)
	assert_success
	run table_exists p
	assert_failure
}

@test "files: a pair's .up.sql may open with a plain up marker and comments" {
	put 0001_p.up.sql <<-'EOF'
		-- a comment
		/* and a block
		   comment */
		-- migrate:up
		CREATE TABLE p (id int);
	EOF
	put 0001_p.down.sql <<-'EOF'
		-- +goose Down
		DROP TABLE p;
	EOF
	run --separate-stderr mig-apply < <(listed)
	assert_success
	run --separate-stderr mig-revert < <(listed)
	assert_success
	run table_exists p
	assert_failure
}

@test "files: both layouts in one directory apply together in version order" {
	put 0001_a.sql <<-'EOF'
		-- migrate:up
		CREATE TABLE a (id int PRIMARY KEY);
		-- migrate:down
		DROP TABLE a;
	EOF
	printf 'CREATE TABLE b (a_id int REFERENCES a);\n' | put 0002_b.up.sql
	printf 'DROP TABLE b;\n' | put 0002_b.down.sql
	put 0003_c.sql <<-'EOF'
		-- +goose Up
		CREATE TABLE c (b int);
		-- +goose Down
		DROP TABLE c;
	EOF
	run --separate-stderr mig-apply < <(listed)
	assert_success
	assert_equal "${#lines[@]}" 3
	run applied_versions
	assert_output $'0001\n0002\n0003'
	run --separate-stderr mig-revert --all < <(listed)
	assert_success
	run applied_versions
	assert_output ''
}

# ---- reversibility ------------------------------------------------------

@test "files: no down section means irreversible: down_sql NULL and revert is 65" {
	put 0001_a.sql <<-'EOF'
		-- migrate:up
		CREATE TABLE a (id int);
	EOF
	run mig-apply -q < <(listed)
	assert_success
	run psql_admin -c "SELECT down_sql IS NULL FROM mig_history"
	assert_output t
	run --separate-stderr mig-revert < <(listed)
	assert_failure 65
	assert_equal "$output" ''
	run applied_versions
	assert_output 0001
	run table_exists a
	assert_success
}

@test "files: an .up.sql without .down.sql is irreversible" {
	printf 'CREATE TABLE p (id int);\n' | put 0001_p.up.sql
	run mig-apply -q < <(listed)
	assert_success
	run psql_admin -c "SELECT down_sql IS NULL FROM mig_history"
	assert_output t
	run --separate-stderr mig-revert < <(listed)
	assert_failure 65
	run applied_versions
	assert_output 0001
}

@test "files: a down marker with nothing after it reverts fine (nothing to undo)" {
	printf -- '-- migrate:up\nSELECT 1;\n-- migrate:down\n' | put 0001_a.sql
	run mig-apply -q < <(listed)
	assert_success
	run psql_admin -c "SELECT down_sql IS NOT NULL FROM mig_history"
	assert_output t
	run --separate-stderr mig-revert < <(listed)
	assert_success
	assert_output "0001${TAB}a${TAB}migrations/0001_a.sql"
	run applied_versions
	assert_output ''
}

@test "files: a down section of only comments and blank lines reverts fine" {
	printf -- '-- migrate:up\nSELECT 1;\n-- migrate:down\n\n-- nothing to undo\n\n' | put 0001_a.sql
	printf -- '-- +goose Up\nSELECT 1;\n-- +goose Down\n' | put 0002_b.sql
	run mig-apply -q < <(listed)
	assert_success
	run --separate-stderr mig-revert --all < <(listed)
	assert_success
	assert_equal "${#lines[@]}" 2
	run applied_versions
	assert_output ''
}

@test "files: an empty .down.sql reverts fine" {
	printf 'CREATE TABLE p (id int);\n' | put 0001_p.up.sql
	: | put 0001_p.down.sql
	run mig-apply -q < <(listed)
	assert_success
	run --separate-stderr mig-revert < <(listed)
	assert_success
	run applied_versions
	assert_output ''
	# nothing undone: the table stays
	run table_exists p
	assert_success
}

# ---- malformed files ----------------------------------------------------

@test "files: no up section is 65 naming the file at line 1" {
	local body
	for body in '' $'\n\n' $'-- just a comment\n' $'-- migrate:down\nDROP TABLE a;\n' \
		$'-- +goose Down\nDROP TABLE a;\n'; do
		printf '%s' "$body" | put 0001_a.sql
		run --separate-stderr mig-apply < <(listed)
		assert_failure 65
		assert_equal "$output" ''
		[[ $stderr == *"migrations/0001_a.sql:1:"* ]] || fail "no file:1 for '$body' in: $stderr"
	done
	run table_exists mig_history
	assert_failure
}

@test "files: an up marker given twice is 65 at the second one's line" {
	put 0001_a.sql <<-'EOF'
		-- migrate:up
		CREATE TABLE a (id int);
		-- migrate:down
		DROP TABLE a;

		-- migrate:up
		CREATE TABLE b (id int);
	EOF
	run --separate-stderr mig-apply < <(listed)
	assert_failure 65
	assert_equal "$output" ''
	[[ $stderr == *"migrations/0001_a.sql:6:"* ]] || fail "no file:6 in: $stderr"
	run table_exists a
	assert_failure
}

@test "files: a down marker given twice is 65 at the second one's line" {
	put 0001_a.sql <<-'EOF'
		-- migrate:up
		CREATE TABLE a (id int);
		-- migrate:down
		DROP TABLE a;
		-- migrate:down transaction:false
		DROP TABLE b;
	EOF
	run --separate-stderr mig-apply < <(listed)
	assert_failure 65
	[[ $stderr == *"migrations/0001_a.sql:5:"* ]] || fail "no file:5 in: $stderr"
}

@test "files: SQL before the first marker is 65 naming its line" {
	put 0001_a.sql <<-'EOF'
		-- a comment

		CREATE TABLE oops (id int);
		-- migrate:up
		CREATE TABLE a (id int);
	EOF
	run --separate-stderr mig-apply < <(listed)
	assert_failure 65
	assert_equal "$output" ''
	[[ $stderr == *"migrations/0001_a.sql:3:"* ]] || fail "no file:3 in: $stderr"
	run table_exists oops
	assert_failure
}

@test "files: a file with SQL and no marker at all is 65 at its first SQL line" {
	printf '\nCREATE TABLE a (id int);\n' | put 0001_a.sql
	run --separate-stderr mig-apply < <(listed)
	assert_failure 65
	[[ $stderr == *"migrations/0001_a.sql:2:"* ]] || fail "no file:2 in: $stderr"
}

@test "files: one bad file stops the whole run before anything is applied" {
	printf -- '-- migrate:up\nCREATE TABLE a (id int);\n' | put 0001_a.sql
	printf -- '-- migrate:up\nSELECT 1;\n-- migrate:up\n' | put 0002_b.sql
	run --separate-stderr mig-apply < <(listed)
	assert_failure 65
	[[ $stderr == *"migrations/0002_b.sql:3:"* ]]
	run table_exists a
	assert_failure
	run table_exists mig_history
	assert_failure
}

@test "files: contents are checked before connecting (65, not 69)" {
	printf -- '-- migrate:up\nSELECT 1;\n-- migrate:up\n' | put 0001_a.sql
	DATABASE_URL=$NOWHERE run --separate-stderr mig-apply < <(listed)
	assert_failure 65
	[[ $stderr == *"migrations/0001_a.sql:3:"* ]]
	DATABASE_URL=$NOWHERE run --separate-stderr mig-apply -n < <(listed)
	assert_failure 65
	DATABASE_URL=$NOWHERE run --separate-stderr mig-current --status < <(listed)
	assert_failure 65
	DATABASE_URL=$NOWHERE run --separate-stderr mig-revert < <(listed)
	assert_failure 65

	# the same with a good file reaches the connection
	printf -- '-- migrate:up\nSELECT 1;\n' | put 0001_a.sql
	DATABASE_URL=$NOWHERE run --separate-stderr mig-apply < <(listed)
	assert_failure 69
}

# ---- CRLF and BOM -------------------------------------------------------

@test "files: CRLF and a UTF-8 BOM give the checksum of the LF file's up section" {
	local up=$'CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n'
	printf '\xef\xbb\xbf-- migrate:up\r\nCREATE TABLE a (id int);\r\nINSERT INTO a VALUES (1);\r\n-- migrate:down\r\nDROP TABLE a;\r\n' |
		put 0001_a.sql
	run --separate-stderr mig-apply < <(listed)
	assert_success
	run psql_admin -c "SELECT checksum FROM mig_history"
	assert_output "$(sha "$up")"
	# up_sql and down_sql are stored with LF line ends
	run psql_admin -c "SELECT up_sql = E'CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n', down_sql FROM mig_history"
	assert_output 't|DROP TABLE a;'

	# The LF file without BOM is the same migration: not changed.
	printf -- '-- migrate:up\n%s-- migrate:down\nDROP TABLE a;\n' "$up" | put 0001_a.sql
	run --separate-stderr mig-current --status < <(listed)
	assert_success
	assert_output "applied${TAB}0001${TAB}a"
	run --separate-stderr mig-apply < <(listed)
	assert_success
	assert_output ''
}

@test "files: an LF file applied, then rewritten with CRLF, is not changed" {
	printf -- '-- migrate:up\nCREATE TABLE a (id int);\n' | put 0001_a.sql
	run mig-apply -q < <(listed)
	assert_success
	run psql_admin -c "SELECT checksum FROM mig_history"
	assert_output "$(sha $'CREATE TABLE a (id int);\n')"

	printf '\xef\xbb\xbf-- migrate:up\r\nCREATE TABLE a (id int);\r\n' | put 0001_a.sql
	run --separate-stderr mig-current --status < <(listed)
	assert_success
	assert_output "applied${TAB}0001${TAB}a"
	run --separate-stderr mig-apply < <(listed)
	assert_success
	assert_output ''
}

@test "files: a CRLF marker line keeps its transaction:false option" {
	printf -- '-- migrate:up transaction:false\r\nCREATE TABLE t (id int);\r\nCREATE INDEX CONCURRENTLY t_id ON t (id);\r\n' |
		put 0001_idx.sql
	run --separate-stderr mig-apply < <(listed)
	assert_success
	run psql_admin -c "SELECT state, statements_done FROM mig_history"
	assert_output 'applied|2'
}

@test "files: a BOM and CRLF in a pair's .up.sql give the LF checksum" {
	printf '\xef\xbb\xbfCREATE TABLE p (id int);\r\n' | put 0001_p.up.sql
	run mig-apply -q < <(listed)
	assert_success
	run psql_admin -c "SELECT checksum FROM mig_history"
	assert_output "$(sha $'CREATE TABLE p (id int);\n')"
}

@test "files: the checksum covers the up section only, not the down section" {
	printf -- '-- migrate:up\nCREATE TABLE a (id int);\n-- migrate:down\nDROP TABLE a;\n' | put 0001_a.sql
	run mig-apply -q < <(listed)
	assert_success
	run psql_admin -c "SELECT checksum FROM mig_history"
	assert_output "$(sha $'CREATE TABLE a (id int);\n')"
	# editing the down section keeps the migration applied, not changed
	printf -- '-- migrate:up\nCREATE TABLE a (id int);\n-- migrate:down\nDROP TABLE IF EXISTS a;\n' | put 0001_a.sql
	run --separate-stderr mig-current --status < <(listed)
	assert_output "applied${TAB}0001${TAB}a"
	# editing the up section is a change
	printf -- '-- migrate:up\nCREATE TABLE a (id bigint);\n-- migrate:down\nDROP TABLE a;\n' | put 0001_a.sql
	run --separate-stderr mig-current --status < <(listed)
	assert_output "changed${TAB}0001${TAB}a"
}

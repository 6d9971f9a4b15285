#!/usr/bin/env bats
# The SQL error report (PATH:LINE:COL: ERROR: message (SQLSTATE xxxxx), then
# DETAIL and HINT) and one test per failing path of the exit-code table for
# mig-apply and mig-revert.

load helper

teardown() {
	bg_cleanup
	mig_teardown
}

# ---- the error line -------------------------------------------------------------

@test "errors: a syntax error on the first line of a statement gives its line and column 1" {
	put 0001_a.sql '-- migrate:up\nSELEC 1;\n'
	run --separate-stderr apply
	assert_failure 1
	assert_output ''
	[[ ${stderr_lines[0]} == 'migrations/0001_a.sql:2:1: ERROR: syntax error at or near "SELEC" (SQLSTATE 42601)' ]]
	[[ ${#stderr_lines[@]} == 1 ]]
}

@test "errors: a pair's .up.sql without a marker starts at line 1" {
	put 0001_a.up.sql 'SELECT 1;\nSELECT nosuchcol FROM pg_class;\n'
	put 0001_a.down.sql ''
	run --separate-stderr apply
	assert_failure 1
	[[ ${stderr_lines[0]} == 'migrations/0001_a.up.sql:2:8: ERROR: column "nosuchcol" does not exist (SQLSTATE 42703)' ]]
}

@test "errors: an error on a later line of a multi-line statement gives that line and column" {
	put 0001_a.sql '-- migrate:up\nCREATE TABLE t (\n    id int,\n    x nosuchtype\n);\n'
	run --separate-stderr apply
	assert_failure 1
	[[ ${stderr_lines[0]} == 'migrations/0001_a.sql:4:7: ERROR: type "nosuchtype" does not exist (SQLSTATE 42704)' ]]
}

@test "errors: an error in the 3rd statement of a section maps to its own line" {
	put 0001_a.sql '-- migrate:up\nCREATE TABLE a (x int);\nINSERT INTO a VALUES (1);\nSELECT x, nosuchcol FROM a;\n-- migrate:down\nDROP TABLE a;\n'
	run --separate-stderr apply
	assert_failure 1
	[[ ${stderr_lines[0]} == 'migrations/0001_a.sql:4:11: ERROR: column "nosuchcol" does not exist (SQLSTATE 42703)' ]]
	refute table_exists a
}

@test "errors: the 3rd statement on one line gets the column on that line" {
	put 0001_a.sql '-- migrate:up\nSELECT 1; /* two */ SELECT 2; SELECT nosuchcol FROM pg_class;\n'
	run --separate-stderr apply
	assert_failure 1
	[[ ${stderr_lines[0]} == 'migrations/0001_a.sql:2:38: ERROR: column "nosuchcol" does not exist (SQLSTATE 42703)' ]]
}

@test "errors: comments and blank lines before a statement are counted" {
	put 0001_a.sql '-- migrate:up\n\n-- a comment\n/* and a\n   block */\nSELECT\n\t\tnosuchcol FROM pg_class;\n'
	run --separate-stderr apply
	assert_failure 1
	[[ ${stderr_lines[0]} == 'migrations/0001_a.sql:7:3: ERROR: column "nosuchcol" does not exist (SQLSTATE 42703)' ]]
}

@test "errors: the column counts characters, not bytes, after multibyte UTF-8" {
	put 0001_a.sql "-- migrate:up\nSELECT 'héllo€', nosuchcol FROM pg_class;\n"
	run --separate-stderr apply
	assert_failure 1
	[[ ${stderr_lines[0]} == 'migrations/0001_a.sql:2:18: ERROR: column "nosuchcol" does not exist (SQLSTATE 42703)' ]]
	# And on a later line, after multibyte text on earlier ones.
	put 0001_a.sql "-- migrate:up\n-- ünïcödé ✓\nSELECT '日本語',\n  'ß', nosuchcol FROM pg_class;\n"
	run --separate-stderr apply
	assert_failure 1
	[[ ${stderr_lines[0]} == 'migrations/0001_a.sql:4:8: ERROR: column "nosuchcol" does not exist (SQLSTATE 42703)' ]]
}

@test "errors: a transaction:false statement reports its own line and column" {
	put 0001_a.sql '-- migrate:up transaction:false\nCREATE TABLE a (x int);\nCREATE INDEX CONCURRENTLY a_x ON a (x);\nUPDATE a\n   SET x = nosuchcol;\n'
	run --separate-stderr apply
	assert_failure 1
	[[ ${stderr_lines[0]} == 'migrations/0001_a.sql:5:12: ERROR: column "nosuchcol" does not exist (SQLSTATE 42703)' ]]
	run psql_admin -c "SELECT state, statements_done FROM mig_history"
	assert_output 'partial|2'
}

@test "errors: a pair's .up.sql with a marker line on top counts that line" {
	put 0001_a.up.sql '-- migrate:up transaction:false\nSELECT 1;\nSELECT nosuchcol FROM pg_class;\n'
	put 0001_a.down.sql 'SELECT 1;\n'
	run --separate-stderr apply
	assert_failure 1
	[[ ${stderr_lines[0]} == 'migrations/0001_a.up.sql:3:8: ERROR: column "nosuchcol" does not exist (SQLSTATE 42703)' ]]
	put 0001_a.up.sql '-- +goose NO TRANSACTION\n\nSELECT nosuchcol FROM pg_class;\n'
	run psql_admin -c "DELETE FROM mig_history"
	run --separate-stderr apply
	assert_failure 1
	[[ ${stderr_lines[0]} == 'migrations/0001_a.up.sql:3:8: ERROR: column "nosuchcol" does not exist (SQLSTATE 42703)' ]]
}

@test "errors: a CRLF file reports the same lines and columns as an LF one" {
	put 0001_a.sql '-- migrate:up\r\nCREATE TABLE a (x int);\r\nINSERT INTO a VALUES (1);\r\nSELECT x, nosuchcol FROM a;\r\n'
	run --separate-stderr apply
	assert_failure 1
	[[ ${stderr_lines[0]} == 'migrations/0001_a.sql:4:11: ERROR: column "nosuchcol" does not exist (SQLSTATE 42703)' ]]
}

@test "errors: a down section's error maps to its line in the file" {
	put 0001_a.sql '-- migrate:up\nCREATE TABLE a (x int);\n\n-- migrate:down\nDROP TABLE a;\nSELECT nosuchcol FROM pg_class;\n'
	run apply
	assert_success
	run --separate-stderr revert
	assert_failure 1
	[[ ${stderr_lines[0]} == 'migrations/0001_a.sql:6:8: ERROR: column "nosuchcol" does not exist (SQLSTATE 42703)' ]]
	table_exists a
}

@test "errors: DETAIL follows when the server sends one (unique violation)" {
	put 0001_a.sql '-- migrate:up\nCREATE TABLE u (x int UNIQUE);\nINSERT INTO u\n  VALUES (1), (1);\n'
	run --separate-stderr apply
	assert_failure 1
	[[ ${stderr_lines[0]} == 'migrations/0001_a.sql:3:1: ERROR: duplicate key value violates unique constraint "u_x_key" (SQLSTATE 23505)' ]]
	[[ ${stderr_lines[1]} == 'DETAIL: Key (x)=(1) already exists.' ]]
	[[ ${#stderr_lines[@]} == 2 ]]
	refute table_exists u
}

@test "errors: HINT follows when the server sends one (misspelled function)" {
	put 0001_a.sql '-- migrate:up\nSELECT no_such_fn(1);\n'
	run --separate-stderr apply
	assert_failure 1
	[[ ${stderr_lines[0]} == 'migrations/0001_a.sql:2:8: ERROR: function no_such_fn(integer) does not exist (SQLSTATE 42883)' ]]
	[[ ${stderr_lines[1]} == 'HINT: No function matches the given name and argument types. You might need to add explicit type casts.' ]]
}

@test "errors: DETAIL and HINT both, in that order" {
	put 0001_a.sql "-- migrate:up\nDO \$\$ BEGIN RAISE EXCEPTION 'boom' USING DETAIL = 'the detail', HINT = 'the hint'; END \$\$;\n"
	run --separate-stderr apply
	assert_failure 1
	[[ ${stderr_lines[0]} == 'migrations/0001_a.sql:2:1: ERROR: boom (SQLSTATE P0001)' ]]
	[[ ${stderr_lines[1]} == 'DETAIL: the detail' ]]
	[[ ${stderr_lines[2]} == 'HINT: the hint' ]]
}

@test "errors: with no position the line is the failing statement's first, column 1" {
	put 0001_a.sql '-- migrate:up\nCREATE TABLE a (x int);\n\n-- the failing one:\nSELECT 1 /\n  0;\n'
	run --separate-stderr apply
	assert_failure 1
	[[ ${stderr_lines[0]} == 'migrations/0001_a.sql:5:1: ERROR: division by zero (SQLSTATE 22012)' ]]
	put 0001_a.sql '-- migrate:up\nSELECT 1;    SELECT 1/0;\n'
	run --separate-stderr apply
	assert_failure 1
	[[ ${stderr_lines[0]} == 'migrations/0001_a.sql:2:1: ERROR: division by zero (SQLSTATE 22012)' ]]
}

@test "errors: the failing migration rolls back, the ones before stay applied, the rest do not run" {
	put 0001_a.sql '-- migrate:up\nCREATE TABLE a (x int);\n'
	put 0002_b.sql '-- migrate:up\nCREATE TABLE b (x int);\nSELECT nosuchcol FROM b;\n'
	put 0003_c.sql '-- migrate:up\nCREATE TABLE c (x int);\n'
	run --separate-stderr apply
	assert_failure 1
	assert_output "$(printf '0001\ta\tmigrations/0001_a.sql')"
	[[ $stderr == *'migrations/0002_b.sql:3:8: ERROR: column "nosuchcol" does not exist (SQLSTATE 42703)'* ]]
	table_exists a
	refute table_exists b
	refute table_exists c
	run applied_versions
	assert_output 0001
}

@test "errors: a password in a connection string quoted by a server message is masked" {
	put 0001_a.sql "-- migrate:up\nDO \$\$ BEGIN RAISE EXCEPTION 'x % y', 'password=$PGTMP_PASSWORD'; END \$\$;\n"
	run --separate-stderr apply
	assert_failure 1
	[[ $stderr == *'migrations/0001_a.sql:2:1: ERROR: x password=*** y (SQLSTATE P0001)'* ]]
}

@test "errors: an error inside a function says where in a CONTEXT line" {
	put 0001_fn.sql "-- migrate:up\nCREATE FUNCTION boom() RETURNS int LANGUAGE plpgsql AS \$\$\nBEGIN\n  RAISE EXCEPTION 'inner';\nEND \$\$;\n"
	put 0002_call.sql '-- migrate:up\nSELECT 1;\nSELECT boom();\n'
	run --separate-stderr apply
	assert_failure 1
	[[ ${stderr_lines[1]} == 'migrations/0002_call.sql:3:1: ERROR: inner (SQLSTATE P0001)' ]]
	[[ ${stderr_lines[2]} == 'CONTEXT: PL/pgSQL function boom() line 3 at RAISE' ]]
}

@test "errors: an error inside a DO block names the file line of the failing line in the block" {
	put 0001_do.sql '-- migrate:up\nCREATE TABLE t (x int);\n\nDO $body$\nDECLARE\n  n int;\nBEGIN\n  n := 1;\n  PERFORM 1 / (n - 1);\nEND\n$body$;\n'
	run --separate-stderr apply
	assert_failure 1
	[[ ${stderr_lines[0]} == 'migrations/0001_do.sql:9:1: ERROR: division by zero (SQLSTATE 22012)' ]]
	[[ $stderr == *'CONTEXT: PL/pgSQL function inline_code_block line 6 at PERFORM'* ]]
	refute table_exists t
}

@test "errors: CREATE INDEX CONCURRENTLY in a transaction gets a hint naming transaction:false" {
	put 0001_idx.sql '-- migrate:up\nCREATE TABLE t (x int);\nCREATE INDEX CONCURRENTLY t_x ON t (x);\n'
	run --separate-stderr apply
	assert_failure 1
	[[ ${stderr_lines[0]} == 'migrations/0001_idx.sql:3:1: ERROR: CREATE INDEX CONCURRENTLY cannot run inside a transaction block (SQLSTATE 25001)' ]]
	[[ $stderr == *'HINT: '*'transaction:false'* ]]
}

@test "errors: notices and warnings carry the migration's path; -q hides notices, never warnings" {
	put 0001_talk.sql "-- migrate:up\nDO \$\$ BEGIN RAISE NOTICE 'hello'; RAISE WARNING 'careful'; END \$\$;\n"
	put 0002_notx.sql "-- migrate:up transaction:false\nDO \$\$ BEGIN RAISE NOTICE 'from notx'; END \$\$;\n"
	run --separate-stderr apply
	assert_success
	[[ $stderr == *'migrations/0001_talk.sql: NOTICE: hello'* ]]
	[[ $stderr == *'migrations/0001_talk.sql: WARNING: careful'* ]]
	[[ $stderr == *'migrations/0002_notx.sql: NOTICE: from notx'* ]]
	run --separate-stderr revert --all </dev/null
	run psql_admin -c 'DROP TABLE mig_history'
	run --separate-stderr apply -q
	assert_success
	[[ $stderr != *hello* ]]
	[[ $stderr != *'from notx'* ]]
	[[ $stderr == *'migrations/0001_talk.sql: WARNING: careful'* ]]
}

@test "errors: a progress line names the migration as VERSION_NAME" {
	put 0001_slow.sql '-- migrate:up\nSELECT pg_sleep(5.6);\n'
	run --separate-stderr apply
	assert_success
	[[ $stderr == *'mig-apply: 0001_slow: still running (5 s)'* ]]
}

# ---- the exit-code table ----------------------------------------------------------

@test "exit 1: a failing migration, for mig-apply and mig-revert, naming file and line" {
	put 0001_a.sql '-- migrate:up\nSELECT 1/0;\n'
	run apply
	assert_failure 1
	assert_output --partial 'migrations/0001_a.sql:2:1: ERROR'
	put 0001_a.sql '-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 1/0;\n'
	run apply
	assert_success
	run revert
	assert_failure 1
	assert_output --partial 'migrations/0001_a.sql:4:1: ERROR'
}

@test "exit 64: a bad option or argument, for mig-apply and mig-revert" {
	put 0001_a.sql '-- migrate:up\nCREATE TABLE a (x int);\n'
	local tool
	for tool in mig-apply mig-revert; do
		run "$tool" --no-such-option </dev/null
		assert_failure 64
		assert_output --partial 'usage:'
		run "$tool" stray-argument </dev/null
		assert_failure 64
		run "$tool" --lock-timeout abc </dev/null
		assert_failure 64
		assert_output --partial '--lock-timeout'
		run "$tool" --lock-wait=-1 </dev/null
		assert_failure 64
		run "$tool" --lock-retries </dev/null
		assert_failure 64
		run "$tool" --statement-timeout 1.5 </dev/null
		assert_failure 64
		run "$tool" --table 'a b' </dev/null
		assert_failure 64
	done
	run apply --to
	assert_failure 64
	run revert --all --to 1
	assert_failure 64
	refute table_exists a
	refute table_exists mig_history
}

@test "exit 64: an invalid conninfo, with -d or in DATABASE_URL, for mig-apply and mig-revert" {
	put 0001_a.sql '-- migrate:up\nCREATE TABLE a (x int);\n'
	mig_secret hunter2-conninfo
	local tool
	for tool in mig-apply mig-revert; do
		run "$tool" -d "postgresql://mig:hunter2-conninfo@127.0.0.1:$PGTMP_PORT/$TEST_DB?no_such_option=1" </dev/null
		assert_failure 64
		assert_output --partial 'invalid connection string'
		DATABASE_URL="host=127.0.0.1 password=hunter2-conninfo port" run "$tool" </dev/null
		assert_failure 64
		assert_output --partial 'DATABASE_URL'
	done
	refute table_exists mig_history
}

@test "exit 65: a malformed list, a duplicate version, a bad file, naming the line or file" {
	put 0001_a.sql '-- migrate:up\nCREATE TABLE a (x int);\n'
	run mig-apply <<<$'0001\ta'
	assert_failure 65
	assert_output --partial 'stdin:1'
	run mig-apply <<<$'0001\ta\tmigrations/0001_a.sql\n1\ta\tmigrations/0001_a.sql'
	assert_failure 65
	assert_output --partial 'stdin:2'
	run mig-apply <<<$'0002\ta\tmigrations/0001_a.sql'
	assert_failure 65
	assert_output --partial 'stdin:1'
	run mig-revert <<<'not a migration'
	assert_failure 65
	assert_output --partial 'stdin:1'
	put 0002_b.sql 'CREATE TABLE b (x int);\n'
	run apply
	assert_failure 65
	assert_output --partial 'migrations/0002_b.sql:1'
	put 0002_b.sql '-- migrate:up\nCREATE TABLE b (x int);\n-- migrate:up\n'
	run apply
	assert_failure 65
	assert_output --partial 'migrations/0002_b.sql:3'
	refute table_exists a
	refute table_exists mig_history
}

@test "exit 65: a checksum change, naming the file" {
	put 0001_a.sql '-- migrate:up\nCREATE TABLE a (x int);\n'
	run apply
	assert_success
	put 0001_a.sql '-- migrate:up\nCREATE TABLE a (y int);\n'
	run apply
	assert_failure 65
	assert_output --partial 'migrations/0001_a.sql'
}

@test "exit 65: out of order, naming the file" {
	put 0002_b.sql '-- migrate:up\nCREATE TABLE b (x int);\n'
	run apply
	assert_success
	put 0001_a.sql '-- migrate:up\nCREATE TABLE a (x int);\n'
	run apply
	assert_failure 65
	assert_output --partial 'migrations/0001_a.sql'
	refute table_exists a
}

@test "exit 65: --to not in the list (apply) or not applied (revert)" {
	put 0001_a.sql '-- migrate:up\nCREATE TABLE a (x int);\n-- migrate:down\nDROP TABLE a;\n'
	run apply --to 7
	assert_failure 65
	assert_output --partial '--to 7'
	run apply
	assert_success
	run revert --to 7
	assert_failure 65
	assert_output --partial '--to 7'
	table_exists a
}

@test "exit 65: --single-transaction with a transaction:false migration, naming the file" {
	put 0001_a.sql '-- migrate:up transaction:false\nCREATE TABLE a (x int);\n'
	run apply --single-transaction
	assert_failure 65
	assert_output --partial 'migrations/0001_a.sql'
	refute table_exists a
}

@test "exit 65: a partial migration whose done statement changed, naming the file" {
	put 0001_a.sql '-- migrate:up transaction:false\nCREATE TABLE a (x int);\nSELECT 1/0;\n'
	run apply
	assert_failure 1
	put 0001_a.sql '-- migrate:up transaction:false\nCREATE TABLE a (x bigint);\nSELECT 1;\n'
	run apply
	assert_failure 65
	assert_output --partial 'migrations/0001_a.sql'
}

@test "exit 65: reverting an irreversible migration, naming the file" {
	put 0001_a.sql '-- migrate:up\nCREATE TABLE a (x int);\n'
	run apply
	assert_success
	run revert
	assert_failure 65
	assert_output --partial 'migrations/0001_a.sql'
	table_exists a
}

@test "exit 66: a listed file that does not exist, for mig-apply and mig-revert" {
	run mig-apply <<<$'0001\ta\tmigrations/0001_a.sql'
	assert_failure 66
	assert_output --partial 'migrations/0001_a.sql'
	run mig-revert <<<'migrations/0002_b.sql'
	assert_failure 66
	assert_output --partial 'migrations/0002_b.sql'
	run bash -o pipefail -c 'mig-list nosuchdir | mig-apply'
	assert_failure 66
	refute table_exists mig_history
}

@test "exit 69: cannot connect, naming the server without the password" {
	put 0001_a.sql '-- migrate:up\nCREATE TABLE a (x int);\n'
	local tool
	for tool in mig-apply mig-revert; do
		run bash -c "mig-list | $tool -p 1"
		assert_failure 69
		assert_output --partial "cannot connect to mig@127.0.0.1:1/$TEST_DB"
	done
	refute table_exists mig_history
	# Authentication failed is 69 too.
	mig_secret wrong-pw-69
	DATABASE_URL=${DATABASE_URL/"$PGTMP_PASSWORD"/wrong-pw-69} run bash -c 'mig-list | mig-apply'
	assert_failure 69
	assert_output --partial 'password authentication failed'
	assert_output --partial "mig@127.0.0.1:$PGTMP_PORT/$TEST_DB"
}

@test "exit 75: mig-apply gives up after --lock-wait while another session holds the lock" {
	put 0001_a.sql '-- migrate:up\nCREATE TABLE a (x int);\n'
	hold_advisory_lock
	run --separate-stderr apply --lock-wait 1
	assert_failure 75
	assert_output ''
	[[ $stderr == *'migration lock'*'--lock-wait'* ]]
	refute table_exists a
	bg_cleanup
	run apply --lock-wait 1
	assert_success
}

@test "exit 75: mig-revert gives up after --lock-wait while another session holds the lock" {
	put 0001_a.sql '-- migrate:up\nCREATE TABLE a (x int);\n-- migrate:down\nDROP TABLE a;\n'
	run apply
	assert_success
	hold_advisory_lock
	run --separate-stderr revert --lock-wait=1
	assert_failure 75
	assert_output ''
	table_exists a
	run applied_versions
	assert_output 0001
}

@test "exit 75: the lock key follows --table" {
	put 0001_a.sql '-- migrate:up\nCREATE TABLE a (x int);\n'
	hold_advisory_lock other_history
	run apply --lock-wait 1
	assert_success
	put 0002_b.sql '-- migrate:up\nCREATE TABLE b (x int);\n'
	run apply --lock-wait 1 --table Other_History
	assert_failure 75
	refute table_exists b
}

@test "errors: an error deep in a big file, sent in chunks, maps to its own line and column" {
	big_mig insert 0001_load 40000 31234
	run --separate-stderr apply
	assert_failure 1
	[[ ${stderr_lines[0]} == 'migrations/0001_load.sql:31236:20: ERROR: column "nosuchcol" of relation "items" does not exist (SQLSTATE 42703)' ]]
	run table_exists items
	assert_failure
}

@test "errors: an error without a position deep in a big file names its statement's line" {
	big_mig insert 0001_load 40000
	# Row 27001 becomes a second row 5: a unique violation, which has no position.
	sed -i '27003s/VALUES (27001,/VALUES (5,/' "$MIGDIR/0001_load.sql"
	run --separate-stderr apply
	assert_failure 1
	[[ ${stderr_lines[0]} == 'migrations/0001_load.sql:27003:1: ERROR: duplicate key value violates unique constraint "items_pkey" (SQLSTATE 23505)' ]]
	run table_exists items
	assert_failure
}

#!/usr/bin/env bats
# mig-apply: the history table, the plan (pending, --to, out of order,
# checksums), what it prints, transactions, transaction:false progress and
# the production-safety timeouts.

load helper

teardown() {
	bg_cleanup
	mig_teardown
}

# hold_lock TABLE: another session holds an exclusive lock on TABLE (which
# it creates, for mig to use) until bg_cleanup.
hold_lock() {
	local i
	psql_admin -c "CREATE TABLE $1 (x int); GRANT ALL ON $1 TO mig"
	psql_admin -c 'BEGIN' -c "LOCK TABLE $1" -c 'SELECT pg_sleep(60)' >/dev/null 2>&1 &
	# shellcheck disable=SC2034 # bg_cleanup (helper.bash) reads it
	BG_PID=$!
	for ((i = 0; i < 200; i++)); do
		BG_BACKEND=$(psql_admin -c "SELECT pid FROM pg_locks WHERE relation = '$1'::regclass
			AND granted AND mode = 'AccessExclusiveLock'")
		[[ -n $BG_BACKEND ]] && return 0
		sleep 0.05
	done
	return 1
}

# wait_blocked PID: until mig-apply waits on a lock (or PID is gone).
wait_blocked() {
	local i n
	for ((i = 0; i < 200; i++)); do
		n=$(psql_admin -c "SELECT count(*) FROM pg_stat_activity
			WHERE application_name = 'mig-apply' AND wait_event_type = 'Lock'")
		[[ $n == 1 ]] && return 0
		kill -0 "$1" || return 1
		sleep 0.05
	done
	return 1
}

# ---- the history table ---------------------------------------------------

@test "mig-apply: the first apply creates mig_history with every column of the spec and its type" {
	write_mig 0001_a 'CREATE TABLE a (x int);' 'DROP TABLE a;'
	[[ $(psql_admin -c "SELECT to_regclass('public.mig_history') IS NULL") == t ]]
	run apply
	assert_success
	run psql_admin -c "SELECT column_name || ' ' || data_type FROM information_schema.columns
		WHERE table_schema = 'public' AND table_name = 'mig_history' ORDER BY ordinal_position"
	assert_output "id bigint
version text
name text
path text
checksum text
up_sql text
down_sql text
state text
statements_done integer
applied_at timestamp with time zone
duration_ms integer
applied_by text"
}

@test "mig-apply: a history row holds version, name, path, checksum, SQL, state, user and time" {
	write_mig 0001_a 'CREATE TABLE a (x int);' 'DROP TABLE a;'
	run apply
	assert_success
	run psql_admin -c "SELECT version, name, path, checksum, up_sql, down_sql, state,
		applied_by, duration_ms >= 0, applied_at BETWEEN now() - interval '1 minute' AND now()
		FROM mig_history"
	assert_output "0001|a|migrations/0001_a.sql|$(sha $'CREATE TABLE a (x int);\n')|CREATE TABLE a (x int);
|DROP TABLE a;
|applied|mig|t|t"
}

@test "mig-apply: the checksum reads CRLF as LF and drops a UTF-8 BOM" {
	printf '\xef\xbb\xbf-- migrate:up\r\nCREATE TABLE a (x int);\r\nCREATE TABLE b (x int);\r\n' \
		>"$MIGDIR/0001_a.sql"
	run apply
	assert_success
	run psql_admin -c "SELECT checksum FROM mig_history"
	assert_output "$(sha $'CREATE TABLE a (x int);\nCREATE TABLE b (x int);\n')"
}

@test "mig-apply: ids increase in the order of application" {
	write_mig 0002_b 'CREATE TABLE b (x int);'
	run apply
	assert_success
	write_mig 0001_a 'CREATE TABLE a (x int);'
	run apply --allow-out-of-order
	assert_success
	run psql_admin -c "SELECT string_agg(version, ' ' ORDER BY id) FROM mig_history"
	assert_output '0002 0001'
}

@test "mig-apply: MIG_TABLE names the history table and its missing schema is created" {
	write_mig 0001_a 'CREATE TABLE a (x int);'
	export MIG_TABLE=Ops.Mig_Log
	run apply
	assert_success
	table_exists ops.mig_log
	refute table_exists public.mig_history
	run applied_versions ops.mig_log
	assert_output 0001
	# The next run finds it there: nothing pending.
	run --separate-stderr apply
	assert_success
	assert_output ''
}

@test "mig-apply: --table wins over MIG_TABLE and keeps its own history" {
	write_mig 0001_a 'CREATE TABLE a (x int);'
	export MIG_TABLE=other_history
	run apply --table audit.schema_history
	assert_success
	table_exists audit.schema_history
	refute table_exists public.other_history
	run applied_versions audit.schema_history
	assert_output 0001
	run apply --table=audit.schema_history
	assert_success
	assert_output --partial 'up to date'
}

@test "mig-apply: the table is used schema-qualified whatever search_path says" {
	write_mig 0001_a 'CREATE TABLE a (x int);'
	psql_admin -c "CREATE SCHEMA trap AUTHORIZATION mig; ALTER ROLE mig IN DATABASE $TEST_DB SET search_path = public"
	run apply
	assert_success
	# A migration that moves search_path does not move the table.
	write_mig 0002_b "SET search_path = trap; CREATE TABLE public.b (x int);"
	run apply
	assert_success
	refute table_exists trap.mig_history
	run applied_versions public.mig_history
	assert_output $'0001\n0002'
}

@test "mig-apply: an invalid table name is a usage error (64) and nothing connects" {
	write_mig 0001_a 'CREATE TABLE a (x int);'
	local bad
	for bad in 'bad-name' '1abc' 'a.b.c' 'x;drop' '.t' 's.' '"quoted"'; do
		run apply --table "$bad"
		assert_failure 64
		assert_output --partial "invalid table name"
	done
	MIG_TABLE='no way' run apply
	assert_failure 64
	assert_output --partial "'no way'"
	refute table_exists a
	refute table_exists mig_history
}

@test "mig-apply: a version is unique by its integer value in the history" {
	write_mig 0001_a 'CREATE TABLE a (x int);'
	run apply
	assert_success
	run psql_admin -c "INSERT INTO mig_history (version, name, path, checksum, up_sql)
		VALUES ('1', 'again', 'x', 'x', '')"
	assert_failure
	assert_output --partial 'duplicate key'
	# Renamed 0001 -> 1 with the same content: the same version, applied.
	mv "$MIGDIR/0001_a.sql" "$MIGDIR/1_a.sql"
	run --separate-stderr apply
	assert_success
	assert_output ''
	[[ $stderr == *'up to date'* ]]
}

# ---- what it prints -------------------------------------------------------

@test "mig-apply: stdout is the list line of each applied migration, stderr a human line each" {
	write_mig 0001_a 'CREATE TABLE a (x int);'
	write_mig 0002_b 'CREATE TABLE b (x int);'
	run --separate-stderr apply
	assert_success
	assert_output "$(line 0001 a)
$(line 0002 b)"
	[[ ${#stderr_lines[@]} == 2 ]]
	[[ ${stderr_lines[0]} =~ ^mig-apply:\ applied\ 0001\ a\ \([0-9]+\ ms\)$ ]]
	[[ ${stderr_lines[1]} =~ ^mig-apply:\ applied\ 0002\ b\ \([0-9]+\ ms\)$ ]]
}

@test "mig-apply: a list line is printed as its migration commits, before the next one ends" {
	write_mig 0001_a 'CREATE TABLE a (x int);'
	write_mig 0002_blocked 'INSERT INTO blocker VALUES (1);'
	hold_lock blocker
	mig-list >list
	mig-apply --lock-timeout 0 <list >out 2>err &
	local pid=$!
	wait_blocked "$pid"
	run cat out
	assert_output "$(line 0001 a)"
	run applied_versions
	assert_output 0001
	bg_cleanup
	wait "$pid"
	run cat out
	assert_output "$(line 0001 a)
$(line 0002 blocked)"
}

@test "mig-apply: the bare-path list form prints normalized three-field lines" {
	write_mig 0001_a 'CREATE TABLE a (x int);'
	run --separate-stderr mig-apply <<<"migrations/0001_a.sql"
	assert_success
	assert_output "$(line 0001 a)"
}

@test "mig-apply: -q silences the human lines but not errors" {
	write_mig 0001_a 'CREATE TABLE a (x int);'
	run --separate-stderr apply -q
	assert_success
	assert_output "$(line 0001 a)"
	[[ -z $stderr ]]
	write_mig 0002_b 'SELECT 1/0;'
	run --separate-stderr apply --quiet
	assert_failure 1
	[[ $stderr == *'migrations/0002_b.sql:2:1: ERROR: division by zero (SQLSTATE 22012)'* ]]
}

@test "mig-apply: nothing pending prints nothing on stdout, one up-to-date line, exit 0" {
	write_mig 0001_a 'CREATE TABLE a (x int);'
	run apply
	assert_success
	run --separate-stderr apply
	assert_success
	assert_output ''
	[[ ${#stderr_lines[@]} == 1 && ${stderr_lines[0]} == *'up to date'* ]]
	run --separate-stderr apply -q
	assert_success
	assert_output ''
	[[ -z $stderr ]]
}

@test "mig-apply: an empty list is up to date and creates nothing" {
	run --separate-stderr mig-apply </dev/null
	assert_success
	assert_output ''
	[[ $stderr == *'up to date'* ]]
	refute table_exists mig_history
}

# ---- dry run, --to ----------------------------------------------------------

@test "mig-apply: -n prints what would be applied and changes nothing, not even the table" {
	write_mig 0001_a 'CREATE TABLE a (x int);'
	write_mig 0002_b 'CREATE TABLE b (x int);'
	run --separate-stderr apply -n
	assert_success
	assert_output "$(line 0001 a)
$(line 0002 b)"
	refute table_exists mig_history
	refute table_exists a
	run apply --to 1
	assert_success
	run --separate-stderr apply --dry-run
	assert_success
	assert_output "$(line 0002 b)"
	refute table_exists b
	run applied_versions
	assert_output 0001
}

@test "mig-apply: --to VERSION applies up to and including it, compared by value" {
	write_mig 0001_a 'CREATE TABLE a (x int);'
	write_mig 0002_b 'CREATE TABLE b (x int);'
	write_mig 0003_c 'CREATE TABLE c (x int);'
	run --separate-stderr apply --to 2
	assert_success
	assert_output "$(line 0001 a)
$(line 0002 b)"
	refute table_exists c
	run --separate-stderr apply --to=0003
	assert_success
	assert_output "$(line 0003 c)"
}

@test "mig-apply: --to a version not in the list is 65 and nothing is applied" {
	write_mig 0001_a 'CREATE TABLE a (x int);'
	write_mig 0003_c 'CREATE TABLE c (x int);'
	run apply --to 2
	assert_failure 65
	assert_output --partial '--to 2'
	refute table_exists a
	refute table_exists mig_history
	run apply --to 12x
	assert_failure 65
}

# ---- --single-transaction ---------------------------------------------------

@test "mig-apply: --single-transaction applies the batch and prints its lines after the COMMIT" {
	write_mig 0001_a 'CREATE TABLE a (x int);'
	write_mig 0002_b 'CREATE TABLE b (x int);'
	run --separate-stderr apply --single-transaction
	assert_success
	assert_output "$(line 0001 a)
$(line 0002 b)"
	run applied_versions
	assert_output $'0001\n0002'
}

@test "mig-apply: --single-transaction prints nothing while the batch is still open" {
	write_mig 0001_a 'CREATE TABLE a (x int);'
	write_mig 0002_blocked 'INSERT INTO blocker VALUES (1);'
	hold_lock blocker
	mig-list >list
	mig-apply --single-transaction --lock-timeout 0 <list >out 2>err &
	local pid=$!
	wait_blocked "$pid"
	[[ ! -s out ]]
	run applied_versions
	assert_output ''
	bg_cleanup
	wait "$pid"
	run cat out
	assert_output "$(line 0001 a)
$(line 0002 blocked)"
}

@test "mig-apply: --single-transaction rolls back the whole batch when the 3rd fails and prints no line" {
	write_mig 0001_a 'CREATE TABLE a (x int);'
	write_mig 0002_b 'CREATE TABLE b (x int);'
	write_mig 0003_c $'CREATE TABLE c (x int);\nSELECT 1/0;'
	run --separate-stderr apply --single-transaction
	assert_failure 1
	assert_output ''
	[[ $stderr == *'migrations/0003_c.sql:3:1: ERROR: division by zero (SQLSTATE 22012)'* ]]
	refute table_exists a
	refute table_exists b
	refute table_exists c
	run applied_versions
	assert_output ''
}

@test "mig-apply: --single-transaction refuses a batch holding transaction:false with 65 before running anything" {
	write_mig 0001_a 'CREATE TABLE a (x int);'
	write_mig --no-tx 0002_idx 'CREATE INDEX CONCURRENTLY a_x ON a (x);'
	run apply --single-transaction
	assert_failure 65
	assert_output --partial 'migrations/0002_idx.sql'
	assert_output --partial 'transaction:false'
	refute table_exists a
	refute table_exists mig_history
}

@test "mig-apply: --single-transaction only looks at the batch, not a transaction:false one already applied" {
	write_mig 0001_a 'CREATE TABLE a (x int);'
	write_mig --no-tx 0002_idx 'CREATE INDEX CONCURRENTLY a_x ON a (x);'
	run apply
	assert_success
	write_mig 0003_c 'CREATE TABLE c (x int);'
	run --separate-stderr apply --single-transaction
	assert_success
	assert_output "$(line 0003 c)"
	# Nor one beyond --to.
	write_mig 0004_d 'CREATE TABLE d (x int);'
	write_mig --no-tx 0005_idx 'CREATE INDEX CONCURRENTLY d_x ON d (x);'
	run --separate-stderr apply --single-transaction --to 4
	assert_success
	assert_output "$(line 0004 d)"
}

# ---- integrity ---------------------------------------------------------------

@test "mig-apply: a pending migration older than the newest applied is 65 naming the file" {
	write_mig 0002_b 'CREATE TABLE b (x int);'
	run apply
	assert_success
	write_mig 0001_a 'CREATE TABLE a (x int);'
	write_mig 0003_c 'CREATE TABLE c (x int);'
	run --separate-stderr apply
	assert_failure 65
	assert_output ''
	[[ $stderr == *'migrations/0001_a.sql'*'--allow-out-of-order'* ]]
	refute table_exists a
	refute table_exists c
	run --separate-stderr apply --allow-out-of-order
	assert_success
	assert_output "$(line 0001 a)
$(line 0003 c)"
}

@test "mig-apply: out of order counts applied versions that are not in the list" {
	write_mig 0003_c 'CREATE TABLE c (x int);'
	run apply
	assert_success
	rm "$MIGDIR/0003_c.sql"
	write_mig 0001_a 'CREATE TABLE a (x int);'
	run apply
	assert_failure 65
	assert_output --partial 'migrations/0001_a.sql'
	refute table_exists a
}

@test "mig-apply: a checksum change is refused with 65 before anything runs" {
	write_mig 0001_a 'CREATE TABLE a (x int);'
	run apply
	assert_success
	write_mig 0001_a 'CREATE TABLE a (x bigint);'
	write_mig 0002_b 'CREATE TABLE b (x int);'
	run --separate-stderr apply
	assert_failure 65
	assert_output ''
	[[ $stderr == *'migrations/0001_a.sql'*changed* ]]
	refute table_exists b
	run applied_versions
	assert_output 0001
}

@test "mig-apply: a change to the down section only is not a checksum change" {
	write_mig 0001_a 'CREATE TABLE a (x int);' 'DROP TABLE a;'
	run apply
	assert_success
	write_mig 0001_a 'CREATE TABLE a (x int);' 'DROP TABLE IF EXISTS a;'
	run apply
	assert_success
	assert_output --partial 'up to date'
}

@test "mig-apply: applied migrations missing from the list give a warning naming them and exit 0" {
	write_mig 0001_a 'CREATE TABLE a (x int);'
	write_mig 0002_b 'CREATE TABLE b (x int);'
	run apply
	assert_success
	rm "$MIGDIR/0002_b.sql"
	write_mig 0003_c 'CREATE TABLE c (x int);'
	run --separate-stderr apply
	assert_success
	assert_output "$(line 0003 c)"
	[[ $stderr == *warning*0002_b*migrations/0002_b.sql* ]]
	[[ $stderr == *mig-revert* ]]
	run applied_versions
	assert_output $'0001\n0002\n0003'
}

# ---- --mark-only --------------------------------------------------------------

@test "mig-apply: --mark-only records the migrations without running them" {
	write_mig 0001_a 'CREATE TABLE a (x int);' 'DROP TABLE a;'
	write_mig --no-tx 0002_idx 'CREATE INDEX CONCURRENTLY a_x ON a (x);'
	run --separate-stderr apply --mark-only
	assert_success
	assert_output "$(line 0001 a)
$(line 0002 idx)"
	refute table_exists a
	run psql_admin -c "SELECT version, state, checksum, down_sql FROM mig_history ORDER BY id"
	assert_output "0001|applied|$(sha $'CREATE TABLE a (x int);\n')|DROP TABLE a;

0002|applied|$(sha $'CREATE INDEX CONCURRENTLY a_x ON a (x);\n')|"
	run --separate-stderr apply
	assert_success
	assert_output ''
}

@test "mig-apply: down_sql is NULL for an irreversible migration and empty for an empty down" {
	write_mig 0001_a 'CREATE TABLE a (x int);'
	write_mig 0002_b 'CREATE TABLE b (x int);' ''
	run apply
	assert_success
	run psql_admin -c "SELECT version, down_sql IS NULL, coalesce(btrim(down_sql, E' \\n'), 'null') FROM mig_history ORDER BY id"
	assert_output $'0001|t|null\n0002|f|'
}

# ---- transaction:false ----------------------------------------------------------

@test "mig-apply: transaction:false records partial progress when statement 2 fails" {
	write_mig 0001_log 'CREATE TABLE log (n int);'
	write_mig --no-tx 0002_two $'INSERT INTO log VALUES (1);\nCREATE TABLE t2 (x nosuchtype);\nCREATE TABLE t3 (x int);'
	run --separate-stderr apply
	assert_failure 1
	assert_output "$(line 0001 log)"
	[[ $stderr == *'migrations/0002_two.sql:3:20: ERROR: type "nosuchtype" does not exist (SQLSTATE 42704)'* ]]
	run psql_admin -c "SELECT version, state, statements_done FROM mig_history ORDER BY id"
	assert_output $'0001|applied|0\n0002|partial|1'
	refute table_exists t3
}

@test "mig-apply: a transaction:false failure in its first statement leaves a row with statements_done 0" {
	write_mig --no-tx 0001_one $'CREATE TABLE t1 (x nosuchtype);\nCREATE TABLE t2 (x int);'
	run apply
	assert_failure 1
	run psql_admin -c "SELECT version, state, statements_done FROM mig_history"
	assert_output '0001|partial|0'
}

@test "mig-apply: a rerun after fixing the failed statement resumes without re-running done statements" {
	write_mig 0001_log 'CREATE TABLE log (n int);'
	write_mig --no-tx 0002_two $'INSERT INTO log VALUES (1);\nCREATE TABLE t2 (x nosuchtype);\nCREATE TABLE t3 (x int);'
	run apply
	assert_failure 1
	write_mig --no-tx 0002_two $'INSERT INTO log VALUES (1);\nCREATE TABLE t2 (x int);\nCREATE TABLE t3 (x int);'
	run --separate-stderr apply
	assert_success
	assert_output "$(line 0002 two)"
	run psql_admin -c "SELECT count(*) FROM log"
	assert_output 1
	table_exists t2
	table_exists t3
	run psql_admin -c "SELECT state, checksum FROM mig_history WHERE version = '0002'"
	assert_output "applied|$(sha $'INSERT INTO log VALUES (1);\nCREATE TABLE t2 (x int);\nCREATE TABLE t3 (x int);\n')"
	run --separate-stderr apply
	assert_success
	assert_output ''
}

@test "mig-apply: changing a statement a partial run already did is 65 and nothing runs" {
	write_mig 0001_log 'CREATE TABLE log (n int);'
	write_mig --no-tx 0002_two $'INSERT INTO log VALUES (1);\nCREATE TABLE t2 (x nosuchtype);'
	run apply
	assert_failure 1
	write_mig --no-tx 0002_two $'INSERT INTO log VALUES (2);\nCREATE TABLE t2 (x int);'
	run apply
	assert_failure 65
	assert_output --partial 'migrations/0002_two.sql'
	assert_output --partial 'statement 1'
	refute table_exists t2
	run psql_admin -c "SELECT n FROM log"
	assert_output 1
	run psql_admin -c "SELECT state, statements_done FROM mig_history WHERE version = '0002'"
	assert_output 'partial|1'
}

@test "mig-apply: -n checks a partial migration's done statements as the real run does" {
	write_mig 0001_log 'CREATE TABLE log (n int);'
	write_mig --no-tx 0002_two $'INSERT INTO log VALUES (1);\nCREATE TABLE t2 (x nosuchtype);'
	run apply
	assert_failure 1
	write_mig --no-tx 0002_two $'INSERT INTO log VALUES (2);\nCREATE TABLE t2 (x int);'
	run apply -n
	assert_failure 65
	assert_output --partial 'migrations/0002_two.sql: statement 1 was already run'
	refute_output --partial $'0002\ttwo'
	# Editing only the failed statement is the usual fix: -n accepts it.
	write_mig --no-tx 0002_two $'INSERT INTO log VALUES (1);\nCREATE TABLE t2 (x int);'
	run --separate-stderr apply -n
	assert_success
	assert_output "$(line 0002 two)"
	refute table_exists t2
}

@test "mig-apply: a failed transaction:false migration says it is partial, how far it got, and that a rerun resumes" {
	write_mig --no-tx 0001_three $'CREATE TABLE a (x int);\nCREATE TABLE b (x nosuchtype);\nCREATE TABLE c (x int);'
	run --separate-stderr apply
	assert_failure 1
	[[ $stderr == *'migrations/0001_three.sql:3:19: ERROR: type "nosuchtype" does not exist (SQLSTATE 42704)'* ]]
	[[ $stderr == *'mig-apply: migrations/0001_three.sql: left partial: 1 of 3 statement(s) done and recorded; fix the failing statement and run mig-apply again to resume from it'* ]]
}

# ---- two branches, one version --------------------------------------------------

@test "mig-apply: a listed file whose version is applied under another name is a collision, not a change" {
	write_mig 0001_base 'CREATE TABLE base (x int);' 'DROP TABLE base;'
	write_mig 0002_add_orders 'CREATE TABLE orders (x int);' 'DROP TABLE orders;'
	run apply
	assert_success
	rm "$MIGDIR/0002_add_orders.sql"
	write_mig 0002_add_vip 'CREATE TABLE vip (x int);' 'DROP TABLE vip;'
	run --separate-stderr apply
	assert_failure 65
	assert_output ''
	[[ $stderr == *'migrations/0002_add_vip.sql: version 0002 is applied as another migration, 0002_add_orders (from migrations/0002_add_orders.sql)'* ]]
	[[ $stderr != *changed* ]]
	refute table_exists vip
}

# ---- transaction control and the session -----------------------------------------

@test "mig-apply: transaction control inside a transactional migration is 65 with file:line before anything runs" {
	local stmt
	write_mig 0001_first 'CREATE TABLE first (x int);'
	for stmt in 'COMMIT;' 'BEGIN;' 'START TRANSACTION;' 'ROLLBACK;' 'END;' 'ABORT;' \
		"PREPARE TRANSACTION 'x';" "COMMIT PREPARED 'x';" "ROLLBACK PREPARED 'x';" 'commit work;'; do
		printf -- '-- migrate:up\nCREATE TABLE t (x int);\n\n%s\nCREATE TABLE u (x int);\n' "$stmt" \
			>"$MIGDIR/0002_tx.sql"
		run --separate-stderr apply
		assert_failure 65
		assert_output ''
		[[ $stderr == *"migrations/0002_tx.sql:4: '${stmt%;}' in a transactional migration"* ]]
		[[ $stderr == *'transaction:false'* ]]
		refute table_exists first
		refute table_exists t
	done
	run applied_versions
	assert_output ''
}

@test "mig-apply: savepoints are fine in a transactional migration" {
	write_mig 0001_sp $'CREATE TABLE t (x int);\nSAVEPOINT a;\nINSERT INTO t VALUES (1);\nROLLBACK TO SAVEPOINT a;\nROLLBACK WORK TO a;\nSAVEPOINT b;\nINSERT INTO t VALUES (2);\nRELEASE SAVEPOINT b;'
	run apply
	assert_success
	run psql_admin -c 'SELECT x FROM t'
	assert_output 2
}

@test "mig-apply: a transaction:false section may hold transaction control, run as written" {
	write_mig --no-tx 0001_own $'CREATE TABLE t (x int);\nBEGIN;\nINSERT INTO t VALUES (1);\nROLLBACK;\nBEGIN;\nINSERT INTO t VALUES (2);\nCOMMIT;'
	run apply
	assert_success
	run psql_admin -c 'SELECT x FROM t'
	assert_output 2
	run psql_admin -c "SELECT state, statements_done FROM mig_history"
	assert_output 'applied|7'
}

@test "mig-apply: a transaction:false section that leaves its own transaction open fails and rolls it back" {
	write_mig --no-tx 0001_open $'CREATE TABLE t (x int);\nBEGIN;\nINSERT INTO t VALUES (1);'
	run --separate-stderr apply
	assert_failure 1
	[[ $stderr == *'migrations/0001_open.sql: ends inside a transaction it opened; end it with COMMIT'* ]]
	run psql_admin -c 'SELECT count(*) FROM t'
	assert_output 0
	run psql_admin -c "SELECT state FROM mig_history"
	assert_output partial
}

@test "mig-apply: RESET ALL in a migration neither breaks its history row nor mig's settings for the next" {
	write_mig 0001_reset $'RESET ALL;\nCREATE TABLE a (x int);'
	write_mig 0002_after "CREATE TABLE seen AS SELECT current_setting('lock_timeout') AS lt, current_setting('statement_timeout') AS st;"
	run --separate-stderr apply --lock-timeout 1234 --statement-timeout 56789
	assert_success
	run applied_versions
	assert_output $'0001\n0002'
	run psql_admin -c 'SELECT lt, st FROM seen'
	assert_output '1234ms|56789ms'
	run psql_admin -c "SELECT duration_ms >= 0 FROM mig_history WHERE version = '0001'"
	assert_output t
}

@test "mig-apply: SET ROLE to a role without rights on the history table still records the migration as the connecting role" {
	psql_admin -c "DROP ROLE IF EXISTS lowpriv_$TEST_DB" -c "CREATE ROLE lowpriv_$TEST_DB" \
		-c "GRANT CREATE, USAGE ON SCHEMA public TO lowpriv_$TEST_DB"
	write_mig 0001_role "SET ROLE lowpriv_$TEST_DB;
CREATE TABLE owned (x int);"
	write_mig 0002_after "CREATE TABLE who AS SELECT current_user AS u, session_user AS s;"
	write_mig --no-tx 0003_notx "SET ROLE lowpriv_$TEST_DB;
CREATE TABLE owned2 (x int);
CREATE TABLE owned3 (x int);"
	write_mig 0004_last "CREATE TABLE who2 AS SELECT current_user AS u;"
	run --separate-stderr apply
	assert_success
	run psql_admin -c "SELECT version, applied_by, state FROM mig_history ORDER BY id"
	assert_output $'0001|mig|applied\n0002|mig|applied\n0003|mig|applied\n0004|mig|applied'
	run psql_admin -c "SELECT tableowner FROM pg_tables WHERE tablename IN ('owned', 'owned2', 'owned3') ORDER BY tablename"
	assert_output "$(printf 'lowpriv_%s\n' "$TEST_DB" "$TEST_DB" "$TEST_DB" | sed '$s/$//')"
	run psql_admin -c 'SELECT u, s FROM who'
	assert_output 'mig|mig'
	run psql_admin -c 'SELECT u FROM who2'
	assert_output mig
	psql_admin -c "DROP OWNED BY lowpriv_$TEST_DB CASCADE" -c "DROP ROLE lowpriv_$TEST_DB"
}

@test "mig-apply: SET search_path in one migration does not reach the next" {
	psql_admin -c 'CREATE SCHEMA other AUTHORIZATION mig'
	write_mig 0001_path $'SET search_path = other;\nCREATE TABLE a (x int);'
	write_mig 0002_next 'CREATE TABLE b (x int);'
	write_mig --no-tx 0003_notx $'SET search_path = other;\nCREATE TABLE c (x int);\nCREATE TABLE d (x int);'
	write_mig 0004_last 'CREATE TABLE e (x int);'
	run apply
	assert_success
	run psql_admin -c "SELECT string_agg(schemaname || '.' || tablename, ',' ORDER BY tablename) FROM pg_tables WHERE tablename IN ('a', 'b', 'c', 'd', 'e')"
	assert_output 'other.a,public.b,other.c,other.d,public.e'
}

@test "mig-apply: a whole file wrapped in BEGIN ... COMMIT runs as one migration with its history row" {
	printf 'BEGIN;\nCREATE TABLE t (x int);\nINSERT INTO t VALUES (1);\nCOMMIT;\n' >"$MIGDIR/0001_wrapped.up.sql"
	printf 'BEGIN;\nDROP TABLE t;\nCOMMIT;\n' >"$MIGDIR/0001_wrapped.down.sql"
	printf 'BEGIN;\nINSERT INTO t VALUES (2);\nSELECT 1/0;\nCOMMIT;\n' >"$MIGDIR/0002_fails.up.sql"
	run --separate-stderr apply
	assert_failure 1
	[[ $stderr == *'migrations/0002_fails.up.sql:3:1: ERROR: division by zero (SQLSTATE 22012)'* ]]
	run psql_admin -c 'SELECT x FROM t'
	assert_output 1
	run applied_versions
	assert_output 0001
	rm "$MIGDIR/0002_fails.up.sql"
	run bash -c 'mig-list | mig-revert'
	assert_success
	refute table_exists t
}

# ---- timeouts and the session ---------------------------------------------------

@test "mig-apply: a lock held elsewhere hits --lock-timeout, is retried, then fails naming the holder" {
	write_mig 0001_t 'CREATE TABLE t (x int);'
	run apply
	assert_success
	write_mig 0002_alter 'ALTER TABLE t ADD COLUMN y int;'
	psql_admin -c 'BEGIN' -c 'LOCK TABLE t' -c 'SELECT pg_sleep(5)' >/dev/null 2>&1 &
	# shellcheck disable=SC2034 # bg_cleanup (helper.bash) reads it
	BG_PID=$!
	local i
	for ((i = 0; i < 100; i++)); do
		BG_BACKEND=$(psql_admin -c "SELECT pid FROM pg_locks WHERE relation = 't'::regclass AND granted AND mode = 'AccessExclusiveLock'")
		[[ -n $BG_BACKEND ]] && break
		sleep 0.05
	done
	[[ -n $BG_BACKEND ]]
	run --separate-stderr apply --lock-timeout 100 --lock-retries 1
	assert_failure 1
	assert_output ''
	[[ $stderr == *'retry 1 of 1'* ]]
	[[ $stderr == *'migrations/0002_alter.sql:2:1: ERROR: canceling statement due to lock timeout (SQLSTATE 55P03)'* ]]
	[[ $stderr == *"pid $BG_BACKEND"* ]]
	bg_cleanup
	run applied_versions
	assert_output 0001
}

@test "mig-apply: --single-transaction meets --lock-timeout, rolls the batch back and runs it again" {
	write_mig 0001_t 'CREATE TABLE t (x int);'
	run apply
	assert_success
	write_mig 0002_u 'CREATE TABLE u (x int);'
	write_mig 0003_alter 'ALTER TABLE t ADD COLUMN y int;'
	psql_admin -c 'BEGIN' -c 'LOCK TABLE t' -c 'SELECT pg_sleep(120)' >/dev/null 2>&1 &
	# shellcheck disable=SC2034 # bg_cleanup (helper.bash) reads it
	BG_PID=$!
	local held="FROM pg_locks WHERE relation = 't'::regclass AND granted AND mode = 'AccessExclusiveLock'"
	wait_until 30 "SELECT EXISTS (SELECT $held)"
	BG_BACKEND=$(psql_admin -c "SELECT pid $held")
	# The lock is held until the first retry is announced, however slow
	# the machine, and released then, so that a later retry gets through.
	apply --single-transaction --lock-timeout 100 --lock-retries 5 \
		>"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	local pid=$! i rc=0
	for ((i = 0; i < 600; i++)); do
		grep -q 'retry 1 of 5' "$BATS_TEST_TMPDIR/err" && break
		sleep 0.05
	done
	bg_cleanup
	wait "$pid" || rc=$?
	cat "$BATS_TEST_TMPDIR/err"
	[ "$rc" = 0 ]
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" "$(line 0002 u)
$(line 0003 alter)"
	grep -qF 'mig-apply: 0003_alter: lock_timeout (100 ms) reached; the batch was rolled back; retry 1 of 5' "$BATS_TEST_TMPDIR/err"
	run applied_versions
	assert_output $'0001\n0002\n0003'
	table_exists u
}

@test "mig-apply: --statement-timeout cancels a slow statement with a clear error" {
	write_mig 0001_slow $'CREATE TABLE a (x int);\nSELECT pg_sleep(2);'
	run --separate-stderr apply --statement-timeout 200
	assert_failure 1
	[[ $stderr == *'migrations/0001_slow.sql:3:1: ERROR: canceling statement due to statement timeout (SQLSTATE 57014)'* ]]
	refute table_exists a
}

@test "mig-apply: the session's application_name is mig-apply unless the user set one" {
	write_mig 0001_who "CREATE TABLE who AS SELECT current_setting('application_name') AS app,
	  (SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()) AS seen;"
	run apply
	assert_success
	run psql_admin -c "SELECT app, seen FROM who"
	assert_output 'mig-apply|mig-apply'

	write_mig 0002_who2 "CREATE TABLE who2 AS SELECT current_setting('application_name') AS app;"
	DATABASE_URL="$DATABASE_URL?application_name=deployer" run apply
	assert_success
	run psql_admin -c "SELECT app FROM who2"
	assert_output deployer
}

@test "mig-apply: the process title names the running migration and how long it has run" {
	write_mig 0042_add_index 'SELECT pg_sleep(60);'
	mig-list >"$BATS_TEST_TMPDIR/list"
	mig-apply <"$BATS_TEST_TMPDIR/list" >"$BATS_TEST_TMPDIR/out" 2>&1 &
	local pid=$! rc=0
	wait_title 10 "$pid" 'mig-apply: 0042_add_index (* s)'
	[[ $(proc_title "$pid") =~ ^mig-apply:\ 0042_add_index\ \([0-9]+\ s\)$ ]]
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	[ "$rc" -eq 143 ]
}

@test "mig-apply: the process title of a transaction:false migration counts its statements, refreshed every 5 s" {
	write_mig --no-tx 0007_idx $'CREATE TABLE a (x int);\nSELECT pg_sleep(60);\nCREATE TABLE b (x int);'
	mig-list >"$BATS_TEST_TMPDIR/list"
	mig-apply <"$BATS_TEST_TMPDIR/list" >"$BATS_TEST_TMPDIR/out" 2>&1 &
	local pid=$! rc=0
	wait_title 10 "$pid" 'mig-apply: 0007_idx statement 2/3 (0 s)'
	wait_title 15 "$pid" 'mig-apply: 0007_idx statement 2/3 (5 s)'
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	[ "$rc" -eq 143 ]
}

# checksums: every history row's version and checksum, in order.
checksums() {
	psql_admin -c 'SELECT version, checksum FROM mig_history ORDER BY id'
}

@test "mig-apply --repair: records a changed file's checksum and SQL, runs none of it, leaves the pending pending" {
	write_mig 0001_t 'CREATE TABLE t (x int); INSERT INTO t VALUES (1);' 'DROP TABLE t;'
	run apply
	assert_success
	local old
	old=$(psql_admin -c "SELECT checksum FROM mig_history WHERE version = '0001'")
	write_mig 0001_t 'CREATE TABLE t (x int); INSERT INTO t VALUES (2);' 'DROP TABLE IF EXISTS t;'
	write_mig 0002_u 'CREATE TABLE u (x int);'
	run apply
	assert_failure 65
	run --separate-stderr apply --repair
	assert_success
	assert_output "$(line 0001 t)"
	[[ $stderr == *"mig-apply: 0001 t ${old:0:12} "[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]$'\n'* ]]
	[[ $stderr == *'1 pending migration(s) left pending'* ]]
	# Nothing of the file ran: the row it inserted is the first one's.
	run psql_admin -c 'SELECT x FROM t'
	assert_output 1
	run psql_admin -c "SELECT checksum <> '$old', up_sql LIKE '%VALUES (2)%',
		down_sql LIKE '%IF EXISTS%' FROM mig_history WHERE version = '0001'"
	assert_output 't|t|t'
	run ! table_exists u
	mig-list | mig-current --status >"$BATS_TEST_TMPDIR/status"
	run cat "$BATS_TEST_TMPDIR/status"
	assert_output $'applied\t0001\tt\npending\t0002\tu'
	run --separate-stderr apply
	assert_success
	assert_output "$(line 0002 u)"
	run applied_versions
	assert_output $'0001\n0002'
}

@test "mig-apply --repair: nothing changed prints nothing and exits 0" {
	write_mig 0001_t 'CREATE TABLE t (x int);'
	run apply
	assert_success
	local before
	before=$(checksums)
	run --separate-stderr apply --repair
	assert_success
	assert_output ''
	[ -z "$stderr" ]
	[ "$(checksums)" = "$before" ]
}

@test "mig-apply --repair: a partial row is refused with 65 and nothing is changed" {
	write_mig 0001_t 'CREATE TABLE t (x int);'
	run apply
	assert_success
	write_mig --no-tx 0002_p $'CREATE TABLE p (x int);\nSELECT 1/0;'
	run apply
	assert_failure 1
	write_mig 0001_t 'CREATE TABLE t (x int, y int);'
	local before
	before=$(checksums)
	run --separate-stderr apply --repair
	assert_failure 65
	assert_output ''
	[[ $stderr == *'migrations/0002_p.sql: recorded as partial'* ]]
	[[ $stderr == *'nothing was repaired'* ]]
	[ "$(checksums)" = "$before" ]
}

@test "mig-apply --repair -n prints what it would record and changes nothing" {
	write_mig 0001_t 'CREATE TABLE t (x int);'
	run apply
	assert_success
	local before
	before=$(checksums)
	write_mig 0001_t 'CREATE TABLE t (x int, y int);'
	run --separate-stderr apply --repair -n
	assert_success
	assert_output "$(line 0001 t)"
	[[ $stderr == *"mig-apply: 0001 t ${before:5:12} "* ]]
	[ "$(checksums)" = "$before" ]
	run --separate-stderr apply --repair -q
	assert_success
	assert_output "$(line 0001 t)"
	[ -z "$stderr" ]
	[ "$(checksums)" != "$before" ]
}

@test "mig-apply --repair: a version applied under another name is still a collision (65), nothing changed" {
	write_mig 0001_t 'CREATE TABLE t (x int);'
	run apply
	assert_success
	local before
	before=$(checksums)
	rm "$MIGDIR/0001_t.sql"
	write_mig 0001_other 'CREATE TABLE other (x int);'
	run --separate-stderr apply --repair
	assert_failure 65
	assert_output ''
	[[ $stderr == *'version 0001 is applied as another migration, 0001_t'* ]]
	[ "$(checksums)" = "$before" ]
}

@test "mig-apply --repair with --mark-only, --single-transaction, --to or --allow-out-of-order is a usage error (64)" {
	write_mig 0001_t 'CREATE TABLE t (x int);'
	local opt
	for opt in --mark-only --single-transaction '--to 0001' --allow-out-of-order; do
		# shellcheck disable=SC2086 # '--to 0001' is two words
		run --separate-stderr apply --repair $opt
		assert_failure 64
		[[ $stderr == *'--repair runs nothing'* ]]
	done
	run ! table_exists mig_history
}

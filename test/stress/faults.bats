#!/usr/bin/env bats
# Server faults mid-batch: the backend terminated, the server stopped and
# restarted, a table lock held by another session. Each gives a clear error
# and its exit code, leaves nothing half-applied, and a rerun completes.

load ../helper
load stress

HALTED=0

teardown() {
	if ((HALTED)); then
		pg_resume || true
	fi
	if [[ -n ${HOLDER_JOB:-} ]]; then
		kill "$HOLDER_JOB" 2>/dev/null || true
		wait "$HOLDER_JOB" 2>/dev/null || true
	fi
	mig_teardown
}

SLEEPING="SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'mig-apply'
	AND state = 'active' AND query LIKE '%pg_sleep%'"

# three_migs [--no-tx]: 0001 done at once, 0002 sleeps (while mig.test_sleep
# is on) between two statements, 0003 after it.
three_migs() {
	local opt=()
	[[ ${1:-} == --no-tx ]] && opt=(--no-tx)
	write_mig 0001_first 'CREATE TABLE first (id int);' 'DROP TABLE first;'
	write_mig "${opt[@]}" 0002_slow "CREATE TABLE IF NOT EXISTS slow_a (id int);
$(gated_sleep 60)
CREATE TABLE IF NOT EXISTS slow_b (id int);" 'DROP TABLE IF EXISTS slow_b, slow_a;'
	write_mig 0003_after 'CREATE TABLE after (id int);' 'DROP TABLE after;'
	mig-list >list
}

# start_sleeping: mig-apply on ./list in the background with the sleep on;
# returns once its backend sleeps. Sets JOB and BACKEND.
start_sleeping() {
	PGOPTIONS="${PGOPTIONS:-} -c mig.test_sleep=on" mig-apply <list >out 2>err &
	JOB=$!
	wait_until 30 "$SLEEPING"
	BACKEND=$(psql_admin -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'mig-apply'")
}

# finish JOB: its exit status in ST, its stderr shown in the test's output.
finish() {
	ST=0
	wait "$JOB" || ST=$?
	cat err
	echo "exit $ST"
}

# rerun_completes: the next run applies 0002 and 0003 and all three stand.
rerun_completes() {
	run --separate-stderr mig-apply <list
	assert_success
	assert_output $'0002\tslow\tmigrations/0002_slow.sql\n0003\tafter\tmigrations/0003_after.sql'
	run psql_admin -c "SELECT string_agg(version || ':' || state, ',' ORDER BY id) FROM mig_history"
	assert_output '0001:applied,0002:applied,0003:applied'
	run psql_admin -c "SELECT count(*) FROM pg_class WHERE relname IN ('first', 'slow_a', 'slow_b', 'after') AND relkind = 'r'"
	assert_output 4
}

@test "faults: the backend terminated mid-migration: exit 69 naming the file and the server, the migration not applied, the rerun completes" {
	three_migs
	start_sleeping
	run psql_admin -c "SELECT pg_terminate_backend($BACKEND)"
	assert_output t
	finish
	[[ $ST == 69 ]]

	run cat err
	assert_line --regexp "^mig-apply: migrations/0002_slow.sql: lost the connection to mig@127\.0\.0\.1:$PGTMP_PORT/$TEST_DB while running it: terminating connection due to administrator command \\(SQLSTATE 57P01\\)$"
	run cat out
	assert_output $'0001\tfirst\tmigrations/0001_first.sql'
	run applied_versions
	assert_output 0001
	run table_exists slow_a
	assert_failure
	run table_exists after
	assert_failure
	rerun_completes
}

@test "faults: the backend terminated during a transaction:false statement: exit 69, the row partial at the statements done, the rerun resumes" {
	three_migs --no-tx
	start_sleeping
	run psql_admin -c "SELECT pg_terminate_backend($BACKEND)"
	assert_output t
	finish
	[[ $ST == 69 ]]

	run cat err
	assert_line --regexp "^mig-apply: migrations/0002_slow.sql: lost the connection to mig@127\.0\.0\.1:$PGTMP_PORT/$TEST_DB while running it: terminating connection due to administrator command \\(SQLSTATE 57P01\\)$"
	run psql_admin -c "SELECT string_agg(version || ':' || state || ':' || statements_done, ',' ORDER BY id) FROM mig_history"
	assert_output '0001:applied:0,0002:partial:1'
	run table_exists slow_a
	assert_success
	run table_exists slow_b
	assert_failure
	rerun_completes
}

# halt_test MODE: the server stopped (MODE) while 0002 sleeps, then started.
halt_test() {
	# The suite's server runs with synchronous_commit off, which lets a
	# crash lose a commit already reported; mig's commits must survive it.
	export PGOPTIONS='-c synchronous_commit=on'
	three_migs
	start_sleeping
	HALTED=1
	pg_halt "$1"
	finish
	[[ $ST == 69 ]]
	run cat err
	assert_line --regexp "^mig-apply: migrations/0002_slow.sql: lost the connection to mig@127\.0\.0\.1:$PGTMP_PORT/$TEST_DB while running it"
	run cat out
	assert_output $'0001\tfirst\tmigrations/0001_first.sql'

	# While the server is down, a run cannot connect: 69, nothing done.
	run mig-apply <list
	assert_failure 69
	assert_output --partial "cannot connect to mig@127.0.0.1:$PGTMP_PORT/$TEST_DB"

	pg_resume
	HALTED=0
	run mig-wait -t 30
	assert_success
	run applied_versions
	assert_output 0001
	run table_exists slow_a
	assert_failure
	rerun_completes
}

@test "faults: the server stopped (fast) mid-batch and started again: exit 69, nothing half-applied, the rerun completes" {
	halt_test fast
}

@test "faults: the server stopped (immediate, crash recovery) mid-batch and started again: exit 69, nothing half-applied, the rerun completes" {
	halt_test immediate
}

# hold_table_lock TABLE: a session named blocker holds ACCESS SHARE on
# TABLE in an open transaction until the test ends. Sets HOLDER_PID.
hold_table_lock() {
	PGAPPNAME=blocker psql_admin >/dev/null 2>&1 <<-EOF &
		BEGIN;
		LOCK TABLE $1 IN ACCESS SHARE MODE;
		SELECT pg_sleep(120);
	EOF
	HOLDER_JOB=$!
	wait_until 10 "SELECT count(*) = 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		WHERE l.locktype = 'relation' AND l.granted AND a.application_name = 'blocker'
		AND l.relation = '$1'::regclass"
	HOLDER_PID=$(psql_admin -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'blocker'")
}

release_table_lock() {
	psql_admin -c "SELECT pg_terminate_backend($HOLDER_PID)" >/dev/null
	wait "$HOLDER_JOB" 2>/dev/null || true
	HOLDER_JOB=
}

@test "faults: a table lock held by another session with --lock-timeout 100 --lock-retries 1: exit 1 naming the holder, nothing half-applied, the rerun completes" {
	psql_admin -c "CREATE TABLE busy (id int); ALTER TABLE busy OWNER TO mig"
	write_mig 0001_first 'CREATE TABLE first (id int);' 'DROP TABLE first;'
	write_mig 0002_alter 'CREATE TABLE alter_before (id int);
ALTER TABLE busy ADD COLUMN added int;
CREATE TABLE alter_after (id int);' 'DROP TABLE alter_after, alter_before; ALTER TABLE busy DROP COLUMN added;'
	mig-list >list
	hold_table_lock busy

	local t0
	t0=$(date +%s%N)
	run --separate-stderr mig-apply --lock-timeout 100 --lock-retries 1 <list
	local took=$((($(date +%s%N) - t0) / 1000000))
	assert_failure 1
	assert_output $'0001\tfirst\tmigrations/0001_first.sql'
	output=$stderr
	lines=("${stderr_lines[@]}")
	assert_line 'mig-apply: 0002_alter: lock_timeout (100 ms) reached; retry 1 of 1'
	assert_line --regexp '^migrations/0002_alter\.sql:3:1: ERROR: canceling statement due to lock timeout \(SQLSTATE 55P03\)$'
	assert_line --regexp "^DETAIL: the lock is held by pid $HOLDER_PID \(blocker, client local, active, transaction since [0-9T:-]+Z\): .*pg_sleep"
	# Two tries of 100 ms and one back-off of 500 ms, not the default 5 s.
	((took < 5000))

	run applied_versions
	assert_output 0001
	run table_exists alter_before
	assert_failure
	run psql_admin -c "SELECT count(*) FROM pg_attribute WHERE attrelid = 'busy'::regclass AND attname = 'added'"
	assert_output 0

	release_table_lock
	run --separate-stderr mig-apply --lock-timeout 100 --lock-retries 1 <list
	assert_success
	assert_output $'0002\talter\tmigrations/0002_alter.sql'
	run psql_admin -c "SELECT count(*) FROM pg_attribute WHERE attrelid = 'busy'::regclass AND attname = 'added'"
	assert_output 1
}

@test "faults: a table lock held against a transaction:false statement: exit 1 naming the holder, the row partial before that statement, the rerun resumes" {
	psql_admin -c "CREATE TABLE busy (id int); ALTER TABLE busy OWNER TO mig"
	write_mig --no-tx 0001_idx 'CREATE TABLE IF NOT EXISTS idx_before (id int);
ALTER TABLE busy ADD COLUMN IF NOT EXISTS added int;
CREATE INDEX CONCURRENTLY IF NOT EXISTS busy_added_idx ON busy (added);' 'DROP INDEX CONCURRENTLY IF EXISTS busy_added_idx;'
	mig-list >list
	hold_table_lock busy

	run --separate-stderr mig-apply --lock-timeout 100 --lock-retries 1 <list
	assert_failure 1
	assert_output ''
	output=$stderr
	lines=("${stderr_lines[@]}")
	assert_line 'mig-apply: 0001_idx: lock_timeout (100 ms) reached; retry 1 of 1'
	assert_line --regexp '^migrations/0001_idx\.sql:3:1: ERROR: canceling statement due to lock timeout \(SQLSTATE 55P03\)$'
	assert_line --regexp "^DETAIL: the lock is held by pid $HOLDER_PID \(blocker, "
	run psql_admin -c "SELECT state, statements_done FROM mig_history"
	assert_output 'partial|1'

	release_table_lock
	run --separate-stderr mig-apply --lock-timeout 100 --lock-retries 1 <list
	assert_success
	assert_output $'0001\tidx\tmigrations/0001_idx.sql'
	run psql_admin -c "SELECT state, statements_done FROM mig_history"
	assert_output 'applied|3'
	run psql_admin -c "SELECT indisvalid FROM pg_index WHERE indexrelid = 'busy_added_idx'::regclass"
	assert_output t
}

#!/usr/bin/env bats
# Crashes and signals: a kill -9 at any moment leaves each migration either
# applied and recorded or not at all; SIGINT and SIGTERM cancel on the
# server, roll back and exit 130 / 143; a transaction:false migration killed
# between statements is resumed.

load helper

# A statement that sleeps only while the GUC mig.test_sleep is on, so the
# same file (same checksum) runs at once when applied again. The killed run
# gets the GUC through PGOPTIONS.
SLEEP="SELECT pg_sleep(CASE WHEN current_setting('mig.test_sleep', true) = 'on' THEN 60 ELSE 0 END);"

TOOL=mig-apply
SLEEPING="SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name LIKE 'mig-%'
	AND state = 'active' AND query LIKE '%pg_sleep%'"
GONE="SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name LIKE 'mig-%'"

# start_sleeping [ARGS...]: $TOOL ARGS in the background on the list in
# ./list with the sleep switched on, SIGINT at its default as in a terminal;
# returns once its backend is in pg_sleep. Sets JOB and BACKEND (its pid).
start_sleeping() {
	mig-list >list
	PGOPTIONS='-c mig.test_sleep=on' env --default-signal=INT \
		"$TOOL" "$@" <list >out 2>err &
	JOB=$!
	wait_until 20 "$SLEEPING"
	BACKEND=$(psql_admin -c "SELECT pid FROM pg_stat_activity WHERE application_name = '$TOOL'")
}

# assert_cancelled: the server log shows the sleeping backend's statement
# cancelled by a cancel request, not the connection dropped.
assert_cancelled() {
	run grep -q "\[$BACKEND\] $TOOL ERROR:  canceling statement due to user request" "$PGTMP_DIR/server.log"
	assert_success
}

@test "crash: kill -9 of mig-apply while a migration runs leaves it neither applied nor recorded, and the next run applies it" {
	write_mig 0001_first 'CREATE TABLE first (id int);' 'DROP TABLE first;'
	write_mig 0002_slow "CREATE TABLE slow (id int);
$SLEEP" 'DROP TABLE slow;'
	start_sleeping
	kill -9 "$JOB"
	wait "$JOB" || true
	# The server sees the dead client within client_connection_check_interval.
	wait_until 10 "$GONE"

	run table_exists slow
	assert_failure
	run applied_versions
	assert_output 0001
	run cat out
	assert_output $'0001\tfirst\tmigrations/0001_first.sql'

	run --separate-stderr mig-apply < <(mig-list)
	assert_success
	assert_output $'0002\tslow\tmigrations/0002_slow.sql'
	run table_exists slow
	assert_success
	run applied_versions
	assert_output $'0001\n0002'
}

@test "crash: kill -9 during the first migration, before anything was committed, leaves no trace but the history table" {
	write_mig 0001_slow "CREATE TABLE slow (id int);
INSERT INTO slow VALUES (1);
$SLEEP" 'DROP TABLE slow;'
	start_sleeping
	kill -9 "$JOB"
	wait "$JOB" || true
	wait_until 10 "$GONE"

	run table_exists slow
	assert_failure
	run psql_admin -c "SELECT count(*) FROM mig_history"
	assert_output 0
	run --separate-stderr mig-apply < <(mig-list)
	assert_success
	run psql_admin -c "SELECT count(*) FROM slow"
	assert_output 1
}

# signal_test SIG CODE: the shared body of the SIGINT and SIGTERM tests.
signal_test() {
	local sig=$1 code=$2
	write_mig 0001_first 'CREATE TABLE first (id int);' 'DROP TABLE first;'
	write_mig 0002_slow "CREATE TABLE slow (id int);
$SLEEP" 'DROP TABLE slow;'
	write_mig 0003_after 'CREATE TABLE after (id int);' 'DROP TABLE after;'
	start_sleeping
	local t0 st=0
	t0=$(date +%s%N)
	kill -"$sig" "$JOB"
	wait "$JOB" || st=$?
	local took=$((($(date +%s%N) - t0) / 1000000))
	cat err
	echo "exit $st after $took ms"
	[[ $st == "$code" ]]
	# Cancelled, not waited out: pg_sleep had almost a minute to go.
	((took < 10000))

	run cat err
	assert_line --regexp "interrupted by SIG$sig while running 0002_slow; it was cancelled and rolled back, the 1 applied before it stay applied"
	run cat out
	assert_output $'0001\tfirst\tmigrations/0001_first.sql'
	run applied_versions
	assert_output 0001
	run table_exists first
	assert_success
	run table_exists slow
	assert_failure
	run table_exists after
	assert_failure
	# The statement was cancelled on the server: no backend still sleeps.
	assert_cancelled
	run psql_admin -c "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()"
	assert_output 0
	wait_until 10 "$GONE"

	run --separate-stderr mig-apply < <(mig-list)
	assert_success
	assert_output $'0002\tslow\tmigrations/0002_slow.sql\n0003\tafter\tmigrations/0003_after.sql'
}

@test "signals: SIGINT during a migration cancels it on the server, rolls it back, keeps the ones before and exits 130" {
	signal_test INT 130
}

@test "signals: SIGTERM during a migration cancels it on the server, rolls it back, keeps the ones before and exits 143" {
	signal_test TERM 143
}

@test "signals: SIGTERM during a transaction:false statement cancels it and leaves the row partial at the statements done" {
	write_mig --no-tx 0001_steps "CREATE TABLE p1 (id int);
$SLEEP
CREATE TABLE p2 (id int);" 'DROP TABLE IF EXISTS p2; DROP TABLE IF EXISTS p1;'
	start_sleeping
	local st=0
	kill -TERM "$JOB"
	wait "$JOB" || st=$?
	cat err
	[[ $st == 143 ]]
	run cat err
	assert_line --partial 'interrupted by SIGTERM while running 0001_steps'
	run psql_admin -c "SELECT state, statements_done FROM mig_history"
	assert_output 'partial|1'
	assert_cancelled
	run psql_admin -c "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()"
	assert_output 0
	run table_exists p2
	assert_failure

	run --separate-stderr mig-apply < <(mig-list)
	assert_success
	assert_output $'0001\tsteps\tmigrations/0001_steps.sql'
	run psql_admin -c "SELECT state, statements_done FROM mig_history"
	assert_output 'applied|3'
}

@test "crash: kill -9 between statements of a transaction:false migration leaves it partial with the statements done, and a rerun resumes there" {
	write_mig 0001_first 'CREATE TABLE first (id int);' 'DROP TABLE first;'
	# Statement 1 would fail if run twice: the rerun must not repeat it.
	write_mig --no-tx 0002_steps "CREATE TABLE p1 (id int);
INSERT INTO p1 VALUES (1);
$SLEEP
CREATE TABLE p2 (id int);" 'DROP TABLE IF EXISTS p2; DROP TABLE IF EXISTS p1;'
	start_sleeping
	kill -9 "$JOB"
	wait "$JOB" || true
	wait_until 10 "$GONE"

	run psql_admin -c "SELECT version, state, statements_done FROM mig_history ORDER BY id"
	assert_output $'0001|applied|0\n0002|partial|2'
	run table_exists p1
	assert_success
	run table_exists p2
	assert_failure
	run mig-current --status < <(mig-list)
	assert_success
	assert_output $'applied\t0001\tfirst\npartial\t0002\tsteps'

	run --separate-stderr mig-apply < <(mig-list)
	assert_success
	assert_output $'0002\tsteps\tmigrations/0002_steps.sql'
	# Statements 1 and 2 ran once: one row, not two.
	run psql_admin -c "SELECT count(*) FROM p1"
	assert_output 1
	run table_exists p2
	assert_success
	run psql_admin -c "SELECT version, state, statements_done FROM mig_history ORDER BY id"
	assert_output $'0001|applied|0\n0002|applied|4'
}

@test "crash: a partial transaction:false migration left by kill -9 is reverted from its down section" {
	write_mig --no-tx 0001_steps "CREATE TABLE p1 (id int);
$SLEEP
CREATE TABLE p2 (id int);" 'DROP TABLE IF EXISTS p2; DROP TABLE IF EXISTS p1;'
	start_sleeping
	kill -9 "$JOB"
	wait "$JOB" || true
	wait_until 10 "$GONE"
	run psql_admin -c "SELECT state, statements_done FROM mig_history"
	assert_output 'partial|1'

	run --separate-stderr mig-revert </dev/null
	assert_success
	assert_output $'0001\tsteps\tmigrations/0001_steps.sql'
	run table_exists p1
	assert_failure
	run psql_admin -c "SELECT count(*) FROM mig_history"
	assert_output 0
}

@test "signals: SIGINT during --single-transaction rolls back the whole batch and exits 130" {
	write_mig 0001_first 'CREATE TABLE first (id int);' 'DROP TABLE first;'
	write_mig 0002_slow "CREATE TABLE slow (id int);
$SLEEP" 'DROP TABLE slow;'
	start_sleeping --single-transaction
	local st=0
	kill -INT "$JOB"
	wait "$JOB" || st=$?
	cat err
	[[ $st == 130 ]]
	assert_cancelled
	run cat err
	assert_line --partial 'interrupted by SIGINT while running 0002_slow'
	run cat out
	assert_output ''
	run table_exists first
	assert_failure
	run psql_admin -c "SELECT count(*) FROM mig_history"
	assert_output 0
}

@test "signals: SIGTERM during mig-revert cancels the down section, keeps the migration applied and exits 143" {
	write_mig 0001_first 'CREATE TABLE first (id int);' 'DROP TABLE first;'
	write_mig 0002_slow 'CREATE TABLE slow (id int);' "DROP TABLE slow;
$SLEEP"
	run --separate-stderr mig-apply < <(mig-list)
	assert_success
	TOOL=mig-revert
	start_sleeping --all
	local st=0
	kill -TERM "$JOB"
	wait "$JOB" || st=$?
	cat err
	[[ $st == 143 ]]
	assert_cancelled
	run cat err
	assert_line --partial 'interrupted by SIGTERM'
	assert_line --partial '0002'
	run cat out
	assert_output ''
	run table_exists slow
	assert_success
	run applied_versions
	assert_output $'0001\n0002'
}

#!/usr/bin/env bats
# Concurrency: the advisory lock that serializes mig-apply and mig-revert,
# its exact key, the wait that holds no snapshot, its progress line and
# bound, and the readers that take no lock.

load helper

# hold_lock KEY: a superuser session in the background holds the advisory
# lock hashtextextended(KEY, 0) until the test ends (teardown's DROP
# DATABASE ... WITH (FORCE) ends it). Sets HOLDER_PID (the backend's pid).
hold_lock() {
	local key=$1
	PGAPPNAME=lock-holder psql_admin -v key="$key" >/dev/null 2>&1 3>&- <<-'EOF' &
		SELECT pg_advisory_lock(hashtextextended(:'key', 0));
		SELECT pg_sleep(120);
	EOF
	HOLDER_JOB=$!
	wait_until 10 "SELECT count(*) = 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'lock-holder'"
	HOLDER_PID=$(psql_admin -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'lock-holder'")
}

teardown() {
	mig_teardown
	if [[ -n ${HOLDER_JOB:-} ]]; then
		kill "$HOLDER_JOB" 2>/dev/null || true
		wait "$HOLDER_JOB" 2>/dev/null || true
	fi
}

@test "mig-apply: eight runs started at once apply each of 50 migrations exactly once and all exit 0" {
	psql_admin -c "CREATE TABLE counter (v int NOT NULL); ALTER TABLE counter OWNER TO mig"
	local i v
	for ((i = 1; i <= 50; i++)); do
		printf -v v '%04d' "$i"
		write_mig "${v}_step_$i" "INSERT INTO counter VALUES ($i);
CREATE TABLE t_$i (id int);" "DROP TABLE t_$i; DELETE FROM counter WHERE v = $i;"
	done
	mig-list >list

	local pids=() n
	for ((n = 1; n <= 8; n++)); do
		mig-apply <list >"out.$n" 2>"err.$n" &
		pids+=($!)
	done
	local statuses=()
	for n in "${!pids[@]}"; do
		local st=0
		wait "${pids[$n]}" || st=$?
		statuses+=("$st")
	done
	for n in "${!statuses[@]}"; do
		if [[ ${statuses[$n]} != 0 ]]; then
			echo "run $((n + 1)) exited ${statuses[$n]}:"
			cat "err.$((n + 1))"
		fi
	done
	[[ ${statuses[*]} == "0 0 0 0 0 0 0 0" ]]

	run psql_admin -c "SELECT count(*), count(DISTINCT v), min(v), max(v) FROM counter"
	assert_output "50|50|1|50"
	run psql_admin -c "SELECT count(*), count(DISTINCT version::int), bool_and(state = 'applied') FROM mig_history"
	assert_output "50|50|t"
	run psql_admin -c "SELECT count(*) FROM pg_class WHERE relname ~ '^t_[0-9]+\$' AND relkind = 'r'"
	assert_output 50
	# Each applied line was printed by exactly one of the runs.
	run bash -c 'cat out.* | sort'
	assert_output "$(sort list)"
	# The history's order is the version order: no run skipped ahead.
	run psql_admin -c "SELECT bool_and(version::int = rn) FROM (SELECT version, row_number() OVER (ORDER BY id) AS rn FROM mig_history) x"
	assert_output t
}

@test "mig-apply: a run waiting for the lock holds no snapshot, so a CREATE INDEX CONCURRENTLY in the lock holder completes" {
	psql_admin -c "CREATE TABLE big (id int); INSERT INTO big SELECT generate_series(1, 1000); ALTER TABLE big OWNER TO mig"
	# The first migration waits until a second mig-apply has connected, so
	# the index below is built while that one is waiting for the lock.
	write_mig 0001_wait_for_peer 'DO $$
BEGIN
	FOR i IN 1..400 LOOP
		PERFORM pg_stat_clear_snapshot();
		EXIT WHEN (SELECT count(*) FROM pg_stat_activity
			WHERE application_name = '"'mig-apply'"' AND datname = current_database()) >= 2;
		PERFORM pg_sleep(0.05);
	END LOOP;
END $$;'
	write_mig --no-tx 0002_index_concurrently 'CREATE INDEX CONCURRENTLY big_id_idx ON big (id);
SELECT pg_sleep(0.5);
CREATE INDEX CONCURRENTLY big_id2_idx ON big ((id + 1));'
	mig-list >list

	timeout 60 mig-apply <list >out.a 2>err.a &
	local a=$!
	wait_until 20 "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'mig-apply' AND query LIKE '%pg_stat_clear_snapshot%'"
	timeout 60 mig-apply <list >out.b 2>err.b &
	local b=$!
	local sa=0 sb=0
	wait "$a" || sa=$?
	wait "$b" || sb=$?
	cat err.a err.b
	[[ $sa == 0 && $sb == 0 ]]

	run cat out.a
	assert_output "$(cat list)"
	run cat out.b
	assert_output ''
	run grep -c 'up to date' err.b
	assert_output 1
	run psql_admin -c "SELECT string_agg(c.relname || ':' || i.indisvalid, ',' ORDER BY c.relname) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname LIKE 'big_%'"
	assert_output "big_id2_idx:true,big_id_idx:true"
	run applied_versions
	assert_output $'0001\n0002'
}

@test "mig-apply: the lock key is hashtextextended('mig:public.mig_history', 0); waiting names the holder's pid and --lock-wait 7 exits 75" {
	write_mig 0001_t 'CREATE TABLE t (id int);' 'DROP TABLE t;'
	hold_lock 'mig:public.mig_history'

	mig-list >list
	local start
	start=$(date +%s%N)
	mig-apply --lock-wait 7 <list >out 2>err &
	local job=$! i found=
	for ((i = 0; i < 400; i++)); do
		if grep -q "pid $HOLDER_PID" err; then
			found=$((($(date +%s%N) - start) / 1000000))
			break
		fi
		sleep 0.05
	done
	local st=0
	wait "$job" || st=$?
	local took=$((($(date +%s%N) - start) / 1000000))
	cat err
	echo "holder named after ${found:-never} ms, exit $st after $took ms"
	# The first report comes after 5 s of waiting, and before the 7 s
	# bound gives up (the grep below checks the order; wall-clock bounds
	# stay loose, as a loaded machine may start the tool late).
	[[ -n $found ]]
	((found >= 4900))
	[[ $st == 75 ]]
	((took >= 7000 && took <= 20000))
	run grep -n -m1 -e 'held by pid' -e 'gave up' err
	assert_output --regexp '^1:.*held by pid'

	run cat err
	assert_line --regexp "waiting for the migration lock \([56] s\): held by pid $HOLDER_PID \(lock-holder, client local, connected since [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z\)"
	assert_line --partial 'gave up waiting for the migration lock after 7 s'
	run cat out
	assert_output ''
	# Nothing ran, not even the history table's creation.
	run table_exists t
	assert_failure
	run table_exists mig_history
	assert_failure
}

@test "mig-apply: the lock key uses the --table's lower-case schema and name, and another table's lock does not block" {
	write_mig 0001_t 'CREATE TABLE t (id int);' 'DROP TABLE t;'
	hold_lock 'mig:audit.mig_log'

	run mig-apply --table Audit.Mig_Log --lock-wait 0 < <(mig-list)
	assert_failure 75
	assert_output --partial 'gave up waiting for the migration lock after 0 s'
	run table_exists t
	assert_failure

	# The default table's key is another lock: this run is not blocked.
	run --separate-stderr mig-apply --lock-wait 0 < <(mig-list)
	assert_success
	assert_output $'0001\tt\tmigrations/0001_t.sql'
	run applied_versions
	assert_output 0001
}

@test "mig-revert: waits for the same lock as mig-apply and gives up with 75" {
	write_mig 0001_t 'CREATE TABLE t (id int);' 'DROP TABLE t;'
	run mig-apply -q < <(mig-list)
	assert_success
	hold_lock 'mig:public.mig_history'

	run mig-revert --lock-wait 0 </dev/null
	assert_failure 75
	assert_output --partial 'gave up waiting for the migration lock'
	run applied_versions
	assert_output 0001
	run table_exists t
	assert_success
}

@test "mig-current and mig-wait take no lock: they answer at once while a run holds it" {
	write_mig 0001_t 'CREATE TABLE t (id int);' 'DROP TABLE t;'
	run mig-apply -q < <(mig-list)
	assert_success
	hold_lock 'mig:public.mig_history'

	run timeout 15 mig-current
	assert_success
	assert_output --regexp $'^0001\tt\t[0-9-]+T[0-9:]+Z$'
	run timeout 15 mig-current --all
	assert_success
	assert_output --regexp $'^0001\tt\t'
	run timeout 15 mig-current --status < <(mig-list)
	assert_success
	assert_output $'applied\t0001\tt'
	run timeout 15 mig-wait -t 0
	assert_success
	run timeout 15 mig-wait --applied -t 0 < <(mig-list)
	assert_success
	# The lock is still the holder's alone.
	run psql_admin -c "SELECT string_agg(DISTINCT a.application_name, ',') FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory'"
	assert_output lock-holder
}

@test "mig-apply: SIGINT while waiting for the lock exits 130 having run nothing" {
	write_mig 0001_t 'CREATE TABLE t (id int);' 'DROP TABLE t;'
	hold_lock 'mig:public.mig_history'

	mig-list >list
	env --default-signal=INT mig-apply --lock-wait 60 <list >out 2>err &
	local job=$!
	wait_until 10 "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'mig-apply'"
	sleep 0.2
	kill -INT "$job"
	local st=0
	wait "$job" || st=$?
	cat err
	[[ $st == 130 ]]
	run cat err
	assert_output --partial 'interrupted by SIGINT while waiting for the migration lock; nothing was run'
	run table_exists t
	assert_failure
}

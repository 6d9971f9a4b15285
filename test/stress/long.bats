#!/usr/bin/env bats
# Long migrations: progress on stderr every 5 s while one runs, and
# --statement-timeout stopping one with exit 1 and a clear message.
#
# MIG_LONG_SECONDS: how long the long migration runs (CI 12, long 30).

load ../helper
load stress

# progress_test [--no-tx]: a migration sleeping MIG_LONG_SECONDS reports
# "still running (N s)" at 5, 10, ... s, each line on time.
progress_test() {
	local secs opt=()
	secs=$(size MIG_LONG_SECONDS 12 30)
	[[ ${1:-} == --no-tx ]] && opt=(--no-tx)
	write_mig 0001_first 'CREATE TABLE first (id int);' 'DROP TABLE first;'
	write_mig "${opt[@]}" 0002_long "CREATE TABLE long_a (id int);
SELECT pg_sleep($secs);
CREATE TABLE long_b (id int);" 'DROP TABLE long_b, long_a;'
	mig-list >list

	# Each stderr line stamped with the ms since the start.
	local t0=${EPOCHREALTIME/./}
	{
		mig-apply <list 2>&1 >out
		echo "exit $?"
	} | while IFS= read -r l; do
		echo "$(((${EPOCHREALTIME/./} - t0) / 1000)) $l"
	done >stamped
	cat stamped
	run grep -c '^[0-9]* exit 0$' stamped
	assert_output 1
	sed -i '/^[0-9]* exit [0-9]*$/d' stamped
	# A sleep of exactly a multiple of 5 s may or may not get its last line.
	sed -i "/still running ($secs s)\$/d" stamped

	run cat out
	assert_output $'0001\tfirst\tmigrations/0001_first.sql\n0002\tlong\tmigrations/0002_long.sql'
	# One line per 5 s, counted in whole seconds, none after the end.
	local want=() n
	for ((n = 5; n < secs; n += 5)); do
		want+=("mig-apply: 0002_long: still running ($n s)")
	done
	run sed -n 's/^[0-9]* //p' stamped
	assert_output "mig-apply: applied 0001 first ($(sed -n 's/.*applied 0001 first (\([0-9]*\) ms)$/\1/p' stamped) ms)
$(printf '%s\n' "${want[@]}")
mig-apply: applied 0002 long ($(sed -n 's/.*applied 0002 long (\([0-9]*\) ms)$/\1/p' stamped) ms)"
	# On time: the line for N s comes between N and N+2 s after the
	# migration began (the first one's line marks its start).
	local begin ms k=1
	begin=$(awk '/applied 0001 first/ {print $1}' stamped)
	while read -r ms; do
		((ms - begin >= k * 5000 - 100 && ms - begin < k * 5000 + 2000)) || {
			echo "progress line $k at $((ms - begin)) ms"
			return 1
		}
		k=$((k + 1))
	done < <(awk '/still running/ {print $1}' stamped)
	run psql_admin -c "SELECT state, duration_ms >= $((secs * 1000)) FROM mig_history WHERE version = '0002'"
	assert_output 'applied|t'
}

@test "long: a migration running past 5 s prints a progress line on stderr every 5 s" {
	progress_test
}

@test "long: a transaction:false statement running past 5 s prints a progress line on stderr every 5 s" {
	MIG_LONG_SECONDS=$(size MIG_LONG_SECONDS 7 30) progress_test --no-tx
}

@test "long: -q silences the progress lines of a long migration" {
	write_mig 0001_long 'SELECT pg_sleep(6);'
	run --separate-stderr mig-apply -q < <(mig-list)
	assert_success
	assert_output $'0001\tlong\tmigrations/0001_long.sql'
	[[ -z $stderr ]]
}

@test "long: --statement-timeout 1000 stops pg_sleep(30) with exit 1 and the file, line and SQLSTATE; nothing is applied" {
	write_mig 0001_first 'CREATE TABLE first (id int);' 'DROP TABLE first;'
	write_mig 0002_slow 'CREATE TABLE slow (id int);

SELECT pg_sleep(30);' 'DROP TABLE slow;'
	local t0
	t0=$(date +%s%N)
	run --separate-stderr mig-apply --statement-timeout 1000 < <(mig-list)
	local took=$((($(date +%s%N) - t0) / 1000000))
	assert_failure 1
	assert_output $'0001\tfirst\tmigrations/0001_first.sql'
	output=$stderr
	lines=("${stderr_lines[@]}")
	assert_line 'migrations/0002_slow.sql:4:1: ERROR: canceling statement due to statement timeout (SQLSTATE 57014)'
	refute_line --partial 'still running'
	# Stopped after about 1 s, not the 30 s the sleep asked for.
	((took < 20000))
	run applied_versions
	assert_output 0001
	run table_exists slow
	assert_failure
}

@test "long: --statement-timeout stops a transaction:false statement with exit 1; the row stays partial at the statements before it" {
	write_mig --no-tx 0001_steps 'CREATE TABLE IF NOT EXISTS s1 (id int);
SELECT pg_sleep(30);
CREATE TABLE IF NOT EXISTS s2 (id int);' 'DROP TABLE IF EXISTS s2, s1;'
	local t0
	t0=$(date +%s%N)
	run --separate-stderr mig-apply --statement-timeout 1000 < <(mig-list)
	local took=$((($(date +%s%N) - t0) / 1000000))
	assert_failure 1
	assert_output ''
	output=$stderr
	lines=("${stderr_lines[@]}")
	assert_line 'migrations/0001_steps.sql:3:1: ERROR: canceling statement due to statement timeout (SQLSTATE 57014)'
	# Stopped after about 1 s, not the 30 s the sleep asked for.
	((took < 20000))
	run psql_admin -c "SELECT state, statements_done FROM mig_history"
	assert_output 'partial|1'
	run table_exists s2
	assert_failure
}

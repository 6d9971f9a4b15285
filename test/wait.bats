#!/usr/bin/env bats
# mig-wait: poll until the server answers (or the listed migrations are
# applied); what is retried, what fails at once, and the exit codes.

load helper

# DATABASE_URL pointing at a server that is not there.
dead_url() {
	echo "postgresql://mig:${PGTMP_PASSWORD}@127.0.0.1:$(free_port)/${TEST_DB}"
}

two_migs() {
	write_mig 0001_users 'CREATE TABLE users (id int);' 'DROP TABLE users;'
	write_mig 0002_posts 'CREATE TABLE posts (id int);' 'DROP TABLE posts;'
}

@test "mig-wait: a ready server exits 0 at once, printing nothing" {
	SECONDS=0
	run --separate-stderr mig-wait
	assert_success
	assert_output ''
	[[ $stderr == '' ]]
	((SECONDS < 10))
}

@test "mig-wait: -t 0 tries once and succeeds on a ready server" {
	run --separate-stderr mig-wait -t 0
	assert_success
	assert_output ''
	[[ $stderr == '' ]]
}

@test "mig-wait: -t 0 against a server that is not there exits 75 at once with the error" {
	DATABASE_URL=$(dead_url)
	SECONDS=0
	run --separate-stderr mig-wait -t 0
	assert_failure 75
	assert_output ''
	((SECONDS < 10))
	[[ $stderr == *"mig@127.0.0.1:"*"/$TEST_DB"* ]]
	[[ $stderr == *[Cc]onnection\ refused* ]]
}

@test "mig-wait: a server that is not there is retried until the timeout, then 75 with the final error" {
	DATABASE_URL=$(dead_url)
	local start=$EPOCHREALTIME
	run --separate-stderr mig-wait -t 2
	local ms=$(((${EPOCHREALTIME/./} - ${start/./}) / 1000))
	assert_failure 75
	assert_output ''
	((ms >= 1900 && ms < 6000))
	[[ $stderr == *"timed out"* ]]
	[[ $stderr == *[Cc]onnection\ refused* ]]
	# No progress line before 5 s: the final error only.
	[[ $(grep -c . <<<"$stderr") == 1 ]]
}

@test "mig-wait: a server that is not there is tried with back-off, not in a loop" {
	command -v strace >/dev/null || {
		echo "strace is not installed (scripts/deps installs it)" >&2
		return 1
	}
	DATABASE_URL=$(dead_url)
	# Every try is one connect(2) to the server's port; libpq makes no other.
	# (LeakSanitizer cannot run under ptrace: the sanitizer pass leaves it
	# out here.)
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		run --separate-stderr strace -f -qq -e trace=connect -o "$BATS_TEST_TMPDIR/trace" mig-wait -q -t 2
	assert_failure 75
	local port=${DATABASE_URL##*:} tries
	port=${port%%/*}
	tries=$(grep -c "htons($port)" "$BATS_TEST_TMPDIR/trace" || true)
	# 25 ms, then twice as long each time up to 1 s: tries at 0, 25, 75,
	# 175, 375, 775 and 1775 ms, and a last one at the timeout. (A try every
	# few milliseconds would make hundreds.)
	((tries >= 6 && tries <= 9))
}

@test "mig-wait: -q still prints the final error" {
	DATABASE_URL=$(dead_url)
	run --separate-stderr mig-wait -q -t 1
	assert_failure 75
	assert_output ''
	[[ $stderr == *"timed out"* && $stderr == *[Cc]onnection\ refused* ]]
}

@test "mig-wait: a progress line every 5 s on stderr, none with -q" {
	DATABASE_URL=$(dead_url)
	local e1=$BATS_TEST_TMPDIR/loud e2=$BATS_TEST_TMPDIR/quiet rc1=0 rc2=0
	mig-wait -t 6 >"$e1.out" 2>"$e1" &
	local p1=$!
	mig-wait -t 6 -q >"$e2.out" 2>"$e2" &
	local p2=$!
	wait "$p1" || rc1=$?
	wait "$p2" || rc2=$?
	cat "$e1" "$e2" >>"$MIG_OUTPUT_LOG"
	((rc1 == 75 && rc2 == 75))
	[[ ! -s $e1.out && ! -s $e2.out ]]
	# Loud: one progress line (at 5 s) and the final error.
	[[ $(grep -c . "$e1") == 2 ]]
	grep -q 'still waiting' "$e1"
	grep 'timed out' "$e1" | grep -qi 'connection refused'
	# Quiet: the final error alone.
	[[ $(grep -c . "$e2") == 1 ]]
	grep -q 'timed out' "$e2"
}

@test "mig-wait: a wrong password exits 69 at once, well before the timeout" {
	local bad=wrong-Pw-$RANDOM-x
	mig_secret "$bad"
	DATABASE_URL=${DATABASE_URL/"$PGTMP_PASSWORD"/$bad}
	SECONDS=0
	run --separate-stderr mig-wait -t 30
	assert_failure 69
	((SECONDS < 10))
	assert_output ''
	[[ $stderr == *"mig@127.0.0.1:$PGTMP_PORT/$TEST_DB"* ]]
	[[ $stderr == *"password authentication failed"* ]]
	[[ $stderr != *timed\ out* ]]
}

@test "mig-wait: a role that does not exist exits 69 at once" {
	SECONDS=0
	run --separate-stderr mig-wait -t 30 -U "no_such_role_$$"
	assert_failure 69
	((SECONDS < 10))
	[[ $stderr == *"no_such_role_$$@127.0.0.1:$PGTMP_PORT/$TEST_DB"* ]]
}

@test "mig-wait: a role missing over the unix socket (28000) exits 69 at once" {
	SECONDS=0
	run --separate-stderr mig-wait -t 30 -d "host=$PGTMP_SOCKDIR port=$PGTMP_PORT user=no_such_role_$$ dbname=$TEST_DB"
	assert_failure 69
	((SECONDS < 10))
	[[ $stderr == *'role "no_such_role_'$$'" does not exist'* ]]
}

@test "mig-wait: a server that starts while it waits is seen within the back-off, without a flood of attempts" {
	local log=$PGTMP_DIR/server.log err=$BATS_TEST_TMPDIR/err before rc=0
	before=$(grep -c 'starting up' "$log" || true)
	pg_halt
	mig-wait -t 60 2>"$err" 3>&- &
	local waiter=$!
	sleep 0.3
	local start=$EPOCHREALTIME
	pg_resume
	local resumed=$EPOCHREALTIME
	wait "$waiter" || rc=$?
	local finished=$EPOCHREALTIME
	cat "$err" >>"$MIG_OUTPUT_LOG"
	((rc == 0))
	[[ ! -s $err ]]
	# Tries are at most 1 s apart: mig-wait is done within about a second
	# of pg_ctl -w (which looks every 100 ms).
	(((${finished/./} - ${resumed/./}) / 1000 < 3000))
	# 25 ms apart at first, the gap doubling up to 1 s: no more than 7 tries
	# in the first second and one a second after; the server logs those
	# that come while it starts up.
	local s=$(((${finished/./} - ${start/./}) / 1000000 + 1))
	local tries=$(($(grep -c 'starting up' "$log" || true) - before))
	((tries <= 7 + s))
}

@test "mig-wait: a database that does not exist yet is retried until it is created" {
	local late=${TEST_DB}_late
	DATABASE_URL=${DATABASE_URL%/*}/$late
	(
		sleep 1
		PSQL_ADMIN_DB=postgres psql_admin -c "CREATE DATABASE $late OWNER mig STRATEGY FILE_COPY"
	) 3>&- &
	local creator=$!
	SECONDS=0
	run --separate-stderr mig-wait -t 10
	wait "$creator"
	PSQL_ADMIN_DB=postgres psql_admin -c "DROP DATABASE IF EXISTS $late WITH (FORCE)"
	assert_success
	assert_output ''
	((SECONDS < 8))
}

@test "mig-wait: a database that never appears times out with 75 naming the error" {
	DATABASE_URL=${DATABASE_URL%/*}/${TEST_DB}_never
	run --separate-stderr mig-wait -t 1
	assert_failure 75
	[[ $stderr == *"${TEST_DB}_never"*"does not exist"* ]]
}

@test "mig-wait: an invalid conninfo exits 64 at once" {
	SECONDS=0
	run --separate-stderr mig-wait -t 30 -d 'host=127.0.0.1 nosuchoption=1'
	assert_failure 64
	((SECONDS < 10))
	assert_output ''
	[[ $stderr == *nosuchoption* ]]

	DATABASE_URL='postgresql://mig@127.0.0.1:1/db?nosuchoption=1' run --separate-stderr mig-wait -t 30
	assert_failure 64
	((SECONDS < 10))
}

@test "mig-wait: a bad -t is a usage error (64)" {
	run --separate-stderr mig-wait -t abc
	assert_failure 64
	run --separate-stderr mig-wait -t -1
	assert_failure 64
	run --separate-stderr mig-wait --timeout=1x
	assert_failure 64
	run --separate-stderr mig-wait --timeout=0
	assert_success
}

@test "mig-wait: --applied with a migration not applied exits 75 with -t 0" {
	two_migs
	mig-list | head -1 | mig-apply -q
	run --separate-stderr bash -c 'mig-list | mig-wait --applied -t 0'
	assert_failure 75
	assert_output ''
	[[ $stderr == *0002_posts* ]]
}

@test "mig-wait: --applied with no history table exits 75 and creates nothing" {
	two_migs
	run --separate-stderr bash -c 'mig-list | mig-wait --applied -t 0'
	assert_failure 75
	refute table_exists mig_history
}

@test "mig-wait: --applied with every listed migration applied exits 0" {
	two_migs
	mig-list | mig-apply -q
	run --separate-stderr bash -c 'mig-list | mig-wait --applied -t 0'
	assert_success
	assert_output ''
	[[ $stderr == '' ]]
	# A subset of what is applied is applied too.
	run --separate-stderr bash -c 'mig-list | tail -1 | mig-wait --applied -t 0'
	assert_success
}

@test "mig-wait: --applied with an empty list is ready at once" {
	run --separate-stderr mig-wait --applied -t 0 </dev/null
	assert_success
	run --separate-stderr mig-wait --applied -t 0 <<<'# only a comment'
	assert_success
}

@test "mig-wait: --applied counts an applied migration whose checksum changed" {
	two_migs
	mig-list | mig-apply -q
	write_mig 0002_posts 'CREATE TABLE posts (id bigint);' 'DROP TABLE posts;'
	run --separate-stderr bash -c 'mig-list | mig-current --status'
	assert_line 'changed	0002	posts'
	run --separate-stderr bash -c 'mig-list | mig-wait --applied -t 0'
	assert_success
}

@test "mig-wait: --applied does not count a partial migration" {
	write_mig --no-tx 0001_half 'CREATE TABLE half (id int);
SELECT 1/0;' 'DROP TABLE IF EXISTS half;'
	run mig-apply -q < <(mig-list)
	assert_failure 1
	run --separate-stderr bash -c 'mig-list | mig-wait --applied -t 0'
	assert_failure 75
	[[ $stderr == *0001_half* ]]
}

@test "mig-wait: --applied matches versions by integer value" {
	write_mig 0001_users 'CREATE TABLE users (id int);' 'DROP TABLE users;'
	mig-list | mig-apply -q
	mkdir other
	printf -- '-- migrate:up\nCREATE TABLE users (id int);\n' >other/1_users.sql
	run --separate-stderr mig-wait --applied -t 0 <<<other/1_users.sql
	assert_success
}

@test "mig-wait: --applied waits until the listed migrations are applied" {
	two_migs
	(
		sleep 1
		mig-list | mig-apply -q
	) 3>&- &
	local applier=$!
	SECONDS=0
	run --separate-stderr bash -c 'mig-list | mig-wait --applied -t 10'
	wait "$applier"
	assert_success
	((SECONDS < 8))
	[[ $(applied_versions) == $'0001\n0002' ]]
}

@test "mig-wait: --applied with a malformed list exits 65" {
	run --separate-stderr mig-wait --applied -t 0 <<<'not a migration'
	assert_failure 65
	[[ $stderr == *1* ]]
}

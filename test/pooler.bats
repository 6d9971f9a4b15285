#!/usr/bin/env bats
# mig-apply and mig-revert through PgBouncer (Debian's package, which
# scripts/deps installs): in session mode they work, alone and many at
# once; in transaction mode they stop before running anything, exit 69
# naming the pool mode and the fix, and leave no advisory lock on any of
# the pool's server connections.
#
# setup_file starts two PgBouncers on 127.0.0.1 in front of the test
# server, one per pool mode, each with its config, log and pid file in a
# directory of its own (as root, run as the postgres user: PgBouncer will
# not run as root). Without pgbouncer the file fails, unless
# MIG_TEST_BUILD=0 (make check, which installs nothing): then it skips.

load helper

pgbouncer_bin() {
	local b
	for b in /usr/sbin/pgbouncer "$(command -v pgbouncer 2>/dev/null)"; do
		[[ -n $b && -x $b ]] && { echo "$b"; return 0; }
	done
	return 1
}

# pgbouncer_start MODE [POOL_SIZE]: a PgBouncer in pool mode MODE (with
# POOL_SIZE server connections per database, 20 by default) in front of the
# test server; prints its directory. Clients log in as mig with the suite's
# password (SCRAM), which PgBouncer then uses towards the server.
pgbouncer_start() {
	local mode=$1 size=${2:-20} bin dir port i
	bin=$(pgbouncer_bin) || return 1
	dir=$(mktemp -d "${TMPDIR:-/tmp}/mig-pgbouncer.XXXXXX")
	port=$(free_port)
	printf '"mig" "%s"\n' "$PGTMP_PASSWORD" >"$dir/users.txt"
	cat >"$dir/pgbouncer.ini" <<-EOF
		[databases]
		* = host=127.0.0.1 port=$PGTMP_PORT
		[pgbouncer]
		listen_addr = 127.0.0.1
		listen_port = $port
		unix_socket_dir =
		auth_type = scram-sha-256
		auth_file = $dir/users.txt
		pool_mode = $mode
		default_pool_size = $size
		max_client_conn = 200
		logfile = $dir/pgbouncer.log
		pidfile = $dir/pgbouncer.pid
	EOF
	echo "$port" >"$dir/port"
	# The daemon must not keep bats' pipes open (fd 3 and up).
	if ((EUID == 0)); then
		chown -R postgres:postgres "$dir"
		chmod 700 "$dir"
		(cd / && runuser -u postgres -- "$bin" -d -q "$dir/pgbouncer.ini") \
			</dev/null >/dev/null 2>&1 3>&-
	else
		"$bin" -d -q "$dir/pgbouncer.ini" </dev/null >/dev/null 2>&1 3>&-
	fi
	for ((i = 0; i < 100; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && { echo "$dir"; return 0; }
		sleep 0.05
	done
	echo "pgbouncer ($mode) did not start; its log:" >&2
	cat "$dir/pgbouncer.log" >&2
	return 1
}

pgbouncer_stop() {
	local dir=$1 pid i
	[[ -n $dir && -d $dir ]] || return 0
	if pid=$(cat "$dir/pgbouncer.pid" 2>/dev/null) && [[ -n $pid ]]; then
		kill "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
	fi
	rm -rf "$dir"
}

# bats 1.8.2 takes a skip in setup_file for a failure: setup_file leaves
# the reason in MIG_TEST_POOLER_SKIP, and setup skips each test with it.
setup_file() {
	if ! pgbouncer_bin >/dev/null; then
		if [[ ${MIG_TEST_BUILD:-1} == 0 ]]; then
			export MIG_TEST_POOLER_SKIP="pgbouncer is not installed (scripts/deps installs it)"
			return 0
		fi
		echo "pgbouncer is not installed: run scripts/deps" >&2
		return 1
	fi
	SESSION_DIR=$(pgbouncer_start session)
	TX_DIR=$(pgbouncer_start transaction)
	export SESSION_DIR TX_DIR
}

teardown_file() {
	pgbouncer_stop "${SESSION_DIR:-}"
	pgbouncer_stop "${TX_DIR:-}"
}

setup() {
	[[ -z ${MIG_TEST_POOLER_SKIP:-} ]] || skip "$MIG_TEST_POOLER_SKIP"
	mig_setup
}

teardown() {
	pgbouncer_stop "${ONE_DIR:-}"
	mig_teardown
}

# via DIR: point DATABASE_URL at the test's database through that PgBouncer.
via() {
	DATABASE_URL="postgresql://mig:${PGTMP_PASSWORD}@127.0.0.1:$(<"$1/port")/${TEST_DB}"
	export DATABASE_URL
}

# The advisory locks any backend of the test server holds.
advisory_locks() {
	psql_admin -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
}

@test "session pool: mig-apply and mig-revert work through PgBouncer" {
	write_mig 0001_a "CREATE TABLE a (id int);" "DROP TABLE a;"
	write_mig 0002_b "CREATE TABLE b (id int);" "DROP TABLE b;"
	via "$SESSION_DIR"

	run --separate-stderr apply
	assert_success
	assert_output "$(line 0001 a)
$(line 0002 b)"
	[[ $(applied_versions) == $'0001\n0002' ]]

	run --separate-stderr revert
	assert_success
	assert_output "$(line 0002 b)"
	[[ $(applied_versions) == 0001 ]]
	run table_exists b
	assert_failure
	# The run went through the pool, not around it.
	grep -q "login attempt: db=$TEST_DB user=mig" "$SESSION_DIR/pgbouncer.log"
	[[ $(advisory_locks) == 0 ]]
}

@test "session pool: six mig-apply at once apply each migration exactly once" {
	psql_admin -c "CREATE TABLE counter (v int NOT NULL); ALTER TABLE counter OWNER TO mig"
	local i v
	for ((i = 1; i <= 10; i++)); do
		printf -v v '%04d' "$i"
		write_mig "${v}_step_$i" "INSERT INTO counter VALUES ($i); SELECT pg_sleep(0.05);"
	done
	via "$SESSION_DIR"
	mig-list >list

	local pids=() n st
	for ((n = 1; n <= 6; n++)); do
		mig-apply <list >"out.$n" 2>"err.$n" &
		pids+=($!)
	done
	for n in "${!pids[@]}"; do
		st=0
		wait "${pids[$n]}" || st=$?
		cat "err.$((n + 1))" >>"$MIG_OUTPUT_LOG"
		[[ $st == 0 ]] || { echo "run $((n + 1)) exited $st"; cat "err.$((n + 1))"; false; }
	done
	[[ $(psql_admin -c "SELECT count(*), count(DISTINCT v) FROM counter") == "10|10" ]]
	[[ $(psql_admin -c "SELECT count(*), count(DISTINCT version) FROM mig_history") == "10|10" ]]
	# Every migration's line was printed by exactly one run.
	[[ $(cat out.* | sort | uniq -d) == "" ]]
	[[ $(cat out.* | wc -l) == 10 ]]
	[[ $(advisory_locks) == 0 ]]
}

@test "session pool with one server connection: the second connection waits 3 s, then the run goes on" {
	write_mig 0001_a "CREATE TABLE a (id int);" "DROP TABLE a;"
	ONE_DIR=$(pgbouncer_start session 1)
	via "$ONE_DIR"

	local t0=$SECONDS
	run --separate-stderr apply
	assert_success
	assert_output "$(line 0001 a)"
	((SECONDS - t0 >= 2))
	[[ $(applied_versions) == 0001 ]]
}

@test "transaction pool: mig-apply exits 69 naming the pool mode and the fix, applies nothing, leaves no lock" {
	write_mig 0001_a "CREATE TABLE a (id int);" "DROP TABLE a;"
	via "$TX_DIR"

	run --separate-stderr apply
	assert_failure 69
	assert_output ""
	[[ $stderr == *"mig-apply: mig@127.0.0.1:$(<"$TX_DIR/port")/$TEST_DB is a connection pooler in transaction (or statement) pool mode"* ]]
	[[ $stderr == *"connect to the server directly, or through a pool in session mode (PgBouncer: pool_mode = session)"* ]]
	run table_exists mig_history
	assert_failure
	run table_exists a
	assert_failure
	# The pool keeps its server connections: a lock taken on one of them
	# would still be held now.
	[[ $(psql_admin -c "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database()
		AND pid <> pg_backend_pid()") == t ]]
	[[ $(advisory_locks) == 0 ]]

	# Nothing to apply: the same answer, before looking.
	run --separate-stderr mig-apply </dev/null
	assert_failure 69
	[[ $stderr == *"transaction (or statement) pool mode"* ]]
}

@test "transaction pool: mig-revert exits 69 too, and reverts nothing" {
	write_mig 0001_a "CREATE TABLE a (id int);" "DROP TABLE a;"
	apply 2>/dev/null
	via "$TX_DIR"

	run --separate-stderr mig-revert
	assert_failure 69
	assert_output ""
	[[ $stderr == *"transaction (or statement) pool mode"*"session"* ]]
	[[ $(applied_versions) == 0001 ]]
	table_exists a
	[[ $(advisory_locks) == 0 ]]
}

@test "transaction pool: mig-current and mig-wait, which only read, work through it" {
	write_mig 0001_a "CREATE TABLE a (id int);" "DROP TABLE a;"
	apply 2>/dev/null
	via "$TX_DIR"

	run --separate-stderr mig-current
	assert_success
	[[ $output == 0001$'\t'a$'\t'* ]]
	mig-list >list
	run --separate-stderr mig-wait --applied -t 5 <list
	assert_success
}

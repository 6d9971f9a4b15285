#!/usr/bin/env bats
# A primary with a streaming standby on this machine (scripts/pgtmp start
# and standby: pg_basebackup -R, the primary waiting for the standby at each
# commit). mig-apply and mig-revert refuse the standby at once, before the
# lock; mig-current and mig-wait --applied read it; and a batch that a
# failover cuts in two completes on the promoted standby, each migration
# applied exactly once, nothing acknowledged lost.
#
# setup_file starts the pair (a pair costs seconds). The failover test
# stops its primary for good, so it comes last; tests added after it would
# find the standby promoted and the primary gone.

load helper

# env_of DIR NAME: one value of a pgtmp server's export lines.
env_of() {
	(
		# shellcheck disable=SC1091
		source "$1/pgtmp.env"
		printf '%s' "${!2}"
	)
}

# pair_start PREFIX: a primary and its standby, with the suite's password;
# sets and exports PREFIX_PRI and PREFIX_SBY (their pgtmp directories).
pair_start() {
	local prefix=$1 pri sby
	pri=$(mktemp -d "${TMPDIR:-/tmp}/mig-primary.XXXXXX")
	PGTMP_PASSWORD=$PGTMP_PASSWORD "$REPO/scripts/pgtmp" start --fast "$pri" >/dev/null
	sby=$(mktemp -d "${TMPDIR:-/tmp}/mig-standby.XXXXXX")
	"$REPO/scripts/pgtmp" standby "$pri" "$sby" >/dev/null
	export "${prefix}_PRI=$pri" "${prefix}_SBY=$sby"
}

# pair_stop PRIMARY_DIR STANDBY_DIR: both gone, whatever state they are in.
pair_stop() {
	local d
	for d in "$@"; do
		[[ -n $d && -f $d/pgtmp.env ]] && "$REPO/scripts/pgtmp" stop "$d"
	done
	return 0
}

# psql_on DIR [PSQL ARGS...]: psql as the superuser on that server's socket,
# on the test's database (or $PSQL_ADMIN_DB).
psql_on() {
	local dir=$1
	shift
	env -u PGPASSWORD -u PGSERVICE -u PGOPTIONS "${PGTMP_BIN:+$PGTMP_BIN/}psql" \
		-h "$dir/data" -p "$(env_of "$dir" PGTMP_PORT)" -U postgres \
		-d "${PSQL_ADMIN_DB:-$TEST_DB}" -XAtq -v ON_ERROR_STOP=1 "$@"
}

# url_of DIR: the test's database on that server, as mig.
url_of() {
	echo "postgresql://mig:${PGTMP_PASSWORD}@127.0.0.1:$(env_of "$1" PGTMP_PORT)/${TEST_DB}"
}

setup_file() {
	pair_start PAIR
}

teardown_file() {
	pair_stop "${PAIR_PRI:-}" "${PAIR_SBY:-}"
}

setup() {
	mig_setup
	PSQL_ADMIN_DB=postgres psql_on "$PAIR_PRI" -c "CREATE DATABASE $TEST_DB OWNER mig"
	PRI_URL=$(url_of "$PAIR_PRI")
	SBY_URL=$(url_of "$PAIR_SBY")
}

teardown() {
	bg_cleanup
	PSQL_ADMIN_DB=postgres psql_on "$PAIR_PRI" -c "DROP DATABASE IF EXISTS $TEST_DB WITH (FORCE)" || true
	mig_teardown
}

@test "standby: mig-apply and mig-revert exit 69 at once saying it is read-only, before the lock" {
	write_mig 0001_a "CREATE TABLE a (id int);" "DROP TABLE a;"
	write_mig 0002_b "CREATE TABLE b (id int);" "DROP TABLE b;"
	mig-list >list
	head -n 1 list | mig-apply -d "$PRI_URL" 2>/dev/null
	# The primary acknowledged it once the standby had applied it.
	[[ $(psql_on "$PAIR_SBY" -c "SELECT version FROM mig_history") == 0001 ]]

	# Another session holds the migration lock on the standby: a run that
	# went for the lock would wait --lock-wait out and exit 75.
	psql_on "$PAIR_SBY" -c "SELECT pg_advisory_lock(hashtextextended('mig:public.mig_history', 0)),
		pg_sleep(60)" >/dev/null 2>&1 3>&- &
	# shellcheck disable=SC2034 # bg_cleanup (teardown) stops it
	BG_PID=$!
	local i
	for ((i = 0; i < 100; i++)); do
		[[ $(psql_on "$PAIR_SBY" -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 1 ]] && break
		sleep 0.05
	done
	((i < 100))

	local msg="is a read-only standby (in recovery); migrations run on the primary: connect to it, or with several hosts in the connection string add target_session_attrs=read-write so that libpq picks it; nothing was run"
	run --separate-stderr mig-apply -d "$SBY_URL" --lock-wait 5 <list
	assert_failure 69
	assert_output ""
	[[ $stderr == "mig-apply: mig@127.0.0.1:$(env_of "$PAIR_SBY" PGTMP_PORT)/$TEST_DB $msg" ]]

	run --separate-stderr mig-revert -d "$SBY_URL" --lock-wait 5
	assert_failure 69
	assert_output ""
	[[ $stderr == "mig-revert: mig@127.0.0.1:$(env_of "$PAIR_SBY" PGTMP_PORT)/$TEST_DB $msg" ]]

	# Nothing pending makes no difference: refused before looking.
	run --separate-stderr mig-apply -d "$SBY_URL" </dev/null
	assert_failure 69

	[[ $(psql_on "$PAIR_PRI" -c "SELECT string_agg(version, ',' ORDER BY id) FROM mig_history") == 0001 ]]

	# The fix the message names: with both hosts, libpq picks the primary.
	local multi
	multi="host=127.0.0.1,127.0.0.1 port=$(env_of "$PAIR_SBY" PGTMP_PORT),$(env_of "$PAIR_PRI" PGTMP_PORT) dbname=$TEST_DB user=mig password=$PGTMP_PASSWORD"
	run --separate-stderr mig-apply -d "$multi" <list
	assert_failure 69
	run --separate-stderr mig-apply -d "$multi target_session_attrs=read-write" <list
	assert_success
	assert_output "$(line 0002 b)"
	[[ $(psql_on "$PAIR_SBY" -c "SELECT string_agg(version, ',' ORDER BY id) FROM mig_history") == 0001,0002 ]]
}

@test "standby: mig-current and mig-wait --applied read it" {
	write_mig 0001_a "CREATE TABLE a (id int);" "DROP TABLE a;"
	write_mig 0002_b "CREATE TABLE b (id int);" "DROP TABLE b;"
	mig-list >list
	head -n 1 list | mig-apply -d "$PRI_URL" 2>/dev/null

	run --separate-stderr mig-current -d "$SBY_URL"
	assert_success
	[[ $output == 0001$'\t'a$'\t'* ]]
	run --separate-stderr mig-current -d "$SBY_URL" --status <list
	assert_success
	assert_output $'applied\t0001\ta\npending\t0002\tb'

	run --separate-stderr mig-wait -d "$SBY_URL" --applied -t 0 <list
	assert_failure 75
	# A wait on the standby ends when the primary's apply reaches it.
	mig-wait -d "$SBY_URL" --applied -t 30 <list >wait.out 2>&1 3>&- &
	local waiter=$!
	sleep 0.5
	kill -0 "$waiter"
	mig-apply -d "$PRI_URL" <list 2>/dev/null
	local st=0
	wait "$waiter" || st=$?
	cat wait.out >>"$MIG_OUTPUT_LOG"
	[[ $st == 0 ]]
	run --separate-stderr mig-wait -d "$SBY_URL" --applied -t 0 <list
	assert_success
}

@test "read-only primary: default_transaction_read_only on is refused (69) the same way" {
	write_mig 0001_a "CREATE TABLE a (id int);" "DROP TABLE a;"
	psql_admin -c "ALTER DATABASE $TEST_DB SET default_transaction_read_only = on"

	run --separate-stderr apply
	assert_failure 69
	assert_output ""
	[[ $stderr == *"/$TEST_DB is read-only (default_transaction_read_only is on)"*"target_session_attrs=read-write"* ]]
	run table_exists mig_history
	assert_failure
}

@test "failover: a batch cut by a promotion completes on a rerun, each migration once, nothing acknowledged lost" {
	local p1 p2
	p1=$(env_of "$PAIR_PRI" PGTMP_PORT)
	p2=$(env_of "$PAIR_SBY" PGTMP_PORT)

	write_mig 0001_log "CREATE TABLE log (v text NOT NULL);"
	local i
	for i in 2 3 4 5 6; do
		write_mig "000${i}_step" "CREATE TABLE t$i (id int);
INSERT INTO log VALUES ('$i');"
	done
	# The middle one takes long on the first primary only, where the
	# failover interrupts it.
	write_mig 0003_step "CREATE TABLE t3 (id int);
INSERT INTO log VALUES ('3');
SELECT pg_sleep(60) WHERE inet_server_port() = $p1;"
	mig-list >list

	export DATABASE_URL="host=127.0.0.1,127.0.0.1 port=$p1,$p2 dbname=$TEST_DB user=mig password=$PGTMP_PASSWORD target_session_attrs=read-write connect_timeout=5"
	mig-apply <list >run1.out 2>run1.err 3>&- &
	local first=$!
	for ((i = 0; i < 200; i++)); do
		[[ $(psql_on "$PAIR_PRI" -c "SELECT count(*) FROM pg_stat_activity
			WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()") == 1 ]] && break
		sleep 0.05
	done
	((i < 200))

	"$REPO/scripts/pgtmp" halt "$PAIR_PRI" immediate
	"$REPO/scripts/pgtmp" promote "$PAIR_SBY"
	local st=0
	wait "$first" || st=$?
	cat run1.err >>"$MIG_OUTPUT_LOG"
	# A lost connection: 69, naming the migration it was running.
	[[ $st == 69 ]]
	grep -q "0003_step" run1.err || { cat run1.err; false; }
	# Acknowledged before the failover: the first two.
	[[ $(cat run1.out) == "$(line 0001 log)"$'\n'"$(line 0002 step)" ]]

	run --separate-stderr mig-apply <list
	assert_success
	assert_output "$(line 0003 step)
$(line 0004 step)
$(line 0005 step)
$(line 0006 step)"

	# On the promoted standby: everything, once, in order, none partial.
	[[ $(psql_on "$PAIR_SBY" -c "SELECT string_agg(version, ',' ORDER BY id),
		count(*) FILTER (WHERE state <> 'applied') FROM mig_history") == "0001,0002,0003,0004,0005,0006|0" ]]
	[[ $(psql_on "$PAIR_SBY" -c "SELECT string_agg(v, ',' ORDER BY v) FROM log") == "2,3,4,5,6" ]]
	[[ $(psql_on "$PAIR_SBY" -c "SELECT count(*) FROM pg_class WHERE relname ~ '^t[2-6]$'") == 5 ]]
}

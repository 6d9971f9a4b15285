#!/usr/bin/env bats
# The connection rules every database tool shares: -d/-h/-p/-U, then
# DATABASE_URL, then libpq's defaults; usage errors, connection failures,
# application_name, no password in any output; the common options.

load helper

# Roles are the cluster's: dropped after the test's database is gone.
ROLES=()
teardown() {
	local rc=0 r
	mig_teardown || rc=1
	for r in "${ROLES[@]}"; do
		PSQL_ADMIN_DB=postgres psql_admin -c "DROP ROLE IF EXISTS $r" >/dev/null || rc=1
	done
	return "$rc"
}

TOOLS=(mig-list mig-current mig-apply mig-revert mig-new mig-wait)

one_mig() {
	write_mig 0001_users 'CREATE TABLE users (id int);' 'DROP TABLE users;'
}

# An empty second database, dropped by the test itself.
other_db() {
	OTHER_DB=${TEST_DB}_other
	PSQL_ADMIN_DB=postgres psql_admin -c "CREATE DATABASE $OTHER_DB OWNER mig STRATEGY FILE_COPY"
}

drop_other_db() {
	PSQL_ADMIN_DB=postgres psql_admin -c "DROP DATABASE IF EXISTS $OTHER_DB WITH (FORCE)"
}

@test "conn: -d DBNAME connects to that database with libpq's defaults for the rest" {
	one_mig
	unset DATABASE_URL
	export PGHOST=127.0.0.1 PGPORT=$PGTMP_PORT PGUSER=mig PGPASSWORD=$PGTMP_PASSWORD
	run --separate-stderr bash -c 'mig-list | mig-apply -q -d "$TEST_DB"'
	assert_success
	assert_output '0001	users	migrations/0001_users.sql'
	[[ $(applied_versions) == 0001 ]]
}

@test "conn: -d with a key=value conninfo replaces DATABASE_URL entirely" {
	one_mig
	local good="host=127.0.0.1 port=$PGTMP_PORT user=mig password=$PGTMP_PASSWORD dbname=$TEST_DB"
	DATABASE_URL="postgresql://nobody:x@127.0.0.1:$(free_port)/nodb"
	run --separate-stderr bash -c 'mig-list | mig-apply -q -d "$1"' _ "$good"
	assert_success
	[[ $(applied_versions) == 0001 ]]
	run --separate-stderr mig-current -d "$good"
	assert_success
	assert_output --partial '0001	users	'
}

@test "conn: -d with a URI replaces DATABASE_URL entirely" {
	one_mig
	local good=$DATABASE_URL
	DATABASE_URL="postgresql://nobody:x@127.0.0.1:$(free_port)/nodb"
	run --separate-stderr bash -c 'mig-list | mig-apply -q --dbname "$1"' _ "$good"
	assert_success
	[[ $(applied_versions) == 0001 ]]
	run --separate-stderr mig-wait -t 0 --dbname="$good"
	assert_success
}

@test "conn: -p, -h and -U override those parts of DATABASE_URL" {
	one_mig
	local url=$DATABASE_URL
	DATABASE_URL=${url/":$PGTMP_PORT/"/":$(free_port)/"}
	run --separate-stderr mig-current -p "$PGTMP_PORT"
	assert_success
	DATABASE_URL=${url/@127.0.0.1:/@127.0.0.2:}
	run --separate-stderr mig-wait -t 0 -h 127.0.0.1
	assert_success
	DATABASE_URL=${url/mig:/nobody:}
	run --separate-stderr bash -c 'mig-list | mig-apply -q -U mig'
	assert_success
	[[ $(psql_admin -c 'SELECT applied_by FROM mig_history') == mig ]]
}

@test "conn: -p, -h and -U override those parts of a -d conninfo" {
	local dead
	dead=$(free_port)
	run --separate-stderr mig-wait -t 0 -d "postgresql://mig:$PGTMP_PASSWORD@127.0.0.1:$dead/$TEST_DB" -p "$PGTMP_PORT"
	assert_success
	run --separate-stderr mig-wait -t 0 -d "host=127.0.0.2 port=$PGTMP_PORT user=nobody password=$PGTMP_PASSWORD dbname=$TEST_DB" -h 127.0.0.1 -U mig
	assert_success
}

@test "conn: an explicit -U wins, and the failure names that user" {
	run --separate-stderr mig-current -U "nobody_$$"
	assert_failure 69
	[[ $stderr == *"nobody_$$@127.0.0.1:$PGTMP_PORT/$TEST_DB"* ]]
}

@test "conn: with DATABASE_URL unset, PGHOST, PGPORT, PGUSER, PGDATABASE and PGPASSWORD are used" {
	one_mig
	unset DATABASE_URL
	export PGHOST=127.0.0.1 PGPORT=$PGTMP_PORT PGUSER=mig PGDATABASE=$TEST_DB PGPASSWORD=$PGTMP_PASSWORD
	run --separate-stderr bash -c 'mig-list | mig-apply -q'
	assert_success
	[[ $(applied_versions) == 0001 ]]
	run --separate-stderr mig-current
	assert_success
	assert_output --partial '0001	users	'
	run --separate-stderr mig-wait -t 0
	assert_success
}

@test "conn: an empty DATABASE_URL counts as unset" {
	export DATABASE_URL=''
	export PGHOST=127.0.0.1 PGPORT=$PGTMP_PORT PGUSER=mig PGDATABASE=$TEST_DB PGPASSWORD=$PGTMP_PASSWORD
	run --separate-stderr mig-wait -t 0
	assert_success
}

@test "conn: DATABASE_URL wins over PG* variables" {
	PGPORT=$(free_port)
	export PGHOST=127.0.0.2 PGPORT PGUSER=nobody PGDATABASE=nodb
	run --separate-stderr mig-current
	assert_success
}

@test "conn: an invalid conninfo with -d is a usage error (64) for every database tool" {
	local t
	for t in mig-current mig-apply mig-revert mig-wait; do
		run --separate-stderr "$t" -d 'host=127.0.0.1 nosuchoption=1' </dev/null
		assert_failure 64
		assert_output ''
		[[ $stderr == *nosuchoption* ]]
	done
}

@test "conn: an invalid DATABASE_URL is a usage error (64) for every database tool" {
	local t
	export DATABASE_URL="postgresql://mig@127.0.0.1:$PGTMP_PORT/$TEST_DB?nosuchoption=1"
	for t in mig-current mig-apply mig-revert mig-wait; do
		run --separate-stderr "$t" </dev/null
		assert_failure 64
		[[ $stderr == *DATABASE_URL* ]]
	done
}

@test "conn: a port that is not a number is an invalid conninfo (64), not a retry" {
	SECONDS=0
	run --separate-stderr mig-wait -t 30 -d "postgresql://mig@127.0.0.1:notaport/$TEST_DB"
	assert_failure 64
	((SECONDS < 5))
	[[ $stderr == *notaport* ]]
	run --separate-stderr mig-current -p notaport
	assert_failure 64
}

@test "conn: an invalid option value in the conninfo is a usage error (64) at once for every database tool" {
	one_mig
	local t d url=$DATABASE_URL
	local -a invalid=(
		"$url?sslmode=bogus"
		"$url?target_session_attrs=bogus"
		"host=127.0.0.1 port=$PGTMP_PORT dbname=$TEST_DB user=mig password=$PGTMP_PASSWORD sslmode=bogus"
		"host=127.0.0.1 port=$PGTMP_PORT dbname=$TEST_DB target_session_attrs=bogus"
		"host=127.0.0.1 port=$PGTMP_PORT dbname=$TEST_DB gssencmode=bogus"
		"host=127.0.0.1 port=$PGTMP_PORT dbname=$TEST_DB keepalives=bogus"
		"host=127.0.0.1,127.0.0.2 port=$PGTMP_PORT,1,2 dbname=$TEST_DB"
		"$url?bogus=1"
	)
	for d in "${invalid[@]}"; do
		for t in mig-current mig-apply mig-revert 'mig-wait -t 30'; do
			SECONDS=0
			run --separate-stderr bash -c "mig-list | $t -d \"\$1\"" _ "$d"
			assert_failure 64
			((SECONDS < 5))
			assert_output ''
			[[ ${#stderr_lines[@]} == 1 ]]
			[[ $stderr == *bogus* || $stderr == *'port numbers'* ]]
		done
	done
	[[ $(applied_versions) == '' ]]
	# The same from the environment, and from DATABASE_URL.
	PGSSLMODE=bogus run --separate-stderr mig-current
	assert_failure 64
	[[ $stderr == *'invalid sslmode value: "bogus"'* ]]
	DATABASE_URL="$url?target_session_attrs=bogus" run --separate-stderr mig-wait -t 30
	assert_failure 64
	# A real network failure stays what it was: retried by mig-wait, 69 elsewhere.
	run --separate-stderr mig-current -d "$url?sslmode=disable" -h no-such-host.invalid
	assert_failure 69
	run --separate-stderr mig-wait -t 0 -d "$url?sslmode=disable" -p "$(free_port)"
	assert_failure 75
}

@test "conn: a failure to connect is 69, naming user@host:port/dbname and never the password" {
	local port t
	port=$(free_port)
	export DATABASE_URL="postgresql://mig:${PGTMP_PASSWORD}@127.0.0.1:$port/$TEST_DB"
	one_mig
	for t in mig-current mig-apply mig-revert; do
		run --separate-stderr bash -c "mig-list | $t"
		assert_failure 69
		assert_output ''
		[[ $stderr == *"mig@127.0.0.1:$port/$TEST_DB"* ]]
		[[ $stderr != *"$PGTMP_PASSWORD"* ]]
	done
}

@test "conn: a wrong password is 69, naming the server and not the password" {
	local bad=Wr0ng-pass-$RANDOM
	mig_secret "$bad"
	export DATABASE_URL=${DATABASE_URL/"$PGTMP_PASSWORD"/$bad}
	run --separate-stderr mig-current
	assert_failure 69
	[[ $stderr == *"mig@127.0.0.1:$PGTMP_PORT/$TEST_DB"* ]]
	[[ $stderr == *"password authentication failed"* ]]
}

@test "conn: application_name is the tool's name (mig-apply, mig-revert)" {
	write_mig 0001_app 'CREATE TABLE app_up AS SELECT current_setting('"'application_name'"') AS a;' \
		'CREATE TABLE app_down AS SELECT current_setting('"'application_name'"') AS a; DROP TABLE app_up;'
	mig-list | mig-apply -q
	[[ $(psql_admin -c 'SELECT a FROM app_up') == mig-apply ]]
	mig-revert -q </dev/null
	[[ $(psql_admin -c 'SELECT a FROM app_down') == mig-revert ]]
}

@test "conn: application_name is the tool's name (mig-current, mig-wait)" {
	one_mig
	mig-list | mig-apply -q
	# Hold the history table so the readers stay in pg_stat_activity.
	local fifo=$BATS_TEST_TMPDIR/fifo
	mkfifo "$fifo"
	psql_admin -c 'BEGIN' -c 'LOCK TABLE mig_history' -c '\! echo locked >'"$fifo" \
		-c 'SELECT pg_sleep(20)' >/dev/null 2>&1 &
	local holder=$!
	read -r _ <"$fifo"
	mig-current >/dev/null 2>&1 &
	local p1=$!
	mig-list | mig-wait --applied -t 15 >/dev/null 2>&1 &
	local p2=$!
	local apps='' i
	for ((i = 0; i < 100; i++)); do
		apps=$(psql_admin -c "SELECT string_agg(application_name, ',' ORDER BY application_name) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
		[[ $apps == mig-current,mig-wait ]] && break
		sleep 0.1
	done
	psql_admin -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(20)%' AND pid <> pg_backend_pid()" >/dev/null
	wait "$holder" || true
	wait "$p1" "$p2" || true
	[[ $apps == mig-current,mig-wait ]]
}

@test "conn: libpq's messages of several lines are folded into one line" {
	run --separate-stderr mig-current -p "$(free_port)"
	assert_failure 69
	[[ ${#stderr_lines[@]} == 1 ]]
	[[ $stderr == *'Connection refused. Is the server running on that host'* ]]

	# A backend terminated while it reads the history table.
	one_mig
	mig-list | mig-apply -q
	mkfifo fifo
	psql_admin -c 'BEGIN' -c 'LOCK TABLE mig_history' -c '\! echo locked >fifo' \
		-c 'SELECT pg_sleep(30)' >/dev/null 2>&1 &
	# shellcheck disable=SC2034 # bg_cleanup (helper.bash) reads it
	BG_PID=$!
	read -r _ <fifo
	mig-current >out 2>err &
	local p=$! i pid=''
	for ((i = 0; i < 400; i++)); do
		pid=$(psql_admin -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'mig-current' AND wait_event_type = 'Lock'")
		[[ -n $pid ]] && break
		sleep 0.05
	done
	psql_admin -c "SELECT pg_terminate_backend($pid)" >/dev/null
	local st=0
	wait "$p" || st=$?
	bg_cleanup
	[[ $st == 69 ]]
	run cat err
	[[ ${#lines[@]} == 1 ]]
	assert_output --partial 'cannot read the history table on mig@'
	assert_output --partial 'terminating connection due to administrator command; server closed the connection unexpectedly. This probably means the server terminated abnormally before or while processing the request.'
}

@test "conn: an application_name the user chose wins" {
	write_mig 0001_app 'CREATE TABLE app_up AS SELECT current_setting('"'application_name'"') AS a;' 'DROP TABLE app_up;'
	DATABASE_URL="$DATABASE_URL?application_name=deploy-job" mig-apply -q < <(mig-list)
	[[ $(psql_admin -c 'SELECT a FROM app_up') == deploy-job ]]
	mig-revert -q </dev/null
	PGAPPNAME=from-env mig-apply -q < <(mig-list)
	[[ $(psql_admin -c 'SELECT a FROM app_up') == from-env ]]
}

@test "conn: a password from -d never appears in any output" {
	local bad=DashD-Secret-$RANDOM
	mig_secret "$bad"
	run --separate-stderr mig-current -d "host=127.0.0.1 port=$PGTMP_PORT user=mig password=$bad dbname=$TEST_DB"
	assert_failure 69
	run --separate-stderr mig-current -d "host=127.0.0.1 port=$PGTMP_PORT user=mig password='$bad' dbname=nodb_$$"
	assert_failure 69
	run --separate-stderr mig-wait -t 0 -d "postgresql://mig:$bad@127.0.0.1:$(free_port)/$TEST_DB"
	assert_failure 75
	[[ $stderr == *"mig@127.0.0.1:"* ]]
}

@test "conn: a password from PGPASSWORD never appears in any output" {
	local bad=PgPass-Secret-$RANDOM
	mig_secret "$bad"
	unset DATABASE_URL
	export PGHOST=127.0.0.1 PGPORT=$PGTMP_PORT PGUSER=mig PGDATABASE=$TEST_DB PGPASSWORD=$bad
	run --separate-stderr mig-current
	assert_failure 69
	run --separate-stderr mig-wait -t 1
	assert_failure 69
}

@test "conn: a password in a malformed conninfo never appears in any output" {
	mig_secret SECRETuri-$$ SECRETkv-$$ SECRETq-$$
	local t
	for t in mig-current mig-apply mig-revert mig-wait; do
		run --separate-stderr "$t" -d "postgresql://u:SECRETuri-$$@h:notaport/db" </dev/null
		assert_failure 64
		run --separate-stderr "$t" -d "host=x password=SECRETkv-$$ junk" </dev/null
		assert_failure 64
		run --separate-stderr "$t" -d "host=x password='SECRETq-$$" </dev/null
		assert_failure 64
		DATABASE_URL="postgresql://u:SECRETuri-$$@h/db?bogus=1" run --separate-stderr "$t" </dev/null
		assert_failure 64
	done
}

@test "conn: a connection string in a failing migration's output shows no password" {
	write_mig 0001_bad "SELECT 'host=db password=$PGTMP_PASSWORD user=x'::int;"
	write_mig 0002_bad "SELECT 'postgresql://mig:$PGTMP_PASSWORD@db/x'::int;"
	run --separate-stderr bash -c 'mig-list | head -1 | mig-apply'
	assert_failure 1
	[[ $stderr == *"0001_bad.sql:2:"*'"host=db password=*** user=x"'* ]]
	run --separate-stderr bash -c 'mig-list | tail -1 | mig-apply'
	assert_failure 1
	[[ $stderr == *"0002_bad.sql:2:"*'"postgresql://mig:***@db/x"'* ]]
}

@test "conn: masking works by structure: a password e, app or equal to the user name leaves every message intact" {
	local r=app_$$_$RANDOM pw url
	ROLES+=("$r")
	PSQL_ADMIN_DB=postgres psql_admin -c "CREATE ROLE $r LOGIN"
	psql_admin -c "GRANT CREATE ON SCHEMA public TO $r"
	write_mig 0001_app "SELECT 'e app $r'::int;"
	for pw in e app "$r"; do
		PSQL_ADMIN_DB=postgres psql_admin -c "ALTER ROLE $r PASSWORD '$pw'"
		url="postgresql://$r:$pw@127.0.0.1:$PGTMP_PORT"
		run --separate-stderr mig-current -d "$url/nodb_$$"
		assert_failure 69
		[[ $stderr == "mig-current: cannot connect to $r@127.0.0.1:$PGTMP_PORT/nodb_$$: "*'database "nodb_'*'" does not exist' ]]
		run --separate-stderr bash -c 'mig-list | mig-apply -d "$1"' _ "$url/$TEST_DB"
		assert_failure 1
		[[ $stderr == "migrations/0001_app.sql:2:8: ERROR: invalid input syntax for type integer: \"e app $r\" (SQLSTATE 22P02)" ]]
		run --separate-stderr mig-wait -t 0 -d "$url/$TEST_DB" -p "$(free_port)"
		assert_failure 75
		[[ $stderr == "mig-wait: timed out after 0 s: $r@127.0.0.1:"*"Connection refused"* ]]
		# A connection string echoed in a message: only the password field masked.
		run --separate-stderr mig-current -d "postgresql://$r:$pw@[::1/db"
		assert_failure 64
		[[ $stderr == *"\"postgresql://$r:***@[::1/db\""* ]]
		run --separate-stderr mig-current -d "postgresql://$pw:$pw@[::1/db"
		assert_failure 64
		[[ $stderr == *"\"postgresql://$pw:***@[::1/db\""* ]]
	done
	run --separate-stderr bash -c 'mig-list | mig-wait --applied -t 0 -d "$1"' _ "$url/$TEST_DB"
	assert_failure 75
	[[ $stderr == "mig-wait: timed out after 0 s: 1 of 1 listed migration(s) not applied yet (first: 0001_app)" ]]
}

@test "conn: --help and -? print usage to stdout and exit 0 for all six tools" {
	local t
	for t in "${TOOLS[@]}"; do
		run --separate-stderr "$t" --help
		assert_success
		assert_output --partial "usage: $t"
		[[ $stderr == '' ]]
		run --separate-stderr "$t" '-?'
		assert_success
		assert_output --partial "usage: $t"
		[[ $stderr == '' ]]
	done
}

@test "conn: --help prints the usage lines, then one line per option; a bad option only the usage lines" {
	local -A opts=(
		[mig-list]=''
		[mig-new]='-D,--dir --seq --pair'
		[mig-current]='-a,--all --status --json'
		[mig-wait]='-t,--timeout -q,--quiet --applied'
		[mig-apply]='-n,--dry-run -q,--quiet --to --single-transaction --allow-out-of-order --mark-only'
		[mig-revert]='-n,--dry-run -q,--quiet --no-list --steps --to --all'
	)
	local conn='-d,--dbname -h,--host -p,--port -U,--username --table'
	local run='--lock-wait --lock-timeout --lock-retries --statement-timeout'
	local t o list
	for t in "${TOOLS[@]}"; do
		list="${opts[$t]} -?,--help -V,--version"
		case $t in
			mig-apply | mig-revert) list+=" $run $conn" ;;
			mig-current | mig-wait) list+=" $conn" ;;
		esac
		run --separate-stderr "$t" --help
		assert_success
		assert_line -n 0 --regexp "^usage: $t( |\$)"
		for o in $list; do
			# "  -x, --long..." or "      --long...", then a description.
			o=${o//\?/\\?}
			if [[ $o == *,* ]]; then
				assert_line --regexp "^  ${o%%,*}, ${o#*,}[= ].* [a-z]"
			else
				assert_line --regexp "^      ${o}[= ].* [a-z]"
			fi
		done
		run --separate-stderr "$t" --bogus
		assert_failure 64
		[[ $stderr == *"usage: $t"* ]]
		[[ $stderr != *'show this help'* ]]
	done
}

@test "conn: --version and -V print the version to stdout and exit 0 for all six tools" {
	local t
	for t in "${TOOLS[@]}"; do
		run --separate-stderr "$t" --version
		assert_success
		assert_output --regexp "^$t .*[0-9]+\.[0-9]+"
		[[ $stderr == '' ]]
		run --separate-stderr "$t" -V
		assert_success
		assert_output --regexp "^$t .*[0-9]+\.[0-9]+"
	done
}

@test "conn: a write error on stdout is 74 for every tool that prints, --help and --version included" {
	one_mig
	local t
	for t in "${TOOLS[@]}"; do
		run --separate-stderr bash -c "$t --help >/dev/full"
		assert_failure 74
		[[ $stderr == *"$t: cannot write to stdout"* ]]
		run --separate-stderr bash -c "$t --version >/dev/full"
		assert_failure 74
	done
	run --separate-stderr bash -c 'mig-list >/dev/full'
	assert_failure 74
	run --separate-stderr bash -c 'mig-list | mig-apply -n >/dev/full'
	assert_failure 74
	run --separate-stderr bash -c 'mig-list | mig-apply >/dev/full'
	assert_failure 74
	[[ $(applied_versions) == 0001 ]]
	run --separate-stderr bash -c 'mig-current >/dev/full'
	assert_failure 74
	run --separate-stderr bash -c 'mig-list | mig-current --status --json >/dev/full'
	assert_failure 74
	run --separate-stderr bash -c 'mig-revert </dev/null >/dev/full'
	assert_failure 74
	[[ $(applied_versions) == '' ]]
	run --separate-stderr bash -c 'mig-new --seq x >/dev/full'
	assert_failure 74
	# Nothing on stdout is nothing to fail.
	run --separate-stderr bash -c 'mig-wait -t 0 >/dev/full'
	assert_success
}

@test "conn: out of memory is 71, not a database error" {
	# A migration file too big for the memory the tool may have.
	{
		printf -- '-- migrate:up\nSELECT 1;\n-- '
		head -c 48000000 /dev/zero | tr '\0' x
		printf '\n'
	} >"$MIGDIR/0001_big.sql"
	mig-list >list
	if [[ $MIG_BIN == */san ]]; then
		# ASan cannot start under ulimit -v; its allocator has a limit of its own.
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1:max_allocation_size_mb=16 \
			run --separate-stderr mig-apply <list
	else
		run --separate-stderr bash -c 'ulimit -v 60000 && exec mig-apply <list'
	fi
	assert_failure 71
	[[ $stderr == *'Cannot allocate memory'* ]]
	run table_exists mig_history
	assert_failure
}

@test "conn: an unknown option is a usage error (64) for all six tools" {
	local t
	for t in "${TOOLS[@]}"; do
		run --separate-stderr "$t" --no-such-option </dev/null
		assert_failure 64
		assert_output ''
		[[ -n $stderr ]]
		run --separate-stderr "$t" -Z </dev/null
		assert_failure 64
		assert_output ''
	done
}

@test "conn: -h means host, not help" {
	local t
	for t in mig-current mig-apply mig-revert mig-wait; do
		run --separate-stderr "$t" -h </dev/null
		assert_failure 64
		refute_output --partial usage
	done
	run --separate-stderr mig-current -h 127.0.0.1
	assert_success
	run --separate-stderr mig-current -h 127.0.0.2
	assert_failure 69
	[[ $stderr == *"@127.0.0.2:$PGTMP_PORT/"* ]]
}

@test "conn: --opt value and --opt=value both work" {
	one_mig
	local url=$DATABASE_URL
	unset DATABASE_URL
	export PGPASSWORD=$PGTMP_PASSWORD
	run --separate-stderr bash -c 'mig-list | mig-apply -q --host 127.0.0.1 --port "$PGTMP_PORT" --username mig --dbname "$TEST_DB" --table=app.hist'
	assert_success
	[[ $(applied_versions app.hist) == 0001 ]]
	run --separate-stderr mig-current --host=127.0.0.1 --port="$PGTMP_PORT" --username=mig --dbname="$TEST_DB" --table app.hist
	assert_success
	assert_output --partial '0001	users	'
	run --separate-stderr mig-current --dbname="$url" --table=app.hist
	assert_success
	assert_output --partial '0001	users	'
}

@test "conn: a hostile search_path cannot redirect the history table" {
	one_mig
	write_mig 0002_posts 'CREATE TABLE posts (id int);' 'DROP TABLE posts;'
	mig-list | head -1 | mig-apply -q
	psql_admin <<-'EOF'
		CREATE SCHEMA decoy;
		CREATE TABLE decoy.mig_history (LIKE public.mig_history INCLUDING ALL);
		INSERT INTO decoy.mig_history (version, name, path, checksum, up_sql)
		VALUES ('0002', 'posts', 'x', 'x', 'x'), ('0009', 'fake', 'x', 'x', 'x');
	EOF
	export DATABASE_URL="$DATABASE_URL?options=-csearch_path%3Ddecoy,public"
	run --separate-stderr mig-current --all
	assert_success
	assert_output --regexp '^0001	users	[0-9TZ:-]+$'
	run --separate-stderr bash -c 'mig-list | mig-current --status'
	assert_output 'applied	0001	users
pending	0002	posts'
	run --separate-stderr bash -c 'mig-list | mig-wait --applied -t 0'
	assert_failure 75
	run --separate-stderr bash -c 'mig-list | mig-apply -q'
	assert_success
	assert_output '0002	posts	migrations/0002_posts.sql'
	[[ $(applied_versions public.mig_history) == $'0001\n0002' ]]
	[[ $(applied_versions decoy.mig_history) == $'0002\n0009' ]]
	run --separate-stderr mig-revert -q </dev/null
	assert_success
	[[ $(applied_versions public.mig_history) == 0001 ]]
	[[ $(applied_versions decoy.mig_history) == $'0002\n0009' ]]
}

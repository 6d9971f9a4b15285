#!/usr/bin/env bats
# The connection rules every database tool shares: -d/-h/-p/-U, then
# DATABASE_URL, then libpq's defaults; usage errors, connection failures,
# application_name, no password in any output; the common options.

load helper

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

@test "conn: the password never shows in a failing migration's output" {
	write_mig 0001_bad "SELECT '$PGTMP_PASSWORD'::int;"
	run --separate-stderr bash -c 'mig-list | mig-apply'
	assert_failure 1
	[[ $stderr == *0001_bad.sql* ]]
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

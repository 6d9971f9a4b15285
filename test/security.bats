#!/usr/bin/env bats
# Security: no password from a service file or --help output; hostile file
# names never reach SQL unescaped; a search_path changed by a migration or
# shadowing functions cannot redirect the history table or the lock; the
# role privileges each tool needs. (The -d, URL and PGPASSWORD cases are in
# conn.bats, mig-new's symlinks in new.bats.)

load helper

# service_file NAME PASSWORD [DBNAME]: writes ./pg_service.conf with one
# service NAME reaching the test server as mig with PASSWORD.
service_file() {
	cat >"$BATS_TEST_TMPDIR/pg_service.conf" <<-EOF
		[$1]
		host=127.0.0.1
		port=$PGTMP_PORT
		user=mig
		password=$2
		dbname=${3:-$TEST_DB}
	EOF
	export PGSERVICEFILE=$BATS_TEST_TMPDIR/pg_service.conf
}

@test "security: a password from a service file never appears in a connection error, an SQL error or a lost connection" {
	local wrong=SvcWrong-$RANDOM$RANDOM
	mig_secret "$wrong"
	write_mig 0001_bad "SELECT 1/0;"
	unset DATABASE_URL

	# Wrong password: 69, the server named, the password not.
	service_file deploy "$wrong"
	local t
	for t in mig-current mig-apply mig-revert; do
		run --separate-stderr bash -c "mig-list | PGSERVICE=deploy $t"
		assert_failure 69
		[[ $stderr == *"mig@127.0.0.1:$PGTMP_PORT/$TEST_DB"* ]]
	done
	run --separate-stderr mig-wait -t 0 -d service=deploy
	assert_failure 69
	# A database that does not exist (retried by mig-wait, then 75).
	service_file deploy "$PGTMP_PASSWORD" "nodb_$$"
	run --separate-stderr mig-current -d service=deploy
	assert_failure 69
	[[ $stderr == *nodb_$$* ]]
	run --separate-stderr mig-wait -t 0 -d service=deploy
	assert_failure 75

	# The right password: an SQL error names the file, not the password.
	service_file deploy "$PGTMP_PASSWORD"
	run --separate-stderr bash -c 'mig-list | PGSERVICE=deploy mig-apply'
	assert_failure 1
	[[ $stderr == *'migrations/0001_bad.sql:2:'*'division by zero'* ]]
	# The server's own error text echoing a connection string is masked.
	write_mig 0001_bad "SELECT 'host=h password=$PGTMP_PASSWORD'::int;"
	run --separate-stderr bash -c 'mig-list | mig-apply -d service=deploy'
	assert_failure 1
	[[ $stderr == *'invalid input syntax for type integer: "host=h password=***"'* ]]
}

@test "security: --help and --version print no password from DATABASE_URL, -d, PGPASSWORD or a service file" {
	local pw=HelpPw-$RANDOM$RANDOM
	mig_secret "$pw"
	service_file deploy "$pw"
	export PGPASSWORD=$pw PGSERVICE=deploy
	export DATABASE_URL="postgresql://mig:$pw@127.0.0.1:$PGTMP_PORT/$TEST_DB"
	local t
	for t in mig-list mig-new; do
		run --separate-stderr "$t" --help
		assert_success
		[[ $output == *usage* ]]
		run --separate-stderr "$t" --bogus
		assert_failure 64
	done
	for t in mig-current mig-apply mig-revert mig-wait; do
		run --separate-stderr "$t" --help -d "password=$pw host=127.0.0.1"
		assert_success
		[[ $output == *usage* ]]
		run --separate-stderr "$t" -d "postgresql://mig:$pw@127.0.0.1/x" -?
		assert_success
		run --separate-stderr "$t" --version
		assert_success
		# A usage error does not echo the conninfo either.
		run --separate-stderr "$t" -d "password=$pw" --bogus
		assert_failure 64
	done
}

@test "security: a file name with quotes, a semicolon and a comment applies as data: the victim table survives and the name is stored verbatim" {
	psql_admin -c "CREATE TABLE victim (id int); INSERT INTO victim VALUES (1); ALTER TABLE victim OWNER TO mig"
	local name="x'; DROP TABLE victim; --"
	write_mig "0001_$name" 'CREATE TABLE one (id int);' 'DROP TABLE one;'
	local name2='a "b" $1 \n $$; DROP TABLE victim; $$ c'
	write_mig "0002_$name2" 'CREATE TABLE two (id int);' 'DROP TABLE two;'

	run --separate-stderr bash -c 'mig-list | mig-apply'
	assert_success
	assert_output "0001	$name	migrations/0001_$name.sql
0002	$name2	migrations/0002_$name2.sql"
	run psql_admin -c "SELECT count(*) FROM victim"
	assert_output 1
	run psql_admin -c "SELECT name FROM mig_history ORDER BY id"
	assert_output "$name
$name2"
	run psql_admin -c "SELECT path FROM mig_history ORDER BY id"
	assert_output "migrations/0001_$name.sql
migrations/0002_$name2.sql"

	run --separate-stderr bash -c 'mig-list | mig-current --status'
	assert_success
	assert_output "applied	0001	$name
applied	0002	$name2"
	run --separate-stderr mig-current --json
	assert_success
	[[ $output == *'"name":"a \"b\" $1 \\n $$; DROP TABLE victim; $$ c"'* ]]

	run --separate-stderr bash -c 'mig-list | mig-revert --all'
	assert_success
	run psql_admin -c "SELECT count(*) FROM victim"
	assert_output 1
	run psql_admin -c "SELECT count(*) FROM mig_history"
	assert_output 0
}

@test "security: a directory name with quotes, spaces and a semicolon is stored verbatim and cannot reach SQL" {
	psql_admin -c "CREATE TABLE victim (id int); ALTER TABLE victim OWNER TO mig"
	local dir="d 'x'); DROP TABLE victim; --"
	mkdir "$dir"
	printf -- '-- migrate:up transaction:false\nCREATE TABLE IF NOT EXISTS one (id int);\nCREATE TABLE IF NOT EXISTS two (id int);\n' >"$dir/0001_no tx.sql"
	run --separate-stderr bash -c 'mig-list "$1" | mig-apply' _ "$dir"
	assert_success
	assert_output "0001	no tx	$dir/0001_no tx.sql"
	run psql_admin -c "SELECT path, state, statements_done FROM mig_history"
	assert_output "$dir/0001_no tx.sql|applied|2"
	run table_exists victim
	assert_success
}

@test "security: a file name with a newline is refused (65) before anything connects" {
	psql_admin -c "CREATE TABLE victim (id int); ALTER TABLE victim OWNER TO mig"
	write_mig $'0001_x\n\'; DROP TABLE victim; --' 'CREATE TABLE one (id int);'
	run --separate-stderr mig-list
	assert_failure 65
	run --separate-stderr mig-apply < <(printf '%s\n' "$MIGDIR"/0001_*)
	assert_failure 65
	run table_exists victim
	assert_success
	run table_exists mig_history
	assert_failure
}

@test "security: --table, --to and --steps with SQL in them are usage or data errors and reach no SQL" {
	psql_admin -c "CREATE TABLE victim (id int); ALTER TABLE victim OWNER TO mig"
	write_mig 0001_one 'CREATE TABLE one (id int);' 'DROP TABLE one;'
	run --separate-stderr bash -c 'mig-list | mig-apply --table "x; DROP TABLE victim; --"'
	assert_failure 64
	run --separate-stderr bash -c "mig-list | mig-apply --table \"public.x'); DROP TABLE victim; --\""
	assert_failure 64
	run --separate-stderr bash -c "mig-list | mig-apply --to \"1'; DROP TABLE victim; --\""
	assert_failure 65
	run --separate-stderr bash -c 'mig-list | mig-apply -q'
	assert_success
	run --separate-stderr mig-revert --to "1'; DROP TABLE victim; --" </dev/null
	[[ $status == 64 || $status == 65 ]]
	run --separate-stderr mig-revert --steps "1; DROP TABLE victim" </dev/null
	assert_failure 64
	run table_exists victim
	assert_success
	run applied_versions
	assert_output 0001
}

# decoy: a schema decoy with its own mig_history and functions that would
# shadow the ones mig calls were they looked up through a search_path that
# puts decoy before pg_catalog: the lock functions always "succeed".
decoy() {
	psql_admin <<-'EOF'
		CREATE SCHEMA decoy;
		GRANT USAGE ON SCHEMA decoy TO PUBLIC;
		CREATE TABLE decoy.mig_history (id bigint GENERATED ALWAYS AS IDENTITY, version text,
			name text, path text, checksum text, up_sql text, down_sql text,
			state text DEFAULT 'applied', statements_done int DEFAULT 0,
			applied_at timestamptz DEFAULT now(), duration_ms int DEFAULT 0,
			applied_by text DEFAULT current_user);
		GRANT ALL ON decoy.mig_history TO PUBLIC;
		CREATE FUNCTION decoy.hashtextextended(text, bigint) RETURNS bigint
			LANGUAGE sql AS 'SELECT 42::bigint';
		CREATE FUNCTION decoy.pg_try_advisory_lock(bigint) RETURNS boolean
			LANGUAGE sql AS 'SELECT true';
		CREATE FUNCTION decoy.pg_advisory_unlock(bigint) RETURNS boolean
			LANGUAGE sql AS 'SELECT true';
		CREATE FUNCTION decoy.current_schema() RETURNS name
			LANGUAGE sql AS 'SELECT ''decoy''::name';
		CREATE FUNCTION decoy.to_regclass(text) RETURNS regclass
			LANGUAGE sql AS 'SELECT ''decoy.mig_history''::regclass';
		CREATE FUNCTION decoy.format(text, VARIADIC text[]) RETURNS text
			LANGUAGE sql AS 'SELECT ''decoy.mig_history''';
	EOF
}

@test "security: a migration that sets search_path to a decoy schema first cannot redirect the history rows of the migrations after it" {
	decoy
	write_mig 0001_hostile "SET search_path = decoy, pg_catalog, public;
CREATE TABLE t1 (id int);" 'DROP TABLE decoy.t1;'
	write_mig 0002_after 'CREATE TABLE t2 (id int);' 'DROP TABLE public.t2;'
	write_mig --no-tx 0003_notx 'SET search_path = decoy, pg_catalog, public;
CREATE TABLE IF NOT EXISTS t3 (id int);
CREATE TABLE IF NOT EXISTS t3b (id int);' 'SET search_path = decoy, pg_catalog, public;
DROP TABLE IF EXISTS t3b, t3;'

	run --separate-stderr bash -c 'mig-list | mig-apply'
	assert_success
	assert_output $'0001\thostile\tmigrations/0001_hostile.sql\n0002\tafter\tmigrations/0002_after.sql\n0003\tnotx\tmigrations/0003_notx.sql'
	run applied_versions public.mig_history
	assert_output $'0001\n0002\n0003'
	run psql_admin -c "SELECT count(*) FROM decoy.mig_history"
	assert_output 0
	# The migrations' own tables followed the search_path each set; the
	# one that set none got the default, not the one before it's.
	run psql_admin -c "SELECT string_agg(n.nspname || '.' || c.relname, ',' ORDER BY c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname ~ '^t[0-9]'"
	assert_output 'decoy.t1,public.t2,decoy.t3,decoy.t3b'

	# mig-revert whose first down sets it: the next deletes still hit public.
	run --separate-stderr bash -c 'mig-revert --steps 3 </dev/null'
	assert_success
	run applied_versions public.mig_history
	assert_output ''
	run psql_admin -c "SELECT count(*) FROM decoy.mig_history"
	assert_output 0
}

@test "security: with decoy functions ahead of pg_catalog in search_path, the advisory lock is still the real one" {
	decoy
	write_mig 0001_one 'CREATE TABLE one (id int);' 'DROP TABLE one;'
	local url="$DATABASE_URL?options=-csearch_path%3Ddecoy,pg_catalog,public"

	# Hold the real lock of public.mig_history.
	PGAPPNAME=lock-holder psql_admin >/dev/null 2>&1 <<-'EOF' &
		SELECT pg_advisory_lock(hashtextextended('mig:public.mig_history', 0));
		SELECT pg_sleep(60);
	EOF
	local holder=$! i
	for ((i = 0; i < 200; i++)); do
		[[ $(psql_admin -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'lock-holder'") == 1 ]] && break
		sleep 0.05
	done

	run --separate-stderr bash -c 'mig-list | mig-apply --table public.mig_history --lock-wait 0 -d "$1"' _ "$url"
	assert_failure 75
	[[ $stderr == *'gave up waiting for the migration lock'* ]]
	run table_exists one
	assert_failure

	psql_admin -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'lock-holder'" >/dev/null
	wait "$holder" || true
	run --separate-stderr bash -c 'mig-list | mig-apply --table public.mig_history -d "$1"' _ "$url"
	assert_success
	assert_output $'0001\tone\tmigrations/0001_one.sql'
	run applied_versions public.mig_history
	assert_output 0001
	run psql_admin -c "SELECT count(*) FROM decoy.mig_history"
	assert_output 0
	run --separate-stderr bash -c 'mig-current --all --table public.mig_history -d "$1"' _ "$url"
	assert_success
	assert_output --regexp $'^0001\tone\t'
}

# role NAME: a login role with the suite's password, and its DATABASE_URL
# in ROLE_URL.
role() {
	ROLES+=("$1")
	PSQL_ADMIN_DB=postgres psql_admin -c "DROP ROLE IF EXISTS $1" -c "CREATE ROLE $1 LOGIN PASSWORD '$PGTMP_PASSWORD'" >/dev/null
	ROLE_URL="postgresql://$1:${PGTMP_PASSWORD}@127.0.0.1:${PGTMP_PORT}/${TEST_DB}"
}

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

@test "security: privileges: CONNECT and SELECT on the history table suffice for mig-current and mig-wait; mig-apply with nothing pending only reads" {
	local r=mig_reader_$$
	role "$r"
	write_mig 0001_one 'CREATE TABLE one (id int);' 'DROP TABLE one;'
	mig-list | mig-apply -q
	psql_admin -c "REVOKE ALL ON DATABASE $TEST_DB FROM PUBLIC; GRANT CONNECT ON DATABASE $TEST_DB TO $r; GRANT SELECT ON mig_history TO $r"

	run --separate-stderr mig-current -d "$ROLE_URL"
	assert_success
	assert_output --regexp $'^0001\tone\t'
	run --separate-stderr bash -c 'mig-list | mig-current --status -d "$1"' _ "$ROLE_URL"
	assert_output $'applied\t0001\tone'
	run --separate-stderr bash -c 'mig-list | mig-wait --applied -t 0 -d "$1"' _ "$ROLE_URL"
	assert_success
	run --separate-stderr bash -c 'mig-list | mig-apply -d "$1"' _ "$ROLE_URL"
	assert_success
	[[ $stderr == *'up to date'* ]]

	# Without SELECT on the history, the readers fail clearly: 77.
	psql_admin -c "REVOKE SELECT ON mig_history FROM $r"
	run --separate-stderr mig-current -d "$ROLE_URL"
	assert_failure 77
	[[ $stderr == *'permission denied for table mig_history'* ]]
	run --separate-stderr bash -c 'mig-list | mig-current --status -d "$1"' _ "$ROLE_URL"
	assert_failure 77
	run --separate-stderr bash -c 'mig-list | mig-wait --applied -t 0 -d "$1"' _ "$ROLE_URL"
	assert_failure 77
	run --separate-stderr bash -c 'mig-list | mig-apply -d "$1"' _ "$ROLE_URL"
	assert_failure 77
	run --separate-stderr mig-revert -d "$ROLE_URL" </dev/null
	assert_failure 77
}

@test "security: privileges: a role with CREATE on its schema applies and reverts; another with SELECT, INSERT, UPDATE, DELETE on the history table continues" {
	local owner=mig_dep1_$$ other=mig_dep2_$$
	role "$other"
	role "$owner"
	psql_admin <<-EOF
		CREATE SCHEMA app;
		GRANT USAGE, CREATE ON SCHEMA app TO $owner, $other;
	EOF
	write_mig 0001_one 'CREATE TABLE app.one (id int);' 'DROP TABLE app.one;'
	write_mig --no-tx 0002_two 'CREATE TABLE IF NOT EXISTS app.two (id int);
CREATE INDEX CONCURRENTLY IF NOT EXISTS two_id ON app.two (id);' 'DROP TABLE IF EXISTS app.two;'
	write_mig 0003_three 'CREATE TABLE app.three (id int);' 'DROP TABLE app.three;'

	run --separate-stderr bash -c 'mig-list | head -2 | mig-apply --table app.mig_history -d "$1"' _ "$ROLE_URL"
	assert_success
	run psql_admin -c "SELECT tableowner FROM pg_tables WHERE schemaname = 'app' AND tablename = 'mig_history'"
	assert_output "$owner"

	# Not the owner: DML on the history table is enough to go on.
	psql_admin -c "GRANT SELECT, INSERT, UPDATE, DELETE ON app.mig_history TO $other"
	role_other="postgresql://$other:${PGTMP_PASSWORD}@127.0.0.1:${PGTMP_PORT}/${TEST_DB}"
	run --separate-stderr bash -c 'mig-list | mig-apply --table app.mig_history -d "$1"' _ "$role_other"
	assert_success
	assert_output $'0003\tthree\tmigrations/0003_three.sql'
	run --separate-stderr mig-revert --table app.mig_history -d "$role_other" </dev/null
	assert_success
	assert_output $'0003\tthree\tmigrations/0003_three.sql'
	run psql_admin -c "SELECT string_agg(version || ':' || applied_by, ',' ORDER BY id) FROM app.mig_history"
	assert_output "0001:$owner,0002:$owner"

	# Without CREATE on the schema, the first run cannot make the table.
	psql_admin -c "CREATE SCHEMA locked; GRANT USAGE ON SCHEMA locked TO $other"
	run --separate-stderr bash -c 'mig-list | mig-apply --table locked.mig_history -d "$1"' _ "$role_other"
	assert_failure 77
	[[ $stderr == *'permission denied for schema locked'* ]]
	# Nor a schema of its own without CREATE on the database.
	run --separate-stderr bash -c 'mig-list | mig-apply --table newschema.mig_history -d "$1"' _ "$role_other"
	assert_failure 77
	[[ $stderr == *'permission denied for database'* ]]
	# A migration's own permission error is still the migration's: 1.
	write_mig 0004_four 'CREATE TABLE locked.four (id int);'
	run --separate-stderr bash -c 'mig-list | mig-apply --table app.mig_history -d "$1"' _ "$role_other"
	assert_failure 1
	[[ $stderr == *'0004_four.sql:2:'*'permission denied for schema locked'* ]]
}

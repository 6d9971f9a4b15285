#!/usr/bin/env bats
# The harness itself: the shared server, the per-test database, the
# password guard and the small helpers. psql only; no mig binary needed.

load helper

@test "harness: the server answers over TCP with the password in DATABASE_URL" {
	run psql "$DATABASE_URL" -XAtq -c 'SELECT current_user, current_database()'
	assert_success
	assert_output "mig|$TEST_DB"
}

@test "harness: a wrong password is refused over TCP" {
	local url=${DATABASE_URL/"$PGTMP_PASSWORD"/wrong}
	run psql "$url" -XAtq -c 'SELECT 1'
	assert_failure
	assert_output --partial 'password authentication failed'
}

@test "harness: each test has its own empty database owned by mig" {
	run psql_admin -c "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
	assert_output mig
	run psql_admin -c "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
	assert_output 0
	[[ $DATABASE_URL == */"$TEST_DB" ]]

	# The database of the test before this one is gone.
	if [[ -f $BATS_FILE_TMPDIR/last_db ]]; then
		local last
		last=$(<"$BATS_FILE_TMPDIR/last_db")
		[[ $last != "$TEST_DB" ]]
		PSQL_ADMIN_DB=postgres run psql_admin -c "SELECT count(*) FROM pg_database WHERE datname = '$last'"
		assert_output 0
	fi
	echo "$TEST_DB" >"$BATS_FILE_TMPDIR/last_db"
}

@test "harness: the tools see DATABASE_URL and no PG* variable" {
	# Names only: the values hold the password.
	run bash -c 'env | cut -d= -f1'
	refute_line --regexp '^PG(HOST|PORT|USER|DATABASE|PASSWORD|PASSFILE|SERVICE)$'
	refute_line --regexp '^MIG_(TABLE|DIR)$'
	assert_line DATABASE_URL
	[[ $DATABASE_URL == postgresql://mig:*@127.0.0.1:*/* ]]
}

@test "harness: cwd is the test's tmpdir and MIGDIR is the default migrations dir" {
	[[ $PWD == "$BATS_TEST_TMPDIR" ]]
	[[ $MIGDIR == "$PWD/migrations" && -d $MIGDIR ]]
	run ls -A "$MIGDIR"
	assert_output ''
	[[ ${PATH%%:*} == "${MIG_BIN:-$REPO/bin}" ]]
}

@test "harness: the guard finds a planted secret in run output" {
	mig_secret "planted-$$-secret"
	run echo "connecting to postgresql://x:planted-$$-secret@h/db"
	run ! mig_guard
	assert_output --partial 'password leak'
	assert_output --partial 'a password appeared'
	refute_output --partial "planted-$$-secret"
	# mig_guard masked it: this test's own teardown passes.
	run mig_guard
	assert_success
}

@test "harness: the guard finds a planted secret in a run's separate stderr" {
	mig_secret "planted-$$-secret"
	run --separate-stderr bash -c 'echo fine; echo "planted-$1-secret" >&2' _ "$$"
	assert_output fine
	run ! mig_guard
	assert_output --partial 'password leak'
	refute_output --partial "planted-$$-secret"
	run mig_guard
	assert_success
}

@test "harness: the guard reads MIG_OUTPUT_LOG, for output of commands outside run" {
	mig_secret "planted-$$-secret"
	bash -c 'echo "planted-$1-secret" >&2' _ "$$" 2>>"$MIG_OUTPUT_LOG"
	run ! mig_guard
	run mig_guard
	assert_success
}

# A test file of its own, run by bats as the suite runs one, whose tests
# print DATABASE_URL each in another way: all but the last must fail, the
# report naming the leak and never showing the password. (Its lines are
# quoted: bats would take a line of this file starting with @test for a
# test of its own.)
@test "harness: a test that leaks the password fails, however it printed it" {
	mkdir inner
	printf '%s\n' >inner/leak.bats "load '$REPO/test/helper'" \
		'@test "leak: in the output of run" { run echo "$DATABASE_URL"; }' \
		'@test "leak: in the stderr of run --separate-stderr" { run --separate-stderr bash -c '"'"'echo "$DATABASE_URL" >&2'"'"'; }' \
		'@test "leak: printed by the test" { echo "$DATABASE_URL"; }' \
		'@test "leak: in MIG_OUTPUT_LOG" { (echo "$DATABASE_URL" >&2) 2>>"$MIG_OUTPUT_LOG"; }' \
		'@test "leak: none" { run echo "${DATABASE_URL%%:*}"; }'
	# Nothing of this run's bats may reach that one: its variables, fd 3.
	local v clean=()
	for v in "${!BATS_@}"; do
		clean+=(-u "$v")
	done
	run env "${clean[@]}" bats --formatter tap inner/leak.bats 3>&-
	assert_failure
	assert_line "not ok 1 leak: in the output of run"
	assert_line "not ok 2 leak: in the stderr of run --separate-stderr"
	assert_line "not ok 3 leak: printed by the test"
	assert_line "not ok 4 leak: in MIG_OUTPUT_LOG"
	assert_line "ok 5 leak: none"
	[[ $(grep -c 'a password appeared in the output of this test' <<<"$output") == 4 ]]
	refute_output --partial "$PGTMP_PASSWORD"
}

@test "harness: the guard knows the suite's password and masks it" {
	local f=$BATS_TEST_TMPDIR/planted
	printf 'url=%s\n' "$DATABASE_URL" >"$f"
	run mig_leak_check "$f"
	assert_failure
	mig_mask_secrets "$f"
	run grep -c '\*\*\*\*\*' "$f"
	assert_output 1
	run mig_leak_check "$f"
	assert_success
}

@test "harness: the guard also reads what a test printed outside run" {
	mig_secret "printed-$$-secret"
	echo "printed-$$-secret"
	run mig_leak_check "$BATS_OUT"
	assert_failure
	mig_mask_secrets "$BATS_OUT"
}

@test "harness: write_mig writes the dbmate layout" {
	write_mig 0001_users 'CREATE TABLE users (id int);' 'DROP TABLE users;'
	write_mig 0002_irreversible 'SELECT 1;'
	write_mig 0003_nothing_to_undo 'SELECT 2;' ''
	write_mig --no-tx 0004_idx 'CREATE INDEX CONCURRENTLY i ON users (id);' 'DROP INDEX CONCURRENTLY IF EXISTS i;'
	run cat "$MIGDIR/0001_users.sql"
	assert_output $'-- migrate:up\nCREATE TABLE users (id int);\n-- migrate:down\nDROP TABLE users;'
	run cat "$MIGDIR/0002_irreversible.sql"
	assert_output $'-- migrate:up\nSELECT 1;'
	run cat "$MIGDIR/0003_nothing_to_undo.sql"
	assert_output $'-- migrate:up\nSELECT 2;\n-- migrate:down'
	run head -1 "$MIGDIR/0004_idx.sql"
	assert_output '-- migrate:up transaction:false'
	assert_line --index 0 '-- migrate:up transaction:false'
	run grep -c '^-- migrate:down transaction:false$' "$MIGDIR/0004_idx.sql"
	assert_output 1
}

@test "harness: applied_versions and table_exists read the database" {
	run applied_versions
	assert_success
	assert_output ''
	run table_exists mig_history
	assert_failure

	psql_admin <<-'EOF'
		CREATE TABLE mig_history (id bigserial PRIMARY KEY, version text NOT NULL);
		INSERT INTO mig_history (version) VALUES ('0002'), ('0001'), ('20240101000000');
		CREATE SCHEMA other;
		CREATE TABLE other.hist (id bigint, version text);
		INSERT INTO other.hist VALUES (2, 'b'), (1, 'a');
	EOF
	run table_exists mig_history
	assert_success
	run table_exists other.hist
	assert_success
	run applied_versions
	assert_output $'0002\n0001\n20240101000000'
	run applied_versions other.hist
	assert_output $'a\nb'
}

@test "harness: the server survives pg_restart and the database stays" {
	psql_admin -c 'CREATE TABLE kept (x int)'
	run pg_restart
	assert_success
	run psql "$DATABASE_URL" -XAtq -c 'SELECT count(*) FROM kept'
	assert_success
	assert_output 0
}

@test "harness: pg_halt and pg_resume take the server away and back" {
	pg_halt immediate
	run psql "$DATABASE_URL" -XAtq -c 'SELECT 1'
	assert_failure
	assert_output --partial 'Connection refused'
	pg_resume
	run psql "$DATABASE_URL" -XAtq -c 'SELECT 1'
	assert_success
	assert_output 1
}

@test "harness: a server started in the background does not hold up the run" {
	pg_halt
	(sleep 1 && pg_resume) &
	local i
	for ((i = 0; i < 100; i++)); do
		psql "$DATABASE_URL" -XAtq -c 'SELECT 1' >/dev/null 2>&1 && break
		sleep 0.1
	done
	wait
	run psql "$DATABASE_URL" -XAtq -c 'SELECT 1'
	assert_output 1
}

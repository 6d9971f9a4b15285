#!/usr/bin/env bats
# Memory checking under valgrind: no invalid access, no use of
# uninitialized memory, and no definitely or indirectly lost block, on the
# demo migrations (a CONCURRENTLY index outside a transaction, a
# dollar-quoted trigger body) and on the usual error exits.
#
# Still-reachable and possibly-lost blocks are not errors: libpq, GSSAPI and
# OpenSSL keep process-wide state until exit, and a tool that exits from
# mig_errx leaves its own memory reachable by design.
#
# The sanitizer build (MIG_BIN=bin/san) is not run here: valgrind and ASan
# do not mix, and that pass has LeakSanitizer instead.

load helper

setup() {
	local bin=${MIG_BIN:-$REPO/bin}
	if grep -qa __asan_init "$bin/mig-apply" 2>/dev/null; then
		skip "MIG_BIN is the sanitizer build; valgrind and ASan do not mix"
	fi
	command -v valgrind >/dev/null || {
		echo "valgrind is not installed (scripts/deps installs it)" >&2
		return 1
	}
	mig_setup
}

# vg TOOL ARGS...: the tool under memcheck; each process's report goes to
# its own log, which -q leaves empty when there is nothing to report.
vg() {
	valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect --error-exitcode=1 \
		--log-file="$BATS_TEST_TMPDIR/vg.%p.log" "$@"
}

# assert_clean: no valgrind log has anything in it.
assert_clean() {
	local f bad=0
	for f in "$BATS_TEST_TMPDIR"/vg.*.log; do
		[[ -e $f ]] || continue
		if [[ -s $f ]]; then
			echo "--- $(basename "$f")"
			cat "$f"
			bad=1
		fi
	done
	return "$bad"
}

demo_list() {
	cp "$REPO"/migrations/*.sql "$MIGDIR"/
	mig-list >list
}

@test "valgrind: mig-apply, mig-revert --all and mig-apply again over the demo migrations are clean" {
	demo_list
	run --separate-stderr vg mig-apply <list
	assert_success
	assert_output "$(cat list)"
	assert_clean
	run psql_admin -c "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname LIKE 'sessions_%_idx' AND i.indisvalid"
	assert_output 2
	run psql_admin -c "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
	assert_output users_set_updated_at

	run --separate-stderr vg mig-revert --all <list
	assert_success
	assert_output "$(tac list)"
	assert_clean
	run table_exists users
	assert_failure
	run psql_admin -c "SELECT count(*) FROM mig_history"
	assert_output 0

	run --separate-stderr vg mig-apply <list
	assert_success
	assert_output "$(cat list)"
	assert_clean
	run applied_versions
	assert_output $'0001\n0002\n0003\n0004\n0005'

	# Reverting one at a time, from the stored SQL (no list).
	run --separate-stderr vg mig-revert --steps 2 </dev/null
	assert_success
	assert_output "$(tac list | head -2)"
	assert_clean
}

@test "valgrind: mig-list and mig-current (plain, --all, --json, --status) are clean" {
	demo_list
	run --separate-stderr vg mig-list
	assert_success
	assert_output "$(cat list)"
	assert_clean

	run --separate-stderr vg mig-current
	assert_success
	assert_output ''
	run --separate-stderr mig-apply --to 0003 <list
	assert_success

	run --separate-stderr vg mig-current --status <list
	assert_success
	assert_output $'applied\t0001\tcreate_users\napplied\t0002\tcreate_sessions\napplied\t0003\tindex_sessions_concurrently\npending\t0004\tusers_updated_at\npending\t0005\tusers_display_name'
	run --separate-stderr vg mig-current --status --json <list
	assert_success
	assert_line --index 3 '{"state":"pending","version":"0004","name":"users_updated_at","applied_at":null}'
	run --separate-stderr vg mig-current --all
	assert_success
	[[ ${#lines[@]} == 3 ]]
	run --separate-stderr vg mig-wait -t 0 --applied <list
	assert_failure 75
	assert_clean
}

@test "valgrind: the error exits (failing SQL, changed checksum, refused connection, bad list) are clean" {
	write_mig 0001_ok 'CREATE TABLE ok (id int);' 'DROP TABLE ok;'
	write_mig 0002_bad 'CREATE TABLE bad (id int);
SELECT nope FROM bad;' 'DROP TABLE bad;'
	mig-list >list
	run --separate-stderr vg mig-apply <list
	assert_failure 1
	assert_output $'0001\tok\tmigrations/0001_ok.sql'
	[[ $stderr == *"migrations/0002_bad.sql:3:8: ERROR: column \"nope\" does not exist (SQLSTATE 42703)"* ]]
	assert_clean

	write_mig 0001_ok 'CREATE TABLE ok (id int, changed int);' 'DROP TABLE ok;'
	run --separate-stderr vg mig-apply <list
	assert_failure 65
	assert_clean

	run --separate-stderr vg mig-apply -d "postgresql://mig:wrong@127.0.0.1:$PGTMP_PORT/$TEST_DB" <list
	assert_failure 69
	assert_clean
	run --separate-stderr vg mig-current -h 127.0.0.1 -p 1
	assert_failure 69
	assert_clean

	printf 'not a migration line\n' >badlist
	run --separate-stderr vg mig-apply <badlist
	assert_failure 65
	assert_clean

	run --separate-stderr vg mig-revert --all </dev/null
	assert_success
	assert_output $'0001\tok\tmigrations/0001_ok.sql'
	assert_clean
}

@test "valgrind: a transaction:false migration that fails, is fixed and resumes is clean" {
	write_mig --no-tx 0001_steps 'CREATE TABLE s1 (id int);
CREATE INDEX CONCURRENTLY s1_idx ON s1 (nope);' 'DROP TABLE IF EXISTS s1;'
	mig-list >list
	run --separate-stderr vg mig-apply <list
	assert_failure 1
	assert_clean
	run psql_admin -c "SELECT state, statements_done FROM mig_history"
	assert_output 'partial|1'

	write_mig --no-tx 0001_steps 'CREATE TABLE s1 (id int);
CREATE INDEX CONCURRENTLY s1_idx ON s1 (id);' 'DROP TABLE IF EXISTS s1;'
	run --separate-stderr vg mig-apply <list
	assert_success
	assert_output $'0001\tsteps\tmigrations/0001_steps.sql'
	assert_clean
	run psql_admin -c "SELECT state, statements_done FROM mig_history"
	assert_output 'applied|2'
}

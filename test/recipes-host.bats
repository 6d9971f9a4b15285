#!/usr/bin/env bats
# The host recipes of mig.just, run by just against the test server: what
# they do when mig-list fails, that they never need docker, and that the
# paths they print are valid from where just was run. (test/docker.bats
# covers the workflows that use containers.)
#
# Each test's directory is a project: the justfile and mig.just of this
# checkout, bin/ the tools under test (the recipes put it first on PATH),
# and migrations/ ($MIGDIR).

load helper

# The native just binary when rust-just's launcher wraps it (the launcher
# costs a second per call); otherwise whatever `just` is.
find_just() {
	local j root native
	j=$(command -v just) || return 1
	root=$(npm root -g 2>/dev/null || true)
	if [[ -n $root ]]; then
		for native in "$root"/rust-just/node_modules/rust-just-*/bin/just; do
			[[ -x $native ]] && { echo "$native"; return 0; }
		done
	fi
	echo "$j"
}

setup_file() {
	JUST=$(find_just) || skip "just is not installed"
	export JUST
}

setup() {
	mig_setup
	# Only what a test sets reaches the recipes.
	local v
	for v in "${!POSTGRES_@}" "${!COMPOSE@}" "${!MIG_@}" DOCKER_DATABASE_URL; do
		case $v in
			MIG_BIN | MIG_OUTPUT_LOG | MIG_TEST_*) ;;
			*) unset "$v" ;;
		esac
	done
	PROJ=$BATS_TEST_TMPDIR
	cp "$REPO/justfile" "$REPO/mig.just" "$PROJ/"
	ln -s "$MIG_BIN" "$PROJ/bin"
}

teardown() { mig_teardown; }

just() { "$JUST" "$@"; }

# Two applied migrations, each creating a table.
two_applied() {
	write_mig 0001_create_a 'CREATE TABLE a (id int);' 'DROP TABLE a;'
	write_mig 0002_create_b 'CREATE TABLE b (id int);' 'DROP TABLE b;'
	run --separate-stderr just db-migrate
	assert_success
	assert_equal "$(applied_versions | paste -sd ' ')" "0001 0002"
}

# Both migrations still applied and both tables still there.
nothing_reverted() {
	assert_equal "$(applied_versions | paste -sd ' ')" "0001 0002"
	table_exists a || fail "table a is gone"
	table_exists b || fail "table b is gone"
}

# ---- a failing mig-list stops the recipe ----------------------------------

@test "db-downgrade and db-reset revert nothing when a file in migrations/ is misnamed: exit 65" {
	two_applied
	: >"$MIGDIR/add_c.sql"

	run --separate-stderr just db-downgrade
	assert_failure 65
	assert_output ""
	[[ $stderr == *"mig-list: "*"add_c.sql"* ]] || fail "no mig-list error: $stderr"
	nothing_reverted

	run --separate-stderr just db-downgrade 2
	assert_failure 65
	assert_output ""
	nothing_reverted

	run --separate-stderr just db-reset
	assert_failure 65
	assert_output ""
	nothing_reverted
}

@test "db-downgrade and db-reset revert nothing when MIG_DIR does not exist: exit 66" {
	two_applied

	run --separate-stderr env MIG_DIR=no/such/dir "$JUST" db-downgrade
	assert_failure 66
	assert_output ""
	[[ $stderr == *"mig-list: no/such/dir: "* ]] || fail "no mig-list error: $stderr"
	nothing_reverted

	run --separate-stderr env MIG_DIR=no/such/dir "$JUST" db-reset
	assert_failure 66
	assert_output ""
	nothing_reverted

	# The directory itself gone: the same.
	mv "$MIGDIR" "$MIGDIR.away"
	run --separate-stderr just db-reset
	mv "$MIGDIR.away" "$MIGDIR"
	assert_failure 66
	assert_output ""
	nothing_reverted
}

@test "db-migrate, db-history and db-status stop at a failing mig-list with its status and hand nothing on" {
	two_applied
	write_mig 0003_create_c 'CREATE TABLE c (id int);' 'DROP TABLE c;'
	: >"$MIGDIR/add_d.sql"

	# mig-apply never ran: it would have said "up to date" to an empty list.
	run --separate-stderr just db-migrate
	assert_failure 65
	assert_output ""
	[[ $stderr != *"up to date"* ]] || fail "mig-apply read an empty list: $stderr"
	assert_equal "$(applied_versions | paste -sd ' ')" "0001 0002"

	# mig-current --status never ran: it would have shown 0001 and 0002 missing.
	run --separate-stderr just db-history
	assert_failure 65
	assert_output ""

	run --separate-stderr just db-status
	assert_failure 65
	refute_output --partial "database is current"
	refute_output --partial "migrations are pending"

	run --separate-stderr env MIG_DIR=no/such/dir "$JUST" db-history
	assert_failure 66
	assert_output ""
	run --separate-stderr env MIG_DIR=no/such/dir "$JUST" db-migrate
	assert_failure 66
	assert_output ""
	[[ $stderr != *"up to date"* ]] || fail "mig-apply read an empty list: $stderr"
}

@test "with a good list the recipes still revert and apply: db-downgrade, db-reset, an empty migrations/" {
	two_applied

	run --separate-stderr just db-downgrade
	assert_success
	assert_output "$(printf '0002\tcreate_b\tmigrations/0002_create_b.sql')"
	assert_equal "$(applied_versions | paste -sd ' ')" "0001"

	run --separate-stderr just db-reset
	assert_success
	assert_output "$(printf '0001\tcreate_a\tmigrations/0001_create_a.sql\n0001\tcreate_a\tmigrations/0001_create_a.sql\n0002\tcreate_b\tmigrations/0002_create_b.sql')"
	nothing_reverted

	# An empty directory is a list with nothing in it, not a failure.
	local empty=$BATS_TEST_TMPDIR/empty
	mkdir "$empty"
	run --separate-stderr env MIG_DIR="$empty" "$JUST" db-migrate
	assert_success
	assert_output ""
	run --separate-stderr env MIG_DIR="$empty" "$JUST" db-history
	assert_success
	assert_output "$(printf 'missing\t0001\tcreate_a\nmissing\t0002\tcreate_b')"
}

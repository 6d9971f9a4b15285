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

# bats 1.8.2 takes a skip in setup_file for a failure: setup skips instead.
setup_file() {
	JUST=$(find_just) || JUST=
	export JUST
}

setup() {
	[[ -n $JUST ]] || skip "just is not installed"
	mig_setup
	just_project
}

teardown() { mig_teardown; }

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

# ---- host recipes never need docker ----------------------------------------

# A directory for PATH with docker and docker-compose that fail and log
# each call to $BATS_TEST_TMPDIR/docker.calls.
docker_stubs() {
	local d=$BATS_TEST_TMPDIR/stubs name
	mkdir -p "$d"
	for name in docker docker-compose; do
		printf '#!/bin/sh\necho "%s $*" >>"%s"\necho "%s: not available here" >&2\nexit 1\n' \
			"$name" "$BATS_TEST_TMPDIR/docker.calls" "$name" >"$d/$name"
		chmod +x "$d/$name"
	done
	echo "$d"
}

# A directory for PATH with only the shells in it: no docker at all. (The
# recipes find the tools in the project's bin/.)
bare_path() {
	local d=$BATS_TEST_TMPDIR/bare
	mkdir -p "$d"
	ln -sf "$(command -v bash)" "$d/bash"
	ln -sf "$(command -v sh)" "$d/sh"
	echo "$d"
}

# the host recipes, each run with PATH=$1
host_recipes_work() {
	local path=$1
	write_mig 0001_create_a 'CREATE TABLE a (id int);' 'DROP TABLE a;'
	write_mig 0002_create_b 'CREATE TABLE b (id int);' 'DROP TABLE b;'

	run --separate-stderr env PATH="$path" "$JUST" db-migrate
	assert_success
	assert_equal "$(applied_versions | paste -sd ' ')" "0001 0002"

	run --separate-stderr env PATH="$path" "$JUST" db-history
	assert_success
	assert_output "$(printf 'applied\t0001\tcreate_a\napplied\t0002\tcreate_b')"

	run --separate-stderr env PATH="$path" "$JUST" db-current
	assert_success
	assert_output --regexp $'^0002\tcreate_b\t20[0-9-]+T[0-9:]+Z$'

	run --separate-stderr env PATH="$path" "$JUST" db-downgrade
	assert_success
	assert_output "$(printf '0002\tcreate_b\tmigrations/0002_create_b.sql')"

	run --separate-stderr env PATH="$path" "$JUST" db-make add c
	assert_success
	assert_output --regexp '^migrations/[0-9]+_add_c\.sql$'
	[[ -f $output ]] || fail "db-make did not create $output"
	rm -f "$output"

	run --separate-stderr env PATH="$path" "$JUST" db-reset
	assert_success
	assert_equal "$(applied_versions | paste -sd ' ')" "0001 0002"
}

@test "host recipes never run docker: db-migrate, db-history, db-current, db-downgrade, db-make, db-reset" {
	local stubs
	stubs=$(docker_stubs)
	host_recipes_work "$stubs:$PATH"
	[[ ! -s $BATS_TEST_TMPDIR/docker.calls ]] ||
		fail "docker ran: $(cat "$BATS_TEST_TMPDIR/docker.calls")"
}

@test "host recipes work on a PATH without docker at all" {
	host_recipes_work "$(bare_path)"
}

@test "db-status checks the migrations without docker: current 0, pending 75, and no compose services" {
	local stubs bare
	stubs=$(docker_stubs)
	bare=$(bare_path)
	write_mig 0001_create_a 'CREATE TABLE a (id int);' 'DROP TABLE a;'
	just db-migrate >/dev/null 2>&1

	local path
	for path in "$stubs:$PATH" "$bare"; do
		run --separate-stderr env PATH="$path" "$JUST" db-status
		assert_success
		assert_output "database is current"

		write_mig 0002_create_b 'CREATE TABLE b (id int);' 'DROP TABLE b;'
		run --separate-stderr env PATH="$path" "$JUST" db-status
		assert_failure 75
		assert_output "migrations are pending"
		rm "$MIGDIR/0002_create_b.sql"
	done

	# A compose that answers (COMPOSE names it) still shows its services first.
	local fake=$BATS_TEST_TMPDIR/compose
	printf '#!/bin/sh\necho "compose $*"\n' >"$fake"
	chmod +x "$fake"
	run --separate-stderr env COMPOSE="$fake" PATH="$stubs:$PATH" "$JUST" db-status
	assert_success
	assert_output "$(printf 'compose --profile migration ps\ndatabase is current')"
}

# ---- paths from where just was run ---------------------------------------

@test "db-make prints the new file's path from the directory just was run in" {
	mkdir -p src/deep/er

	run --separate-stderr just db-make add a
	assert_success
	assert_output --regexp '^migrations/[0-9]{14}_add_a\.sql$'
	[[ -f $output ]] || fail "not a file from here: $output"

	cd src
	run --separate-stderr just db-make add b
	assert_success
	assert_output --regexp '^\.\./migrations/[0-9]{14}_add_b\.sql$'
	[[ -f $output ]] || fail "not a file from here: $output"

	cd deep/er
	run --separate-stderr just db-make add c
	assert_success
	assert_output --regexp '^\.\./\.\./\.\./migrations/[0-9]{14}_add_c\.sql$'
	[[ -f $output ]] || fail "not a file from here: $output"

	cd "$MIGDIR"
	run --separate-stderr just db-make add d
	assert_success
	assert_output --regexp '^[0-9]{14}_add_d\.sql$'
	[[ -f $output ]] || fail "not a file from here: $output"

	# An exported CDPATH that names another migrations/ changes nothing.
	mkdir -p "$BATS_TEST_TMPDIR/other/migrations"
	cd "$PROJ/src"
	run --separate-stderr env CDPATH="$BATS_TEST_TMPDIR/other" "$JUST" db-make add cdpath
	assert_success
	assert_output --regexp '^\.\./migrations/[0-9]{14}_add_cdpath\.sql$'
	[[ -f $output ]] || fail "not a file from here: $output"

	# MIG_DIR relative to the project, and from inside a sibling of it.
	cd "$PROJ/src"
	run --separate-stderr env MIG_DIR=db/migrations "$JUST" db-make add e
	assert_success
	assert_output --regexp '^\.\./db/migrations/[0-9]{14}_add_e\.sql$'
	[[ -f $output ]] || fail "not a file from here: $output"

	# An absolute MIG_DIR stays absolute.
	run --separate-stderr env MIG_DIR="$PROJ/abs" "$JUST" db-make add f
	assert_success
	assert_output --regexp "^$PROJ/abs/[0-9]{14}_add_f\\.sql\$"
	[[ -f $output ]] || fail "not a file: $output"

	# The path is relative to the real directory, also through a symlink.
	ln -s "$PROJ/src/deep" "$BATS_TEST_TMPDIR/link"
	cd "$BATS_TEST_TMPDIR/link"
	run --separate-stderr just --justfile "$PROJ/justfile" db-make add g
	assert_success
	[[ -f $output ]] || fail "not a file from here: $output"
	assert_output --regexp '^\.\./\.\./migrations/[0-9]{14}_add_g\.sql$'

	# From / the path is relative too.
	cd /
	run --separate-stderr just --justfile "$PROJ/justfile" db-make add h
	assert_success
	assert_output --regexp '^[^./].*/migrations/[0-9]{14}_add_h\.sql$'
	[[ -f $output ]] || fail "not a file from here: $output"
}

@test "db-make: mig-new's status comes through and nothing is printed when it fails" {
	mkdir src
	cd src
	run --separate-stderr just db-make '%%%'
	assert_failure 64
	assert_output ""
	[[ $stderr == *"mig-new: "* ]] || fail "no mig-new error: $stderr"
}

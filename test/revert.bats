#!/usr/bin/env bats
# mig-revert: which rows it reverts and in what order, where the down SQL
# comes from, what it prints, and that an irreversible one stops everything.

load helper

# three: 0001_a, 0002_b, 0003_c, each creating and dropping its table.
three() {
	local v
	for v in 1:a 2:b 3:c; do
		write_mig "000${v%:*}_${v#*:}" "CREATE TABLE ${v#*:} (x int);" "DROP TABLE ${v#*:};"
	done
	run apply
	assert_success
}

@test "mig-revert: by default reverts the one most recently applied" {
	three
	run --separate-stderr revert
	assert_success
	assert_output "$(line 0003 c)"
	[[ ${#stderr_lines[@]} == 1 && ${stderr_lines[0]} =~ ^mig-revert:\ reverted\ 0003\ c\ \([0-9]+\ ms\)$ ]]
	refute table_exists c
	table_exists b
	run applied_versions
	assert_output $'0001\n0002'
}

@test "mig-revert: -q prints the list lines and no human line" {
	three
	run --separate-stderr revert -q
	assert_success
	assert_output "$(line 0003 c)"
	[[ -z $stderr ]]
}

@test "mig-revert: --steps N reverts the N most recent, newest first" {
	three
	run --separate-stderr revert --steps 2
	assert_success
	assert_output "$(line 0003 c)
$(line 0002 b)"
	table_exists a
	refute table_exists b
	run applied_versions
	assert_output 0001
	# More steps than applied: all of them.
	run --separate-stderr revert --steps=5
	assert_success
	assert_output "$(line 0001 a)"
	run applied_versions
	assert_output ''
}

@test "mig-revert: --to VERSION keeps it and reverts everything applied after it" {
	three
	run --separate-stderr revert --to 1
	assert_success
	assert_output "$(line 0003 c)
$(line 0002 b)"
	table_exists a
	run applied_versions
	assert_output 0001
	# Already there: nothing to do.
	run --separate-stderr revert --to 0001
	assert_success
	assert_output ''
	run applied_versions
	assert_output 0001
}

@test "mig-revert: --to a version that is not applied is 65 and nothing is reverted" {
	three
	run revert --to 4
	assert_failure 65
	assert_output --partial '--to 4'
	run applied_versions
	assert_output $'0001\n0002\n0003'
}

@test "mig-revert: --all reverts every applied migration" {
	three
	run --separate-stderr revert --all
	assert_success
	assert_output "$(line 0003 c)
$(line 0002 b)
$(line 0001 a)"
	refute table_exists a
	run applied_versions
	assert_output ''
	run psql_admin -c "SELECT count(*) FROM mig_history"
	assert_output 0
}

@test "mig-revert: reverts in reverse order of application, not of version" {
	write_mig 0002_b 'CREATE TABLE b (x int);' 'DROP TABLE b;'
	run apply
	assert_success
	write_mig 0001_a 'CREATE TABLE a (x int);' 'DROP TABLE a;'
	run apply --allow-out-of-order
	assert_success
	write_mig 0003_c 'CREATE TABLE c (x int);' 'DROP TABLE c;'
	run apply
	assert_success
	run --separate-stderr revert --steps 2
	assert_success
	assert_output "$(line 0003 c)
$(line 0001 a)"
	run applied_versions
	assert_output 0002
}

@test "mig-revert: too many options or a bad count is a usage error (64)" {
	three
	run revert --steps 1 --all
	assert_failure 64
	run revert --steps 0
	assert_failure 64
	run revert --steps x
	assert_failure 64
	run revert extra
	assert_failure 64
	run applied_versions
	assert_output $'0001\n0002\n0003'
}

@test "mig-revert: the down SQL comes from the listed file when it has a down section" {
	write_mig 0001_a 'CREATE TABLE a (x int);' 'DROP TABLE a;'
	run apply
	assert_success
	write_mig 0001_a 'CREATE TABLE a (x int);' 'DROP TABLE a; CREATE TABLE from_file (x int);'
	run --separate-stderr revert
	assert_success
	assert_output "$(line 0001 a)"
	table_exists from_file
	refute table_exists a
}

@test "mig-revert: without a down in the listed file the stored down SQL runs" {
	write_mig 0001_a 'CREATE TABLE a (x int);' 'DROP TABLE a; CREATE TABLE from_history (x int);'
	run apply
	assert_success
	# The same up section, its down removed.
	write_mig 0001_a 'CREATE TABLE a (x int);'
	run --separate-stderr revert
	assert_success
	assert_output "$(line 0001 a)"
	table_exists from_history
	refute table_exists a
}

@test "mig-revert: a listed file whose version is applied under another name is 65, names both, and reverts nothing" {
	write_mig 0001_base 'CREATE TABLE base (x int);' 'DROP TABLE base;'
	write_mig 0002_add_orders 'CREATE TABLE orders (x int);' 'DROP TABLE orders;'
	run apply
	assert_success
	# The other branch's 0002 replaces this one's in the checkout.
	rm "$MIGDIR/0002_add_orders.sql"
	write_mig 0002_add_vip 'CREATE TABLE vip (x int);' 'DROP TABLE IF EXISTS vip;'
	run --separate-stderr revert
	assert_failure 65
	assert_output ''
	[[ $stderr == *'migrations/0002_add_vip.sql: version 0002 is applied as another migration, 0002_add_orders (from migrations/0002_add_orders.sql)'* ]]
	[[ $stderr == *'nothing was reverted'* ]]
	table_exists orders
	run applied_versions
	assert_output $'0001\n0002'
	# Without the list, the applied one reverts from its stored SQL.
	run --separate-stderr mig-revert </dev/null
	assert_success
	assert_output "$(line 0002 add_orders)"
	refute table_exists orders
}

@test "mig-revert: a listed file changed since it was applied is 65 and reverts nothing" {
	write_mig 0001_a 'CREATE TABLE a (x int);' 'DROP TABLE a;'
	run apply
	assert_success
	write_mig 0001_a 'CREATE TABLE a (x int, y int);' 'DROP TABLE a;'
	run --separate-stderr revert
	assert_failure 65
	[[ $stderr == *'migrations/0001_a.sql: changed since it was applied'* ]]
	table_exists a
	run applied_versions
	assert_output 0001
}

@test "mig-revert: a deleted file reverts from the history with no list on stdin" {
	write_mig 0001_a 'CREATE TABLE a (x int);' 'DROP TABLE a;'
	write_mig 0002_b 'CREATE TABLE b (x int);' 'DROP TABLE b; CREATE TABLE from_history (x int);'
	run apply
	assert_success
	rm "$MIGDIR/0002_b.sql"
	run --separate-stderr mig-revert </dev/null
	assert_success
	# The stored path, as it was applied.
	assert_output "$(line 0002 b)"
	table_exists from_history
	refute table_exists b
	run applied_versions
	assert_output 0001
}

@test "mig-revert: an empty list from a pipe or a file is 66 before connecting, and nothing is reverted" {
	three
	# The usual cause: the command that should have written it failed.
	run --separate-stderr bash -c 'mig-list no_such_dir | mig-revert'
	assert_failure 66
	assert_output ''
	[[ $stderr == *'mig-revert: stdin: the list of migrations is empty'*'--no-list'* ]]
	: >empty
	run --separate-stderr mig-revert --all <empty
	assert_failure 66
	printf '# only a comment\n\n' >comments
	run --separate-stderr mig-revert <comments
	assert_failure 66
	# Before connecting: a server that is not there does not change it.
	run --separate-stderr mig-revert -p "$(free_port)" <empty
	assert_failure 66
	run applied_versions
	assert_output $'0001\n0002\n0003'
}

@test "mig-revert: --no-list, a terminal or a character device on stdin mean no list" {
	three
	rm "$MIGDIR/0003_c.sql"
	: >empty
	run --separate-stderr mig-revert --no-list <empty
	assert_success
	assert_output "$(line 0003 c)"
	# --no-list does not read stdin at all.
	run --separate-stderr bash -c 'printf "not a list\n" | mig-revert --no-list -n'
	assert_success
	assert_output "$(line 0002 b)"
	run --separate-stderr mig-revert </dev/null
	assert_success
	assert_output "$(line 0002 b)"
	if command -v script >/dev/null; then
		run script -qec 'mig-revert -q' /dev/null </dev/null
		assert_success
		assert_output --partial "$(line 0001 a)"
	fi
	run applied_versions
	assert_output ''
}

@test "mig-revert: the printed PATH is the listed file, else the stored path" {
	three
	mkdir moved
	cp "$MIGDIR"/*.sql moved/
	run --separate-stderr bash -c 'mig-list moved | mig-revert'
	assert_success
	assert_output "$(line 0003 c moved/0003_c.sql)"
	# Listed, but not this version: the stored path.
	rm moved/0002_b.sql
	run --separate-stderr bash -c 'mig-list moved | mig-revert'
	assert_success
	assert_output "$(line 0002 b)"
	run --separate-stderr mig-revert </dev/null
	assert_success
	assert_output "$(line 0001 a)"
}

@test "mig-revert: an irreversible migration is 65 and nothing is reverted" {
	write_mig 0001_a 'CREATE TABLE a (x int);'
	run apply
	assert_success
	run --separate-stderr revert
	assert_failure 65
	assert_output ''
	[[ $stderr == *0001_a*irreversible*migrations/0001_a.sql* ]]
	table_exists a
	run applied_versions
	assert_output 0001
	# Nor from the history alone.
	run mig-revert </dev/null
	assert_failure 65
	assert_output --partial irreversible
}

@test "mig-revert: an irreversible one deep inside --all stops everything before anything runs" {
	write_mig 0001_a 'CREATE TABLE a (x int);' 'DROP TABLE a;'
	write_mig 0002_b 'CREATE TABLE b (x int);'
	write_mig 0003_c 'CREATE TABLE c (x int);' 'DROP TABLE c;'
	write_mig 0004_d 'CREATE TABLE d (x int);' 'DROP TABLE d;'
	run apply
	assert_success
	run --separate-stderr revert --all
	assert_failure 65
	assert_output ''
	[[ $stderr == *'migrations/0002_b.sql'* ]]
	table_exists c
	table_exists d
	run applied_versions
	assert_output $'0001\n0002\n0003\n0004'
	# --steps that stop short of it are fine.
	run --separate-stderr revert --steps 2
	assert_success
	assert_output "$(line 0004 d)
$(line 0003 c)"
}

@test "mig-revert: an empty down section reverts fine and deletes the row" {
	write_mig 0001_a 'CREATE TABLE a (x int);' ''
	run apply
	assert_success
	run --separate-stderr revert
	assert_success
	assert_output "$(line 0001 a)"
	table_exists a
	run applied_versions
	assert_output ''
}

@test "mig-revert: -n prints what it would revert and changes nothing" {
	three
	run --separate-stderr revert -n --steps 2
	assert_success
	assert_output "$(line 0003 c)
$(line 0002 b)"
	table_exists b
	table_exists c
	run applied_versions
	assert_output $'0001\n0002\n0003'
	run --separate-stderr revert --dry-run --all
	assert_success
	assert_output "$(line 0003 c)
$(line 0002 b)
$(line 0001 a)"
	run applied_versions
	assert_output $'0001\n0002\n0003'
}

@test "mig-revert: a partial row is reverted by running its down and deleting the row" {
	write_mig --no-tx 0001_two $'CREATE TABLE t1 (x int);\nCREATE TABLE t2 (x nosuchtype);' \
		$'DROP TABLE IF EXISTS t2;\nDROP TABLE IF EXISTS t1;'
	run apply
	assert_failure 1
	run psql_admin -c "SELECT state, statements_done FROM mig_history"
	assert_output 'partial|1'
	table_exists t1
	run --separate-stderr revert
	assert_success
	assert_output "$(line 0001 two)"
	refute table_exists t1
	run psql_admin -c "SELECT count(*) FROM mig_history"
	assert_output 0
}

@test "mig-revert: a transaction:false down runs outside a transaction" {
	write_mig 0001_t 'CREATE TABLE t (x int);' 'DROP TABLE t;'
	write_mig --no-tx 0002_idx 'CREATE INDEX CONCURRENTLY t_x ON t (x);' 'DROP INDEX CONCURRENTLY t_x;'
	run apply
	assert_success
	table_exists t_x
	run --separate-stderr revert
	assert_success
	assert_output "$(line 0002 idx)"
	refute table_exists t_x
	run applied_versions
	assert_output 0001
	# And from the history, where the option is kept.
	run apply
	assert_success
	rm "$MIGDIR/0002_idx.sql"
	run --separate-stderr mig-revert </dev/null
	assert_success
	assert_output "$(line 0002 idx)"
	refute table_exists t_x
}

@test "mig-revert: a failing down is exit 1 with its position, and the row stays" {
	three
	write_mig 0003_c 'CREATE TABLE c (x int);' 'DROP TABLE nosuch;'
	run --separate-stderr revert --all
	assert_failure 1
	assert_output ''
	[[ $stderr == *'migrations/0003_c.sql:4:1: ERROR: table "nosuch" does not exist (SQLSTATE 42P01)'* ]]
	run applied_versions
	assert_output $'0001\n0002\n0003'
}

@test "mig-revert: nothing applied is exit 0 with nothing on stdout" {
	run --separate-stderr mig-revert </dev/null
	assert_success
	assert_output ''
	write_mig 0001_a 'CREATE TABLE a (x int);' 'DROP TABLE a;'
	run --separate-stderr revert --all
	assert_success
	assert_output ''
	run apply
	run revert
	assert_success
	# The table exists and is empty now.
	run --separate-stderr revert
	assert_success
	assert_output ''
}

@test "mig-revert: the session's application_name is mig-revert" {
	write_mig 0001_a 'CREATE TABLE a (x int);' "CREATE TABLE who AS SELECT current_setting('application_name') AS app;"
	run apply
	assert_success
	run revert
	assert_success
	run psql_admin -c "SELECT app FROM who"
	assert_output mig-revert
}

@test "mig-revert: the process title names the migration being reverted" {
	write_mig 0003_slow_down 'CREATE TABLE t (x int);' 'SELECT pg_sleep(60);'
	run apply
	assert_success
	mig-revert --no-list >"$BATS_TEST_TMPDIR/out" 2>&1 &
	local pid=$! rc=0
	wait_title 10 "$pid" 'mig-revert: 0003_slow_down (* s)'
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	[ "$rc" -eq 143 ]
}

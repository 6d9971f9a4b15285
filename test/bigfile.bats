#!/usr/bin/env bats
# Big data migrations: a few MB in pg_dump's COPY form and as plain INSERTs
# apply whole, the history keeps the head of such an up section with a note
# of what it left out, and revert and apply again work from it.

load helper

teardown() {
	bg_cleanup
	mig_teardown
}

# kept VERSION: the up_sql the history holds for VERSION.
kept() {
	psql_admin -c "SELECT up_sql FROM mig_history WHERE version = '$1'"
}

# check_big KIND ROWS: applies a big KIND migration, checks its rows and
# history, reverts it and applies it again.
check_big() {
	local file=$MIGDIR/0001_load.sql size up
	big_mig "$1" 0001_load "$2"
	size=$(stat -c %s "$file")
	((size > 2 * 1024 * 1024))
	up=$(sed -n '2,/^-- migrate:down$/p' "$file" | sed '$d')

	run --separate-stderr apply -q
	assert_success
	[[ $(psql_admin -c 'SELECT count(*), count(note) FROM items') == "$2|$(($2 - $2 / 5))" ]]
	# The head: whole lines of the file, at most 64 KiB, then the note.
	run kept 0001
	assert_success
	((${#output} < 64 * 1024 + 200))
	[[ ${lines[-1]} =~ ^--\ mig:\ ([0-9]+)\ more\ bytes\ of\ this\ section\ are\ not\ kept\ in\ the\ history\;\ its\ checksum\ covers\ all\ ([0-9]+)$ ]]
	[[ ${BASH_REMATCH[2]} == $(($(printf '%s\n' "$up" | wc -c))) ]]
	head -c $((${#output} - ${#lines[-1]} - 1)) <<<"$output" | cmp - <(printf '%s\n' "$up" | head -c $((${#output} - ${#lines[-1]} - 1)))
	[[ $(psql_admin -c "SELECT checksum FROM mig_history WHERE version = '0001'") == "$(printf '%s\n' "$up" | sha256sum | cut -d' ' -f1)" ]]

	run --separate-stderr revert -q
	assert_success
	run table_exists items
	assert_failure
	run --separate-stderr apply -q
	assert_success
	[[ $(psql_admin -c 'SELECT count(*) FROM items') == "$2" ]]
	run --separate-stderr apply
	assert_success
	[[ $stderr == *'up to date: 1 applied'* ]]
}

@test "bigfile: a few MB of COPY rows apply, revert and apply again; the history keeps their head" {
	check_big copy 60000
}

@test "bigfile: a few MB of INSERTs apply, revert and apply again; the history keeps their head" {
	check_big insert 40000
}

@test "bigfile: an up section up to 1 MiB is kept whole" {
	big_mig insert 0001_load 5000
	run --separate-stderr apply -q
	assert_success
	[[ "$(kept 0001)" == "$(sed -n '2,/^-- migrate:down$/p' "$MIGDIR/0001_load.sql" | sed '$d')" ]]
}

@test "bigfile: a big transaction:false section is kept whole, as its resume compares statements" {
	big_mig insert 0001_load 40000
	sed -i 's/^-- migrate:up$/-- migrate:up transaction:false/' "$MIGDIR/0001_load.sql"
	run --separate-stderr apply -q
	assert_success
	[[ $(psql_admin -c "SELECT length(up_sql) > 2 * 1024 * 1024 FROM mig_history") == t ]]
}

# pad_mig VERSION_NAME TABLE MB: a migration creating TABLE whose up
# section is padded to about MB megabytes by comment lines after its
# statement.
pad_mig() {
	{
		printf -- '-- migrate:up\nCREATE TABLE %s (id int);\n' "$2"
		yes -- '-- padding: a comment line about as long as a row of data' | head -c "$(($3 * 1024 * 1024))"
		printf -- '\n-- migrate:down\nDROP TABLE %s;\n' "$2"
	} >"$MIGDIR/$1.sql"
}

@test "bigfile: each file runs as it was checked; past 64 MiB kept, a file is read again and refused if it changed" {
	pad_mig 0001_a a 40
	pad_mig 0002_b b 40
	local sum pid rc=0
	sum=$(sed -n '2,/^-- migrate:down$/p' "$MIGDIR/0001_a.sql" | sed '$d' | sha256sum | cut -d' ' -f1)
	mig-list >list
	# Both files change while mig-apply, having checked them, waits for
	# the lock.
	hold_advisory_lock
	mig-apply <list >out 2>err &
	pid=$!
	wait_until 60 "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'mig-apply' AND query LIKE '%pg_try_advisory_lock%')"
	sed -i '2s/TABLE a /TABLE a_edited /' "$MIGDIR/0001_a.sql"
	sed -i '2s/TABLE b /TABLE b_edited /' "$MIGDIR/0002_b.sql"
	bg_cleanup
	wait "$pid" || rc=$?
	cat out err >>"$MIG_OUTPUT_LOG"
	assert_equal "$rc" 65

	# 0001 was kept from the check: it ran as checked, and the history
	# holds that text's checksum.
	assert_equal "$(cat out)" "$(line 0001 a)"
	table_exists a
	refute table_exists a_edited
	assert_equal "$(psql_admin -c "SELECT checksum FROM mig_history WHERE version = '0001'")" "$sum"
	# 0002, past the 64 MiB kept, was read again, found changed, not run.
	run cat err
	assert_line 'mig-apply: migrations/0002_b.sql: changed while mig-apply ran; nothing more was applied'
	refute table_exists b
	refute table_exists b_edited
	# The next run sees the edit to 0001.
	run --separate-stderr apply
	assert_failure 65
	[[ $stderr == *'migrations/0001_a.sql: changed since it was applied'* ]] || fail "$stderr"
}

#!/usr/bin/env bats
# Big data migrations: a few MB in pg_dump's COPY form and as plain INSERTs
# apply whole, the history keeps the head of such an up section with a note
# of what it left out, and revert and apply again work from it.

load helper

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

#!/usr/bin/env bats
# mig-current: the last applied row, every applied row, each migration's
# state (--status), and the same as JSON Lines (--json).

load helper

TS_RE='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'

# Three reversible migrations in the dbmate layout.
three_migs() {
	write_mig 0001_users 'CREATE TABLE users (id int);' 'DROP TABLE users;'
	write_mig 0002_posts 'CREATE TABLE posts (id int);' 'DROP TABLE posts;'
	write_mig 0003_tags 'CREATE TABLE tags (id int);' 'DROP TABLE tags;'
}

# applied_at of VERSION as the history table holds it, in UTC.
stored_at() {
	psql_admin -c "SELECT to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM mig_history WHERE version = '$1'"
}

# Valid JSON on every line of $output (python3, else jq).
assert_json_lines() {
	if command -v python3 >/dev/null; then
		printf '%s\n' "$output" | python3 -c 'import json,sys;[json.loads(l) for l in sys.stdin]'
	elif command -v jq >/dev/null; then
		printf '%s\n' "$output" | jq -e -c . >/dev/null
	else
		skip "neither python3 nor jq is installed"
	fi
}

# json_rows KEY...: for each JSON line on stdin, the KEYs' values joined by
# a TAB, <null> for null and <notstring> for any other non-string;
# json_rows --keys: each object's keys in order, joined by ','.
json_rows() {
	if command -v python3 >/dev/null; then
		python3 -c '
import json, sys
ks = sys.argv[1:]
for l in sys.stdin:
    o = json.loads(l)
    if ks == ["--keys"]:
        print(",".join(o.keys()))
        continue
    print("\t".join("<null>" if o[k] is None else o[k]
        if isinstance(o[k], str) else "<notstring>" for k in ks))
' "$@"
	elif [[ $1 == --keys ]]; then
		jq -r 'keys_unsorted | join(",")'
	else
		local f k
		for k in "$@"; do
			f+="${f:+, }(if .$k == null then \"<null>\" elif (.$k | type) == \"string\" then .$k else \"<notstring>\" end)"
		done
		jq -r "[$f] | join(\"\\t\")"
	fi
}

@test "mig-current: no history table prints nothing and exits 0, saying so on stderr" {
	run --separate-stderr mig-current
	assert_success
	assert_output ''
	[[ $stderr == 'mig-current: nothing applied yet' ]]
	run --separate-stderr mig-current --all
	assert_success
	assert_output ''
	[[ $stderr == 'mig-current: nothing applied yet' ]]
	run --separate-stderr mig-current --json
	assert_success
	assert_output ''
	[[ $stderr == 'mig-current: nothing applied yet' ]]
}

@test "mig-current: reading does not create the history table" {
	run mig-current --all
	assert_success
	refute table_exists mig_history
}

@test "mig-current: an empty history table prints nothing" {
	three_migs
	mig-list | head -1 | mig-apply -q
	mig-revert -q </dev/null
	[[ $(applied_versions) == '' ]]
	table_exists mig_history
	run --separate-stderr mig-current
	assert_success
	assert_output ''
	[[ $stderr == 'mig-current: nothing applied yet' ]]
	run --separate-stderr mig-current --all
	assert_success
	assert_output ''
	[[ $stderr == 'mig-current: nothing applied yet' ]]
	# Something applied: nothing on stderr.
	mig-list | head -1 | mig-apply -q
	run --separate-stderr mig-current
	assert_success
	[[ $stderr == '' ]]
}

@test "mig-current: plain prints the last applied row as VERSION TAB NAME TAB UTC time" {
	three_migs
	mig-list | head -2 | mig-apply -q
	run --separate-stderr mig-current
	assert_success
	assert_output "0002	posts	$(stored_at 0002)"
	assert_output --regexp "^0002	posts	$TS_RE\$"
	[[ ${#lines[@]} == 1 ]]
}

@test "mig-current: the time is UTC whatever the session's TimeZone" {
	three_migs
	mig-list | head -1 | mig-apply -q
	DATABASE_URL="$DATABASE_URL?options=-c%20TimeZone%3DAsia%2FTokyo" run --separate-stderr mig-current
	assert_success
	assert_output "0001	users	$(stored_at 0001)"
	assert_output --regexp "^0001	users	$TS_RE\$"
}

@test "mig-current: plain shows the most recently applied, not the highest version" {
	three_migs
	mig-list | sed -n 3p | mig-apply -q
	mig-list | sed -n 1p | mig-apply -q --allow-out-of-order
	run --separate-stderr mig-current
	assert_success
	assert_output --regexp "^0001	users	$TS_RE\$"
}

@test "mig-current: --all prints every applied row in the order applied" {
	three_migs
	mig-list | sed -n 3p | mig-apply -q
	mig-list | sed -n 1p | mig-apply -q --allow-out-of-order
	mig-list | sed -n 2p | mig-apply -q --allow-out-of-order
	run --separate-stderr mig-current --all
	assert_success
	[[ ${#lines[@]} == 3 ]]
	assert_line --index 0 "0003	tags	$(stored_at 0003)"
	assert_line --index 1 "0001	users	$(stored_at 0001)"
	assert_line --index 2 "0002	posts	$(stored_at 0002)"
	run --separate-stderr mig-current -a
	assert_success
	assert_line --index 0 --regexp "^0003	tags	$TS_RE\$"
	assert_line --index 2 --regexp "^0002	posts	$TS_RE\$"
}

@test "mig-current: --status prints STATE TAB VERSION TAB NAME for files and history in version order" {
	write_mig 2_two 'CREATE TABLE two (id int);' 'DROP TABLE two;'
	write_mig 10_ten 'CREATE TABLE ten (id int);' 'DROP TABLE ten;'
	write_mig 9_nine 'CREATE TABLE nine (id int);' 'DROP TABLE nine;'
	mig-list | head -1 | mig-apply -q
	run --separate-stderr bash -c 'mig-list | mig-current --status'
	assert_success
	assert_output "applied	2	two
pending	9	nine
pending	10	ten"
}

@test "mig-current: --status with no history table shows every listed migration pending" {
	three_migs
	run --separate-stderr bash -c 'mig-list | mig-current --status'
	assert_success
	assert_output "pending	0001	users
pending	0002	posts
pending	0003	tags"
	refute table_exists mig_history
}

@test "mig-current: --status names applied, pending, changed, missing and partial and exits 0" {
	three_migs
	write_mig 0004_gone 'CREATE TABLE gone (id int);' 'DROP TABLE gone;'
	write_mig --no-tx 0005_half 'CREATE TABLE half (id int);
SELECT 1/0;' 'DROP TABLE IF EXISTS half;'
	mig-list | head -4 | mig-apply -q
	run mig-apply -q < <(mig-list)
	assert_failure 1
	[[ $(psql_admin -c "SELECT state, statements_done FROM mig_history WHERE version = '0005'") == 'partial|1' ]]
	# 0002 edited after it was applied; 0004's file is gone.
	write_mig 0002_posts 'CREATE TABLE posts (id int, body text);' 'DROP TABLE posts;'
	rm "$MIGDIR/0004_gone.sql"
	write_mig 0006_next 'CREATE TABLE next (id int);' 'DROP TABLE next;'

	run --separate-stderr bash -c 'mig-list | mig-current --status'
	assert_success
	assert_output "applied	0001	users
changed	0002	posts
applied	0003	tags
missing	0004	gone
partial	0005	half
pending	0006	next"
}

@test "mig-current: a partial row with its file gone still shows as partial in --status" {
	write_mig --no-tx 0001_half 'CREATE TABLE half (id int);
SELECT 1/0;' 'DROP TABLE IF EXISTS half;'
	run mig-apply -q < <(mig-list)
	assert_failure 1
	run --separate-stderr mig-current --status </dev/null
	assert_success
	assert_output "partial	0001	half"
}

@test "mig-current: plain and --all show applied rows only, never a partial one" {
	write_mig 0001_users 'CREATE TABLE users (id int);' 'DROP TABLE users;'
	write_mig --no-tx 0002_half 'CREATE TABLE half (id int);
SELECT 1/0;' 'DROP TABLE IF EXISTS half;'
	run mig-apply -q < <(mig-list)
	assert_failure 1
	[[ $(applied_versions) == $'0001\n0002' ]]
	run --separate-stderr mig-current
	assert_success
	assert_output --regexp "^0001	users	$TS_RE\$"
	run --separate-stderr mig-current --all
	assert_success
	assert_output --regexp "^0001	users	$TS_RE\$"
	run --separate-stderr mig-current --json --all
	assert_success
	refute_output --partial '"partial"'
	refute_output --partial '0002'
}

@test "mig-current: --status with an empty list shows all history as missing" {
	three_migs
	mig-list | mig-apply -q
	run --separate-stderr mig-current --status </dev/null
	assert_success
	assert_output "missing	0001	users
missing	0002	posts
missing	0003	tags"
}

@test "mig-current: --status accepts bare paths and matches versions by integer value" {
	write_mig 0001_users 'CREATE TABLE users (id int);' 'DROP TABLE users;'
	mig-list | mig-apply -q
	mkdir other
	printf -- '-- migrate:up\nCREATE TABLE users (id int);\n' >other/1_users.sql
	run --separate-stderr mig-current --status <<<"other/1_users.sql"
	assert_success
	assert_output "applied	1	users"
}

@test "mig-current: --status refuses a malformed list line with 65 naming the line" {
	three_migs
	run --separate-stderr mig-current --status <<<"$(mig-list)
not a migration line"
	assert_failure 65
	assert_output ''
	[[ $stderr == *4* ]]
}

@test "mig-current: --status with a listed file that does not exist exits 66" {
	run --separate-stderr mig-current --status <<<"migrations/0001_nope.sql"
	assert_failure 66
	assert_output ''
	[[ $stderr == *0001_nope.sql* ]]
}

@test "mig-current: --json prints JSON Lines with state, version, name and applied_at" {
	three_migs
	mig-list | head -2 | mig-apply -q
	run --separate-stderr mig-current --json
	assert_success
	assert_json_lines
	[[ ${#lines[@]} == 1 ]]
	run json_rows --keys <<<"$output"
	assert_output 'state,version,name,applied_at'
	run --separate-stderr mig-current --json
	run json_rows state version name applied_at <<<"$output"
	assert_output "applied	0002	posts	$(stored_at 0002)"
}

@test "mig-current: --json --all prints every applied row in the order applied" {
	three_migs
	mig-list | sed -n 2p | mig-apply -q
	mig-list | sed -n 1p | mig-apply -q --allow-out-of-order
	run --separate-stderr mig-current --json --all
	assert_success
	assert_json_lines
	[[ ${#lines[@]} == 2 ]]
	run json_rows state version name <<<"$output"
	assert_output "applied	0002	posts
applied	0001	users"
}

@test "mig-current: --status --json gives null applied_at for pending and values as strings" {
	three_migs
	mig-list | head -1 | mig-apply -q
	rm "$MIGDIR/0003_tags.sql"
	run --separate-stderr bash -c 'mig-list | mig-current --status --json'
	assert_success
	assert_json_lines
	[[ ${#lines[@]} == 2 ]]
	run json_rows state version name applied_at <<<"$output"
	assert_line --index 0 "applied	0001	users	$(stored_at 0001)"
	assert_line --index 1 "pending	0002	posts	<null>"
}

@test "mig-current: --status --json shows missing, changed and partial states" {
	write_mig 0001_users 'CREATE TABLE users (id int);' 'DROP TABLE users;'
	write_mig 0002_posts 'CREATE TABLE posts (id int);' 'DROP TABLE posts;'
	write_mig --no-tx 0003_half 'CREATE TABLE half (id int);
SELECT 1/0;' 'DROP TABLE IF EXISTS half;'
	run mig-apply -q < <(mig-list)
	assert_failure 1
	rm "$MIGDIR/0001_users.sql"
	write_mig 0002_posts 'CREATE TABLE posts (id bigint);' 'DROP TABLE posts;'
	run --separate-stderr bash -c 'mig-list | mig-current --status --json'
	assert_success
	assert_json_lines
	run json_rows state <<<"$output"
	assert_output "missing
changed
partial"
}

@test "mig-current: --json escapes quotes and backslashes in a name" {
	local name='say_"hi"_back\slash'
	printf -- '-- migrate:up\nCREATE TABLE q (id int);\n' >"$MIGDIR/0001_$name.sql"
	mig-list | mig-apply -q
	run --separate-stderr mig-current --json
	assert_success
	assert_json_lines
	run json_rows name <<<"$output"
	assert_output "$name"
	run --separate-stderr bash -c 'mig-list | mig-current --status --json'
	assert_success
	assert_json_lines
	run json_rows name <<<"$output"
	assert_output "$name"
}

@test "mig-current: --table and MIG_TABLE read another history table" {
	three_migs
	mig-list | head -1 | mig-apply -q --table audit.hist
	mig-list | head -2 | mig-apply -q --mark-only
	run --separate-stderr mig-current --table audit.hist
	assert_success
	assert_output --regexp "^0001	users	$TS_RE\$"
	MIG_TABLE=audit.hist run --separate-stderr mig-current --all
	assert_success
	assert_output --regexp "^0001	users	$TS_RE\$"
	run --separate-stderr mig-current --table=audit.hist --status < <(mig-list)
	assert_success
	assert_output "applied	0001	users
pending	0002	posts
pending	0003	tags"
	run --separate-stderr mig-current --table 'bad-name'
	assert_failure 64
}

@test "mig-current: takes no lock: answers while another session holds the migration lock" {
	three_migs
	mig-list | head -1 | mig-apply -q
	local fifo=$BATS_TEST_TMPDIR/lockfifo
	mkfifo "$fifo"
	psql_admin -c "SELECT pg_advisory_lock(hashtextextended('mig:public.mig_history', 0))" \
		-c '\! echo locked >'"$fifo" -c 'SELECT pg_sleep(30)' >/dev/null &
	local holder=$!
	read -r _ <"$fifo"
	SECONDS=0
	run --separate-stderr timeout 10 mig-current
	local took=$SECONDS
	psql_admin -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()" >/dev/null
	wait "$holder" 2>/dev/null || true
	assert_success
	assert_output --regexp "^0001	users	$TS_RE\$"
	((took < 8))
	run --separate-stderr timeout 10 bash -c 'mig-list | mig-current --status'
	assert_success
}

@test "mig-current: an unknown option or an argument is a usage error (64)" {
	run --separate-stderr mig-current --bogus
	assert_failure 64
	assert_output ''
	run --separate-stderr mig-current extra
	assert_failure 64
}

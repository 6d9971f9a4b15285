#!/usr/bin/env bats
# MIG_LOG_FORMAT=json: every line a tool writes to stderr is one JSON
# object with ts, tool, level and msg, and the keys that apply; the last
# line of a run that fails carries its exit code. (Text, the default, is
# what every other suite checks.)

load helper

teardown() {
	bg_cleanup
	mig_teardown
}

@test "log: a batch with a lock wait, a NOTICE and a SQL error gives one JSON record per stderr line; the error carries sqlstate, path, line and exit" {
	write_mig 0001_notice "DO \$\$ BEGIN RAISE NOTICE 'hello from %', 'plpgsql'; END \$\$;" ''
	write_mig 0002_table 'CREATE TABLE t (id int);' 'DROP TABLE t;'
	put 0003_bad.sql '-- migrate:up\nCREATE TABLE u (id int);\n\nSELECT * FROM no_such_table;\n'
	mig-list >list
	# Another session holds the lock until the wait's line (at 5 s) is out.
	hold_advisory_lock
	MIG_LOG_FORMAT=json mig-apply <list >out 2>err &
	local pid=$! i rc=0
	for ((i = 0; i < 300; i++)); do
		grep -q 'waiting for the migration lock' err && break
		sleep 0.1
	done
	bg_cleanup
	wait "$pid" || rc=$?
	[[ $rc == 1 ]]
	[[ $(cat out) == "$(line 0001 notice)
$(line 0002 table)" ]]
	cat err >>"$MIG_OUTPUT_LOG"
	run records err
	assert_success
	assert_line --index 0 --regexp '^info mig-apply msg=waiting for the migration lock \(5 s\): held by pid [0-9]+ '
	assert_line --index 1 'notice mig-apply path=migrations/0001_notice.sql sqlstate=00000 msg=migrations/0001_notice.sql: NOTICE: hello from plpgsql'
	assert_line --index 2 --regexp '^info mig-apply version=0001 name=notice path=migrations/0001_notice.sql duration_ms=[0-9]+ msg=applied 0001 notice \([0-9]+ ms\)$'
	assert_line --index 3 --regexp '^info mig-apply version=0002 name=table path=migrations/0002_table.sql duration_ms=[0-9]+ msg=applied 0002 table \([0-9]+ ms\)$'
	assert_line --index 4 'error mig-apply path=migrations/0003_bad.sql line=4 col=15 sqlstate=42P01 exit=1 msg=migrations/0003_bad.sql:4:15: ERROR: relation "no_such_table" does not exist (SQLSTATE 42P01)'
	[[ ${#lines[@]} == 5 ]]
	# The same run in text: the lines as they always were.
	psql_admin -c 'DROP TABLE mig_history, t'
	run --separate-stderr mig-apply <list
	assert_failure 1
	[[ ${stderr_lines[0]} == 'migrations/0001_notice.sql: NOTICE: hello from plpgsql' ]]
	[[ ${stderr_lines[1]} =~ ^mig-apply:\ applied\ 0001\ notice\ \([0-9]+\ ms\)$ ]]
	[[ ${stderr_lines[3]} == 'migrations/0003_bad.sql:4:15: ERROR: relation "no_such_table" does not exist (SQLSTATE 42P01)' ]]
	[[ ${#stderr_lines[@]} == 4 ]]
	MIG_LOG_FORMAT=text run --separate-stderr mig-apply <list
	assert_failure 1
	[[ ${stderr_lines[0]} == 'migrations/0003_bad.sql:4:15: ERROR: relation "no_such_table" does not exist (SQLSTATE 42P01)' ]]
}

@test "log: DETAIL, HINT and CONTEXT go in the error's record as keys; a password in any value is masked" {
	mig_secret hunter2
	put 0001_raise.sql "-- migrate:up\nDO \$\$\nBEGIN\n  RAISE NOTICE 'to postgresql://app:hunter2@db/x' USING DETAIL = 'password=hunter2 sslmode=require';\n  RAISE EXCEPTION 'tab\there \"quoted\" back\\\\\\\\slash' USING DETAIL = 'first\nsecond', HINT = 'try again';\nEND\n\$\$;\n"
	MIG_LOG_FORMAT=json run --separate-stderr apply
	assert_failure 1
	printf '%s\n' "${stderr_lines[@]}" >err
	run records err
	assert_success
	assert_line --index 0 'notice mig-apply path=migrations/0001_raise.sql sqlstate=00000 detail=password=*** sslmode=require msg=migrations/0001_raise.sql: NOTICE: to postgresql://app:***@db/x'
	[[ ${#lines[@]} == 2 ]]
	python3 - err <<-'EOF'
		import json, sys
		r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
		assert r['level'] == 'error' and r['exit'] == 1, r
		assert r['msg'] == 'migrations/0001_raise.sql:5:1: ERROR: tab\there "quoted" back\\\\slash (SQLSTATE P0001)', r['msg']
		assert (r['path'], r['line'], r['col'], r['sqlstate']) == ('migrations/0001_raise.sql', 5, 1, 'P0001'), r
		assert r['detail'] == 'first\nsecond', r
		assert r['hint'] == 'try again', r
		assert r['context'].startswith('PL/pgSQL function inline_code_block line 4 at RAISE'), r
	EOF
}

@test "log: a path that is not UTF-8 stays valid JSON; mig-list's missing directory ends with exit 66" {
	MIG_LOG_FORMAT=json run --separate-stderr mig-list "$(printf 'no\377such\001"dir')"
	assert_failure 66
	printf '%s\n' "${stderr_lines[@]}" >err
	run records err
	assert_success
	assert_output 'error mig-list exit=66 msg=no�such\x01"dir: No such file or directory'
}

@test "log: a usage error ends with a record carrying exit 64, for every tool; an unknown MIG_LOG_FORMAT is a usage error" {
	local t
	for t in mig-list mig-current mig-apply mig-revert mig-new mig-wait; do
		MIG_LOG_FORMAT=json run --separate-stderr "$t" --bogus </dev/null
		assert_failure 64
		printf '%s\n' "${stderr_lines[@]}" >err
		run records err
		assert_success
		assert_line --index 0 "error $t msg=unrecognized option '--bogus'"
		assert_line --index 1 --regexp "^error $t exit=64 msg=usage: $t "
		[[ ${#lines[@]} == 2 ]]
	done
	MIG_LOG_FORMAT=json run --separate-stderr mig-wait -t
	assert_failure 64
	[[ ${stderr_lines[0]} == *'"msg":"invalid option, or one missing its argument -- '"'t'"'"'* ]]
	MIG_LOG_FORMAT=xml run --separate-stderr mig-list
	assert_failure 64
	assert_output ''
	[[ $stderr == 'mig-list: MIG_LOG_FORMAT=xml: unknown log format; use text (the default) or json' ]]
	# --help stays text on stdout, and says nothing on stderr.
	MIG_LOG_FORMAT=json run --separate-stderr mig-apply --help
	assert_success
	assert_line --index 0 --partial 'usage: mig-apply'
	[[ -z $stderr ]]
}

@test "log: mig-wait's timeout ends with a record carrying exit 75, mig-current's unreadable list one with 65" {
	local port
	port=$(free_port)
	MIG_LOG_FORMAT=json run --separate-stderr mig-wait -t 1 -d "postgresql://mig@127.0.0.1:$port/x"
	assert_failure 75
	printf '%s\n' "${stderr_lines[@]}" >err
	run records err
	assert_success
	assert_line --index 0 --regexp "^error mig-wait exit=75 msg=timed out after 1 s: mig@127.0.0.1:$port/x: "
	[[ ${#lines[@]} == 1 ]]
	# mig-current --status given a list line it cannot read: 65.
	MIG_LOG_FORMAT=json run --separate-stderr mig-current --status <<<garbage
	assert_failure 65
	printf '%s\n' "${stderr_lines[@]}" >err
	run records err
	assert_success
	assert_output 'error mig-current exit=65 msg=stdin:1: garbage: not a migration file name: it does not end in .sql'
}

@test "log: mig-revert, mig-current and mig-new in json mode" {
	write_mig 0001_a 'CREATE TABLE a (id int);' 'DROP TABLE a;'
	MIG_LOG_FORMAT=json run --separate-stderr apply -q
	assert_success
	[[ -z $stderr ]]
	MIG_LOG_FORMAT=json run --separate-stderr revert
	assert_success
	assert_output "$(line 0001 a)"
	printf '%s\n' "${stderr_lines[@]}" >err
	run records err
	assert_success
	assert_output --regexp '^info mig-revert version=0001 name=a path=migrations/0001_a.sql duration_ms=[0-9]+ msg=reverted 0001 a \([0-9]+ ms\)$'
	MIG_LOG_FORMAT=json run --separate-stderr mig-current
	assert_success
	printf '%s\n' "${stderr_lines[@]}" >err
	run records err
	assert_success
	assert_output 'info mig-current msg=nothing applied yet'
	MIG_LOG_FORMAT=json run --separate-stderr mig-new '!!!'
	assert_failure 64
	printf '%s\n' "${stderr_lines[@]}" >err
	run records err
	assert_success
	assert_output --regexp '^error mig-new exit=64 msg='
}

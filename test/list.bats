#!/usr/bin/env bats
# The list format: what mig-list prints from a directory scan, and what the
# readers (mig-apply, mig-current --status) accept on stdin.

load helper

# mk FILE...: empty files (mig-list checks names only).
mk() {
	local f
	for f in "$@"; do
		mkdir -p "$(dirname "$f")"
		: >"$f"
	done
}

# ok_mig FILE: a valid dbmate migration that a reader can load.
ok_mig() {
	mkdir -p "$(dirname "$1")"
	printf -- '-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 2;\n' >"$1"
}

TAB=$'\t'

# ---- mig-list: scanning -------------------------------------------------

@test "mig-list: prints VERSION<TAB>NAME<TAB>PATH, one line per file, no header" {
	mk migrations/20240101120000_create_users.sql migrations/20240102090000_add_index.sql
	run --separate-stderr mig-list
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_line -n 0 "20240101120000${TAB}create_users${TAB}migrations/20240101120000_create_users.sql"
	assert_line -n 1 "20240102090000${TAB}add_index${TAB}migrations/20240102090000_add_index.sql"
	assert_equal "$stderr" ''
}

@test "mig-list: an empty directory lists nothing and exits 0" {
	run --separate-stderr mig-list
	assert_success
	assert_output ''
}

@test "mig-list: DIR defaults to \$MIG_DIR before migrations" {
	mk migrations/0001_default.sql elsewhere/0002_from_env.sql
	MIG_DIR=elsewhere run mig-list
	assert_success
	assert_output "0002${TAB}from_env${TAB}elsewhere/0002_from_env.sql"
}

@test "mig-list: an empty \$MIG_DIR falls back to migrations" {
	mk migrations/0001_default.sql
	MIG_DIR='' run mig-list
	assert_success
	assert_output "0001${TAB}default${TAB}migrations/0001_default.sql"
}

@test "mig-list: a DIR argument wins over \$MIG_DIR" {
	mk migrations/0001_default.sql elsewhere/0002_from_env.sql
	MIG_DIR=elsewhere run mig-list migrations
	assert_success
	assert_output "0001${TAB}default${TAB}migrations/0001_default.sql"
}

@test "mig-list: without DIR and without a migrations directory it exits 66 naming it" {
	rmdir migrations
	run mig-list
	assert_failure 66
	assert_output --partial 'migrations'
}

@test "mig-list: a missing DIR exits 66 naming it and prints no list" {
	mk migrations/0001_a.sql
	run --separate-stderr mig-list migrations no_such_dir
	assert_failure 66
	assert_equal "$output" ''
	[[ $stderr == *no_such_dir* ]]
}

@test "mig-list: PATH is DIR joined with one slash, relative stays relative" {
	mk migrations/0001_a.sql sub/dir/0002_b.sql
	run mig-list migrations/
	assert_success
	assert_output "0001${TAB}a${TAB}migrations/0001_a.sql"

	run mig-list ./sub/dir
	assert_success
	assert_output "0002${TAB}b${TAB}./sub/dir/0002_b.sql"

	run mig-list sub//dir//
	assert_success
	assert_output "0002${TAB}b${TAB}sub//dir/0002_b.sql"

	cd sub
	run mig-list ../migrations
	assert_success
	assert_output "0001${TAB}a${TAB}../migrations/0001_a.sql"
}

@test "mig-list: an absolute DIR gives absolute paths" {
	mk migrations/0001_a.sql
	run mig-list "$PWD/migrations"
	assert_success
	assert_output "0001${TAB}a${TAB}$PWD/migrations/0001_a.sql"
}

@test "mig-list: several DIRs give one list merged in version order" {
	mk a/0001_one.sql a/0004_four.sql b/0002_two.sql b/0003_three.up.sql c/0005_five.sql
	run mig-list c b a
	assert_success
	assert_equal "${#lines[@]}" 5
	assert_line -n 0 "0001${TAB}one${TAB}a/0001_one.sql"
	assert_line -n 1 "0002${TAB}two${TAB}b/0002_two.sql"
	assert_line -n 2 "0003${TAB}three${TAB}b/0003_three.up.sql"
	assert_line -n 3 "0004${TAB}four${TAB}a/0004_four.sql"
	assert_line -n 4 "0005${TAB}five${TAB}c/0005_five.sql"
}

@test "mig-list: the same version in two DIRs is a duplicate: 65 naming both files" {
	mk a/0001_one.sql b/0001_other.sql
	run --separate-stderr mig-list a b
	assert_failure 65
	assert_equal "$output" ''
	[[ $stderr == *a/0001_one.sql* ]]
	[[ $stderr == *b/0001_other.sql* ]]
}

@test "mig-list: files not ending in .sql are ignored" {
	mk migrations/README.md migrations/.gitkeep migrations/0001_a.sql.bak \
		migrations/0002_b.txt migrations/notes migrations/0003_c.sql
	run --separate-stderr mig-list
	assert_success
	assert_output "0003${TAB}c${TAB}migrations/0003_c.sql"
	assert_equal "$stderr" ''
}

@test "mig-list: a .sql file not starting with digits and _ exits 65 naming it" {
	local bad
	for bad in add_users.sql V1__init.sql 0001-init.sql 0001.sql _0001_x.sql 12a_x.sql; do
		rm -f migrations/*
		mk migrations/0002_good.sql "migrations/$bad"
		run --separate-stderr mig-list
		assert_failure 65
		assert_equal "$output" ''
		[[ $stderr == *"migrations/$bad"* ]] || fail "stderr does not name $bad: $stderr"
	done
}

@test "mig-list: .sql in another letter case is a misnamed file (65) naming it, never skipped" {
	local bad
	for bad in 0001_a.SQL 0001_a.Sql 0001_a.UP.SQL 0001_a.up.SQL 0001_a.UP.sql 0001_a.Down.sql README.SQL; do
		rm -f migrations/*
		mk migrations/0002_good.sql "migrations/$bad"
		run --separate-stderr mig-list
		assert_failure 65
		assert_equal "$output" ''
		[[ $stderr == *"migrations/$bad: write "*" in lower case"* ]] || fail "stderr does not name $bad: $stderr"
	done
}

@test "mig-list: every bad name is reported, not only the first" {
	mk migrations/0001_good.sql migrations/oops.sql migrations/typo-2.sql
	run --separate-stderr mig-list
	assert_failure 65
	[[ $stderr == *migrations/oops.sql* ]]
	[[ $stderr == *migrations/typo-2.sql* ]]
}

@test "mig-list: an empty NAME after the version exits 65 naming the file" {
	mk migrations/0001_.sql
	run mig-list
	assert_failure 65
	assert_output --partial 'migrations/0001_.sql'

	rm migrations/0001_.sql
	mk migrations/0002_.up.sql
	run mig-list
	assert_failure 65
	assert_output --partial 'migrations/0002_.up.sql'
}

@test "mig-list: a NAME holding a TAB or a newline exits 65" {
	mk "migrations/0001_a${TAB}b.sql"
	run mig-list
	assert_failure 65
	assert_output --partial 'migrations/0001_a'

	rm migrations/*
	mk $'migrations/0002_a\nb.sql'
	run mig-list
	assert_failure 65
	assert_output --partial 'migrations/0002_a'
}

@test "mig-list: two files with the same version exit 65 naming both" {
	mk migrations/0001_create.sql migrations/0001_other.sql migrations/0002_ok.sql
	run --separate-stderr mig-list
	assert_failure 65
	assert_equal "$output" ''
	[[ $stderr == *migrations/0001_create.sql* ]]
	[[ $stderr == *migrations/0001_other.sql* ]]
}

@test "mig-list: 0001 and 1 are the same version: a duplicate" {
	mk migrations/0001_a.sql migrations/1_b.sql
	run --separate-stderr mig-list
	assert_failure 65
	[[ $stderr == *migrations/0001_a.sql* ]]
	[[ $stderr == *migrations/1_b.sql* ]]
}

@test "mig-list: a single file and a pair with the same version are duplicates" {
	mk migrations/0001_a.sql migrations/0001_a.up.sql migrations/0001_a.down.sql
	run --separate-stderr mig-list
	assert_failure 65
	[[ $stderr == *migrations/0001_a.sql* ]]
	[[ $stderr == *migrations/0001_a.up.sql* ]]
}

@test "mig-list: an up and a down of different names are not a pair: 65" {
	mk migrations/0001_a.up.sql migrations/0001_b.down.sql
	run --separate-stderr mig-list
	assert_failure 65
	assert_equal "$output" ''
	[[ $stderr == *migrations/0001_b.down.sql* ]]
}

@test "mig-list: a .down.sql with no .up.sql exits 65 naming it" {
	mk migrations/0001_a.sql migrations/0002_b.down.sql
	run --separate-stderr mig-list
	assert_failure 65
	assert_equal "$output" ''
	[[ $stderr == *migrations/0002_b.down.sql* ]]
}

@test "mig-list: a .down.sql whose .up.sql is in another DIR exits 65" {
	mk a/0001_x.up.sql b/0001_x.down.sql
	run --separate-stderr mig-list a b
	assert_failure 65
	[[ $stderr == *b/0001_x.down.sql* ]]
}

@test "mig-list: a pair is listed once, by its .up.sql" {
	mk migrations/0001_a.up.sql migrations/0001_a.down.sql migrations/0002_b.sql
	run mig-list
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_line -n 0 "0001${TAB}a${TAB}migrations/0001_a.up.sql"
	assert_line -n 1 "0002${TAB}b${TAB}migrations/0002_b.sql"
}

@test "mig-list: an .up.sql alone is listed (an irreversible migration)" {
	mk migrations/0001_a.up.sql
	run mig-list
	assert_success
	assert_output "0001${TAB}a${TAB}migrations/0001_a.up.sql"
}

@test "mig-list: versions sort by integer value: 2 before 10, 9 before 0010" {
	mk migrations/10_ten.sql migrations/2_two.sql migrations/0009_nine.sql migrations/100_hundred.sql migrations/0011_eleven.sql
	run mig-list
	assert_success
	assert_equal "${#lines[@]}" 5
	assert_line -n 0 "2${TAB}two${TAB}migrations/2_two.sql"
	assert_line -n 1 "0009${TAB}nine${TAB}migrations/0009_nine.sql"
	assert_line -n 2 "10${TAB}ten${TAB}migrations/10_ten.sql"
	assert_line -n 3 "0011${TAB}eleven${TAB}migrations/0011_eleven.sql"
	assert_line -n 4 "100${TAB}hundred${TAB}migrations/100_hundred.sql"
}

@test "mig-list: sequence numbers sort before timestamps, VERSION kept as written" {
	mk migrations/20240101000000_ts.sql migrations/0042_seq.sql migrations/000_zero.sql
	run mig-list
	assert_success
	assert_line -n 0 "000${TAB}zero${TAB}migrations/000_zero.sql"
	assert_line -n 1 "0042${TAB}seq${TAB}migrations/0042_seq.sql"
	assert_line -n 2 "20240101000000${TAB}ts${TAB}migrations/20240101000000_ts.sql"
}

@test "mig-list: a 19-digit version is accepted and sorts by value" {
	mk migrations/9999999999999999999_max.sql migrations/1000000000000000000_min19.sql \
		migrations/20240101000000_ts.sql
	run mig-list
	assert_success
	assert_line -n 0 "20240101000000${TAB}ts${TAB}migrations/20240101000000_ts.sql"
	assert_line -n 1 "1000000000000000000${TAB}min19${TAB}migrations/1000000000000000000_min19.sql"
	assert_line -n 2 "9999999999999999999${TAB}max${TAB}migrations/9999999999999999999_max.sql"
}

@test "mig-list: a version of more than 19 digits exits 65 naming the file" {
	mk migrations/0001_ok.sql migrations/00000000000000000002_twenty.sql
	run --separate-stderr mig-list
	assert_failure 65
	assert_equal "$output" ''
	[[ $stderr == *migrations/00000000000000000002_twenty.sql* ]]

	rm migrations/00000000000000000002_twenty.sql
	mk migrations/99999999999999999999_big.sql
	run mig-list
	assert_failure 65
	assert_output --partial 'migrations/99999999999999999999_big.sql'
}

@test "mig-list: names with spaces, quotes, semicolons and dots are kept as they are" {
	mk "migrations/0001_it's a \"name\"; DROP TABLE x.sql" \
		'migrations/0002_with $dollar & amp.v2.sql' \
		'migrations/0003_ünïcode.up.sql'
	run mig-list
	assert_success
	assert_line -n 0 "0001${TAB}it's a \"name\"; DROP TABLE x${TAB}migrations/0001_it's a \"name\"; DROP TABLE x.sql"
	assert_line -n 1 "0002${TAB}with \$dollar & amp.v2${TAB}migrations/0002_with \$dollar & amp.v2.sql"
	assert_line -n 2 "0003${TAB}ünïcode${TAB}migrations/0003_ünïcode.up.sql"
}

@test "mig-list: checks names only: a file with broken contents is still listed" {
	printf 'this is not a migration\n' >migrations/0001_broken.sql
	run mig-list
	assert_success
	assert_output "0001${TAB}broken${TAB}migrations/0001_broken.sql"
}

@test "mig-list: its output is read back unchanged by mig-apply -n" {
	ok_mig migrations/0002_b.sql
	ok_mig migrations/0010_c.sql
	mk migrations/0001_a.up.sql migrations/0001_a.down.sql
	printf 'SELECT 1;\n' >migrations/0001_a.up.sql
	run mig-list
	assert_success
	local listed=$output
	run mig-apply -n < <(mig-list)
	assert_success
	assert_output "$listed"
}

@test "mig-list: --help prints usage on stdout and exits 0; a bad option is 64" {
	run --separate-stderr mig-list --help
	assert_success
	assert_output --partial 'mig-list'
	run --separate-stderr mig-list --bogus
	assert_failure 64
	assert_equal "$output" ''
}

# ---- the list readers ---------------------------------------------------

@test "list reader: a bare path is normalized to the three-field line" {
	ok_mig migrations/0001_a.sql
	ok_mig 'migrations/0002_b c.sql'
	run --separate-stderr mig-apply -n <<-EOF
		migrations/0001_a.sql
		migrations/0002_b c.sql
	EOF
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_line -n 0 "0001${TAB}a${TAB}migrations/0001_a.sql"
	assert_line -n 1 "0002${TAB}b c${TAB}migrations/0002_b c.sql"
}

@test "list reader: mig-current --status reads bare paths and three-field lines alike" {
	ok_mig migrations/0001_a.sql
	ok_mig migrations/0002_b.sql
	run --separate-stderr mig-current --status <<-EOF
		migrations/0001_a.sql
		0002${TAB}b${TAB}migrations/0002_b.sql
	EOF
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_line -n 0 "pending${TAB}0001${TAB}a"
	assert_line -n 1 "pending${TAB}0002${TAB}b"
}

@test "list reader: a bare path of a pair lists the .up.sql and finds its .down.sql" {
	printf 'CREATE TABLE p (id int);\n' >migrations/0001_p.up.sql
	printf 'DROP TABLE p;\n' >migrations/0001_p.down.sql
	run --separate-stderr mig-apply <<<"migrations/0001_p.up.sql"
	assert_success
	assert_output "0001${TAB}p${TAB}migrations/0001_p.up.sql"
	run psql_admin -c "SELECT path, down_sql FROM mig_history"
	assert_output "migrations/0001_p.up.sql|DROP TABLE p;"
}

@test "list reader: listing the .down.sql of a pair is 65 naming the line" {
	printf 'SELECT 1;\n' >migrations/0001_p.up.sql
	printf 'SELECT 1;\n' >migrations/0001_p.down.sql
	run --separate-stderr mig-apply -n <<<"migrations/0001_p.down.sql"
	assert_failure 65
	assert_equal "$output" ''
	[[ $stderr == *:1:* ]]
}

@test "list reader: blank lines, white-space lines and # lines are ignored" {
	ok_mig migrations/0001_a.sql
	ok_mig migrations/0002_b.sql
	run --separate-stderr mig-apply -n <<-EOF

		# a comment
		migrations/0001_a.sql
		    
		#migrations/0009_gone.sql

		0002${TAB}b${TAB}migrations/0002_b.sql
		# the end
	EOF
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_line -n 0 "0001${TAB}a${TAB}migrations/0001_a.sql"
	assert_line -n 1 "0002${TAB}b${TAB}migrations/0002_b.sql"
}

@test "list reader: an empty list is nothing to do" {
	run --separate-stderr mig-apply </dev/null
	assert_success
	assert_output ''
}

@test "list reader: a terminal on stdin is a usage error (64) at once, naming the pipe to use" {
	command -v script >/dev/null || skip "script(1) from util-linux is not installed"
	ok_mig migrations/0001_a.sql
	local t
	# script(1) gives the tool a pseudo-terminal as stdin, stdout and stderr.
	for t in mig-apply 'mig-current --status' 'mig-wait --applied -t 30'; do
		SECONDS=0
		run script -qec "$t" /dev/null </dev/null
		assert_failure 64
		((SECONDS < 10))
		assert_output --partial "stdin is a terminal"
		assert_output --partial "mig-list | ${t% -t 30}"
	done
	run table_exists mig_history
	assert_failure
	# A tool that reads no list does not mind a terminal.
	run script -qec 'mig-current' /dev/null </dev/null
	assert_success
}

# in_syscall PID NR...: waits until PID, running a mig tool, sleeps in one
# of the system calls NR (0 read, 7 poll), as it does waiting for stdin.
in_syscall() {
	local pid=$1 i nr want
	shift
	for ((i = 0; i < 400; i++)); do
		if [[ $(readlink "/proc/$pid/exe") == */mig-* ]]; then
			read -r nr _ <"/proc/$pid/syscall" || true
			for want in "$@"; do
				[[ $nr == "$want" ]] && return 0
			done
		fi
		sleep 0.025
	done
	echo "pid $pid never waited in syscall $*" >&2
	return 1
}

# signal_reading SIG FIRST CMD...: CMD reading a pipe that stays open, with
# SIGINT and SIGTERM at their defaults as in a terminal; FIRST (may be
# empty) are written first; SIG once it waits for more. Sets ST and ERR.
signal_reading() {
	local sig=$1 first=$2 pid
	shift 2
	rm -f in
	mkfifo in
	exec 9<>in
	env --default-signal=INT,TERM "$@" <in >out 2>err &
	pid=$!
	in_syscall "$pid" 0 7 271
	if [[ -n $first ]]; then
		printf '%s\n' "$first" >&9
		# The line read, it waits in read(2) for the rest.
		sleep 0.2
		in_syscall "$pid" 0 7 271
	fi
	kill -"$sig" "$pid"
	exit_status "$pid"
	exec 9>&-
	ERR=$(<err)
}

# exit_status PID: sets ST to its exit status once it exits, within 10 s;
# else it is killed and ST is "hung".
exit_status() {
	local i
	for ((i = 0; i < 400; i++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.025
	done
	ST=0
	if kill -0 "$1" 2>/dev/null; then
		kill -9 "$1"
		wait "$1" || true
		ST=hung
		return
	fi
	wait "$1" || ST=$?
}

@test "list reader: SIGINT or SIGTERM while a tool waits for its list exits 130 or 143 at once, saying so" {
	ok_mig migrations/0001_a.sql
	ok_mig migrations/0002_b.sql
	mig-list | head -1 | mig-apply -q

	signal_reading INT '' mig-apply
	[[ $ST == 130 ]]
	[[ $ERR == 'mig-apply: interrupted by SIGINT while waiting for the list on stdin' ]]
	signal_reading TERM "migrations/0002_b.sql" mig-apply
	[[ $ST == 143 ]]
	[[ $ERR == 'mig-apply: interrupted by SIGTERM while '*' the list on stdin' ]]
	run applied_versions
	assert_output 0001

	signal_reading INT '' mig-current --status
	[[ $ST == 130 ]]
	[[ $ERR == 'mig-current: interrupted by SIGINT while waiting for the list on stdin' ]]
	signal_reading TERM '' mig-wait --applied
	[[ $ST == 143 ]]
	[[ $ERR == 'mig-wait: interrupted by SIGTERM while reading the list on stdin' ]]
	signal_reading INT "migrations/0001_a.sql" mig-wait --applied
	[[ $ST == 130 ]]
	[[ $ERR == 'mig-wait: interrupted by SIGINT while reading the list on stdin' ]]
	signal_reading INT '' mig-revert
	[[ $ST == 130 ]]
	[[ $ERR == 'mig-revert: interrupted by SIGINT while waiting for the list on stdin' ]]
	run applied_versions
	assert_output 0001
}

@test "mig-list: SIGINT while its output waits for a reader exits 130, saying so" {
	(cd migrations && touch {10000..14999}_a_migration_with_a_long_name.sql)
	rm -f out
	mkfifo out
	# Held open and never read: the pipe fills and mig-list waits in write(2).
	exec 9<>out
	env --default-signal=INT mig-list >out 2>err &
	local pid=$!
	in_syscall "$pid" 1
	kill -INT "$pid"
	exit_status "$pid"
	exec 9>&-
	[[ $ST == 130 ]]
	run cat err
	assert_output 'mig-list: interrupted by SIGINT while writing the list'
}

@test "list reader: SIGINT while mig-current or mig-wait waits behind a lock on the history table exits 130 at once" {
	ok_mig migrations/0001_a.sql
	mig-list | mig-apply -q
	mig-list >list
	mkfifo fifo
	psql_admin -c 'BEGIN' -c 'LOCK TABLE mig_history' -c '\! echo locked >fifo' \
		-c 'SELECT pg_sleep(60)' >/dev/null 2>&1 &
	# shellcheck disable=SC2034 # bg_cleanup (helper.bash) reads it
	BG_PID=$!
	read -r _ <fifo
	local t pid i
	for t in mig-current 'mig-wait --applied'; do
		# shellcheck disable=SC2086 # $t is a command and its option
		env --default-signal=INT $t <list >out 2>err &
		pid=$!
		for ((i = 0; i < 400; i++)); do
			[[ $(psql_admin -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = '${t%% *}' AND wait_event_type = 'Lock'") == 1 ]] && break
			sleep 0.025
		done
		kill -INT "$pid"
		exit_status "$pid"
		[[ $ST == 130 ]]
		run cat err
		assert_output --regexp "^${t%% *}: interrupted by SIGINT"
		[[ ${#lines[@]} == 1 ]]
	done
	bg_cleanup
}

@test "list reader: a trailing CR is dropped from both line forms" {
	ok_mig migrations/0001_a.sql
	ok_mig migrations/0002_b.sql
	run --separate-stderr mig-apply -n < <(printf 'migrations/0001_a.sql\r\n\r\n# c\r\n0002\tb\tmigrations/0002_b.sql\r\n')
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_line -n 0 "0001${TAB}a${TAB}migrations/0001_a.sql"
	assert_line -n 1 "0002${TAB}b${TAB}migrations/0002_b.sql"
	[[ $output != *$'\r'* ]]
}

@test "list reader: the last line may lack its newline" {
	ok_mig migrations/0001_a.sql
	run mig-apply -n < <(printf 'migrations/0001_a.sql')
	assert_success
	assert_output "0001${TAB}a${TAB}migrations/0001_a.sql"
}

@test "list reader: lines are taken in version order whatever their order" {
	ok_mig migrations/10_ten.sql
	ok_mig migrations/2_two.sql
	run mig-apply -n <<-EOF
		migrations/10_ten.sql
		migrations/2_two.sql
	EOF
	assert_success
	assert_line -n 0 "2${TAB}two${TAB}migrations/2_two.sql"
	assert_line -n 1 "10${TAB}ten${TAB}migrations/10_ten.sql"
}

@test "list reader: a line with two fields is 65 naming its line number" {
	ok_mig migrations/0001_a.sql
	run --separate-stderr mig-apply -n <<-EOF
		migrations/0001_a.sql
		# comment lines count
		0002${TAB}b
	EOF
	assert_failure 65
	assert_equal "$output" ''
	[[ $stderr == *:3:* ]] || fail "no line 3 in: $stderr"
}

@test "list reader: a line with four fields is 65 naming its line number" {
	ok_mig migrations/0001_a.sql
	run --separate-stderr mig-apply -n <<-EOF

		0001${TAB}a${TAB}migrations/0001_a.sql${TAB}extra
	EOF
	assert_failure 65
	[[ $stderr == *:2:* ]] || fail "no line 2 in: $stderr"
}

@test "list reader: a bare line that is not a migration name is 65 naming the line" {
	ok_mig migrations/0001_a.sql
	: >migrations/README.md
	local bad
	for bad in hello migrations/README.md migrations/add_users.sql 'migrations/0002_.sql' \
		migrations/00000000000000000003_long.sql; do
		run --separate-stderr mig-apply -n <<-EOF
			migrations/0001_a.sql
			$bad
		EOF
		assert_failure 65
		assert_equal "$output" ''
		[[ $stderr == *:2:* ]] || fail "no line 2 for '$bad' in: $stderr"
	done
}

@test "list reader: a listed .SQL file is 65 naming the line, for every reader" {
	ok_mig migrations/0001_a.sql
	ok_mig migrations/0002_b.SQL
	ok_mig migrations/0003_c.Up.sql
	echo migrations/0001_a.sql | mig-apply -q
	local t l
	for l in migrations/0002_b.SQL $'0003\tc\tmigrations/0003_c.Up.sql'; do
		for t in mig-apply 'mig-current --status' 'mig-wait --applied -t 0' mig-revert; do
			run --separate-stderr bash -c "printf '%s\n' 'migrations/0001_a.sql' \"\$1\" | $t" _ "$l"
			assert_failure 65
			[[ $stderr == *"stdin:2: migrations/"*" in lower case"* ]]
		done
	done
	run applied_versions
	assert_output 0001
}

@test "list reader: an empty PATH field is 65 naming the line" {
	run --separate-stderr mig-apply -n <<<"0001${TAB}a${TAB}"
	assert_failure 65
	[[ $stderr == *:1:* ]]
}

@test "list reader: a VERSION disagreeing with the basename is 65 naming the line" {
	ok_mig migrations/0001_a.sql
	ok_mig migrations/0002_b.sql
	run --separate-stderr mig-apply -n <<-EOF
		migrations/0001_a.sql
		0003${TAB}b${TAB}migrations/0002_b.sql
	EOF
	assert_failure 65
	assert_equal "$output" ''
	[[ $stderr == *:2:* ]]
}

@test "list reader: VERSION must be as written: 2 for 0002_b.sql disagrees" {
	ok_mig migrations/0002_b.sql
	run --separate-stderr mig-apply -n <<<"2${TAB}b${TAB}migrations/0002_b.sql"
	assert_failure 65
	[[ $stderr == *:1:* ]]
}

@test "list reader: a NAME disagreeing with the basename is 65 naming the line" {
	ok_mig migrations/0001_a.sql
	ok_mig migrations/0002_b.sql
	run --separate-stderr mig-current --status <<-EOF
		0001${TAB}a${TAB}migrations/0001_a.sql
		0002${TAB}B${TAB}migrations/0002_b.sql
	EOF
	assert_failure 65
	assert_equal "$output" ''
	[[ $stderr == *:2:* ]]
}

@test "list reader: two lines with the same version are 65 naming the line" {
	ok_mig migrations/0001_a.sql
	mkdir other
	ok_mig other/1_b.sql
	run --separate-stderr mig-apply -n <<-EOF
		migrations/0001_a.sql
		other/1_b.sql
	EOF
	assert_failure 65
	assert_equal "$output" ''
	[[ $stderr == *:2:* ]] || fail "no line 2 in: $stderr"

	run --separate-stderr mig-apply -n <<-EOF
		migrations/0001_a.sql

		0001${TAB}a${TAB}migrations/0001_a.sql
	EOF
	assert_failure 65
	[[ $stderr == *:3:* ]] || fail "no line 3 in: $stderr"
}

@test "list reader: a listed file that does not exist exits 66 naming it" {
	ok_mig migrations/0001_a.sql
	run --separate-stderr mig-apply -n <<-EOF
		migrations/0001_a.sql
		0002${TAB}gone${TAB}migrations/0002_gone.sql
	EOF
	assert_failure 66
	assert_equal "$output" ''
	[[ $stderr == *migrations/0002_gone.sql* ]]

	run --separate-stderr mig-current --status <<<"migrations/0003_gone.sql"
	assert_failure 66
	[[ $stderr == *migrations/0003_gone.sql* ]]
}

@test "list reader: a bad list is refused before connecting (65, not 69)" {
	ok_mig migrations/0001_a.sql
	local url="postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"
	DATABASE_URL=$url run mig-apply -n <<<"0001${TAB}a"
	assert_failure 65
	DATABASE_URL=$url run mig-current --status <<<"migrations/0009_gone.sql"
	assert_failure 66
	# and the same good list reaches the connection and fails there
	DATABASE_URL=$url run mig-apply -n <<<"migrations/0001_a.sql"
	assert_failure 69
}

@test "list reader: nothing is applied when any line is bad" {
	ok_mig migrations/0001_a.sql
	run mig-apply <<-EOF
		migrations/0001_a.sql
		0002${TAB}b${TAB}migrations/0001_a.sql
	EOF
	assert_failure 65
	run applied_versions
	assert_output ''
	run table_exists mig_history
	assert_failure
}

@test "list reader: the PATH is used as given and recorded so" {
	ok_mig migrations/0001_a.sql
	run --separate-stderr mig-apply <<<"./migrations//0001_a.sql"
	assert_success
	assert_output "0001${TAB}a${TAB}./migrations//0001_a.sql"
	run psql_admin -c "SELECT version, name, path FROM mig_history"
	assert_output "0001|a|./migrations//0001_a.sql"
}

#!/usr/bin/env bats
# just db-migrate-all: the same migrations on many databases, on two real
# servers (the suite's and a second one this file starts), with targets
# that cannot be reached or whose migration fails.

load helper

setup_file() {
	just_setup_file
	# The second server: its own port and password. The socket path must be
	# short, so it lives in /tmp rather than under BATS_FILE_TMPDIR.
	SRV2_DIR=$(mktemp -d /tmp/mig-pg2.XXXXXX)
	rmdir "$SRV2_DIR"
	SRV2_PASSWORD="pw2-Sekr1t-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
	PGTMP_PASSWORD=$SRV2_PASSWORD "$REPO/scripts/pgtmp" start --fast "$SRV2_DIR" >/dev/null
	SRV2_PORT=$(eval "$("$REPO/scripts/pgtmp" env "$SRV2_DIR")" && echo "$PGTMP_PORT")
	SRV2_SOCKDIR=$SRV2_DIR/data
	export SRV2_DIR SRV2_PORT SRV2_PASSWORD SRV2_SOCKDIR
}

teardown_file() {
	if [[ -n ${SRV2_DIR:-} && -d $SRV2_DIR ]]; then
		"$REPO/scripts/pgtmp" stop "$SRV2_DIR"
	fi
}

setup() {
	need_just
	mig_setup
	mig_secret "$SRV2_PASSWORD"
	just_project
	DBS1=()
	DBS2=()
}

# stderr_line exact|partial|regexp TEXT: some line of the last run's stderr
# is TEXT, holds it, or matches it; else the test fails, showing stderr.
stderr_line() {
	local mode=$1 want=$2 l
	for l in "${stderr_lines[@]}"; do
		case $mode in
			exact) [[ $l == "$want" ]] && return 0 ;;
			partial) [[ $l == *"$want"* ]] && return 0 ;;
			regexp) [[ $l =~ $want ]] && return 0 ;;
		esac
	done
	fail "no stderr line ($mode): $want"
}

teardown() {
	local rc=0
	drop_dbs 1 ${DBS1[@]+"${DBS1[@]}"} || rc=1
	drop_dbs 2 ${DBS2[@]+"${DBS2[@]}"} || rc=1
	mig_teardown || rc=1
	return "$rc"
}

# on SERVER DB [ARGS...]: psql_admin on database DB of server 1 or 2.
on() {
	local server=$1 db=$2
	shift 2
	if ((server == 1)); then
		PSQL_ADMIN_DB=$db psql_admin "$@"
	else
		PGTMP_SOCKDIR=$SRV2_SOCKDIR PGTMP_PORT=$SRV2_PORT PSQL_ADMIN_DB=$db psql_admin "$@"
	fi
}

# drop_dbs SERVER DB...: drops them, in one psql.
drop_dbs() {
	local server=$1 db sql=''
	shift
	(($#)) || return 0
	for db; do
		sql+="DROP DATABASE IF EXISTS $db WITH (FORCE);"$'\n'
	done
	on "$server" postgres <<<"$sql"
}

# make_dbs SERVER N: N new databases owned by mig on server 1 or 2, their
# names appended to DBS1 or DBS2 (teardown drops them).
make_dbs() {
	local server=$1 n=$2 i db sql=''
	for ((i = 0; i < n; i++)); do
		if ((server == 1)); then
			db=${TEST_DB}_a${#DBS1[@]}
			DBS1+=("$db")
		else
			db=${TEST_DB}_b${#DBS2[@]}
			DBS2+=("$db")
		fi
		sql+="CREATE DATABASE $db OWNER mig STRATEGY FILE_COPY;"$'\n'
	done
	on "$server" postgres <<<"$sql"
}

# versions SERVER DB...: a line "DB: V1 V2 ..." for each DB, its applied
# versions in the order applied ("DB:" when none), from one psql.
versions() {
	local server=$1 db script=''
	shift
	for db; do
		script+="\\connect $db"$'\n'
		script+=$(cat <<-'SQL'
			SELECT CASE WHEN to_regclass('mig_history') IS NULL
			THEN format('SELECT %L', current_database() || ':')
			ELSE format('SELECT %L || coalesce(string_agg('' '' || version, '''' ORDER BY id), '''') FROM mig_history', current_database() || ':')
			END
			\gexec
		SQL
		)$'\n'
	done
	on "$server" postgres <<<"$script"
}

# want_versions DB... -- VERSIONS: the lines versions prints when each DB
# has VERSIONS applied.
want_versions() {
	local db dbs=()
	while [[ $1 != -- ]]; do
		dbs+=("$1")
		shift
	done
	shift
	for db in "${dbs[@]}"; do
		printf '%s:%s\n' "$db" "${*:+ $*}"
	done
}

three_migrations() {
	write_mig 0001_create_a 'CREATE TABLE a (id int);' 'DROP TABLE a;'
	write_mig 0002_create_b 'CREATE TABLE b (id int PRIMARY KEY);' 'DROP TABLE b;'
	write_mig 0003_create_c 'CREATE TABLE c (id int);' 'DROP TABLE c;'
}

# The summary line: STATUS NAME CODE APPLIED, seconds left as a pattern.
summary_re() {
	printf '^%s\t%s\texit %s\tapplied %s\t[0-9]+\\.[0-9]{2} s$' "$1" "$2" "$3" "$4"
}

@test "db-migrate-all: 30 databases on two servers, one unreachable, one failing; the rest applied, and a rerun applies nothing" {
	three_migrations
	make_dbs 1 15
	make_dbs 2 15
	local h1=127.0.0.1:$PGTMP_PORT h2=127.0.0.1:$SRV2_PORT
	local dead
	dead=$(free_port)
	# One database on server 2 already has a table c: 0003 fails there.
	local bad=${DBS2[7]}
	PGTMP_SOCKDIR=$SRV2_SOCKDIR PGTMP_PORT=$SRV2_PORT TEST_DB=$bad psql_admin \
		-c 'CREATE TABLE c (x int); ALTER TABLE c OWNER TO mig'

	# A service file for two of them: the password is in the file.
	export PGSERVICEFILE=$BATS_TEST_TMPDIR/pg_service.conf
	cat >"$PGSERVICEFILE" <<-EOF
		[fanout_one]
		host=127.0.0.1
		port=$SRV2_PORT
		user=mig
		password=$SRV2_PASSWORD
		dbname=${DBS2[0]}
	EOF

	# Server 1 by URI, server 2 by conninfo and by service; comments, blank
	# lines, indentation and a CRLF line; the unreachable target between
	# them, with a password too.
	local names=() i
	{
		echo "# the fleet"
		echo
		for i in "${!DBS1[@]}"; do
			if ((i == 5)); then
				printf '  postgresql://mig:%s@127.0.0.1:%s/%s\r\n' "$PGTMP_PASSWORD" "$PGTMP_PORT" "${DBS1[i]}"
			else
				echo "postgresql://mig:$PGTMP_PASSWORD@$h1/${DBS1[i]}"
			fi
		done
		echo "postgresql://mig:$PGTMP_PASSWORD@127.0.0.1:$dead/nowhere"
		echo "   # server 2"
		echo "service=fanout_one"
		for ((i = 1; i < ${#DBS2[@]}; i++)); do
			echo "host=127.0.0.1 port=$SRV2_PORT user=mig password='$SRV2_PASSWORD' dbname=${DBS2[i]}"
		done
	} >targets.txt
	for i in "${!DBS1[@]}"; do names+=("mig@$h1/${DBS1[i]}"); done
	names+=("mig@127.0.0.1:$dead/nowhere")
	for i in "${!DBS2[@]}"; do names+=("mig@$h2/${DBS2[i]}"); done

	local pass
	for pass in first rerun; do
		SECONDS=0
		run --separate-stderr env MIG_WAIT_TIMEOUT=1 "$JUST" db-migrate-all targets.txt
		echo "# $pass run: ${SECONDS}s" >&3
		# The first failed target in the file's order gives the status: the
		# unreachable one, which mig-wait gave up on (75).
		assert_failure 75

		# One summary line per target, in the file's order.
		assert_equal "${#lines[@]}" 31
		local want_applied=3 bad_applied=2
		if [[ $pass == rerun ]]; then
			want_applied=0 bad_applied=0
		fi
		for i in "${!names[@]}"; do
			case ${names[i]} in
				*/nowhere) [[ ${lines[i]} =~ $(summary_re failed "${names[i]}" 75 0) ]] ;;
				*/"$bad") [[ ${lines[i]} =~ $(summary_re failed "${names[i]}" 1 "$bad_applied") ]] ;;
				*) [[ ${lines[i]} =~ $(summary_re ok "${names[i]}" 0 "$want_applied") ]] ;;
			esac || fail "summary line $i: '${lines[i]}', wanted ${names[i]}"
		done

		# Every stderr line is under a target's name; each says what it did.
		# (seen: each line, a trailing " (N ms)" cut off.)
		local l name
		local -A known=() seen=()
		for name in "${names[@]}"; do known[$name]=1; done
		for l in "${stderr_lines[@]}"; do
			[[ $l == "error: recipe \`db-migrate-all\` failed"* ]] && continue
			name=${l%%: *}
			[[ -n ${known[$name]:-} ]] || fail "a line under no target's name: $l"
			seen[${l% (* ms)}]=1
		done
		for name in "${names[@]}"; do
			case $name in
				*/nowhere) stderr_line partial "$name: mig-wait: timed out after 1 s: $name: " ;;
				*/"$bad") stderr_line regexp "^$name: migrations/0003_create_c\\.sql:[0-9]+:[0-9]+: ERROR: relation \"c\" already exists" ;;
				*)
					if [[ $pass == first ]]; then
						[[ -n ${seen[$name: $(line 0003 create_c)]:-} ]] || fail "$name: no list line for 0003"
						[[ -n ${seen[$name: mig-apply: applied 0003 create_c]:-} ]] || fail "$name: 0003 not applied"
					else
						[[ -n ${seen[$name: mig-apply: up to date: 3 applied, nothing to do]:-} ]] ||
							fail "$name: not up to date"
					fi
					;;
			esac
		done
		[[ $stderr != *"$PGTMP_PASSWORD"* && $stderr != *"$SRV2_PASSWORD"* ]] || fail "a password in stderr"
		[[ $output != *"$PGTMP_PASSWORD"* && $output != *"$SRV2_PASSWORD"* ]] || fail "a password in stdout"

		# Every other target fully applied, the failing one up to 0002.
		local others=()
		for i in "${!DBS2[@]}"; do
			[[ ${DBS2[i]} == "$bad" ]] || others+=("${DBS2[i]}")
		done
		assert_equal "$(versions 1 "${DBS1[@]}")" "$(want_versions "${DBS1[@]}" -- 0001 0002 0003)"
		assert_equal "$(versions 2 "${others[@]}" "$bad")" \
			"$(want_versions "${others[@]}" -- 0001 0002 0003; want_versions "$bad" -- 0001 0002)"
	done
}

# max_overlap DB...: the most of the DBs' migrations (on server 1) that ran
# at one moment, from the span each recorded (clock_timestamp at its start,
# and after its sleep).
max_overlap() {
	local db script=''
	for db; do
		script+="\\connect $db"$'\n'
		script+='SELECT extract(epoch FROM s), extract(epoch FROM e) FROM span;'$'\n'
	done
	on 1 postgres <<<"$script" | awk -F'|' '{ print $1, 1; print $2, -1 }' | sort -k1,1g -k2,2n |
		awk '{ n += $2; if (n > max) max = n } END { print max + 0 }'
}

@test "db-migrate-all runs at most N targets at a time: -j 1, -j 2, the default 4" {
	write_mig 0001_span "CREATE TABLE span (s timestamptz, e timestamptz);
INSERT INTO span VALUES (clock_timestamp(), NULL);
SELECT pg_sleep(0.7);
UPDATE span SET e = clock_timestamp();"
	make_dbs 1 12
	local url=postgresql://mig:$PGTMP_PASSWORD@127.0.0.1:$PGTMP_PORT
	local i
	for i in 0 1; do echo "$url/${DBS1[i]}"; done >one.txt
	for i in 2 3 4 5; do echo "$url/${DBS1[i]}"; done >two.txt
	for ((i = 6; i < 12; i++)); do echo "$url/${DBS1[i]}"; done >four.txt

	# At most N; and more than one when N allows it (each sleeps long
	# enough for the next to start, even on a busy machine).
	local n
	run --separate-stderr just db-migrate-all -j 1 one.txt
	assert_success
	assert_equal "$(max_overlap "${DBS1[@]:0:2}")" 1

	run --separate-stderr just db-migrate-all -j2 two.txt
	assert_success
	n=$(max_overlap "${DBS1[@]:2:4}")
	((n == 2)) || fail "-j2: $n at once"

	run --separate-stderr just db-migrate-all four.txt
	assert_success
	assert_equal "${#lines[@]}" 6
	n=$(max_overlap "${DBS1[@]:6:6}")
	((n >= 2 && n <= 4)) || fail "default: $n at once, wanted 2 to 4"
}

@test "db-migrate-all: a failing mig-list stops it with mig-list's status before any target is touched" {
	three_migrations
	make_dbs 1 2
	local url=postgresql://mig:$PGTMP_PASSWORD@127.0.0.1:$PGTMP_PORT
	printf '%s\n' "$url/${DBS1[0]}" "$url/${DBS1[1]}" >targets.txt
	: >"$MIGDIR/add_d.sql"

	run --separate-stderr just db-migrate-all targets.txt
	assert_failure 65
	assert_output ""
	[[ $stderr == *"mig-list: "*"add_d.sql"* ]] || fail "no mig-list error: $stderr"
	[[ $stderr != *"mig-wait"* && $stderr != *"mig-apply"* ]] || fail "a tool ran: $stderr"
	assert_equal "$(versions 1 "${DBS1[@]}")" "$(want_versions "${DBS1[@]}" --)"

	run --separate-stderr env MIG_DIR=no/such/dir "$JUST" db-migrate-all targets.txt
	assert_failure 66
	assert_output ""
	assert_equal "$(versions 1 "${DBS1[@]}")" "$(want_versions "${DBS1[@]}" --)"
}

@test "db-migrate-all: TARGETS from where just was run, mig-apply's options after it, an invalid line named by file and line" {
	three_migrations
	make_dbs 1 1
	mkdir -p sub/deeper
	{
		echo "postgresql://mig:$PGTMP_PASSWORD@127.0.0.1:$PGTMP_PORT/${DBS1[0]}"
		echo "host=127.0.0.1 nosuchoption=1 password=$PGTMP_PASSWORD"
	} >sub/targets.txt
	cd sub/deeper

	# Options after TARGETS go to mig-apply: only up to 0002 is applied.
	run --separate-stderr just db-migrate-all ../targets.txt --to 0002
	assert_failure 64
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 --regexp "$(summary_re ok "mig@127.0.0.1:$PGTMP_PORT/${DBS1[0]}" 0 2)"
	assert_line --index 1 --regexp "$(summary_re failed '\.\./targets\.txt:2' 64 0)"
	stderr_line exact "../targets.txt:2: mig-wait: invalid connection string given with -d: invalid connection option \"nosuchoption\""
	assert_equal "$(versions 1 "${DBS1[0]}")" "$(want_versions "${DBS1[0]}" -- 0001 0002)"
}

@test "db-migrate-all: usage errors and missing or empty TARGETS files, before anything connects" {
	three_migrations
	run --separate-stderr just db-migrate-all
	assert_failure 64
	assert_output ""
	stderr_line partial "usage: just db-migrate-all [-j N] TARGETS"

	echo "postgresql://mig:$PGTMP_PASSWORD@127.0.0.1:$PGTMP_PORT/$TEST_DB" >targets.txt
	local j
	for j in 0 x -1 ''; do
		run --separate-stderr just db-migrate-all -j "$j" targets.txt
		assert_failure 64
		assert_output ""
		stderr_line partial "db-migrate-all: -j takes a number of databases at a time"
	done
	run --separate-stderr just db-migrate-all --frobnicate targets.txt
	assert_failure 64
	stderr_line partial "unknown option --frobnicate"

	run --separate-stderr env MIG_WAIT_TIMEOUT=soon "$JUST" db-migrate-all targets.txt
	assert_failure 64
	stderr_line partial 'MIG_WAIT_TIMEOUT takes seconds, not "soon"'

	run --separate-stderr just db-migrate-all no-such.txt
	assert_failure 66
	assert_output ""
	stderr_line exact "db-migrate-all: no-such.txt: no such file (TARGETS lists one database per line)"

	mkdir adir
	run --separate-stderr just db-migrate-all adir
	assert_failure 66
	stderr_line partial "adir: is a directory"

	printf '# nothing yet\n\n   \n' >empty.txt
	run --separate-stderr just db-migrate-all empty.txt
	assert_failure 66
	assert_output ""
	stderr_line partial "empty.txt: no database in it"

	# None of it touched the database.
	assert_equal "$(applied_versions)" ""
}

@test "db-migrate-all: TERM reaches each running target once; it reports them, starts no other, exits 143" {
	write_mig 0001_create_a 'CREATE TABLE a (id int);' 'DROP TABLE a;'
	write_mig 0002_sleep 'SELECT pg_sleep(60);' ''
	make_dbs 1 3
	local url=postgresql://mig:$PGTMP_PASSWORD@127.0.0.1:$PGTMP_PORT i
	for i in 0 1 2; do echo "$url/${DBS1[i]}"; done >targets.txt

	"$JUST" db-migrate-all -j 2 targets.txt >out.txt 2>err.txt &
	local pid=$!
	wait_until 30 "SELECT count(*) = 2 FROM pg_stat_activity WHERE application_name = 'mig-apply' AND query LIKE '%pg_sleep%'"
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	cat out.txt err.txt >>"$MIG_OUTPUT_LOG"
	assert_equal "$rc" 143

	# The two running were cancelled, each saying so; the third never ran.
	local h=mig@127.0.0.1:$PGTMP_PORT
	run cat out.txt
	assert_equal "${#lines[@]}" 3
	assert_line --index 0 --regexp "$(summary_re failed "$h/${DBS1[0]}" 143 1)"
	assert_line --index 1 --regexp "$(summary_re failed "$h/${DBS1[1]}" 143 1)"
	assert_line --index 2 --regexp "$(summary_re failed 'targets\.txt:3' 143 0)"
	run cat err.txt
	assert_line "$h/${DBS1[0]}: mig-apply: interrupted by SIGTERM while running 0002_sleep; it was cancelled and rolled back, the 1 applied before it stay applied"
	assert_line "$h/${DBS1[1]}: mig-apply: interrupted by SIGTERM while running 0002_sleep; it was cancelled and rolled back, the 1 applied before it stay applied"
	assert_equal "$(versions 1 "${DBS1[@]}")" \
		"$(want_versions "${DBS1[@]:0:2}" -- 0001; want_versions "${DBS1[2]}" --)"
	assert_equal "$(psql_admin -c "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()")" 0
}

@test "db-migrate-all: with MIG_LOG_FORMAT=json every stderr line is a JSON record naming its target, and an unreachable target is still named" {
	three_migrations
	make_dbs 1 2
	local h1=mig@127.0.0.1:$PGTMP_PORT dead bad=${DBS1[1]}
	dead=$(free_port)
	TEST_DB=$bad psql_admin -c 'CREATE TABLE c (x int); ALTER TABLE c OWNER TO mig'
	{
		echo "postgresql://mig:$PGTMP_PASSWORD@127.0.0.1:$PGTMP_PORT/${DBS1[0]}"
		echo "postgresql://mig:$PGTMP_PASSWORD@127.0.0.1:$dead/nowhere"
		echo "postgresql://mig:$PGTMP_PASSWORD@127.0.0.1:$PGTMP_PORT/$bad"
	} >targets.txt

	run --separate-stderr env MIG_LOG_FORMAT=json MIG_WAIT_TIMEOUT=1 "$JUST" db-migrate-all targets.txt
	assert_failure 75
	# The summary stays tab-separated text; the unreachable target is named
	# from mig-wait's JSON record, not as targets.txt:2.
	assert_equal "${#lines[@]}" 3
	[[ ${lines[0]} =~ $(summary_re ok "$h1/${DBS1[0]}" 0 3) ]] || fail "summary 0: ${lines[0]}"
	[[ ${lines[1]} =~ $(summary_re failed "mig@127.0.0.1:$dead/nowhere" 75 0) ]] || fail "summary 1: ${lines[1]}"
	[[ ${lines[2]} =~ $(summary_re failed "$h1/$bad" 1 2) ]] || fail "summary 2: ${lines[2]}"
	[[ $stderr != *"$PGTMP_PASSWORD"* ]] || fail "a password in stderr"

	printf '%s\n' "$stderr" >err
	run records --merged err
	assert_success
	# No line without its target: not even just's own failure line.
	refute_line --regexp '^[a-z]+ [a-z-]+ (version|name|path|exit|msg)='
	assert_line --regexp "^info db-migrate-all target=$h1/${DBS1[0]} msg=0003\\\\x09create_c\\\\x09migrations/0003_create_c\\.sql$"
	assert_line --regexp "^info mig-apply target=$h1/${DBS1[0]} .*msg=applied 0003 create_c"
	assert_line --regexp "^error mig-wait target=mig@127\\.0\\.0\\.1:$dead/nowhere exit=75 msg=timed out after 1 s: "
	assert_line --regexp "^error mig-apply target=$h1/$bad .*sqlstate=42P07.*msg=migrations/0003_create_c\\.sql:[0-9]+:[0-9]+: ERROR: relation \"c\" already exists"

	# The recipe's own errors are records too, the last one with its exit.
	run --separate-stderr env MIG_LOG_FORMAT=json "$JUST" db-migrate-all --bogus
	assert_failure 64
	printf '%s\n' "$stderr" >err
	run records err
	assert_success
	assert_line --index 0 'error db-migrate-all msg=db-migrate-all: unknown option --bogus (options for mig-apply go after TARGETS)'
	assert_line --index 1 'error db-migrate-all exit=64 msg=usage: just db-migrate-all [-j N] TARGETS [mig-apply option...]'
	run --separate-stderr env MIG_LOG_FORMAT=json "$JUST" db-migrate-all nosuch.txt
	assert_failure 66
	printf '%s\n' "$stderr" >err
	run records err
	assert_success
	assert_output 'error db-migrate-all exit=66 msg=db-migrate-all: nosuch.txt: no such file (TARGETS lists one database per line)'
}

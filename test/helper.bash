# shellcheck shell=bash
# Loaded by every .bats file: `load helper` (or `load ../helper` one level down).
#
# Needs the server that test/setup_suite.bash starts (scripts/test passes it
# with --setup-suite-file; plain `bats test/x.bats` finds it by itself).
#
# Each test gets, from setup():
#   TEST_DB        a fresh database owned by the role mig, dropped in teardown
#   DATABASE_URL   postgresql://mig:PASSWORD@127.0.0.1:PORT/$TEST_DB
#   MIGDIR         $BATS_TEST_TMPDIR/migrations, empty; the cwd is
#                  $BATS_TEST_TMPDIR, so the tools' default `migrations` is it
#   PATH           ${MIG_BIN:-$REPO/bin} first, then the server's bin dir
#   REPO           the repository root
# and no PG* or MIG_* variable, so the tools see DATABASE_URL only.
#
# A file that needs its own setup/teardown must call mig_setup/mig_teardown
# from them.
#
# Password guard: teardown (mig_guard) fails the test if the password of
# DATABASE_URL (or a string given to mig_secret) appears in the output of
# any `run`, stdout or stderr, in what the test printed itself, or in
# $MIG_OUTPUT_LOG, a file where a test adds the output of commands it ran
# outside `run`.

MIG_HELPER_DIR=$(cd "${BASH_SOURCE[0]%/*}" && pwd -P)
REPO=${MIG_HELPER_DIR%/test}
export REPO

# Source a bats library's src/*.bash (what its load.bash does, without the
# forks that cost a fifth of a second per test).
mig_load_lib() {
	local name=$1 dir f
	for dir in ${BATS_LIB_PATH:+${BATS_LIB_PATH//:/ }} /usr/lib/bats /usr/local/lib/bats \
		/usr/lib /usr/local/lib "$REPO/test/lib"; do
		if [[ -f $dir/$name/load.bash ]]; then
			for f in "$dir/$name"/src/*.bash; do
				# shellcheck disable=SC1090
				source "$f"
			done
			return 0
		fi
	done
	echo "helper: cannot find $name (install it: scripts/deps)" >&2
	return 1
}
mig_load_lib bats-support
mig_load_lib bats-assert

bats_require_minimum_version 1.5.0

MIG_BIN=${MIG_BIN:-$REPO/bin}
PATH="$MIG_BIN${PGTMP_BIN:+:$PGTMP_BIN}:$PATH"
export MIG_BIN PATH

# ---- the password guard -------------------------------------------------

# Strings that must never show in any output. The suite's password is
# always one; a test that uses another credential adds it with mig_secret.
MIG_SECRETS=()

mig_secret() {
	local s
	for s in "$@"; do
		[[ -n $s ]] && MIG_SECRETS+=("$s")
	done
	return 0
}

# Every run prints what it captured, as under `bats --verbose-run`, into the
# test's own output ($BATS_OUT), where the guard reads it together with what
# the test printed; bats keeps each run --separate-stderr's stderr in a file
# $BATS_TEST_TMPDIR/separate-stderr-*. So bats' run stays bats' own, with
# nothing of ours to keep in step with it. (A failing test's report shows
# every run's output too.)
# shellcheck disable=SC2034 # bats' run reads it
BATS_VERBOSE_RUN=1

# mig_leak_check FILE...: exit 1 naming the file when a secret appears in
# it. Never prints the secret itself.
mig_leak_check() {
	local f s i leaked=0
	for f in "$@"; do
		[[ -f $f ]] || continue
		for i in "${!MIG_SECRETS[@]}"; do
			s=${MIG_SECRETS[$i]}
			if grep -qF -- "$s" "$f"; then
				echo "password leak: secret #$i appears in $(basename "$f")" >&2
				leaked=1
			fi
		done
	done
	return "$leaked"
}

# Replace every secret in FILE by ***** (so a failure report shows none).
mig_mask_secrets() {
	local f=$1 s text
	[[ -f $f ]] || return 0
	text=$(<"$f")
	for s in "${MIG_SECRETS[@]}"; do
		text=${text//"$s"/*****}
	done
	printf '%s\n' "$text" >"$f"
}

# mig_guard: fail, saying so, when a secret appears in what this test
# printed or any of its runs captured (see BATS_VERBOSE_RUN above), or in
# $MIG_OUTPUT_LOG, where a test adds what commands it ran outside run (in
# the background, say) printed. Masks them all, so the report shows none.
mig_guard() {
	local f files=()
	for f in ${BATS_OUT:+"$BATS_OUT"} ${MIG_OUTPUT_LOG:+"$MIG_OUTPUT_LOG"} \
		"${BATS_TEST_TMPDIR:?}"/separate-stderr-*; do
		[[ -f $f ]] && files+=("$f")
	done
	((${#files[@]})) || return 0
	mig_leak_check "${files[@]}" && return 0
	echo "a password appeared in the output of this test (masked in this report)"
	for f in "${files[@]}"; do
		mig_mask_secrets "$f"
	done
	return 1
}

# A bare `wait` would also wait for bats' own timeout watchdog (a child of
# the test when BATS_TEST_TIMEOUT is set, as scripts/test sets it) and so
# hang until the timeout. This one waits for the test's own jobs only.
wait() {
	if (($#)); then
		builtin wait "$@"
		return
	fi
	local p pids=()
	for p in $(jobs -p); do
		[[ $p == "${BATS_killer_pid:-}" ]] || pids+=("$p")
	done
	if ((${#pids[@]})); then
		builtin wait "${pids[@]}" || true
	fi
	return 0
}

# ---- database helpers ---------------------------------------------------

# A loopback port nobody listens on.
free_port() {
	local p i
	for ((i = 0; i < 50; i++)); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# bg_cleanup: stop the background psql a test started (its pid in BG_PID,
# its backend in BG_BACKEND), by pid.
bg_cleanup() {
	if [[ -n ${BG_PID:-} ]]; then
		kill "$BG_PID" 2>/dev/null || true
		wait "$BG_PID" 2>/dev/null || true
		BG_PID=
	fi
	if [[ -n ${BG_BACKEND:-} ]]; then
		psql_admin -c "SELECT pg_terminate_backend($BG_BACKEND)" >/dev/null || true
		BG_BACKEND=
	fi
}

# hold_advisory_lock [TABLE [SECONDS]]: another session takes the migration
# lock of public.TABLE (default mig_history) and keeps it for SECONDS
# (default 20); BG_PID is that psql, BG_BACKEND its backend's pid, for
# bg_cleanup.
hold_advisory_lock() {
	local key="mig:public.${1:-mig_history}" secs=${2:-20} i
	psql_admin -c "SELECT pg_advisory_lock(hashtextextended('$key', 0))" \
		-c "SELECT pg_sleep($secs)" >/dev/null 2>&1 &
	BG_PID=$!
	for ((i = 0; i < 200; i++)); do
		BG_BACKEND=$(psql_admin -c "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
		[[ -n $BG_BACKEND ]] && return 0
		sleep 0.05
	done
	return 1
}

# psql as the superuser, over the server's unix socket, on the test's
# database (or the one in $PSQL_ADMIN_DB). Pass -c SQL, or SQL on stdin.
psql_admin() {
	env -u PGPASSWORD -u PGSERVICE -u PGOPTIONS -u PGSSLMODE \
		PGCONNECT_TIMEOUT=10 \
		"${PGTMP_BIN:+$PGTMP_BIN/}psql" -h "$PGTMP_SOCKDIR" -p "$PGTMP_PORT" -U postgres \
		-d "${PSQL_ADMIN_DB:-$TEST_DB}" -XAtq -v ON_ERROR_STOP=1 "$@"
}

# write_mig [--no-tx] VERSION_NAME UP_SQL [DOWN_SQL]
# Writes $MIGDIR/VERSION_NAME.sql in the dbmate layout. Without DOWN_SQL the
# migration has no down section (irreversible); an empty DOWN_SQL gives a
# down marker with nothing after it. --no-tx marks both sections
# transaction:false.
write_mig() {
	local opts=''
	if [[ ${1:-} == --no-tx ]]; then
		opts=' transaction:false'
		shift
	fi
	(($# >= 2)) || { echo "usage: write_mig [--no-tx] VERSION_NAME UP [DOWN]" >&2; return 64; }
	local file=$MIGDIR/$1.sql
	{
		printf -- '-- migrate:up%s\n%s\n' "$opts" "$2"
		if (($# >= 3)); then
			printf -- '-- migrate:down%s\n%s\n' "$opts" "$3"
		fi
	} >"$file"
}

# big_mig copy|insert VERSION_NAME ROWS [BAD_ROW]: writes a data migration
# of ROWS rows (about 90 bytes each) into a new table items, in pg_dump's
# COPY form or as one INSERT a row. With BAD_ROW, that row's INSERT names
# a column that does not exist, at its column 20 (insert only).
big_mig() {
	awk -v kind="$1" -v rows="$3" -v bad="${4:-0}" '
	BEGIN {
		print "-- migrate:up"
		print "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, note text);"
		if (kind == "copy")
			print "COPY public.items (id, name, note) FROM stdin;"
		for (i = 1; i <= rows; i++) {
			name = sprintf("item-%08d-%s", i, "abcdefghijklmnopqrstuvwxyz")
			if (kind == "copy")
				print i "\t" name "\t" (i % 5 ? "note \\t " i : "\\N")
			else if (i == bad)
				print "INSERT INTO items (nosuchcol) VALUES (" i ");"
			else
				print "INSERT INTO items VALUES (" i ", \047" name "\047, " (i % 5 ? "\047it\047\047s " i "\047" : "NULL") ");"
		}
		if (kind == "copy")
			print "\\."
		print "-- migrate:down"
		print "DROP TABLE items;"
	}' >"$MIGDIR/$2.sql"
}

# put FILE [TEXT]: write $MIGDIR/FILE exactly as TEXT with its printf %b
# escapes, or without TEXT as stdin byte for byte.
put() {
	if (($# >= 2)); then
		printf '%b' "$2" >"$MIGDIR/$1"
	else
		cat >"$MIGDIR/$1"
	fi
}

# apply [ARGS...]: `mig-list | mig-apply ARGS` on the default directory,
# failing as mig-list would when the listing itself fails.
apply() {
	mig-list >"$BATS_TEST_TMPDIR/list" || return
	mig-apply "$@" <"$BATS_TEST_TMPDIR/list"
}

# revert [ARGS...]: `mig-list | mig-revert ARGS`, the same way.
revert() {
	mig-list >"$BATS_TEST_TMPDIR/list" || return
	mig-revert "$@" <"$BATS_TEST_TMPDIR/list"
}

# line VERSION NAME [PATH]: the list line mig-list gives (and mig-apply and
# mig-revert print) for migrations/VERSION_NAME.sql, or for PATH.
line() {
	printf '%s\t%s\t%s' "$1" "$2" "${3:-migrations/$1_$2.sql}"
}

# sha TEXT: the hex SHA-256 of TEXT as given (no newline added).
sha() {
	printf '%s' "$1" | sha256sum | cut -d' ' -f1
}

# applied_versions [TABLE]: the version column of the history table, one per
# line in id order; nothing when the table does not exist.
applied_versions() {
	local table=${1:-mig_history}
	psql_admin -v t="$table" <<-'EOF'
		SELECT format('SELECT version FROM %s ORDER BY id', :'t')
		WHERE to_regclass(:'t') IS NOT NULL
		\gexec
	EOF
}

# table_exists NAME: true when the relation [schema.]NAME exists.
table_exists() {
	local r
	r=$(psql_admin -v n="$1" <<<"SELECT to_regclass(:'n') IS NOT NULL")
	[[ $r == t ]]
}

# wait_until SECONDS SQL: polls SQL (as the superuser) until it returns t.
wait_until() {
	local secs=$1 sql=$2 i
	for ((i = 0; i < secs * 20; i++)); do
		[[ $(psql_admin -c "$sql") == t ]] && return 0
		sleep 0.05
	done
	echo "timed out after ${secs}s waiting for: $sql" >&2
	return 1
}

# proc_title PID: the process title of PID (what ps shows: its
# /proc/PID/cmdline, NULs as spaces, trailing ones dropped).
proc_title() {
	local t
	t=$(tr '\0' ' ' <"/proc/$1/cmdline") || return
	printf '%s\n' "${t%"${t##*[! ]}"}"
}

# wait_title SECONDS PID PATTERN: until PID's title matches the glob PATTERN
# (or PID is gone).
wait_title() {
	local secs=$1 pid=$2 pattern=$3 i
	for ((i = 0; i < secs * 20; i++)); do
		# shellcheck disable=SC2053 # a glob, by design
		[[ $(proc_title "$pid" 2>/dev/null) == $pattern ]] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	echo "no title like '$pattern' for pid $pid; it was: $(proc_title "$pid" 2>&1)" >&2
	return 1
}

# pg_restart: restart the shared server (fast shutdown, data kept).
pg_restart() {
	"$REPO/scripts/pgtmp" restart "$PGTMP_DIR"
}

# pg_halt [fast|immediate|smart]: stop the shared server, data kept. A test
# that calls it must call pg_resume before it ends (its teardown needs the
# server, and so do the tests after it).
pg_halt() {
	"$REPO/scripts/pgtmp" halt "$PGTMP_DIR" "${1:-fast}"
}

# pg_resume: start the shared server again after pg_halt (same port).
pg_resume() {
	"$REPO/scripts/pgtmp" start "$PGTMP_DIR" >/dev/null
}

# ---- just -------------------------------------------------------------

# find_just: the native just binary when rust-just's launcher wraps it (the
# launcher costs a second per call); otherwise whatever `just` is.
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

# just_setup_file: for a file's setup_file, JUST exported as find_just's
# answer, or empty when there is no just. Its tests call need_just in
# setup: bats 1.8.2 takes a skip in setup_file for a failure.
just_setup_file() {
	JUST=$(find_just) || JUST=
	export JUST
}

# need_just: skips the test when just_setup_file found no just.
need_just() {
	[[ -n $JUST ]] || skip "just is not installed"
}

# just ARGS...: $JUST (find_just's answer, which the file's setup_file sets).
just() { "${JUST:?no JUST: set it from find_just in setup_file}" "$@"; }

# ---- docker ------------------------------------------------------------

# mig_docker_engine: an engine for a docker test file (scripts/docker-engine,
# installed unless MIG_TEST_BUILD=0, started when none answers). Exports
# DOCKER_HOST and MIG_TEST_ENGINE_STARTED, or, when the file must skip,
# the reason in MIG_TEST_DOCKER_SKIP (and returns 0).
mig_docker_engine() {
	if [[ ${MIG_TEST_DOCKER:-1} == 0 ]]; then
		export MIG_TEST_DOCKER_SKIP="MIG_TEST_DOCKER=0"
		return 0
	fi
	if [[ ${MIG_TEST_BUILD:-1} == 0 ]]; then
		if ! "$REPO/scripts/docker-engine" installed; then
			export MIG_TEST_DOCKER_SKIP="no Docker engine installed (scripts/deps docker installs one)"
			return 0
		fi
	else
		"$REPO/scripts/docker-engine" install
	fi
	if "$REPO/scripts/docker-engine" status >/dev/null 2>&1; then
		export MIG_TEST_ENGINE_STARTED=0
	else
		export MIG_TEST_ENGINE_STARTED=1
	fi
	DOCKER_HOST=$("$REPO/scripts/docker-engine" start)
	export DOCKER_HOST
}

# mig_docker_setup_file [--no-image]: what a docker test file's setup_file
# needs: an engine (scripts/docker-engine, started when none answers), the
# base and postgres images (scripts/docker-base) and, unless --no-image,
# the mig image, built once as mig:test (MIG_TEST_DOCKER_IMAGE=NAME uses
# that one instead). Exports
# DOCKER_HOST, MIG_IMAGE and MIG_TEST_ENGINE_STARTED. When the file must
# skip (MIG_TEST_DOCKER=0, or MIG_TEST_BUILD=0 with no engine installed) it
# exports the reason in MIG_TEST_DOCKER_SKIP and returns 0: bats 1.8.2 takes
# a skip in setup_file for a failure, so each test's setup skips with it.
mig_docker_setup_file() {
	mig_docker_engine || return
	[[ -z ${MIG_TEST_DOCKER_SKIP:-} ]] || return 0
	"$REPO/scripts/docker-base" all
	[[ ${1:-} != --no-image ]] || return 0
	if [[ -n ${MIG_TEST_DOCKER_IMAGE:-} ]]; then
		export MIG_IMAGE=$MIG_TEST_DOCKER_IMAGE
		return 0
	fi
	export MIG_IMAGE=mig:test
	# The build stage gets a name too, so that when a later run replaces it
	# the old one can be pruned (mig_docker_teardown_file) without losing
	# the cache of the current one.
	local target
	for target in "--target build -t mig:test-build" "-t $MIG_IMAGE"; do
		# shellcheck disable=SC2086 # target is several words
		docker build --network host -q --label org.mig.test-image=1 $target "$REPO" \
			>/dev/null 2>"$BATS_FILE_TMPDIR/build.log" ||
			{ cat "$BATS_FILE_TMPDIR/build.log" >&2; return 1; }
	done
}

# mig_compose ARGS...: compose v2 (`docker compose`) when it answers, else
# v1 (`docker-compose`).
mig_compose() {
	if docker compose version >/dev/null 2>&1; then
		docker compose "$@"
	else
		docker-compose "$@"
	fi
}

# mig_docker_teardown_file [KEEP]: prune the images earlier runs' builds
# left, and stop the engine if mig_docker_setup_file started it (unless
# KEEP is 1).
mig_docker_teardown_file() {
	[[ -n ${DOCKER_HOST:-} ]] || return 0
	docker image prune -f --filter label=org.mig.test-image=1 >/dev/null 2>&1 || true
	if [[ ${MIG_TEST_ENGINE_STARTED:-0} == 1 && ${1:-0} != 1 ]]; then
		"$REPO/scripts/docker-engine" stop
	fi
}

# just_project: make the test's directory (the cwd) a project for the
# recipes, as PROJ: the justfile and mig.just of this checkout, bin/ the
# tools under test (the recipes put it first on PATH), migrations/
# ($MIGDIR). Only what a test sets reaches the recipes: POSTGRES_*,
# COMPOSE*, MIG_* (but the harness's own) and DOCKER_DATABASE_URL are
# unset. Call it after mig_setup.
just_project() {
	local v
	for v in "${!POSTGRES_@}" "${!COMPOSE@}" "${!MIG_@}" DOCKER_DATABASE_URL; do
		case $v in
			MIG_BIN | MIG_OUTPUT_LOG | MIG_SECRETS | MIG_HELPER_DIR | MIG_TEST_*) ;;
			*) unset "$v" ;;
		esac
	done
	PROJ=$BATS_TEST_TMPDIR
	cp "$REPO/justfile" "$REPO/mig.just" "$PROJ/"
	ln -s "$MIG_BIN" "$PROJ/bin"
}

# ---- setup / teardown ---------------------------------------------------

mig_setup() {
	if [[ -z ${PGTMP_URL:-} || -z ${PGTMP_SOCKDIR:-} ]]; then
		echo "helper: no test server; run scripts/test, or bats --setup-suite-file test/setup_suite.bash" >&2
		return 1
	fi
	MIG_SECRETS=("$PGTMP_PASSWORD")

	# The tools must see DATABASE_URL only.
	local v
	for v in "${!PG@}" MIG_TABLE MIG_DIR DATABASE_URL; do
		case $v in
			PGTMP_*) ;;
			*) unset "$v" ;;
		esac
	done

	TEST_DB="mig_t${BATS_SUITE_TEST_NUMBER}_$$_${RANDOM}"
	export TEST_DB
	PSQL_ADMIN_DB=postgres psql_admin -c "CREATE DATABASE $TEST_DB OWNER mig STRATEGY FILE_COPY"

	DATABASE_URL="postgresql://mig:${PGTMP_PASSWORD}@127.0.0.1:${PGTMP_PORT}/${TEST_DB}"
	export DATABASE_URL

	MIG_OUTPUT_LOG=$BATS_TEST_TMPDIR/mig-output.log
	: >"$MIG_OUTPUT_LOG"
	MIGDIR=$BATS_TEST_TMPDIR/migrations
	mkdir -p "$MIGDIR"
	export MIGDIR
	cd "$BATS_TEST_TMPDIR" || return 1
}

mig_teardown() {
	local rc=0
	cd "$BATS_TEST_TMPDIR" 2>/dev/null || cd /
	if [[ -n ${TEST_DB:-} ]]; then
		PSQL_ADMIN_DB=postgres psql_admin \
			-c "DROP DATABASE IF EXISTS $TEST_DB WITH (FORCE)" || rc=1
	fi
	mig_guard || rc=1
	return "$rc"
}

setup() { mig_setup; }
teardown() { mig_teardown; }

# records [--merged] FILE: checks that every line of FILE is a JSON object
# (strict UTF-8, nothing else on the line) with a ts in RFC 3339 UTC, tool,
# level and msg, that only the last line may carry exit (with --merged, the
# stderr of several runs, any line may), and that line, col, duration_ms
# and exit are numbers; then prints one line per record, "level tool
# key=value ..." for the keys other than ts and msg, in the order given,
# so that tests match them with assert_line.
records() {
	local merged=0
	if [[ $1 == --merged ]]; then
		merged=1
		shift
	fi
	python3 - "$1" "$merged" <<-'EOF'
		import json, re, sys
		def show(s):
		    # Control characters as \xNN, so that a record stays one line.
		    return ''.join(c if c >= ' ' else f'\\x{ord(c):02x}' for c in s)
		lines = open(sys.argv[1], 'rb').read().split(b'\n')
		if lines[-1] != b'':
		    sys.exit('the last line does not end with a newline')
		lines = lines[:-1]
		if not lines:
		    sys.exit('no records')
		for i, raw in enumerate(lines, 1):
		    try:
		        r = json.loads(raw.decode('utf-8'))
		    except Exception as e:
		        sys.exit(f'line {i} is not JSON: {e}: {raw!r}')
		    if not isinstance(r, dict):
		        sys.exit(f'line {i} is not an object')
		    for k in ('ts', 'tool', 'level', 'msg'):
		        if not isinstance(r.get(k), str):
		            sys.exit(f'line {i} has no string {k}: {r}')
		    if not re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z', r['ts']):
		        sys.exit(f'line {i}: ts {r["ts"]!r} is not RFC 3339 UTC')
		    if r['level'] not in ('info', 'notice', 'warning', 'error'):
		        sys.exit(f'line {i}: level {r["level"]!r}')
		    for k in ('line', 'col', 'duration_ms', 'exit'):
		        if k in r and (type(r[k]) is not int or r[k] < 0):
		            sys.exit(f'line {i}: {k} is not a number: {r[k]!r}')
		    if 'exit' in r and i != len(lines) and sys.argv[2] == '0':
		        sys.exit(f'line {i} carries exit but is not the last')
		    out = [r['level'], r['tool']]
		    keys = [k for k in r if k not in ('ts', 'tool', 'level', 'msg')]
		    for k in keys + ['msg']:
		        out.append(f'{k}=' + show(str(r[k])))
		    print(' '.join(out))
	EOF
}

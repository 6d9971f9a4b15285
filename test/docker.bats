#!/usr/bin/env bats
# The four workflows of the justfile on a real Docker engine and a real
# PostgreSQL container: host, exec, one-shot, and the migration service,
# with every -docker twin compared with its host recipe.
#
# setup_file does the slow part once: an engine (scripts/docker-engine),
# the base and postgres images (scripts/docker-base), the mig image, and a
# copy of the project in a temporary directory so that nothing here touches
# the checkout's migrations/. Every container uses host networking
# (test/docker/compose.host.yml); the name postgres resolves to 127.0.0.1.
#
# MIG_TEST_DOCKER=0 skips the file, and so does MIG_TEST_BUILD=0 (make
# check, which installs nothing) when no engine is installed.
# MIG_TEST_DOCKER_KEEP=1 leaves the compose project running after the tests
# (to look at it).
# MIG_TEST_DOCKER_IMAGE=NAME uses that mig image instead of building one.

load helper

# ---- shared state --------------------------------------------------------

find_compose() {
	if docker compose version >/dev/null 2>&1; then
		echo "docker compose"
	else
		echo docker-compose
	fi
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# bats 1.8.2 takes a skip in setup_file for a failure: setup_file leaves
# the reason in MIG_TEST_DOCKER_SKIP, and setup skips each test with it.
setup_file() {
	local t0=$SECONDS

	# Only what the tests set reaches the recipes.
	local v
	for v in "${!PG@}" "${!POSTGRES_@}" "${!COMPOSE@}" "${!MIG_@}" DATABASE_URL DOCKER_DATABASE_URL; do
		case $v in
			PGTMP_* | MIG_BIN | MIG_TEST_*) ;;
			*) unset "$v" ;;
		esac
	done

	mig_docker_setup_file || return
	[[ -z ${MIG_TEST_DOCKER_SKIP:-} ]] || return 0
	[[ -x $MIG_BIN/mig-apply ]] || { echo "no $MIG_BIN/mig-apply: run make first" >&2; return 1; }
	echo "# images ready after $((SECONDS - t0)) s" >&3

	# The project as a team would have it, in a directory of its own.
	export PROJ=$BATS_FILE_TMPDIR/proj
	mkdir -p "$PROJ/test/docker"
	cp "$REPO/justfile" "$REPO/mig.just" "$REPO/docker-compose.yml" "$REPO/docker-compose.override.yml" "$PROJ/"
	cp "$REPO/test/docker/compose.host.yml" "$PROJ/test/docker/"
	cp -r "$REPO/migrations" "$PROJ/migrations"
	# The tools as built now (the recipes put the project's bin/ first on
	# PATH), so a rebuild in the checkout meanwhile does not reach them.
	mkdir "$PROJ/bin"
	cp "$MIG_BIN"/mig-* "$PROJ/bin/"

	export COMPOSE_PROJECT_NAME=migtest$$
	export COMPOSE_FILE=$PROJ/docker-compose.yml:$PROJ/test/docker/compose.host.yml
	# A password of its own, which no output may show (see teardown).
	POSTGRES_PASSWORD=pw-docker-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
	export POSTGRES_PASSWORD
	# The real postgres:5432 when the port is free; another one otherwise
	# (the host-network override makes the containers follow it).
	if port_free 5432; then
		export POSTGRES_PORT=5432
	else
		local p
		for ((p = 25432; p < 25532; p++)); do port_free "$p" && break; done
		export POSTGRES_PORT=$p
	fi
	echo "# postgres on 127.0.0.1:$POSTGRES_PORT" >&3

	JUST=$(find_just)
	COMPOSE_CMD=$(find_compose)
	export JUST COMPOSE_CMD

	cd "$PROJ" || return
	"$JUST" db-up >"$BATS_FILE_TMPDIR/db-up.log" 2>&1 ||
		{ cat "$BATS_FILE_TMPDIR/db-up.log" >&2; return 1; }
	"$JUST" db-stack-up >"$BATS_FILE_TMPDIR/up.log" 2>&1 ||
		{ cat "$BATS_FILE_TMPDIR/up.log" >&2; return 1; }
	(cd "$PROJ" && bin/mig-list migrations) >"$BATS_FILE_TMPDIR/expected"
	echo "# setup_file took $((SECONDS - t0)) s" >&3
}

teardown_file() {
	[[ -n ${DOCKER_HOST:-} ]] || return 0
	if [[ -n ${PROJ:-} && ${MIG_TEST_DOCKER_KEEP:-0} != 1 ]]; then
		(cd "$PROJ" && dc --profile migration down -v --remove-orphans) >/dev/null 2>&1 || true
	fi
	# Images of earlier runs that this run's builds replaced.
	docker image prune -f --filter label=org.mig.test-image=1 >/dev/null 2>&1 || true
	if [[ ${MIG_TEST_ENGINE_STARTED:-0} == 1 && ${MIG_TEST_DOCKER_KEEP:-0} != 1 ]]; then
		"$REPO/scripts/docker-engine" stop
	fi
}

setup() {
	[[ -z ${MIG_TEST_DOCKER_SKIP:-} ]] || skip "$MIG_TEST_DOCKER_SKIP"
	cd "$PROJ" || return
	mig_secret "$POSTGRES_PASSWORD"
}

teardown() {
	mig_guard
}

# ---- helpers -------------------------------------------------------------

# shellcheck disable=SC2086 # COMPOSE_CMD is one or two words
dc() { $COMPOSE_CMD "$@"; }

# SQL as the compose database's superuser, from the host.
sql() {
	PGPASSWORD=$POSTGRES_PASSWORD PGCONNECT_TIMEOUT=10 \
		psql -h 127.0.0.1 -p "$POSTGRES_PORT" -U postgres -d "${SQL_DB:-app}" \
		-XAtq -v ON_ERROR_STOP=1 "$@"
}

# The versions in the history table, in the order applied.
history_versions() {
	sql -c "SELECT version FROM mig_history ORDER BY id" 2>/dev/null || true
}

# A database with nothing applied: drop and recreate `app`.
fresh_db() {
	SQL_DB=postgres sql -c 'DROP DATABASE IF EXISTS app WITH (FORCE)' -c 'CREATE DATABASE app'
}

expected() { cat "$BATS_FILE_TMPDIR/expected"; }

# True while some session runs the slow test migration's pg_sleep.
sleeping_migration() {
	[[ $(sql -c "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(120)%' AND pid <> pg_backend_pid()") != 0 ]]
}

expected_reversed() { tac "$BATS_FILE_TMPDIR/expected"; }

all_versions() { cut -f1 "$BATS_FILE_TMPDIR/expected"; }

container_of() { dc --profile migration ps -a -q "$1"; }

# health_of CONTAINER_ID
health_of() { docker inspect -f '{{.State.Health.Status}}' "$1"; }

# wait_for SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.5
	done
}

app_healthy() { [[ $(health_of "$(container_of app)") == healthy ]]; }

# A new app container, which has not yet seen the schema current.
restart_app() {
	dc rm -fsv app >/dev/null 2>&1
	dc up -d app >/dev/null 2>&1
}

# ---- the menu and the settings -------------------------------------------

@test "just --list shows every workflow recipe, in groups, each with a doc comment" {
	run --separate-stderr just --list --unsorted
	assert_success
	local r
	for r in 'db-migrate *ARGS' 'db-migrate-docker *ARGS' 'db-migrate-run *ARGS' db-migrate-service \
		'db-make +ARGS' 'db-make-docker +ARGS' 'db-history *ARGS' 'db-history-docker *ARGS' \
		'db-current *ARGS' 'db-current-docker *ARGS' 'db-downgrade *ARGS' 'db-downgrade-docker *ARGS' \
		'db-reset *ARGS' 'db-reset-docker *ARGS' 'db-redo *ARGS' 'db-redo-docker *ARGS' \
		'db-check *ARGS' 'db-stamp *ARGS' 'db-stamp-docker *ARGS' 'db-repair *ARGS' \
		'db-repair-docker *ARGS' 'db-create *ARGS' 'db-create-docker *ARGS' 'db-dump *ARGS' \
		'db-dump-docker *ARGS' db-up db-down 'db-wait *ARGS' 'db-status *ARGS'; do
		assert_line --regexp "^    $(printf '%s' "$r" | sed 's/[+.*]/\\&/g') +# [A-Z]"
	done
	local g
	for g in host exec container database; do
		assert_line "    [$g]"
	done
	# The default recipe is the same menu.
	local menu=$output
	run --separate-stderr just
	assert_success
	assert_output "$menu"
}

@test "host and docker URLs default to localhost:5432 and postgres:5432; .env and DATABASE_URL override them" {
	local clean=(env -u POSTGRES_PASSWORD -u POSTGRES_PORT -u DATABASE_URL -u DOCKER_DATABASE_URL)
	run "${clean[@]}" "$JUST" --evaluate mig_default_url
	assert_success
	assert_output "postgres://postgres:devpass@localhost:5432/app"
	# The containers reach postgres:5432 through libpq's variables.
	# shellcheck disable=SC2086 # COMPOSE_CMD is one or two words
	run "${clean[@]}" COMPOSE_FILE="$PROJ/docker-compose.yml" $COMPOSE_CMD config
	assert_success
	assert_line --regexp '^ +PGHOST: postgres$'
	assert_line --regexp "^ +PGPORT: ['\"]?5432['\"]?$"
	assert_line --regexp "^ +DATABASE_URL: ['\"]{0,2}$"

	printf 'POSTGRES_PORT=6543\nPOSTGRES_DB=shop\nDOCKER_DATABASE_URL=postgres://u@db:1/z\n' >.env
	run "${clean[@]}" "$JUST" --evaluate mig_default_url
	assert_output "postgres://postgres:devpass@localhost:6543/shop"
	run "${clean[@]}" "$JUST" --evaluate mig_docker_database_url
	assert_output "postgres://u@db:1/z"

	# DATABASE_URL, from .env or the environment (which wins), is what the
	# host recipes connect to: the tools' error names it.
	local port
	port=$(free_port)
	printf 'DATABASE_URL=postgres://u@127.0.0.1:%s/x\n' "$port" >.env
	run --separate-stderr "${clean[@]}" "$JUST" db-current
	assert_failure 69
	[[ $stderr == *"u@127.0.0.1:$port/x"* ]] || fail "$stderr"
	run --separate-stderr "${clean[@]}" DATABASE_URL="postgres://v@127.0.0.1:$port/y" "$JUST" db-current
	assert_failure 69
	[[ $stderr == *"v@127.0.0.1:$port/y"* ]] || fail "$stderr"
	rm -f .env

	# Loading the recipes runs nothing; the recipes that use compose find
	# one that works here (every test below), and COMPOSE names another.
	run "$JUST" --evaluate mig_compose
	assert_output ""
	run --separate-stderr env COMPOSE="$COMPOSE_CMD" "$JUST" db-current-docker
	assert_success
	run --separate-stderr env COMPOSE=false "$JUST" db-current-docker
	assert_failure 1
}

@test "a project's own justfile takes the recipes with import or mod, and they run in the project" {
	just db-migrate >/dev/null 2>&1
	run --separate-stderr just db-history
	assert_success
	local want=$output

	# Settings, a variable and a default recipe of its own do not clash.
	mkdir -p vendor/mig
	cp mig.just vendor/mig/mig.just
	cat >team.just <<-'EOF'
		set dotenv-load
		set shell := ["sh", "-c"]
		compose := "podman-compose"
		default:
		    @echo team
		import 'vendor/mig/mig.just'
	EOF
	run --separate-stderr just --justfile team.just db-history
	assert_success
	assert_output "$want"
	run --separate-stderr just --justfile team.just db-history-docker
	assert_success
	assert_output "$want"

	cat >team.just <<-'EOF'
		set dotenv-load
		default:
		    @echo team
		mod mig 'vendor/mig/mig.just'
	EOF
	run --separate-stderr just --justfile team.just mig db-history
	assert_success
	assert_output "$want"
	run --separate-stderr just --justfile team.just mig db-history-docker
	assert_success
	assert_output "$want"
	rm -rf team.just vendor
}

# ---- the four ways to migrate ---------------------------------------------

@test "host: just db-migrate applies the demo migrations; a second run applies nothing" {
	fresh_db
	run --separate-stderr just db-migrate
	assert_success
	assert_output "$(expected)"
	cp <(printf '%s\n' "$output") "$BATS_FILE_TMPDIR/host-migrate.out"
	run history_versions
	assert_output "$(all_versions)"
	run sql -c "SELECT to_regclass('public.users') IS NOT NULL AND to_regclass('public.sessions') IS NOT NULL"
	assert_output t

	run --separate-stderr just db-migrate
	assert_success
	assert_output ""
	run history_versions
	assert_output "$(all_versions)"
}

@test "exec: just db-migrate-docker applies in the app container and prints what the host recipe printed" {
	[[ -f $BATS_FILE_TMPDIR/host-migrate.out ]] || skip "needs the host test's output"
	fresh_db
	run --separate-stderr just db-migrate-docker
	assert_success
	assert_output "$(cat "$BATS_FILE_TMPDIR/host-migrate.out")"
	run history_versions
	assert_output "$(all_versions)"
	run sql -c "SELECT count(*) FROM mig_history WHERE path LIKE 'migrations/%' AND applied_by = 'postgres'"
	assert_output "$(expected | wc -l)"

	run --separate-stderr just db-migrate-docker
	assert_success
	assert_output ""
}

@test "one-shot: just db-migrate-run applies in a removed container; a second run applies nothing" {
	fresh_db
	run --separate-stderr just db-migrate-run
	assert_success
	assert_output "$(expected)"
	run history_versions
	assert_output "$(all_versions)"

	run --separate-stderr just db-migrate-run
	assert_success
	assert_output ""
	# --rm: no one-off container is left behind.
	run docker ps -aq --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" \
		--filter label=com.docker.compose.service=migrate
	assert_output ""
}

@test "service: the app is not ready until just db-migrate-service has applied everything" {
	fresh_db
	restart_app
	# The app is up and polling, and stays unready while nothing is applied.
	local app i
	app=$(container_of app)
	wait_for 60 bash -c "docker logs $app 2>&1 | grep -q 'waiting until the migrations'"
	for ((i = 0; i < 6; i++)); do
		[[ $(health_of "$app") != healthy ]] || fail "app reported healthy with nothing applied"
		sleep 0.5
	done

	run --separate-stderr just db-migrate-service
	assert_success
	assert_output "$(expected)"
	run history_versions
	assert_output "$(all_versions)"
	# The migrate container ran once and exited 0.
	run docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$(container_of migrate)"
	assert_output "exited 0"

	wait_for 60 app_healthy || fail "app not healthy 60 s after the migrations were applied"
	# It became ready after the last migration was recorded, not before.
	local ready last
	ready=$(docker exec "$(container_of app)" stat -c %.3Y /tmp/mig-ready)
	last=$(sql -c "SELECT extract(epoch FROM max(applied_at)) FROM mig_history")
	run awk -v r="$ready" -v l="$last" 'BEGIN { exit !(r >= l) }'
	assert_success

	run --separate-stderr just db-migrate-service
	assert_success
	assert_output ""
	run docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$(container_of migrate)"
	assert_output "exited 0"
}

@test "service: a failing migration makes just db-migrate-service fail with mig-apply's status" {
	fresh_db
	printf -- '-- migrate:up\nSELECT * FROM no_such_table;\n-- migrate:down\n' >migrations/9000_broken.sql
	run --separate-stderr just db-migrate-service
	rm -f migrations/9000_broken.sql
	assert_failure 1
	assert_output "$(expected)"
	[[ $stderr == *"migrations/9000_broken.sql:2:15: ERROR:"*"(SQLSTATE 42P01)"* ]] ||
		fail "no file:line:col error in: $stderr"
	run history_versions
	assert_output "$(all_versions)"
}

@test "service: docker stop cancels the running migration; exit 143 and nothing half-applied" {
	fresh_db
	printf -- '-- migrate:up\nCREATE TABLE slow_t (id int);\nSELECT pg_sleep(120);\n-- migrate:down\nDROP TABLE slow_t;\n' \
		>migrations/9000_slow.sql
	dc --profile migration rm -fsv migrate >/dev/null 2>&1 || true
	dc --profile migration up -d migrate >/dev/null 2>&1
	local id
	id=$(container_of migrate)
	wait_for 60 sleeping_migration || { rm -f migrations/9000_slow.sql; fail "the slow migration never started"; }
	docker stop -t 30 "$id" >/dev/null
	rm -f migrations/9000_slow.sql
	run docker inspect -f '{{.State.ExitCode}}' "$id"
	assert_output 143
	run docker logs "$id"
	assert_line --partial "SIGTERM"
	run sql -c "SELECT to_regclass('slow_t') IS NULL"
	assert_output t
	run history_versions
	assert_output "$(all_versions)"
}

# ---- new migrations: writable from the host and exec, not in migrate -----

@test "db-make-docker writes into the host's migrations/, owned by the caller, as db-make does" {
	run --separate-stderr just db-make-docker add widgets
	assert_success
	local n1=$output
	run --separate-stderr just db-make Add Gadgets!
	assert_success
	local n2=$output
	rm -f "$n1" "$n2"

	local last next
	last=$(expected | tail -1 | cut -f1)
	next=$(printf '%0*d' "${#last}" $((10#$last + 1)))
	assert_equal "$n1" "migrations/${next}_add_widgets.sql"
	next=$(printf '%0*d' "${#last}" $((10#$last + 2)))
	assert_equal "$n2" "migrations/${next}_add_gadgets.sql"
}

@test "db-make-docker: the new file is the template and belongs to the invoking user" {
	run --separate-stderr just db-make-docker owner check
	assert_success
	local f=$output
	[[ -f $f ]] || fail "$f was not created on the host"
	run stat -c '%u:%g' "$f"
	assert_output "$(id -u):$(id -g)"
	run cat "$f"
	rm -f "$f"
	assert_output "$(printf -- '-- migrate:up\n\n-- migrate:down\n')"
}

@test "db-make-docker, like db-make, prints the new file's path from the directory just was run in" {
	mkdir -p src/deep
	cd src/deep
	run --separate-stderr just db-make-docker add from deep
	local there=0
	[[ -n $output && -f $output ]] && there=1
	cd "$PROJ"
	rm -rf src migrations/*_add_from_deep.sql
	assert_success
	assert_output --regexp '^\.\./\.\./migrations/[0-9]+_add_from_deep\.sql$'
	((there)) || fail "not a file from src/deep: $output"
}

@test "mig-new in the migrate service fails on the read-only mount: exit 73 and where to create migrations" {
	local before
	before=$(ls migrations)
	run --separate-stderr dc run --rm -T migrate mig-new add nothing
	assert_failure 73
	assert_output ""
	[[ $stderr == *"read-only"*"host or exec workflow"* ]] || fail "unexpected message: $stderr"
	assert_equal "$(ls migrations)" "$before"
}

# ---- the other recipes and their -docker twins ----------------------------

@test "db-history and db-current: each -docker twin prints exactly what the host recipe prints" {
	fresh_db
	just db-migrate >/dev/null 2>&1

	run --separate-stderr just db-history
	assert_success
	assert_output "$(expected | awk -F '\t' -v OFS='\t' '{ print "applied", $1, $2 }')"
	local host=$output
	run --separate-stderr just db-history-docker
	assert_success
	assert_output "$host"

	run --separate-stderr just db-current
	assert_success
	[[ $output == "$(expected | tail -1 | cut -f1,2)"$'\t'20[0-9][0-9]-*Z ]] || fail "db-current: $output"
	host=$output
	run --separate-stderr just db-current-docker
	assert_success
	assert_output "$host"
}

@test "db-downgrade and db-downgrade-docker revert the same migration with the same output" {
	fresh_db
	just db-migrate >/dev/null 2>&1
	local n
	n=$(expected | wc -l)

	run --separate-stderr just db-downgrade
	assert_success
	assert_output "$(expected | tail -1)"
	run history_versions
	assert_output "$(all_versions | head -n $((n - 1)))"
	local host=$output

	just db-migrate >/dev/null 2>&1
	run --separate-stderr just db-downgrade-docker
	assert_success
	assert_output "$(expected | tail -1)"
	run history_versions
	assert_output "$host"

	# STEPS reaches the tool in both.
	run --separate-stderr just db-downgrade 2
	assert_success
	assert_output "$(expected | head -n $((n - 1)) | tail -2 | tac)"
	just db-migrate >/dev/null 2>&1
	run --separate-stderr just db-downgrade-docker 3
	assert_success
	assert_output "$(expected | tail -3 | tac)"
	run history_versions
	assert_output "$(all_versions | head -n $((n - 3)))"
}

@test "db-reset and db-reset-docker revert everything and apply everything, with the same output" {
	fresh_db
	just db-migrate >/dev/null 2>&1
	run --separate-stderr just --yes db-reset
	assert_success
	assert_output "$(expected_reversed; expected)"
	local host=$output
	run history_versions
	assert_output "$(all_versions)"

	run --separate-stderr just --yes db-reset-docker
	assert_success
	assert_output "$host"
	run history_versions
	assert_output "$(all_versions)"
}

@test "db-reset-docker, like db-reset, reverts nothing without a terminal and without --yes" {
	fresh_db
	just db-migrate >/dev/null 2>&1
	local r
	for r in db-reset-docker db-reset; do
		run --separate-stderr just "$r" </dev/null
		assert_failure
		assert_output ""
		[[ $stderr == *"not confirmed"* ]] || fail "$r: $stderr"
		run history_versions
		assert_output "$(all_versions)"
	done
}

@test "the -docker twins and db-migrate-run pass their arguments to the tool" {
	fresh_db
	local v2
	v2=$(expected | sed -n 2p | cut -f1)
	run --separate-stderr just db-migrate-docker --to "$v2"
	assert_success
	assert_output "$(expected | head -2)"
	run --separate-stderr just db-history-docker --json
	assert_success
	assert_line --index 2 --regexp '^\{"state":"pending",'
	run --separate-stderr just db-current-docker --all
	assert_success
	assert_equal "${#lines[@]}" 2
	run --separate-stderr just db-downgrade-docker --steps 2
	assert_success
	assert_output "$(expected | head -2 | tac)"
	run history_versions
	assert_output ""

	run --separate-stderr just db-migrate-run --to "$v2"
	assert_success
	assert_output "$(expected | head -2)"
	run --separate-stderr just db-migrate-run -n
	assert_success
	assert_output "$(expected | tail -n +3)"
	run history_versions
	assert_output "$(all_versions | head -2)"

	run --separate-stderr just db-make-docker --pair add pair
	rm -f migrations/*_add_pair.*
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 --regexp '^migrations/[0-9]+_add_pair\.up\.sql$'
	assert_line --index 1 --regexp '^migrations/[0-9]+_add_pair\.down\.sql$'
}

@test "db-redo and db-redo-docker revert the latest and apply it again, with the same output" {
	fresh_db
	just db-migrate >/dev/null 2>&1
	run --separate-stderr just db-redo
	assert_success
	assert_output "$(expected | tail -1; expected | tail -1)"
	local host=$output
	run --separate-stderr just db-redo-docker
	assert_success
	assert_output "$host"
	run history_versions
	assert_output "$(all_versions)"

	run --separate-stderr just db-redo-docker --steps 2
	assert_success
	assert_output "$(expected | tail -2 | tac; expected | tail -2)"
	run history_versions
	assert_output "$(all_versions)"
}

@test "db-stamp and db-stamp-docker record every migration without running one" {
	local r
	for r in db-stamp db-stamp-docker; do
		fresh_db
		run --separate-stderr just "$r"
		assert_success
		assert_output "$(expected)"
		run history_versions
		assert_output "$(all_versions)"
		run sql -c "SELECT to_regclass('public.users') IS NULL"
		assert_output t
	done
	fresh_db
}

# Needs `mig-apply --repair` (branch core): fails until it is merged.
@test "db-repair-docker and db-repair (need mig-apply --repair) record a changed file's checksum" {
	fresh_db
	just db-migrate >/dev/null 2>&1
	local last f
	last=$(expected | tail -1)
	f=$(cut -f3 <<<"$last")
	cp "$f" "$BATS_TEST_TMPDIR/orig.sql"
	sed -i 's/^-- migrate:up$/&\n-- reworded/' "$f"
	run --separate-stderr just db-repair-docker
	local st=$status out=$output
	cp "$BATS_TEST_TMPDIR/orig.sql" "$f"
	assert_equal "$st" 0
	assert_equal "$out" "$last"
	# The file as it was is now the changed one: db-repair takes it back.
	run --separate-stderr just db-repair
	assert_success
	assert_output "$last"
	run --separate-stderr just db-check
	assert_success
}

@test "db-create-docker and db-create create the database when it is missing and leave it when present" {
	local r
	for r in db-create-docker db-create; do
		SQL_DB=postgres sql -c 'DROP DATABASE IF EXISTS app WITH (FORCE)'
		run --separate-stderr just "$r"
		assert_success
		[[ $stderr == *"created database app"* ]] || fail "$r: $stderr"
		run --separate-stderr just "$r"
		assert_success
		[[ $stderr == *"database app exists"* ]] || fail "$r: $stderr"
	done
	# DOCKER_DATABASE_URL names the database the containers use.
	local url="postgres://postgres:$POSTGRES_PASSWORD@postgres:$POSTGRES_PORT/other%20db"
	run --separate-stderr env DOCKER_DATABASE_URL="$url" "$JUST" db-create-docker
	assert_success
	SQL_DB=postgres run sql -c "SELECT datname FROM pg_database WHERE datname LIKE 'other%'"
	assert_output "other db"
	SQL_DB=postgres sql -c 'DROP DATABASE "other db"'
}

@test "db-dump-docker writes what db-dump writes, byte for byte, given the same pg_dump; db-migrate-docker rewrites MIG_SCHEMA_FILE" {
	fresh_db
	just db-migrate >/dev/null 2>&1
	local r
	for r in db-dump db-dump-docker; do
		rm -rf db
		run --separate-stderr just "$r"
		assert_success
		assert_output db/schema.sql
		grep -q 'CREATE TABLE public.users' db/schema.sql || fail "$r: no users table in the dump"
		run grep -cE '^\\(un)?restrict|Dumped (from|by)' db/schema.sql
		assert_output 0
		cp db/schema.sql "$BATS_TEST_TMPDIR/$r.sql"
		run --separate-stderr just "$r"
		assert_success
		cmp db/schema.sql "$BATS_TEST_TMPDIR/$r.sql" || fail "$r: two dumps differ"
	done
	# The same pg_dump writes the same file. (An older one may write more:
	# 15.18 against a 15.20 server adds ALTER COLUMN ... SET (pg_attver=...)
	# lines, which is what the twin, with the server's own pg_dump, avoids.)
	local host there
	host=$(pg_dump --version)
	there=$(dc exec -T postgres pg_dump --version)
	if [[ $host == "$there" ]]; then
		run diff -u "$BATS_TEST_TMPDIR/db-dump.sql" "$BATS_TEST_TMPDIR/db-dump-docker.sql"
		assert_success
	else
		echo "# host $host, container $there: the two dumps are not compared" >&3
	fi
	rm -rf db

	just db-downgrade >/dev/null 2>&1
	run --separate-stderr env MIG_SCHEMA_FILE=db/s2.sql "$JUST" db-migrate-docker
	assert_success
	assert_output "$(expected | tail -1)"
	[[ $stderr == *"schema written to db/s2.sql"* ]] || fail "$stderr"
	cmp db/s2.sql "$BATS_TEST_TMPDIR/db-dump-docker.sql" || fail "db-migrate-docker's schema differs"
	rm -rf db
}

# The -docker twins that read a list.
list_twins=(db-downgrade-docker db-reset-docker db-history-docker db-migrate-docker
	db-redo-docker db-stamp-docker db-repair-docker)

# run_twins CHANGE RESTORE: make CHANGE to migrations/ (shell code), run
# each of list_twins, then RESTORE; each recipe's status, stdout and stderr
# are left in the arrays st, out and err, keyed by its name.
run_twins() {
	declare -gA st=() out=() err=()
	local r
	eval "$1"
	for r in "${list_twins[@]}"; do
		run --separate-stderr just --yes "$r"
		st[$r]=$status out[$r]=$output err[$r]=$stderr
	done
	eval "$2"
}

user_tables() {
	sql -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'mig_history'"
}

@test "a failing mig-list in the app container: the -docker twins revert nothing and exit with its status" {
	fresh_db
	just db-migrate >/dev/null 2>&1
	local r tables
	tables=$(user_tables)
	[[ $tables -gt 0 ]]

	# A misnamed file: mig-list exits 65 and prints nothing.
	run_twins ': >migrations/add_nothing.sql' 'rm -f migrations/add_nothing.sql'
	for r in "${list_twins[@]}"; do
		[[ ${st[$r]} == 65 ]] || fail "$r exited ${st[$r]}, not 65: ${err[$r]}"
		[[ -z ${out[$r]} ]] || fail "$r printed: ${out[$r]}"
		[[ ${err[$r]} == *"mig-list: migrations/add_nothing.sql: "* ]] || fail "$r: no mig-list error: ${err[$r]}"
		[[ ${err[$r]} != *"up to date"* ]] || fail "$r: mig-apply read an empty list: ${err[$r]}"
	done
	run history_versions
	assert_output "$(all_versions)"
	run user_tables
	assert_output "$tables"

	# A directory that mig-list cannot open (the container's user may not
	# read it): 66 likewise.
	local mode
	mode=$(stat -c %a migrations)
	run_twins 'chmod 000 migrations' "chmod $mode migrations"
	for r in "${list_twins[@]}"; do
		[[ ${st[$r]} == 66 ]] || fail "$r exited ${st[$r]}, not 66: ${err[$r]}"
		[[ -z ${out[$r]} ]] || fail "$r printed: ${out[$r]}"
		[[ ${err[$r]} == *"mig-list: migrations: "* ]] || fail "$r: no mig-list error: ${err[$r]}"
	done
	run history_versions
	assert_output "$(all_versions)"
	run user_tables
	assert_output "$tables"
}

# ---- the compose database ------------------------------------------------

@test "db-status says current or pending; db-wait waits; db-down and db-up keep the data" {
	fresh_db
	just db-migrate >/dev/null 2>&1
	run --separate-stderr just db-status
	assert_success
	assert_line "database is current"
	assert_line --regexp "^${COMPOSE_PROJECT_NAME}[_-]postgres[_-]1 .*(Up|running).*healthy"

	just db-downgrade >/dev/null 2>&1
	run --separate-stderr just db-status
	assert_failure 75
	assert_line "migrations are pending"
	just db-migrate >/dev/null 2>&1

	run --separate-stderr just db-wait 5
	assert_success
	run --separate-stderr just db-down
	assert_success
	run --separate-stderr just db-wait 0
	assert_failure 75
	run --separate-stderr just db-up
	assert_success
	run history_versions
	assert_output "$(all_versions)"
}

# ---- the image -------------------------------------------------------------

@test "the runtime image: six tools, man pages, mig(7), /migrations, non-root, no compiler or -dev package" {
	run docker run --rm --network host --entrypoint bash "$MIG_IMAGE" -c '
		id -u
		ls /usr/local/bin
		ls /usr/local/share/man/man1
		ls /usr/local/share/man/man7
		ls /migrations
		command -v gcc cc make pkg-config || true
		dpkg-query -W -f "\${Package}\n" | grep -e "-dev$" || true'
	assert_success
	local uid=${lines[0]}
	[[ $uid =~ ^[0-9]+$ && $uid != 0 ]] || fail "runs as uid $uid"
	local t
	for t in mig-list mig-current mig-apply mig-revert mig-new mig-wait; do
		assert_line "$t"
		assert_line "$t.1"
	done
	assert_line mig.7
	for t in $(cd migrations && ls); do
		assert_line "$t"
	done
	refute_line --regexp '(gcc|cc|make|pkg-config)$'
	refute_line --regexp -- '-dev$'

	local size
	size=$(docker image inspect -f '{{.Size}}' "$MIG_IMAGE")
	echo "# runtime image $MIG_IMAGE: $((size / 1000000)) MB" >&3
}

@test "the image's default command waits for the database and applies its /migrations" {
	SQL_DB=postgres sql -c 'DROP DATABASE IF EXISTS imagecheck WITH (FORCE)' -c 'CREATE DATABASE imagecheck'
	local url=postgres://postgres:$POSTGRES_PASSWORD@postgres:$POSTGRES_PORT/imagecheck
	run --separate-stderr docker run --rm --network host --add-host postgres:127.0.0.1 \
		-e DATABASE_URL="$url" "$MIG_IMAGE"
	assert_success
	assert_output "$(expected)"
	run --separate-stderr docker run --rm --network host --add-host postgres:127.0.0.1 \
		-e DATABASE_URL="$url" "$MIG_IMAGE"
	assert_success
	assert_output ""
	# A misnamed file: the list fails first, and nothing else runs.
	local bad=$BATS_TEST_TMPDIR/badmigrations
	mkdir -p "$bad"
	cp "$PROJ"/migrations/*.sql "$bad/"
	: >"$bad/typo-no-version.sql"
	run --separate-stderr docker run --rm --network host --add-host postgres:127.0.0.1 \
		-v "$bad:/migrations:ro" -e DATABASE_URL="$url" "$MIG_IMAGE"
	assert_failure 65
	assert_output ""
	[[ $stderr == *'typo-no-version.sql'* ]]
	[[ $stderr != *'up to date'* ]]
	SQL_DB=postgres sql -c 'DROP DATABASE imagecheck WITH (FORCE)'
}

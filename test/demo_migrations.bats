#!/usr/bin/env bats
# The demo's migrations/ directory: every migration applies, reverts back
# to the schema before it, and applies again. First with psql alone (so
# the SQL is checked whatever state the tools are in), then with mig.

load helper

# section FILE up|down: the SQL of that section, without the marker.
section() {
	awk -v want="$2" '
		/^-- migrate:(up|down)/ { cur = ($0 ~ /^-- migrate:up/) ? "up" : "down"; next }
		cur == want { print }
	' "$1"
}

# marker FILE up|down: the section marker line.
marker() {
	grep -m1 "^-- migrate:$2" "$1"
}

# Run one section the way its marker asks: in one transaction, or each
# statement on its own (psql sends them one by one without -1).
run_section() {
	local file=$1 dir=$2 single=(-1)
	[[ $(marker "$file" "$dir") == *transaction:false* ]] && single=()
	section "$file" "$dir" | psql "$DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 "${single[@]}"
}

schema() {
	pg_dump --schema-only --no-owner --no-privileges "$DATABASE_URL" |
		sed -E '/^(--|$|SET |SELECT pg_catalog.set_config|\\(un)?restrict )/d'
}

@test "demo migrations: names, markers and a down section in every file" {
	local f n=0
	for f in "$REPO"/migrations/*.sql; do
		n=$((n + 1))
		[[ ${f##*/} =~ ^[0-9]{4}_[a-z0-9_]+\.sql$ ]]
		[[ $(grep -c '^-- migrate:up' "$f") == 1 ]]
		[[ $(grep -c '^-- migrate:down' "$f") == 1 ]]
		section "$f" down | grep -qv '^\s*\(--.*\)\?$'
		# Nothing but comments and blank lines before the first marker.
		run awk '/^-- migrate:/ { exit } !/^[[:space:]]*(--.*)?$/ { print FILENAME": "FNR": "$0 }' "$f"
		assert_output ''
	done
	((n >= 4 && n <= 5))
	grep -l '^-- migrate:up transaction:false' "$REPO"/migrations/*.sql |
		xargs grep -l 'CREATE INDEX CONCURRENTLY' >/dev/null
	grep -l 'LANGUAGE plpgsql' "$REPO"/migrations/*.sql | xargs grep -l '\$fn\$' >/dev/null
}

@test "demo migrations: each applies and reverts cleanly with psql" {
	local files=("$REPO"/migrations/*.sql) i before=() after
	for i in "${!files[@]}"; do
		before[i]=$(schema)
		run_section "${files[i]}" up
	done
	after=$(schema)
	[[ $after == *'CREATE TABLE public.users'* ]]
	[[ $after == *'CREATE INDEX sessions_expires_at_idx'* ]]
	[[ $after == *'CREATE TRIGGER users_set_updated_at'* ]]

	for ((i = ${#files[@]} - 1; i >= 0; i--)); do
		run_section "${files[i]}" down
		run schema
		assert_output "${before[i]}"
	done

	# And up again, all of them: a revert leaves nothing in the way.
	for i in "${!files[@]}"; do
		run_section "${files[i]}" up
	done
	run schema
	assert_output "$after"
}

@test "demo migrations: the trigger maintains updated_at" {
	local f
	for f in "$REPO"/migrations/*.sql; do
		run_section "$f" up
	done
	psql_admin <<-'EOF'
		INSERT INTO users (email, updated_at) VALUES ('a@example.org', '2000-01-01');
		UPDATE users SET email = email;
		INSERT INTO users (email, updated_at) VALUES ('b@example.org', '2000-01-01');
		UPDATE users SET display_name = 'Bee' WHERE email = 'b@example.org';
	EOF
	run psql_admin -c "SELECT email, updated_at > '2001-01-01' FROM users ORDER BY email"
	assert_output $'a@example.org|f\nb@example.org|t'
	run psql_admin -c "INSERT INTO users (email) VALUES ('Mixed@Example.org')"
	assert_failure
}

@test "demo migrations: mig applies, reverts and re-applies them" {
	command -v mig-apply >/dev/null || skip "mig-apply is not built"
	cp "$REPO"/migrations/*.sql "$MIGDIR"/
	run --separate-stderr bash -c 'mig-list migrations | mig-apply'
	assert_success
	# stdout: the list line of each applied migration, in order.
	run bash -c 'mig-list migrations | diff - <(printf "%s\n" "$0")' "$output"
	assert_success
	run applied_versions
	assert_output $'0001\n0002\n0003\n0004\n0005'

	run mig-revert </dev/null
	assert_success
	run applied_versions
	assert_output $'0001\n0002\n0003\n0004'

	run bash -c 'mig-list migrations | mig-revert --all'
	assert_success
	run applied_versions
	assert_output ''
	run table_exists users
	assert_failure

	run bash -c 'mig-list migrations | mig-apply'
	assert_success
	run bash -c 'mig-list migrations | mig-current --status'
	assert_success
	refute_line --regexp '^(pending|changed|missing|partial)'
}

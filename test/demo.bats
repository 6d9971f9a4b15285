#!/usr/bin/env bats
# scripts/demo, the README's first command, runs to the end, and what it
# prints is what the README shows: the same commands and the same output,
# but for the port, the milliseconds and the dates, which differ each run.

load helper

setup_file() {
	just_setup_file
}

# The demo starts its own server and uses nothing of the suite's.
setup() {
	need_just
	[[ $MIG_BIN == "$REPO/bin" ]] || skip "the demo runs the checkout's bin/, not $MIG_BIN"
}
teardown() {
	if [[ -n ${DEMO_TMP:-} ]]; then
		rm -rf "$DEMO_TMP"
	fi
}

# What changes from one run to the next, replaced by fixed words.
normalize() {
	sed -E -e 's/127\.0\.0\.1:[0-9]+/127.0.0.1:PORT/g' \
		-e 's/\([0-9]+ ms\)/(N ms)/' \
		-e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z/DATE/'
}

# The README's demo output: the code block after "A real run".
readme_demo() {
	awk '/^run \(the port/ { want = 1 } want && /^```$/ { if (inside) exit; inside = 1; next } inside' \
		"$REPO/README.md"
}

@test "scripts/demo runs to the end, removes its server and project, and prints what the README shows" {
	local before
	before=$(readme_demo | normalize)
	[[ $(wc -l <<<"$before") -gt 60 ]] || fail "no demo output found in README.md"

	# A PATH where `just` is the one the suite found.
	# The suite's server stays out of it: the demo starts its own.
	unset "${!PGTMP_@}" "${!PG@}" DATABASE_URL
	mkdir -p "$BATS_TEST_TMPDIR/justbin"
	ln -s "$JUST" "$BATS_TEST_TMPDIR/justbin/just"
	# A TMPDIR of its own, short enough for the server's socket path.
	DEMO_TMP=$(mktemp -d /tmp/mig-demo-test.XXXXXX)
	chmod 755 "$DEMO_TMP"
	run env PATH="$BATS_TEST_TMPDIR/justbin:$PATH" TMPDIR="$DEMO_TMP" "$REPO/scripts/demo"
	assert_success
	# Build and install lines, when there are any, come before the tour.
	local tour
	tour=$(sed -n '/^# A throwaway server/,$p' <<<"$output" | normalize)
	assert_equal "$tour" "$(sed -n '/^# A throwaway server/,$p' <<<"$before")"

	# The server and the project copy are gone (both were made in TMPDIR),
	# and the checkout has no new migration.
	run compgen -G "$DEMO_TMP/mig-demo.*"
	assert_failure
	run compgen -G "$DEMO_TMP/pgtmp.*"
	assert_failure
	run git -C "$REPO" status --porcelain -- migrations
	assert_output ""
}

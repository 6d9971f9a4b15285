# shellcheck shell=bash
# One throwaway PostgreSQL server for the whole bats run (scripts/pgtmp,
# fast mode). Its export lines (PGTMP_DIR, PGTMP_SOCKDIR, PGTMP_PORT,
# PGTMP_PASSWORD, PGTMP_URL, ...) reach every test file; test/helper.bash
# builds each test's database and DATABASE_URL from them.
#
# MIG_TEST_PGTMP=DIR reuses a server already started with
# `scripts/pgtmp start DIR` (faster when iterating); it is left running.

setup_suite() {
	local repo
	repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

	if [[ -n ${MIG_TEST_PGTMP:-} ]]; then
		eval "$("$repo/scripts/pgtmp" env "$MIG_TEST_PGTMP")"
		export MIG_TEST_OWN_SERVER=0
	else
		local pw
		pw="pw-Sekr1t-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
		eval "$(PGTMP_PASSWORD=$pw "$repo/scripts/pgtmp" start --fast)"
		export MIG_TEST_OWN_SERVER=1
	fi
	# Reached over TCP with the password, so the guard has one to look for.
	PGPASSWORD='' psql "$PGTMP_URL" -XAtq -c 'SELECT 1' >/dev/null
}

teardown_suite() {
	if [[ ${MIG_TEST_OWN_SERVER:-0} == 1 && -n ${PGTMP_DIR:-} ]]; then
		"$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/pgtmp" stop "$PGTMP_DIR"
	fi
}

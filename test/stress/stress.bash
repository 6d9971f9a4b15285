# shellcheck shell=bash
# Shared by test/stress/*.bats: the sizes (CI by default, MIG_STRESS=long
# for `make stress`) and the polling helpers.

# size VAR CI LONG: $VAR when set (e.g. MIG_RACE_ROUNDS=5), else the CI
# size, or the long one under MIG_STRESS=long.
size() {
	if [[ -n ${!1:-} ]]; then
		echo "${!1}"
	elif [[ ${MIG_STRESS:-} == long ]]; then
		echo "$3"
	else
		echo "$2"
	fi
}

# gone_sql: true once no mig tool has a session on the test's database.
gone_sql() {
	echo "SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = '$TEST_DB'
		AND application_name LIKE 'mig-%'"
}

# A statement that sleeps S seconds only while the GUC mig.test_sleep is on,
# so a rerun of the same file (same checksum) does not sleep.
gated_sleep() {
	echo "SELECT pg_sleep(CASE WHEN current_setting('mig.test_sleep', true) = 'on' THEN $1 ELSE 0 END);"
}

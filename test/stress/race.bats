#!/usr/bin/env bats
# Races: many mig-apply runs started at once apply every migration exactly
# once, round after round; mig-revert racing mig-apply never leaves the
# history and the schema disagreeing.
#
# Sizes: MIG_RACE_PROCS x MIG_RACE_MIGS x MIG_RACE_ROUNDS (CI 16 x 200 x 2,
# MIG_STRESS=long 16 x 200 x 20); MIG_RACE_SECONDS for the revert race
# (CI 5, long 30).

load ../helper
load stress

# wait_all PID...: waits for each; sets STATUSES to their exit statuses,
# space-separated.
wait_all() {
	local pid st out=()
	for pid in "$@"; do
		st=0
		wait "$pid" || st=$?
		out+=("$st")
	done
	STATUSES="${out[*]}"
}

@test "race: N mig-apply started at once over M new migrations, R rounds: each migration's effect happens once and every run exits 0" {
	local procs migs rounds
	procs=$(size MIG_RACE_PROCS 16 16)
	migs=$(size MIG_RACE_MIGS 200 200)
	rounds=$(size MIG_RACE_ROUNDS 2 20)
	echo "# $procs processes x $migs migrations x $rounds rounds" >&3
	psql_admin -c "CREATE TABLE counter (round int NOT NULL, v int NOT NULL); ALTER TABLE counter OWNER TO mig"

	local r i v k total=0 zeros
	zeros=$(printf '0 %.0s' $(seq "$procs"))
	for ((r = 1; r <= rounds; r++)); do
		for ((i = 1; i <= migs; i++)); do
			v=$((total + i))
			write_mig "$(printf '%06d' "$v")_r${r}_m$i" "INSERT INTO counter VALUES ($r, $v);
CREATE TABLE t_$v (id int);
INSERT INTO t_$v VALUES ($v);" "DROP TABLE t_$v;"
		done
		total=$((total + migs))
		mig-list >list
		tail -n "$migs" list >new

		local pids=()
		for ((k = 1; k <= procs; k++)); do
			mig-apply <list >"out.$r.$k" 2>"err.$r.$k" &
			pids+=($!)
		done
		wait_all "${pids[@]}"
		if [[ "$STATUSES " != "$zeros" ]]; then
			echo "round $r: exit statuses $STATUSES"
			cat err."$r".*
			return 1
		fi

		# Every migration of this round was printed by exactly one run.
		run bash -c "cat out.$r.* | sort"
		assert_output "$(sort new)"
		# A run that applied nothing said so.
		for ((k = 1; k <= procs; k++)); do
			if [[ ! -s out.$r.$k ]]; then
				run grep -c 'up to date' "err.$r.$k"
				assert_output 1
			fi
		done
		run psql_admin -c "SELECT count(*), count(DISTINCT v), min(v), max(v), count(*) FILTER (WHERE round = $r) FROM counter"
		assert_output "$total|$total|1|$total|$migs"
		run psql_admin -c "SELECT count(*), count(DISTINCT version::int), bool_and(state = 'applied'), bool_and(version::int = rn) FROM (SELECT version, state, row_number() OVER (ORDER BY id) AS rn FROM mig_history) x"
		assert_output "$total|$total|t|t"
		run psql_admin -c "SELECT count(*) FROM pg_class WHERE relname ~ '^t_[0-9]+\$' AND relkind = 'r'"
		assert_output "$total"
	done
}

# The history and the schema agree: checked under the migration lock, so no
# run is half-way through. Prints the number of disagreements, then each.
CHECK_UNDER_LOCK="
SELECT pg_advisory_lock(hashtextextended('mig:public.mig_history', 0)) IS NULL AS locked \\gset
SELECT count(*) || coalesce(' ' || string_agg(coalesce('history ' || h.v, 'table ' || t.v), ' '), '')
FROM (SELECT version::int AS v FROM public.mig_history) h
FULL JOIN (SELECT substr(relname, 4)::int AS v FROM pg_class
	WHERE relname ~ '^rv_[0-9]+\$' AND relkind = 'r') t USING (v)
WHERE h.v IS NULL OR t.v IS NULL;
SELECT pg_advisory_unlock(hashtextextended('mig:public.mig_history', 0)) AS unlocked \\gset
"

@test "race: mig-revert looping against mig-apply for a few seconds: after every run the history matches the schema exactly" {
	local secs k
	secs=$(size MIG_RACE_SECONDS 5 30)
	for ((k = 1; k <= 30; k++)); do
		write_mig "$(printf '%04d' "$k")_rv_$k" "CREATE TABLE rv_$k (id int);
INSERT INTO rv_$k VALUES ($k);
CREATE INDEX ON rv_$k (id);" "DROP TABLE rv_$k;"
	done
	mig-list >list
	run --separate-stderr mig-apply -q <list
	assert_success

	local end=$((SECONDS + secs))
	(
		n=0
		while ((SECONDS < end || n < 3)); do
			st=0
			mig-apply -q <list >>out.apply 2>>err.apply || st=$?
			((st == 0)) || echo "mig-apply exited $st" >>bad
			n=$((n + 1))
		done
		echo "$n" >n.apply
	) &
	local applier=$!
	(
		n=0
		while ((SECONDS < end || n < 3)); do
			st=0
			# Down SQL from the files half the time, else from the history.
			if ((RANDOM % 2)); then
				mig-revert -q --steps $((RANDOM % 6 + 1)) <list >>out.revert 2>>err.revert || st=$?
			else
				mig-revert -q --steps $((RANDOM % 6 + 1)) </dev/null >>out.revert 2>>err.revert || st=$?
			fi
			((st == 0)) || echo "mig-revert exited $st" >>bad
			n=$((n + 1))
		done
		echo "$n" >n.revert
	) &
	local reverter=$!

	# Checks for as long as either loop runs (each makes at least 3 runs,
	# however slow the machine).
	local checks=0 c
	while kill -0 "$applier" 2>/dev/null || kill -0 "$reverter" 2>/dev/null || ((checks < 3)); do
		c=$(psql_admin <<<"$CHECK_UNDER_LOCK")
		if [[ $c != 0 ]]; then
			echo "check $checks: history and schema disagree: $c"
			kill "$applier" "$reverter" 2>/dev/null || true
			return 1
		fi
		checks=$((checks + 1))
		sleep 0.1
	done
	wait "$applier" "$reverter"
	echo "# $(cat n.apply) applies, $(cat n.revert) reverts, $checks checks in ${secs}s" >&3

	if [[ -s bad ]]; then
		cat bad err.apply err.revert
		return 1
	fi
	run psql_admin <<<"$CHECK_UNDER_LOCK"
	assert_output 0
	# Both loops really ran against each other.
	(($(cat n.apply) >= 3 && $(cat n.revert) >= 3 && checks >= 3))
	[[ -s out.revert ]]
	# Whatever is left, one more apply completes the list.
	run --separate-stderr mig-apply -q <list
	assert_success
	run psql_admin -c "SELECT count(*) FROM mig_history"
	assert_output 30
	run psql_admin <<<"$CHECK_UNDER_LOCK"
	assert_output 0
}

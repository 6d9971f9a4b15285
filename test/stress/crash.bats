#!/usr/bin/env bats
# kill -9 of mig-apply at a random moment inside a batch that mixes
# transactional and transaction:false migrations of several statements.
# After each kill the history and the schema agree exactly as
# src/mig-apply.1 says (TRANSACTIONS), and a rerun completes.
#
# Trials: MIG_CRASH_TRIALS (CI 20, MIG_STRESS=long 200).

load ../helper
load stress

MIGS=12
NOTX_STMTS=4

# write_batch K: the batch of trial K in ./m$K, its objects in schema s$K.
# Migration I is transaction:false when I % 3 == 0: statement J creates
# s$K.n${I}_$J (tables and CONCURRENTLY indexes, alternately), each
# idempotent as the man page advises. Otherwise it is transactional and
# creates s$K.a$I and s$K.b$I with statements in between.
write_batch() {
	local k=$1 i dir=m$1
	mkdir -p "$dir"
	for ((i = 1; i <= MIGS; i++)); do
		if ((i % 3 == 0)); then
			cat >"$dir/$(printf '%03d' "$i")_notx_$i.sql" <<-EOF
				-- migrate:up transaction:false
				CREATE TABLE IF NOT EXISTS s$k.n${i}_1 AS SELECT 1 AS id FROM pg_sleep(0.05);
				CREATE INDEX CONCURRENTLY IF NOT EXISTS n${i}_2 ON s$k.n${i}_1 (id);
				CREATE TABLE IF NOT EXISTS s$k.n${i}_3 AS SELECT 3 AS id FROM pg_sleep(0.05);
				CREATE INDEX CONCURRENTLY IF NOT EXISTS n${i}_4 ON s$k.n${i}_3 (id);
				-- migrate:down transaction:false
				DROP TABLE IF EXISTS s$k.n${i}_3, s$k.n${i}_1;
			EOF
		else
			cat >"$dir/$(printf '%03d' "$i")_tx_$i.sql" <<-EOF
				-- migrate:up
				CREATE TABLE s$k.a$i (id int PRIMARY KEY);
				INSERT INTO s$k.a$i SELECT generate_series(1, 100);
				SELECT pg_sleep(0.05);
				CREATE TABLE s$k.b$i (id int REFERENCES s$k.a$i);
				-- migrate:down
				DROP TABLE s$k.b$i, s$k.a$i;
			EOF
		fi
	done
}

# check_trial K [final]: the history of trial K and its schema agree. With
# final, everything must be applied and valid. Sets PHASE to a summary of
# what the kill left (rows applied, partial statements).
check_trial() {
	local k=$1 final=${2:-} i j v ndone
	local -A row rel
	# One round trip: the history rows, then the schema's relations.
	local kind x y z
	while IFS='|' read -r kind x y z; do
		case $kind in
			h) row[$x]="$y|$z" ;;
			r) rel[$x]=$y ;;
		esac
	done < <(psql_admin <<-EOF
		SELECT 'SELECT ''h'', version::int, state, statements_done FROM s$k.hist ORDER BY id'
			WHERE to_regclass('s$k.hist') IS NOT NULL \gexec
		SELECT 'r', c.relname, coalesce(i.indisvalid::text, 'rel')
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			LEFT JOIN pg_index i ON i.indexrelid = c.oid
			WHERE n.nspname = 's$k' AND c.relname ~ '^[abn][0-9]';
	EOF
	)

	local applied=0 partial='' stopped=0
	for ((i = 1; i <= MIGS; i++)); do
		local r=${row[$i]:-}
		if [[ -n $r ]]; then
			if ((stopped)); then
				echo "trial $k: migration $i recorded after an unrecorded one"
				return 1
			fi
		else
			stopped=1
		fi
		if ((i % 3 == 0)); then
			case $r in
				'') ndone=0 ;;
				applied\|*) ndone=$NOTX_STMTS ;;
				partial\|*)
					ndone=${r#partial|}
					partial="$i:$ndone"
					stopped=1
					;;
			esac
			for ((j = 1; j <= NOTX_STMTS; j++)); do
				local have=${rel[n${i}_$j]:-}
				if ((j <= ndone)) && [[ $have != rel && $have != true ]]; then
					echo "trial $k: migration $i: statement $j recorded done but n${i}_$j is ${have:-missing}"
					return 1
				fi
				# The statement after the last recorded one may have run
				# (killed before its record), but only when a row exists.
				if ((j == ndone + 1)) && [[ -n $r ]]; then
					continue
				fi
				if ((j > ndone)) && [[ -n $have ]]; then
					echo "trial $k: migration $i: statement $j not recorded (done $ndone, row '${r}') but n${i}_$j exists"
					return 1
				fi
			done
		else
			if [[ -n $r && $r != applied\|* ]]; then
				echo "trial $k: transactional migration $i has state $r"
				return 1
			fi
			local want=''
			[[ -n $r ]] && want=rel
			if [[ ${rel[a$i]:-} != "$want" || ${rel[b$i]:-} != "$want" ]]; then
				echo "trial $k: migration $i: row '$r' but a$i '${rel[a$i]:-}' b$i '${rel[b$i]:-}'"
				return 1
			fi
		fi
		[[ $r == applied\|* ]] && applied=$((applied + 1))
	done
	if [[ -n $final ]]; then
		if ((applied != MIGS)); then
			echo "trial $k: after the rerun only $applied of $MIGS are applied"
			return 1
		fi
		for x in "${!rel[@]}"; do
			if [[ ${rel[$x]} == false ]]; then
				echo "trial $k: index $x is invalid after the rerun"
				return 1
			fi
		done
	fi
	PHASE="$applied${partial:+ partial $partial}"
	# For the caller: what was applied, and the invalid indexes to drop.
	APPLIED=()
	INVALID=()
	for x in "${!row[@]}"; do
		[[ ${row[$x]} == applied\|* ]] && APPLIED+=("$x")
	done
	for x in "${!rel[@]}"; do
		[[ ${rel[$x]} == false ]] && INVALID+=("s$k.$x")
	done
	return 0
}

@test "crash: kill -9 of mig-apply at a random moment in a mixed batch leaves history and schema agreeing exactly, and a rerun completes" {
	local trials
	trials=$(size MIG_CRASH_TRIALS 20 200)

	# Trial 0 runs to the end: it checks the checker and times the batch.
	write_batch 0
	local t0 batch_ms mig_ms
	t0=$(date +%s%N)
	run --separate-stderr mig-apply --table s0.hist < <(mig-list m0)
	assert_success
	batch_ms=$((($(date +%s%N) - t0) / 1000000))
	# The migrations' own time, from the "applied V NAME (N ms)" lines.
	mig_ms=$(sed -n 's/.*applied .* (\([0-9]*\) ms)$/\1/p' <<<"$stderr" | awk '{ s += $1 } END { print int(s / NR) + 1 }')
	check_trial 0 final

	local k delay st none=0 all=0 mid=0 partials=0 dropped=0 after lines
	# Sleeping is a read from a FIFO that never has data: no fork, so the
	# kill lands when chosen even on a loaded machine.
	mkfifo idle
	local idle
	exec {idle}<>idle
	nap() { read -r -t "$1" -u "$idle" _ || true; }
	for ((k = 1; k <= trials; k++)); do
		write_batch "$k"
		mig-list "m$k" >"list.$k"
		: >"err.$k"
		mig-apply --table "s$k.hist" <"list.$k" >"out.$k" 2>"err.$k" &
		local job=$!
		# Anywhere: before the connection, or inside any migration, the
		# one after the AFTER-th committed (each prints a line on stderr).
		after=$((RANDOM % (MIGS + 1)))
		if ((after == 0)); then
			delay=$((RANDOM % (batch_ms + 1)))
		else
			while kill -0 "$job" 2>/dev/null; do
				mapfile -t lines <"err.$k"
				((${#lines[@]} >= after)) && break
				nap 0.005
			done
			delay=$((RANDOM % (mig_ms * 2 + 1)))
		fi
		nap "$((delay / 1000)).$(printf '%03d' $((delay % 1000)))"
		kill -9 "$job" 2>/dev/null || true
		st=0
		wait "$job" || st=$?
		# The server lets the killed session go within a second or so.
		wait_until 20 "$(gone_sql)"

		PHASE=''
		check_trial "$k"
		case $PHASE in
			0) none=$((none + 1)) ;;
			"$MIGS") all=$((all + 1)) ;;
			*) mid=$((mid + 1)) ;;
		esac
		[[ $PHASE == *partial* ]] && partials=$((partials + 1))
		# What stdout printed was committed.
		local v _
		while IFS=$'\t' read -r v _; do
			if [[ " ${APPLIED[*]} " != *" $((10#$v)) "* ]]; then
				echo "trial $k: printed $v but it is not applied"
				return 1
			fi
		done <"out.$k"

		# A CONCURRENTLY index killed half-way is left INVALID; drop it
		# before the rerun, as the man page says.
		if ((${#INVALID[@]})); then
			dropped=$((dropped + 1))
			local ix drops=()
			for ix in "${INVALID[@]}"; do
				drops+=(-c "DROP INDEX CONCURRENTLY $ix")
			done
			psql_admin "${drops[@]}"
		fi

		run --separate-stderr mig-apply -q --table "s$k.hist" <"list.$k"
		if ((status != 0)); then
			echo "trial $k (killed after ${delay} ms, exit $st, left $PHASE): rerun exited $status"
			echo "$stderr"
			return 1
		fi
		check_trial "$k" final
	done
	echo "# $trials kills over a ${batch_ms} ms batch (${mig_ms} ms a migration): $none before anything, $mid mid-batch ($partials left a partial row, $dropped an invalid index), $all after the end; every rerun completed" >&3
}

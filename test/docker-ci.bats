#!/usr/bin/env bats
# docs/github-actions.yml run on this machine: its `run:` steps are read
# from the YAML (python3-yaml) and executed in order, each as the runner
# does (`bash -e` on the step's script, in the checkout, with the job's
# env), honouring `if: failure()` and `if: always()`. The two `uses:`
# steps are replaced by what they do: actions/checkout by a copy of this
# checkout's files (tracked and new, as git lists them), setup-just by the
# just that scripts/deps installs. What differs from a hosted runner, and
# only that, comes from the environment: every container on the host's
# network (test/docker/compose.host.yml, COMPOSE_FILE), a free port for
# postgres (POSTGRES_PORT), a compose project of its own, and
# `docker build --network host` (MIG_DOCKER_BUILD_FLAGS).
#
# MIG_TEST_DOCKER=0 skips the file, as MIG_TEST_BUILD=0 does when no engine
# is installed.

load helper

WORKFLOW=$REPO/docs/github-actions.yml

setup_file() {
	mig_docker_setup_file --no-image || return
	[[ -n ${MIG_TEST_DOCKER_SKIP:-} ]] && return 0
	# The workflow builds its own image; the base it builds from must be
	# here (mig_docker_setup_file made it), as no image can be pulled.
	local just
	just=$(find_just) || { echo "no just: scripts/deps installs it" >&2; return 1; }
	export JUST_DIR=${just%/*}
}

teardown_file() {
	mig_docker_teardown_file
}

setup() {
	[[ -z ${MIG_TEST_DOCKER_SKIP:-} ]] || skip "$MIG_TEST_DOCKER_SKIP"
	cd "$BATS_TEST_TMPDIR" || return
	# What the steps print goes here, where the password guard reads it.
	MIG_OUTPUT_LOG=$BATS_TEST_TMPDIR/steps.log
	: >"$MIG_OUTPUT_LOG"
}

teardown() {
	# The compose project the workflow started, with its volume.
	if [[ -n ${CI_PROJ:-} ]]; then
		(cd "$CI_PROJ" && export "${CI_ENV[@]}" && mig_compose --profile migration down -v --remove-orphans) \
			>/dev/null 2>&1 || true
	fi
	mig_guard
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# steps: the workflow's steps as lines "INDEX|IF|NAME|KIND" (a tab would
# not do: read folds runs of it, and IF is mostly empty),
# KIND being run or the action a uses: step names; the scripts go to
# $BATS_TEST_TMPDIR/step-INDEX.sh; the job's env to job.env (NAME=VALUE).
steps() {
	/usr/bin/python3 - "$WORKFLOW" "$BATS_TEST_TMPDIR" <<-'EOF'
		import sys, yaml
		wf = yaml.safe_load(open(sys.argv[1]))
		out = sys.argv[2]
		jobs = wf["jobs"]
		if len(jobs) != 1:
		    sys.exit("the workflow should have one job")
		job = next(iter(jobs.values()))
		with open(f"{out}/job.env", "w") as f:
		    for k, v in (job.get("env") or {}).items():
		        f.write(f"{k}={v}\n")
		for i, s in enumerate(job["steps"]):
		    if "run" in s:
		        with open(f"{out}/step-{i}.sh", "w") as f:
		            f.write(s["run"])
		        kind = "run"
		    else:
		        kind = s["uses"]
		    print(f"{i}|{s.get('if', '')}|{s.get('name', '')}|{kind}")
	EOF
}

@test "docs/github-actions.yml: its steps, run in order, build, start postgres, migrate, and check" {
	run steps
	assert_success
	# The steps the issue asks for, in this order.
	local i cond name kind
	local order=() kinds=()
	while IFS='|' read -r i cond name kind; do
		order+=("$i") kinds+=("$kind")
	done <<<"$output"
	[[ ${kinds[0]} == actions/checkout@* ]] || fail "first step is not the checkout: ${kinds[0]}"
	[[ ${kinds[1]} == */setup-just@* ]] || fail "second step does not set up just: ${kinds[1]}"
	local want w at=0 pos
	want=("just db-up" "just db-migrate-run" "just db-check")
	for w in "${want[@]}"; do
		pos=$(grep -n -x -F "$w" <(for i in "${order[@]}"; do [[ -f step-$i.sh ]] && { cat "step-$i.sh"; echo; }; done) | head -1 | cut -d: -f1)
		[[ -n $pos ]] || fail "no step runs: $w"
		((pos > at)) || fail "$w runs out of order"
		at=$pos
	done

	# The runner's environment, with what must differ here.
	CI_PROJ=$BATS_TEST_TMPDIR/checkout
	local port
	for ((port = 25600; port < 25700; port++)); do port_free "$port" && break; done
	# Global: teardown removes the compose project with it.
	CI_ENV=()
	while IFS= read -r w; do CI_ENV+=("$w"); done <"$BATS_TEST_TMPDIR/job.env"
	CI_ENV+=(
		"PATH=$JUST_DIR:$PATH"
		"COMPOSE_FILE=$CI_PROJ/docker-compose.yml:$CI_PROJ/test/docker/compose.host.yml"
		"COMPOSE_PROJECT_NAME=migci$$"
		"POSTGRES_PORT=$port"
		"MIG_DOCKER_BUILD_FLAGS=--network host"
		"CI=true" "GITHUB_ACTIONS=true" "GITHUB_WORKSPACE=$CI_PROJ"
	)
	# A runner has none of the harness's libpq variables: unset, so that the
	# host recipes reach the compose postgres as they would there.
	local v
	CI_UNSET=()
	for v in "${!PG@}" DATABASE_URL; do CI_UNSET+=(-u "$v"); done
	for v in "${CI_ENV[@]}"; do
		if [[ $v == POSTGRES_PASSWORD=* ]]; then
			mig_secret "${v#POSTGRES_PASSWORD=}"
		fi
	done

	local has_check=1
	if ! (cd "$REPO" && "$JUST_DIR/just" --show db-check) >/dev/null 2>&1; then
		has_check=0
	fi

	local failed=0 st log=$MIG_OUTPUT_LOG
	while IFS='|' read -r i cond name kind; do
		case $cond in
			'') ((failed == 0)) || continue ;;
			'failure()') ((failed)) || continue ;;
			'always()') ;;
			*) fail "step $name: if: $cond is not one this test knows" ;;
		esac
		echo "# step: $name" >>"$log"
		# A failing step must not end the test here (errexit): the steps
		# after it run as the runner would run them. No step reads the
		# list of steps on this loop's stdin: the runner gives none.
		st=0
		case $kind in
			actions/checkout@*)
				# A copy of the checkout: the files git tracks, and new
				# ones it does not ignore.
				mkdir -p "$CI_PROJ"
				(cd "$REPO" && git ls-files -z --cached --others --exclude-standard |
					tar -cf - --null -T -) | tar -xf - -C "$CI_PROJ" || st=$?
				;;
			*/setup-just@*)
				env "${CI_UNSET[@]}" "${CI_ENV[@]}" just --version </dev/null >>"$log" 2>&1 || st=$?
				;;
			run)
				if [[ $(cat "$BATS_TEST_TMPDIR/step-$i.sh") == "just db-check" ]] && ((!has_check)); then
					echo "# skipped: no db-check recipe in mig.just yet" >>"$log"
					continue
				fi
				(cd "$CI_PROJ" && env "${CI_UNSET[@]}" "${CI_ENV[@]}" bash -e "$BATS_TEST_TMPDIR/step-$i.sh") </dev/null >>"$log" 2>&1 || st=$?
				;;
			*) fail "step $name uses $kind, which this test cannot stand in for" ;;
		esac
		echo "# exit $st" >>"$log"
		((st == 0)) || failed=1
	done < <(steps)
	((failed == 0)) || fail "a step failed: $(cat "$log")"
	# Every step ran, the always() one last, and it removed the stack.
	assert_equal "$(grep '^# step: ' "$log" | tail -1)" "# step: Remove the stack"
	assert_equal "$(tail -1 "$log")" "# exit 0"
	run docker ps -aq --filter "label=com.docker.compose.project=migci$$"
	assert_output ""

	# The compose postgres has every migration, applied by the one-shot
	# container; the stack is gone (the last step) but its volume is not.
	(cd "$CI_PROJ" && export "${CI_ENV[@]}" && mig_compose up -d postgres) >/dev/null 2>&1
	run env "${CI_ENV[@]}" bash -c 'cd "$1" && bin/mig-wait -t 60 -d "postgres://postgres:$POSTGRES_PASSWORD@127.0.0.1:$POSTGRES_PORT/app" &&
		bin/mig-list migrations | bin/mig-current --status -d "postgres://postgres:$POSTGRES_PASSWORD@127.0.0.1:$POSTGRES_PORT/app"' _ "$CI_PROJ"
	assert_success
	assert_output "$(cd "$REPO" && "$MIG_BIN/mig-list" migrations | awk -F '\t' -v OFS='\t' '{ print "applied", $1, $2 }')"

	((has_check)) || skip "db-check is not in mig.just yet: every other step ran and passed"
	# The check step fails when something is pending.
	printf -- '-- migrate:up\nSELECT 1;\n-- migrate:down\n' >"$CI_PROJ/migrations/99990101000000_pending.sql"
	run env "${CI_UNSET[@]}" "${CI_ENV[@]}" bash -c 'cd "$1" && just db-check' _ "$CI_PROJ"
	assert_failure 1
}

#!/usr/bin/env bats
# deploy/ run on the real Docker engine against the test PostgreSQL, as
# a cluster would run it (no cluster can run here): each container's spec
# is read from its manifest by test/docker/pod2docker.py (user, read-only
# root file system, capabilities, no-new-privileges, limits, emptyDir
# volumes as tmpfs, env, command and args) and becomes `docker run` with
# host networking. The mig image built from this checkout stands in for the
# manifests' registry image, and the Secret's DATABASE_URL is the test
# database's. scripts/check-deploy (test/deploy.bats) validates the same
# files against their schemas.
#
# MIG_TEST_DOCKER=0 skips the file, as MIG_TEST_BUILD=0 does when no engine
# is installed; MIG_TEST_DOCKER_IMAGE=NAME uses that mig image.

load helper

K8S=$REPO/deploy/kubernetes

setup_file() {
	mig_docker_setup_file || return
	[[ -n ${MIG_TEST_DOCKER_SKIP:-} ]] && return 0
	# The Helm hook as helm would render it (check-deploy --render).
	"$REPO/scripts/check-deploy" --render "$K8S/helm/mig-migrate" >"$BATS_FILE_TMPDIR/helm-rendered.yaml"
	# What the image's /migrations lists (the checkout's migrations/).
	(cd "$REPO" && "$MIG_BIN/mig-list" migrations) >"$BATS_FILE_TMPDIR/expected"
}

teardown_file() {
	mig_docker_teardown_file
}

setup() {
	[[ -z ${MIG_TEST_DOCKER_SKIP:-} ]] || skip "$MIG_TEST_DOCKER_SKIP"
	mig_setup
	CONTAINERS=()
}

teardown() {
	local c
	for c in "${CONTAINERS[@]}"; do
		docker rm -f "$c" >/dev/null 2>&1 || true
	done
	mig_teardown
}

expected() { cat "$BATS_FILE_TMPDIR/expected"; }

# spec FILE CONTAINER [CMD...]: the container's `docker run` arguments, one
# per line, the test's image in place of the manifest's.
spec() {
	"$REPO/test/docker/pod2docker.py" "$1" "$2" "$MIG_IMAGE" "${@:3}"
}

# run_spec FILE CONTAINER [CMD...]: docker run that container, in the
# foreground, with the test database's DATABASE_URL for the Secret (docker
# takes it from the environment: the password is no argument).
run_spec() {
	local args
	mapfile -t args < <(spec "$@")
	((${#args[@]})) || return 65
	docker run --rm --network host "${args[@]}"
}

# start_spec NAME FILE CONTAINER: the same in the background, as container
# NAME, removed by teardown.
start_spec() {
	local name=$1 args
	shift
	mapfile -t args < <(spec "$@")
	((${#args[@]})) || return 65
	CONTAINERS+=("$name")
	docker run -d --name "$name" --network host "${args[@]}" >/dev/null
}

running() { [[ $(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null) == true ]]; }

# The sandbox a manifest asks for is the one docker gets.
assert_sandbox() {
	run spec "$@"
	assert_success
	local a=" ${lines[*]} "
	[[ $a == *" --user 10001:10001 "* || $a == *" --user 10001 "* ]] || fail "no --user 10001: $a"
	[[ $a == *" --read-only "* ]] || fail "no --read-only: $a"
	[[ $a == *" --cap-drop ALL "* ]] || fail "no --cap-drop ALL: $a"
	[[ $a == *" --memory "* ]] || fail "no memory limit: $a"
	[[ $a == *" -e DATABASE_URL "* ]] || fail "DATABASE_URL is not taken from the Secret: $a"
	# Inside it: uid 10001, and nothing outside /tmp can be written.
	run run_spec "$@" bash -c 'id -u; touch /migrations/x /usr/local/x /x 2>&1; touch /tmp/x && echo tmp-ok'
	assert_success
	assert_line --index 0 10001
	assert_line --partial "cannot touch '/migrations/x': Read-only file system"
	assert_line --partial "cannot touch '/x': Read-only file system"
	assert_line tmp-ok
}

# job_applies FILE CONTAINER: the Job's pod applies every migration, and a
# second run of it applies nothing.
job_applies() {
	assert_sandbox "$@"
	run --separate-stderr run_spec "$@"
	assert_success
	assert_output "$(expected)"
	run applied_versions
	assert_output "$(expected | cut -f1)"
	run psql_admin -c "SELECT DISTINCT applied_by FROM mig_history"
	assert_output mig

	run --separate-stderr run_spec "$@"
	assert_success
	assert_output ""
	[[ $stderr == *"up to date"* ]] || fail "second run: $stderr"
	run applied_versions
	assert_output "$(expected | cut -f1)"
}

@test "the Job (job.yaml), run as its pod spec says: applies the migrations; a second run is a no-op" {
	run spec "$K8S/job.yaml" migrate
	assert_success
	assert_line no-new-privileges
	# No command or args: the image's default command runs.
	assert_equal "${lines[-1]}" "$MIG_IMAGE"
	job_applies "$K8S/job.yaml" migrate
}

@test "the Helm hook Job, rendered, runs the same: applies; a second run is a no-op" {
	job_applies "$BATS_FILE_TMPDIR/helm-rendered.yaml" migrate
}

@test "three initContainers started together all wait; none migrates; all pass once the Job has run" {
	assert_sandbox "$K8S/deployment.yaml" wait-for-schema
	local i
	for i in 1 2 3; do
		start_spec "mig-k8s-init-$$-$i" "$K8S/deployment.yaml" wait-for-schema
	done
	local deadline=$((SECONDS + 60))
	for i in 1 2 3; do
		until running "mig-k8s-init-$$-$i"; do
			((SECONDS < deadline)) || fail "initContainer $i never ran"
			sleep 0.2
		done
	done
	# They wait: still running a while later, and none has applied a thing.
	sleep 3
	for i in 1 2 3; do
		running "mig-k8s-init-$$-$i" || fail "initContainer $i exited before the Job ran: $(docker logs "mig-k8s-init-$$-$i" 2>&1)"
	done
	run table_exists mig_history
	assert_failure

	run --separate-stderr run_spec "$K8S/job.yaml" migrate
	assert_success
	assert_output "$(expected)"

	for i in 1 2 3; do
		run timeout 60 docker wait "mig-k8s-init-$$-$i"
		assert_success
		assert_output 0
	done
	# Each migration once, by the Job.
	run psql_admin -c "SELECT count(*) = count(DISTINCT version) FROM mig_history"
	assert_output t
	run applied_versions
	assert_output "$(expected | cut -f1)"
}

@test "the initContainer fails, and never passes, when mig-list fails (pipefail)" {
	local bad=$BATS_TEST_TMPDIR/bad
	mkdir -p "$bad"
	cp "$REPO"/migrations/*.sql "$bad/"
	: >"$bad/typo-no-version.sql"
	local args
	mapfile -t args < <(spec "$K8S/deployment.yaml" wait-for-schema)
	# Even with everything applied, a misnamed file fails the pod.
	run --separate-stderr run_spec "$K8S/job.yaml" migrate
	assert_success
	run --separate-stderr docker run --rm --network host -v "$bad:/migrations:ro" "${args[@]}"
	assert_failure 65
	[[ $stderr == *typo-no-version.sql* ]] || fail "no mig-list error: $stderr"
}

@test "three Job pods at once (a retried Job, a double apply): each migration exactly once, all exit 0" {
	local i
	for i in 1 2 3; do
		start_spec "mig-k8s-job-$$-$i" "$K8S/job.yaml" migrate
	done
	for i in 1 2 3; do
		run timeout 120 docker wait "mig-k8s-job-$$-$i"
		assert_output 0
		docker logs "mig-k8s-job-$$-$i" >>"$BATS_TEST_TMPDIR/applied" 2>/dev/null
	done
	# Between them the three printed each migration's line once.
	run sort "$BATS_TEST_TMPDIR/applied"
	assert_output "$(expected | sort)"
	run psql_admin -c "SELECT count(*) FROM mig_history"
	assert_output "$(expected | wc -l)"
}

@test "the ECS container definition, run as ECS would: applies the migrations; a second run is a no-op" {
	local td=$REPO/deploy/ecs/task-definition.json
	run spec "$td" migrate
	assert_success
	assert_equal "${lines[0]} ${lines[1]}" "--user 10001:10001"
	assert_line -- --init
	job_applies "$td" migrate
}

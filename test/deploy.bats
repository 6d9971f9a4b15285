#!/usr/bin/env bats
# The manifests in deploy/ checked offline (no cluster, no AWS account):
# scripts/check-deploy validates every Kubernetes object against the
# Kubernetes API schema (npm's kubernetes-models) and the ECS task
# definition against ECS's RegisterTaskDefinition input (botocore), then
# the project's own rules. Each check is also seen failing on a broken
# copy. What the manifests run is tested on Docker in docker-k8s.bats.

load helper

# No database here.
setup() {
	cd "$BATS_TEST_TMPDIR" || return
	cp -r "$REPO/deploy" deploy
}
teardown() { :; }

check() { "$REPO/scripts/check-deploy" deploy; }

@test "every manifest in deploy/ passes, checked by the named validators" {
	run --separate-stderr "$REPO/scripts/check-deploy"
	assert_success
	assert_line --regexp '^k8s-validate: [0-9]+ objects valid \(kubernetes-models [0-9.]+\)$'
	assert_line --regexp 'deploy/ecs/task-definition\.json: valid RegisterTaskDefinition input \(botocore [0-9.]+\)$'
	# The Job, the Deployment, the Secret and the rendered Helm hook.
	assert_line --partial "check-deploy: 4 Kubernetes objects"
}

@test "the Kubernetes schema: a wrong type and an unknown kind are errors" {
	sed -i 's/^  backoffLimit: 2$/  backoffLimit: "2"/' deploy/kubernetes/job.yaml
	run check
	assert_failure 1
	assert_line --regexp 'job\.yaml: Job mig-migrate: .*backoffLimit must be integer'

	cp -r "$REPO/deploy/kubernetes/job.yaml" deploy/kubernetes/job.yaml
	sed -i 's/^kind: Deployment$/kind: Deploymnet/' deploy/kubernetes/deployment.yaml
	run check
	assert_failure 1
	assert_line --partial "deployment.yaml: Deploymnet app: apps/v1 Deploymnet is not a Kubernetes API kind"
}

@test "the house rules: read-only root, user 10001, capabilities, limits, Job settings" {
	sed -i -e '/readOnlyRootFilesystem: true/d' -e 's/runAsUser: 10001/runAsUser: 0/' deploy/kubernetes/deployment.yaml
	sed -i -e '/ttlSecondsAfterFinished/d' -e '/drop: \["ALL"\]/d' -e '/^              memory: 256Mi$/d' \
		deploy/kubernetes/job.yaml
	run check
	assert_failure 1
	assert_line --partial "Deployment app container wait-for-schema: readOnlyRootFilesystem is not true"
	assert_line --partial "Deployment app container app: runAsUser is not 10001"
	assert_line --partial "Job mig-migrate: spec.ttlSecondsAfterFinished is not set"
	assert_line --partial "Job mig-migrate container migrate: capabilities.drop has no ALL"
	assert_line --partial "Job mig-migrate container migrate: resources.limits needs cpu and memory"
}

@test "the Helm chart: rendered without helm; other template actions and a missing hook are errors" {
	run --separate-stderr "$REPO/scripts/check-deploy" --render deploy/kubernetes/helm/mig-migrate
	assert_success
	assert_line '  name: mig-mig-migrate'
	assert_line '          image: "registry.example.com/mig:1.0.0"'
	assert_line '    helm.sh/hook: pre-install,pre-upgrade'
	refute_output --partial '{{'

	local t=deploy/kubernetes/helm/mig-migrate/templates/job.yaml
	sed -i 's/^  backoffLimit: .*/  backoffLimit: {{ default 2 .Values.retries }}/' "$t"
	sed -i '/helm.sh\/hook-delete-policy/d' "$t"
	run check
	assert_failure 1
	assert_line --regexp "templates/job\.yaml:[0-9]+: \{\{ default 2 \.Values\.retries \}\}: only"
	assert_line --partial "templates/job.yaml: the hook has no helm.sh/hook-delete-policy"
	sed -i 's/^  backoffLimit: .*/  backoffLimit: {{ .Values.retries }}/' "$t"
	run check
	assert_failure 1
	assert_line --regexp "templates/job\.yaml:[0-9]+: \.Values\.retries has no value"
}

@test "kustomization.yaml: every resource is a checked manifest" {
	sed -i 's/^  - job.yaml$/  - jobs.yaml/' deploy/kubernetes/kustomization.yaml
	echo 'commonLables: {a: b}' >>deploy/kubernetes/kustomization.yaml
	run check
	assert_failure 1
	assert_line --partial "kustomization.yaml: resource jobs.yaml is not a manifest here"
	assert_line --partial "kustomization.yaml: unknown field commonLables"
}

@test "the ECS task definition: botocore's validator and the house rules" {
	local td=deploy/ecs/task-definition.json
	python3 - "$td" <<-'EOF'
		import json, sys
		p = sys.argv[1]
		td = json.load(open(p))
		c = td["containerDefinitions"][0]
		c["readOnlyRootFilesystem"] = c.pop("readonlyRootFilesystem")
		c["memory"] = "256"
		c["logConfiguration"]["logDriver"] = "json-file"
		c["secrets"][0]["valueFrom"] = "plain-text-password"
		json.dump(td, open(p, "w"))
	EOF
	run check
	assert_failure 1
	assert_line --regexp 'task-definition\.json: Unknown parameter in containerDefinitions\[0\]: "readOnlyRootFilesystem"'
	assert_line --regexp 'task-definition\.json: Invalid type for parameter containerDefinitions\[0\]\.memory'
	assert_line --partial "container migrate: readonlyRootFilesystem is not true"
	assert_line --partial "container migrate: logDriver is not awslogs"
	assert_line --partial "container migrate: secret DATABASE_URL is not a Secrets Manager or SSM ARN"
}

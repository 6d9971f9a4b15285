#!/usr/bin/env bats
# The Debian package (make deb, scripts/mkdeb): what it holds, its Depends,
# lintian, and the package installed with apt into a clean Debian container
# (the base image of scripts/docker-base), where the tools apply migrations
# to the test server and the man pages and the completion work.
#
# The container reaches the Debian mirror the way the image builds of
# test/docker.bats do (host networking, the host's apt source), so apt
# resolves the package's Depends as it would on a user's machine. It also
# reaches the test server on 127.0.0.1.
#
# MIG_TEST_DOCKER=0 skips the file, and so does MIG_TEST_BUILD=0 (make
# check, which installs nothing) when no engine or no dpkg-dev is installed.

load helper

# bats 1.8.2 takes a skip in setup_file for a failure: setup_file leaves
# the reason in MIG_TEST_DOCKER_SKIP, and setup skips each test with it.
setup_file() {
	local t0=$SECONDS
	if [[ ${MIG_TEST_BUILD:-1} == 0 && ${MIG_TEST_DOCKER:-1} != 0 ]] &&
		{ ! command -v dpkg-shlibdeps >/dev/null || ! command -v lintian >/dev/null; }; then
		export MIG_TEST_DOCKER_SKIP="no dpkg-dev or lintian installed (scripts/deps docker installs them)"
		return 0
	fi
	mig_docker_engine || return
	[[ -z ${MIG_TEST_DOCKER_SKIP:-} ]] || return 0
	"$REPO/scripts/docker-base" base

	local log=$BATS_FILE_TMPDIR/setup.log
	mkdir -p "$BATS_FILE_TMPDIR/deb"
	DEB=$("$REPO/scripts/mkdeb" "$BATS_FILE_TMPDIR/deb" 2>"$log") ||
		{ cat "$log" >&2; return 1; }
	export DEB
	echo "# $(basename "$DEB") built after $((SECONDS - t0)) s" >&3

	# A clean base container that stays up for the tests (docker exec).
	# The base is trimmed like debian:bookworm-slim, which tells dpkg to
	# leave man pages out; a user who wants them removes that rule, as here.
	export CONTAINER=mig-deb-test-$$
	docker run -d --rm --network host --name "$CONTAINER" \
		-v "$BATS_FILE_TMPDIR/deb:/deb:ro" -v "$REPO/migrations:/work/migrations:ro" \
		"${MIG_BASE_IMAGE:-debian:bookworm-slim}" sleep infinity >/dev/null
	in_container bash -c '
		set -e
		rm -f /etc/dpkg/dpkg.cfg.d/docker
		apt-get update -q
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q /deb/'"$(basename "$DEB")"'
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q man-db bash-completion
	' >"$log" 2>&1 || { tail -40 "$log" >&2; return 1; }
	echo "# installed in the container after $((SECONDS - t0)) s" >&3
}

teardown_file() {
	[[ -n ${DOCKER_HOST:-} ]] || return 0
	if [[ -n ${CONTAINER:-} ]]; then
		docker rm -f "$CONTAINER" >/dev/null 2>&1 || true
	fi
	if [[ ${MIG_TEST_ENGINE_STARTED:-0} == 1 ]]; then
		"$REPO/scripts/docker-engine" stop
	fi
}

setup() {
	[[ -z ${MIG_TEST_DOCKER_SKIP:-} ]] || skip "$MIG_TEST_DOCKER_SKIP"
	mig_setup
}

teardown() { mig_teardown; }

# in_container COMMAND...: run COMMAND in the test container, in /work.
in_container() { docker exec -i -w /work "$CONTAINER" "$@"; }

# deb_field FIELD: a control field of the package.
deb_field() { dpkg-deb -f "$DEB" "$1"; }

@test "make deb: mig_VERSION_ARCH.deb, VERSION from mig.h" {
	local version
	version=$(sed -n 's/^#define MIG_VERSION "\(.*\)"$/\1/p' "$REPO/src/lib/mig.h")
	[[ -n $version ]]
	assert_equal "$(basename "$DEB")" "mig_${version}_$(dpkg --print-architecture).deb"
	assert_equal "$(deb_field Package)" mig
	assert_equal "$(deb_field Version)" "$version"
	assert_equal "$(deb_field Architecture)" "$(dpkg --print-architecture)"
}

@test "make deb: Depends names the package of every library the binaries load" {
	local x=$BATS_TEST_TMPDIR/x lib path owner depends n=0
	dpkg-deb -x "$DEB" "$x"
	depends=$(deb_field Depends)
	echo "Depends: $depends"
	# Each NEEDED soname of each tool, to the host package that ships it:
	# a library added to the link (libbsd, say) must show up here.
	while read -r lib; do
		path=$(ldconfig -p | awk -v l="$lib" '$1 == l { print $NF; exit }')
		[[ -n $path ]] || fail "no $lib on this machine"
		path=$(readlink -f "$path")
		# dpkg knows /lib/... for what merged-/usr has in /usr/lib/...
		owner=$(dpkg -S "$path" 2>/dev/null || dpkg -S "${path#/usr}")
		owner=$(head -1 <<<"$owner" | cut -d: -f1)
		echo "$lib: $owner"
		[[ ", $depends," == *", $owner "* || ", $depends," == *", $owner,"* ]] ||
			fail "Depends lacks $owner (for $lib)"
		n=$((n + 1))
	done < <(for f in "$x"/usr/bin/*; do readelf -d "$f"; done |
		sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u)
	((n >= 2))
	[[ $depends == *libpq5* ]]
	# The tools that do not connect load no libpq (the link's --as-needed).
	run readelf -d "$x/usr/bin/mig-list"
	refute_output --partial libpq
}

@test "make deb: the tools, man pages, mig.just, the completion and the doc files" {
	local t
	run dpkg-deb -c "$DEB"
	assert_success
	for t in mig-list mig-current mig-apply mig-revert mig-new mig-wait; do
		grep -qE "^-rwxr-xr-x root/root .* \./usr/bin/$t\$" <<<"$output" ||
			fail "no executable /usr/bin/$t"
		assert_output --partial " ./usr/share/man/man1/$t.1.gz"
		assert_output --partial " ./usr/share/bash-completion/completions/$t"
	done
	assert_output --partial " ./usr/share/mig/mig.just"
	assert_output --partial " ./usr/share/doc/mig/copyright"
	assert_output --partial " ./usr/share/doc/mig/changelog.gz"
	if [[ -f $REPO/src/mig.7 ]]; then
		assert_output --partial " ./usr/share/man/man7/mig.7.gz"
	fi
	# Nothing outside /usr.
	refute_output --regexp ' \./(etc|bin|lib|var|opt)/'
}

@test "lintian: no error" {
	run lintian --pedantic "$DEB"
	# Warnings and notes, if any, are left in the report.
	refute_output --regexp '^E: '
	echo "$output" | grep -E '^[WIPN]: ' >&3 || true
}

@test "apt installed it in a clean container, with its dependencies from Debian" {
	run in_container dpkg-query -W -f '${Status} ${Version}\n' mig
	assert_output "install ok installed $(deb_field Version)"
	run in_container sh -c 'command -v mig-apply'
	assert_output /usr/bin/mig-apply
	run in_container mig-apply --version
	assert_success
	assert_output "mig-apply (mig) $(deb_field Version)"
	run in_container test -f /usr/share/mig/mig.just
	assert_success
}

@test "the installed tools: mig-list | mig-apply on the test server, then mig-current" {
	local want
	want=$(cd "$REPO" && mig-list migrations | cut -f1)
	[[ -n $want ]]
	run in_container env DATABASE_URL="$DATABASE_URL" bash -c 'mig-list migrations | mig-apply'
	assert_success
	assert_equal "$(applied_versions)" "$want"
	run --separate-stderr in_container env DATABASE_URL="$DATABASE_URL" mig-current
	assert_success
	assert_output --regexp "^$(tail -1 <<<"$want")"$'\t'
}

@test "man mig-apply renders in the container" {
	run in_container env MANWIDTH=80 man -P cat mig-apply
	assert_success
	assert_output --partial SYNOPSIS
	assert_output --partial "mig-apply"
	assert_output --partial "--to"
	if [[ -f $REPO/src/mig.7 ]]; then
		run in_container env MANWIDTH=80 man -P cat 7 mig
		assert_success
	fi
}

@test "bash-completion loads the completion lazily for each tool name" {
	local t
	for t in mig-list mig-current mig-apply mig-revert mig-new mig-wait; do
		run in_container bash -c '
			source /usr/share/bash-completion/bash_completion
			complete -p "$1" 2>/dev/null && exit 1
			__load_completion "$1" && complete -p "$1"' _ "$t"
		assert_success
		assert_output "complete -F _mig_complete $t"
	done
	# And it completes: --to's versions from the migrations directory.
	run in_container bash -c '
		source /usr/share/bash-completion/completions/mig-revert
		COMP_WORDS=(mig-revert --to "")
		COMP_CWORD=2
		_mig_complete mig-revert "" --to
		printf "%s\n" "${COMPREPLY[@]}" | sort'
	assert_output "$(cd "$REPO" && mig-list migrations | cut -f1)"
}

#!/usr/bin/env bats
# The man pages: scripts/lint-synopsis (make lint), which checks that each
# tool's usage lines are its page's SYNOPSIS, run on the real pages and on
# copies doctored so that the check has something to find; and make install
# and uninstall of the pages, mig(7) included.

load helper


# doctor TOOL SED-SCRIPT: a copy of src/TOOL.1 with SED-SCRIPT applied, in
# $BATS_TEST_TMPDIR/man/; fails when the script changed nothing.
doctor() {
	mkdir -p "$BATS_TEST_TMPDIR/man"
	sed "$2" "$REPO/src/$1.1" >"$BATS_TEST_TMPDIR/man/$1.1"
	if cmp -s "$REPO/src/$1.1" "$BATS_TEST_TMPDIR/man/$1.1"; then
		echo "doctor: '$2' changed nothing in src/$1.1" >&2
		return 1
	fi
}

@test "man: every tool's usage() is its page's SYNOPSIS" {
	local t pages=()
	for t in mig-list mig-current mig-apply mig-revert mig-new mig-wait; do
		pages+=("$REPO/src/$t.1")
	done
	run --separate-stderr "$REPO/scripts/lint-synopsis" "$MIG_BIN" "${pages[@]}"
	[[ $stderr == '' ]] || fail "$stderr"
	assert_success
	assert_output ''
}

@test "man: a page whose option differs fails, naming the tool, the word and both forms" {
	doctor mig-apply 's/^\.Op Fl -mark-only$/.Op Fl -mark-all/'
	run --separate-stderr "$REPO/scripts/lint-synopsis" "$MIG_BIN" "$REPO/src/mig-list.1" \
		"$BATS_TEST_TMPDIR/man/mig-apply.1" "$REPO/src/mig-wait.1"
	assert_failure 1
	[[ $stderr == *"mig-apply: usage() and the SYNOPSIS of $BATS_TEST_TMPDIR/man/mig-apply.1 differ, form 1, word 8: usage() has '[--mark-only]', the page has '[--mark-all]'"* ]] ||
		fail "$stderr"
	[[ $stderr == *"usage(): mig-apply [-n|--dry-run] "* ]] || fail "$stderr"
	[[ $stderr == *"page:    mig-apply [-n|--dry-run] "*"[--mark-all]"* ]] || fail "$stderr"
	# Only the doctored page is named.
	[[ $stderr != *mig-list* && $stderr != *mig-wait* ]] || fail "$stderr"
}

@test "man: a missing option, another argument name, an extra form: each fails" {
	doctor mig-revert '/^\.Op Fl -no-list$/d'
	run --separate-stderr "$REPO/scripts/lint-synopsis" "$MIG_BIN" "$BATS_TEST_TMPDIR/man/mig-revert.1"
	assert_failure 1
	[[ $stderr == *"mig-revert: "*"word 4: usage() has '[--no-list]', the page has '[--steps'"* ]] || fail "$stderr"

	doctor mig-wait 's/^\.Op Fl t Ar SECONDS$/.Op Fl t Ar seconds/'
	run --separate-stderr "$REPO/scripts/lint-synopsis" "$MIG_BIN" "$BATS_TEST_TMPDIR/man/mig-wait.1"
	assert_failure 1
	[[ $stderr == *"mig-wait: "*"word 3: usage() has 'SECONDS]', the page has 'seconds]'"* ]] || fail "$stderr"

	doctor mig-list 's/^\.Op Ar DIR Ns \.\.\.$/&\n.Nm mig-list\n.Fl -help | -version/'
	run --separate-stderr "$REPO/scripts/lint-synopsis" "$MIG_BIN" "$BATS_TEST_TMPDIR/man/mig-list.1"
	assert_failure 1
	[[ $stderr == *"mig-list: "*"form 2, word 1: usage() has '(end)', the page has 'mig-list'"* ]] || fail "$stderr"
}

@test "man: white space and '|' spacing do not count; a page without a SYNOPSIS fails" {
	# mandoc writes "[-n | --dry-run]" where usage() writes "[-n|--dry-run]":
	# glued with Ns, the page still matches.
	doctor mig-apply 's/^\.Op Fl n | Fl -dry-run$/.Op Fl n Ns | Ns Fl -dry-run/'
	run --separate-stderr "$REPO/scripts/lint-synopsis" "$MIG_BIN" "$BATS_TEST_TMPDIR/man/mig-apply.1"
	assert_success
	# And the other way: usage() writes "[--steps N | --to VERSION | --all]".
	doctor mig-revert 's/^\.Op Fl -steps Ar N | Fl -to Ar VERSION | Fl -all$/.Op Fl -steps Ar N Ns | Ns Fl -to Ar VERSION Ns | Ns Fl -all/'
	run --separate-stderr "$REPO/scripts/lint-synopsis" "$MIG_BIN" "$BATS_TEST_TMPDIR/man/mig-revert.1"
	assert_success

	doctor mig-new '/^\.Sh SYNOPSIS$/,/^\.Sh DESCRIPTION$/{/^\.Sh DESCRIPTION$/!d}'
	run --separate-stderr "$REPO/scripts/lint-synopsis" "$MIG_BIN" "$BATS_TEST_TMPDIR/man/mig-new.1"
	assert_failure 1
	[[ $stderr == *"mig-new.1: no SYNOPSIS naming mig-new"* ]] || fail "$stderr"
}

@test "man: a page with no built tool beside it, and a bad call, are errors" {
	mkdir -p "$BATS_TEST_TMPDIR/man"
	cp "$REPO/src/mig-apply.1" "$BATS_TEST_TMPDIR/man/mig-nosuch.1"
	run --separate-stderr "$REPO/scripts/lint-synopsis" "$MIG_BIN" "$BATS_TEST_TMPDIR/man/mig-nosuch.1"
	assert_failure 1
	[[ $stderr == *"mig-nosuch: no $MIG_BIN/mig-nosuch to compare"* ]] || fail "$stderr"

	run --separate-stderr "$REPO/scripts/lint-synopsis" "$MIG_BIN"
	assert_failure 64
	[[ $stderr == "usage: lint-synopsis BINDIR PAGE..." ]] || fail "$stderr"
}

@test "man: make install puts the six pages in man1 and mig.7 in man7, uninstall removes them" {
	local stage=$BATS_TEST_TMPDIR/stage t
	# -o all: install what is built; the tests never rebuild the binaries.
	run make -s -C "$REPO" -o all install DESTDIR="$stage" PREFIX=/opt/mig
	assert_success
	cmp "$REPO/src/mig.7" "$stage/opt/mig/share/man/man7/mig.7"
	for t in mig-list mig-current mig-apply mig-revert mig-new mig-wait; do
		cmp "$REPO/src/$t.1" "$stage/opt/mig/share/man/man1/$t.1"
		[[ -x $stage/opt/mig/bin/$t ]] || fail "no $t installed"
	done
	run man -M "$stage/opt/mig/share/man" -w 7 mig
	assert_success
	assert_output "$stage/opt/mig/share/man/man7/mig.7"

	run make -s -C "$REPO" -o all install DESTDIR="$stage" MANDIR=/usr/share/man
	assert_success
	[[ -f $stage/usr/share/man/man7/mig.7 && -f $stage/usr/share/man/man1/mig-apply.1 ]] ||
		fail "MANDIR not used: $(find "$stage" -name 'mig*.[17]')"

	run make -s -C "$REPO" -o all uninstall DESTDIR="$stage" PREFIX=/opt/mig
	assert_success
	run make -s -C "$REPO" -o all uninstall DESTDIR="$stage" MANDIR=/usr/share/man
	assert_success
	run find "$stage" -type f
	assert_success
	assert_output ''
}

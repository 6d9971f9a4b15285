#!/usr/bin/env bats
# Bash completion (src/mig-completion.bash): what `complete -p` registers,
# and what the completion function offers for a few command lines, called
# as bash calls it, with COMP_WORDS and COMP_CWORD.

load helper

TOOLS=(mig-list mig-current mig-apply mig-revert mig-new mig-wait)

# comp WORD...: complete the last WORD of the command line WORD... (split
# as bash splits it: "--to=00" is "--to" "=" "00"); prints the offers
# sorted, one a line.
comp() {
	# shellcheck disable=SC1091
	source "$REPO/src/mig-completion.bash"
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_mig_complete "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]:-}"
	((${#COMPREPLY[@]} == 0)) || printf '%s\n' "${COMPREPLY[@]}" | sort
}

# help_options TOOL: every option TOOL --help lists in its option lines
# (the column before the description), but -?, sorted. Parsed apart from
# the completion's own reading, so that either going wrong shows.
help_options() {
	"$1" --help | grep -E '^ +-' | sed -E 's/^ +//; s/  .*//' |
		grep -oE -- '--?[A-Za-z][A-Za-z-]*' | sort -u
}

@test "completion: complete -p shows the function registered for each of the six tools" {
	# shellcheck disable=SC1091
	source "$REPO/src/mig-completion.bash"
	local t
	for t in "${TOOLS[@]}"; do
		run complete -p "$t"
		assert_success
		assert_output "complete -F _mig_complete $t"
	done
	run complete -p mig-other
	assert_failure
}

@test "completion: every option of each tool's --help is offered for -, and nothing else" {
	local t want
	for t in "${TOOLS[@]}"; do
		want=$(help_options "$t")
		# At least the options every tool has, so an empty parse fails.
		[[ $want == *--help* && $want == *--version* ]]
		run comp "$t" -
		assert_success
		assert_output "$(sort -u <<<"$want")"
	done
	want=$(help_options mig-apply)
	[[ $want == *--dry-run* && $want == *--to* && $want == *--dbname* && $want == *-U* ]]
}

@test "completion: a prefix narrows the options; the value of an option is not taken for one" {
	run comp mig-apply -q --d
	assert_output "$(printf '%s\n' --dbname --dry-run)"
	run comp mig-revert --st
	assert_output "$(printf '%s\n' --statement-timeout --steps)"
	run comp mig-current --j
	assert_output --json
	# After -p, a port is expected: no options, nothing at all.
	run comp mig-wait -p ''
	assert_output ''
}

@test "completion: mig-list DIR and mig-new -D complete directories, never files" {
	mkdir -p migrations db/migrations 'with space'
	: >migrations/0001_a.sql
	: >mfile
	run comp mig-list ''
	assert_output "$(printf '%s\n' db migrations 'with space')"
	run comp mig-list migrations db/
	assert_output db/migrations
	run comp mig-list m
	assert_output migrations
	run comp mig-new -D m
	assert_output migrations
	run comp mig-new --dir = d
	assert_output db
	run comp mig-new --dir =
	assert_output "$(printf '%s\n' db migrations 'with space')"
	# mig-new's NAME and mig-apply's (absent) arguments: nothing.
	run comp mig-new -D migrations ''
	assert_output ''
	run comp mig-apply ''
	assert_output ''
}

@test "completion: --to completes the versions of the migrations directory, or \$MIG_DIR's" {
	mkdir -p migrations other
	: >migrations/0001_create_users.sql
	: >migrations/0002_add_posts.up.sql
	: >migrations/0002_add_posts.down.sql
	: >migrations/0010_index.sql
	: >migrations/notes.sql
	: >migrations/0003_readme.txt
	: >other/20240101120000_x.sql
	run comp mig-apply --to ''
	assert_output "$(printf '%s\n' 0001 0002 0010)"
	run comp mig-revert --to 000
	assert_output "$(printf '%s\n' 0001 0002)"
	run comp mig-apply -q --to = 001
	assert_output 0010
	run comp mig-apply --to =
	assert_output "$(printf '%s\n' 0001 0002 0010)"
	MIG_DIR=other run comp mig-revert --to ''
	assert_output 20240101120000
	# mig-current has no --to: its next word is no version.
	run comp mig-current --to ''
	assert_output ''
	# No migrations directory: nothing, and no error.
	MIG_DIR=absent run --separate-stderr comp mig-apply --to ''
	assert_success
	assert_output ''
	assert_equal "$stderr" ''
}

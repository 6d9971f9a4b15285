# Bash completion for mig's six tools: mig-list, mig-current, mig-apply,
# mig-revert, mig-new, mig-wait.
#
# Installed as .../bash-completion/completions/mig-list, with the other five
# names linked to it, so that bash-completion's lazy loading finds it under
# whichever tool is completed first; sourcing it registers all six.
#
# The options come from the tool's own --help at completion time, so a
# tool's new option completes without a change here. Values: a directory
# for -D/--dir and mig-list's DIR arguments, the versions of the migrations
# directory ($MIG_DIR, else migrations) for --to, host names for -h/--host,
# user names for -U/--username.

# _mig_help_options TOOL: TOOL --help's options, one a line, each followed
# by "=" when it takes a value ("--to=", "-d=", "--status"). -? is left
# out: a lone ? on a command line is a glob.
_mig_help_options() {
	local line re_both re_long
	re_both='^ +(-[A-Za-z?]), (--[a-z][a-z-]*)(=[^ ]+)?( |$)'
	re_long='^ +(--[a-z][a-z-]*)(=[^ ]+)?( |$)'
	while IFS= read -r line; do
		if [[ $line =~ $re_both ]]; then
			[[ ${BASH_REMATCH[1]} == '-?' ]] ||
				printf '%s%s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[3]:+=}"
			printf '%s%s\n' "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]:+=}"
		elif [[ $line =~ $re_long ]]; then
			printf '%s%s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]:+=}"
		fi
	done < <("$1" --help 2>/dev/null)
}

# _mig_versions: the versions of the migration files in $MIG_DIR (else
# migrations), once each: the digits before the first _ of a .sql name.
_mig_versions() {
	local f name
	local -A seen=()
	for f in "${MIG_DIR:-migrations}"/*.sql; do
		name=${f##*/}
		[[ $name =~ ^([0-9]+)_ && -f $f ]] || continue
		[[ -n ${seen[${BASH_REMATCH[1]}]:-} ]] && continue
		seen[${BASH_REMATCH[1]}]=1
		printf '%s\n' "${BASH_REMATCH[1]}"
	done
}

# _mig_reply WORDS CUR: COMPREPLY is the words of the list WORDS (one a
# line) that start with CUR.
_mig_reply() {
	local w
	COMPREPLY=()
	while IFS= read -r w; do
		[[ -n $w && $w == "$2"* ]] && COMPREPLY+=("$w")
	done <<<"$1"
}

# _mig_dirs CUR: COMPREPLY is the directories that start with CUR, shown
# and quoted as file names (a / after each).
_mig_dirs() {
	mapfile -t COMPREPLY < <(compgen -d -- "$1")
	compopt -o filenames 2>/dev/null
	return 0
}

# _mig_complete TOOL CUR PREV: complete -F's function for the six tools.
_mig_complete() {
	local tool=${1##*/} cur=${COMP_WORDS[COMP_CWORD]} opt='' opts o w
	local i=$COMP_CWORD
	COMPREPLY=()
	opts=$(_mig_help_options "$1")

	# The option whose value is being completed: --to VERSION, -D DIR, and
	# --to=VERSION, which bash splits into "--to" "=" "VERSION".
	if [[ $cur == = ]]; then
		opt=${COMP_WORDS[i - 1]} cur=''
	elif ((i >= 2)) && [[ ${COMP_WORDS[i - 1]} == = ]]; then
		opt=${COMP_WORDS[i - 2]}
	elif ((i >= 1)); then
		o=${COMP_WORDS[i - 1]}
		while IFS= read -r w; do
			[[ $w == "$o=" ]] && opt=$o
		done <<<"$opts"
	fi

	if [[ -n $opt ]]; then
		# The short and the long name of one option share its help line.
		case $opt in
			-D | --dir) _mig_dirs "$cur" ;;
			--to) _mig_reply "$(_mig_versions)" "$cur" ;;
			-h | --host) mapfile -t COMPREPLY < <(compgen -A hostname -- "$cur") ;;
			-U | --username) mapfile -t COMPREPLY < <(compgen -u -- "$cur") ;;
		esac
		return 0
	fi

	if [[ $cur == -* ]]; then
		# Offered without the "=": both --to VERSION and --to=VERSION work.
		_mig_reply "${opts//=/}" "$cur"
		return 0
	fi

	case $tool in
		mig-list) _mig_dirs "$cur" ;;
	esac
	return 0
}

complete -F _mig_complete mig-list mig-current mig-apply mig-revert mig-new mig-wait

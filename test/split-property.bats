#!/usr/bin/env bats
# The splitter's property test: for generated SQL full of quotes, dollar
# quotes and comments, the statements cover the input exactly (the fuzz
# target checks that on every input) and PostgreSQL, given the whole text
# as one query, runs exactly as many statements as the splitter finds.

load helper

setup_file() {
	make -s -C "$REPO" build/splitcount >/dev/null
}

# One statement that prints "1", with something tricky inside.
piece() {
	case $((RANDOM % 12)) in
		0) printf "SELECT 1 WHERE 'a;b''c;' IS NOT NULL" ;;
		1) printf "SELECT 1 WHERE E'it\\\\'s; \\\\\\\\' IS NOT NULL" ;;
		2) printf 'SELECT 1 AS "we;ird""name"' ;;
		3) printf 'SELECT 1 WHERE $$x; y$$ IS NOT NULL' ;;
		4) printf 'SELECT 1 WHERE $t$ $$; $u$ ; $t$ IS NOT NULL' ;;
		5) printf 'SELECT /* c; /* nested; */ still; */ 1' ;;
		6) printf 'SELECT 1 -- trailing; comment\n' ;;
		7) printf 'SELECT (1)' ;;
		8) printf "SELECT 1 WHERE 'C:\\\\' IS NOT NULL" ;;
		9) printf 'SELECT 1 FROM (SELECT 2 AS "begin") s' ;;
		10) printf 'SELECT CASE WHEN true THEN 1 END' ;;
		11) printf 'SELECT 1 WHERE $a$;$a$ = $b$;$b$' ;;
	esac
}

# Glue between statements: white space, comments, and empty statements.
glue() {
	case $((RANDOM % 5)) in
		0) printf ';\n' ;;
		1) printf '; -- a comment; with a semicolon\n' ;;
		2) printf ';\n/* block; */\n' ;;
		3) printf ';;\n' ;;
		4) printf ';' ;;
	esac
}

@test "split: PostgreSQL runs as many statements as the splitter finds, over 150 generated scripts" {
	local trial n k script ours theirs
	for ((trial = 0; trial < 150; trial++)); do
		RANDOM=$trial
		n=$((1 + RANDOM % 6))
		script=''
		for ((k = 0; k < n; k++)); do
			script+=$(piece; printf x)
			script=${script%x}
			script+=$(glue; printf x)
			script=${script%x}
		done
		ours=$(printf '%s' "$script" | "$REPO/build/splitcount")
		theirs=$(psql_admin -c "$script" | grep -c '^1$' || true)
		if [[ $ours != "$n" || $theirs != "$n" ]]; then
			printf 'trial %d: generated %d, splitter %s, PostgreSQL %s\n%s\n' \
				"$trial" "$n" "$ours" "$theirs" "$script" >&2
			return 1
		fi
	done
}

#!/usr/bin/env bats
# The list format: what mig-list prints from a directory scan, and what the
# readers (mig-apply, mig-current --status) accept on stdin.

load helper

# mk FILE...: empty files (mig-list checks names only).
mk() {
	local f
	for f in "$@"; do
		mkdir -p "$(dirname "$f")"
		: >"$f"
	done
}

# ok_mig FILE: a valid dbmate migration that a reader can load.
ok_mig() {
	mkdir -p "$(dirname "$1")"
	printf -- '-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 2;\n' >"$1"
}

TAB=$'\t'

# ---- mig-list: scanning -------------------------------------------------

@test "mig-list: prints VERSION<TAB>NAME<TAB>PATH, one line per file, no header" {
	mk migrations/20240101120000_create_users.sql migrations/20240102090000_add_index.sql
	run --separate-stderr mig-list
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_line -n 0 "20240101120000${TAB}create_users${TAB}migrations/20240101120000_create_users.sql"
	assert_line -n 1 "20240102090000${TAB}add_index${TAB}migrations/20240102090000_add_index.sql"
	assert_equal "$stderr" ''
}

@test "mig-list: an empty directory lists nothing and exits 0" {
	run --separate-stderr mig-list
	assert_success
	assert_output ''
}

@test "mig-list: DIR defaults to \$MIG_DIR before migrations" {
	mk migrations/0001_default.sql elsewhere/0002_from_env.sql
	MIG_DIR=elsewhere run mig-list
	assert_success
	assert_output "0002${TAB}from_env${TAB}elsewhere/0002_from_env.sql"
}

@test "mig-list: an empty \$MIG_DIR falls back to migrations" {
	mk migrations/0001_default.sql
	MIG_DIR='' run mig-list
	assert_success
	assert_output "0001${TAB}default${TAB}migrations/0001_default.sql"
}

@test "mig-list: a DIR argument wins over \$MIG_DIR" {
	mk migrations/0001_default.sql elsewhere/0002_from_env.sql
	MIG_DIR=elsewhere run mig-list migrations
	assert_success
	assert_output "0001${TAB}default${TAB}migrations/0001_default.sql"
}

@test "mig-list: without DIR and without a migrations directory it exits 66 naming it" {
	rmdir migrations
	run mig-list
	assert_failure 66
	assert_output --partial 'migrations'
}

@test "mig-list: a missing DIR exits 66 naming it and prints no list" {
	mk migrations/0001_a.sql
	run --separate-stderr mig-list migrations no_such_dir
	assert_failure 66
	assert_equal "$output" ''
	[[ $stderr == *no_such_dir* ]]
}

@test "mig-list: PATH is DIR joined with one slash, relative stays relative" {
	mk migrations/0001_a.sql sub/dir/0002_b.sql
	run mig-list migrations/
	assert_success
	assert_output "0001${TAB}a${TAB}migrations/0001_a.sql"

	run mig-list ./sub/dir
	assert_success
	assert_output "0002${TAB}b${TAB}./sub/dir/0002_b.sql"

	run mig-list sub//dir//
	assert_success
	assert_output "0002${TAB}b${TAB}sub//dir/0002_b.sql"

	cd sub
	run mig-list ../migrations
	assert_success
	assert_output "0001${TAB}a${TAB}../migrations/0001_a.sql"
}

@test "mig-list: an absolute DIR gives absolute paths" {
	mk migrations/0001_a.sql
	run mig-list "$PWD/migrations"
	assert_success
	assert_output "0001${TAB}a${TAB}$PWD/migrations/0001_a.sql"
}

@test "mig-list: several DIRs give one list merged in version order" {
	mk a/0001_one.sql a/0004_four.sql b/0002_two.sql b/0003_three.up.sql c/0005_five.sql
	run mig-list c b a
	assert_success
	assert_equal "${#lines[@]}" 5
	assert_line -n 0 "0001${TAB}one${TAB}a/0001_one.sql"
	assert_line -n 1 "0002${TAB}two${TAB}b/0002_two.sql"
	assert_line -n 2 "0003${TAB}three${TAB}b/0003_three.up.sql"
	assert_line -n 3 "0004${TAB}four${TAB}a/0004_four.sql"
	assert_line -n 4 "0005${TAB}five${TAB}c/0005_five.sql"
}

@test "mig-list: the same version in two DIRs is a duplicate: 65 naming both files" {
	mk a/0001_one.sql b/0001_other.sql
	run --separate-stderr mig-list a b
	assert_failure 65
	assert_equal "$output" ''
	[[ $stderr == *a/0001_one.sql* ]]
	[[ $stderr == *b/0001_other.sql* ]]
}

@test "mig-list: files not ending in .sql are ignored" {
	mk migrations/README.md migrations/.gitkeep migrations/0001_a.sql.bak \
		migrations/0002_b.txt migrations/notes migrations/0003_c.sql
	run --separate-stderr mig-list
	assert_success
	assert_output "0003${TAB}c${TAB}migrations/0003_c.sql"
	assert_equal "$stderr" ''
}

@test "mig-list: a .sql file not starting with digits and _ exits 65 naming it" {
	local bad
	for bad in add_users.sql V1__init.sql 0001-init.sql 0001.sql _0001_x.sql 12a_x.sql; do
		rm -f migrations/*
		mk migrations/0002_good.sql "migrations/$bad"
		run --separate-stderr mig-list
		assert_failure 65
		assert_equal "$output" ''
		[[ $stderr == *"migrations/$bad"* ]] || fail "stderr does not name $bad: $stderr"
	done
}

@test "mig-list: every bad name is reported, not only the first" {
	mk migrations/0001_good.sql migrations/oops.sql migrations/typo-2.sql
	run --separate-stderr mig-list
	assert_failure 65
	[[ $stderr == *migrations/oops.sql* ]]
	[[ $stderr == *migrations/typo-2.sql* ]]
}

@test "mig-list: an empty NAME after the version exits 65 naming the file" {
	mk migrations/0001_.sql
	run mig-list
	assert_failure 65
	assert_output --partial 'migrations/0001_.sql'

	rm migrations/0001_.sql
	mk migrations/0002_.up.sql
	run mig-list
	assert_failure 65
	assert_output --partial 'migrations/0002_.up.sql'
}

@test "mig-list: a NAME holding a TAB or a newline exits 65" {
	mk "migrations/0001_a${TAB}b.sql"
	run mig-list
	assert_failure 65
	assert_output --partial 'migrations/0001_a'

	rm migrations/*
	mk $'migrations/0002_a\nb.sql'
	run mig-list
	assert_failure 65
	assert_output --partial 'migrations/0002_a'
}

@test "mig-list: two files with the same version exit 65 naming both" {
	mk migrations/0001_create.sql migrations/0001_other.sql migrations/0002_ok.sql
	run --separate-stderr mig-list
	assert_failure 65
	assert_equal "$output" ''
	[[ $stderr == *migrations/0001_create.sql* ]]
	[[ $stderr == *migrations/0001_other.sql* ]]
}

@test "mig-list: 0001 and 1 are the same version: a duplicate" {
	mk migrations/0001_a.sql migrations/1_b.sql
	run --separate-stderr mig-list
	assert_failure 65
	[[ $stderr == *migrations/0001_a.sql* ]]
	[[ $stderr == *migrations/1_b.sql* ]]
}

@test "mig-list: a single file and a pair with the same version are duplicates" {
	mk migrations/0001_a.sql migrations/0001_a.up.sql migrations/0001_a.down.sql
	run --separate-stderr mig-list
	assert_failure 65
	[[ $stderr == *migrations/0001_a.sql* ]]
	[[ $stderr == *migrations/0001_a.up.sql* ]]
}

@test "mig-list: an up and a down of different names are not a pair: 65" {
	mk migrations/0001_a.up.sql migrations/0001_b.down.sql
	run --separate-stderr mig-list
	assert_failure 65
	assert_equal "$output" ''
	[[ $stderr == *migrations/0001_b.down.sql* ]]
}

@test "mig-list: a .down.sql with no .up.sql exits 65 naming it" {
	mk migrations/0001_a.sql migrations/0002_b.down.sql
	run --separate-stderr mig-list
	assert_failure 65
	assert_equal "$output" ''
	[[ $stderr == *migrations/0002_b.down.sql* ]]
}

@test "mig-list: a .down.sql whose .up.sql is in another DIR exits 65" {
	mk a/0001_x.up.sql b/0001_x.down.sql
	run --separate-stderr mig-list a b
	assert_failure 65
	[[ $stderr == *b/0001_x.down.sql* ]]
}

@test "mig-list: a pair is listed once, by its .up.sql" {
	mk migrations/0001_a.up.sql migrations/0001_a.down.sql migrations/0002_b.sql
	run mig-list
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_line -n 0 "0001${TAB}a${TAB}migrations/0001_a.up.sql"
	assert_line -n 1 "0002${TAB}b${TAB}migrations/0002_b.sql"
}

@test "mig-list: an .up.sql alone is listed (an irreversible migration)" {
	mk migrations/0001_a.up.sql
	run mig-list
	assert_success
	assert_output "0001${TAB}a${TAB}migrations/0001_a.up.sql"
}

@test "mig-list: versions sort by integer value: 2 before 10, 9 before 0010" {
	mk migrations/10_ten.sql migrations/2_two.sql migrations/0009_nine.sql migrations/100_hundred.sql migrations/0011_eleven.sql
	run mig-list
	assert_success
	assert_equal "${#lines[@]}" 5
	assert_line -n 0 "2${TAB}two${TAB}migrations/2_two.sql"
	assert_line -n 1 "0009${TAB}nine${TAB}migrations/0009_nine.sql"
	assert_line -n 2 "10${TAB}ten${TAB}migrations/10_ten.sql"
	assert_line -n 3 "0011${TAB}eleven${TAB}migrations/0011_eleven.sql"
	assert_line -n 4 "100${TAB}hundred${TAB}migrations/100_hundred.sql"
}

@test "mig-list: sequence numbers sort before timestamps, VERSION kept as written" {
	mk migrations/20240101000000_ts.sql migrations/0042_seq.sql migrations/000_zero.sql
	run mig-list
	assert_success
	assert_line -n 0 "000${TAB}zero${TAB}migrations/000_zero.sql"
	assert_line -n 1 "0042${TAB}seq${TAB}migrations/0042_seq.sql"
	assert_line -n 2 "20240101000000${TAB}ts${TAB}migrations/20240101000000_ts.sql"
}

@test "mig-list: a 19-digit version is accepted and sorts by value" {
	mk migrations/9999999999999999999_max.sql migrations/1000000000000000000_min19.sql \
		migrations/20240101000000_ts.sql
	run mig-list
	assert_success
	assert_line -n 0 "20240101000000${TAB}ts${TAB}migrations/20240101000000_ts.sql"
	assert_line -n 1 "1000000000000000000${TAB}min19${TAB}migrations/1000000000000000000_min19.sql"
	assert_line -n 2 "9999999999999999999${TAB}max${TAB}migrations/9999999999999999999_max.sql"
}

@test "mig-list: a version of more than 19 digits exits 65 naming the file" {
	mk migrations/0001_ok.sql migrations/00000000000000000002_twenty.sql
	run --separate-stderr mig-list
	assert_failure 65
	assert_equal "$output" ''
	[[ $stderr == *migrations/00000000000000000002_twenty.sql* ]]

	rm migrations/00000000000000000002_twenty.sql
	mk migrations/99999999999999999999_big.sql
	run mig-list
	assert_failure 65
	assert_output --partial 'migrations/99999999999999999999_big.sql'
}

@test "mig-list: names with spaces, quotes, semicolons and dots are kept as they are" {
	mk "migrations/0001_it's a \"name\"; DROP TABLE x.sql" \
		'migrations/0002_with $dollar & amp.v2.sql' \
		'migrations/0003_ünïcode.up.sql'
	run mig-list
	assert_success
	assert_line -n 0 "0001${TAB}it's a \"name\"; DROP TABLE x${TAB}migrations/0001_it's a \"name\"; DROP TABLE x.sql"
	assert_line -n 1 "0002${TAB}with \$dollar & amp.v2${TAB}migrations/0002_with \$dollar & amp.v2.sql"
	assert_line -n 2 "0003${TAB}ünïcode${TAB}migrations/0003_ünïcode.up.sql"
}

@test "mig-list: checks names only: a file with broken contents is still listed" {
	printf 'this is not a migration\n' >migrations/0001_broken.sql
	run mig-list
	assert_success
	assert_output "0001${TAB}broken${TAB}migrations/0001_broken.sql"
}

@test "mig-list: its output is read back unchanged by mig-apply -n" {
	ok_mig migrations/0002_b.sql
	ok_mig migrations/0010_c.sql
	mk migrations/0001_a.up.sql migrations/0001_a.down.sql
	printf 'SELECT 1;\n' >migrations/0001_a.up.sql
	run mig-list
	assert_success
	local listed=$output
	run mig-apply -n < <(mig-list)
	assert_success
	assert_output "$listed"
}

@test "mig-list: --help prints usage on stdout and exits 0; a bad option is 64" {
	run --separate-stderr mig-list --help
	assert_success
	assert_output --partial 'mig-list'
	run --separate-stderr mig-list --bogus
	assert_failure 64
	assert_equal "$output" ''
}

# ---- the list readers ---------------------------------------------------

@test "list reader: a bare path is normalized to the three-field line" {
	ok_mig migrations/0001_a.sql
	ok_mig 'migrations/0002_b c.sql'
	run --separate-stderr mig-apply -n <<-EOF
		migrations/0001_a.sql
		migrations/0002_b c.sql
	EOF
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_line -n 0 "0001${TAB}a${TAB}migrations/0001_a.sql"
	assert_line -n 1 "0002${TAB}b c${TAB}migrations/0002_b c.sql"
}

@test "list reader: mig-current --status reads bare paths and three-field lines alike" {
	ok_mig migrations/0001_a.sql
	ok_mig migrations/0002_b.sql
	run --separate-stderr mig-current --status <<-EOF
		migrations/0001_a.sql
		0002${TAB}b${TAB}migrations/0002_b.sql
	EOF
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_line -n 0 "pending${TAB}0001${TAB}a"
	assert_line -n 1 "pending${TAB}0002${TAB}b"
}

@test "list reader: a bare path of a pair lists the .up.sql and finds its .down.sql" {
	printf 'CREATE TABLE p (id int);\n' >migrations/0001_p.up.sql
	printf 'DROP TABLE p;\n' >migrations/0001_p.down.sql
	run --separate-stderr mig-apply <<<"migrations/0001_p.up.sql"
	assert_success
	assert_output "0001${TAB}p${TAB}migrations/0001_p.up.sql"
	run psql_admin -c "SELECT path, down_sql FROM mig_history"
	assert_output "migrations/0001_p.up.sql|DROP TABLE p;"
}

@test "list reader: listing the .down.sql of a pair is 65 naming the line" {
	printf 'SELECT 1;\n' >migrations/0001_p.up.sql
	printf 'SELECT 1;\n' >migrations/0001_p.down.sql
	run --separate-stderr mig-apply -n <<<"migrations/0001_p.down.sql"
	assert_failure 65
	assert_equal "$output" ''
	[[ $stderr == *:1:* ]]
}

@test "list reader: blank lines, white-space lines and # lines are ignored" {
	ok_mig migrations/0001_a.sql
	ok_mig migrations/0002_b.sql
	run --separate-stderr mig-apply -n <<-EOF

		# a comment
		migrations/0001_a.sql
		    
		#migrations/0009_gone.sql

		0002${TAB}b${TAB}migrations/0002_b.sql
		# the end
	EOF
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_line -n 0 "0001${TAB}a${TAB}migrations/0001_a.sql"
	assert_line -n 1 "0002${TAB}b${TAB}migrations/0002_b.sql"
}

@test "list reader: an empty list is nothing to do" {
	run --separate-stderr mig-apply </dev/null
	assert_success
	assert_output ''
}

@test "list reader: a trailing CR is dropped from both line forms" {
	ok_mig migrations/0001_a.sql
	ok_mig migrations/0002_b.sql
	run --separate-stderr mig-apply -n < <(printf 'migrations/0001_a.sql\r\n\r\n# c\r\n0002\tb\tmigrations/0002_b.sql\r\n')
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_line -n 0 "0001${TAB}a${TAB}migrations/0001_a.sql"
	assert_line -n 1 "0002${TAB}b${TAB}migrations/0002_b.sql"
	[[ $output != *$'\r'* ]]
}

@test "list reader: the last line may lack its newline" {
	ok_mig migrations/0001_a.sql
	run mig-apply -n < <(printf 'migrations/0001_a.sql')
	assert_success
	assert_output "0001${TAB}a${TAB}migrations/0001_a.sql"
}

@test "list reader: lines are taken in version order whatever their order" {
	ok_mig migrations/10_ten.sql
	ok_mig migrations/2_two.sql
	run mig-apply -n <<-EOF
		migrations/10_ten.sql
		migrations/2_two.sql
	EOF
	assert_success
	assert_line -n 0 "2${TAB}two${TAB}migrations/2_two.sql"
	assert_line -n 1 "10${TAB}ten${TAB}migrations/10_ten.sql"
}

@test "list reader: a line with two fields is 65 naming its line number" {
	ok_mig migrations/0001_a.sql
	run --separate-stderr mig-apply -n <<-EOF
		migrations/0001_a.sql
		# comment lines count
		0002${TAB}b
	EOF
	assert_failure 65
	assert_equal "$output" ''
	[[ $stderr == *:3:* ]] || fail "no line 3 in: $stderr"
}

@test "list reader: a line with four fields is 65 naming its line number" {
	ok_mig migrations/0001_a.sql
	run --separate-stderr mig-apply -n <<-EOF

		0001${TAB}a${TAB}migrations/0001_a.sql${TAB}extra
	EOF
	assert_failure 65
	[[ $stderr == *:2:* ]] || fail "no line 2 in: $stderr"
}

@test "list reader: a bare line that is not a migration name is 65 naming the line" {
	ok_mig migrations/0001_a.sql
	: >migrations/README.md
	local bad
	for bad in hello migrations/README.md migrations/add_users.sql 'migrations/0002_.sql' \
		migrations/00000000000000000003_long.sql; do
		run --separate-stderr mig-apply -n <<-EOF
			migrations/0001_a.sql
			$bad
		EOF
		assert_failure 65
		assert_equal "$output" ''
		[[ $stderr == *:2:* ]] || fail "no line 2 for '$bad' in: $stderr"
	done
}

@test "list reader: an empty PATH field is 65 naming the line" {
	run --separate-stderr mig-apply -n <<<"0001${TAB}a${TAB}"
	assert_failure 65
	[[ $stderr == *:1:* ]]
}

@test "list reader: a VERSION disagreeing with the basename is 65 naming the line" {
	ok_mig migrations/0001_a.sql
	ok_mig migrations/0002_b.sql
	run --separate-stderr mig-apply -n <<-EOF
		migrations/0001_a.sql
		0003${TAB}b${TAB}migrations/0002_b.sql
	EOF
	assert_failure 65
	assert_equal "$output" ''
	[[ $stderr == *:2:* ]]
}

@test "list reader: VERSION must be as written: 2 for 0002_b.sql disagrees" {
	ok_mig migrations/0002_b.sql
	run --separate-stderr mig-apply -n <<<"2${TAB}b${TAB}migrations/0002_b.sql"
	assert_failure 65
	[[ $stderr == *:1:* ]]
}

@test "list reader: a NAME disagreeing with the basename is 65 naming the line" {
	ok_mig migrations/0001_a.sql
	ok_mig migrations/0002_b.sql
	run --separate-stderr mig-current --status <<-EOF
		0001${TAB}a${TAB}migrations/0001_a.sql
		0002${TAB}B${TAB}migrations/0002_b.sql
	EOF
	assert_failure 65
	assert_equal "$output" ''
	[[ $stderr == *:2:* ]]
}

@test "list reader: two lines with the same version are 65 naming the line" {
	ok_mig migrations/0001_a.sql
	mkdir other
	ok_mig other/1_b.sql
	run --separate-stderr mig-apply -n <<-EOF
		migrations/0001_a.sql
		other/1_b.sql
	EOF
	assert_failure 65
	assert_equal "$output" ''
	[[ $stderr == *:2:* ]] || fail "no line 2 in: $stderr"

	run --separate-stderr mig-apply -n <<-EOF
		migrations/0001_a.sql

		0001${TAB}a${TAB}migrations/0001_a.sql
	EOF
	assert_failure 65
	[[ $stderr == *:3:* ]] || fail "no line 3 in: $stderr"
}

@test "list reader: a listed file that does not exist exits 66 naming it" {
	ok_mig migrations/0001_a.sql
	run --separate-stderr mig-apply -n <<-EOF
		migrations/0001_a.sql
		0002${TAB}gone${TAB}migrations/0002_gone.sql
	EOF
	assert_failure 66
	assert_equal "$output" ''
	[[ $stderr == *migrations/0002_gone.sql* ]]

	run --separate-stderr mig-current --status <<<"migrations/0003_gone.sql"
	assert_failure 66
	[[ $stderr == *migrations/0003_gone.sql* ]]
}

@test "list reader: a bad list is refused before connecting (65, not 69)" {
	ok_mig migrations/0001_a.sql
	local url="postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"
	DATABASE_URL=$url run mig-apply -n <<<"0001${TAB}a"
	assert_failure 65
	DATABASE_URL=$url run mig-current --status <<<"migrations/0009_gone.sql"
	assert_failure 66
	# and the same good list reaches the connection and fails there
	DATABASE_URL=$url run mig-apply -n <<<"migrations/0001_a.sql"
	assert_failure 69
}

@test "list reader: nothing is applied when any line is bad" {
	ok_mig migrations/0001_a.sql
	run mig-apply <<-EOF
		migrations/0001_a.sql
		0002${TAB}b${TAB}migrations/0001_a.sql
	EOF
	assert_failure 65
	run applied_versions
	assert_output ''
	run table_exists mig_history
	assert_failure
}

@test "list reader: the PATH is used as given and recorded so" {
	ok_mig migrations/0001_a.sql
	run --separate-stderr mig-apply <<<"./migrations//0001_a.sql"
	assert_success
	assert_output "0001${TAB}a${TAB}./migrations//0001_a.sql"
	run psql_admin -c "SELECT version, name, path FROM mig_history"
	assert_output "0001|a|./migrations//0001_a.sql"
}

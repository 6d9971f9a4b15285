#!/usr/bin/env bats
# mig-new: where the file goes, its name (slug and version), its content,
# and that it never overwrites, follows a symlink out, or hides a
# read-only directory's cause.

load helper

setup() {
	mig_setup
	RO_MOUNT=
	SHARED=
}

teardown() {
	if [[ -n $RO_MOUNT ]]; then
		umount "$RO_MOUNT" || true
	fi
	if [[ -n $SHARED ]]; then
		rm -rf "$SHARED"
	fi
	mig_teardown
}

# make_readonly DIR: DIR becomes a read-only file system (a read-only tmpfs
# over it, EROFS), or the test is skipped. The immutable attribute would
# give EPERM, which mig-new rightly calls permission denied.
make_readonly() {
	local d=$1
	mkdir -p "$d"
	if mount -t tmpfs -o ro,size=1m mig-ro "$d" 2>/dev/null; then
		RO_MOUNT=$d
	else
		skip "cannot mount a read-only file system here"
	fi
	if touch "$d/probe" 2>/dev/null; then
		rm -f "$d/probe"
		skip "the read-only directory is still writable here"
	fi
}

@test "mig-new: with no DIR it creates ./migrations if missing and prints the relative path" {
	rmdir "$MIGDIR"
	run --separate-stderr mig-new add users
	assert_success
	assert_output --regexp '^migrations/[0-9]{14}_add_users\.sql$'
	[[ -f $output ]]
	[[ ${#lines[@]} == 1 ]]
}

@test "mig-new: DIR defaults to \$MIG_DIR, created with its parents if missing" {
	MIG_DIR=db/schema/migrations run --separate-stderr mig-new add users
	assert_success
	assert_output --regexp '^db/schema/migrations/[0-9]{14}_add_users\.sql$'
	[[ -f $output ]]
	run ls -A "$MIGDIR"
	assert_output ''
}

@test "mig-new: -D DIR wins over \$MIG_DIR, and --dir=DIR works too" {
	MIG_DIR=elsewhere run --separate-stderr mig-new -D here x
	assert_success
	assert_output --regexp '^here/[0-9]{14}_x\.sql$'
	[[ ! -e elsewhere ]]
	run --separate-stderr mig-new --dir=there --seq x
	assert_success
	assert_output 'there/0001_x.sql'
	run --separate-stderr mig-new --dir there --seq y
	assert_success
	assert_output 'there/0002_y.sql'
}

@test "mig-new: the printed path is DIR joined by one '/' (relative stays relative, absolute stays absolute)" {
	run --separate-stderr mig-new -D migrations/ --seq a
	assert_success
	assert_output 'migrations/0001_a.sql'
	run --separate-stderr mig-new -D ./migrations --seq b
	assert_success
	assert_output './migrations/0002_b.sql'
	run --separate-stderr mig-new -D "$MIGDIR" --seq c
	assert_success
	assert_output "$MIGDIR/0003_c.sql"
	[[ -f $MIGDIR/0001_a.sql && -f $MIGDIR/0002_b.sql && -f $MIGDIR/0003_c.sql ]]
}

@test "mig-new: several NAME words are joined by '_' and ASCII letters lowered" {
	run --separate-stderr mig-new --seq Add User Table
	assert_success
	assert_output 'migrations/0001_add_user_table.sql'
}

@test "mig-new: every run of other characters becomes one '_', digits are kept" {
	run --separate-stderr mig-new --seq 'add -- users!!, (v2)' 'API.keys'
	assert_success
	assert_output 'migrations/0001_add_users_v2_api_keys.sql'
}

@test "mig-new: Latin letters are transliterated to ASCII, whatever the locale" {
	run --separate-stderr mig-new --seq 'Café Über'
	assert_success
	assert_output 'migrations/0001_cafe_uber.sql'
	local lc
	for lc in C C.UTF-8 POSIX; do
		LC_ALL=$lc run --separate-stderr mig-new --seq 'crème brûlée à la' 'Ærø Straße, smørrebrød' 'Ångström façade niño naïve'
		assert_success
		assert_output --regexp '^migrations/000[2-4]_creme_brulee_a_la_aero_strasse_smorrebrod_angstrom_facade_nino_naive\.sql$'
	done
	# Latin Extended-A, and accents written as combining characters.
	run --separate-stderr mig-new --seq 'Łódź Şişli Čeština Œuvre ĳssel' $'Cafe\xcc\x81 cre\xcc\x80me'
	assert_success
	assert_output 'migrations/0005_lodz_sisli_cestina_oeuvre_ijssel_cafe_creme.sql'
	# Letters with no plain form, signs and broken UTF-8 separate words.
	run --separate-stderr mig-new --seq 'add привет users' $'x\xff\xc3y' '2×3'
	assert_success
	assert_output 'migrations/0006_add_users_x_y_2_3.sql'
}

@test "mig-new: the slug is trimmed of leading and trailing separators" {
	run --separate-stderr mig-new --seq '  --Hello, World!--  ' '...'
	assert_success
	assert_output 'migrations/0001_hello_world.sql'
}

@test "mig-new: a name with no letter or digit is a usage error (64) and creates nothing" {
	run --separate-stderr mig-new '!!! ---'
	assert_failure 64
	assert_output ''
	[[ -n $stderr ]]
	run --separate-stderr mig-new 'привет' '—' '×'
	assert_failure 64
	run --separate-stderr mig-new ''
	assert_failure 64
	run --separate-stderr mig-new
	assert_failure 64
	run ls -A "$MIGDIR"
	assert_output ''
}

@test "mig-new: the version is the UTC timestamp YYYYMMDDHHMMSS" {
	local before after v
	before=$(date -u +%Y%m%d%H%M%S)
	TZ=Pacific/Kiritimati run --separate-stderr mig-new add users
	after=$(date -u +%Y%m%d%H%M%S)
	assert_success
	assert_output --regexp '^migrations/[0-9]{14}_add_users\.sql$'
	v=${output#migrations/}
	v=${v%%_*}
	((v >= before && v <= after))
}

@test "mig-new: a taken second moves to the next free one" {
	local a b c
	a=$(mig-new a)
	b=$(mig-new b)
	c=$(mig-new c)
	a=${a#migrations/} b=${b#migrations/} c=${c#migrations/}
	[[ ${a%%_*} =~ ^[0-9]{14}$ && ${b%%_*} =~ ^[0-9]{14}$ && ${c%%_*} =~ ^[0-9]{14}$ ]]
	((${a%%_*} < ${b%%_*} && ${b%%_*} < ${c%%_*}))
	run mig-list
	assert_success
	[[ ${#lines[@]} == 3 ]]
}

@test "mig-new: the next free second carries into minutes, days and years" {
	: >"$MIGDIR/20991231235959_last.sql"
	run --separate-stderr mig-new next
	assert_success
	assert_output 'migrations/21000101000000_next.sql'
	: >"$MIGDIR/21000101005959_later.sql"
	run --separate-stderr mig-new again
	assert_success
	assert_output 'migrations/21000101010000_again.sql'
}

@test "mig-new: --seq in an empty directory starts at 0001" {
	run --separate-stderr mig-new --seq init
	assert_success
	assert_output 'migrations/0001_init.sql'
}

@test "mig-new: a directory whose highest version is short continues the sequence without --seq" {
	: >"$MIGDIR/0001_a.sql"
	: >"$MIGDIR/0003_c.sql"
	: >"$MIGDIR/README.md"
	: >"$MIGDIR/.gitkeep"
	run --separate-stderr mig-new d
	assert_success
	assert_output 'migrations/0004_d.sql'
}

@test "mig-new: the sequence uses the widest width present" {
	: >"$MIGDIR/1_a.sql"
	: >"$MIGDIR/00002_b.sql"
	run --separate-stderr mig-new c
	assert_success
	assert_output 'migrations/00003_c.sql'
}

@test "mig-new: an unpadded sequence stays unpadded" {
	: >"$MIGDIR/1_a.sql"
	: >"$MIGDIR/2_b.sql"
	run --separate-stderr mig-new c
	assert_success
	assert_output 'migrations/3_c.sql'
}

@test "mig-new: the sequence compares by value and grows its width when it must" {
	: >"$MIGDIR/0010_a.sql"
	: >"$MIGDIR/9999_z.sql"
	run --separate-stderr mig-new next
	assert_success
	assert_output 'migrations/10000_next.sql'
	run --separate-stderr mig-new after
	assert_success
	assert_output 'migrations/10001_after.sql'
}

@test "mig-new: a pair counts as the sequence's highest version" {
	: >"$MIGDIR/0007_x.up.sql"
	: >"$MIGDIR/0007_x.down.sql"
	run --separate-stderr mig-new y
	assert_success
	assert_output 'migrations/0008_y.sql'
}

@test "mig-new: --seq after timestamp versions is highest + 1" {
	: >"$MIGDIR/20240101000000_a.sql"
	run --separate-stderr mig-new --seq b
	assert_success
	assert_output 'migrations/20240101000001_b.sql'
}

@test "mig-new: the template is the up marker, a blank line, the down marker, a blank line" {
	run --separate-stderr mig-new --seq t
	assert_success
	printf -- '-- migrate:up\n\n-- migrate:down\n\n' >expected
	cmp expected migrations/0001_t.sql
	run mig-list
	assert_output '0001	t	migrations/0001_t.sql'
}

@test "mig-new: --pair writes empty .up.sql and .down.sql and prints both, up first" {
	run --separate-stderr mig-new --pair --seq add users
	assert_success
	assert_output 'migrations/0001_add_users.up.sql
migrations/0001_add_users.down.sql'
	[[ -f migrations/0001_add_users.up.sql && ! -s migrations/0001_add_users.up.sql ]]
	[[ -f migrations/0001_add_users.down.sql && ! -s migrations/0001_add_users.down.sql ]]
	[[ ! -e migrations/0001_add_users.sql ]]
	run --separate-stderr mig-new --pair again
	assert_success
	assert_line --index 0 'migrations/0002_again.up.sql'
	assert_line --index 1 'migrations/0002_again.down.sql'
}

@test "mig-new: --pair with timestamps prints the up then the down of one version" {
	run --separate-stderr mig-new --pair x
	assert_success
	[[ ${#lines[@]} == 2 ]]
	[[ ${lines[0]} =~ ^migrations/([0-9]{14})_x\.up\.sql$ ]]
	local v=${BASH_REMATCH[1]}
	assert_line --index 1 "migrations/${v}_x.down.sql"
}

@test "mig-new: never overwrites an existing file" {
	printf -- '-- migrate:up\nCREATE TABLE keep (id int);\n' >"$MIGDIR/0001_same.sql"
	cp "$MIGDIR/0001_same.sql" kept
	run --separate-stderr mig-new same
	assert_success
	assert_output 'migrations/0002_same.sql'
	cmp kept "$MIGDIR/0001_same.sql"
}

@test "mig-new: a symlink in DIR pointing outside is not followed" {
	mkdir outside
	echo 'precious' >outside/target
	: >"$MIGDIR/0001_a.sql"
	ln -s ../outside/target "$MIGDIR/0002_b.sql"
	ln -s ../outside/dangling "$MIGDIR/0003_b.sql"
	run --separate-stderr mig-new b
	assert_success
	assert_output 'migrations/0004_b.sql'
	[[ -f $MIGDIR/0004_b.sql && ! -L $MIGDIR/0004_b.sql ]]
	[[ $(<outside/target) == precious ]]
	[[ ! -e outside/dangling ]]
	run --separate-stderr mig-new --pair b
	assert_success
	[[ $(<outside/target) == precious ]]
	[[ ! -e outside/dangling ]]
	run ls outside
	assert_output 'target'
}

@test "mig-new: a read-only directory exits 73 saying to use the host or exec workflow" {
	make_readonly "$MIGDIR"
	run --separate-stderr mig-new add users
	assert_failure 73
	assert_output ''
	[[ $stderr == *migrations* ]]
	[[ $stderr == *'read-only file system'* ]]
	[[ $stderr == *host* && $stderr == *exec* ]]
	run --separate-stderr mig-new --pair add users
	assert_failure 73
	[[ $stderr == *host* && $stderr == *exec* ]]
}

@test "mig-new: permission denied exits 73 naming the cause and the user, without the read-only advice" {
	SHARED=$(mktemp -d /tmp/mig-new-XXXXXX)
	chmod 755 "$SHARED"
	mkdir "$SHARED/migrations"
	local as=() who
	if ((EUID == 0)); then
		as=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
		who=nobody
	else
		chmod 555 "$SHARED/migrations"
		who=$(id -un)
	fi
	cd "$SHARED"
	run --separate-stderr "${as[@]}" mig-new add users
	assert_failure 73
	assert_output ''
	[[ $stderr == "mig-new: cannot create file migrations/"*"_add_users.sql: permission denied for user $who" ]]
	run --separate-stderr "${as[@]}" mig-new -D migrations/sub --pair add users
	assert_failure 73
	[[ $stderr == "mig-new: cannot create directory migrations/sub: permission denied for user $who" ]]
	run ls -A migrations
	assert_output ''
}

@test "mig-new: a missing DIR under a read-only parent exits 73 with the same advice" {
	make_readonly "$BATS_TEST_TMPDIR/ro"
	run --separate-stderr mig-new -D ro/migrations add users
	assert_failure 73
	assert_output ''
	[[ $stderr == *ro/migrations* ]]
	[[ $stderr == *host* && $stderr == *exec* ]]
}

@test "mig-new: an unknown option is a usage error (64) and creates nothing" {
	run --separate-stderr mig-new --bogus x
	assert_failure 64
	assert_output ''
	run ls -A "$MIGDIR"
	assert_output ''
}

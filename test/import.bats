#!/usr/bin/env bats
# scripts/mig-import: adopting a database migrated by Alembic, dbmate, goose
# or golang-migrate. Each test builds the database with the old tool (or its
# table exactly as the tool creates it), imports, and checks that mig then
# runs nothing old, shows everything applied, leaves the old table as it
# was, and applies a migration added afterwards.

load helper

ALEMBIC_INI=$REPO/test/fixtures/alembic/alembic.ini

setup() {
	mig_setup
	# Alembic imports the fixture's revisions: keep its bytecode out of the tree.
	export PYTHONDONTWRITEBYTECODE=1
	IMPORT=$REPO/scripts/mig-import
	OTHER_DB=''
}

teardown() {
	if [[ -n $OTHER_DB ]]; then
		PSQL_ADMIN_DB=postgres psql_admin -c "DROP DATABASE IF EXISTS $OTHER_DB WITH (FORCE)"
	fi
	mig_teardown
}

# The old tool's table, every row, for a before/after comparison.
table_rows() {
	psql_admin -c "SELECT * FROM $1 ORDER BY 1"
}

# Every line of `mig-list | mig-current --status` is applied, N of them.
assert_all_applied() {
	run bash -c 'mig-list | mig-current --status'
	assert_success
	[[ ${#lines[@]} == "$1" ]] || fail "expected $1 status lines, got ${#lines[@]}: $output"
	run grep -vc $'^applied\t' <<<"$output"
	assert_output 0
}

# Nothing pending: mig-apply prints nothing and says so.
assert_nothing_to_apply() {
	run --separate-stderr bash -c 'mig-list | mig-apply'
	assert_success
	assert_output ''
	[[ $stderr == *'up to date'* ]] || fail "stderr: $stderr"
}

# A migration written after the import applies.
assert_new_migration_applies() {
	write_mig "$1_add_import_check" 'CREATE TABLE import_check (id int);' 'DROP TABLE import_check;'
	run --separate-stderr bash -c 'mig-list | mig-apply'
	assert_success
	assert_output "$1"$'\tadd_import_check\tmigrations/'"$1_add_import_check.sql"
	table_exists import_check
}

# The schema as pg_dump shows it, without the two bookkeeping tables and
# without the lines that differ between any two dumps.
schema_of() {
	"${PGTMP_BIN:+$PGTMP_BIN/}pg_dump" -h "$PGTMP_SOCKDIR" -p "$PGTMP_PORT" -U postgres \
		--schema-only --no-owner --no-privileges \
		-T alembic_version -T mig_history -T mig_history_id_seq "$1" |
		sed -E '/^(--|$|SET |SELECT pg_catalog.set_config|\\(un)?restrict )/d'
}

# ---- Alembic ---------------------------------------------------------------

@test "mig-import alembic: a database at head gets all 20 revisions recorded, nothing reruns, alembic_version stays" {
	alembic -c "$ALEMBIC_INI" upgrade head
	local before
	before=$(table_rows alembic_version)
	[[ $before == 5f8a1c6d0e42 ]]

	run --separate-stderr "$IMPORT" alembic -c "$ALEMBIC_INI"
	assert_success
	[[ ${#lines[@]} == 20 ]] || fail "recorded ${#lines[@]}: $output"
	assert_line -n 0 $'0001\tcreate_users_table\tmigrations/0001_create_users_table.sql'
	assert_line -n 19 $'0020\tpromote_the_first_user_to_admin\tmigrations/0020_promote_the_first_user_to_admin.sql'
	[[ $stderr == *'wrote migrations/0011_add_deleted_to_account_status.sql'* ]]

	run ls migrations
	[[ ${#lines[@]} == 20 ]]
	# Alembic's bookkeeping and transaction wrapping are gone.
	run grep -l -e alembic_version -e '^BEGIN;' -e '^COMMIT;' migrations/*.sql
	assert_failure 1
	run cat migrations/0011_add_deleted_to_account_status.sql
	assert_line -n 0 '-- Alembic revision e8c1a7d4b952 (revises 2d9f5b3a7c86): add deleted to account_status'
	assert_line -n 1 '-- migrate:up'
	assert_line -n 2 "ALTER TYPE account_status ADD VALUE 'deleted';"
	assert_line -n 3 '-- migrate:down'
	# Alembic's autocommit_block runs outside a transaction: so does mig.
	run grep -c '^-- migrate:\(up\|down\) transaction:false$' migrations/0017_index_published_posts_concurrently.sql
	assert_output 2

	assert_nothing_to_apply
	assert_all_applied 20
	[[ $(table_rows alembic_version) == "$before" ]]
	run psql_admin -c "SELECT count(*), min(duration_ms), max(duration_ms) FROM mig_history"
	assert_output '20|0|0'
	assert_new_migration_applies 0021
}

@test "mig-import alembic: the imported up SQL gives Alembic's own schema, data included, and the down SQL undoes it all" {
	OTHER_DB=${TEST_DB}_alembic
	PSQL_ADMIN_DB=postgres psql_admin -c "CREATE DATABASE $OTHER_DB OWNER mig"
	DATABASE_URL=${DATABASE_URL%/*}/$OTHER_DB alembic -c "$ALEMBIC_INI" upgrade head

	# The test's database is empty: no alembic_version, nothing recorded.
	run --separate-stderr "$IMPORT" alembic -c "$ALEMBIC_INI"
	assert_success
	assert_output ''
	[[ $stderr == *'no table alembic_version'* ]]
	run bash -c 'mig-list | mig-apply -q'
	assert_success
	[[ ${#lines[@]} == 20 ]]

	local alembic_schema mig_schema
	alembic_schema=$(schema_of "$OTHER_DB")
	mig_schema=$(schema_of "$TEST_DB")
	[[ $alembic_schema == *'CREATE TYPE public.account_status AS ENUM ('* ]]
	[[ $alembic_schema == *"'deleted'"* ]]
	[[ $alembic_schema == *'CREATE INDEX posts_published_idx'* ]]
	run diff <(printf '%s\n' "$alembic_schema") <(printf '%s\n' "$mig_schema")
	assert_success
	# The data migrations ran too.
	[[ $(psql_admin -c "SELECT string_agg(id || name, ',' ORDER BY id) FROM roles") == 1reader,2writer,3admin,4owner ]]

	run bash -c 'mig-revert -q --all </dev/null'
	assert_success
	[[ ${#lines[@]} == 20 ]]
	run psql_admin -c "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname <> 'mig_history' AND c.relname NOT LIKE 'mig_history%'"
	assert_output 0
	run psql_admin -c "SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public' AND t.typtype = 'e'"
	assert_output 0
}

@test "mig-import alembic: -n changes nothing, a database mid-way records up to its revision, a second run is a no-op" {
	alembic -c "$ALEMBIC_INI" upgrade 4b7e0f2c6d13

	run --separate-stderr "$IMPORT" -n alembic -c "$ALEMBIC_INI"
	assert_success
	[[ ${#lines[@]} == 12 ]] || fail "$output"
	assert_line -n 11 $'0012\tsoft_delete_profiles_flagged_deleted\tmigrations/0012_soft_delete_profiles_flagged_deleted.sql'
	[[ $stderr == *'would write migrations/0020_promote_the_first_user_to_admin.sql'* ]]
	run ls migrations
	assert_output ''
	run table_exists mig_history
	assert_failure

	run --separate-stderr "$IMPORT" alembic -c "$ALEMBIC_INI"
	assert_success
	[[ ${#lines[@]} == 12 ]]
	[[ $(applied_versions | tail -1) == 0012 ]]
	local files
	files=$(ls -l --time-style=+%s.%N migrations)

	run --separate-stderr "$IMPORT" alembic -c "$ALEMBIC_INI"
	assert_success
	assert_output ''
	[[ $stderr != *wrote* ]]
	[[ $(ls -l --time-style=+%s.%N migrations) == "$files" ]]
	[[ $(applied_versions | wc -l) == 12 ]]

	# The rest applies with mig; Alembic's table still says where it was.
	run bash -c 'mig-list | mig-apply -q'
	assert_success
	[[ ${#lines[@]} == 8 ]]
	assert_line -n 0 $'0013\tcreate_tags_and_post_tags\tmigrations/0013_create_tags_and_post_tags.sql'
	[[ $(table_rows alembic_version) == 4b7e0f2c6d13 ]]
	assert_all_applied 20

	# An imported file edited since is a conflict: nothing is written.
	echo '-- edited' >>migrations/0005_create_posts.sql
	run "$IMPORT" alembic -c "$ALEMBIC_INI"
	assert_failure 65
	assert_output --partial 'migrations/0005_create_posts.sql: differs'
}

@test "mig-import alembic: a branched or merged history is refused before anything is written" {
	cp -r "$REPO/test/fixtures/alembic" project
	# A second head off revision 18.
	cat >project/versions/aa00000000b1_side_branch.py <<-'EOF'
		"""side branch"""
		from alembic import op

		revision = "aa00000000b1"
		down_revision = "3a7c0e5d9b16"
		branch_labels = None
		depends_on = None


		def upgrade() -> None:
		    op.execute("CREATE TABLE side (id int)")


		def downgrade() -> None:
		    op.execute("DROP TABLE side")
	EOF
	run "$IMPORT" alembic -c project/alembic.ini
	assert_failure 65
	assert_output --partial 'the Alembic history has 2 heads'
	assert_output --partial 'mig needs a linear history'

	# Merged again: one head, but not a line.
	cat >project/versions/bb00000000c2_merge.py <<-'EOF'
		"""merge side branch"""
		revision = "bb00000000c2"
		down_revision = ("5f8a1c6d0e42", "aa00000000b1")
		branch_labels = None
		depends_on = None


		def upgrade() -> None:
		    pass


		def downgrade() -> None:
		    pass
	EOF
	run "$IMPORT" alembic -c project/alembic.ini
	assert_failure 65
	assert_output --partial 'merge point (bb00000000c2 merges 5f8a1c6d0e42, aa00000000b1)'
	assert_output --partial 'mig needs a linear history'
	run ls migrations
	assert_output ''
	run table_exists mig_history
	assert_failure
}

@test "mig-import alembic: a revision whose downgrade raises becomes an irreversible migration" {
	mkdir -p project/versions
	cp "$REPO"/test/fixtures/alembic/{alembic.ini,env.py,script.py.mako} project/
	cp "$REPO"/test/fixtures/alembic/versions/{3f1c2a9b7d01,8b42e0c1d5a2,c7d9a3e2f410}_*.py project/versions/
	sed -i 's/^def downgrade() -> None:$/&\n    raise NotImplementedError("one way")/' project/versions/8b42e0c1d5a2_*.py

	run --separate-stderr "$IMPORT" alembic -c project/alembic.ini
	assert_success
	[[ $stderr == *'revision 8b42e0c1d5a2 has no offline downgrade; its migration is irreversible'* ]]
	run grep -c '^-- migrate:down' migrations/0001_create_users_table.sql migrations/0002_create_profiles_with_an_account_status_enum.sql migrations/0003_add_display_name_to_users.sql
	assert_output - <<-EOF
		migrations/0001_create_users_table.sql:1
		migrations/0002_create_profiles_with_an_account_status_enum.sql:0
		migrations/0003_add_display_name_to_users.sql:1
	EOF
	run bash -c 'mig-list | mig-apply -q && mig-revert -q --all </dev/null'
	assert_failure 65
	assert_output --partial 'irreversible'
}

# ---- dbmate ------------------------------------------------------------------

# Three dbmate migrations, applied by dbmate itself when it is installed
# (npm install -g dbmate), else by hand into the table dbmate creates.
dbmate_project() {
	write_mig 20240101090000_create_accounts 'CREATE TABLE accounts (id bigserial PRIMARY KEY, email text NOT NULL);' 'DROP TABLE accounts;'
	write_mig 20240102090000_create_orders 'CREATE TABLE orders (id bigserial PRIMARY KEY, account_id bigint REFERENCES accounts);' 'DROP TABLE orders;'
	write_mig 20240103090000_seed_accounts "INSERT INTO accounts (email) VALUES ('a@example.org');" 'DELETE FROM accounts;'
	if command -v dbmate >/dev/null 2>&1; then
		dbmate --url "$DATABASE_URL?sslmode=disable" --migrations-dir migrations \
			--no-dump-schema up
	else
		psql_admin -c 'CREATE TABLE IF NOT EXISTS "public"."schema_migrations" (version varchar(128) primary key)'
		local f
		for f in migrations/*.sql; do
			sed -n '/^-- migrate:up/,/^-- migrate:down/p' "$f" | psql_admin -1
			f=${f##*/}
			psql_admin -c "INSERT INTO schema_migrations (version) VALUES ('${f%%_*}')"
		done
	fi
	[[ $(psql_admin -c 'SELECT count(*) FROM schema_migrations') == 3 ]]
}

@test "mig-import dbmate: schema_migrations' versions are recorded, nothing reruns, the table stays as dbmate left it" {
	dbmate_project
	local before
	before=$(table_rows schema_migrations)

	run --separate-stderr "$IMPORT" dbmate
	assert_success
	assert_output - <<-EOF
		20240101090000	create_accounts	migrations/20240101090000_create_accounts.sql
		20240102090000	create_orders	migrations/20240102090000_create_orders.sql
		20240103090000	seed_accounts	migrations/20240103090000_seed_accounts.sql
	EOF
	assert_nothing_to_apply
	assert_all_applied 3
	[[ $(psql_admin -c 'SELECT count(*) FROM accounts') == 1 ]]
	[[ $(table_rows schema_migrations) == "$before" ]]
	assert_new_migration_applies 20240104090000
}

@test "mig-import dbmate: -n prints what it would record and changes nothing; a second run is a no-op" {
	dbmate_project
	run --separate-stderr "$IMPORT" -n -D migrations dbmate
	assert_success
	[[ ${#lines[@]} == 3 ]]
	run table_exists mig_history
	assert_failure

	run --separate-stderr "$IMPORT" dbmate
	assert_success
	[[ ${#lines[@]} == 3 ]]
	run --separate-stderr "$IMPORT" dbmate
	assert_success
	assert_output ''
	[[ $stderr == *'nothing to record: every migration dbmate applied is recorded already'* ]]
	[[ $(applied_versions | wc -l) == 3 ]]
}

@test "mig-import dbmate: an applied version with no file is named in a warning; the others are recorded" {
	dbmate_project
	psql_admin -c "INSERT INTO schema_migrations (version) VALUES ('20231231000000')"
	run --separate-stderr "$IMPORT" dbmate
	assert_success
	[[ ${#lines[@]} == 3 ]]
	[[ $stderr == *'dbmate version 20231231000000 is applied but has no file'* ]]
}

# ---- goose -------------------------------------------------------------------

# goose's table as goose creates it, with its version 0 row, and three
# migrations in goose's annotated layout applied by hand.
goose_project() {
	cat >migrations/00001_create_widgets.sql <<-'EOF'
		-- +goose Up
		CREATE TABLE widgets (id serial PRIMARY KEY, name text);
		-- +goose Down
		DROP TABLE widgets;
	EOF
	cat >migrations/00002_widget_trigger.sql <<-'EOF'
		-- +goose Up
		-- +goose StatementBegin
		CREATE FUNCTION widgets_name() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			NEW.name := lower(NEW.name);
			RETURN NEW;
		END;
		$$;
		-- +goose StatementEnd
		CREATE TRIGGER widgets_name BEFORE INSERT ON widgets FOR EACH ROW EXECUTE FUNCTION widgets_name();
		-- +goose Down
		DROP TRIGGER widgets_name ON widgets;
		DROP FUNCTION widgets_name();
	EOF
	cat >migrations/00003_add_widget_price.sql <<-'EOF'
		-- +goose Up
		ALTER TABLE widgets ADD COLUMN price numeric;
		-- +goose Down
		ALTER TABLE widgets DROP COLUMN price;
	EOF
	psql_admin <<-'EOF'
		CREATE TABLE goose_db_version (
			id serial NOT NULL,
			version_id bigint NOT NULL,
			is_applied boolean NOT NULL,
			tstamp timestamp NULL default now(),
			PRIMARY KEY(id)
		);
		INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true);
	EOF
	local f
	for f in migrations/*.sql; do
		sed -n '/^-- +goose Up/,/^-- +goose Down/p' "$f" | grep -v '^-- +goose' | psql_admin -1
	done
}

@test "mig-import goose: the versions whose latest goose_db_version row is applied are recorded, version 0 is not" {
	goose_project
	# 3 went down and up again: its latest row says applied.
	psql_admin -c "INSERT INTO goose_db_version (version_id, is_applied) VALUES (1, true), (2, true), (3, true), (3, false), (3, true)"
	local before
	before=$(table_rows goose_db_version)

	run --separate-stderr "$IMPORT" goose
	assert_success
	assert_output - <<-EOF
		00001	create_widgets	migrations/00001_create_widgets.sql
		00002	widget_trigger	migrations/00002_widget_trigger.sql
		00003	add_widget_price	migrations/00003_add_widget_price.sql
	EOF
	assert_nothing_to_apply
	assert_all_applied 3
	[[ $(table_rows goose_db_version) == "$before" ]]
	assert_new_migration_applies 00004
	run --separate-stderr "$IMPORT" goose
	assert_success
	assert_output ''
}

@test "mig-import goose: a version whose latest row is a down stays pending and mig applies it" {
	goose_project
	psql_admin -c "ALTER TABLE widgets DROP COLUMN price"
	psql_admin -c "INSERT INTO goose_db_version (version_id, is_applied) VALUES (1, true), (2, true), (3, true), (3, false)"
	run --separate-stderr "$IMPORT" goose
	assert_success
	[[ ${#lines[@]} == 2 ]]
	assert_line -n 1 $'00002\twidget_trigger\tmigrations/00002_widget_trigger.sql'
	run --separate-stderr bash -c 'mig-list | mig-apply'
	assert_success
	assert_output $'00003\tadd_widget_price\tmigrations/00003_add_widget_price.sql'
	assert_all_applied 3
}

# ---- golang-migrate ----------------------------------------------------------

# Three golang-migrate pairs applied by hand, and its table as it creates it.
migrate_project() {
	local n
	printf 'CREATE TABLE teams (id int PRIMARY KEY);\n' >migrations/1_create_teams.up.sql
	printf 'DROP TABLE teams;\n' >migrations/1_create_teams.down.sql
	printf 'CREATE TABLE members (team_id int REFERENCES teams, name text);\n' >migrations/2_create_members.up.sql
	printf 'DROP TABLE members;\n' >migrations/2_create_members.down.sql
	printf 'CREATE INDEX members_team_idx ON members (team_id);\n' >migrations/10_index_members.up.sql
	printf 'DROP INDEX members_team_idx;\n' >migrations/10_index_members.down.sql
	psql_admin -c 'CREATE TABLE IF NOT EXISTS schema_migrations (version bigint not null primary key, dirty boolean not null)'
	for n in 1_create_teams 2_create_members 10_index_members; do
		[[ ${n%%_*} -le $1 ]] || continue
		psql_admin -1 <"migrations/$n.up.sql"
	done
}

@test "mig-import golang-migrate: every migration up to schema_migrations' version is recorded" {
	migrate_project 10
	psql_admin -c 'INSERT INTO schema_migrations (version, dirty) VALUES (10, false)'
	local before
	before=$(table_rows schema_migrations)

	run --separate-stderr "$IMPORT" golang-migrate
	assert_success
	assert_output - <<-EOF
		1	create_teams	migrations/1_create_teams.up.sql
		2	create_members	migrations/2_create_members.up.sql
		10	index_members	migrations/10_index_members.up.sql
	EOF
	assert_nothing_to_apply
	assert_all_applied 3
	[[ $(table_rows schema_migrations) == "$before" ]]
	assert_new_migration_applies 11
	run --separate-stderr "$IMPORT" golang-migrate
	assert_success
	assert_output ''
}

@test "mig-import golang-migrate: a version below the newest file leaves the later ones pending" {
	migrate_project 2
	psql_admin -c 'INSERT INTO schema_migrations (version, dirty) VALUES (2, false)'
	run --separate-stderr "$IMPORT" golang-migrate
	assert_success
	[[ ${#lines[@]} == 2 ]]
	run --separate-stderr bash -c 'mig-list | mig-apply'
	assert_success
	assert_output $'10\tindex_members\tmigrations/10_index_members.up.sql'
	assert_all_applied 3
}

@test "mig-import golang-migrate: a dirty database is refused with 65 and nothing is recorded" {
	migrate_project 2
	psql_admin -c 'INSERT INTO schema_migrations (version, dirty) VALUES (2, true)'
	run "$IMPORT" golang-migrate
	assert_failure 65
	assert_output --partial 'dirty at version 2'
	run table_exists mig_history
	assert_failure
}

# ---- usage -----------------------------------------------------------------

@test "mig-import: no mode or an unknown one is a usage error (64); a missing table is 66" {
	run "$IMPORT"
	assert_failure 64
	assert_output --partial 'no MODE given'
	run "$IMPORT" flyway
	assert_failure 64
	assert_output --partial 'unknown MODE flyway'
	run "$IMPORT" -T 'x;drop' dbmate
	assert_failure 64
	run "$IMPORT" -D nowhere dbmate
	assert_failure 66
	run "$IMPORT" dbmate
	assert_failure 66
	assert_output --partial 'no table schema_migrations'
	run table_exists mig_history
	assert_failure
}

@test "mig-import: -d names the database instead of DATABASE_URL" {
	migrate_project 10
	psql_admin -c 'INSERT INTO schema_migrations (version, dirty) VALUES (10, false)'
	local url=$DATABASE_URL
	unset DATABASE_URL
	run --separate-stderr "$IMPORT" -d "$url" golang-migrate
	assert_success
	[[ ${#lines[@]} == 3 ]]
	[[ $(applied_versions | wc -l) == 3 ]]
}

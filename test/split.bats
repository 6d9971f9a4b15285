#!/usr/bin/env bats
# The statement splitter, seen through transaction:false migrations: each
# statement runs on its own and statements_done counts them, so a wrong
# split shows as a wrong count (or as a statement PostgreSQL refuses).

load helper

# apply_notx UP_SQL: apply it as 0001_split.sql with transaction:false.
apply_notx() {
	write_mig --no-tx 0001_split "$1"
	run --separate-stderr mig-apply < <(mig-list)
	assert_success
	assert_output $'0001\tsplit\tmigrations/0001_split.sql'
}

# assert_done N: the migration is applied after exactly N statements.
assert_done() {
	run psql_admin -c "SELECT state, statements_done FROM mig_history"
	assert_output "applied|$1"
}

# assert_rows SQL EXPECTED: psql_admin's answer to SQL.
assert_rows() {
	run psql_admin -c "$1"
	assert_success
	assert_output "$2"
}

@test "split: one statement per ';'" {
	apply_notx $'CREATE TABLE t (v int);\nINSERT INTO t VALUES (1); INSERT INTO t VALUES (2);\nINSERT INTO t VALUES (3);'
	assert_done 4
	assert_rows "SELECT string_agg(v::text, ',' ORDER BY v) FROM t" '1,2,3'
}

@test "split: a last statement without ';' counts, empty statements do not" {
	apply_notx $'CREATE TABLE t (v int);;\n;\nINSERT INTO t VALUES (1)'
	assert_done 2
	assert_rows "SELECT v FROM t" 1
}

@test "split: ';' inside single quotes, with doubled quotes, does not split" {
	apply_notx "$(cat <<-'EOF'
		CREATE TABLE t (n int, v text);
		INSERT INTO t VALUES (1, 'a;b');
		INSERT INTO t VALUES (2, 'it''s; still one');
		INSERT INTO t VALUES (3, ''';');
		INSERT INTO t VALUES (4, 'two
		lines;');
	EOF
	)"
	assert_done 5
	assert_rows "SELECT string_agg(v, '|' ORDER BY n) FROM t" "a;b|it's; still one|';|two"$'\n'"lines;"
}

@test "split: a backslash does not escape in a standard string" {
	apply_notx "$(cat <<-'EOF'
		CREATE TABLE t (n int, v text);
		INSERT INTO t VALUES (1, 'C:\');
		INSERT INTO t VALUES (2, 'x');
	EOF
	)"
	assert_done 3
	assert_rows "SELECT string_agg(v, '|' ORDER BY n) FROM t" 'C:\|x'
}

@test "split: E'' strings with \\' and \\\\ do not split" {
	apply_notx "$(cat <<-'EOF'
		CREATE TABLE t (n int, v text);
		INSERT INTO t VALUES (1, E'it\'s; fine');
		INSERT INTO t VALUES (2, e'back\\');
		INSERT INTO t VALUES (3, E'q''; q');
		INSERT INTO t VALUES (4,E'\';\'');
	EOF
	)"
	assert_done 5
	assert_rows "SELECT string_agg(v, '|' ORDER BY n) FROM t" "it's; fine|back\\|q'; q|';'"
}

@test "split: ';' inside double-quoted identifiers does not split" {
	apply_notx "$(cat <<-'EOF'
		CREATE TABLE "semi;colon" ("a;b" text, "say ""hi;""" int);
		INSERT INTO "semi;colon" VALUES ('x', 1);
		INSERT INTO "semi;colon" ("say ""hi;""") VALUES (2);
	EOF
	)"
	assert_done 3
	assert_rows "SELECT count(*) FROM \"semi;colon\"" 2
	assert_rows "SELECT string_agg(column_name, '|' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'semi;colon'" 'a;b|say "hi;"'
}

@test "split: dollar quotes, tagged and nested with other tags, hide ';'" {
	apply_notx "$(cat <<-'EOF'
		CREATE TABLE t (n int, v text);
		INSERT INTO t VALUES (1, $$a;b$$);
		INSERT INTO t VALUES (2, $q$it's; $$ nested; $$ still;$q$);
		INSERT INTO t VALUES (3, $Tag_1$ $tag_1$ ; $Tag_1$);
		CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $fn$
		DECLARE
			s text := $x$;$x$;
		BEGIN
			RETURN s || $$;$$;
		END;
		$fn$;
		INSERT INTO t VALUES (4, f());
	EOF
	)"
	assert_done 6
	assert_rows "SELECT string_agg(v, '|' ORDER BY n) FROM t" "a;b|it's; \$\$ nested; \$\$ still;| \$tag_1\$ ; |;;"
}

@test "split: a \$ inside an identifier or a parameter is not a dollar quote" {
	apply_notx "$(cat <<-'EOF'
		CREATE TABLE d$x (v int);
		INSERT INTO d$x VALUES (1);
		CREATE FUNCTION add1(int) RETURNS int LANGUAGE sql AS 'SELECT $1 + 1';
		PREPARE p AS SELECT $1::int + 1;
		INSERT INTO d$x VALUES (add1(1));
	EOF
	)"
	assert_done 5
	assert_rows "SELECT string_agg(v::text, ',' ORDER BY v) FROM d\$x" '1,2'
}

@test "split: ';' and quotes in -- comments do not split" {
	apply_notx "$(cat <<-'EOF'
		-- leading comment; with a quote ' and a "
		CREATE TABLE t (v text); -- trailing; comment with ' quote
		-- whole line; comment $$ not a dollar quote
		INSERT INTO t -- mid-statement; comment
		VALUES ('a--b;');
		-- a last comment; after the last statement
	EOF
	)"
	assert_done 2
	assert_rows "SELECT v FROM t" 'a--b;'
}

@test "split: ';' in nested /* /* */ */ comments does not split" {
	apply_notx "$(cat <<-'EOF'
		/* top; /* nested; */ still in the comment; ' */
		CREATE TABLE t (v text /* a; /* b; */ c; */);
		INSERT INTO t VALUES ('/* not a comment;') /* multi
		   line; /* nested
		   */ ; */ ;
		INSERT INTO t VALUES ('*/;');
	EOF
	)"
	assert_done 3
	assert_rows "SELECT string_agg(v, '|' ORDER BY v) FROM t" '*/;|/* not a comment;'
}

@test "split: a BEGIN ATOMIC body with CASE ... END is one statement" {
	apply_notx "$(cat <<-'EOF'
		CREATE TABLE t (v int);
		CREATE FUNCTION two_inserts() RETURNS void LANGUAGE sql
		BEGIN ATOMIC
			INSERT INTO t VALUES (1);
			INSERT INTO t VALUES (CASE WHEN true THEN 2 ELSE 3 END);
		END;
		CREATE OR REPLACE PROCEDURE p() LANGUAGE sql
		begin atomic insert into t values (10); end;
		SELECT two_inserts();
		CALL p();
	EOF
	)"
	assert_done 5
	assert_rows "SELECT string_agg(v::text, ',' ORDER BY v) FROM t" '1,2,10'
}

@test "split: begin, case and end as words outside a function body still split" {
	apply_notx "$(cat <<-'EOF'
		CREATE TABLE ev (id int, begin timestamptz, "end" int);
		INSERT INTO ev (id, begin) VALUES (1, now());
		SELECT 1 AS begin;
		SELECT CASE WHEN id = 1 THEN 'one' END FROM ev;
		ALTER TABLE ev RENAME COLUMN begin TO starts;
		INSERT INTO ev (id) VALUES (2);
	EOF
	)"
	assert_done 6
	assert_rows "SELECT string_agg(id::text, ',' ORDER BY id) FROM ev" '1,2'
	assert_rows "SELECT count(*) FROM information_schema.columns WHERE table_name = 'ev' AND column_name = 'starts'" 1
}

@test "split: ';' inside parentheses does not split (CREATE RULE ... DO INSTEAD (a; b))" {
	apply_notx "$(cat <<-'EOF'
		CREATE TABLE a (x int);
		CREATE TABLE b (x int);
		CREATE TABLE v (x int);
		CREATE RULE v_ins AS ON INSERT TO v DO INSTEAD (
			INSERT INTO a VALUES (NEW.x);
			INSERT INTO b VALUES (NEW.x * 10)
		);
		INSERT INTO v VALUES (7);
	EOF
	)"
	assert_done 5
	assert_rows "SELECT (SELECT x FROM a) || ',' || (SELECT x FROM b) || ',' || (SELECT count(*) FROM v)" '7,70,0'
}

@test "split: a goose StatementBegin/End block is one statement" {
	cat >"$MIGDIR/0001_split.sql" <<-'EOF'
		-- +goose NO TRANSACTION
		-- +goose Up
		CREATE TABLE t (v text);
		-- +goose StatementBegin
		CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			NEW.v := upper(NEW.v);
			RETURN NEW;
		END;
		$$;
		-- +goose StatementEnd
		CREATE TRIGGER t_up BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();
		INSERT INTO t VALUES ('x;y');
	EOF
	run --separate-stderr mig-apply < <(mig-list)
	assert_success
	assert_done 4
	assert_rows "SELECT v FROM t" 'X;Y'
}

@test "split: a failing statement leaves partial with the statements before it done, at its line" {
	write_mig --no-tx 0001_split "$(cat <<-'EOF'
		CREATE TABLE t (v text);
		INSERT INTO t VALUES ($$;
		;$$);
		INSERT INTO t VALUES ('x'); SELECT 1/0;
		INSERT INTO t VALUES ('never');
	EOF
	)"
	run --separate-stderr mig-apply < <(mig-list)
	assert_failure 1
	[[ $stderr == *"migrations/0001_split.sql:5:"* ]] || fail "no file:5 in: $stderr"
	[[ $stderr == *22012* ]]
	assert_rows "SELECT state, statements_done FROM mig_history" 'partial|3'
	assert_rows "SELECT count(*) FROM t" 2
}

@test "split: the same tricky statements apply in a transactional migration" {
	write_mig 0001_split "$(cat <<-'EOF'
		CREATE TABLE "t;1" (n int, v text);
		INSERT INTO "t;1" VALUES (1, 'a;b'), (2, E'c\';d'), (3, $q$e;$$;f$q$);
		/* x; /* y; */ z; */ INSERT INTO "t;1" VALUES (4, 'g'); -- h;
		CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;
		CREATE TABLE ev (begin int);
		INSERT INTO "t;1" VALUES (5, f()::text)
	EOF
	)"
	run --separate-stderr mig-apply < <(mig-list)
	assert_success
	assert_rows "SELECT string_agg(v, '|' ORDER BY n) FROM \"t;1\"" "a;b|c';d|e;\$\$;f|g|1"
}

/* The history table, always used schema-qualified, and the advisory lock. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "mig.h"

#define UTC_TIME(col) "pg_catalog.to_char(" col " AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

static char *
ident(const char *s, size_t n)
{
	char *id;

	if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return NULL;
	id = xstrndup(s, n);
	for (size_t i = 0; i < n; i++) {
		if (!(isalnum((unsigned char)id[i]) || id[i] == '_')) {
			free(id);
			return NULL;
		}
		id[i] = (char)tolower((unsigned char)id[i]);
	}
	return id;
}

void
table_parse(const char *arg, struct table *t)
{
	const char *dot;

	memset(t, 0, sizeof *t);
	if (arg == NULL && (arg = getenv("MIG_TABLE")) == NULL)
		arg = "mig_history";
	if ((dot = strchr(arg, '.')) == NULL)
		t->name = ident(arg, strlen(arg));
	else {
		t->schema = ident(arg, (size_t)(dot - arg));
		t->name = ident(dot + 1, strlen(dot + 1));
	}
	if (t->name == NULL || (dot != NULL && t->schema == NULL))
		mig_errx(EXIT_USAGE, "invalid table name '%s': write "
		    "[SCHEMA.]TABLE, each part letters, digits and '_', "
		    "not starting with a digit", arg);
}

/*
 * One round trip: the session settings, then the schema an unqualified name
 * resolves to now, so a later search_path cannot redirect the table. An
 * existing table in the search_path wins over creating one, and one owned
 * by the connecting user wins over a look-alike someone else put in a
 * schema ahead of it.
 */
void
table_resolve(PGconn *c, struct table *t, const char *settings)
{
	struct buf q = { 0 };
	PGresult *r, *last = NULL;

	buf_printf(&q, "%sSELECT s, pg_catalog.to_regclass(pg_catalog.format("
	    "'%%I.%%I', s, '%s')) IS NOT NULL, pg_catalog.to_regnamespace("
	    "pg_catalog.format('%%I', s)) IS NOT NULL FROM "
	    "(SELECT coalesce(%s%s%s, (SELECT n.nspname::text FROM "
	    "pg_catalog.unnest(pg_catalog.current_schemas(false)) WITH "
	    "ORDINALITY p(nsp, i) JOIN pg_catalog.pg_namespace n ON "
	    "n.nspname = p.nsp JOIN pg_catalog.pg_class c ON c.relnamespace = "
	    "n.oid AND c.relname = '%s' AND c.relkind IN ('r', 'p') ORDER BY "
	    "c.relowner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE "
	    "r.rolname = CURRENT_USER) DESC, p.i LIMIT 1), "
	    "pg_catalog.current_schema(), 'public') AS s) x",
	    settings ? settings : "", t->name,
	    t->schema ? "'" : "", t->schema ? t->schema : "NULL::text",
	    t->schema ? "'" : "", t->name);
	if (!PQsendQuery(c, q.s))
		pq_fail(c, "cannot query");
	while ((r = PQgetResult(c)) != NULL) {
		if (PQresultStatus(r) != PGRES_TUPLES_OK &&
		    PQresultStatus(r) != PGRES_COMMAND_OK) {
			PQclear(last);
			last = r;
			break;
		}
		PQclear(last);
		last = r;
	}
	while ((r = PQgetResult(c)) != NULL)
		PQclear(r);
	if (last == NULL || PQresultStatus(last) != PGRES_TUPLES_OK)
		pq_fail(c, "cannot read the history table's schema");
	free(t->schema);
	t->schema = xstrdup(PQgetvalue(last, 0, 0));
	t->exists = PQgetvalue(last, 0, 1)[0] == 't';
	t->schema_exists = PQgetvalue(last, 0, 2)[0] == 't';
	PQclear(last);
	buf_free(&q);
	free(t->qual);
	free(t->lockkey);
	{
		char *s = PQescapeIdentifier(c, t->schema, strlen(t->schema));
		char *n = PQescapeIdentifier(c, t->name, strlen(t->name));

		t->qual = xasprintf("%s.%s", s, n);
		PQfreemem(s);
		PQfreemem(n);
	}
	t->lockkey = xasprintf("mig:%s.%s", t->schema, t->name);
}

void
table_free(struct table *t)
{
	free(t->schema);
	free(t->name);
	free(t->qual);
	free(t->lockkey);
	memset(t, 0, sizeof *t);
}

void
table_create(PGconn *c, struct table *t)
{
	char *q;

	if (t->exists)
		return;
	if (!t->schema_exists) {
		q = xasprintf("CREATE SCHEMA IF NOT EXISTS %.*s",
		    (int)(strchr(t->qual, '.') - t->qual), t->qual);
		exec_ok(c, q, 0, NULL);
		free(q);
	}
	q = xasprintf("CREATE TABLE IF NOT EXISTS %s ("
	    "id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
	    "version text NOT NULL CHECK (version ~ '^[0-9]{1,19}$'), "
	    "name text NOT NULL, path text NOT NULL, checksum text NOT NULL, "
	    "up_sql text NOT NULL, down_sql text, "
	    "state text NOT NULL DEFAULT 'applied' "
	    "CHECK (state IN ('applied', 'partial')), "
	    "statements_done int NOT NULL DEFAULT 0, "
	    "applied_at timestamptz NOT NULL DEFAULT pg_catalog.now(), "
	    "duration_ms int NOT NULL DEFAULT 0, "
	    "applied_by text NOT NULL DEFAULT current_user)", t->qual);
	exec_ok(c, q, 0, NULL);
	free(q);
	q = xasprintf("CREATE UNIQUE INDEX IF NOT EXISTS %s_version_key ON %s "
	    "((version::numeric))", t->name, t->qual);
	exec_ok(c, q, 0, NULL);
	free(q);
	t->exists = 1;
}

static int
by_vnum(const void *a, const void *b)
{
	const struct hrow *x = *(struct hrow *const *)a;
	const struct hrow *y = *(struct hrow *const *)b;

	return vcmp(x->vnum, y->vnum);
}

void
history_read(PGconn *c, const struct table *t, struct history *h,
    int with_sql)
{
	char *q;

	memset(h, 0, sizeof *h);
	if (!t->exists)
		return;
	q = xasprintf("SELECT id, version, name, path, checksum, state, "
	    "statements_done, " UTC_TIME("applied_at") ", %s, %s FROM %s "
	    "ORDER BY id", with_sql ? "up_sql" :
	    "CASE WHEN state = 'partial' THEN up_sql END",
	    with_sql ? "down_sql" : "NULL", t->qual);
	h->res = exec_params(c, q, 0, NULL);
	free(q);
	if (PQresultStatus(h->res) != PGRES_TUPLES_OK)
		pq_fail(c, "cannot read the history table");
	h->n = (size_t)PQntuples(h->res);
	h->v = xcalloc(h->n, sizeof *h->v);
	h->byv = xcalloc(h->n, sizeof *h->byv);
	for (size_t i = 0; i < h->n; i++) {
		struct hrow *r = &h->v[i];
		int row = (int)i;

		r->id = strtoll(PQgetvalue(h->res, row, 0), NULL, 10);
		r->version = PQgetvalue(h->res, row, 1);
		r->vnum = strtoull(r->version, NULL, 10);
		r->name = PQgetvalue(h->res, row, 2);
		r->path = PQgetvalue(h->res, row, 3);
		r->checksum = PQgetvalue(h->res, row, 4);
		r->partial = strcmp(PQgetvalue(h->res, row, 5), "partial") == 0;
		r->statements_done = atoi(PQgetvalue(h->res, row, 6));
		r->applied_at = PQgetvalue(h->res, row, 7);
		r->up_sql = PQgetisnull(h->res, row, 8) ? NULL :
		    PQgetvalue(h->res, row, 8);
		r->down_sql = PQgetisnull(h->res, row, 9) ? NULL :
		    PQgetvalue(h->res, row, 9);
		h->byv[i] = r;
	}
	qsort(h->byv, h->n, sizeof *h->byv, by_vnum);
}

void
history_free(struct history *h)
{
	PQclear(h->res);
	free(h->v);
	free(h->byv);
	memset(h, 0, sizeof *h);
}

struct hrow *
history_find(const struct history *h, uint64_t vnum)
{
	size_t lo = 0, hi = h->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (h->byv[mid]->vnum < vnum)
			lo = mid + 1;
		else if (h->byv[mid]->vnum > vnum)
			hi = mid;
		else
			return h->byv[mid];
	}
	return NULL;
}

static void
lock_holder(PGconn *c, const struct table *t, long waited)
{
	const char *p[1] = { t->lockkey };
	PGresult *r = exec_params(c, "SELECT a.pid, "
	    "coalesce(nullif(a.application_name, ''), '?'), "
	    "coalesce(pg_catalog.host(a.client_addr), 'local'), "
	    UTC_TIME("a.backend_start") " FROM pg_catalog.pg_locks l "
	    "JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid, "
	    "(SELECT pg_catalog.hashtextextended($1, 0) AS k) k "
	    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
	    "AND l.classid::bigint = (k.k >> 32) & 4294967295 "
	    "AND l.objid::bigint = k.k & 4294967295 "
	    "AND l.database = (SELECT oid FROM pg_catalog.pg_database "
	    "WHERE datname = pg_catalog.current_database())", 1, p);

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
		mig_warnx("waiting for the migration lock (%ld s): held by "
		    "pid %s (%s, client %s, connected since %s)", waited,
		    PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
		    PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3));
	else
		mig_warnx("waiting for the migration lock (%ld s)", waited);
	PQclear(r);
}

/*
 * Polls pg_try_advisory_lock outside any transaction: a waiter that blocked
 * in pg_advisory_lock would hold a snapshot, and CREATE INDEX CONCURRENTLY
 * in the run that has the lock would wait for it forever.
 */
void
lock_take(PGconn *c, const struct table *t, long wait_s)
{
	const char *p[1] = { t->lockkey };
	long long start = now_ms(), next_report = start + 5000;
	long delay = 20;

	for (;;) {
		PGresult *r = exec_params(c, "SELECT pg_catalog."
		    "pg_try_advisory_lock(pg_catalog.hashtextextended($1, 0))",
		    1, p);
		int got;

		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			pq_fail(c, "cannot take the migration lock");
		got = PQgetvalue(r, 0, 0)[0] == 't';
		PQclear(r);
		if (got)
			return;
		if (mig_signal)
			interrupted("waiting for the migration lock; nothing "
			    "was run");
		if (now_ms() - start >= wait_s * 1000)
			mig_errx(EXIT_TEMPFAIL, "gave up waiting for the "
			    "migration lock after %ld s (--lock-wait); another "
			    "run holds it, try again later", wait_s);
		if (now_ms() >= next_report) {
			lock_holder(c, t, (long)((now_ms() - start) / 1000));
			next_report += 5000;
		}
		sleep_ms(delay);
		if (delay < 1000)
			delay = delay * 2 > 1000 ? 1000 : delay * 2;
	}
}

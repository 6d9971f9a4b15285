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

/* The last result of a query that may hold several statements. */
static PGresult *
last_result(PGconn *c, const char *q, const char *what)
{
	PGresult *r, *last = NULL;

	if (!PQsendQuery(c, q))
		pq_fail(c, NULL, "cannot query");
	while ((r = PQgetResult(c)) != NULL) {
		if (last != NULL && PQresultStatus(last) == PGRES_FATAL_ERROR) {
			PQclear(r);
			continue;
		}
		PQclear(last);
		last = r;
	}
	if (last == NULL || PQresultStatus(last) != PGRES_TUPLES_OK)
		pq_fail(c, last, what);
	return last;
}

/*
 * Of several tables by that name in the search_path, the first one the
 * connecting user owns, else the first: a look-alike someone else put in a
 * schema ahead of ours must not win.
 */
static int
owned_first(PGconn *c, PGresult *r, int n)
{
	struct buf q = { 0 };
	PGresult *o;
	int pick = -1;

	buf_printf(&q, "SELECT c.oid FROM pg_catalog.pg_class c WHERE "
	    "c.relkind IN ('r', 'p') AND c.relowner = (SELECT r.oid FROM "
	    "pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER) AND "
	    "c.oid IN (0");
	for (int i = 0; i < n; i++)
		if (!PQgetisnull(r, i, 1))
			buf_printf(&q, ", %s", PQgetvalue(r, i, 1));
	buf_printf(&q, ")");
	o = last_result(c, q.s, "cannot read the history table's owner");
	for (int i = 0; i < n && pick < 0; i++)
		for (int k = 0; k < PQntuples(o) && pick < 0; k++)
			if (strcmp(PQgetvalue(o, k, 0), PQgetvalue(r, i, 1)) == 0)
				pick = i;
	PQclear(o);
	buf_free(&q);
	return pick;
}

/*
 * One round trip: the session settings, then the schema an unqualified name
 * resolves to now, so a later search_path cannot redirect the table. An
 * existing table in the search_path wins over creating one, in the first
 * schema of the path. to_regclass answers from the catalog caches, where a
 * query over pg_class would be planned: on a new connection that is
 * several milliseconds saved.
 */
void
table_resolve(PGconn *c, struct table *t, const char *settings)
{
	struct buf q = { 0 };
	PGresult *r;
	int n, pick = -1, found = 0;

	/* The search_path holds only schemas that exist. */
	buf_printf(&q, "%s%sSELECT s, pg_catalog.to_regclass(pg_catalog.format("
	    "'%%I.%%I', s, '%s'))::oid, %s FROM ", settings ? settings : "",
	    settings ? "; " : "",
	    t->name, t->schema != NULL ? "pg_catalog.to_regnamespace("
	    "pg_catalog.format('%I', s)) IS NOT NULL" : "true");
	if (t->schema != NULL)
		buf_printf(&q, "(VALUES ('%s'::text)) p(s)", t->schema);
	else
		buf_printf(&q, "pg_catalog.unnest(pg_catalog.current_schemas("
		    "false)::text[]) s");
	r = last_result(c, q.s, "cannot read the history table's schema");
	buf_free(&q);
	n = PQntuples(r);
	for (int i = 0; i < n; i++)
		if (!PQgetisnull(r, i, 1) && found++ == 0)
			pick = i;
	if (found > 1) {
		int owned = owned_first(c, r, n);

		if (owned >= 0)
			pick = owned;
	}
	free(t->schema);
	t->exists = pick >= 0;
	if (pick < 0)
		pick = 0;
	if (n > 0) {
		t->schema = xstrdup(PQgetvalue(r, pick, 0));
		t->schema_exists = PQgetvalue(r, pick, 2)[0] == 't';
	} else {
		/* An empty search_path: public, as CREATE would choose. */
		PQclear(r);
		r = last_result(c, "SELECT pg_catalog.to_regnamespace('public') "
		    "IS NOT NULL", "cannot read the history table's schema");
		t->schema = xstrdup("public");
		t->schema_exists = PQgetvalue(r, 0, 0)[0] == 't';
	}
	PQclear(r);
	free(t->qual);
	free(t->lockkey);
	{
		char *s = PQescapeIdentifier(c, t->schema, strlen(t->schema));
		char *nm = PQescapeIdentifier(c, t->name, strlen(t->name));

		t->qual = xasprintf("%s.%s", s, nm);
		PQfreemem(s);
		PQfreemem(nm);
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
	t->exists = true;
}

static int
by_vnum(const void *a, const void *b)
{
	const struct hrow *x = *(struct hrow *const *)a;
	const struct hrow *y = *(struct hrow *const *)b;

	return vcmp(x->vnum, y->vnum);
}

static int
by_id(const void *a, const void *b)
{
	const struct hrow *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

/* The next field of a COPY text row, decoded in place; NULL for \N. */
static char *
copy_field(char **p)
{
	char *in = *p, *out = *p, *field = *p;

	if (in == NULL)
		return NULL;
	if (in[0] == '\\' && in[1] == 'N' && (in[2] == '\t' || in[2] == '\n')) {
		*p = in[2] == '\t' ? in + 3 : NULL;
		return NULL;
	}
	for (;;) {
		char ch = *in++;

		if (ch == '\t' || ch == '\n' || ch == '\0') {
			*out = '\0';
			*p = ch == '\t' ? in : NULL;
			return field;
		}
		if (ch == '\\' && *in != '\0') {
			switch (ch = *in++) {
			case 'b': ch = '\b'; break;
			case 'f': ch = '\f'; break;
			case 'n': ch = '\n'; break;
			case 'r': ch = '\r'; break;
			case 't': ch = '\t'; break;
			case 'v': ch = '\v'; break;
			}
		}
		*out++ = ch;
	}
}

static void
row_parse(struct hrow *r, char *line, int what)
{
	char *p = line, *id, *done, *at;

	id = copy_field(&p);
	r->version = copy_field(&p);
	r->name = copy_field(&p);
	r->path = copy_field(&p);
	r->checksum = copy_field(&p);
	r->partial = (at = copy_field(&p)) != NULL &&
	    strcmp(at, "partial") == 0;
	done = copy_field(&p);
	at = what & HIST_TIME ? copy_field(&p) : NULL;
	if (what & HIST_SQL) {
		r->up_sql = copy_field(&p);
		r->down_sql = copy_field(&p);
	}
	if (id == NULL || r->version == NULL || r->name == NULL ||
	    r->path == NULL || r->checksum == NULL || done == NULL ||
	    (what & HIST_TIME && (at == NULL || strlen(at) < 19)))
		mig_errx(EXIT_SQL, "the history table holds a row mig cannot "
		    "read: %s", line);
	r->id = strtoll(id, NULL, 10);
	r->vnum = strtoull(r->version, NULL, 10);
	r->statements_done = atoi(done);
	/* ISO in UTC, "2026-01-02 03:04:05.678+00", as 2026-01-02T03:04:05Z */
	if (at != NULL) {
		at[10] = 'T';
		at[19] = 'Z';
		at[20] = '\0';
		r->applied_at = at;
	}
}

/* What a partial run recorded, for it to resume from. */
static void
partial_sql(PGconn *c, const struct table *t, struct history *h)
{
	char *q = xasprintf("SELECT id, up_sql FROM %s WHERE state = "
	    "'partial'", t->qual);

	h->res = exec_params(c, q, 0, NULL);
	free(q);
	if (PQresultStatus(h->res) != PGRES_TUPLES_OK)
		pq_fail(c, h->res, "cannot read the history table");
	for (int k = 0; k < PQntuples(h->res); k++) {
		long long id = strtoll(PQgetvalue(h->res, k, 0), NULL, 10);

		for (size_t i = 0; i < h->n; i++)
			if (h->v[i].id == id)
				h->v[i].up_sql = PQgetvalue(h->res, k, 1);
	}
}

/*
 * COPY rather than SELECT: COPY of a table is not planned, and planning
 * opens the table's indexes, which on a new connection costs more than
 * reading a thousand rows.
 */
void
history_read(PGconn *c, const struct table *t, struct history *h,
    int what)
{
	size_t cap = 0;
	int partial = 0;
	PGresult *r, *bad = NULL;
	char *q, *line;

	memset(h, 0, sizeof *h);
	if (!t->exists)
		return;
	/* The time zone and date style hold only for this transaction. */
	q = xasprintf("%sCOPY %s (id, version, name, path, checksum, state, "
	    "statements_done%s%s) TO STDOUT%s", what & HIST_TIME ?
	    "BEGIN READ ONLY; SET LOCAL TimeZone = 'UTC'; SET LOCAL "
	    "DateStyle = 'ISO'; " : "", t->qual, what & HIST_TIME ?
	    ", applied_at" : "", what & HIST_SQL ? ", up_sql, down_sql" : "",
	    what & HIST_TIME ? "; COMMIT" : "");
	if (!PQsendQuery(c, q))
		pq_fail(c, NULL, "cannot read the history table");
	free(q);
	while ((r = PQgetResult(c)) != NULL) {
		if (PQresultStatus(r) == PGRES_COPY_OUT) {
			while (PQgetCopyData(c, &line, 0) > 0) {
				if (h->n == cap) {
					cap = cap ? cap * 2 : 64;
					h->v = xreallocarray(h->v, cap,
					    sizeof *h->v);
				}
				memset(&h->v[h->n], 0, sizeof h->v[h->n]);
				h->v[h->n].line = line;
				row_parse(&h->v[h->n], line, what);
				partial |= h->v[h->n++].partial;
			}
		} else if (PQresultStatus(r) != PGRES_COMMAND_OK && !bad) {
			bad = r;
			continue;
		}
		PQclear(r);
	}
	if (bad != NULL)
		pq_fail(c, bad, "cannot read the history table");
	if (h->n == 0)
		return;
	qsort(h->v, h->n, sizeof *h->v, by_id);
	if (partial && !(what & HIST_SQL))
		partial_sql(c, t, h);
	h->byv = xcalloc(h->n, sizeof *h->byv);
	for (size_t i = 0; i < h->n; i++)
		h->byv[i] = &h->v[i];
	qsort(h->byv, h->n, sizeof *h->byv, by_vnum);
}

void
history_free(struct history *h)
{
	for (size_t i = 0; i < h->n; i++)
		PQfreemem(h->v[i].line);
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
		mig_log(MIG_INFO, NULL,
		    "waiting for the migration lock (%ld s): held by "
		    "pid %s (%s, client %s, connected since %s)", waited,
		    PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
		    PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3));
	else
		mig_log(MIG_INFO, NULL,
		    "waiting for the migration lock (%ld s)", waited);
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
			pq_fail(c, r, "cannot take the migration lock");
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

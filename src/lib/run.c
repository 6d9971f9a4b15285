/*
 * Running a migration's SQL: a transaction section goes to the server in one
 * pipeline (BEGIN, its statements, the history row) and COMMIT follows only
 * once every result is back; a transaction:false section runs statement by
 * statement. Both report progress, honour Ctrl-C and docker stop by
 * cancelling on the server, and map a server error to PATH:LINE:COL.
 */
#include <stdlib.h>
#include <string.h>

#include "mig.h"

/*
 * mig's own session settings, as one statement: a migration's RESET ALL
 * or SET may change them, and they are set again after every migration. A
 * dead client's backend notices within a second and lets its locks go.
 */
char *
run_settings(const struct runopts *r)
{
	return xasprintf("SELECT pg_catalog.set_config('lock_timeout', '%ld', "
	    "false), pg_catalog.set_config('statement_timeout', '%ld', false), "
	    "pg_catalog.set_config('client_connection_check_interval', '1000', "
	    "false)", r->lock_timeout, r->statement_timeout);
}

/*
 * Reads and checks every file of the list before anything runs, keeping
 * each one's checksum and whether it runs outside a transaction (either
 * may be NULL), and moves the connection under way (pc) on between files.
 * With kept (one per file, or NULL), files stay loaded there for the run,
 * up to KEEP_BYTES of SQL in all, so that what runs is what was checked
 * and a data file is not read, checked and hashed a second time (for a
 * 50 MB COPY file, 0.1 s before the server has anything to do). A file
 * past that is left out (zeroed), to be read again when its turn comes.
 */
#define KEEP_BYTES (64 * 1024 * 1024)

void
files_load(const struct miglist *l, char (*sums)[65], bool *notx,
    struct migfile *kept, struct pending *pc)
{
	size_t held = 0;

	for (size_t i = 0; i < l->n; i++) {
		struct migfile f;
		size_t size;

		migfile_load(&l->v[i], &f);
		if (sums != NULL)
			memcpy(sums[i], f.checksum, sizeof sums[i]);
		if (notx != NULL)
			notx[i] = f.up.notx;
		size = f.up.len + f.down.len;
		if (kept != NULL && held + size <= KEEP_BYTES) {
			kept[i] = f;
			held += size;
		} else {
			if (kept != NULL)
				memset(&kept[i], 0, sizeof kept[i]);
			migfile_free(&f);
		}
		conn_pump(pc, 0);
	}
}

PGconn *
run_connect(const struct connopts *co, const struct runopts *ro,
    struct table *t, struct pending *pc)
{
	char *settings = run_settings(ro);
	PGconn *c = conn_must(co, pc);

	guard_session(c);
	table_resolve(c, t, settings);
	free(settings);
	return c;
}

/* The file line and column of a section's offset. */
static void
where(const struct section *sec, size_t off, int *line, int *col)
{
	*line = sec->line;
	*col = 1;
	for (size_t i = 0; i < off && i < sec->len; i++) {
		if (sec->sql[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)sec->sql[i] & 0xc0) != 0x80)
			(*col)++;
	}
}

/*
 * The statement's server-side error position (in characters of the text
 * sent, which starts at its first token: what stands before it, comments
 * and pg_dump's \restrict lines, is not sent) as a file line and column;
 * without one, the statement's first line.
 */
static void
position(const struct section *sec, const struct stmt *st, long pos,
    int *line, int *col)
{
	size_t i = st->start;
	long chars = 0;

	if (pos <= 0) {
		where(sec, st->start, line, col);
		*col = 1;
		return;
	}
	for (; i < st->sqlend; i++)
		if (((unsigned char)sec->sql[i] & 0xc0) != 0x80 &&
		    ++chars == pos)
			break;
	where(sec, i, line, col);
}

/*
 * An error inside a DO block names its line in the block's CONTEXT
 * ("PL/pgSQL function inline_code_block line N at ..."), counted from the
 * line of the body's opening quote: that line in the file, column 1 as
 * for any error without a position. 0 when the error is not from a DO
 * block of this statement.
 */
static int
do_block_line(const struct section *sec, const struct stmt *st,
    const char *context, int *line, int *col)
{
	static const char key[] = "inline_code_block line ";
	const char *k = NULL, *p, *end = sec->sql + st->sqlend;
	long n;
	size_t at;

	for (p = context; (p = strstr(p, key)) != NULL; p++)
		k = p;
	if (k == NULL || (n = atol(k + sizeof key - 1)) < 1)
		return 0;
	p = sec->sql + st->start;
	if (end - p < 3 || strncasecmp(p, "do", 2) != 0 ||
	    strchr(" \t\n$'", p[2]) == NULL)
		return 0;
	while (p < end && *p != '$' && *p != '\'')
		p++;
	if (p == end)
		return 0;
	/* Past the opening quote, then down n - 1 lines. */
	for (p++; p < end && *p != '$' && p[-1] == '$'; p++)
		;
	for (p += *p == '$'; n > 1 && p < end; p++)
		if (*p == '\n')
			n--;
	if (n > 1)
		return 0;
	at = (size_t)(p - sec->sql);
	where(sec, at, line, col);
	*col = 1;
	return 1;
}

/*
 * PATH:LINE:COL: ERROR: message (SQLSTATE xxxxx), then the server's DETAIL
 * and HINT, ours for 25001, CONTEXT line by line, and holder (who held the
 * lock a lock_timeout waited for, or NULL): one record in json mode.
 */
static void
report(const struct section *sec, const struct stmt *st, PGresult *r,
    const char *holder)
{
	const char *pos = PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION);
	const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(r, PG_DIAG_MESSAGE_HINT);
	const char *context = PQresultErrorField(r, PG_DIAG_CONTEXT);
	struct stmt whole = { .len = sec->len, .sqlend = sec->len };
	struct logf f = { .path = sec->path, .bare = true };
	char *m;
	size_t n;

	if (st == NULL) {
		st = &whole;
		pos = NULL;
	}
	if (pos != NULL || context == NULL ||
	    !do_block_line(sec, st, context, &f.line, &f.col))
		position(sec, st, pos ? atol(pos) : 0, &f.line, &f.col);
	if (msg == NULL) {
		msg = PQresultErrorMessage(r);
		state = NULL;
	}
	f.sqlstate = state;
	m = xstrdup(msg);
	n = strlen(m);
	while (n > 0 && m[n - 1] == '\n')
		m[--n] = '\0';
	if (detail != NULL)
		logf_more(&f, "DETAIL", detail);
	if (hint != NULL)
		logf_more(&f, "HINT", hint);
	if (state != NULL && strcmp(state, "25001") == 0)
		logf_more(&f, "HINT", "this statement cannot run inside a "
		    "transaction; mark its section transaction:false "
		    "('-- migrate:up transaction:false', or '-- +goose NO "
		    "TRANSACTION')");
	while (context != NULL && *context != '\0') {
		char *line = xstrndup(context, strcspn(context, "\n"));

		logf_more(&f, "CONTEXT", line);
		context += strlen(line) + (context[strlen(line)] == '\n');
		free(line);
	}
	if (holder != NULL)
		logf_more(&f, "DETAIL", holder);
	mig_log(MIG_ERROR, &f, "%s:%d:%d: ERROR: %s%s%s%s", sec->path, f.line,
	    f.col, m, state ? " (SQLSTATE " : "", state ? state : "",
	    state ? ")" : "");
	free(m);
}

/* Server notices during a migration, named by its file. */
struct notices {
	const char *path;
	int quiet;
};

static void
on_notice(void *arg, const PGresult *r)
{
	const struct notices *n = arg;
	const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *shown = PQresultErrorField(r, PG_DIAG_SEVERITY);
	const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(r, PG_DIAG_MESSAGE_HINT);
	bool warning = sev != NULL && strcmp(sev, "WARNING") == 0;
	struct logf f = { .path = n->path, .bare = true,
	    .sqlstate = PQresultErrorField(r, PG_DIAG_SQLSTATE) };

	/* -q hides what is said in passing, never a warning. */
	if (n->quiet && !warning)
		return;
	if (detail != NULL)
		logf_more(&f, "DETAIL", detail);
	if (hint != NULL)
		logf_more(&f, "HINT", hint);
	mig_log(warning ? MIG_WARNING : sev != NULL && strcmp(sev, "INFO") ==
	    0 ? MIG_INFO : MIG_NOTICE, &f, "%s: %s: %s", n->path,
	    shown ? shown : "NOTICE", msg ? msg : "");
}

/*
 * Names the session most likely to hold the lock a migration timed out
 * on; NULL if none is found. The caller frees it.
 */
static char *
lock_holder(PGconn *c)
{
	char *holder = NULL;
	PGresult *r = exec_params(c, "SELECT a.pid, "
	    "coalesce(nullif(a.application_name, ''), '?'), "
	    "coalesce(pg_catalog.host(a.client_addr), 'local'), a.state, "
	    "pg_catalog.to_char(a.xact_start AT TIME ZONE 'UTC', "
	    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
	    "pg_catalog.left(a.query, 120) "
	    "FROM pg_catalog.pg_stat_activity a WHERE a.pid IN ("
	    "SELECT l.pid FROM pg_catalog.pg_locks l WHERE l.granted AND "
	    "l.locktype = 'relation' AND l.pid <> pg_catalog.pg_backend_pid() "
	    "AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE "
	    "datname = pg_catalog.current_database())) "
	    "ORDER BY a.xact_start NULLS LAST LIMIT 1", 0, NULL);

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
		holder = xasprintf("the lock is held by pid %s (%s, "
		    "client %s, %s, transaction since %s): %s",
		    PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
		    PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3),
		    PQgetvalue(r, 0, 4), PQgetvalue(r, 0, 5));
	PQclear(r);
	return holder;
}

/*
 * After a migration, mig's own queries' notices go where they went before
 * (conn.c's receiver, which takes no argument): a NULL receiver would
 * leave on_notice in place, pointing at a migration that has ended.
 */
static void
restore_notices(PGconn *c, PQnoticeReceiver old)
{
	PQsetNoticeReceiver(c, old, NULL);
}

static int
is_lock_timeout(PGresult *r)
{
	const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);

	return s != NULL && strcmp(s, "55P03") == 0;
}

/* A statement's error, with the lock's holder for a lock_timeout. */
static void
report_failure(PGconn *c, const struct section *sec, const struct stmt *st,
    PGresult *r)
{
	char *holder = is_lock_timeout(r) ? lock_holder(c) : NULL;

	report(sec, st, r, holder);
	free(holder);
}

/*
 * What the server said before it went (57P01 for pg_terminate_backend or a
 * shutdown) says more than libpq's "server closed the connection", which
 * also spans several lines.
 */
static void
connection_lost_r(PGconn *c, const struct step *s, PGresult *r)
{
	const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) :
	    NULL;
	const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	char *line = xstrdup(m ? m : PQerrorMessage(c));

	line[strcspn(line, "\n")] = '\0';
	mig_errx(EXIT_UNAVAILABLE, "%s: lost the connection to %s while "
	    "running it: %s%s%s%s", s->sec->path, conn_name(c), line,
	    st ? " (SQLSTATE " : "", st ? st : "", st ? ")" : "");
}

static void
connection_lost(PGconn *c, const struct step *s)
{
	connection_lost_r(c, s, NULL);
}

static long
retry_delay(int attempt)
{
	return 500L << (attempt < 5 ? attempt : 5);
}

/* Says a migration met lock_timeout, then backs off before the next try. */
static void
lock_retry(const struct runopts *ro, const struct step *s, int attempt)
{
	struct logf f = { .version = s->version, .name = s->name,
	    .path = s->sec->path, .sqlstate = "55P03" };

	if (!ro->quiet)
		mig_log(MIG_WARNING, &f, "%s: lock_timeout (%ld ms) reached; "
		    "%sretry %d of %ld", s->label, ro->lock_timeout, s->single ?
		    "the batch was rolled back; " : "", attempt + 1,
		    ro->lock_retries);
	sleep_ms(retry_delay(attempt));
}

/* COMMIT, sent only now that every result of the migration is back. */
static PGresult *
commit(PGconn *c, const struct step *s, struct pqwait *w)
{
	PGresult *r, *err = NULL;

	if (!PQsendQuery(c, "COMMIT"))
		connection_lost(c, s);
	while ((r = pq_next_result(c, w)) != NULL) {
		if (err == NULL && PQresultStatus(r) == PGRES_FATAL_ERROR)
			err = r;
		else
			PQclear(r);
	}
	if (PQstatus(c) == CONNECTION_BAD)
		connection_lost_r(c, s, err);
	return err;
}

/*
 * One query of a migration's transaction: SQL of the file (st) or mig's.
 * A chunk is several statements of a big section sent as one simple query
 * straight from the section (sql points into it, ending at end): nst
 * entries from st, span covering their text.
 */
struct query {
	char *sql;
	int nparams;
	const char *const *params;
	const struct stmt *st;
	bool chunk;
	size_t nst, end;
	struct stmt span;
};

/*
 * A section bigger than this goes in chunks of whole statements of about
 * this size: as one statement a query each, libpq would hold a copy of it
 * all, and the server's answers to a pipeline of them.
 */
#define CHUNK (1024 * 1024)

static void
query_add(struct query *q, size_t *n, char *sql, int nparams,
    const char *const *params, const struct stmt *st)
{
	q[*n].sql = sql;
	q[*n].nparams = nparams;
	q[*n].params = params;
	q[*n].st = st;
	(*n)++;
}

/*
 * The chunk from st[i]: plain statements up to about CHUNK bytes; a goose
 * block or a COPY goes alone. The index of its last statement.
 */
static size_t
chunk_add(const struct section *sec, struct stmt *st, size_t n, size_t i,
    struct query *q, size_t *count)
{
	struct query *c = &q[*count];
	size_t last = i;

	if (!st[i].block && st[i].copy == COPY_NONE)
		for (size_t j = i + 1; j < n && st[j].sqlend - st[i].start <=
		    CHUNK && (st[j].empty || (!st[j].block &&
		    st[j].copy == COPY_NONE)); j++)
			if (!st[j].empty)
				last = j;
	query_add(q, count, sec->sql + st[i].start, 0, NULL, &st[i]);
	c->chunk = true;
	c->nst = last - i + 1;
	c->end = st[last].sqlend;
	c->span.start = st[i].start;
	c->span.sqlend = c->end;
	return last;
}

/*
 * A migration's transaction, its COMMIT aside: BEGIN (unless the section
 * brings its own, or a batch transaction is open), its statements, then
 * the history row written as the connecting role, then the session put
 * back as mig set it, so that nothing a migration SETs reaches the next.
 */
static struct query *
tx_queries(const struct step *s, const char *settings, struct stmt *st,
    size_t n, int wrapped, bool chunked, size_t *count)
{
	struct query *q = xcalloc(n + 6, sizeof *q);

	*count = 0;
	if (!s->single && !wrapped)
		query_add(q, count, xstrdup("BEGIN"), 0, NULL, NULL);
	if (s->single)
		query_add(q, count, xstrdup("SELECT pg_catalog.set_config("
		    "'mig.started', pg_catalog.clock_timestamp()::text, true)"),
		    0, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		if (!st[i].empty && chunked)
			i = chunk_add(s->sec, st, n, i, q, count);
		else if (!st[i].empty)
			query_add(q, count, xstrndup(s->sec->sql + st[i].start,
			    st[i].sqlend - st[i].start), 0, NULL, &st[i]);
	query_add(q, count, xstrdup("SET SESSION AUTHORIZATION DEFAULT"), 0,
	    NULL, NULL);
	if (s->bookkeeping != NULL)
		query_add(q, count, xstrdup(s->bookkeeping), s->nparams,
		    s->params, NULL);
	query_add(q, count, xstrdup("RESET ALL"), 0, NULL, NULL);
	query_add(q, count, xstrdup(settings), 0, NULL, NULL);
	return q;
}

/*
 * Sends the queries as one pipeline and reads every result. On failure
 * *err holds the first error and *at its statement (NULL: not in the file).
 */
static void
run_piped(PGconn *c, const struct step *s, const struct query *q, size_t n,
    struct pqwait *w, PGresult **err, const struct stmt **at)
{
	PGresult *r;
	size_t i;

	if (!PQenterPipelineMode(c))
		connection_lost(c, s);
	for (i = 0; i < n; i++) {
		PQsendQueryParams(c, q[i].sql, q[i].nparams, NULL, q[i].params,
		    NULL, NULL, 0);
		if (i % 64 == 63)
			PQflush(c);
	}
	if (!PQpipelineSync(c))
		connection_lost(c, s);
	for (i = 0; i < n; i++) {
		while ((r = pq_next_result(c, w)) != NULL) {
			ExecStatusType es = PQresultStatus(r);

			if (es == PGRES_COPY_IN || es == PGRES_COPY_OUT ||
			    es == PGRES_COPY_BOTH)
				pq_unexpected(c, s->sec->path, es);
			if (es == PGRES_FATAL_ERROR && *err == NULL) {
				*err = r;
				*at = q[i].st;
				continue;
			}
			PQclear(r);
		}
		if (PQstatus(c) == CONNECTION_BAD)
			connection_lost_r(c, s, *err);
	}
	while ((r = pq_next_result(c, w)) != NULL &&
	    PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
		PQclear(r);
		if (PQstatus(c) == CONNECTION_BAD)
			connection_lost_r(c, s, *err);
	}
	PQclear(r);
	if (!PQexitPipelineMode(c))
		connection_lost_r(c, s, *err);
}

/*
 * The same one query at a time, as psql sends them: a goose block of
 * several statements goes as one simple query, and COPY FROM STDIN gets
 * its rows; neither can go in a pipeline.
 */
static void
run_each(PGconn *c, const struct step *s, const struct query *q, size_t n,
    struct pqwait *w, PGresult **err, const struct stmt **at)
{
	for (size_t i = 0; i < n && *err == NULL; i++) {
		const struct stmt *st = q[i].st;
		size_t ok;
		char keep = 0;
		int sent;

		/* libpq copies the query as it is sent: a chunk is ended in
		 * place for that moment, not copied out of the section. */
		if (q[i].chunk) {
			keep = s->sec->sql[q[i].end];
			s->sec->sql[q[i].end] = '\0';
		}
		sent = q[i].nparams > 0 ? PQsendQueryParams(c, q[i].sql,
		    q[i].nparams, NULL, q[i].params, NULL, NULL, 0) :
		    PQsendQuery(c, q[i].sql);
		if (q[i].chunk)
			s->sec->sql[q[i].end] = keep;
		if (!sent)
			connection_lost(c, s);
		if (st != NULL && st->copy == COPY_FROM_STDIN)
			ok = pq_collect(c, w, s->sec->path, s->sec->sql +
			    st->data, st->datalen, err);
		else
			ok = pq_collect(c, w, s->sec->path, NULL, 0, err);
		if (PQstatus(c) == CONNECTION_BAD)
			connection_lost_r(c, s, *err);
		if (*err == NULL)
			continue;
		*at = st;
		if (!q[i].chunk || q[i].nst == 1)
			continue;
		/* The server's position counts from the chunk's start; without
		 * one, each statement before the failing one gave a result. */
		if (PQresultErrorField(*err, PG_DIAG_STATEMENT_POSITION)) {
			*at = &q[i].span;
			continue;
		}
		for (size_t k = 0; k < q[i].nst; k++)
			if (!st[k].empty && ok-- == 0) {
				*at = &st[k];
				break;
			}
	}
}

enum outcome
run_tx(PGconn *c, const struct runopts *ro, const struct step *s)
{
	struct stmt *st;
	const struct stmt *at;
	int wrapped, piped = 1;
	size_t n = section_split(s->sec, s->single, &st, &wrapped), nq, i;
	bool chunked = s->sec->len > CHUNK;
	char *settings = run_settings(ro);
	struct query *q = tx_queries(s, settings, st, n, wrapped, chunked, &nq);
	struct pqwait w = { .label = s->label, .version = s->version,
	    .name = s->name, .start = now_ms(),
	    .next = now_ms() + 5000, .quiet = ro->quiet };
	struct notices nt = { s->sec->path, ro->quiet };
	enum outcome out = RUN_FAILED;
	PQnoticeReceiver old;
	PGresult *err;

	for (i = 0; i < n; i++)
		if (chunked || (!st[i].empty && (st[i].block ||
		    st[i].copy != COPY_NONE)))
			piped = 0;
	pq_title(&w);
	old = PQsetNoticeReceiver(c, on_notice, &nt);
	for (int attempt = s->tries;; attempt++) {
		err = NULL;
		at = NULL;
		if (piped)
			run_piped(c, s, q, nq, &w, &err, &at);
		else
			run_each(c, s, q, nq, &w, &err, &at);
		if (err == NULL) {
			if (!s->single && (err = commit(c, s, &w)) != NULL) {
				report(s->sec, NULL, err, NULL);
				out = mig_signal ? RUN_INTERRUPTED : RUN_FAILED;
			} else
				out = RUN_DONE;
			break;
		}
		PQclear(exec_params(c, "ROLLBACK", 0, NULL));
		if (mig_signal) {
			out = RUN_INTERRUPTED;
			break;
		}
		if (is_lock_timeout(err) && attempt < ro->lock_retries) {
			PQclear(err);
			err = NULL;
			lock_retry(ro, s, attempt);
			if (s->single) {
				out = RUN_RETRY;
				break;
			}
			continue;
		}
		report_failure(c, s->sec, at, err);
		break;
	}
	PQclear(err);
	/* A rolled back transaction took the migration's SETs with it. */
	restore_notices(c, old);
	for (i = 0; i < nq; i++)
		if (!q[i].chunk)
			free(q[i].sql);
	free(q);
	free(settings);
	free(st);
	return out;
}

/* Records a statement of a transaction:false migration as done. */
static void
progress(PGconn *c, const char *progress_sql, size_t done, const char *rowid)
{
	char n[24];
	const char *p[2] = { n, rowid };

	snprintf(n, sizeof n, "%zu", done);
	/* As the connecting role, leaving the migration's session as it is. */
	exec_simple(c, "BEGIN; SET LOCAL SESSION AUTHORIZATION DEFAULT");
	exec_ok(c, progress_sql, 2, p);
	exec_simple(c, "COMMIT");
}

enum outcome
run_notx(PGconn *c, const struct runopts *ro, struct step *s, size_t from,
    const char *progress_sql, const char *rowid)
{
	struct stmt *st;
	int wrapped;
	size_t n = section_split(s->sec, 0, &st, &wrapped), i, k = 0;
	struct pqwait w = { .label = s->label, .version = s->version,
	    .name = s->name, .start = now_ms(),
	    .next = now_ms() + 5000, .quiet = ro->quiet };
	struct notices nt = { s->sec->path, ro->quiet };
	enum outcome out = RUN_DONE;
	PQnoticeReceiver old;
	char *reset, *settings = run_settings(ro);

	s->total = 0;
	for (i = 0; i < n; i++)
		s->total += !st[i].empty;
	w.total = s->total;
	old = PQsetNoticeReceiver(c, on_notice, &nt);
	s->done = from;
	for (i = 0; i < n && out == RUN_DONE; i++) {
		PGresult *r;
		char *q;

		if (st[i].empty || k++ < from)
			continue;
		w.stmt = k;
		pq_title(&w);
		q = xstrndup(s->sec->sql + st[i].start,
		    st[i].sqlend - st[i].start);
		for (int attempt = 0;; attempt++) {
			r = NULL;
			if (!PQsendQuery(c, q))
				connection_lost(c, s);
			if (st[i].copy == COPY_FROM_STDIN)
				pq_collect(c, &w, s->sec->path, s->sec->sql +
				    st[i].data, st[i].datalen, &r);
			else
				pq_collect(c, &w, s->sec->path, NULL, 0, &r);
			/* A lost connection is 69, not the statement's fault. */
			if (PQstatus(c) == CONNECTION_BAD)
				connection_lost_r(c, s, r);
			if (r == NULL || mig_signal ||
			    !is_lock_timeout(r) || attempt >= ro->lock_retries)
				break;
			PQclear(r);
			lock_retry(ro, s, attempt);
		}
		free(q);
		if (r != NULL) {
			if (mig_signal)
				out = RUN_INTERRUPTED;
			else {
				report_failure(c, s->sec, &st[i], r);
				out = RUN_FAILED;
			}
			PQclear(r);
			break;
		}
		/* Inside a transaction the section opened, nothing is done yet. */
		if (PQtransactionStatus(c) == PQTRANS_IDLE) {
			s->done = k;
			if (progress_sql != NULL)
				progress(c, progress_sql, k, rowid);
		}
		if (mig_signal)
			out = RUN_INTERRUPTED;
	}
	if (PQtransactionStatus(c) != PQTRANS_IDLE) {
		PQclear(exec_params(c, "ROLLBACK", 0, NULL));
		if (out == RUN_DONE) {
			struct logf f = { .version = s->version,
			    .name = s->name, .path = s->sec->path };

			mig_log(MIG_ERROR, &f, "%s: ends inside a transaction "
			    "it opened; end it with COMMIT", s->sec->path);
			out = RUN_FAILED;
		}
	}
	restore_notices(c, old);
	reset = xasprintf("SET SESSION AUTHORIZATION DEFAULT; RESET ALL; %s",
	    settings);
	exec_simple(c, reset);
	free(reset);
	free(settings);
	free(st);
	return out;
}

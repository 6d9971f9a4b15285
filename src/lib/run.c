/*
 * Running a migration's SQL: a transaction section goes to the server in one
 * pipeline (BEGIN, its statements, the history row) and COMMIT follows only
 * once every result is back; a transaction:false section runs statement by
 * statement. Both report progress, honour Ctrl-C and docker stop by
 * cancelling on the server, and map a server error to PATH:LINE:COL.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "mig.h"

void
runopts_init(struct runopts *r)
{
	memset(r, 0, sizeof *r);
	r->lock_wait = 300;
	r->lock_timeout = 5000;
	r->lock_retries = 3;
}

int
run_option(struct runopts *r, int ch, const char *arg)
{
	switch (ch) {
	case 'W':
		r->lock_wait = parse_number("--lock-wait", arg, 0, 86400 * 7);
		break;
	case 'L':
		r->lock_timeout = parse_number("--lock-timeout", arg, 0,
		    2147483647);
		break;
	case 'R':
		r->lock_retries = parse_number("--lock-retries", arg, 0, 1000);
		break;
	case 'S':
		r->statement_timeout = parse_number("--statement-timeout", arg,
		    0, 2147483647);
		break;
	default:
		return 0;
	}
	return 1;
}

/* A dead client's backend notices within a second and lets its locks go. */
char *
run_settings(const struct runopts *r)
{
	return xasprintf("SET lock_timeout = %ld; SET statement_timeout = %ld; "
	    "SET client_connection_check_interval = 1000; ",
	    r->lock_timeout, r->statement_timeout);
}

/*
 * Reads and checks every file of the list before anything runs, keeping
 * each one's checksum and whether it runs outside a transaction (either
 * may be NULL), and moves a connection under way along between files.
 */
void
files_load(const struct miglist *l, char (*sums)[65], int *notx)
{
	for (size_t i = 0; i < l->n; i++) {
		struct migfile f;

		migfile_load(&l->v[i], &f);
		if (sums != NULL)
			memcpy(sums[i], f.checksum, sizeof sums[i]);
		if (notx != NULL)
			notx[i] = f.up.notx;
		migfile_free(&f);
		conn_pump(0);
	}
}

PGconn *
run_connect(const struct connopts *co, const struct runopts *ro,
    struct table *t)
{
	char *settings = run_settings(ro);
	PGconn *c = conn_must(co);

	table_resolve(c, t, settings);
	free(settings);
	return c;
}

void
interrupted(const char *what)
{
	mig_errx(exit_code_for_signal(), "interrupted by %s while %s",
	    mig_signal == 2 ? "SIGINT" : "SIGTERM", what);
}

struct wait {
	const char *label;
	long long start, next;
	int cancelled;
	int quiet;
};

/* Waits for the next result, cancelling on a signal, reporting progress. */
static PGresult *
next_result(PGconn *c, struct wait *w)
{
	while (PQisBusy(c)) {
		struct pollfd p = { PQsocket(c), POLLIN, 0 };
		long long now = now_ms();
		int n;

		if (mig_signal && !w->cancelled) {
			char errbuf[256];
			PGcancel *cn = PQgetCancel(c);

			if (cn != NULL) {
				PQcancel(cn, errbuf, sizeof errbuf);
				PQfreeCancel(cn);
			}
			w->cancelled = 1;
		}
		n = poll(&p, 1, w->next > now ? (int)(w->next - now) : 0);
		if (n == -1 && errno != EINTR)
			break;
		if (n > 0 && !PQconsumeInput(c))
			break;
		if (now_ms() >= w->next) {
			if (!w->quiet && w->label != NULL)
				mig_warnx("%s: still running (%lld s)",
				    w->label, (now_ms() - w->start) / 1000);
			w->next += 5000;
		}
	}
	return PQgetResult(c);
}

PGresult *
exec_params(PGconn *c, const char *sql, int n, const char *const *params)
{
	/* Bookkeeping is never cancelled: a signal waits for it to finish. */
	struct wait w = { NULL, now_ms(), now_ms() + 5000, 1, 1 };
	PGresult *r, *first = NULL;

	if (!PQsendQueryParams(c, sql, n, NULL, params, NULL, NULL, 0))
		return PQmakeEmptyPGresult(c, PGRES_FATAL_ERROR);
	while ((r = next_result(c, &w)) != NULL) {
		if (first == NULL)
			first = r;
		else
			PQclear(r);
	}
	return first ? first : PQmakeEmptyPGresult(c, PGRES_FATAL_ERROR);
}

void
exec_ok(PGconn *c, const char *sql, int n, const char *const *params)
{
	PGresult *r = exec_params(c, sql, n, params);
	ExecStatusType s = PQresultStatus(r);

	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		PQclear(r);
		pq_fail(c, "query failed");
	}
	PQclear(r);
}

/* The statement's server-side error position as a file line and column. */
static void
position(const struct section *sec, const struct stmt *st, long pos,
    int *line, int *col)
{
	size_t i, end = st->off + st->len, at = st->start;
	long chars = 0;

	*line = sec->line;
	*col = 1;
	if (pos > 0)
		at = st->off;
	/* The statement may start mid-line, after another one. */
	for (i = 0; i < at; i++) {
		if (sec->sql[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)sec->sql[i] & 0xc0) != 0x80)
			(*col)++;
	}
	if (pos <= 0) {
		*col = 1;
		return;
	}
	for (i = st->off; i < end; i++) {
		unsigned char ch = (unsigned char)sec->sql[i];

		if ((ch & 0xc0) == 0x80)
			continue;
		if (++chars == pos)
			return;
		if (ch == '\n') {
			(*line)++;
			*col = 1;
		} else
			(*col)++;
	}
}

static void
report(const struct section *sec, const struct stmt *st, PGresult *r)
{
	const char *pos = PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION);
	const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(r, PG_DIAG_MESSAGE_HINT);
	struct stmt whole = { 0, sec->len, 0, 0 };
	int line, col;

	if (st == NULL) {
		st = &whole;
		pos = NULL;
	}
	position(sec, st, pos ? atol(pos) : 0, &line, &col);
	if (msg == NULL) {
		msg = PQresultErrorMessage(r);
		state = NULL;
	}
	fflush(stdout);
	{
		char *m = mask_secrets(msg);
		size_t n = strlen(m);

		while (n > 0 && m[n - 1] == '\n')
			m[--n] = '\0';
		fprintf(stderr, "%s:%d:%d: ERROR: %s", sec->path, line, col, m);
		free(m);
	}
	if (state != NULL)
		fprintf(stderr, " (SQLSTATE %s)", state);
	fputc('\n', stderr);
	if (detail != NULL)
		fprintf(stderr, "DETAIL: %s\n", detail);
	if (hint != NULL)
		fprintf(stderr, "HINT: %s\n", hint);
}

/* Names the session most likely to hold the lock a migration timed out on. */
static void
report_lock_holder(PGconn *c)
{
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
		fprintf(stderr, "DETAIL: the lock is held by pid %s (%s, "
		    "client %s, %s, transaction since %s): %s\n",
		    PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
		    PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3),
		    PQgetvalue(r, 0, 4), PQgetvalue(r, 0, 5));
	PQclear(r);
}

static int
is_lock_timeout(PGresult *r)
{
	const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);

	return s != NULL && strcmp(s, "55P03") == 0;
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
	if (!ro->quiet)
		mig_warnx("%s: lock_timeout (%ld ms) reached; %sretry %d of %ld",
		    s->label, ro->lock_timeout, s->single ? "the batch was "
		    "rolled back; " : "", attempt + 1, ro->lock_retries);
	sleep_ms(retry_delay(attempt));
}

/* COMMIT, sent only now that every result of the migration is back. */
static PGresult *
commit(PGconn *c, const struct step *s, struct wait *w)
{
	PGresult *r, *err = NULL;

	if (!PQsendQuery(c, "COMMIT"))
		connection_lost(c, s);
	while ((r = next_result(c, w)) != NULL) {
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
 * Sends BEGIN, the statements and the bookkeeping as one pipeline. On
 * success the transaction is left open for the caller's COMMIT; on failure
 * *err holds the first error and *at its statement (NULL: not in the file).
 */
static int
pipeline(PGconn *c, const struct step *s, struct stmt *st, size_t n,
    struct wait *w, PGresult **err, struct stmt **at)
{
	size_t i, sent = 0;
	struct stmt **who = xcalloc(n + 3, sizeof *who);
	PGresult *r;

	*err = NULL;
	*at = NULL;
	if (!PQenterPipelineMode(c))
		connection_lost(c, s);
	/* A savepoint per migration would make a batch of a thousand
	 * subtransactions, a quarter slower than one plain transaction. */
	if (!s->single) {
		PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
		who[sent++] = NULL;
	}
	PQsendQueryParams(c, "SELECT pg_catalog.set_config('mig.started', "
	    "pg_catalog.clock_timestamp()::text, true)", 0, NULL, NULL, NULL,
	    NULL, 0);
	who[sent++] = NULL;
	for (i = 0; i < n; i++) {
		char *q;

		if (st[i].empty)
			continue;
		q = xstrndup(s->sec->sql + st[i].off, st[i].len);
		PQsendQueryParams(c, q, 0, NULL, NULL, NULL, NULL, 0);
		free(q);
		who[sent++] = &st[i];
		if (sent % 64 == 0)
			PQflush(c);
	}
	if (s->bookkeeping != NULL) {
		PQsendQueryParams(c, s->bookkeeping, s->nparams, NULL,
		    s->params, NULL, NULL, 0);
		who[sent++] = NULL;
	}
	if (!PQpipelineSync(c))
		connection_lost(c, s);
	for (i = 0; i < sent; i++) {
		while ((r = next_result(c, w)) != NULL) {
			ExecStatusType es = PQresultStatus(r);

			if (es == PGRES_FATAL_ERROR && *err == NULL) {
				*err = r;
				*at = who[i];
				continue;
			}
			PQclear(r);
		}
		if (PQstatus(c) == CONNECTION_BAD)
			connection_lost_r(c, s, *err);
	}
	free(who);
	while ((r = next_result(c, w)) != NULL &&
	    PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
		PQclear(r);
		if (PQstatus(c) == CONNECTION_BAD)
			connection_lost_r(c, s, *err);
	}
	PQclear(r);
	if (!PQexitPipelineMode(c))
		connection_lost_r(c, s, *err);
	return *err == NULL;
}

enum outcome
run_tx(PGconn *c, const struct runopts *ro, const struct step *s)
{
	struct stmt *st, *at;
	size_t n = sql_split(s->sec->sql, s->sec->len, &st);
	struct wait w = { s->label, now_ms(), now_ms() + 5000, 0, ro->quiet };
	PGresult *err;

	for (int attempt = s->tries;; attempt++) {
		if (pipeline(c, s, st, n, &w, &err, &at)) {
			PGresult *r = NULL;

			if (!s->single && (r = commit(c, s, &w)) != NULL) {
				report(s->sec, NULL, r);
				PQclear(r);
				free(st);
				return mig_signal ? RUN_INTERRUPTED : RUN_FAILED;
			}
			free(st);
			return RUN_DONE;
		}
		PQclear(exec_params(c, "ROLLBACK", 0, NULL));
		if (mig_signal) {
			PQclear(err);
			free(st);
			return RUN_INTERRUPTED;
		}
		if (is_lock_timeout(err) && attempt < ro->lock_retries) {
			PQclear(err);
			lock_retry(ro, s, attempt);
			if (s->single) {
				free(st);
				return RUN_RETRY;
			}
			continue;
		}
		report(s->sec, at, err);
		if (is_lock_timeout(err))
			report_lock_holder(c);
		PQclear(err);
		free(st);
		return RUN_FAILED;
	}
}

enum outcome
run_notx(PGconn *c, const struct runopts *ro, const struct step *s,
    size_t from, const char *progress_sql, const char *rowid)
{
	struct stmt *st;
	size_t n = sql_split(s->sec->sql, s->sec->len, &st), i, k = 0;
	struct wait w = { s->label, now_ms(), now_ms() + 5000, 0, ro->quiet };
	enum outcome out = RUN_DONE;

	for (i = 0; i < n && out == RUN_DONE; i++) {
		char *q, done[16];
		const char *p[2] = { done, rowid };
		PGresult *r;

		if (st[i].empty || k++ < from)
			continue;
		q = xstrndup(s->sec->sql + st[i].off, st[i].len);
		for (int attempt = 0;; attempt++) {
			if (!PQsendQueryParams(c, q, 0, NULL, NULL, NULL, NULL, 0))
				connection_lost(c, s);
			r = NULL;
			for (PGresult *x; (x = next_result(c, &w)) != NULL;) {
				if (r == NULL &&
				    PQresultStatus(x) == PGRES_FATAL_ERROR)
					r = x;
				else
					PQclear(x);
			}
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
				report(s->sec, &st[i], r);
				if (is_lock_timeout(r))
					report_lock_holder(c);
				out = RUN_FAILED;
			}
			PQclear(r);
			break;
		}
		if (progress_sql != NULL) {
			snprintf(done, sizeof done, "%zu", k);
			exec_ok(c, progress_sql, 2, p);
		}
		if (mig_signal)
			out = RUN_INTERRUPTED;
	}
	free(st);
	return out;
}

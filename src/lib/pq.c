/*
 * Sending queries and reading their results: waiting without blocking
 * signals out, reporting a long wait, cancelling on SIGINT and SIGTERM, and
 * giving a COPY FROM STDIN its rows.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mig.h"

/* Cancels the running statement on the server, once. */
static void
cancel_once(PGconn *c, struct pqwait *w)
{
	char errbuf[256];
	PGcancel *cn;

	if (w->cancelled)
		return;
	if ((cn = PQgetCancel(c)) != NULL) {
		PQcancel(cn, errbuf, sizeof errbuf);
		PQfreeCancel(cn);
	}
	w->cancelled = true;
}

/* Waits for the next result, cancelling on a signal, reporting progress. */
PGresult *
pq_next_result(PGconn *c, struct pqwait *w)
{
	while (PQisBusy(c)) {
		struct pollfd p = { .fd = PQsocket(c), .events = POLLIN };
		long long now = now_ms();
		int n;

		if (mig_signal)
			cancel_once(c, w);
		n = poll(&p, 1, w->next > now ? (int)(w->next - now) : 0);
		if (n == -1 && errno != EINTR)
			break;
		if (n > 0 && !PQconsumeInput(c))
			break;
		if (now_ms() >= w->next) {
			if (!w->quiet && w->label != NULL) {
				struct logf f = { .version = w->version,
				    .name = w->name };

				mig_log(MIG_INFO, &f, "%s: still running "
				    "(%lld s)", w->label,
				    (now_ms() - w->start) / 1000);
			}
			pq_title(w);
			w->next += 5000;
		}
	}
	return PQgetResult(c);
}

/*
 * The process title (ps, docker top) says what runs: the migration, its
 * statement for transaction:false, and for how long, as "mig-apply:
 * 0042_add_index statement 3/5 (41 s)". Only a tool that called
 * setproctitle_init labels what it waits for.
 */
void
pq_title(const struct pqwait *w)
{
	long long s = (now_ms() - w->start) / 1000;

	if (w->label == NULL)
		return;
	if (w->total > 0)
		setproctitle("%s statement %zu/%zu (%lld s)", w->label,
		    w->stmt, w->total, s);
	else
		setproctitle("%s (%lld s)", w->label, s);
}

/*
 * A result no migration can give: the server wants to send COPY rows, or
 * to exchange them both ways. Waiting on would never end; leaving ends the
 * session, and with it the open transaction, so nothing is committed.
 */
void
pq_unexpected(PGconn *c, const char *path, ExecStatusType st)
{
	mig_errx(EXIT_SOFTWARE, "%s: the server answered %s, which a "
	    "migration cannot take; the session was closed and nothing of this "
	    "migration was committed", path ? path : conn_name(c),
	    PQresStatus(st));
}

/* Waits until the socket takes more, at most a tenth of a second. */
static void
wait_writable(PGconn *c)
{
	struct pollfd p = { PQsocket(c), POLLOUT, 0 };

	poll(&p, 1, 100);
}

/*
 * The rows of a COPY FROM STDIN; none (NULL) makes the COPY fail. They go
 * without blocking, so that Ctrl-C is seen while a slow server reads them:
 * then the COPY is cancelled on the server, which would otherwise read
 * every row already sent before it saw the COPY end.
 */
static void
copy_rows(PGconn *c, const char *data, size_t len, struct pqwait *w)
{
	size_t at = 0;

	if (data == NULL) {
		PQputCopyEnd(c, "mig has no rows for this COPY FROM STDIN: "
		    "write them after the statement, ending with a \\. line");
		return;
	}
	PQsetnonblocking(c, 1);
	while (at < len && !mig_signal) {
		size_t n = len - at > 65536 ? 65536 : len - at;
		int r;

		/* More only once the last went: libpq would otherwise grow
		 * its buffer to hold all the rows a slow server has not read. */
		if ((r = PQflush(c)) == 1) {
			wait_writable(c);
			continue;
		}
		if (r == -1 || (r = PQputCopyData(c, data + at, (int)n)) == -1)
			break;
		if (r == 1)
			at += n;
		else
			wait_writable(c);
	}
	if (mig_signal)
		cancel_once(c, w);
	while (PQputCopyEnd(c, mig_signal ? "interrupted" : NULL) == 0)
		wait_writable(c);
	while (PQflush(c) == 1)
		wait_writable(c);
	PQsetnonblocking(c, 0);
}

/*
 * The results of what was sent, up to the end: the first error is kept in
 * *err. A COPY FROM STDIN gets the rows given (once: a second COPY in the
 * same query gets none); any other COPY ends the run. The number of
 * results before the error tells which statement of several failed.
 */
size_t
pq_collect(PGconn *c, struct pqwait *w, const char *path, const char *data,
    size_t len, PGresult **err)
{
	PGresult *r;
	size_t ok = 0;

	while ((r = pq_next_result(c, w)) != NULL) {
		ExecStatusType st = PQresultStatus(r);

		switch (st) {
		case PGRES_COPY_IN:
			PQclear(r);
			copy_rows(c, data, len, w);
			data = NULL;
			continue;
		case PGRES_COPY_OUT:
		case PGRES_COPY_BOTH:
			pq_unexpected(c, path, st);
		case PGRES_FATAL_ERROR:
		case PGRES_BAD_RESPONSE:
			if (*err == NULL) {
				*err = r;
				continue;
			}
			break;
		default:
			ok += *err == NULL;
			break;
		}
		PQclear(r);
	}
	return ok;
}

PGresult *
exec_params(PGconn *c, const char *sql, int n, const char *const *params)
{
	/* Bookkeeping is never cancelled: a signal waits for it to finish. */
	struct pqwait w = { .start = now_ms(), .next = now_ms() + 5000,
	    .cancelled = true, .quiet = true };
	PGresult *r, *first = NULL;

	if (!PQsendQueryParams(c, sql, n, NULL, params, NULL, NULL, 0))
		return PQmakeEmptyPGresult(c, PGRES_FATAL_ERROR);
	while ((r = pq_next_result(c, &w)) != NULL) {
		ExecStatusType st = PQresultStatus(r);

		if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT ||
		    st == PGRES_COPY_BOTH)
			pq_unexpected(c, NULL, st);
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

	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
		pq_fail(c, r, "query failed");
	PQclear(r);
}

/* mig's own statements, several in one query. */
void
exec_simple(PGconn *c, const char *sql)
{
	struct pqwait w = { .start = now_ms(), .next = now_ms() + 5000,
	    .cancelled = true, .quiet = true };
	PGresult *err = NULL;

	if (!PQsendQuery(c, sql))
		pq_fail(c, NULL, "query failed");
	pq_collect(c, &w, NULL, NULL, 0, &err);
	if (err != NULL)
		pq_fail(c, err, "query failed");
}

/*
 * A bookkeeping query failed (r is its result, NULL if it could not be
 * sent). Permission denied (42501) there is on mig's own history table or
 * its schema: 77, which a grant fixes.
 */
void
pq_fail(PGconn *c, const PGresult *r, const char *what)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	char *m = fold_lines(PQerrorMessage(c));
	int code = EXIT_SQL;

	if (mig_signal)
		mig_errx(exit_code_for_signal(), "interrupted by %s: %s on %s: %s",
		    mig_signal == SIGINT ? "SIGINT" : "SIGTERM", what,
		    conn_name(c), m);
	if (PQstatus(c) == CONNECTION_BAD)
		code = EXIT_UNAVAILABLE;
	else if (state != NULL && strcmp(state, "42501") == 0)
		code = EXIT_NOPERM;
	mig_errx(code, "%s on %s: %s", what, conn_name(c), m);
}

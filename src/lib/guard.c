/*
 * Servers mig-apply and mig-revert must not run against. A read-only
 * standby fails at the first write, after the lock was waited for; a
 * pooler in transaction or statement mode hands each transaction whichever
 * server connection is free, so the migration lock and mig's settings
 * would stay on one backend while the migrations ran on others, and two
 * runs could migrate at once.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "mig.h"

/* How long the pooler probe's second connection may take to answer. */
#define PROBE_MS 3000

/* Waits until b's socket is ready; 0 past the deadline or on a signal. */
static int
probe_wait(PGconn *b, int writing, long long deadline)
{
	struct pollfd p = { PQsocket(b), writing ? POLLOUT : POLLIN, 0 };
	long long left;

	if (p.fd < 0)
		return 0;
	while (!mig_signal && (left = deadline - now_ms()) > 0) {
		int n = poll(&p, 1, (int)left);

		if (n > 0)
			return 1;
		if (n == -1 && errno != EINTR)
			return 0;
	}
	return 0;
}

/*
 * The backend that a second connection, made with c's own settings to the
 * same host, gets for one statement; 0 when it cannot tell in PROBE_MS (a
 * session pool with no server connection free makes it wait).
 */
static long
probe_backend(PGconn *c)
{
	PQconninfoOption *opts = PQconninfo(c), *o;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	long long deadline = now_ms() + PROBE_MS;
	const char **keys, **vals;
	PGresult *r;
	PGconn *b;
	size_t n = 0;
	long pid = 0;

	if (opts == NULL)
		return 0;
	for (o = opts; o->keyword != NULL; o++)
		n++;
	keys = xcalloc(n + 1, sizeof *keys);
	vals = xcalloc(n + 1, sizeof *vals);
	n = 0;
	for (o = opts; o->keyword != NULL; o++) {
		const char *v = o->val;

		/* The host c chose among several, not the list again. */
		if (strcmp(o->keyword, "host") == 0)
			v = PQhost(c);
		else if (strcmp(o->keyword, "port") == 0)
			v = PQport(c);
		else if (strcmp(o->keyword, "hostaddr") == 0 && v && *v)
			v = PQhostaddr(c);
		else if (strcmp(o->keyword, "target_session_attrs") == 0)
			v = NULL;
		if (v == NULL)
			continue;
		keys[n] = o->keyword;
		vals[n++] = v;
	}
	b = PQconnectStartParams(keys, vals, 0);
	free(keys);
	free(vals);
	PQconninfoFree(opts);
	if (b == NULL)
		return 0;
	while (PQstatus(b) != CONNECTION_BAD && st != PGRES_POLLING_OK &&
	    st != PGRES_POLLING_FAILED) {
		if (!probe_wait(b, st == PGRES_POLLING_WRITING, deadline))
			goto out;
		st = PQconnectPoll(b);
	}
	if (st != PGRES_POLLING_OK ||
	    !PQsendQuery(b, "SELECT pg_catalog.pg_backend_pid()"))
		goto out;
	for (;;) {
		while (PQisBusy(b))
			if (!probe_wait(b, 0, deadline) || !PQconsumeInput(b))
				goto out;
		if ((r = PQgetResult(b)) == NULL)
			break;
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
			pid = atol(PQgetvalue(r, 0, 0));
		PQclear(r);
	}
out:
	PQfinish(b);
	return pid;
}

/* The backend serving c's next statement, and whether it is read-only. */
static long
backend(PGconn *c, int *recovery, int *readonly)
{
	PGresult *r = exec_params(c, "SELECT pg_catalog.pg_is_in_recovery(), "
	    "pg_catalog.current_setting('transaction_read_only'), "
	    "pg_catalog.pg_backend_pid()", 0, NULL);
	long pid;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		PQclear(r);
		pq_fail(c, "cannot read the server's state");
	}
	*recovery = PQgetvalue(r, 0, 0)[0] == 't';
	*readonly = strcmp(PQgetvalue(r, 0, 1), "on") == 0;
	pid = atol(PQgetvalue(r, 0, 2));
	PQclear(r);
	return pid;
}

/*
 * Exits 69 when c is a read-only server or goes through a pooler that does
 * not keep one server connection per client. Runs before the lock, so a
 * refused run has taken no lock anywhere.
 */
void
guard_session(PGconn *c)
{
	int recovery, readonly;
	long pid = backend(c, &recovery, &readonly), other, again;

	if (recovery)
		mig_errx(EXIT_UNAVAILABLE, "%s is a read-only standby (in "
		    "recovery); migrations run on the primary: connect to it, "
		    "or with several hosts in the connection string add "
		    "target_session_attrs=read-write so that libpq picks it; "
		    "nothing was run", conn_name(c));
	if (readonly)
		mig_errx(EXIT_UNAVAILABLE, "%s is read-only "
		    "(default_transaction_read_only is on); connect to a "
		    "server that takes writes (with several hosts, add "
		    "target_session_attrs=read-write); nothing was run",
		    conn_name(c));
	/*
	 * Straight to the server, the backend is the one the connection
	 * started with. A pooler answers the start with a key of its own.
	 */
	if (PQbackendPID(c) == pid)
		return;
	/*
	 * A pooler. In session mode our server connection is ours until we
	 * leave: another client never gets it, and we never get another one.
	 * In transaction or statement mode it went back to the pool after
	 * our statement, where the next client takes it.
	 */
	other = probe_backend(c);
	if (mig_signal)
		interrupted("checking the connection; nothing was run");
	again = backend(c, &recovery, &readonly);
	if (other == pid || again != pid)
		mig_errx(EXIT_UNAVAILABLE, "%s is a connection pooler in "
		    "transaction (or statement) pool mode: the server "
		    "connection changes between transactions, and mig needs "
		    "one session for its whole run (the migration lock, its "
		    "settings); connect to the server directly, or through a "
		    "pool in session mode (PgBouncer: pool_mode = session); "
		    "nothing was run", conn_name(c));
}

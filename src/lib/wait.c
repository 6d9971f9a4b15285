/* mig-wait's work: poll until the server answers, or the list is applied. */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mig.h"

/*
 * Where the server will listen, so the wait between attempts can watch
 * for the socket to open: a refused connect costs microseconds, a full
 * libpq attempt far more, and readiness is then seen within milliseconds.
 */
struct probe {
	struct sockaddr_storage sa;
	socklen_t len;
	int ok;
};

static void
probe_init(struct probe *p, PGconn *c)
{
	const char *host = PQhost(c), *port = PQport(c);
	struct addrinfo hints = { 0 }, *ai;

	p->ok = 0;
	if (host == NULL || port == NULL || *port == '\0')
		return;
	if (*host == '\0' || *host == '/') {
		struct sockaddr_un *un = (struct sockaddr_un *)&p->sa;
		int n = snprintf(un->sun_path, sizeof un->sun_path,
		    "%s/.s.PGSQL.%s", *host ? host : "/var/run/postgresql",
		    port);

		un->sun_family = AF_UNIX;
		p->len = sizeof *un;
		p->ok = n > 0 && (size_t)n < sizeof un->sun_path;
		return;
	}
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return;
	memcpy(&p->sa, ai->ai_addr, ai->ai_addrlen);
	p->len = ai->ai_addrlen;
	p->ok = 1;
	freeaddrinfo(ai);
}

/*
 * While nothing listens on a port in the ephemeral range, connect() hands
 * out that very port sooner or later, stepping through the range for each
 * connection to the same address: probing every few milliseconds gets
 * there within minutes. The socket then connects to itself and, closed,
 * holds the port for a minute in TIME_WAIT, so the server cannot bind it.
 * A port taken with bind() is random instead, and one that happens to be
 * the server's is not used.
 */
static int
probe_bind(int fd, const struct probe *p)
{
	struct sockaddr_storage a = { .ss_family = p->sa.ss_family };
	socklen_t al = sizeof a;

	if (bind(fd, (struct sockaddr *)&a, p->len) == -1 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) == -1)
		return 0;
	if (a.ss_family == AF_INET)
		return ((struct sockaddr_in *)&a)->sin_port !=
		    ((const struct sockaddr_in *)&p->sa)->sin_port;
	return ((struct sockaddr_in6 *)&a)->sin6_port !=
	    ((const struct sockaddr_in6 *)&p->sa)->sin6_port;
}

/* 1 once something accepts connections at the probed address. */
static int
probe_open(const struct probe *p)
{
	int fd = socket(p->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0), up = 0;

	if (fd == -1)
		return 0;
	if (p->sa.ss_family != AF_UNIX && !probe_bind(fd, p)) {
		close(fd);
		return 0;
	}
	if (connect(fd, (const struct sockaddr *)&p->sa, p->len) == 0)
		up = 1;
	else if (errno == EINPROGRESS) {
		struct pollfd pf = { fd, POLLOUT, 0 };
		int e = 0;
		socklen_t el = sizeof e;

		up = poll(&pf, 1, 10) == 1 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0;
	}
	close(fd);
	return up;
}

/*
 * Sleeps up to ms, waking early when the probed server starts listening.
 * A refused connect costs microseconds, so looking every 5 ms is cheap, and
 * a server that starts quickly is not kept waiting for the look after.
 */
static void
wait_for_server(const struct probe *p, long ms)
{
	long long until = now_ms() + ms;

	while (!mig_signal && now_ms() < until) {
		if (p->ok && probe_open(p))
			return;
		sleep_ms(until - now_ms() < 5 ? (long)(until - now_ms()) : 5);
	}
}

/*
 * From the start of one attempt to the next, when the server has said for
 * since ms that it is starting up and took ms to say it this time. A clean
 * start is ready within tens of milliseconds, and every millisecond between
 * its becoming ready and the next attempt is added to the wait, so the
 * first tries come 5 ms apart. But each try costs the server a process and
 * a line in its log, and crash recovery can take minutes: past the first
 * moments the interval is a tenth of the time spent so far, up to 100 ms.
 * Nor is an attempt under way more than half the time: a server slow to
 * answer is short of CPU for the start itself, which every try slows
 * further, and a connection made sooner after it is ready would queue
 * behind that work.
 */
static long long
starting_interval(long long since, long long took)
{
	long long iv = since < 50 ? 5 : since / 10 > 100 ? 100 : since / 10;

	return 2 * took > iv ? 2 * took : iv;
}

/*
 * The first SCRAM exchange in a process also starts the crypto library under
 * libpq (its configuration, random generator and digests), some milliseconds
 * that the attempt finding the server ready would add to the wait. Hashing a
 * throwaway password after the first failed attempt does that beforehand.
 */
static void
warm_crypto(PGconn *c)
{
	PQfreemem(PQencryptPasswordConn(c, "mig-wait", "mig-wait",
	    "scram-sha-256"));
}

/* NULL when every listed version has an applied row, else what is missing. */
static char *
not_applied(PGconn *c, const struct connopts *co, const struct miglist *l)
{
	struct history h;
	struct table t;
	char *why = NULL;
	size_t i, missing = 0, first = 0;

	table_parse(co->table, &t);
	table_resolve(c, &t, NULL);
	history_read(c, &t, &h, 0);
	for (i = 0; i < l->n; i++) {
		struct hrow *r = history_find(&h, l->v[i].vnum);

		if (r == NULL || r->partial) {
			if (missing++ == 0)
				first = i;
		}
	}
	if (missing)
		why = xasprintf("%zu of %zu listed migration(s) not applied "
		    "yet (first: %s_%s)", missing, l->n, l->v[first].version,
		    l->v[first].name);
	history_free(&h);
	table_free(&t);
	return why;
}

int
wait_run(const struct connopts *co, long timeout_s, int quiet,
    const struct miglist *applied)
{
	long long start = now_ms(), next_report = start + 5000;
	long long starting = -1;	/* since when the server says so */
	long delay = 25, pause;
	struct probe probe = { .ok = 0 };
	int warmed = 0;
	PGconn *c = NULL;

	if (applied != NULL && applied->n == 0)
		return 0;
	for (;;) {
		enum connfail f = CONN_OK;
		char *msg = NULL;
		long long elapsed, tried = now_ms(), took;

		if (c == NULL)
			c = conn_open(co, &f, &msg);
		took = now_ms() - tried;
		if (f == CONN_OK) {
			PGresult *r = exec_params(c, "SELECT 1", 0, NULL);

			if (PQresultStatus(r) != PGRES_TUPLES_OK) {
				msg = xstrdup(PQerrorMessage(c));
				msg[strcspn(msg, "\n")] = '\0';
				f = CONN_RETRY;
			} else if (applied == NULL ||
			    (msg = not_applied(c, co, applied)) == NULL) {
				PQclear(r);
				PQfinish(c);
				return 0;
			}
			PQclear(r);
		}
		if (f == CONN_FATAL)
			mig_errx(EXIT_UNAVAILABLE, "cannot connect to %s: %s",
			    conn_name(c), msg);
		if (f == CONN_NOSERVER && !probe.ok)
			probe_init(&probe, c);
		if (PQstatus(c) != CONNECTION_OK) {
			const char *name = conn_name(c);
			char *m = xasprintf("%s: %s", name, msg);

			free(msg);
			msg = m;
		}
		elapsed = now_ms() - start;
		if (elapsed >= timeout_s * 1000)
			mig_errx(EXIT_TEMPFAIL, "timed out after %ld s: %s",
			    timeout_s, msg);
		if (mig_signal)
			interrupted("waiting");
		if (!quiet && now_ms() >= next_report) {
			mig_warnx("still waiting (%lld s): %s", elapsed / 1000,
			    msg);
			next_report += 5000;
		}
		free(msg);
		if (PQstatus(c) != CONNECTION_OK) {
			if (!warmed) {
				warm_crypto(c);
				warmed = 1;
			}
			PQfinish(c);
			c = NULL;
		}
		/*
		 * A server that says it is starting is ready within moments; the
		 * back-off begins anew should it go away again.
		 */
		if (f == CONN_STARTING) {
			if (starting == -1)
				starting = tried;
			pause = (long)(tried + starting_interval(tried - starting,
			    took) - now_ms());
			delay = 25;
		} else {
			starting = -1;
			pause = delay;
			delay = delay * 2 > 1000 ? 1000 : delay * 2;
		}
		if (pause > timeout_s * 1000 - elapsed)
			pause = (long)(timeout_s * 1000 - elapsed);
		if (pause <= 0)
			continue;
		if (f == CONN_NOSERVER)
			wait_for_server(&probe, pause);
		else
			sleep_ms(pause);
	}
}

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

/* 1 once something accepts connections at the probed address. */
static int
probe_open(const struct probe *p)
{
	int fd = socket(p->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0), up = 0;

	if (fd == -1)
		return 0;
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

/* Sleeps up to ms, waking early when the probed server starts listening. */
static void
wait_for_server(const struct probe *p, long ms)
{
	long long until = now_ms() + ms;

	while (!mig_signal && now_ms() < until) {
		if (p->ok && probe_open(p))
			return;
		sleep_ms(until - now_ms() < 10 ? (long)(until - now_ms()) : 10);
	}
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
	long delay = 25;
	struct probe probe = { .ok = 0 };
	PGconn *c = NULL;

	if (applied != NULL && applied->n == 0)
		return 0;
	for (;;) {
		enum connfail f = CONN_OK;
		char *msg = NULL;
		long long elapsed;

		if (c == NULL)
			c = conn_open(co, &f, &msg);
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
			PQfinish(c);
			c = NULL;
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
		/* A server that says it is starting is ready within moments. */
		if (f == CONN_STARTING)
			delay = 25;
		if (delay > timeout_s * 1000 - elapsed)
			delay = (long)(timeout_s * 1000 - elapsed);
		if (f == CONN_NOSERVER)
			wait_for_server(&probe, delay);
		else
			sleep_ms(delay);
		delay = delay * 2 > 1000 ? 1000 : delay * 2;
	}
}

/* mig-wait's work: poll until the server answers, or the list is applied. */
#include <stdlib.h>
#include <string.h>

#include "mig.h"

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
		if (delay > timeout_s * 1000 - elapsed)
			delay = (long)(timeout_s * 1000 - elapsed);
		sleep_ms(delay);
		delay = delay * 2 > 1000 ? 1000 : delay * 2;
	}
}

/* mig-wait: block until PostgreSQL answers, or the listed are applied. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/mig.h"

static void
usage(int code)
{
	usage_print(code, "usage: mig-wait [-t SECONDS] [-q] "
	    "[--applied]\n       %s\n", CONN_USAGE);
	if (code == 0)
		fputs("\nWait until PostgreSQL accepts queries.\n\n"
		    "  -t, --timeout=SECONDS       give up after SECONDS (60; 0 "
		    "tries once)\n"
		    "  -q, --quiet                 no progress lines\n"
		    "      --applied               read a list on stdin, wait "
		    "until it is applied\n"
		    CONN_HELP STD_HELP, stdout);
	mig_exit(code);
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

		if ((r == NULL || r->partial) && missing++ == 0)
			first = i;
	}
	if (missing)
		why = xasprintf("%zu of %zu listed migration(s) not applied "
		    "yet (first: %s_%s)", missing, l->n, l->v[first].version,
		    l->v[first].name);
	history_free(&h);
	table_free(&t);
	return why;
}

/*
 * Tries until the server answers SELECT 1 (and, given a list, has applied
 * it): 0 then; else the exit code, with *why the message to exit with.
 * Between tries it sleeps 25 ms, then twice as long each time up to 1 s.
 */
static int
wait_ready(const struct connopts *co, long timeout_s, int quiet,
    const struct miglist *applied, char **why)
{
	long long start = now_ms(), next_report = start + 5000;
	long delay = 25;
	PGconn *c = NULL;

	*why = NULL;
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
		if (f == CONN_FATAL) {
			*why = xasprintf("cannot connect to %s: %s",
			    conn_name(c), msg);
			free(msg);
			PQfinish(c);
			return EXIT_UNAVAILABLE;
		}
		if (PQstatus(c) != CONNECTION_OK) {
			char *m = xasprintf("%s: %s", conn_name(c), msg);

			free(msg);
			msg = m;
			PQfinish(c);
			c = NULL;
		}
		elapsed = now_ms() - start;
		if (elapsed >= timeout_s * 1000 || mig_signal) {
			if (mig_signal)
				*why = xasprintf("interrupted by %s while "
				    "waiting", mig_signal == SIGINT ?
				    "SIGINT" : "SIGTERM");
			else
				*why = xasprintf("timed out after %ld s: %s",
				    timeout_s, msg);
			free(msg);
			PQfinish(c);
			return mig_signal ? exit_code_for_signal() :
			    EXIT_TEMPFAIL;
		}
		if (!quiet && now_ms() >= next_report) {
			mig_log(MIG_INFO, NULL,
			    "still waiting (%lld s): %s", elapsed / 1000,
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

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "applied", no_argument, NULL, 'A' },
		CONN_LONGOPTS,
		STD_LONGOPTS
	};
	struct connopts co = { 0 };
	struct miglist l = { 0 };
	struct buf in = { 0 };
	long timeout = 60;
	int ch, quiet = 0, applied = 0, code;
	char *why;

	log_init();
	catch_signals();
	conn_cancel_on_signal = 1;
	while ((ch = getopt_long(argc, argv, "t:q" STD_SHORTOPTS CONN_SHORTOPTS, longopts,
	    NULL)) != -1) {
		if (std_option(ch, argv, usage) ||
		    conn_option(&co, ch, optarg))
			continue;
		switch (ch) {
		case 't':
			timeout = parse_number("-t", optarg, 0, 86400 * 365);
			break;
		case 'q': quiet = 1; break;
		case 'A': applied = 1; break;
		default: usage(EXIT_USAGE);
		}
	}
	if (optind != argc)
		usage(EXIT_USAGE);
	if (applied)
		list_stdin_check("mig-wait --applied");
	conn_check(&co);
	if (applied) {
		conn_read_input(STDIN_FILENO, &in, "reading the list on stdin");
		list_read(&in, "stdin", &l);
		buf_free(&in);
	}
	code = wait_ready(&co, timeout, quiet, applied ? &l : NULL, &why);
	list_free(&l);
	if (code != 0)
		mig_errx(code, "%s", why);
	mig_exit(0);
}

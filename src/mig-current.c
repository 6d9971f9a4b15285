/* mig-current: show what the database has applied. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/mig.h"

enum currentmode { CUR_LAST, CUR_ALL, CUR_STATUS };

static void
json_str(FILE *fp, const char *s)
{
	if (s == NULL) {
		fputs("null", fp);
		return;
	}
	fputc('"', fp);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(fp, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", fp);
		else if (c == '\t')
			fputs("\\t", fp);
		else if (c < 0x20)
			fprintf(fp, "\\u%04x", c);
		else
			fputc(c, fp);
	}
	fputc('"', fp);
}

static void
record(bool json, const char *state, const char *version, const char *name,
    const char *at)
{
	if (!json) {
		if (state != NULL)
			printf("%s\t%s\t%s\n", state, version, name);
		else
			printf("%s\t%s\t%s\n", version, name, at);
		return;
	}
	fputs("{\"state\":", stdout);
	json_str(stdout, state ? state : "applied");
	fputs(",\"version\":", stdout);
	json_str(stdout, version);
	fputs(",\"name\":", stdout);
	json_str(stdout, name);
	fputs(",\"applied_at\":", stdout);
	json_str(stdout, at);
	fputs("}\n", stdout);
}

/* The union of files and history in version order, like a merge. */
static void
status(const struct miglist *l, char (*sums)[65], const struct history *h,
    bool json)
{
	size_t i = 0, j = 0;

	while (i < l->n || j < h->n) {
		const struct mig *m = i < l->n ? &l->v[i] : NULL;
		const struct hrow *r = j < h->n ? h->byv[j] : NULL;

		if (r == NULL || (m != NULL && m->vnum < r->vnum)) {
			record(json, "pending", m->version, m->name, NULL);
			i++;
		} else if (m == NULL || r->vnum < m->vnum) {
			record(json, r->partial ? "partial" : "missing",
			    r->version, r->name, r->applied_at);
			j++;
		} else {
			const char *state = "applied";

			if (r->partial)
				state = "partial";
			else if (strcmp(sums[i], r->checksum) != 0)
				state = "changed";
			record(json, state, m->version, m->name, r->applied_at);
			i++;
			j++;
		}
	}
}

static void
current(const struct connopts *co, enum currentmode mode, bool json,
    const struct miglist *l, struct pending *pc)
{
	char (*sums)[65] = NULL;
	struct history h;
	struct table t;
	PGconn *c;
	size_t i;

	table_parse(co->table, &t);
	if (mode == CUR_STATUS) {
		sums = xcalloc(l->n, sizeof *sums);
		files_load(l, sums, NULL, NULL, pc);
	}
	c = conn_must(co, pc);
	table_resolve(c, &t, NULL);
	history_read(c, &t, &h, HIST_TIME);
	if (mode == CUR_STATUS)
		status(l, sums, &h, json);
	else {
		int shown = 0;

		for (i = h.n; i > 0; i--) {
			const struct hrow *r;

			r = &h.v[mode == CUR_LAST ? i - 1 : h.n - i];
			if (r->partial)
				continue;
			record(json, json ? "applied" : NULL, r->version,
			    r->name, r->applied_at);
			shown = 1;
			if (mode == CUR_LAST)
				break;
		}
		/* An empty stdout alone looks the same as a failure to a reader. */
		if (!shown)
			mig_log(MIG_INFO, NULL, "nothing applied yet");
	}
	history_free(&h);
	PQfinish(c);
	table_free(&t);
	free(sums);
}

static void
usage(int code)
{
	usage_print(code, "usage: mig-current [-a|--all] "
	    "[--status] [--json]\n       %s\n", CONN_USAGE);
	if (code == 0)
		fputs("\nShow what the database has applied.\n\n"
		    "  -a, --all                   every applied migration, in "
		    "the order applied\n"
		    "      --status                read a list on stdin, print "
		    "each one's state\n"
		    "      --json                  print JSON Lines\n"
		    CONN_HELP STD_HELP, stdout);
	mig_exit(code);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "status", no_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		CONN_LONGOPTS,
		STD_LONGOPTS
	};
	struct connopts co = { 0 };
	struct miglist l = { 0 };
	struct buf in = { 0 };
	struct pending pc = { .c = NULL };
	enum currentmode mode = CUR_LAST;
	bool json = false;
	int ch;

	log_init();
	catch_signals();
	conn_cancel_on_signal = 1;
	while ((ch = getopt_long(argc, argv, "a" STD_SHORTOPTS CONN_SHORTOPTS, longopts,
	    NULL)) != -1) {
		if (std_option(ch, argv, usage) ||
		    conn_option(&co, ch, optarg))
			continue;
		switch (ch) {
		case 'a': mode = mode == CUR_STATUS ? mode : CUR_ALL; break;
		case 's': mode = CUR_STATUS; break;
		case 'j': json = true; break;
		default: usage(EXIT_USAGE);
		}
	}
	if (optind != argc)
		usage(EXIT_USAGE);
	if (mode == CUR_STATUS)
		list_stdin_check("mig-current --status");
	conn_check(&co);
	if (mode == CUR_STATUS) {
		conn_begin(&co, &pc);
		conn_read_pumping(&pc, STDIN_FILENO, &in,
		    "waiting for the list on stdin");
		list_read(&in, "stdin", &l);
		buf_free(&in);
	}
	current(&co, mode, json, &l, &pc);
	signal_check("reading the history");
	list_free(&l);
	mig_exit(0);
}

/* mig-current's work: applied rows, or every migration's state. */
#include <stdlib.h>
#include <string.h>

#include "mig.h"

static void
record(int json, const char *state, const char *version, const char *name,
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
    int json)
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

int
current_run(const struct connopts *co, enum currentmode mode, int json,
    const struct miglist *l)
{
	char (*sums)[65] = NULL;
	struct history h;
	struct table t;
	PGconn *c;
	size_t i;

	table_parse(co->table, &t);
	if (mode == CUR_STATUS) {
		sums = xcalloc(l->n, sizeof *sums);
		files_load(l, sums, NULL);
	}
	c = conn_must(co);
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
			mig_warnx("nothing applied yet");
	}
	history_free(&h);
	PQfinish(c);
	table_free(&t);
	free(sums);
	return 0;
}

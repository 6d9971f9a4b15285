/* The list format: what mig-list prints and the other tools read. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mig.h"

/* A new zeroed entry at the end of the list. */
struct mig *
list_add(struct miglist *l)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = xreallocarray(l->v, l->cap, sizeof *l->v);
	}
	memset(&l->v[l->n], 0, sizeof l->v[0]);
	return &l->v[l->n++];
}

/* The .down.sql beside a listed .up.sql, if there is one. */
static char *
down_beside(const char *up)
{
	size_t n = strlen(up) - 6;
	char *down = xmalloc(n + sizeof "down.sql");

	memcpy(down, up, n);
	memcpy(down + n, "down.sql", sizeof "down.sql");
	if (access(down, F_OK) == 0)
		return down;
	free(down);
	return NULL;
}

static int
is_blank(const char *s)
{
	s += strspn(s, " \t");
	return *s == '\0' || *s == '#';
}

/*
 * One list line, read in place: 0 for a blank or comment line, 1 with *mn
 * and *path filled, -1 with *err saying what is wrong (the caller adds where).
 */
int
list_line_parse(char *line, struct migname *mn, char **path, char **err)
{
	const char *why = "it does not end in .sql";
	char *version = NULL, *name = NULL, *tab;
	size_t len = strlen(line);

	memset(mn, 0, sizeof *mn);
	*err = NULL;
	if (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (is_blank(line))
		return 0;
	*path = line;
	if ((tab = strchr(line, '\t')) != NULL) {
		version = line;
		*tab = '\0';
		name = tab + 1;
		if ((tab = strchr(name, '\t')) == NULL) {
			*err = xstrdup("expected VERSION<TAB>NAME<TAB>PATH or "
			    "a path");
			return -1;
		}
		*tab = '\0';
		*path = tab + 1;
	}
	if (**path == '\0')
		*err = xstrdup("the path is empty");
	else if (migname_parse(base_name(*path), mn, &why) != 1)
		*err = xasprintf("%s: not a migration file name: %s", *path,
		    why);
	else if (mn->kind == MIG_DOWN)
		*err = xasprintf("%s: list the .up.sql of a pair, not its "
		    ".down.sql", *path);
	else if (version != NULL && (strcmp(version, mn->version) != 0 ||
	    strcmp(name, mn->name) != 0))
		*err = xasprintf("%s<TAB>%s disagrees with the file name %s "
		    "(expected %s<TAB>%s)", version, name, base_name(*path),
		    mn->version, mn->name);
	if (*err == NULL)
		return 1;
	migname_free(mn);
	return -1;
}

/*
 * Version order; within one version (an up/down pair, or duplicates), the
 * up first, then list order, then path, so that messages name the same
 * file first on every run.
 */
static int
by_version(const void *a, const void *b)
{
	const struct mig *x = a, *y = b;
	int c = vcmp(x->vnum, y->vnum);

	if (c == 0)
		c = (int)x->kind - (int)y->kind;
	if (c == 0)
		c = x->lineno < y->lineno ? -1 : x->lineno > y->lineno;
	if (c == 0)
		c = strcmp(x->path, y->path);
	return c;
}

void
list_sort(struct miglist *l)
{
	if (l->n > 1)
		qsort(l->v, l->n, sizeof *l->v, by_version);
}

/* Parses a list read whole into memory; its text is cut into lines. */
void
list_read(struct buf *in, const char *what, struct miglist *l)
{
	char *line, *next, *path, *err, *end = in->s + in->len;
	size_t lineno = 0, i, j;
	int bad = 0;

	for (line = in->s; line < end; line = next) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		struct migname mn;
		struct mig *m;

		next = nl != NULL ? nl + 1 : end;
		if (nl != NULL)
			*nl = '\0';
		lineno++;
		switch (list_line_parse(line, &mn, &path, &err)) {
		case 0:
			continue;
		case -1:
			mig_errx(EXIT_DATA, "%s:%zu: %s", what, lineno, err);
		}
		if (access(path, F_OK) == -1)
			mig_errx(EXIT_NOINPUT, "%s:%zu: %s: %s", what, lineno,
			    path, strerror(errno));
		m = list_add(l);
		m->version = mn.version;	/* the list owns them now */
		m->vnum = mn.vnum;
		m->name = mn.name;
		m->path = xstrdup(path);
		m->lineno = lineno;
		m->kind = mn.kind;
		if (mn.kind == MIG_UP)
			m->down_path = down_beside(m->path);
	}
	list_sort(l);
	for (i = 0; i < l->n; i = j) {
		for (j = i + 1; j < l->n && l->v[j].vnum == l->v[i].vnum; j++)
			mig_log(MIG_ERROR, NULL,
			    "%s:%zu: version %s is already on line %zu",
			    what, l->v[j].lineno, l->v[j].version,
			    l->v[i].lineno);
		if (j - i > 1)
			bad++;
	}
	if (bad)
		mig_errx(EXIT_DATA, "%d problem(s) above in the migrations; "
		    "nothing was done", bad);
}

void
list_print(FILE *fp, const struct mig *m, const char *path)
{
	fprintf(fp, "%s\t%s\t%s\n", m->version, m->name,
	    path ? path : m->path);
}

void
list_free(struct miglist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].version);
		free(l->v[i].name);
		free(l->v[i].path);
		free(l->v[i].down_path);
	}
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

const struct mig *
list_find(const struct miglist *l, uint64_t vnum)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->v[mid].vnum < vnum)
			lo = mid + 1;
		else if (l->v[mid].vnum > vnum)
			hi = mid;
		else
			return &l->v[mid];
	}
	return NULL;
}

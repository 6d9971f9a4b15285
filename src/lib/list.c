#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mig.h"

static struct mig *
list_add(struct miglist *l)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = xreallocarray(l->v, l->cap, sizeof *l->v);
	}
	memset(&l->v[l->n], 0, sizeof l->v[0]);
	return &l->v[l->n++];
}

static char *
path_join(const char *dir, const char *file)
{
	size_t n = strlen(dir);

	/* One '/' between them, however many slashes DIR ends with. */
	while (n > 1 && dir[n - 1] == '/' && dir[n - 2] == '/')
		n--;
	if (n > 0 && dir[n - 1] == '/')
		return xasprintf("%.*s%s", (int)n, dir, file);
	return xasprintf("%.*s/%s", (int)n, dir, file);
}

/* The .down.sql beside a listed .up.sql, if there is one. */
static char *
down_beside(const char *up)
{
	size_t n = strlen(up);
	char *down = xasprintf("%.*sdown.sql", (int)(n - 6), up);

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

void
list_read(FILE *fp, const char *what, struct miglist *l)
{
	char *line = NULL, *path, *err;
	size_t cap = 0, lineno = 0;

	while (getline(&line, &cap, fp) != -1) {
		struct migname mn;
		struct mig *m;

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
		m->version = mn.version;
		m->vnum = mn.vnum;
		m->name = mn.name;
		m->path = xstrdup(path);
		m->lineno = lineno;
		m->kind = mn.kind;
		if (mn.kind == MIG_UP)
			m->down_path = down_beside(m->path);
	}
	free(line);
	if (ferror(fp))
		mig_errx(EXIT_NOINPUT, "%s: read error", what);
	list_sort_check(l, 0);
}

void
list_scan(const char *dir, struct miglist *l)
{
	struct dirent *de;
	int bad = 0;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		mig_errx(EXIT_NOINPUT, "%s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		struct migname mn;
		const char *why;
		struct mig *m;

		switch (migname_parse(de->d_name, &mn, &why)) {
		case -1:
			continue;
		case 0:
			mig_warnx("%s/%s: %s", dir, de->d_name, why);
			bad++;
			continue;
		}
		m = list_add(l);
		m->version = mn.version;
		m->vnum = mn.vnum;
		m->name = mn.name;
		m->kind = mn.kind;
		m->path = path_join(dir, de->d_name);
	}
	closedir(d);
	if (bad)
		mig_errx(EXIT_DATA, "%s: %d file name(s) above are not "
		    "migrations; rename them so none is skipped", dir, bad);
}

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

/* An up and a down of one pair: same directory, version and name. */
static int
is_pair(const struct mig *up, const struct mig *down)
{
	size_t n = strlen(up->path);

	return up->kind == MIG_UP && down->kind == MIG_DOWN &&
	    strcmp(up->version, down->version) == 0 &&
	    strcmp(up->name, down->name) == 0 &&
	    strlen(down->path) == n + 2 &&
	    strncmp(up->path, down->path, n - 6) == 0;
}

static void
mig_clear(struct mig *m)
{
	free(m->version);
	free(m->name);
	free(m->path);
	free(m->down_path);
	memset(m, 0, sizeof *m);
}

/* Sorts into version order, pairs .up/.down files, and rejects duplicates. */
void
list_sort_check(struct miglist *l, int from_files)
{
	size_t i, j, out = 0;
	int bad = 0;

	/* An empty list has no array: qsort(NULL, 0) is undefined. */
	if (l->n > 1)
		qsort(l->v, l->n, sizeof *l->v, by_version);
	for (i = 0; i < l->n; i = j) {
		for (j = i + 1; j < l->n && l->v[j].vnum == l->v[i].vnum; j++)
			;
		if (from_files && j - i == 2 && is_pair(&l->v[i], &l->v[i + 1])) {
			l->v[i].down_path = l->v[i + 1].path;
			l->v[i + 1].path = NULL;
			mig_clear(&l->v[i + 1]);
			l->v[i].kind = MIG_UP;
		} else if (from_files && j - i == 1 && l->v[i].kind == MIG_DOWN) {
			mig_warnx("%s: a .down.sql with no .up.sql beside it",
			    l->v[i].path);
			bad++;
		} else if (j - i > 1) {
			for (size_t k = i + 1; k < j; k++) {
				if (from_files)
					mig_warnx("%s: version %s is also "
					    "%s", l->v[k].path, l->v[k].version,
					    l->v[i].path);
				else
					mig_warnx("stdin:%zu: version %s is "
					    "already on line %zu",
					    l->v[k].lineno, l->v[k].version,
					    l->v[i].lineno);
			}
			bad++;
		}
		l->v[out++] = l->v[i];
		for (size_t k = i + 1; k < j; k++)
			mig_clear(&l->v[k]);
	}
	l->n = out;
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
	for (size_t i = 0; i < l->n; i++)
		mig_clear(&l->v[i]);
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

#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mig.h"

/*
 * A list's memory: malloc while it is small, then 2 MB pieces that ask for
 * huge pages. On the VM the benchmark runs on, the first touch of a 4 kB
 * page costs 15 us and that of a huge page 80 us, and mig-list of 10,000
 * files touched 460 small pages, 7 ms of its 17.
 */
#define SMALL	((size_t)16 << 10)
#define HUGE	((size_t)2 << 20)
#define HUGE_ROUND(n)	(((n) + HUGE - 1) & ~(HUGE - 1))

/*
 * Only mig-list asks for huge pages: it lives for milliseconds, while the
 * tools that read a list keep it beside a connection and count their RSS.
 */
int list_huge_pages;

static void *
mem_get(size_t *size)
{
	size_t n = HUGE_ROUND(*size), lead;
	char *p;

	if (*size <= SMALL)
		return xmalloc(*size);
	p = mmap(NULL, n + HUGE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		err(EXIT_OSERR, "mmap");
	/* Huge pages start on a 2 MB boundary. */
	lead = -(uintptr_t)p & (HUGE - 1);
	if (lead > 0)
		munmap(p, lead);
	munmap(p + lead + n, HUGE - lead);
	if (list_huge_pages)
		(void)madvise(p + lead, n, MADV_HUGEPAGE); /* a wish, not a need */
	*size = n;
	return p + lead;
}

static void
mem_put(void *p, size_t size)
{
	if (size <= SMALL)
		free(p);
	else
		munmap(p, HUGE_ROUND(size));
}

/*
 * All but the array of a list lives in blocks freed with it: its strings
 * (a malloc and a free for each of a file's three strings were a fifth of
 * mig-list's time), and the sort keys and the output, which then share
 * the huge pages the strings have touched.
 */
struct memblock {
	struct memblock *next;
	size_t len, size;
	char s[];
};

static char *
list_alloc(struct miglist *l, size_t n)
{
	struct memblock *b = l->mem;

	if (b == NULL || b->size - sizeof *b - b->len < n) {
		size_t size = b == NULL ? SMALL : HUGE;

		if (size < sizeof *b + n)
			size = sizeof *b + n;
		b = mem_get(&size);
		b->next = l->mem;
		b->len = 0;
		b->size = size;
		l->mem = b;
	}
	b->len += n;
	return b->s + b->len - n;
}

/* The same, aligned for any type. */
static void *
list_alloc_aligned(struct miglist *l, size_t n)
{
	size_t a = _Alignof(max_align_t);
	char *p = list_alloc(l, n + a - 1);

	return p + (-(uintptr_t)p & (a - 1));
}

static char *
list_strndup(struct miglist *l, const char *s, size_t n)
{
	char *p = list_alloc(l, n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static struct mig *
list_add(struct miglist *l)
{
	if (l->n == l->cap) {
		size_t size = (l->cap ? l->cap * 2 : 64) * sizeof *l->v;
		struct mig *v = mem_get(&size);

		if (l->n > 0)
			memcpy(v, l->v, l->n * sizeof *v);
		mem_put(l->v, l->cap * sizeof *l->v);
		l->v = v;
		l->cap = size / sizeof *v;
	}
	memset(&l->v[l->n], 0, sizeof l->v[0]);
	return &l->v[l->n++];
}

/* The .down.sql beside a listed .up.sql, if there is one. */
static char *
down_beside(struct miglist *l, const char *up)
{
	size_t n = strlen(up) - 6;
	char *down = list_alloc(l, n + sizeof "down.sql");

	memcpy(down, up, n);
	memcpy(down + n, "down.sql", sizeof "down.sql");
	return access(down, F_OK) == 0 ? down : NULL;
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

/* Parses a list read whole into memory; its text is cut into lines. */
void
list_read(struct buf *in, const char *what, struct miglist *l)
{
	char *line, *next, *path, *err, *end = in->s + in->len;
	size_t lineno = 0;

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
		m->version = list_strndup(l, mn.version, mn.vlen);
		m->vnum = mn.vnum;
		m->name = list_strndup(l, mn.name, mn.nlen);
		m->path = list_strndup(l, path, strlen(path));
		m->lineno = lineno;
		m->kind = mn.kind;
		if (mn.kind == MIG_UP)
			m->down_path = down_beside(l, m->path);
		migname_free(&mn);
	}
	list_sort_check(l, 0);
}

void
list_scan(const char *dir, struct miglist *l)
{
	size_t dlen = strlen(dir);
	struct dirent *de;
	int bad = 0;
	DIR *d;

	/* One '/' between DIR and a file, however many slashes DIR ends with. */
	while (dlen > 1 && dir[dlen - 1] == '/' && dir[dlen - 2] == '/')
		dlen--;
	if (dlen > 0 && dir[dlen - 1] == '/')
		dlen--;
	if ((d = opendir(dir)) == NULL)
		mig_errx(EXIT_NOINPUT, "%s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		struct migname mn;
		const char *why;
		struct mig *m;

		switch (migname_split(de->d_name, len, &mn, &why)) {
		case -1:
			continue;
		case 0:
			mig_warnx("%s/%s: %s", dir, de->d_name, why);
			bad++;
			continue;
		}
		m = list_add(l);
		m->version = list_strndup(l, de->d_name, mn.vlen);
		m->vnum = mn.vnum;
		m->name = list_strndup(l, de->d_name + mn.vlen + 1, mn.nlen);
		m->kind = mn.kind;
		m->path = list_alloc(l, dlen + 1 + len + 1);
		memcpy(m->path, dir, dlen);
		m->path[dlen] = '/';
		memcpy(m->path + dlen + 1, de->d_name, len + 1);
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

/*
 * Sorts by version a byte at a time, on keys in the list's memory: qsort's
 * merge sort took a buffer of its own, 400 fresh pages for 100,000 files,
 * and called the comparator 1.7 million times.
 */
struct sortkey {
	uint64_t vnum;
	size_t i;
};

static void
list_sort(struct miglist *l)
{
	size_t n = l->n, i, j, k;
	struct sortkey *a = list_alloc_aligned(l, 2 * n * sizeof *a), *b = a + n, t;
	struct mig m;

	for (i = 0; i < n; i++) {
		a[i].vnum = l->v[i].vnum;
		a[i].i = i;
	}
	for (int shift = 0; shift < 64; shift += 8) {
		size_t at[256] = { 0 }, sum = 0;
		struct sortkey *swap;

		for (i = 0; i < n; i++)
			at[a[i].vnum >> shift & 0xff]++;
		/* A byte all versions share would move nothing. */
		if (at[a[0].vnum >> shift & 0xff] == n)
			continue;
		for (j = 0; j < 256; j++) {
			size_t c = at[j];

			at[j] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			b[at[a[i].vnum >> shift & 0xff]++] = a[i];
		swap = a;
		a = b;
		b = swap;
	}
	/* Files of one version (a pair, or duplicates) in the full order. */
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && a[j - 1].vnum == a[j].vnum &&
		    by_version(&l->v[a[j - 1].i], &l->v[a[j].i]) > 0; j--) {
			t = a[j - 1];
			a[j - 1] = a[j];
			a[j] = t;
		}
	/* The entries into that order in place, a cycle at a time. */
	for (i = 0; i < n; i++) {
		if (a[i].i == i)
			continue;
		m = l->v[i];
		for (j = i; a[j].i != i; j = k) {
			k = a[j].i;
			l->v[j] = l->v[k];
			a[j].i = j;
		}
		l->v[j] = m;
		a[j].i = j;
	}
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

/* Sorts into version order, pairs .up/.down files, and rejects duplicates. */
void
list_sort_check(struct miglist *l, int from_files)
{
	size_t i, j, out = 0;
	int bad = 0;

	if (l->n > 1)
		list_sort(l);
	for (i = 0; i < l->n; i = j) {
		for (j = i + 1; j < l->n && l->v[j].vnum == l->v[i].vnum; j++)
			;
		if (from_files && j - i == 2 && is_pair(&l->v[i], &l->v[i + 1])) {
			l->v[i].down_path = l->v[i + 1].path;
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

/*
 * The whole list in one write: fprintf per line spent a fifth of mig-list's
 * time in parsing its format, and stdio's buffer made 190 write(2)s of
 * 10,000 lines. write(2) itself, because stdio goes on writing after a
 * signal cut a write short, and a reader that stopped reading would keep
 * the tool from ever noticing Ctrl-C.
 */
void
list_write(FILE *fp, struct miglist *l)
{
	size_t size = 0, i, off;
	char *s, *p;
	ssize_t n;

	if (l->n == 0)
		return;
	for (i = 0; i < l->n; i++)
		size += strlen(l->v[i].version) + strlen(l->v[i].name) +
		    strlen(l->v[i].path) + 3;
	p = s = list_alloc(l, size);
	for (i = 0; i < l->n; i++) {
		p = stpcpy(p, l->v[i].version);
		*p++ = '\t';
		p = stpcpy(p, l->v[i].name);
		*p++ = '\t';
		p = stpcpy(p, l->v[i].path);
		*p++ = '\n';
	}
	if (fflush(fp) == EOF)
		return;	/* mig_exit reports it */
	for (off = 0; off < size; off += (size_t)n) {
		int e;

		n = write(fileno(fp), s + off, size - off);
		e = errno;
		if (n >= 0 && !mig_signal)
			continue;
		if (n == -1 && e == EINTR && !mig_signal) {
			n = 0;
			continue;
		}
		/* Freed first: a leak checker does not look into mmap'd blocks. */
		list_free(l);
		signal_check("writing the list");
		mig_errx(EXIT_IOERR, "cannot write to stdout: %s", strerror(e));
	}
}

void
list_free(struct miglist *l)
{
	while (l->mem != NULL) {
		struct memblock *b = l->mem;

		l->mem = b->next;
		mem_put(b, b->size);
	}
	mem_put(l->v, l->cap * sizeof *l->v);
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

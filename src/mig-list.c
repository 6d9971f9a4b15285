/* mig-list: list migration files, validated by name, in version order. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mig.h"

static void
usage(int code)
{
	usage_print(code, "usage: mig-list [DIR...]\n");
	if (code == 0)
		fputs("\nList the migration files in DIR ($MIG_DIR, else "
		    "migrations) in version\norder.\n\n" STD_HELP, stdout);
	mig_exit(code);
}

/*
 * Adds DIR's migration files to the list. Every misnamed .sql file is
 * named before the exit, so that one run shows all there are to rename.
 */
static void
scan(const char *dir, struct miglist *l)
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
		struct migname mn;
		const char *why;
		struct mig *m;

		switch (migname_parse(de->d_name, &mn, &why)) {
		case -1:
			continue;
		case 0:
			mig_log(MIG_ERROR, NULL,
			    "%s/%s: %s", dir, de->d_name, why);
			bad++;
			continue;
		}
		m = list_add(l);
		m->version = mn.version;	/* the list owns them now */
		m->vnum = mn.vnum;
		m->name = mn.name;
		m->kind = mn.kind;
		m->path = xasprintf("%.*s/%s", (int)dlen, dir, de->d_name);
	}
	closedir(d);
	if (bad)
		mig_errx(EXIT_DATA, "%s: %d file name(s) above are not "
		    "migrations; rename them so none is skipped", dir, bad);
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

/*
 * The sorted files made into migrations: the .down.sql of a pair joins its
 * .up.sql; a lone .down.sql and two files of one version are refused.
 */
static void
pair_check(struct miglist *l)
{
	size_t i, j, out = 0;
	int bad = 0;

	for (i = 0; i < l->n; i = j) {
		for (j = i + 1; j < l->n && l->v[j].vnum == l->v[i].vnum; j++)
			;
		if (j - i == 2 && is_pair(&l->v[i], &l->v[i + 1]))
			continue;
		if (j - i == 1 && l->v[i].kind == MIG_DOWN) {
			mig_log(MIG_ERROR, NULL,
			    "%s: a .down.sql with no .up.sql beside it",
			    l->v[i].path);
			bad++;
		} else if (j - i > 1) {
			for (size_t k = i + 1; k < j; k++)
				mig_log(MIG_ERROR, NULL,
				    "%s: version %s is also %s",
				    l->v[k].path, l->v[k].version,
				    l->v[i].path);
			bad++;
		}
	}
	if (bad)
		mig_errx(EXIT_DATA, "%d problem(s) above in the migrations; "
		    "nothing was done", bad);
	/* Each .down.sql left is its .up.sql's, just before it. */
	for (i = 0; i < l->n; i++) {
		if (l->v[i].kind == MIG_DOWN) {
			l->v[out - 1].down_path = l->v[i].path;
			free(l->v[i].version);
			free(l->v[i].name);
		} else
			l->v[out++] = l->v[i];
	}
	l->n = out;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		STD_LONGOPTS
	};
	struct miglist l = { 0 };
	const char *dflt = getenv("MIG_DIR");
	int ch;

	log_init();
	catch_signals();
	while ((ch = getopt_long(argc, argv, STD_SHORTOPTS, longopts,
	    NULL)) != -1)
		if (!std_option(ch, argv, usage))
			usage(EXIT_USAGE);
	argc -= optind;
	argv += optind;
	if (argc == 0)
		scan(dflt && *dflt ? dflt : "migrations", &l);
	for (int i = 0; i < argc; i++)
		scan(argv[i], &l);
	signal_check("listing the migrations");
	list_sort(&l);
	pair_check(&l);
	/*
	 * Stops at a signal or a failed write: stdio goes on writing after
	 * either, and a reader that stopped reading would hold it forever.
	 */
	for (size_t i = 0; i < l.n && !mig_signal && !ferror(stdout); i++)
		list_print(stdout, &l.v[i], NULL);
	list_free(&l);
	fflush(stdout);	/* its error, if any, is mig_exit's to report */
	signal_check("writing the list");
	mig_exit(0);
}

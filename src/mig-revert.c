/* mig-revert: revert the most recently applied migration(s). */
#include <sys/stat.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/mig.h"

struct revertopts {
	struct runopts run;
	long steps;
	const char *to;
	bool all;
};

struct target {
	struct hrow *row;
	const struct mig *m;	/* the listed file, if any */
	struct migfile f;	/* its sections, when it has a down */
	struct section down;
	char *label;
};

/*
 * A listed file of the applied version that is another migration (two
 * branches took the same version), or the same one changed since, must
 * not lend its down SQL: it would undo what was never applied.
 */
static int
same_migration(const struct target *t)
{
	const struct hrow *r = t->row;

	if (strcmp(r->name, t->m->name) != 0) {
		mig_log(MIG_ERROR, NULL,
		    "%s: version %s is applied as another migration, "
		    "%s_%s (from %s); revert that one from its stored SQL with "
		    "--no-list, or list the file it was applied from",
		    t->m->path, r->version, r->version, r->name, r->path);
		return 0;
	}
	/* A partial one's checksum is of the file as first run. */
	if (!r->partial && strcmp(r->checksum, t->f.checksum) != 0) {
		mig_log(MIG_ERROR, NULL,
		    "%s: changed since it was applied (checksum %.12s, "
		    "applied %.12s); restore it, or revert from the stored SQL "
		    "with --no-list", t->m->path, t->f.checksum, r->checksum);
		return 0;
	}
	return 1;
}

/* Every target's down SQL is found before anything runs. */
static size_t
choose(const struct revertopts *ro, const struct miglist *l,
    const struct history *h, struct target **out)
{
	size_t n = 0, first = h->n, i;
	int bad = 0;

	if (ro->all)
		first = 0;
	else if (ro->to != NULL) {
		struct hrow *keep = history_find(h, version_arg("--to", ro->to));

		if (keep == NULL)
			mig_errx(EXIT_DATA, "--to %s: that version is not "
			    "applied", ro->to);
		first = (size_t)(keep - h->v) + 1;
	} else
		first = h->n > (size_t)ro->steps ? h->n - (size_t)ro->steps : 0;
	*out = xcalloc(h->n - first, sizeof **out);
	for (i = h->n; i > first; i--) {
		struct target *t = &(*out)[n++];

		t->row = &h->v[i - 1];
		t->m = l ? list_find(l, t->row->vnum) : NULL;
		t->label = xasprintf("%s_%s", t->row->version, t->row->name);
		if (t->m != NULL) {
			migfile_load(t->m, &t->f);
			if (!same_migration(t)) {
				bad++;
				continue;
			}
			if (t->f.down.present) {
				t->down = t->f.down;
				continue;
			}
		}
		if (t->row->down_sql != NULL) {
			section_from_stored(&t->down, t->row->down_sql,
			    t->row->path);
			continue;
		}
		mig_log(MIG_ERROR, NULL,
		    "%s: irreversible: no down section in %s nor in "
		    "the history", t->label, t->m ? t->m->path : t->row->path);
		bad++;
	}
	if (bad)
		mig_errx(EXIT_DATA, "%d problem(s) above; nothing was "
		    "reverted", bad);
	return n;
}

static enum outcome
revert_one(PGconn *c, const struct revertopts *ro, const struct table *tb,
    struct target *t)
{
	char *del = xasprintf("DELETE FROM %s WHERE id = $1", tb->qual);
	char id[24];
	const char *p[1] = { id };
	struct step s = { .label = t->label, .version = t->row->version,
	    .name = t->row->name, .sec = &t->down,
	    .bookkeeping = del, .nparams = 1, .params = p };
	enum outcome o;

	snprintf(id, sizeof id, "%lld", t->row->id);
	if (t->down.notx) {
		s.bookkeeping = NULL;
		s.nparams = 0;
		o = run_notx(c, &ro->run, &s, 0, NULL, NULL);
		if (o == RUN_DONE)
			exec_ok(c, del, 1, p);
	} else
		o = run_tx(c, &ro->run, &s);
	free(del);
	return o;
}

/*
 * The exit code; everything is freed, so that an exit leaks nothing. Not
 * inlined into main: an error that exits from inside (pq_fail, mig_errx)
 * must find what it holds still in its frame, or the leak checker of the
 * sanitizer build reports it as lost.
 */
static int __attribute__((noinline))
revert(const struct connopts *co, const struct revertopts *ro,
    const struct miglist *l)
{
	int code = 0;
	struct target *tg = NULL;
	struct history h;
	struct table t;
	size_t i, n;
	PGconn *c;

	table_parse(co->table, &t);
	if (l != NULL)
		files_load(l, NULL, NULL, NULL, NULL);
	c = run_connect(co, &ro->run, &t, NULL);
	if (t.exists && !ro->run.dry_run)
		lock_take(c, &t, ro->run.lock_wait);
	history_read(c, &t, &h, HIST_SQL);
	n = choose(ro, l, &h, &tg);
	if (n == 0 && !ro->run.quiet)
		mig_log(MIG_INFO, NULL, "nothing to revert");
	for (i = 0; i < n && code == 0; i++) {
		struct target *x = &tg[i];
		const char *path = x->m ? x->m->path : x->row->path;
		long long start = now_ms();
		enum outcome o = RUN_DONE;

		if (mig_signal) {
			code = interrupted_code("between migrations; the ones "
			    "reverted stay reverted");
			break;
		}
		if (!ro->run.dry_run)
			o = revert_one(c, ro, &t, x);
		if (o == RUN_INTERRUPTED) {
			char *what = xasprintf("reverting %s; it was cancelled "
			    "and rolled back", x->label);

			code = interrupted_code(what);
			free(what);
			break;
		}
		if (o != RUN_DONE) {
			code = EXIT_SQL;
			break;
		}
		fprintf(stdout, "%s\t%s\t%s\n", x->row->version, x->row->name,
		    path);
		fflush(stdout);
		if (!ro->run.quiet && !ro->run.dry_run) {
			struct logf f = { .version = x->row->version,
			    .name = x->row->name, .path = path,
			    .duration_ms = now_ms() - start, .timed = true };

			mig_log(MIG_INFO, &f, "reverted %s %s (%lld ms)",
			    x->row->version, x->row->name, f.duration_ms);
		}
	}
	for (i = 0; i < n; i++) {
		if (tg[i].down.sql != tg[i].f.down.sql)
			free(tg[i].down.sql);
		migfile_free(&tg[i].f);
		free(tg[i].label);
	}
	free(tg);
	history_free(&h);
	PQfinish(c);
	table_free(&t);
	return code;
}

static void
usage(int code)
{
	usage_print(code, "usage: mig-revert [-n|--dry-run] [-q] "
	    "[--no-list]\n       [--steps N | --to VERSION | --all]\n"
	    "       %s\n       %s\n", RUN_USAGE, CONN_USAGE);
	if (code == 0)
		fputs("\nRevert the most recently applied migration(s).\n\n"
		    "  -n, --dry-run               print what would be reverted, "
		    "change nothing\n"
		    "  -q, --quiet                 only errors and warnings on "
		    "stderr\n"
		    "      --no-list               read no list on stdin: down SQL "
		    "from the history\n"
		    "      --steps=N               revert the N most recently "
		    "applied (1)\n"
		    "      --to=VERSION            keep VERSION, revert all applied "
		    "after it\n"
		    "      --all                   revert every applied migration\n"
		    RUN_HELP CONN_HELP STD_HELP, stdout);
	mig_exit(code);
}

/*
 * The list is optional: a terminal or a character device such as
 * /dev/null on stdin is no list. From a pipe or a file an empty one most
 * likely means that what should have written it failed (mig-list | ...),
 * and reverting from the history alone could then pick down SQL the user
 * meant to replace: refused, before connecting.
 */
static int
read_list(struct miglist *l)
{
	struct stat st;
	struct buf in = { 0 };

	if (fstat(STDIN_FILENO, &st) == -1 || S_ISCHR(st.st_mode))
		return 0;
	conn_read_input(STDIN_FILENO, &in, "waiting for the list on stdin");
	list_read(&in, "stdin", l);
	buf_free(&in);
	if (l->n == 0)
		mig_errx(EXIT_NOINPUT, "stdin: the list of migrations is empty, "
		    "which usually means that the command writing it failed; "
		    "nothing was reverted (--no-list reverts from the history "
		    "alone)");
	return 1;
}

int
main(int argc, char *argv[], char *envp[])
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "steps", required_argument, NULL, 's' },
		{ "to", required_argument, NULL, 't' },
		{ "all", no_argument, NULL, 'a' },
		{ "no-list", no_argument, NULL, 'N' },
		RUN_LONGOPTS,
		CONN_LONGOPTS,
		STD_LONGOPTS
	};
	struct connopts co = { 0 };
	struct revertopts ro = { 0 };
	struct miglist l = { 0 };
	int ch, choices = 0, nolist = 0, code;

	/* Before anything reads argv: the title takes its place. */
	setproctitle_init(argc, argv, envp);
	log_init();
	catch_signals();
	runopts_init(&ro.run);
	ro.steps = 1;
	while ((ch = getopt_long(argc, argv, "nq" STD_SHORTOPTS CONN_SHORTOPTS, longopts,
	    NULL)) != -1) {
		if (std_option(ch, argv, usage) ||
		    conn_option(&co, ch, optarg) ||
		    run_option(&ro.run, ch, optarg))
			continue;
		switch (ch) {
		case 'n': ro.run.dry_run = true; break;
		case 'q': ro.run.quiet = true; break;
		case 's':
			ro.steps = parse_number("--steps", optarg, 1, 1L << 30);
			choices++;
			break;
		case 't': ro.to = optarg; choices++; break;
		case 'a': ro.all = true; choices++; break;
		case 'N': nolist = 1; break;
		default: usage(EXIT_USAGE);
		}
	}
	if (optind != argc || choices > 1)
		usage(EXIT_USAGE);
	conn_check(&co);
	code = revert(&co, &ro, !nolist && read_list(&l) ? &l : NULL);
	list_free(&l);
	mig_exit(code);
}

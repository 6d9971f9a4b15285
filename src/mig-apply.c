/* mig-apply: apply the listed migrations that are not yet applied. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/mig.h"

struct applyopts {
	struct runopts run;
	const char *to;
	bool single, out_of_order, mark_only, repair;
};

/*
 * A migration's time: since its transaction began, or in a batch since the
 * mark set at its start (gone if the migration ran RESET ALL).
 */
#define ELAPSED "(extract(epoch FROM pg_catalog.clock_timestamp() - " \
	"coalesce(nullif(pg_catalog.current_setting(" \
	"'mig.started', true), '')::timestamptz, pg_catalog.now())) * 1000)::int"

struct plan {
	size_t *todo;		/* indexes into the list, in version order */
	size_t n;
};

/* Statements a partial run already did must be the ones in the file now. */
static void
check_done(const struct mig *m, const struct section *now,
    const char *stored, int done)
{
	struct stmt *a, *b;
	size_t na = sql_split(stored, strlen(stored), 1, &a);
	size_t nb = sql_split(now->sql, now->len, 1, &b), i = 0, j = 0;

	for (int k = 0; k < done; k++, i++, j++) {
		size_t la, lb;

		while (i < na && a[i].empty)
			i++;
		while (j < nb && b[j].empty)
			j++;
		if (i >= na || j >= nb)
			break;
		la = a[i].off + a[i].len - a[i].start;
		lb = b[j].off + b[j].len - b[j].start;
		if (la != lb || memcmp(stored + a[i].start,
		    now->sql + b[j].start, la) != 0)
			mig_errx(EXIT_DATA, "%s: statement %d was already run "
			    "by an unfinished apply and has changed since; "
			    "only the statements after it may be edited",
			    m->path, k + 1);
	}
	free(a);
	free(b);
}

/*
 * A partial migration can only be finished as it was begun: by running its
 * remaining statements, with the done ones unchanged. Checked with the
 * plan, so -n checks it too.
 */
static void
check_partial(const struct applyopts *ao, const struct mig *m,
    const struct hrow *r)
{
	struct migfile f;

	if (ao->mark_only)
		mig_errx(EXIT_DATA, "%s: recorded as partial; run mig-apply "
		    "without --mark-only to finish it, or mig-revert it",
		    m->path);
	migfile_load(m, &f);
	check_done(m, &f.up, r->up_sql, r->statements_done);
	migfile_free(&f);
}

static void
make_plan(const struct applyopts *ao, const struct miglist *l,
    char (*sums)[65], const struct history *h, struct plan *p, bool warn)
{
	uint64_t newest = 0, to = UINT64_MAX;
	size_t i, missing = 0;
	int bad = 0;

	if (ao->to != NULL)
		to = version_arg("--to", ao->to);
	for (i = 0; i < h->n; i++) {
		if (h->v[i].vnum > newest)
			newest = h->v[i].vnum;
		if (list_find(l, h->v[i].vnum) == NULL && warn) {
			if (missing++ < 10)
				mig_warnx("warning: %s_%s is applied but not "
				    "in the list (from %s)", h->v[i].version,
				    h->v[i].name, h->v[i].path);
		}
	}
	if (missing)
		mig_warnx("warning: the database is ahead of the list by %zu "
		    "migration(s); mig-revert can undo them from the SQL "
		    "stored in the history", missing);
	p->n = 0;
	p->todo = xreallocarray(p->todo, l->n, sizeof *p->todo);
	for (i = 0; i < l->n; i++) {
		const struct mig *m = &l->v[i];
		struct hrow *r = history_find(h, m->vnum);
		struct logf f = { .version = m->version, .name = m->name,
		    .path = m->path };

		if (r != NULL && strcmp(r->name, m->name) != 0) {
			mig_log(MIG_ERROR, &f,
			    "%s: version %s is applied as another "
			    "migration, %s_%s (from %s); two migrations share "
			    "the version: give this one a new one", m->path,
			    m->version, r->version, r->name, r->path);
			bad++;
			continue;
		}
		if (r != NULL && r->partial)
			check_partial(ao, m, r);
		if (r != NULL && !r->partial) {
			if (strcmp(r->checksum, sums[i]) != 0) {
				mig_log(MIG_ERROR, &f,
				    "%s: changed since it was applied "
				    "(checksum %.12s, applied %.12s); restore "
				    "it and write a new migration instead",
				    m->path, sums[i], r->checksum);
				bad++;
			}
			continue;
		}
		if (r == NULL && m->vnum < newest && !ao->out_of_order) {
			mig_log(MIG_ERROR, &f,
			    "%s: version %s is pending but older than "
			    "the newest applied version; apply it anyway with "
			    "--allow-out-of-order", m->path, m->version);
			bad++;
		}
		if (m->vnum <= to)
			p->todo[p->n++] = i;
	}
	if (bad)
		mig_errx(EXIT_DATA, "%d problem(s) above; nothing was applied",
		    bad);
}

static void
print_applied(const struct mig *m, long long ms, bool quiet, bool marked)
{
	struct logf f = { .version = m->version, .name = m->name,
	    .path = m->path, .duration_ms = ms, .timed = !marked };

	list_print(stdout, m, NULL);
	fflush(stdout);
	if (quiet)
		return;
	if (marked)
		mig_log(MIG_INFO, &f,
		    "recorded %s %s as applied without running it",
		    m->version, m->name);
	else
		mig_log(MIG_INFO, &f, "applied %s %s (%lld ms)", m->version,
		    m->name, ms);
}

/*
 * The run stopped at m (its error is printed already): says so for a
 * signal, and gives the exit code. The caller cleans up and exits.
 */
static int
stopped(const struct mig *m, enum outcome o, size_t done, bool notx)
{
	char *what;
	int code;

	if (o != RUN_INTERRUPTED)
		return EXIT_SQL;
	what = xasprintf("running %s_%s; %s, the %zu applied before it stay "
	    "applied", m->version, m->name, notx ? "its running statement "
	    "was cancelled, the statements recorded as done stay done (state "
	    "partial; a rerun resumes)" : "it was cancelled and rolled back",
	    done);
	code = interrupted_code(what);
	free(what);
	return code;
}

static enum outcome
apply_notx(PGconn *c, const struct applyopts *ao, const struct table *t,
    const struct mig *m, struct migfile *f, struct hrow *row)
{
	char *down = f->down.present ? section_stored(&f->down) : NULL;
	char *q, *id, ms[24];
	const char *p[6] = { m->version, m->name, m->path, f->checksum,
	    f->up.sql, down };
	char *label = xasprintf("%s_%s", m->version, m->name);
	struct step s = { .label = label, .version = m->version,
	    .name = m->name, .sec = &f->up };
	struct logf lf = { .version = m->version, .name = m->name,
	    .path = m->path };
	long long start = now_ms();
	size_t from = 0;
	enum outcome o;

	if (row == NULL) {
		PGresult *r;

		q = xasprintf("INSERT INTO %s (version, name, path, checksum, "
		    "up_sql, down_sql, state) VALUES ($1, $2, $3, $4, $5, $6, "
		    "'partial') RETURNING id", t->qual);
		r = exec_params(c, q, 6, p);
		free(q);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			pq_fail(c, r, "cannot record the migration");
		id = xstrdup(PQgetvalue(r, 0, 0));
		PQclear(r);
	} else {
		from = (size_t)row->statements_done;
		id = xasprintf("%lld", row->id);
	}
	q = xasprintf("UPDATE %s SET statements_done = $1 WHERE id = $2",
	    t->qual);
	o = run_notx(c, &ao->run, &s, from, q, id);
	free(q);
	free(label);
	if (o == RUN_FAILED)
		mig_log(MIG_ERROR, &lf,
		    "%s: left partial: %zu of %zu statement(s) done and "
		    "recorded; fix the failing statement and run mig-apply again "
		    "to resume from it (or mig-revert it)", m->path, s.done,
		    s.total);
	if (o == RUN_DONE) {
		const char *u[6] = { f->checksum, f->up.sql, down, ms, id,
		    m->path };

		snprintf(ms, sizeof ms, "%lld", now_ms() - start);
		q = xasprintf("UPDATE %s SET state = 'applied', checksum = $1, "
		    "up_sql = $2, down_sql = $3, duration_ms = $4, path = $6, "
		    "applied_at = pg_catalog.now() WHERE id = $5", t->qual);
		exec_ok(c, q, 6, u);
		free(q);
	}
	free(id);
	free(down);
	return o;
}

static enum outcome
apply_one(PGconn *c, const struct applyopts *ao, const struct table *t,
    const struct mig *m, struct migfile *kept, const char *planned,
    struct hrow *row, int tries)
{
	char empty[] = "";
	struct section marked = { .sql = empty, .line = 1, .present = true };
	struct migfile again, *f = kept;
	char *down, *head, *q;
	enum outcome o;

	/* Not kept from the check: read again, and it must not have changed. */
	if (f->text[0] == NULL) {
		f = &again;
		migfile_load(m, f);
		if (strcmp(f->checksum, planned) != 0)
			mig_errx(EXIT_DATA, "%s: changed while mig-apply ran; "
			    "nothing more was applied", m->path);
	}
	if (f->up.notx && !ao->mark_only) {
		o = apply_notx(c, ao, t, m, f, row);
		if (f == &again)
			migfile_free(f);
		return o;
	}
	if (row != NULL)
		mig_errx(EXIT_DATA, "%s: recorded as partial, but no longer "
		    "transaction:false; restore its marker to finish it, or "
		    "mig-revert it", m->path);
	down = f->down.present ? section_stored(&f->down) : NULL;
	head = section_head(&f->up);
	{
		const char *p[6] = { m->version, m->name, m->path, f->checksum,
		    head ? head : f->up.sql, down };
		char *label = xasprintf("%s_%s", m->version, m->name);
		struct step s = { .label = label, .version = m->version,
		    .name = m->name, .sec = &f->up, .nparams = 6,
		    .params = p, .single = ao->single, .tries = tries };

		marked.path = m->path;
		if (ao->mark_only)
			s.sec = &marked;
		q = xasprintf("INSERT INTO %s (version, name, path, checksum, "
		    "up_sql, down_sql, duration_ms) VALUES ($1, $2, $3, $4, $5, "
		    "$6, %s)", t->qual, ao->mark_only ? "0" : ELAPSED);
		s.bookkeeping = q;
		o = run_tx(c, &ao->run, &s);
		free(q);
		free(label);
	}
	free(down);
	free(head);
	if (f == &again)
		migfile_free(f);
	return o;
}

/*
 * --single-transaction: on lock_timeout the whole batch is run again. The
 * exit code; on failure the transaction is left open, for the caller's
 * PQfinish to roll back.
 */
static int
apply_batch(PGconn *c, const struct applyopts *ao, const struct table *t,
    const struct miglist *l, struct migfile *kept, char (*sums)[65],
    const struct history *h, const struct plan *p)
{
	size_t i;

	for (int tries = 0;; tries++) {
		enum outcome o = RUN_DONE;

		exec_ok(c, "BEGIN", 0, NULL);
		for (i = 0; i < p->n && o == RUN_DONE; i++) {
			const struct mig *m = &l->v[p->todo[i]];

			if (mig_signal)
				return interrupted_code("running a "
				    "--single-transaction batch; nothing of it "
				    "was applied");
			o = apply_one(c, ao, t, m, &kept[p->todo[i]],
			    sums[p->todo[i]], history_find(h, m->vnum), tries);
			if (o == RUN_FAILED || o == RUN_INTERRUPTED)
				return stopped(m, o, 0, false);
		}
		if (o == RUN_DONE)
			break;
	}
	exec_ok(c, "COMMIT", 0, NULL);
	for (i = 0; i < p->n; i++)
		print_applied(&l->v[p->todo[i]], 0, true, false);
	if (!ao->run.quiet)
		mig_log(MIG_INFO, NULL,
		    "applied %zu migration(s) in one transaction", p->n);
	return 0;
}

/*
 * --repair: an applied migration whose file changed since gets the file's
 * checksum and SQL (and path) in its history row, so that the history
 * holds what the file says; nothing of the migration runs. A row of
 * another name, or a partial one, is refused, as in a plain run. Under
 * the lock, in one transaction, so that it is all done or not at all.
 */
static void
repair(const struct connopts *co, const struct applyopts *ao,
    const struct miglist *l, struct pending *pc)
{
	char (*sums)[65] = xcalloc(l->n, sizeof *sums);
	size_t *fix = xcalloc(l->n, sizeof *fix), nfix = 0, pending = 0, i;
	char *q = NULL;
	struct history h;
	struct table t;
	PGconn *c;
	int bad = 0;

	table_parse(co->table, &t);
	files_load(l, sums, NULL, NULL, pc);
	c = run_connect(co, &ao->run, &t, pc);
	if (t.exists && !ao->run.dry_run)
		lock_take(c, &t, ao->run.lock_wait);
	history_read(c, &t, &h, 0);
	for (i = 0; i < l->n; i++) {
		const struct mig *m = &l->v[i];
		const struct hrow *r = history_find(&h, m->vnum);

		if (r == NULL)
			pending++;
		else if (strcmp(r->name, m->name) != 0) {
			mig_log(MIG_ERROR, NULL,
			    "%s: version %s is applied as another "
			    "migration, %s_%s (from %s); two migrations share "
			    "the version: give this one a new one", m->path,
			    m->version, r->version, r->name, r->path);
			bad++;
		} else if (r->partial) {
			mig_log(MIG_ERROR, NULL,
			    "%s: recorded as partial; finish it with "
			    "mig-apply, or mig-revert it, before --repair",
			    m->path);
			bad++;
		} else if (strcmp(r->checksum, sums[i]) != 0)
			fix[nfix++] = i;
	}
	if (bad)
		mig_errx(EXIT_DATA, "%d problem(s) above; nothing was repaired",
		    bad);
	if (nfix > 0 && !ao->run.dry_run) {
		q = xasprintf("UPDATE %s SET checksum = $1, up_sql = $2, "
		    "down_sql = $3, path = $4 WHERE id = $5 AND state = "
		    "'applied'", t.qual);
		exec_ok(c, "BEGIN", 0, NULL);
		for (i = 0; i < nfix; i++) {
			const struct mig *m = &l->v[fix[i]];
			struct migfile f;
			char *down, *head, id[24];

			migfile_load(m, &f);
			if (strcmp(f.checksum, sums[fix[i]]) != 0)
				mig_errx(EXIT_DATA, "%s: changed while mig-apply "
				    "ran; nothing was repaired", m->path);
			down = f.down.present ? section_stored(&f.down) : NULL;
			head = section_head(&f.up);
			snprintf(id, sizeof id, "%lld",
			    history_find(&h, m->vnum)->id);
			{
				const char *p[5] = { f.checksum,
				    head ? head : f.up.sql, down, m->path, id };

				exec_ok(c, q, 5, p);
			}
			free(down);
			free(head);
			migfile_free(&f);
		}
		if (mig_signal)
			interrupted("repairing the history; nothing was "
			    "changed");
		exec_ok(c, "COMMIT", 0, NULL);
	}
	for (i = 0; i < nfix; i++) {
		const struct mig *m = &l->v[fix[i]];
		struct logf f = { .version = m->version, .name = m->name,
		    .path = m->path };

		list_print(stdout, m, NULL);
		if (!ao->run.quiet)
			mig_log(MIG_INFO, &f,
			    "%s %s %.12s %.12s", m->version, m->name,
			    history_find(&h, m->vnum)->checksum, sums[fix[i]]);
	}
	if (pending > 0 && !ao->run.quiet)
		mig_log(MIG_INFO, NULL,
		    "%zu pending migration(s) left pending; mig-apply "
		    "without --repair applies them", pending);
	free(q);
	history_free(&h);
	PQfinish(c);
	free(fix);
	free(sums);
	table_free(&t);
}

/*
 * The exit code; everything is freed, so that an exit leaks nothing. Not
 * inlined into main: an error that exits from inside (pq_fail, mig_errx)
 * must find what it holds still in its frame, or the leak checker of the
 * sanitizer build reports it as lost.
 */
static int __attribute__((noinline))
apply(const struct connopts *co, const struct applyopts *ao,
    const struct miglist *l, struct pending *pc)
{
	int code = 0;
	char (*sums)[65] = xcalloc(l->n, sizeof *sums);
	bool *notx = xcalloc(l->n, sizeof *notx);
	struct migfile *kept = xcalloc(l->n, sizeof *kept);
	struct plan p = { NULL, 0 };
	struct history h;
	struct table t;
	PGconn *c;
	size_t i;

	table_parse(co->table, &t);
	files_load(l, sums, notx, kept, pc);
	if (ao->to != NULL && list_find(l, version_arg("--to", ao->to)) == NULL)
		mig_errx(EXIT_DATA, "--to %s: no such version in the list",
		    ao->to);
	c = run_connect(co, &ao->run, &t, pc);
	history_read(c, &t, &h, 0);
	make_plan(ao, l, sums, &h, &p, true);
	/* Only the batch counts: an applied CONCURRENTLY index must not
	 * forbid --single-transaction for every later batch. */
	if (ao->single && !ao->mark_only)
		for (i = 0; i < p.n; i++)
			if (notx[p.todo[i]])
				mig_errx(EXIT_DATA, "%s: transaction:false "
				    "cannot run inside --single-transaction; "
				    "nothing was applied", l->v[p.todo[i]].path);
	if (p.n > 0 && !ao->run.dry_run) {
		/* Another run may have applied them meanwhile: plan again. */
		lock_take(c, &t, ao->run.lock_wait);
		history_free(&h);
		table_resolve(c, &t, NULL);
		history_read(c, &t, &h, 0);
		make_plan(ao, l, sums, &h, &p, false);
	}
	if (p.n == 0) {
		if (!ao->run.quiet)
			mig_log(MIG_INFO, NULL,
			    "up to date: %zu applied, nothing to do",
			    h.n);
	} else if (ao->run.dry_run) {
		for (i = 0; i < p.n; i++)
			list_print(stdout, &l->v[p.todo[i]], NULL);
	} else {
		table_create(c, &t);
		if (ao->single)
			code = apply_batch(c, ao, &t, l, kept, sums, &h, &p);
		else
			for (i = 0; i < p.n && code == 0; i++) {
				const struct mig *m = &l->v[p.todo[i]];
				long long start = now_ms();
				enum outcome o;

				if (mig_signal) {
					code = interrupted_code("between "
					    "migrations; the ones applied stay "
					    "applied");
					break;
				}
				o = apply_one(c, ao, &t, m, &kept[p.todo[i]],
				    sums[p.todo[i]], history_find(&h, m->vnum), 0);
				if (o != RUN_DONE)
					code = stopped(m, o, i,
					    notx[p.todo[i]] && !ao->mark_only);
				else
					print_applied(m, now_ms() - start,
					    ao->run.quiet, ao->mark_only);
			}
	}
	history_free(&h);
	PQfinish(c);
	free(p.todo);
	for (i = 0; i < l->n; i++)
		migfile_free(&kept[i]);
	free(kept);
	free(sums);
	free(notx);
	table_free(&t);
	return code;
}

static void
usage(int code)
{
	usage_print(code, "usage: mig-apply [-n|--dry-run] [-q] "
	    "[--to VERSION] [--single-transaction]\n"
	    "       [--allow-out-of-order] [--mark-only] [--repair]\n"
	    "       %s\n       %s\n",
	    RUN_USAGE, CONN_USAGE);
	if (code == 0)
		fputs("\nApply the migrations listed on stdin that are not applied "
		    "yet.\n\n"
		    "  -n, --dry-run               check everything, print what "
		    "would be applied\n"
		    "  -q, --quiet                 only errors and warnings on "
		    "stderr\n"
		    "      --to=VERSION            apply up to VERSION, inclusive\n"
		    "      --single-transaction    apply the whole batch in one "
		    "transaction\n"
		    "      --allow-out-of-order    apply pending migrations older "
		    "than the newest\n"
		    "      --mark-only             record as applied without "
		    "running\n"
		    "      --repair                record the changed files' "
		    "checksums and SQL\n"
		    RUN_HELP CONN_HELP STD_HELP, stdout);
	mig_exit(code);
}

int
main(int argc, char *argv[], char *envp[])
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "to", required_argument, NULL, 't' },
		{ "single-transaction", no_argument, NULL, '1' },
		{ "allow-out-of-order", no_argument, NULL, 'o' },
		{ "mark-only", no_argument, NULL, 'm' },
		{ "repair", no_argument, NULL, 'r' },
		RUN_LONGOPTS,
		CONN_LONGOPTS,
		STD_LONGOPTS
	};
	struct connopts co = { 0 };
	struct applyopts ao = { 0 };
	struct miglist l = { 0 };
	struct buf in = { 0 };
	struct pending pc = { .c = NULL };
	int ch, code = 0;

	/* Before anything reads argv: the title takes its place. */
	setproctitle_init(argc, argv, envp);
	log_init();
	catch_signals();
	runopts_init(&ao.run);
	while ((ch = getopt_long(argc, argv, "nq" STD_SHORTOPTS CONN_SHORTOPTS, longopts,
	    NULL)) != -1) {
		if (std_option(ch, argv, usage) ||
		    conn_option(&co, ch, optarg) ||
		    run_option(&ao.run, ch, optarg))
			continue;
		switch (ch) {
		case 'n': ao.run.dry_run = true; break;
		case 'q': ao.run.quiet = true; break;
		case 't': ao.to = optarg; break;
		case '1': ao.single = true; break;
		case 'o': ao.out_of_order = true; break;
		case 'm': ao.mark_only = true; break;
		case 'r': ao.repair = true; break;
		default: usage(EXIT_USAGE);
		}
	}
	if (optind != argc)
		usage(EXIT_USAGE);
	if (ao.repair && (ao.mark_only || ao.single || ao.to != NULL ||
	    ao.out_of_order))
		mig_errx(EXIT_USAGE, "--repair runs nothing and takes no "
		    "--mark-only, --single-transaction, --to or "
		    "--allow-out-of-order");
	list_stdin_check("mig-apply");
	conn_check(&co);
	conn_begin(&co, &pc);
	conn_read_pumping(&pc, STDIN_FILENO, &in,
	    "waiting for the list on stdin");
	list_read(&in, "stdin", &l);
	buf_free(&in);
	if (ao.repair)
		repair(&co, &ao, &l, &pc);
	else
		code = apply(&co, &ao, &l, &pc);
	list_free(&l);
	mig_exit(code);
}

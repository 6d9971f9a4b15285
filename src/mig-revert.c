/* mig-revert: revert the most recently applied migration(s). */
#include <sys/stat.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "lib/mig.h"

static void
usage(int code)
{
	fprintf(code ? stderr : stdout, "usage: mig-revert [-n|--dry-run] [-q] "
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
main(int argc, char *argv[])
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
	int ch, choices = 0, nolist = 0;

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
		case 'n': ro.run.dry_run = 1; break;
		case 'q': ro.run.quiet = 1; break;
		case 's':
			ro.steps = parse_number("--steps", optarg, 1, 1L << 30);
			choices++;
			break;
		case 't': ro.to = optarg; choices++; break;
		case 'a': ro.all = 1; choices++; break;
		case 'N': nolist = 1; break;
		default: usage(EXIT_USAGE);
		}
	}
	if (optind != argc || choices > 1)
		usage(EXIT_USAGE);
	conn_check(&co);
	revert_run(&co, &ro, !nolist && read_list(&l) ? &l : NULL);
	list_free(&l);
	mig_exit(0);
}

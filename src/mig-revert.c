/* mig-revert: revert the most recently applied migration(s). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/mig.h"

static void
usage(int code)
{
	fprintf(code ? stderr : stdout, "usage: mig-revert [-n|--dry-run] [-q] "
	    "[--steps N | --to VERSION | --all]\n       %s\n       %s\n",
	    RUN_USAGE, CONN_USAGE);
	mig_exit(code);
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
		RUN_LONGOPTS,
		CONN_LONGOPTS,
		STD_LONGOPTS
	};
	struct connopts co = { 0 };
	struct revertopts ro = { 0 };
	struct miglist l = { 0 };
	int ch, choices = 0;

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
		default: usage(EXIT_USAGE);
		}
	}
	if (optind != argc || choices > 1)
		usage(EXIT_USAGE);
	conn_check(&co);
	if (stdin_has_data())
		list_read(stdin, "stdin", &l);
	revert_run(&co, &ro, l.n ? &l : NULL);
	list_free(&l);
	mig_exit(0);
}

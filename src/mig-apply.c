/* mig-apply: apply the listed migrations that are not yet applied. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "lib/mig.h"

static void
usage(int code)
{
	fprintf(code ? stderr : stdout, "usage: mig-apply [-n|--dry-run] [-q] "
	    "[--to VERSION] [--single-transaction]\n"
	    "       [--allow-out-of-order] [--mark-only]\n       %s\n       %s\n",
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
		    RUN_HELP CONN_HELP STD_HELP, stdout);
	mig_exit(code);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "to", required_argument, NULL, 't' },
		{ "single-transaction", no_argument, NULL, '1' },
		{ "allow-out-of-order", no_argument, NULL, 'o' },
		{ "mark-only", no_argument, NULL, 'm' },
		RUN_LONGOPTS,
		CONN_LONGOPTS,
		STD_LONGOPTS
	};
	struct connopts co = { 0 };
	struct applyopts ao = { 0 };
	struct miglist l = { 0 };
	struct buf in = { 0 };
	int ch;

	catch_signals();
	runopts_init(&ao.run);
	while ((ch = getopt_long(argc, argv, "nq" STD_SHORTOPTS CONN_SHORTOPTS, longopts,
	    NULL)) != -1) {
		if (std_option(ch, argv, usage) ||
		    conn_option(&co, ch, optarg) ||
		    run_option(&ao.run, ch, optarg))
			continue;
		switch (ch) {
		case 'n': ao.run.dry_run = 1; break;
		case 'q': ao.run.quiet = 1; break;
		case 't': ao.to = optarg; break;
		case '1': ao.single = 1; break;
		case 'o': ao.out_of_order = 1; break;
		case 'm': ao.mark_only = 1; break;
		default: usage(EXIT_USAGE);
		}
	}
	if (optind != argc)
		usage(EXIT_USAGE);
	list_stdin_check("mig-apply");
	conn_check(&co);
	conn_begin(&co);
	conn_read_input(STDIN_FILENO, &in, "waiting for the list on stdin");
	list_read(&in, "stdin", &l);
	buf_free(&in);
	apply_run(&co, &ao, &l);
	list_free(&l);
	mig_exit(0);
}

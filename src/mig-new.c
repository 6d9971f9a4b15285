/* mig-new: create a new migration file from a template. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/mig.h"

static void
usage(int code)
{
	fprintf(code ? stderr : stdout,
	    "usage: mig-new [-D DIR] [--seq] [--pair] NAME...\n");
	if (code == 0)
		fputs("\nCreate a new migration file named after NAME and print "
		    "its path.\n\n"
		    "  -D, --dir=DIR               the directory ($MIG_DIR, else "
		    "migrations)\n"
		    "      --seq                   a sequence number, not a "
		    "timestamp\n"
		    "      --pair                  an .up.sql and a .down.sql "
		    "file\n" STD_HELP, stdout);
	mig_exit(code);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'D' },
		{ "seq", no_argument, NULL, 's' },
		{ "pair", no_argument, NULL, 'p' },
		STD_LONGOPTS
	};
	const char *dir = getenv("MIG_DIR");
	int ch, seq = 0, pair = 0;

	catch_signals();
	if (dir == NULL || *dir == '\0')
		dir = "migrations";
	while ((ch = getopt_long(argc, argv, "D:" STD_SHORTOPTS, longopts,
	    NULL)) != -1) {
		if (std_option(ch, argv, usage))
			continue;
		switch (ch) {
		case 'D': dir = optarg; break;
		case 's': seq = 1; break;
		case 'p': pair = 1; break;
		default: usage(EXIT_USAGE);
		}
	}
	if (optind == argc || *dir == '\0')
		usage(EXIT_USAGE);
	signal_check("starting; nothing was created");
	mig_exit(new_run(dir, seq, pair, argc - optind, argv + optind));
}

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
	exit(code);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'D' },
		{ "seq", no_argument, NULL, 's' },
		{ "pair", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'H' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dir = getenv("MIG_DIR");
	int ch, seq = 0, pair = 0;

	if (dir == NULL || *dir == '\0')
		dir = "migrations";
	while ((ch = getopt_long(argc, argv, "D:?V", longopts, NULL)) != -1) {
		switch (ch) {
		case 'D': dir = optarg; break;
		case 's': seq = 1; break;
		case 'p': pair = 1; break;
		case 'V': print_version(); break;
		case 'H': usage(0); break;
		case '?': usage(help_option(argv) ? 0 : EXIT_USAGE); break;
		default: usage(EXIT_USAGE);
		}
	}
	if (optind == argc || *dir == '\0')
		usage(EXIT_USAGE);
	return new_run(dir, seq, pair, argc - optind, argv + optind);
}

/* mig-list: list migration files, validated by name, in version order. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/mig.h"

static void
usage(int code)
{
	fprintf(code ? stderr : stdout, "usage: mig-list [DIR...]\n");
	if (code == 0)
		fputs("\nList the migration files in DIR ($MIG_DIR, else "
		    "migrations) in version\norder.\n\n" STD_HELP, stdout);
	mig_exit(code);
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

	catch_signals();
	while ((ch = getopt_long(argc, argv, STD_SHORTOPTS, longopts,
	    NULL)) != -1)
		if (!std_option(ch, argv, usage))
			usage(EXIT_USAGE);
	argc -= optind;
	argv += optind;
	list_huge_pages = 1;
	if (argc == 0)
		list_scan(dflt && *dflt ? dflt : "migrations", &l);
	for (int i = 0; i < argc; i++)
		list_scan(argv[i], &l);
	signal_check("listing the migrations");
	list_sort_check(&l, 1);
	list_write(stdout, &l);
	list_free(&l);
	mig_exit(0);
}

/* mig-current: show what the database has applied. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "lib/mig.h"

static void
usage(int code)
{
	fprintf(code ? stderr : stdout, "usage: mig-current [-a|--all] "
	    "[--status] [--json]\n       %s\n", CONN_USAGE);
	if (code == 0)
		fputs("\nShow what the database has applied.\n\n"
		    "  -a, --all                   every applied migration, in "
		    "the order applied\n"
		    "      --status                read a list on stdin, print "
		    "each one's state\n"
		    "      --json                  print JSON Lines\n"
		    CONN_HELP STD_HELP, stdout);
	mig_exit(code);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "status", no_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		CONN_LONGOPTS,
		STD_LONGOPTS
	};
	struct connopts co = { 0 };
	struct miglist l = { 0 };
	struct buf in = { 0 };
	enum currentmode mode = CUR_LAST;
	int ch, json = 0;

	catch_signals();
	conn_cancel_on_signal = 1;
	while ((ch = getopt_long(argc, argv, "a" STD_SHORTOPTS CONN_SHORTOPTS, longopts,
	    NULL)) != -1) {
		if (std_option(ch, argv, usage) ||
		    conn_option(&co, ch, optarg))
			continue;
		switch (ch) {
		case 'a': mode = mode == CUR_STATUS ? mode : CUR_ALL; break;
		case 's': mode = CUR_STATUS; break;
		case 'j': json = 1; break;
		default: usage(EXIT_USAGE);
		}
	}
	if (optind != argc)
		usage(EXIT_USAGE);
	if (mode == CUR_STATUS)
		list_stdin_check("mig-current --status");
	conn_check(&co);
	if (mode == CUR_STATUS) {
		conn_begin(&co);
		conn_read_input(STDIN_FILENO, &in, "waiting for the list on stdin");
		list_read(&in, "stdin", &l);
		buf_free(&in);
	}
	current_run(&co, mode, json, &l);
	signal_check("reading the history");
	list_free(&l);
	mig_exit(0);
}

/* mig-wait: block until PostgreSQL answers, or the listed are applied. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "lib/mig.h"

static void
usage(int code)
{
	fprintf(code ? stderr : stdout, "usage: mig-wait [-t SECONDS] [-q] "
	    "[--applied]\n       %s\n", CONN_USAGE);
	if (code == 0)
		fputs("\nWait until PostgreSQL accepts queries.\n\n"
		    "  -t, --timeout=SECONDS       give up after SECONDS (60; 0 "
		    "tries once)\n"
		    "  -q, --quiet                 no progress lines\n"
		    "      --applied               read a list on stdin, wait "
		    "until it is applied\n"
		    CONN_HELP STD_HELP, stdout);
	mig_exit(code);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "applied", no_argument, NULL, 'A' },
		CONN_LONGOPTS,
		STD_LONGOPTS
	};
	struct connopts co = { 0 };
	struct miglist l = { 0 };
	struct buf in = { 0 };
	long timeout = 60;
	int ch, quiet = 0, applied = 0;

	catch_signals();
	conn_cancel_on_signal = 1;
	while ((ch = getopt_long(argc, argv, "t:q" STD_SHORTOPTS CONN_SHORTOPTS, longopts,
	    NULL)) != -1) {
		if (std_option(ch, argv, usage) ||
		    conn_option(&co, ch, optarg))
			continue;
		switch (ch) {
		case 't':
			timeout = parse_number("-t", optarg, 0, 86400 * 365);
			break;
		case 'q': quiet = 1; break;
		case 'A': applied = 1; break;
		default: usage(EXIT_USAGE);
		}
	}
	if (optind != argc)
		usage(EXIT_USAGE);
	if (applied)
		list_stdin_check("mig-wait --applied");
	conn_check(&co);
	if (applied) {
		conn_read_input(STDIN_FILENO, &in, "reading the list on stdin");
		list_read(&in, "stdin", &l);
		buf_free(&in);
	}
	wait_run(&co, timeout, quiet, applied ? &l : NULL);
	list_free(&l);
	mig_exit(0);
}

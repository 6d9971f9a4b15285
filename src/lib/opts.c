/*
 * The options several tools share: numbers, --help and --version, the
 * connection options, the lock and timeout options, and a VERSION.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "mig.h"

long
parse_number(const char *opt, const char *arg, long min, long max)
{
	const char *errstr;
	long long v = strtonum(arg, min, max, &errstr);

	if (errstr != NULL)
		mig_errx(EXIT_USAGE, "%s %s: %s (%ld to %ld)", opt, arg,
		    errstr, min, max);
	return (long)v;
}

/*
 * After getopt returned '?': true for -? itself, false for an unknown
 * option. glibc clears optopt for -? and for an unknown long option alike,
 * so the argument just read tells them apart.
 */
int
help_option(char **argv)
{
	if (optopt == '?')
		return 1;
	return optopt == 0 && optind > 0 &&
	    strncmp(argv[optind - 1], "--", 2) != 0;
}

/*
 * In json mode getopt says nothing (log_init cleared opterr): its
 * complaint is made here instead, from what it left behind. optopt is 0
 * for an unknown long option, else the option's letter or value; the
 * word just read is a long option's, but may be the one before a short
 * option's cluster.
 */
static void
option_error(char **argv)
{
	const char *w = optind > 0 ? argv[optind - 1] : "";

	if (strncmp(w, "--", 2) == 0)
		mig_log(MIG_ERROR, NULL, optopt == 0 ?
		    "unrecognized option '%.*s'" : "option '%.*s' is missing "
		    "its argument or takes none", (int)strcspn(w, "="), w);
	else
		mig_log(MIG_ERROR, NULL, "invalid option, or one missing its "
		    "argument -- '%c'", optopt);
}

/* Handles the options every tool has; 0 for any other. */
int
std_option(int ch, char **argv, void (*usage)(int))
{
	switch (ch) {
	case 'V':
		print_version();
		return 1;
	case 'H':
		usage(0);
		return 1;
	case '?':
		if (help_option(argv))
			usage(0);
		if (log_json())
			option_error(argv);
		usage(EXIT_USAGE);
		return 1;
	}
	return 0;
}

/* A VERSION given as an option: digits, compared by value. */
uint64_t
version_arg(const char *opt, const char *arg)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; arg[i] >= '0' && arg[i] <= '9' && i < 19; i++)
		v = v * 10 + (uint64_t)(arg[i] - '0');
	if (i == 0 || arg[i] != '\0')
		mig_errx(EXIT_DATA, "%s %s: a version is 1 to 19 digits", opt,
		    arg);
	return v;
}

int
conn_option(struct connopts *o, int ch, const char *arg)
{
	switch (ch) {
	case 'd': o->dbname = arg; break;
	case 'h': o->host = arg; break;
	case 'p': o->port = arg; break;
	case 'U': o->user = arg; break;
	case 'T': o->table = arg; break;
	default: return 0;
	}
	return 1;
}

void
runopts_init(struct runopts *r)
{
	memset(r, 0, sizeof *r);
	r->lock_wait = 300;
	r->lock_timeout = 5000;
	r->lock_retries = 3;
}

int
run_option(struct runopts *r, int ch, const char *arg)
{
	switch (ch) {
	case 'W':
		r->lock_wait = parse_number("--lock-wait", arg, 0, 86400 * 7);
		break;
	case 'L':
		r->lock_timeout = parse_number("--lock-timeout", arg, 0,
		    2147483647);
		break;
	case 'R':
		r->lock_retries = parse_number("--lock-retries", arg, 0, 1000);
		break;
	case 'S':
		r->statement_timeout = parse_number("--statement-timeout", arg,
		    0, 2147483647);
		break;
	default:
		return 0;
	}
	return 1;
}

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <err.h>

#include "mig.h"

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		err(EXIT_OSERR, "malloc");
	return p;
}

void *
xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (p == NULL)
		err(EXIT_OSERR, "calloc");
	return p;
}

void *
xreallocarray(void *p, size_t n, size_t sz)
{
	if ((p = reallocarray(p, n ? n : 1, sz)) == NULL)
		err(EXIT_OSERR, "realloc");
	return p;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		err(EXIT_OSERR, "vasprintf");
	va_end(ap);
	return s;
}

void
buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = xreallocarray(b->s, b->cap, 1);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void
buf_addstr(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		err(EXIT_OSERR, "vasprintf");
	va_end(ap);
	buf_addstr(b, s);
	free(s);
}

void
buf_free(struct buf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

/* Reads a whole file; -1 with errno set on failure. */
int
read_file(const char *path, struct buf *b)
{
	char chunk[65536];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	b->len = 0;
	buf_add(b, "", 0);
	while ((n = read(fd, chunk, sizeof chunk)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		buf_add(b, chunk, (size_t)n);
	}
	close(fd);
	return 0;
}

long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps, but a signal ends the sleep so the caller can act on it. */
void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	if (!mig_signal)
		nanosleep(&ts, NULL);
}

long
parse_number(const char *opt, const char *arg, long min, long max)
{
	const char *errstr = NULL;
	char *end;
	long long v;

	errno = 0;
	v = strtoll(arg, &end, 10);
	if (end == arg || *end != '\0')
		errstr = "invalid";
	else if ((errno == ERANGE && v < 0) || v < min)
		errstr = "too small";
	else if (errno == ERANGE || v > max)
		errstr = "too large";
	if (errstr != NULL)
		mig_errx(EXIT_USAGE, "%s %s: %s (%ld to %ld)", opt, arg,
		    errstr, min, max);
	return (long)v;
}

void
print_version(void)
{
	printf("%s (mig) %s\n", program_invocation_short_name, MIG_VERSION);
	mig_exit(0);
}

/*
 * Every tool ends here: output that never reached its file (a full disk,
 * /dev/full, a closed pipe) must not look like success.
 */
void
mig_exit(int code)
{
	if (code == 0 && (fflush(stdout) == EOF || ferror(stdout))) {
		/* A write into a full pipe ends with EINTR on a signal. */
		signal_check("writing to stdout");
		mig_errx(EXIT_IOERR, "cannot write to stdout: %s",
		    errno ? strerror(errno) : "write error");
	}
	exit(code);
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
		usage(help_option(argv) ? 0 : EXIT_USAGE);
		return 1;
	}
	return 0;
}

/*
 * A tool that needs a list reads it from stdin; a terminal there means
 * the pipe was forgotten, and reading it would only wait.
 */
void
list_stdin_check(const char *tool)
{
	if (isatty(STDIN_FILENO))
		mig_errx(EXIT_USAGE, "stdin is a terminal, not a list of "
		    "migrations; pipe one in: mig-list | %s", tool);
}

volatile int mig_signal;
void (*volatile signal_hook)(void);

static void
on_signal(int sig)
{
	mig_signal = sig;
	if (signal_hook != NULL)
		signal_hook();
}

/* No SA_RESTART: a signal must wake the poll() that waits for the server. */
void
catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int
exit_code_for_signal(void)
{
	return 128 + mig_signal;
}

/* Exits 130 or 143 if a signal came, saying what it interrupted. */
void
signal_check(const char *what)
{
	if (mig_signal)
		mig_errx(exit_code_for_signal(), "interrupted by %s while %s",
		    mig_signal == SIGINT ? "SIGINT" : "SIGTERM", what);
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

/*
 * The length of "password" or "sslpassword" and the "=" after it when p
 * starts such a setting as a word of its own, else 0.
 */
static size_t
password_setting(const char *msg, const char *p)
{
	const char *q = p;

	if (p > msg && strchr(" \t\n\"'?&(,;", p[-1]) == NULL)
		return 0;
	if (strncmp(q, "ssl", 3) == 0)
		q += 3;
	if (strncmp(q, "password", 8) != 0)
		return 0;
	q += 8;
	q += strspn(q, " \t");
	if (*q != '=')
		return 0;
	q++;
	return (size_t)(q + strspn(q, " \t") - p);
}

/*
 * Every message passes through here, so that a connection string that
 * reaches one (echoed by a server, say) shows no password. What is masked
 * is found by its place, never by its text: the part between "scheme://
 * user:" and "@", and the value of a password setting. Messages name the
 * server as user@host:port/dbname, which holds none.
 */
char *
mask_secrets(const char *msg)
{
	struct buf b = { 0 };
	const char *p = msg;

	buf_add(&b, "", 0);
	while (*p != '\0') {
		size_t n;

		if (strncmp(p, "://", 3) == 0) {
			const char *u = p + 3, *e = u + strcspn(u, "@/ \t\n\"'");
			const char *c = memchr(u, ':', (size_t)(e - u));

			if (*e == '@' && c != NULL) {
				buf_add(&b, p, (size_t)(c + 1 - p));
				buf_addstr(&b, "***");
				p = e;
				continue;
			}
		}
		if ((n = password_setting(msg, p)) > 0) {
			const char *v = p + n;

			buf_add(&b, p, n);
			if (*v == '\'') {
				for (v++; *v != '\0' && *v != '\''; v++)
					if (*v == '\\' && v[1] != '\0')
						v++;
				buf_addstr(&b, "'***'");
				p = *v == '\'' ? v + 1 : v;
			} else {
				p = v + strcspn(v, " \t\n&\"'),;");
				buf_addstr(&b, "***");
			}
			continue;
		}
		buf_add(&b, p++, 1);
	}
	return b.s;
}

static void
vmessage(const char *fmt, va_list ap)
{
	char *s, *m;

	if (vasprintf(&s, fmt, ap) < 0)
		err(EXIT_OSERR, "vasprintf");
	m = mask_secrets(s);
	fflush(stdout);
	fprintf(stderr, "%s: %s\n", program_invocation_short_name, m);
	free(s);
	free(m);
}

void
mig_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(fmt, ap);
	va_end(ap);
}

void
mig_errx(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(fmt, ap);
	va_end(ap);
	exit(code);
}

#include <ctype.h>
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

void
print_version(void)
{
	printf("%s (mig) %s\n", getprogname(), MIG_VERSION);
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

/*
 * What the SIGINT and SIGTERM handler shares with the rest of the program,
 * all of it: mig_signal, the signal that came (0 while none), which the
 * program looks at wherever it waits; and a hook the handler calls with its
 * argument, by which a tool that only reads cancels its query on the server
 * at once (conn.c). The hook is async-signal-safe, and it and its argument
 * change only while the signals are blocked.
 */
volatile sig_atomic_t mig_signal;
static void (*volatile signal_hook)(void *);
static void *volatile signal_hook_arg;

static void
on_signal(int sig)
{
	mig_signal = sig;
	if (signal_hook != NULL)
		signal_hook(signal_hook_arg);
}

/* Sets the hook the handler calls; returns the argument it had before. */
void *
signal_hook_set(void (*hook)(void *), void *arg)
{
	sigset_t all, old;
	void *prev;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	prev = signal_hook_arg;
	signal_hook = hook;
	signal_hook_arg = arg;
	sigprocmask(SIG_SETMASK, &old, NULL);
	return prev;
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

/* Says what the signal that came interrupted; 130 or 143, to exit with. */
int
interrupted_code(const char *what)
{
	mig_warnx("interrupted by %s while %s",
	    mig_signal == SIGINT ? "SIGINT" : "SIGTERM", what);
	return exit_code_for_signal();
}

/* The same, exiting. */
void
interrupted(const char *what)
{
	exit(interrupted_code(what));
}

/* The same, if a signal came. */
void
signal_check(const char *what)
{
	if (mig_signal)
		interrupted(what);
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

/*
 * libpq's messages span lines: a continuation is indented ("\tIs the server
 * running ...?"), another message is not (DETAIL, the next host tried). One
 * line per message keeps stderr one line per event: a continuation goes on
 * as a sentence, another message follows after "; ".
 */
char *
fold_lines(const char *m)
{
	char *out = xmalloc(2 * strlen(m) + 1), *o = out;

	while (*m != '\0') {
		int indented;

		if (*m != '\n') {
			*o++ = *m++;
			continue;
		}
		m++;
		indented = *m == ' ' || *m == '\t';
		m += strspn(m, " \t\n");
		if (*m == '\0')
			break;
		if (!indented)
			*o++ = ';';
		else if (o > out && strchr(".?!:;,", o[-1]) == NULL &&
		    isupper((unsigned char)*m))
			*o++ = '.';
		*o++ = ' ';
	}
	while (o > out && isspace((unsigned char)o[-1]))
		o--;
	*o = '\0';
	return out;
}

static void
vmessage(const char *fmt, va_list ap)
{
	char *s, *m;

	if (vasprintf(&s, fmt, ap) < 0)
		err(EXIT_OSERR, "vasprintf");
	m = mask_secrets(s);
	fflush(stdout);
	fprintf(stderr, "%s: %s\n", getprogname(), m);
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

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


#include "mig.h"

static void oom(const char *) __attribute__((noreturn));
static void log_exit(int);

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom("malloc");
	return p;
}

void *
xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (p == NULL)
		oom("calloc");
	return p;
}

void *
xreallocarray(void *p, size_t n, size_t sz)
{
	if ((p = reallocarray(p, n ? n : 1, sz)) == NULL)
		oom("realloc");
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
		oom("vasprintf");
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
		oom("vasprintf");
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

/*
 * Room for a file of size bytes and its NUL. A big one goes in 2 MB pages
 * where the system has them: in 4 kB pages each page of a data file costs
 * a fault when read and TLB misses on every later pass (the scans, the
 * split, the checksum). mig-apply -n on bench/bigfile's 50 MB file took
 * 0.33 s in 4 kB pages and 0.11 s in 2 MB ones, and mig-apply reads a file
 * twice (to check all before any runs, then to run it): about a quarter
 * of the apply's time, done before the server has anything to do.
 */
#define HUGE_PAGE (2 * 1024 * 1024)

static char *
file_room(size_t size, size_t *cap)
{
	size_t n = (size + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
	void *p;

	if (size < 2 * HUGE_PAGE || posix_memalign(&p, HUGE_PAGE, n) != 0) {
		*cap = size;
		return xreallocarray(NULL, size, 1);
	}
#ifdef MADV_HUGEPAGE
	(void)madvise(p, n, MADV_HUGEPAGE);
#endif
	*cap = n;
	return p;
}

/*
 * Reads a whole file into b, which must be empty; -1 with errno set on
 * failure. Straight into the buffer, sized from fstat: a big file is
 * neither copied through a small chunk nor moved by repeated growth.
 */
int
read_file(const char *path, struct buf *b)
{
	struct stat st;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
		b->s = file_room((size_t)st.st_size + 2, &b->cap);
	b->len = 0;
	for (;;) {
		/* One byte spare, so that the end is seen without growing. */
		if (b->len + 2 > b->cap) {
			b->cap = b->cap < 65536 ? 65536 : b->cap * 2;
			b->s = xreallocarray(b->s, b->cap, 1);
		}
		n = read(fd, b->s + b->len, b->cap - b->len - 1);
		if (n == 0)
			break;
		if (n == -1) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		b->len += (size_t)n;
	}
	b->s[b->len] = '\0';
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
	log_exit(code);
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
	/* An error: in json mode its record is the one that gets the exit. */
	mig_log(MIG_ERROR, NULL, "interrupted by %s while %s",
	    mig_signal == SIGINT ? "SIGINT" : "SIGTERM", what);
	return exit_code_for_signal();
}

/* The same, exiting. */
void
interrupted(const char *what)
{
	mig_exit(interrupted_code(what));
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

/*
 * The log format, the one setting every message shares: text (the
 * default) or json, read once by log_init from MIG_LOG_FORMAT. In json
 * mode an error's record is held back until the next record or the exit,
 * so that the last line of a run that fails carries its exit code: held
 * is that record, without its closing brace, or empty.
 */
static bool log_as_json;
static struct buf held;

void
log_init(void)
{
	const char *f = getenv("MIG_LOG_FORMAT");

	if (f == NULL || *f == '\0' || strcmp(f, "text") == 0)
		return;
	if (strcmp(f, "json") != 0)
		mig_errx(EXIT_USAGE, "MIG_LOG_FORMAT=%s: unknown log format; "
		    "use text (the default) or json", f);
	log_as_json = true;
	/* getopt's own complaints are plain text: std_option makes them. */
	opterr = 0;
}

bool
log_json(void)
{
	return log_as_json;
}

/* One line to stderr in one write, after what stdout holds. */
static void
put_line(const char *s, size_t n)
{
	fflush(stdout);
	fwrite(s, 1, n, stderr);
	fflush(stderr);
}

/*
 * The length of the well-formed UTF-8 character at s (n bytes left), or 0
 * for a byte that starts none: overlong forms, surrogates and values past
 * U+10FFFF included, which JSON may not carry.
 */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* ,"key":"value" with value masked and escaped; a byte that is not UTF-8
 * becomes U+FFFD, so that the line stays valid JSON whatever it names. */
static void
json_str(struct buf *b, const char *key, const char *value)
{
	char *m = mask_secrets(value);
	const unsigned char *p = (const unsigned char *)m;
	size_t n = strlen(m), len;

	buf_printf(b, ",\"%s\":\"", key);
	while (n > 0) {
		char esc[8];

		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			buf_add(b, esc, 2);
			len = 1;
		} else if (*p < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", *p);
			buf_addstr(b, *p == '\n' ? "\\n" : *p == '\t' ? "\\t" :
			    *p == '\r' ? "\\r" : esc);
			len = 1;
		} else if (*p < 0x80) {
			buf_add(b, (const char *)p, 1);
			len = 1;
		} else if ((len = utf8_len(p, n)) > 0)
			buf_add(b, (const char *)p, len);
		else {
			buf_addstr(b, "\\ufffd");
			len = 1;
		}
		p += len;
		n -= len;
	}
	buf_addstr(b, "\"");
	free(m);
}

/* The time now as RFC 3339 UTC with milliseconds, in out[32]. */
static void
ts_now(char *out)
{
	struct timespec ts;
	struct tm tm;
	char s[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%s.%03dZ", s, (int)(ts.tv_nsec / 1000000) % 1000);
}

/* Writes out the held error record, with the exit code if not -1. */
static void
release(int code)
{
	if (held.len == 0)
		return;
	if (code != -1)
		buf_printf(&held, ",\"exit\":%d", code);
	buf_addstr(&held, "}\n");
	put_line(held.s, held.len);
	buf_free(&held);
}

/*
 * The last record of a run that fails carries its exit code: the held
 * error if there is one, else a record of its own.
 */
static void
log_exit(int code)
{
	if (!log_as_json)
		return;
	if (code != 0 && held.len == 0)
		mig_log(MIG_ERROR, NULL, "exiting with status %d", code);
	release(code != 0 ? code : -1);
}

static const char *const level_name[] = { "info", "notice", "warning",
    "error" };

/*
 * A line the next mig_log puts after the first (DETAIL, HINT, CONTEXT),
 * in text as "LABEL: text", in json under the key "label", one line per
 * call joined by newlines.
 */
void
logf_more(struct logf *f, const char *label, const char *text)
{
	struct buf *b = strcmp(label, "HINT") == 0 ? &f->hint :
	    strcmp(label, "CONTEXT") == 0 ? &f->context : &f->detail;

	buf_printf(&f->more, "%s: %s\n", label, text);
	if (b->len > 0)
		buf_addstr(b, "\n");
	buf_addstr(b, text);
}

static void
vlog(enum loglevel level, struct logf *f, const char *fmt, va_list ap)
{
	struct buf b = { 0 };
	char *s, *m;

	if (vasprintf(&s, fmt, ap) < 0)
		oom("vasprintf");
	if (!log_as_json) {
		m = mask_secrets(s);
		if (f == NULL || !f->bare)
			buf_printf(&b, "%s: ", getprogname());
		buf_printf(&b, "%s\n", m);
		free(m);
		if (f != NULL && f->more.len > 0) {
			m = mask_secrets(f->more.s);
			buf_addstr(&b, m);
			free(m);
		}
		put_line(b.s, b.len);
		buf_free(&b);
	} else {
		char ts[32];

		ts_now(ts);
		buf_printf(&b, "{\"ts\":\"%s\"", ts);
		json_str(&b, "tool", getprogname());
		json_str(&b, "level", level_name[level]);
		json_str(&b, "msg", s);
		if (f != NULL) {
			if (f->version != NULL)
				json_str(&b, "version", f->version);
			if (f->name != NULL)
				json_str(&b, "name", f->name);
			if (f->path != NULL)
				json_str(&b, "path", f->path);
			if (f->line > 0)
				buf_printf(&b, ",\"line\":%d", f->line);
			if (f->col > 0)
				buf_printf(&b, ",\"col\":%d", f->col);
			if (f->sqlstate != NULL)
				json_str(&b, "sqlstate", f->sqlstate);
			if (f->timed)
				buf_printf(&b, ",\"duration_ms\":%lld",
				    f->duration_ms);
			if (f->detail.len > 0)
				json_str(&b, "detail", f->detail.s);
			if (f->hint.len > 0)
				json_str(&b, "hint", f->hint.s);
			if (f->context.len > 0)
				json_str(&b, "context", f->context.s);
		}
		release(-1);
		if (level == MIG_ERROR)
			held = b;
		else {
			buf_addstr(&b, "}\n");
			put_line(b.s, b.len);
			buf_free(&b);
		}
	}
	free(s);
	if (f != NULL) {
		buf_free(&f->more);
		buf_free(&f->detail);
		buf_free(&f->hint);
		buf_free(&f->context);
	}
}

/* A message with its level and what it is about (f may be NULL). */
void
mig_log(enum loglevel level, struct logf *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, f, fmt, ap);
	va_end(ap);
}

void
mig_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(MIG_WARNING, NULL, fmt, ap);
	va_end(ap);
}

void
mig_errx(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(MIG_ERROR, NULL, fmt, ap);
	va_end(ap);
	mig_exit(code);
}

/*
 * A tool's usage lines: on stdout for --help; else on stderr, where in
 * json mode they make one error record, white space folded.
 */
void
usage_print(int code, const char *fmt, ...)
{
	va_list ap;
	char *s, *p, *o;

	va_start(ap, fmt);
	if (code == 0 || !log_as_json)
		vfprintf(code == 0 ? stdout : stderr, fmt, ap);
	else {
		if (vasprintf(&s, fmt, ap) < 0)
			oom("vasprintf");
		for (p = o = s; *p != '\0'; p++)
			if (!isspace((unsigned char)*p) || (o > s &&
			    !isspace((unsigned char)o[-1])))
				*o++ = isspace((unsigned char)*p) ? ' ' : *p;
		while (o > s && o[-1] == ' ')
			o--;
		*o = '\0';
		mig_log(MIG_ERROR, NULL, "%s", s);
		free(s);
	}
	va_end(ap);
}

/*
 * Out of memory: said without allocating (a record being held is let go
 * first, as it stands), then the exit, the one that cannot go through
 * mig_exit.
 */
static void
oom(const char *what)
{
	char line[256];
	int n;

	if (log_as_json) {
		char ts[32];

		if (held.len > 0) {
			fflush(stdout);
			fwrite(held.s, 1, held.len, stderr);
			fputs("}\n", stderr);
		}
		ts_now(ts);
		n = snprintf(line, sizeof line, "{\"ts\":\"%s\",\"tool\":\"%s\","
		    "\"level\":\"error\",\"msg\":\"%s: %s\",\"exit\":%d}\n",
		    ts, getprogname(), what, strerror(ENOMEM), EXIT_OSERR);
	} else
		n = snprintf(line, sizeof line, "%s: %s: %s\n", getprogname(),
		    what, strerror(ENOMEM));
	if (n > 0)
		put_line(line, (size_t)n < sizeof line ? (size_t)n :
		    sizeof line - 1);
	exit(EXIT_OSERR);
}

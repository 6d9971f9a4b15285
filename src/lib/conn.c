/*
 * Connecting as PostgreSQL's own tools do (-d, -h, -p, -U, then
 * $DATABASE_URL, then libpq's defaults), and keeping every password out of
 * every message.
 */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-events.h>

#include "mig.h"

/* A URI query's keyword, percent-decoded as libpq does, is k. */
static int
uri_key_is(const char *s, size_t n, const char *k)
{
	for (size_t i = 0; i < n; i++, k++) {
		int c = (unsigned char)s[i];

		if (c == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			char hex[3] = { s[i + 1], s[i + 2], '\0' };

			c = (int)strtol(hex, NULL, 16);
			i += 2;
		}
		if (*k == '\0' || c != (unsigned char)*k)
			return 0;
	}
	return *k == '\0';
}

static int
is_password_key(const char *s, size_t n, int uri)
{
	if (uri)
		return uri_key_is(s, n, "password") ||
		    uri_key_is(s, n, "sslpassword");
	return (n == 8 && strncmp(s, "password", 8) == 0) ||
	    (n == 11 && strncmp(s, "sslpassword", 11) == 0);
}

/*
 * The connection string with each password replaced by ***, found where
 * libpq finds it, even in a string libpq then rejects: in a URI between
 * the ':' after the user and the '@', or a password parameter; else the
 * value of the password keyword.
 */
static char *
mask_conninfo(const char *ci)
{
	struct buf b = { 0 };
	const char *p = ci, *at, *colon;
	size_t n;

	buf_add(&b, "", 0);
	if (strncmp(ci, "postgresql://", 13) == 0 ||
	    strncmp(ci, "postgres://", 11) == 0) {
		p = strstr(ci, "://") + 3;
		at = p + strcspn(p, "@/");
		colon = memchr(p, ':', (size_t)(at - p));
		if (*at == '@' && colon != NULL) {
			buf_add(&b, ci, (size_t)(colon + 1 - ci));
			buf_addstr(&b, "***");
			p = at;
		} else
			p = ci;
		n = strcspn(p, "?");
		buf_add(&b, p, n);
		p += n;
		while (*p != '\0') {
			const char *eq;

			buf_add(&b, p++, 1);	/* the '?' or '&' */
			n = strcspn(p, "&");
			eq = memchr(p, '=', n);
			if (eq != NULL && is_password_key(p, (size_t)(eq - p), 1)) {
				buf_add(&b, p, (size_t)(eq + 1 - p));
				buf_addstr(&b, "***");
			} else
				buf_add(&b, p, n);
			p += n;
		}
		return b.s;
	}
	for (;;) {
		const char *key, *v;
		size_t keylen;

		n = 0;
		while (isspace((unsigned char)p[n]))
			n++;
		buf_add(&b, p, n);
		p += n;
		if (*p == '\0')
			break;
		key = p;
		while (*p != '\0' && *p != '=' && !isspace((unsigned char)*p))
			p++;
		keylen = (size_t)(p - key);
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '=') {
			buf_addstr(&b, key);
			break;
		}
		p++;
		while (isspace((unsigned char)*p))
			p++;
		buf_add(&b, key, (size_t)(p - key));
		v = p;
		if (*p == '\'') {
			for (p++; *p != '\0' && *p != '\''; p++)
				if (*p == '\\' && p[1] != '\0')
					p++;
			if (*p == '\'')
				p++;
		} else
			for (; *p != '\0' && !isspace((unsigned char)*p); p++)
				if (*p == '\\' && p[1] != '\0')
					p++;
		if (!is_password_key(key, keylen, 0))
			buf_add(&b, v, (size_t)(p - v));
		else if (*v == '\'')
			buf_addstr(&b, p[-1] == '\'' && p - v > 1 ? "'***'" : "'***");
		else
			buf_addstr(&b, "***");
	}
	return b.s;
}

static const char *
effective_dbname(const struct connopts *o)
{
	const char *url = getenv("DATABASE_URL");

	if (o->dbname != NULL)
		return o->dbname;
	return url != NULL && *url != '\0' ? url : NULL;
}

static int
is_conninfo(const char *s)
{
	return strchr(s, '=') != NULL || strncmp(s, "postgres://", 11) == 0 ||
	    strncmp(s, "postgresql://", 13) == 0;
}

/*
 * libpq accepts any port when it parses a conninfo and rejects it only when
 * it connects, which mig-wait would retry: a comma list of numbers or
 * empty entries, as libpq reads it.
 */
static int
bad_port(const char *s)
{
	for (;;) {
		s += strspn(s, " \t");
		s += strspn(s, "0123456789");
		s += strspn(s, " \t");
		if (*s == '\0')
			return 0;
		if (*s++ != ',')
			return 1;
	}
}

/*
 * Rejects an invalid conninfo before anything connects: a usage error.
 * libpq's message may quote the string, so it comes from parsing the
 * string with its password masked; if only the password was wrong, the
 * message says that and no more.
 */
void
conn_check(const struct connopts *o)
{
	const char *db = effective_dbname(o), *port = getenv("PGPORT");
	const char *where = o->dbname ? " given with -d" : " in DATABASE_URL";
	PQconninfoOption *opts, *opt;
	char *msg = NULL, *masked;

	if (o->port != NULL && bad_port(o->port))
		mig_errx(EXIT_USAGE, "invalid port \"%s\" given with -p",
		    o->port);
	if (o->port == NULL && port != NULL && bad_port(port))
		mig_errx(EXIT_USAGE, "invalid port \"%s\" in PGPORT", port);
	if (db == NULL || !is_conninfo(db))
		return;
	if ((opts = PQconninfoParse(db, &msg)) == NULL) {
		PQfreemem(msg);
		msg = NULL;
		masked = mask_conninfo(db);
		if ((opts = PQconninfoParse(masked, &msg)) != NULL)
			mig_errx(EXIT_USAGE, "invalid connection string%s: the "
			    "password in it is not valid percent-encoding "
			    "(write %% as %%25)", where);
		mig_errx(EXIT_USAGE, "invalid connection string%s: %s", where,
		    msg ? fold_lines(msg) : "out of memory");
	}
	for (opt = opts; opt->keyword != NULL; opt++)
		if (o->port == NULL && strcmp(opt->keyword, "port") == 0 &&
		    opt->val != NULL && bad_port(opt->val))
			mig_errx(EXIT_USAGE, "invalid port \"%s\"%s", opt->val,
			    where);
	PQconninfoFree(opts);
}

/* Frees a connection's name (its instance data) as libpq frees it. */
static int
name_event(PGEventId id, void *info, void *pass)
{
	(void)pass;
	if (id == PGEVT_CONNDESTROY)
		free(PQinstanceData(((PGEventConnDestroy *)info)->conn,
		    name_event));
	return 1;
}

/*
 * The server as user@host:port/dbname, which holds no password. The string
 * belongs to the connection: it stays valid until PQfinish(c) frees it.
 */
const char *
conn_name(PGconn *c)
{
	const char *host = PQhost(c);
	char *name = PQinstanceData(c, name_event);

	if (name != NULL)
		return name;
	name = xasprintf("%s@%s:%s/%s", PQuser(c) ? PQuser(c) : "",
	    host && *host ? host : "localhost", PQport(c) ? PQport(c) : "",
	    PQdb(c) ? PQdb(c) : "");
	if (!PQregisterEventProc(c, name_event, "mig", NULL) ||
	    !PQsetInstanceData(c, name_event, name))
		mig_errx(EXIT_OSERR, "PQregisterEventProc: out of memory");
	return name;
}

/*
 * libpq hides the SQLSTATE of a failed connection but prints it in verbose
 * mode: "FATAL:  28P01: password ...". Takes it out of the message, with
 * the LOCATION lines verbose mode adds, and folds the rest into one line.
 */
static char *
take_sqlstate(char *msg, char state[6])
{
	char *p, *loc, *folded;

	state[0] = '\0';
	for (p = msg; (p = strstr(p, ":  ")) != NULL; p++) {
		char *c = p + 3;
		int i;

		for (i = 0; i < 5 && (isdigit((unsigned char)c[i]) ||
		    isupper((unsigned char)c[i])); i++)
			;
		if (i == 5 && c[5] == ':' && c[6] == ' ') {
			memcpy(state, c, 5);
			state[5] = '\0';
			memmove(c, c + 7, strlen(c + 7) + 1);
		}
	}
	while ((loc = strstr(msg, "\nLOCATION:")) != NULL) {
		char *eol = strchr(loc + 1, '\n');
		memmove(loc, eol ? eol : loc + strlen(loc),
		    strlen(eol ? eol : loc + strlen(loc)) + 1);
	}
	folded = fold_lines(msg);
	free(msg);
	return folded;
}

static enum connfail
classify(PGconn *c, const char *state, const char *msg)
{
	static const char *retry[] = { "53300", "3D000", NULL };

	if (strcmp(state, "57P03") == 0)
		return CONN_STARTING;
	if (*state) {
		for (int i = 0; retry[i]; i++)
			if (strcmp(state, retry[i]) == 0)
				return CONN_RETRY;
		return CONN_FATAL;
	}
	if (PQconnectionNeedsPassword(c) || strstr(msg, "SSL") != NULL)
		return CONN_FATAL;
	return CONN_NOSERVER;
}

/*
 * libpq checks the values of its options (sslmode, target_session_attrs,
 * keepalives, as many ports as hosts, ...) only as it starts to connect,
 * and says so in words no network failure and no server uses: a typo in
 * the connection settings, which no retry mends.
 */
static void
bad_option(const char *msg)
{
	static const char *const says[] = {
		"\" for connection option \"",	/* invalid integer value */
		"\" invalid when ",		/* sslmode without SSL support */
		"could not match ",		/* N port numbers to M hosts */
		"could not parse network address \"",	/* hostaddr */
		"invalid port number",
		NULL
	};
	const char *p;
	char *m;
	int bad = 0;

	/* invalid sslmode value: "bogus", and so for each such option */
	for (p = msg; (p = strstr(p, "invalid ")) != NULL && !bad; p++) {
		const char *v = p + 8 + strcspn(p + 8, " \n");

		bad = strncmp(v, " value: \"", 9) == 0;
	}
	for (int i = 0; says[i] != NULL && !bad; i++)
		bad = strstr(msg, says[i]) != NULL;
	if (!bad)
		return;
	m = fold_lines(msg);
	mig_errx(EXIT_USAGE, "invalid connection settings: %s", m);
}

/*
 * Server notices outside a migration (a concurrent run created the history
 * table first, say): as libpq would print them, but through mig_log, so
 * that json mode makes them records too.
 */
static void
on_notice(void *arg, const PGresult *r)
{
	const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
	struct logf f = { .bare = true,
	    .sqlstate = PQresultErrorField(r, PG_DIAG_SQLSTATE) };
	char *m = xstrdup(PQresultErrorMessage(r));
	size_t n = strlen(m);

	(void)arg;
	if (n > 0 && m[n - 1] == '\n')
		m[n - 1] = '\0';
	mig_log(sev != NULL && strcmp(sev, "WARNING") == 0 ? MIG_WARNING :
	    MIG_NOTICE, &f, "%s", m);
	free(m);
}

static void
start(const struct connopts *o, struct pending *pc)
{
	const char *keys[8], *vals[8];
	int n = 0;
	PGconn *c;

	if (effective_dbname(o) != NULL) {
		keys[n] = "dbname";
		vals[n++] = effective_dbname(o);
	}
	if (o->host) { keys[n] = "host"; vals[n++] = o->host; }
	if (o->port) { keys[n] = "port"; vals[n++] = o->port; }
	if (o->user) { keys[n] = "user"; vals[n++] = o->user; }
	keys[n] = "fallback_application_name";
	vals[n++] = getprogname();
	keys[n] = vals[n] = NULL;

	if ((c = PQconnectStartParams(keys, vals, 1)) == NULL)
		mig_errx(EXIT_OSERR, "PQconnectStartParams: out of memory");
	if (PQstatus(c) == CONNECTION_BAD)
		bad_option(PQerrorMessage(c));
	/* Verbose, so that a failed connection's message carries its SQLSTATE. */
	PQsetErrorVerbosity(c, PQERRORS_VERBOSE);
	PQsetNoticeReceiver(c, on_notice, NULL);
	pc->c = c;
	pc->st = PGRES_POLLING_WRITING;
}

static int
under_way(const struct pending *pc)
{
	return pc != NULL && pc->c != NULL &&
	    PQstatus(pc->c) != CONNECTION_BAD && pc->st != PGRES_POLLING_OK &&
	    pc->st != PGRES_POLLING_FAILED;
}

/* The socket and events the connection waits on; fd -1 once it is done. */
static struct pollfd
want(const struct pending *pc)
{
	struct pollfd p = { .fd = -1 };

	if (under_way(pc) && (p.fd = PQsocket(pc->c)) >= 0)
		p.events = pc->st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
	return p;
}

void
conn_begin(const struct connopts *o, struct pending *pc)
{
	start(o, pc);
	conn_pump(pc, 0);
}

/* Moves the connection on if the server has answered; waits at most ms. */
void
conn_pump(struct pending *pc, int ms)
{
	struct pollfd p = want(pc);

	if (p.fd >= 0 && poll(&p, 1, ms) > 0)
		pc->st = PQconnectPoll(pc->c);
}

void
conn_read_input(int fd, struct buf *b, const char *what)
{
	conn_read_pumping(NULL, fd, b, what);
}

/*
 * Reads all of fd (the list on stdin), moving the connection under way (pc,
 * if not NULL) on meanwhile. SIGINT and SIGTERM are blocked except inside
 * ppoll, so one that comes while the connection is moved on is seen at the
 * next wait, never lost while the tool waits on for input that may never
 * come.
 */
void
conn_read_pumping(struct pending *pc, int fd, struct buf *b,
    const char *what)
{
	sigset_t block, old;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	b->len = 0;
	buf_add(b, "", 0);
	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, want(pc) };
		char chunk[65536];
		ssize_t n;

		signal_check(b->len ? "reading the list on stdin" : what);
		if (ppoll(p, p[1].fd >= 0 ? 2 : 1, NULL, &old) == -1) {
			if (errno == EINTR)
				continue;
			mig_errx(EXIT_IOERR, "stdin: %s", strerror(errno));
		}
		if (p[1].revents)
			pc->st = PQconnectPoll(pc->c);
		if (p[0].revents == 0)
			continue;
		if ((n = read(fd, chunk, sizeof chunk)) == 0)
			break;
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			mig_errx(EXIT_IOERR, "stdin: read error: %s",
			    strerror(errno));
		}
		buf_add(b, chunk, (size_t)n);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	signal_check("reading the list on stdin");
}

/*
 * mig-current and mig-wait change nothing, so a signal may cancel their
 * query at once; libpq would otherwise wait out a lock they queue behind
 * (it retries an interrupted wait), and Ctrl-C with it. Set by those two
 * tools before they connect, read as each connection is made.
 */
int conn_cancel_on_signal;

/* The signal handler's hook: PQcancel is safe in a signal handler. */
static void
cancel_query(void *cancel)
{
	char errbuf[256];

	PQcancel(cancel, errbuf, sizeof errbuf);
}

static PGconn *
finish(struct pending *pc, enum connfail *fail, char **errmsg)
{
	PGconn *c = pc->c;
	char state[6];

	while (under_way(pc)) {
		struct pollfd p = want(pc);

		if (p.fd < 0)
			break;
		if (poll(&p, 1, 1000) == -1 && errno == EINTR && mig_signal) {
			PQfinish(c);
			interrupted("connecting");
		}
		if (p.revents)
			pc->st = PQconnectPoll(c);
	}
	pc->c = NULL;
	if (PQstatus(c) == CONNECTION_OK) {
		PQsetErrorVerbosity(c, PQERRORS_DEFAULT);
		if (conn_cancel_on_signal)
			PQfreeCancel(signal_hook_set(cancel_query,
			    PQgetCancel(c)));
		*fail = CONN_OK;
		*errmsg = NULL;
		return c;
	}
	*errmsg = take_sqlstate(xstrdup(PQerrorMessage(c)), state);
	if (state[0] == '\0')
		bad_option(*errmsg);
	*fail = classify(c, state, *errmsg);
	return c;
}

PGconn *
conn_open(const struct connopts *o, enum connfail *fail, char **errmsg)
{
	struct pending pc;

	start(o, &pc);
	return finish(&pc, fail, errmsg);
}

/* Finishes the connection under way (pc), or makes one (pc NULL or done). */
PGconn *
conn_must(const struct connopts *o, struct pending *pc)
{
	struct pending here = { .c = NULL };
	enum connfail f;
	char *msg;
	PGconn *c;

	if (pc == NULL || pc->c == NULL) {
		pc = &here;
		start(o, pc);
	}
	c = finish(pc, &f, &msg);
	if (f != CONN_OK) {
		/* The name goes with the connection: keep a copy. */
		char *name = xstrdup(conn_name(c));

		PQfinish(c);
		mig_errx(EXIT_UNAVAILABLE, "cannot connect to %s: %s", name,
		    msg);
	}
	return c;
}


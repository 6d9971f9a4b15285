/*
 * mig: the library shared by the six tools, one section per file, each
 * file using only those above it: util, opts; name, split, mfile, list
 * (the files); conn, pq, hist, run (the server).
 */
#ifndef MIG_H
#define MIG_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libpq-fe.h>

#define MIG_VERSION "0.1.0"

/* sysexits(3) codes, named here so every tool agrees on them. */
enum {
	EXIT_SQL = 1,
	EXIT_USAGE = 64,
	EXIT_DATA = 65,
	EXIT_NOINPUT = 66,
	EXIT_UNAVAILABLE = 69,
	EXIT_SOFTWARE = 70,	/* a bug in mig */
	EXIT_OSERR = 71,	/* out of memory, cannot start a process */
	EXIT_CANTCREAT = 73,
	EXIT_IOERR = 74,	/* writing stdout or reading a file failed */
	EXIT_TEMPFAIL = 75,
	EXIT_NOPERM = 77,	/* no right to mig's own bookkeeping */
	EXIT_SIGINT = 130,
	EXIT_SIGTERM = 143,
};

/* util.c: memory, buffers, time, messages and signals. */
void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xreallocarray(void *, size_t, size_t);
char *xstrdup(const char *);
char *xstrndup(const char *, size_t);
char *xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));

struct buf {
	char *s;
	size_t len, cap;
};
void buf_add(struct buf *, const char *, size_t);
void buf_addstr(struct buf *, const char *);
void buf_printf(struct buf *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
void buf_free(struct buf *);

int read_file(const char *path, struct buf *);
long long now_ms(void);
void sleep_ms(long);
void print_version(void) __attribute__((noreturn));
void mig_exit(int) __attribute__((noreturn));
void list_stdin_check(const char *tool);
/*
 * Messages on stderr, "TOOL: ...", with any password masked; with
 * MIG_LOG_FORMAT=json, one JSON object per line instead (log_init reads
 * it, first thing in every tool).
 */
void log_init(void);
bool log_json(void);
enum loglevel { MIG_INFO, MIG_NOTICE, MIG_WARNING, MIG_ERROR };
/* What a message is about, as JSON keys; zero for "not given". */
struct logf {
	const char *version, *name, *path, *sqlstate;
	int line, col;
	long long duration_ms;
	bool timed;		/* duration_ms is given */
	bool bare;		/* no "TOOL: " before the text line */
	struct buf more;	/* text: the lines after it ("DETAIL: ...") */
	struct buf detail, hint, context;	/* json: the same, by key */
};
void logf_more(struct logf *, const char *label, const char *text);
void mig_log(enum loglevel, struct logf *, const char *, ...)
    __attribute__((format(printf, 3, 4)));
void usage_print(int code, const char *, ...)
    __attribute__((format(printf, 2, 3)));
char *mask_secrets(const char *);
char *fold_lines(const char *);
void mig_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void mig_errx(int, const char *, ...)
    __attribute__((noreturn, format(printf, 2, 3)));

/* Set by SIGINT/SIGTERM; the running statement is cancelled on the server. */
extern volatile sig_atomic_t mig_signal;
void catch_signals(void);
void *signal_hook_set(void (*)(void *), void *);
int exit_code_for_signal(void);
void signal_check(const char *what);
int interrupted_code(const char *what);
void interrupted(const char *what) __attribute__((noreturn));

/* opts.c: the options several tools share. */
long parse_number(const char *opt, const char *arg, long min, long max);
uint64_t version_arg(const char *opt, const char *arg);

/* --help, -?, --version, -V: the same in every tool. */
#define STD_LONGOPTS \
	{ "help", no_argument, NULL, 'H' }, \
	{ "version", no_argument, NULL, 'V' }, \
	{ NULL, 0, NULL, 0 }
#define STD_SHORTOPTS "?V"
#define STD_HELP \
	"  -?, --help                  show this help, then exit\n" \
	"  -V, --version               show the version, then exit\n"
int std_option(int ch, char **argv, void (*usage)(int));
int help_option(char **argv);

/* -d, -h, -p, -U, --table: where to connect, and the history table. */
struct connopts {
	const char *dbname, *host, *port, *user;
	const char *table;
};
#define CONN_LONGOPTS \
	{ "dbname", required_argument, NULL, 'd' }, \
	{ "host", required_argument, NULL, 'h' }, \
	{ "port", required_argument, NULL, 'p' }, \
	{ "username", required_argument, NULL, 'U' }, \
	{ "table", required_argument, NULL, 'T' }
#define CONN_SHORTOPTS "d:h:p:U:"
#define CONN_USAGE "[-d DBNAME|URL] [-h HOST] [-p PORT] [-U USER] [--table [SCHEMA.]TABLE]"
/* --help: one line per option, after each tool's own. */
#define CONN_HELP \
	"  -d, --dbname=DBNAME|URL     database name, or a connection string or URI\n" \
	"  -h, --host=HOST             server host or socket directory\n" \
	"  -p, --port=PORT             server port\n" \
	"  -U, --username=USER         user name\n" \
	"      --table=[SCHEMA.]TABLE  history table (default $MIG_TABLE, mig_history)\n"
int conn_option(struct connopts *, int ch, const char *arg);

/* mig-apply's and mig-revert's lock and timeout options, and -n, -q. */
struct runopts {
	long lock_wait;
	long lock_timeout;
	long lock_retries;
	long statement_timeout;
	bool quiet;
	bool dry_run;
};
#define RUN_LONGOPTS \
	{ "lock-wait", required_argument, NULL, 'W' }, \
	{ "lock-timeout", required_argument, NULL, 'L' }, \
	{ "lock-retries", required_argument, NULL, 'R' }, \
	{ "statement-timeout", required_argument, NULL, 'S' }
#define RUN_USAGE "[--lock-wait S] [--lock-timeout MS] [--lock-retries N]\n" \
	"       [--statement-timeout MS]"
#define RUN_HELP \
	"      --lock-wait=S           wait at most S s for the migration lock (300)\n" \
	"      --lock-timeout=MS       lock_timeout of each migration (5000; 0 off)\n" \
	"      --lock-retries=N        retries after a lock timeout (3)\n" \
	"      --statement-timeout=MS  statement_timeout of each migration (0, off)\n"
void runopts_init(struct runopts *);
int run_option(struct runopts *, int ch, const char *arg);

/* name.c: what a migration file name says. */
enum migkind { MIG_SINGLE, MIG_UP, MIG_DOWN };
struct migname {
	char *version;		/* the digits, as written */
	uint64_t vnum;		/* their value: a version's identity */
	char *name;
	size_t vlen, nlen;	/* their lengths in the file name */
	enum migkind kind;
};
/* 1 and fills *n for a migration file name, 0 for a name that is not one
 * (*why says what is wrong), -1 for a file that is not SQL at all. */
int migname_parse(const char *base, struct migname *n, const char **why);
/* The same without copies, for a scan of 100,000 names: version and name
 * stay NULL; they are base[0, vlen) and the nlen bytes after its '_'. */
int migname_split(const char *base, size_t len, struct migname *n,
    const char **why);
void migname_free(struct migname *);
const char *base_name(const char *path);
int vcmp(uint64_t, uint64_t);

/* list.c: the list format. */
struct mig {
	char *version;
	uint64_t vnum;
	char *name;
	char *path;		/* the file listed: the .up.sql of a pair */
	char *down_path;	/* the .down.sql of a pair, else NULL */
	size_t lineno;		/* its line in the list read, 0 if from a scan */
	enum migkind kind;	/* while scanning a directory */
};
struct miglist {
	struct mig *v;		/* its strings are the list's, freed with it */
	size_t n, cap;
};
int list_line_parse(char *line, struct migname *, char **path, char **err);
struct mig *list_add(struct miglist *);
void list_sort(struct miglist *);
void list_read(struct buf *, const char *what, struct miglist *);
void list_print(FILE *, const struct mig *, const char *path);
void list_free(struct miglist *);
const struct mig *list_find(const struct miglist *, uint64_t);

/* split.c: statements of a section, covering it without gaps. */
enum copydir { COPY_NONE, COPY_FROM_STDIN, COPY_TO_STDOUT };
struct stmt {
	size_t off, len;	/* span in the section: ';' and COPY data too */
	size_t start;		/* offset of its first token, past comments */
	size_t sqlend;		/* end of the SQL to send, before COPY data */
	size_t data, datalen;	/* COPY ... FROM STDIN: its rows, no "\." */
	size_t meta_at;		/* where its psql meta-command is */
	enum copydir copy;
	/* bool, not int: a 50 MB file of INSERTs has 463,000 of these */
	bool copy_ended;	/* the rows end with a "\." line */
	bool meta;		/* holds a psql meta-command line */
	bool empty;		/* only white space and comments */
	bool block;		/* a goose StatementBegin/End block */
};
/* goose: StatementBegin/End make a block (else they are plain comments). */
size_t sql_split(const char *sql, size_t len, int goose, struct stmt **out);

/* mfile.c: migration files. */
struct section {
	char *sql;		/* the text after the marker, LF line ends */
	size_t len;
	const char *path;	/* the file it is in */
	int line;		/* the file's line of sql[0] */
	bool notx;		/* transaction:false */
	bool present;
};
struct migfile {
	struct section up, down;
	char checksum[65];	/* hex SHA-256 of the up section */
	char *text[2];		/* the file(s) read, which the sections are in */
};
int migfile_load(const struct mig *, struct migfile *);
char *migfile_parse(const char *path, char *text, size_t len,
    enum migkind, struct migfile *);
void migfile_free(struct migfile *);
void checksum_hex(const char *, size_t, char out[65]);
size_t section_split(const struct section *, int in_tx, struct stmt **,
    int *wrapped);
/* The up SQL the history keeps of a big section; NULL: all of it. */
char *section_head(const struct section *);
/* The down SQL as stored: its options survive a revert from history. */
char *section_stored(const struct section *);
void section_from_stored(struct section *, char *sql, const char *path);

/* conn.c: connecting, and naming the server without its password. */
/* Why a connection failed, which tells mig-wait how soon to try again. */
enum connfail { CONN_OK, CONN_RETRY, CONN_STARTING, CONN_NOSERVER, CONN_FATAL };
void conn_check(const struct connopts *);
/* Set by the tools that only read: a signal cancels what the server runs. */
extern int conn_cancel_on_signal;
PGconn *conn_open(const struct connopts *, enum connfail *, char **errmsg);
/*
 * A connection under way. The tools start it before they read their input,
 * and pump it while they read and hash the files: the server forks and
 * authenticates meanwhile, which is most of what a run with nothing to do
 * waits for.
 */
struct pending {
	PGconn *c;		/* NULL: none under way */
	PostgresPollingStatusType st;
};
void conn_begin(const struct connopts *, struct pending *);
void conn_pump(struct pending *, int ms);
void conn_read_input(int fd, struct buf *, const char *what);
void conn_read_pumping(struct pending *, int fd, struct buf *,
    const char *what);
PGconn *conn_must(const struct connopts *, struct pending *);
const char *conn_name(PGconn *);

/* pq.c: sending queries and reading their results. */
struct pqwait {
	const char *label;	/* for progress lines and the title; or NULL */
	const char *version, *name;	/* the migration's, for json records */
	long long start, next;	/* ms: since when, and the next line */
	size_t stmt, total;	/* transaction:false: the statement running */
	bool cancelled;		/* sent a cancel, or never to send one */
	bool quiet;
};
PGresult *pq_next_result(PGconn *, struct pqwait *);
void pq_title(const struct pqwait *);
size_t pq_collect(PGconn *, struct pqwait *, const char *path,
    const char *data, size_t len, PGresult **err);
void pq_unexpected(PGconn *, const char *path, ExecStatusType)
    __attribute__((noreturn));
PGresult *exec_params(PGconn *, const char *sql, int n,
    const char *const *params);
void exec_ok(PGconn *, const char *sql, int n, const char *const *params);
void exec_simple(PGconn *, const char *sql);
void pq_fail(PGconn *, const PGresult *, const char *what)
    __attribute__((noreturn));

/* hist.c: the history table and the advisory lock. */
struct table {
	char *schema, *name;	/* lower case, unquoted */
	char *qual;		/* quoted, schema-qualified */
	char *lockkey;
	bool exists, schema_exists;
};
struct hrow {
	long long id;
	char *version;
	uint64_t vnum;
	char *name, *path, *checksum, *applied_at;
	char *up_sql, *down_sql;	/* only where asked for */
	int partial, statements_done;
	char *line;		/* the COPY row the strings point into */
};
struct history {
	struct hrow *v;		/* in the order applied */
	struct hrow **byv;	/* by version, for lookups */
	size_t n;
	PGresult *res;		/* partial rows' up_sql */
};
void table_parse(const char *, struct table *);
void table_resolve(PGconn *, struct table *, const char *settings);
void table_create(PGconn *, struct table *);
void table_free(struct table *);
#define HIST_SQL	1	/* every row's up_sql and down_sql */
#define HIST_TIME	2	/* applied_at, as 2026-01-02T03:04:05Z */
void history_read(PGconn *, const struct table *, struct history *,
    int what);
void history_free(struct history *);
struct hrow *history_find(const struct history *, uint64_t);
void lock_take(PGconn *, const struct table *, long wait_s);

/* guard.c: servers mig-apply and mig-revert refuse. Exits 69 for a
 * read-only server or a pooler in transaction mode; call it once connected,
 * before the migration lock. */
void guard_session(PGconn *);

/* run.c: running SQL with progress, cancellation and error positions. */
char *run_settings(const struct runopts *);
void files_load(const struct miglist *, char (*sums)[65], bool *notx,
    struct migfile *kept, struct pending *);
PGconn *run_connect(const struct connopts *, const struct runopts *,
    struct table *, struct pending *);

/*
 * The outcome of running a section; on failure the error is printed.
 * RUN_RETRY: a batch transaction met lock_timeout, was rolled back and
 * should be run again from its start.
 */
enum outcome { RUN_DONE, RUN_FAILED, RUN_INTERRUPTED, RUN_RETRY };
struct step {
	const char *label;	/* "0002_add_index", for progress lines */
	const char *version, *name;	/* its parts, for json records */
	const struct section *sec;
	const char *bookkeeping;	/* SQL run in the same transaction */
	int nparams;
	const char *const *params;
	bool single;		/* a batch transaction is already open */
	int tries;		/* lock_timeout retries the batch had so far */
	size_t done, total;	/* run_notx: statements done, and in all */
};
enum outcome run_tx(PGconn *, const struct runopts *, const struct step *);
enum outcome run_notx(PGconn *, const struct runopts *, struct step *,
    size_t from, const char *progress_sql, const char *rowid);

#endif

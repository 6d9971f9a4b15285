/*
 * Migration files: one file with dbmate "-- migrate:up/down" markers or goose
 * "-- +goose Up/Down" annotations, or a golang-migrate .up.sql/.down.sql
 * pair whose files may open with a marker carrying options.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "mig.h"

/* M_BAD: a line that looks like a marker and is none; *err says why. */
enum marker { M_NONE, M_UP, M_DOWN, M_NOTX, M_STMT, M_BAD };

struct line {
	const char *s;
	size_t len;
	int no;
};

static const char *
skip_ws(const char *s, const char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	return s;
}

static int
word_is(const char **s, const char *end, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(end - *s) < n || strncasecmp(*s, w, n) != 0)
		return 0;
	if (*s + n < end && *(*s + n) != ' ' && *(*s + n) != '\t')
		return 0;
	*s += n;
	return 1;
}

/* The message of a malformed file, allocated: the caller frees it. */
static char *bad(const char *, ...) __attribute__((format(printf, 1, 2)));

static char *
bad(const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	return msg != NULL ? msg : xstrdup("out of memory");
}

/* What a line marks, and its transaction:false option. */
static enum marker
marker(const char *path, const struct line *l, int *notx, char **err)
{
	const char *s = l->s, *end = l->s + l->len;
	enum marker m;

	*notx = 0;
	if (l->len < 2 || s[0] != '-' || s[1] != '-')
		return M_NONE;
	s = skip_ws(s + 2, end);
	if ((size_t)(end - s) >= 6 && strncasecmp(s, "+goose", 6) == 0) {
		s = skip_ws(s + 6, end);
		if (word_is(&s, end, "up"))
			m = M_UP;
		else if (word_is(&s, end, "down"))
			m = M_DOWN;
		else if (word_is(&s, end, "statementbegin") ||
		    word_is(&s, end, "statementend"))
			m = M_STMT;
		else if (word_is(&s, end, "no") && (s = skip_ws(s, end),
		    word_is(&s, end, "transaction")))
			m = M_NOTX;
		else {
			*err = bad("%s:%d: unknown goose annotation "
			    "'%.*s' (known: Up, Down, NO TRANSACTION, "
			    "StatementBegin, StatementEnd)", path, l->no,
			    (int)l->len, l->s);
			return M_BAD;
		}
		if (skip_ws(s, end) != end) {
			*err = bad("%s:%d: unexpected text after the "
			    "goose annotation", path, l->no);
			return M_BAD;
		}
		return m;
	}
	if ((size_t)(end - s) < 8 || strncmp(s, "migrate:", 8) != 0)
		return M_NONE;
	s += 8;
	if (word_is(&s, end, "up"))
		m = M_UP;
	else if (word_is(&s, end, "down"))
		m = M_DOWN;
	else {
		*err = bad("%s:%d: unknown marker '%.*s' (use "
		    "'-- migrate:up' or '-- migrate:down')", path, l->no,
		    (int)l->len, l->s);
		return M_BAD;
	}
	for (s = skip_ws(s, end); s < end; s = skip_ws(s, end)) {
		const char *o = s;

		while (s < end && *s != ' ' && *s != '\t')
			s++;
		if (s - o == 17 && strncmp(o, "transaction:false", 17) == 0)
			*notx = 1;
		else if (s - o == 16 && strncmp(o, "transaction:true", 16) == 0)
			*notx = 0;
		else {
			*err = bad("%s:%d: unknown option '%.*s' "
			    "(known: transaction:false)", path, l->no,
			    (int)(s - o), o);
			return M_BAD;
		}
	}
	return m;
}

/*
 * Only white space and comments on the line, "--" or "/" "*" ones; *nest
 * carries an open block comment over to the next line.
 */
static int
only_comments(const struct line *l, int *nest)
{
	const char *s = l->s, *end = l->s + l->len;

	while (s < end) {
		int two = s + 1 < end;

		if (two && s[0] == '/' && s[1] == '*') {
			(*nest)++;
			s += 2;
		} else if (*nest > 0) {
			if (two && s[0] == '*' && s[1] == '/') {
				(*nest)--;
				s++;
			}
			s++;
		} else if (*s == ' ' || *s == '\t')
			s++;
		else
			return two && s[0] == '-' && s[1] == '-';
	}
	return 1;
}

/* Reads a file with a UTF-8 BOM dropped and CRLF read as LF. */
static char *
load_text(const char *path, size_t *lenp)
{
	struct buf b = { 0 };
	size_t i, o = 0, start = 0;

	if (read_file(path, &b) == -1)
		mig_errx(EXIT_NOINPUT, "%s: %s", path, strerror(errno));
	if (b.len >= 3 && memcmp(b.s, "\xef\xbb\xbf", 3) == 0)
		start = 3;
	for (i = start; i < b.len; i++)
		if (!(b.s[i] == '\r' && i + 1 < b.len && b.s[i + 1] == '\n'))
			b.s[o++] = b.s[i];
	b.s[o] = '\0';
	if (memchr(b.s, '\0', o) != NULL)
		mig_errx(EXIT_DATA, "%s: holds a NUL byte; not a text file",
		    path);
	*lenp = o;
	return b.s;
}

static int
next_line(const char *text, size_t len, size_t *pos, struct line *l)
{
	const char *nl;

	if (*pos >= len)
		return 0;
	l->s = text + *pos;
	nl = memchr(l->s, '\n', len - *pos);
	l->len = nl ? (size_t)(nl - l->s) : len - *pos;
	l->no++;
	*pos += l->len + (nl != NULL);
	return 1;
}

/*
 * The section points into the text, not into a copy: a 50 MB data file is
 * held once. It ends where the next marker line began, whose first byte
 * becomes its NUL; that line has been read already.
 */
static void
set_section(struct section *sec, const char *path, char *text,
    size_t from, size_t to, int line, int notx)
{
	text[to] = '\0';
	sec->sql = text + from;
	sec->len = to - from;
	sec->path = path;
	sec->line = line;
	sec->notx = notx;
	sec->present = true;
}

static char *
parse_single(const char *path, char *text, size_t len,
    struct migfile *f)
{
	char *err = NULL;
	struct section *cur = NULL;
	struct line l = { 0 };
	size_t pos = 0, from = 0;
	int line_up = 0, line_down = 0, notx_all = 0, curnotx = 0, curline = 0;
	int nest = 0;

	for (;;) {
		size_t at = pos;
		int more = next_line(text, len, &pos, &l), notx = 0;
		enum marker m = more ? marker(path, &l, &notx, &err) : M_NONE;

		if (m == M_BAD)
			return err;
		if (more && m == M_NOTX) {
			notx_all = 1;
			continue;
		}
		if (more && m != M_UP && m != M_DOWN) {
			if (cur == NULL && !only_comments(&l, &nest))
				return bad("%s:%d: SQL before the first "
				    "marker; start the file with "
				    "'-- migrate:up'", path, l.no);
			continue;
		}
		if (cur != NULL)
			set_section(cur, path, text, from, at, curline,
			    curnotx);
		if (!more)
			break;
		if (m == M_UP && line_up)
			return bad("%s:%d: a second up marker (the "
			    "first is on line %d)", path, l.no, line_up);
		if (m == M_DOWN && line_down)
			return bad("%s:%d: a second down marker (the "
			    "first is on line %d)", path, l.no, line_down);
		*(m == M_UP ? &line_up : &line_down) = l.no;
		cur = m == M_UP ? &f->up : &f->down;
		curnotx = notx;
		curline = l.no + 1;
		from = pos;
	}
	if (!line_up)
		return bad("%s:1: no up section; add a "
		    "'-- migrate:up' line before its SQL", path);
	f->up.notx |= notx_all;
	f->down.notx |= notx_all;
	return NULL;
}

/* One file of a pair: optional marker lines on top, then SQL. */
static char *
parse_half(const char *path, char *text, size_t len, enum marker want,
    struct section *sec)
{
	char *err = NULL;
	struct line l = { 0 };
	size_t pos = 0, from = 0;
	int notx = 0, header = 1, line = 1, nest = 0;

	while (next_line(text, len, &pos, &l)) {
		int o;
		enum marker m = marker(path, &l, &o, &err);

		if (m == M_BAD)
			return err;
		if (m == M_STMT || (m == M_NONE && header &&
		    only_comments(&l, &nest)))
			continue;
		if (m == M_NONE) {
			header = 0;
			continue;
		}
		if (!header || (m != want && m != M_NOTX))
			return bad("%s:%d: %s", path, l.no, header ?
			    "this marker belongs in the other file of the pair" :
			    "a marker after SQL; in a pair, markers may only "
			    "open the file");
		notx |= o || m == M_NOTX;
		from = pos;
		line = l.no + 1;
	}
	set_section(sec, path, text, from, len, line, notx);
	return NULL;
}

/* The file line of a section's offset. */
static int
line_of(const struct section *sec, size_t off)
{
	int line = sec->line;

	for (size_t i = 0; i < off && i < sec->len; i++)
		line += sec->sql[i] == '\n';
	return line;
}

/* The next word of a statement, past white space: *w and its length. */
static size_t
next_word(const char **p, const char *end, const char **w)
{
	const char *s = *p;

	while (s < end && strchr(" \t\n\r\f\v", *s) != NULL)
		s++;
	*w = s;
	while (s < end && (isalnum((unsigned char)*s) || *s == '_'))
		s++;
	*p = s;
	return (size_t)(s - *w);
}

static int
is_word(const char *w, size_t n, const char *word)
{
	return n == strlen(word) && strncasecmp(w, word, n) == 0;
}

/* What transaction control a statement is, if any. */
enum txctl { TX_NONE, TX_BEGIN, TX_COMMIT, TX_OTHER };

static enum txctl
txctl(const char *sql, const struct stmt *st)
{
	const char *p = sql + st->start, *end = sql + st->sqlend, *w;
	size_t n = next_word(&p, end, &w);

	if (is_word(w, n, "begin"))
		return TX_BEGIN;
	if (is_word(w, n, "end"))
		return TX_COMMIT;
	if (is_word(w, n, "abort"))
		return TX_OTHER;
	if (is_word(w, n, "start") || is_word(w, n, "prepare")) {
		n = next_word(&p, end, &w);
		if (!is_word(w, n, "transaction"))
			return TX_NONE;
		return sql[st->start] == 's' || sql[st->start] == 'S' ?
		    TX_BEGIN : TX_OTHER;
	}
	if (is_word(w, n, "commit")) {
		n = next_word(&p, end, &w);
		return is_word(w, n, "prepared") ? TX_OTHER : TX_COMMIT;
	}
	if (is_word(w, n, "rollback")) {
		n = next_word(&p, end, &w);
		if (is_word(w, n, "work") || is_word(w, n, "transaction"))
			n = next_word(&p, end, &w);
		return is_word(w, n, "to") ? TX_NONE : TX_OTHER;
	}
	return TX_NONE;
}

/* The statement's first words, for a message. */
static char *
stmt_head(const char *sql, const struct stmt *st)
{
	size_t n = st->sqlend - st->start;
	char *h;

	if (n > 0 && sql[st->start + n - 1] == ';')
		n--;
	h = xstrndup(sql + st->start, n > 40 ? 40 : n);
	h[strcspn(h, "\n")] = '\0';
	return h;
}

/*
 * A section's statements, as they run. A transactional section wrapped
 * whole in BEGIN; ... COMMIT; (golang-migrate's habit) runs as one
 * migration whose transaction is that pair: its COMMIT is left out, so the
 * history row joins the transaction, and its BEGIN too when a batch
 * transaction is open already. *wrapped tells whether the BEGIN is there.
 */
size_t
section_split(const struct section *sec, int in_tx, struct stmt **out,
    int *wrapped)
{
	size_t n = sql_split(sec->sql, sec->len, 1, out), first = n, last = n;
	struct stmt *st = *out;

	*wrapped = 0;
	if (sec->notx)
		return n;
	for (size_t i = 0; i < n; i++)
		if (!st[i].empty) {
			if (first == n)
				first = i;
			last = i;
		}
	if (first < last && !st[first].block && !st[last].block &&
	    txctl(sec->sql, &st[first]) == TX_BEGIN &&
	    txctl(sec->sql, &st[last]) == TX_COMMIT) {
		st[last].empty = 1;
		if (in_tx)
			st[first].empty = 1;
		else
			*wrapped = 1;
	}
	return n;
}

/*
 * What a section may not hold, found before anything runs: a psql
 * meta-command, COPY TO STDOUT, COPY data with no end, and in a
 * transactional section any transaction control but a whole-section
 * BEGIN ... COMMIT. NULL, or the message.
 */
static char *
section_check(const struct section *sec)
{
	struct stmt *st, *in;
	size_t n, k;
	int wrapped;
	char *why = NULL, *h;

	n = section_split(sec, 0, &st, &wrapped);
	for (size_t i = 0; i < n && why == NULL; i++) {
		const struct stmt *s = &st[i];

		if (s->meta) {
			size_t len = strcspn(sec->sql + s->meta_at, " \t\n");

			why = xasprintf("%s:%d: '%.*s' is a psql meta-command; "
			    "mig runs SQL, not psql scripts: write it as SQL",
			    sec->path, line_of(sec, s->meta_at), (int)len,
			    sec->sql + s->meta_at);
		} else if (s->copy == COPY_TO_STDOUT)
			why = xasprintf("%s:%d: COPY ... TO STDOUT has nowhere "
			    "to send its rows in a migration; remove it",
			    sec->path, line_of(sec, s->start));
		else if (s->copy == COPY_FROM_STDIN && !s->copy_ended)
			why = xasprintf("%s:%d: the rows of this COPY ... FROM "
			    "STDIN have no closing '\\.' line; end them with one",
			    sec->path, line_of(sec, s->start));
		if (why != NULL || sec->notx || s->empty)
			continue;
		/* The BEGIN of a wrapping pair is the migration's own. */
		if (wrapped) {
			wrapped = 0;
			continue;
		}
		/* A goose block may hold several statements: each counts. */
		k = s->block ? sql_split(sec->sql + s->off, s->len, 0, &in) : 1;
		for (size_t j = 0; j < k && why == NULL; j++) {
			struct stmt one = s->block ? in[j] : *s;

			if (s->block) {
				one.start += s->off;
				one.sqlend += s->off;
				if (one.copy != COPY_NONE) {
					why = xasprintf("%s:%d: COPY inside a "
					    "StatementBegin/StatementEnd block; "
					    "move it out of the block",
					    sec->path, line_of(sec, one.start));
					break;
				}
			}
			if (one.empty || txctl(sec->sql, &one) == TX_NONE)
				continue;
			h = stmt_head(sec->sql, &one);
			why = xasprintf("%s:%d: '%s' in a transactional "
			    "migration: mig runs each migration in a transaction "
			    "of its own; remove it, or mark the section "
			    "transaction:false to run it as written", sec->path,
			    line_of(sec, one.start), h);
			free(h);
		}
		if (s->block)
			free(in);
	}
	free(st);
	return why;
}

void
checksum_hex(const char *s, size_t n, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	static EVP_MD *sha256;
	unsigned char md[32];

	/* Fetched once: an implicit fetch per file would look it up anew. */
	if (sha256 == NULL && (sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) ==
	    NULL)
		mig_errx(EXIT_OSERR, "SHA-256 is not available from OpenSSL");
	if (!EVP_Digest(s, n, md, NULL, sha256, NULL))
		mig_errx(EXIT_OSERR, "SHA-256 failed");
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

/*
 * Parses one file's text into f: NULL, or the message of what is wrong
 * (the caller frees it, and f, which may hold what was parsed before).
 * The sections point into text, which must be NUL-terminated at len and
 * outlive them; a NUL is written where each section ends.
 */
char *
migfile_parse(const char *path, char *text, size_t len,
    enum migkind kind, struct migfile *f)
{
	if (kind == MIG_SINGLE)
		return parse_single(path, text, len, f);
	if (kind == MIG_UP)
		return parse_half(path, text, len, M_UP, &f->up);
	return parse_half(path, text, len, M_DOWN, &f->down);
}

static void
load_part(const char *path, enum migkind kind, struct migfile *f)
{
	size_t len;
	char *text = load_text(path, &len), *err;

	f->text[kind == MIG_DOWN] = text;
	err = migfile_parse(path, text, len, kind, f);
	if (err != NULL) {
		migfile_free(f);
		mig_errx(EXIT_DATA, "%s", err);
	}
}

int
migfile_load(const struct mig *m, struct migfile *f)
{
	size_t n = strlen(m->path);

	memset(f, 0, sizeof *f);
	if (m->down_path == NULL && (n < 7 ||
	    strcmp(m->path + n - 7, ".up.sql") != 0))
		load_part(m->path, MIG_SINGLE, f);
	else
		load_part(m->path, MIG_UP, f);
	if (m->down_path != NULL)
		load_part(m->down_path, MIG_DOWN, f);
	for (int i = 0; i < 2; i++) {
		const struct section *sec = i == 0 ? &f->up : &f->down;
		char *why = sec->present ? section_check(sec) : NULL;

		if (why != NULL) {
			migfile_free(f);
			mig_errx(EXIT_DATA, "%s", why);
		}
	}
	checksum_hex(f->up.sql, f->up.len, f->checksum);
	return 0;
}

void
migfile_free(struct migfile *f)
{
	free(f->text[0]);
	free(f->text[1]);
	memset(f, 0, sizeof *f);
}

/*
 * What the history keeps of an up section: all of it up to HEAD_FROM, and
 * always for transaction:false, whose resume compares the statements done.
 * A bigger one, a data load, would double the write and the table: its
 * first HEAD_LEN, cut at a line end, then a comment saying how much was
 * left out. The checksum covers the whole section all the same. NULL: it
 * is kept whole.
 */
#define HEAD_FROM (1024 * 1024)
#define HEAD_LEN (64 * 1024)

char *
section_head(const struct section *s)
{
	size_t n = HEAD_LEN;

	if (s->notx || s->len <= HEAD_FROM)
		return NULL;
	while (n > 0 && s->sql[n - 1] != '\n')
		n--;
	/* One long line: cut it, but never inside a UTF-8 character. */
	if (n == 0)
		for (n = HEAD_LEN; n > 0 &&
		    ((unsigned char)s->sql[n] & 0xc0) == 0x80; n--)
			;
	return xasprintf("%.*s%s-- mig: %zu more bytes of this section are "
	    "not kept in the history; its checksum covers all %zu\n", (int)n,
	    s->sql, s->sql[n - 1] == '\n' ? "" : "\n", s->len - n, s->len);
}

#define STORED_NOTX "-- migrate:down transaction:false\n"

char *
section_stored(const struct section *s)
{
	return xasprintf("%s%s", s->notx ? STORED_NOTX : "", s->sql);
}

void
section_from_stored(struct section *s, char *sql, const char *path)
{
	size_t k = strlen(STORED_NOTX);

	memset(s, 0, sizeof *s);
	s->notx = strncmp(sql, STORED_NOTX, k) == 0;
	s->sql = xstrdup(sql + (s->notx ? k : 0));
	s->len = strlen(s->sql);
	s->line = s->notx ? 2 : 1;
	s->path = path;
	s->present = true;
}

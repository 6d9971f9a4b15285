/*
 * Migration files: one file with dbmate "-- migrate:up/down" markers or goose
 * "-- +goose Up/Down" annotations, or a golang-migrate .up.sql/.down.sql
 * pair whose files may open with a marker carrying options.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "mig.h"

enum marker { M_NONE, M_UP, M_DOWN, M_NOTX, M_STMT };

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

/* What a line marks, and its transaction:false option. */
/*
 * A parse error unwinds to migfile_parse, so a caller that must go on (the
 * fuzzer) gets the message back and every section built so far is freed.
 */
static jmp_buf *unwind;
static char *parse_error;

static void bad(const char *, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void
bad(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&parse_error, fmt, ap) < 0)
		parse_error = NULL;
	va_end(ap);
	longjmp(*unwind, 1);
}

static enum marker
marker(const char *path, const struct line *l, int *notx)
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
		else
			bad("%s:%d: unknown goose annotation "
			    "'%.*s' (known: Up, Down, NO TRANSACTION, "
			    "StatementBegin, StatementEnd)", path, l->no,
			    (int)l->len, l->s);
		if (skip_ws(s, end) != end)
			bad("%s:%d: unexpected text after the "
			    "goose annotation", path, l->no);
		return m;
	}
	if ((size_t)(end - s) < 8 || strncmp(s, "migrate:", 8) != 0)
		return M_NONE;
	s += 8;
	if (word_is(&s, end, "up"))
		m = M_UP;
	else if (word_is(&s, end, "down"))
		m = M_DOWN;
	else
		bad("%s:%d: unknown marker '%.*s' (use "
		    "'-- migrate:up' or '-- migrate:down')", path, l->no,
		    (int)l->len, l->s);
	for (s = skip_ws(s, end); s < end; s = skip_ws(s, end)) {
		const char *o = s;

		while (s < end && *s != ' ' && *s != '\t')
			s++;
		if (s - o == 17 && strncmp(o, "transaction:false", 17) == 0)
			*notx = 1;
		else if (s - o == 16 && strncmp(o, "transaction:true", 16) == 0)
			*notx = 0;
		else
			bad("%s:%d: unknown option '%.*s' "
			    "(known: transaction:false)", path, l->no,
			    (int)(s - o), o);
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

static void
set_section(struct section *sec, const char *path, const char *text,
    size_t from, size_t to, int line, int notx)
{
	sec->sql = xstrndup(text + from, to - from);
	sec->len = to - from;
	sec->path = path;
	sec->line = line;
	sec->notx = notx;
	sec->present = 1;
}

static void
parse_single(const char *path, const char *text, size_t len,
    struct migfile *f)
{
	struct section *cur = NULL;
	struct line l = { 0 };
	size_t pos = 0, from = 0;
	int line_up = 0, line_down = 0, notx_all = 0, curnotx = 0, curline = 0;
	int nest = 0;

	for (;;) {
		size_t at = pos;
		int more = next_line(text, len, &pos, &l), notx = 0;
		enum marker m = more ? marker(path, &l, &notx) : M_NONE;

		if (more && m == M_NOTX) {
			notx_all = 1;
			continue;
		}
		if (more && m != M_UP && m != M_DOWN) {
			if (cur == NULL && !only_comments(&l, &nest))
				bad("%s:%d: SQL before the first "
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
			bad("%s:%d: a second up marker (the "
			    "first is on line %d)", path, l.no, line_up);
		if (m == M_DOWN && line_down)
			bad("%s:%d: a second down marker (the "
			    "first is on line %d)", path, l.no, line_down);
		*(m == M_UP ? &line_up : &line_down) = l.no;
		cur = m == M_UP ? &f->up : &f->down;
		curnotx = notx;
		curline = l.no + 1;
		from = pos;
	}
	if (!line_up)
		bad("%s:1: no up section; add a "
		    "'-- migrate:up' line before its SQL", path);
	f->up.notx |= notx_all;
	f->down.notx |= notx_all;
}

/* One file of a pair: optional marker lines on top, then SQL. */
static void
parse_half(const char *path, const char *text, size_t len, enum marker want,
    struct section *sec)
{
	struct line l = { 0 };
	size_t pos = 0, from = 0;
	int notx = 0, header = 1, line = 1, nest = 0;

	while (next_line(text, len, &pos, &l)) {
		int o;
		enum marker m = marker(path, &l, &o);

		if (m == M_STMT || (m == M_NONE && header &&
		    only_comments(&l, &nest)))
			continue;
		if (m == M_NONE) {
			header = 0;
			continue;
		}
		if (!header || (m != want && m != M_NOTX))
			bad("%s:%d: %s", path, l.no, header ?
			    "this marker belongs in the other file of the pair" :
			    "a marker after SQL; in a pair, markers may only "
			    "open the file");
		notx |= o || m == M_NOTX;
		from = pos;
		line = l.no + 1;
	}
	set_section(sec, path, text, from, len, line, notx);
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
		mig_errx(EXIT_UNAVAILABLE, "SHA-256 is not available from OpenSSL");
	if (!EVP_Digest(s, n, md, NULL, sha256, NULL))
		mig_errx(EXIT_UNAVAILABLE, "SHA-256 failed");
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

char *
migfile_parse(const char *path, const char *text, size_t len,
    enum migkind kind, struct migfile *f)
{
	jmp_buf jb;

	if (setjmp(jb)) {
		unwind = NULL;
		return parse_error ? parse_error : xstrdup("out of memory");
	}
	unwind = &jb;
	if (kind == MIG_SINGLE)
		parse_single(path, text, len, f);
	else if (kind == MIG_UP)
		parse_half(path, text, len, M_UP, &f->up);
	else
		parse_half(path, text, len, M_DOWN, &f->down);
	unwind = NULL;
	return NULL;
}

static void
load_part(const char *path, enum migkind kind, struct migfile *f)
{
	size_t len;
	char *text = load_text(path, &len), *err;

	err = migfile_parse(path, text, len, kind, f);
	free(text);
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
	checksum_hex(f->up.sql, f->up.len, f->checksum);
	return 0;
}

void
migfile_free(struct migfile *f)
{
	free(f->up.sql);
	free(f->down.sql);
	memset(f, 0, sizeof *f);
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
	s->present = 1;
}

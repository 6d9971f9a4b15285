/*
 * Splits SQL into statements the way psql does, so a migration means the
 * same here as when it is fed to psql: a ';' ends a statement unless it is
 * inside a quote, a comment, parentheses, a BEGIN ... END body (BEGIN
 * ATOMIC, CASE), or a goose StatementBegin/StatementEnd block. The rows
 * after a COPY ... FROM STDIN, up to a line "\.", are its data, as psql
 * reads them; a line starting with a backslash elsewhere is a psql
 * meta-command, which the caller refuses.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "mig.h"

static int
ident_start(unsigned char c)
{
	return isalpha(c) || c == '_' || c >= 0x80;
}

static int
ident_char(unsigned char c)
{
	return ident_start(c) || isdigit(c) || c == '$';
}

/* Length of a dollar-quote opener "$tag$" at s, or 0. */
static size_t
dollar_tag(const char *s, const char *end)
{
	const char *p = s + 1;

	if (p < end && ident_start((unsigned char)*p))
		while (p < end && ident_char((unsigned char)*p) && *p != '$')
			p++;
	if (p < end && *p == '$')
		return (size_t)(p - s) + 1;
	return 0;
}

static const char *
find_mem(const char *s, const char *end, const char *pat, size_t n)
{
	for (; s + n <= end; s++)
		if (memcmp(s, pat, n) == 0)
			return s;
	return end;
}

/* A goose annotation comment: "-- +goose WORD" (any case). */
static int
goose_word(const char *s, const char *end, const char *word)
{
	size_t n = strlen(word);

	s += 2;
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (end - s < 7 || strncasecmp(s, "+goose", 6) != 0)
		return 0;
	s += 6;
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if ((size_t)(end - s) < n || strncasecmp(s, word, n) != 0)
		return 0;
	s += n;
	while (s < end && (*s == ' ' || *s == '\t' || *s == '\r'))
		s++;
	return s == end || *s == '\n';
}

/*
 * The first letter of the words that open CREATE [OR REPLACE]
 * FUNCTION|PROCEDURE, 0 for any other word: only in those is BEGIN the
 * start of a body (BEGIN ATOMIC), as psql decides; elsewhere "begin" may
 * be a column name.
 */
static char
routine_word(const char *w, const char *end)
{
	static const char *const words[] = { "create", "or", "replace",
	    "function", "procedure" };
	size_t n = (size_t)(end - w);

	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strlen(words[i]) == n && strncasecmp(w, words[i], n) == 0)
			return words[i][0];
	return 0;
}

static int
in_routine(const char *h)
{
	return h[0] == 'c' && (h[1] == 'f' || h[1] == 'p' ||
	    (h[1] == 'o' && h[2] == 'r' && (h[3] == 'f' || h[3] == 'p')));
}

static int
at_line_start(const char *sql, const char *p)
{
	while (p > sql && (p[-1] == ' ' || p[-1] == '\t'))
		p--;
	return p == sql || p[-1] == '\n';
}

/* The statement being read, and the list so far. */
struct splitter {
	const char *sql, *end;
	const char *begin;	/* where the statement starts */
	const char *first;	/* its first token, NULL while there is none */
	int paren, depth, words, block;
	char head[4];
	int copy;		/* 1 after a leading COPY: watching for STDIN */
	int after;		/* the word before was FROM (1) or TO (2) */
	enum copydir dir;
	const char *meta;	/* a psql meta-command in it */
	struct stmt *v;
	size_t n, cap;
};

/* The line after the one p is on, or end. */
static const char *
next_line(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl ? nl + 1 : end;
}

/*
 * Ends the statement at `at`. COPY ... FROM STDIN takes the lines after it
 * as data up to a "\." line, which it takes too.
 */
static const char *
cut(struct splitter *s, const char *at, int block)
{
	struct stmt *st;
	const char *to = at;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = xreallocarray(s->v, s->cap, sizeof *s->v);
	}
	st = &s->v[s->n++];
	memset(st, 0, sizeof *st);
	st->off = (size_t)(s->begin - s->sql);
	st->sqlend = (size_t)(at - s->sql);
	st->start = (size_t)((s->first ? s->first : at) - s->sql);
	st->empty = s->first == NULL;
	st->block = block;
	st->copy = s->dir;
	st->meta = s->meta != NULL;
	st->meta_at = s->meta ? (size_t)(s->meta - s->sql) : 0;
	if (s->dir == COPY_FROM_STDIN && at < s->end) {
		const char *line = next_line(at, s->end);

		st->data = (size_t)(line - s->sql);
		for (to = line; to < s->end; to = next_line(to, s->end)) {
			const char *eol = next_line(to, s->end);
			size_t n = (size_t)(eol - to);

			if (n >= 2 && to[0] == '\\' && to[1] == '.' &&
			    (n == 2 || (n == 3 && to[2] == '\n'))) {
				st->datalen = (size_t)(to - line);
				st->copy_ended = 1;
				to = eol;
				break;
			}
		}
		if (!st->copy_ended)
			st->datalen = (size_t)(to - line);
	}
	st->len = (size_t)(to - s->begin);
	s->begin = to;
	s->first = s->meta = NULL;
	s->paren = s->depth = s->words = s->copy = s->after = 0;
	s->dir = COPY_NONE;
	memset(s->head, 0, sizeof s->head);
	return to;
}

static int
word_eq(const char *w, const char *end, const char *word)
{
	size_t n = strlen(word);

	return (size_t)(end - w) == n && strncasecmp(w, word, n) == 0;
}

/* psql's own security lines in pg_dump output; mig runs no meta-command. */
static int
restrict_line(const char *p, const char *end)
{
	const char *eol = next_line(p, end);

	return (eol - p > 10 && strncmp(p, "\\restrict ", 10) == 0) ||
	    (eol - p > 12 && strncmp(p, "\\unrestrict ", 12) == 0);
}

size_t
sql_split(const char *sql, size_t len, int goose, struct stmt **out)
{
	struct splitter s = { .sql = sql, .end = sql + len, .begin = sql };
	const char *p = sql, *end = sql + len;

	while (p < end) {
		unsigned char c = (unsigned char)*p;

		if (c == '-' && p + 1 < end && p[1] == '-') {
			const char *eol = next_line(p, end);

			if (goose && at_line_start(sql, p) &&
			    goose_word(p, eol, "StatementBegin")) {
				s.block = 1;
			} else if (s.block && at_line_start(sql, p) &&
			    goose_word(p, eol, "StatementEnd")) {
				s.block = 0;
				p = cut(&s, eol, 1);
				continue;
			}
			p = eol;
			continue;
		}
		if (c == '\\' && at_line_start(sql, p)) {
			if (!restrict_line(p, end) && s.meta == NULL) {
				s.meta = p;
				if (s.first == NULL)
					s.first = p;
			}
			p = next_line(p, end);
			continue;
		}
		if (c == '/' && p + 1 < end && p[1] == '*') {
			int nest = 1;

			for (p += 2; p < end && nest > 0; p++) {
				if (*p == '/' && p + 1 < end && p[1] == '*')
					nest++, p++;
				else if (*p == '*' && p + 1 < end && p[1] == '/')
					nest--, p++;
			}
			continue;
		}
		if (isspace(c)) {
			p++;
			continue;
		}
		if (s.first == NULL)
			s.first = p;
		if (c == '\'') {
			int esc = p > sql && (p[-1] == 'E' || p[-1] == 'e') &&
			    (p - 1 == sql || !ident_char((unsigned char)p[-2]));

			for (p++; p < end; p++) {
				if (esc && *p == '\\' && p + 1 < end)
					p++;
				else if (*p == '\'') {
					if (p + 1 < end && p[1] == '\'')
						p++;
					else
						break;
				}
			}
			p = p < end ? p + 1 : end;
		} else if (c == '"') {
			for (p++; p < end; p++)
				if (*p == '"') {
					if (p + 1 < end && p[1] == '"')
						p++;
					else
						break;
				}
			p = p < end ? p + 1 : end;
		} else if (c == '$' && (p == sql ||
		    !ident_char((unsigned char)p[-1])) && dollar_tag(p, end)) {
			size_t t = dollar_tag(p, end);
			const char *close = find_mem(p + t, end, p, t);

			p = close < end ? close + t : end;
		} else if (ident_start(c)) {
			const char *w = p;

			while (p < end && ident_char((unsigned char)*p))
				p++;
			if (s.words == 0)
				s.copy = word_eq(w, p, "copy");
			else if (s.copy && s.paren == 0) {
				if (s.after == 1 && word_eq(w, p, "stdin"))
					s.dir = COPY_FROM_STDIN;
				else if (s.after == 2 && word_eq(w, p, "stdout"))
					s.dir = COPY_TO_STDOUT;
				s.after = word_eq(w, p, "from") ? 1 :
				    word_eq(w, p, "to") ? 2 : 0;
			}
			if (s.words < (int)sizeof s.head)
				s.head[s.words] = routine_word(w, p);
			s.words++;
			if (!in_routine(s.head) || s.paren > 0)
				continue;
			if (p - w == 5 && strncasecmp(w, "begin", 5) == 0)
				s.depth++;
			else if (p - w == 4 && strncasecmp(w, "case", 4) == 0) {
				/* CASE ends with END too, inside a body. */
				if (s.depth > 0)
					s.depth++;
			} else if (p - w == 3 && strncasecmp(w, "end", 3) == 0) {
				if (s.depth > 0)
					s.depth--;
			}
		} else if (isdigit(c)) {
			while (p < end && (ident_char((unsigned char)*p) ||
			    *p == '.'))
				p++;
		} else {
			p++;
			if (c == '(')
				s.paren++;
			else if (c == ')' && s.paren > 0)
				s.paren--;
			else if (c == ';' && s.paren == 0 && s.depth == 0 &&
			    !s.block) {
				if (s.first == p - 1)
					s.first = NULL;
				p = cut(&s, p, 0);
			}
		}
	}
	if (s.begin < end || s.n == 0)
		cut(&s, end, s.block);
	*out = s.v;
	return s.n;
}

/*
 * Splits SQL into statements the way psql does, so a migration means the
 * same here as when it is fed to psql: a ';' ends a statement unless it is
 * inside a quote, a comment, parentheses, a BEGIN ... END body (BEGIN
 * ATOMIC, CASE), or a goose StatementBegin/StatementEnd block.
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

size_t
sql_split(const char *sql, size_t len, struct stmt **out)
{
	const char *p = sql, *end = sql + len, *begin = sql, *first = NULL;
	int paren = 0, depth = 0, words = 0, block = 0;
	char head[4] = { 0 };
	size_t n = 0, cap = 0;
	struct stmt *v = NULL;

#define CUT(at) do { \
		if (n == cap) { \
			cap = cap ? cap * 2 : 16; \
			v = xreallocarray(v, cap, sizeof *v); \
		} \
		v[n].off = (size_t)(begin - sql); \
		v[n].len = (size_t)((at) - begin); \
		v[n].start = (size_t)((first ? first : (at)) - sql); \
		v[n].empty = first == NULL; \
		n++; \
		begin = (at); \
		first = NULL; \
		paren = depth = words = 0; \
		memset(head, 0, sizeof head); \
	} while (0)

	while (p < end) {
		unsigned char c = (unsigned char)*p;

		if (c == '-' && p + 1 < end && p[1] == '-') {
			const char *eol = memchr(p, '\n', (size_t)(end - p));

			eol = eol ? eol + 1 : end;
			if (at_line_start(sql, p) &&
			    goose_word(p, eol, "StatementBegin")) {
				block = 1;
			} else if (block && at_line_start(sql, p) &&
			    goose_word(p, eol, "StatementEnd")) {
				block = 0;
				p = eol;
				CUT(p);
				continue;
			}
			p = eol;
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
		if (first == NULL)
			first = p;
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
			if (words < (int)sizeof head)
				head[words] = routine_word(w, p);
			words++;
			if (!in_routine(head) || paren > 0)
				continue;
			if (p - w == 5 && strncasecmp(w, "begin", 5) == 0)
				depth++;
			else if (p - w == 4 && strncasecmp(w, "case", 4) == 0) {
				/* CASE ends with END too, inside a body. */
				if (depth > 0)
					depth++;
			} else if (p - w == 3 && strncasecmp(w, "end", 3) == 0) {
				if (depth > 0)
					depth--;
			}
		} else if (isdigit(c)) {
			while (p < end && (ident_char((unsigned char)*p) ||
			    *p == '.'))
				p++;
		} else {
			p++;
			if (c == '(')
				paren++;
			else if (c == ')' && paren > 0)
				paren--;
			else if (c == ';' && paren == 0 && depth == 0 && !block) {
				if (first == p - 1)
					first = NULL;
				CUT(p);
			}
		}
	}
	if (begin < end || n == 0)
		CUT(end);
#undef CUT
	*out = v;
	return n;
}

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mig.h"

static int
ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* mig never sets a locale, so this compares ASCII letters only. */
static int
ends_with_anycase(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && strncasecmp(s + n - k, suffix, k) == 0;
}

const char *
base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

int
migname_split(const char *base, size_t len, struct migname *n,
    const char **why)
{
	size_t digits = 0, namelen;
	const char *name;
	uint64_t v = 0;
	int over = 0;

	memset(n, 0, sizeof *n);
	if (!ends_with(base, len, ".sql")) {
		/* .SQL is a typo, and a typo must never lose a migration. */
		if (!ends_with_anycase(base, len, ".sql"))
			return -1;
		*why = "write the extension .sql in lower case";
		return 0;
	}
	while (base[digits] >= '0' && base[digits] <= '9') {
		if (v > (UINT64_MAX - 9) / 10)
			over = 1;
		v = v * 10 + (uint64_t)(base[digits] - '0');
		digits++;
	}
	if (digits == 0 || base[digits] != '_') {
		*why = "a migration file name starts with digits and '_' "
		    "(VERSION_NAME.sql)";
		return 0;
	}
	if (digits > 19 || over) {
		*why = "the version has more than 19 digits";
		return 0;
	}
	name = base + digits + 1;
	namelen = len - digits - 1;
	if (ends_with(name, namelen, ".up.sql")) {
		n->kind = MIG_UP;
		namelen -= 7;
	} else if (ends_with(name, namelen, ".down.sql")) {
		n->kind = MIG_DOWN;
		namelen -= 9;
	} else if (ends_with_anycase(name, namelen, ".up.sql") ||
	    ends_with_anycase(name, namelen, ".down.sql")) {
		*why = "write .up.sql and .down.sql in lower case";
		return 0;
	} else {
		n->kind = MIG_SINGLE;
		namelen -= 4;
	}
	if (namelen == 0) {
		*why = "the name after the version is empty";
		return 0;
	}
	if (memchr(name, '\t', namelen) || memchr(name, '\n', namelen) ||
	    memchr(name, '\r', namelen)) {
		*why = "the name holds a TAB or a line break";
		return 0;
	}
	n->vnum = v;
	n->vlen = digits;
	n->nlen = namelen;
	return 1;
}

int
migname_parse(const char *base, struct migname *n, const char **why)
{
	int r = migname_split(base, strlen(base), n, why);

	if (r == 1) {
		n->version = xstrndup(base, n->vlen);
		n->name = xstrndup(base + n->vlen + 1, n->nlen);
	}
	return r;
}

void
migname_free(struct migname *n)
{
	free(n->version);
	free(n->name);
}

int
vcmp(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

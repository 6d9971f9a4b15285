/*
 * libFuzzer target for the statement splitter: whatever the input, the
 * statements cover it exactly, in order, and each first token lies inside
 * its own statement.
 */
#include <stdlib.h>
#include <string.h>

#include "../src/lib/mig.h"

int LLVMFuzzerTestOneInput(const unsigned char *, size_t);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *sql = xstrndup((const char *)data, size);
	struct stmt *st;
	size_t n = sql_split(sql, size, 1, &st), at = 0;

	for (size_t i = 0; i < n; i++) {
		if (st[i].off != at)
			abort();
		if (!st[i].empty && (st[i].start < st[i].off ||
		    st[i].start >= st[i].off + st[i].len))
			abort();
		at += st[i].len;
	}
	if (at != size || n == 0)
		abort();
	free(st);
	free(sql);
	return 0;
}

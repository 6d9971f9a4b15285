/* Prints how many statements the splitter finds in stdin, for the property test. */
#include <stdio.h>
#include <stdlib.h>

#include "../src/lib/mig.h"

int
main(void)
{
	struct buf b = { 0 };
	struct stmt *st;
	char chunk[4096];
	size_t n, count = 0;

	buf_add(&b, "", 0);
	while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
		buf_add(&b, chunk, n);
	n = sql_split(b.s, b.len, 1, &st);
	for (size_t i = 0; i < n; i++)
		count += !st[i].empty;
	printf("%zu\n", count);
	free(st);
	buf_free(&b);
	return 0;
}

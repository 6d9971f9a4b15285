/*
 * libFuzzer target for the migration-file parser: each input is parsed as
 * a whole file and as both halves of a pair; a parse either fails with a
 * message or yields sections that lie inside the input.
 */
#include <stdlib.h>
#include <string.h>

#include "../src/lib/mig.h"

int LLVMFuzzerTestOneInput(const unsigned char *, size_t);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static const enum migkind kinds[] = { MIG_SINGLE, MIG_UP, MIG_DOWN };

	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		/* A copy each time: the parser ends its sections in the text. */
		char *text = xstrndup((const char *)data, size);
		struct migfile f;
		char *err;

		memset(&f, 0, sizeof f);
		err = migfile_parse("fuzz.sql", text, strlen(text), kinds[k], &f);
		if (err == NULL) {
			const struct section *s = kinds[k] == MIG_DOWN ?
			    &f.down : &f.up;

			if (!s->present || s->len > size || s->line < 1 ||
			    strlen(s->sql) != s->len)
				abort();
		} else if (strncmp(err, "fuzz.sql:", 9) != 0)
			abort();
		free(err);
		migfile_free(&f);
		free(text);
	}
	return 0;
}

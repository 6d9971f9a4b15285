/*
 * libFuzzer target for the list-line reader: a line is skipped, refused
 * with a message, or read into a version and name that agree with its path.
 */
#include <stdlib.h>
#include <string.h>

#include "../src/lib/mig.h"

int LLVMFuzzerTestOneInput(const unsigned char *, size_t);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *line = xstrndup((const char *)data, size), *path, *err;
	struct migname mn;

	switch (list_line_parse(line, &mn, &path, &err)) {
	case 1:
		if (err != NULL || mn.name[0] == '\0' ||
		    strlen(mn.version) > 19 ||
		    strncmp(base_name(path), mn.version,
		    strlen(mn.version)) != 0)
			abort();
		migname_free(&mn);
		break;
	case -1:
		if (err == NULL)
			abort();
		free(err);
		break;
	}
	free(line);
	return 0;
}

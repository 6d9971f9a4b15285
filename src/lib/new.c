/* mig-new's work: name, number and create a migration file, safely. */
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mig.h"

static const char TEMPLATE[] = "-- migrate:up\n\n-- migrate:down\n\n";

static char *
slugify(int argc, char **argv)
{
	struct buf b = { 0 };
	int gap = 0;

	buf_add(&b, "", 0);
	for (int i = 0; i < argc; i++) {
		for (const char *p = argv[i]; *p; p++) {
			unsigned char c = (unsigned char)*p;

			if (c < 0x80 && isalnum(c)) {
				char lc = (char)tolower(c);

				if (gap && b.len > 0)
					buf_add(&b, "_", 1);
				buf_add(&b, &lc, 1);
				gap = 0;
			} else
				gap = 1;
		}
		gap = 1;
	}
	if (b.len == 0)
		mig_errx(EXIT_USAGE, "the name has no letters or digits; give "
		    "a name such as add_users_table");
	return b.s;
}

static void
cannot_create(const char *what, const char *path)
{
	int ro = errno == EROFS || errno == EACCES || errno == EPERM;

	mig_errx(EXIT_CANTCREAT, "cannot create %s %s: %s%s", what, path,
	    strerror(errno), ro ? "; the migrations directory is read-only "
	    "here: create migrations from the host or exec workflow "
	    "(just db-make / just db-make-docker), where it is writable" : "");
}

static void
mkdirs(const char *dir)
{
	char *p = xstrdup(dir);

	for (char *s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;

			*s = '\0';
			if (mkdir(p, 0777) == -1 && errno != EEXIST)
				cannot_create("directory", p);
			if ((*s = c) == '\0')
				break;
		}
	}
	free(p);
}

/* The highest version in DIR, and the widest version written there. */
static int
highest(const char *dir, uint64_t *max, size_t *width)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int any = 0;

	*max = 0;
	*width = 0;
	if (d == NULL)
		mig_errx(EXIT_NOINPUT, "%s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		struct migname n;
		const char *why;

		if (migname_parse(de->d_name, &n, &why) != 1)
			continue;
		if (!any || n.vnum > *max)
			*max = n.vnum;
		if (strlen(n.version) > *width)
			*width = strlen(n.version);
		any = 1;
		migname_free(&n);
	}
	closedir(d);
	return any;
}

static uint64_t
timestamp(time_t t)
{
	char s[32];
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(s, sizeof s, "%Y%m%d%H%M%S", &tm);
	return strtoull(s, NULL, 10);
}

/* The second after a timestamp version, carrying into minutes and days. */
static uint64_t
next_second(uint64_t v)
{
	char s[32], *end;
	struct tm tm;

	snprintf(s, sizeof s, "%llu", (unsigned long long)v);
	memset(&tm, 0, sizeof tm);
	end = strptime(s, "%Y%m%d%H%M%S", &tm);
	if (strlen(s) != 14 || end == NULL || *end != '\0')
		return v + 1;
	return timestamp(timegm(&tm) + 1);
}

static int
create(int dfd, const char *dir, const char *file, const char *text)
{
	int fd = openat(dfd, file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0666);
	char *path;
	size_t n = strlen(text);

	if (fd == -1 && errno == EEXIST)
		return 0;
	path = xasprintf("%s/%s", dir, file);
	if (fd == -1 || write(fd, text, n) != (ssize_t)n || close(fd) == -1)
		cannot_create("file", path);
	free(path);
	return 1;
}

static char *
join(const char *dir, const char *file)
{
	size_t n = strlen(dir);

	return xasprintf("%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/",
	    file);
}

int
new_run(const char *dir, int seq, int pair, int argc, char **argv)
{
	char *slug = slugify(argc, argv), version[32], *f1, *f2;
	uint64_t max, v;
	size_t width;
	int dfd, any;

	mkdirs(dir);
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		mig_errx(EXIT_NOINPUT, "%s: %s", dir, strerror(errno));
	any = highest(dir, &max, &width);
	if (seq || (any && width < 14)) {
		v = any ? max + 1 : 1;
		/* An unpadded sequence (1, 2, ...) stays unpadded. */
		if (!any)
			width = 4;
	} else {
		v = timestamp(time(NULL));
		if (any && v <= max)
			v = next_second(max);
		width = 14;
	}
	for (;; v++) {
		snprintf(version, sizeof version, "%0*llu", (int)width,
		    (unsigned long long)v);
		if (pair) {
			f1 = xasprintf("%s_%s.up.sql", version, slug);
			f2 = xasprintf("%s_%s.down.sql", version, slug);
			if (create(dfd, dir, f1, "")) {
				if (!create(dfd, dir, f2, "")) {
					unlinkat(dfd, f1, 0);
					free(f1);
					free(f2);
					continue;
				}
				break;
			}
			free(f1);
			free(f2);
		} else {
			f1 = xasprintf("%s_%s.sql", version, slug);
			f2 = NULL;
			if (create(dfd, dir, f1, TEMPLATE))
				break;
			free(f1);
		}
	}
	close(dfd);
	{
		char *p1 = join(dir, f1), *p2 = f2 ? join(dir, f2) : NULL;

		printf("%s\n", p1);
		if (p2)
			printf("%s\n", p2);
		free(p1);
		free(p2);
	}
	free(f1);
	free(f2);
	free(slug);
	return 0;
}

/* mig-new: create a new migration file from a template. */
#include <sys/stat.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/mig.h"

static const char TEMPLATE[] = "-- migrate:up\n\n-- migrate:down\n\n";

/*
 * The letters of U+00C0 to U+017F (Latin-1 and Latin Extended-A) as they
 * are written in ASCII, one per code point: '-' is not a letter (the signs
 * for times and divide), and a capital stands for two letters: A ae,
 * J ij, O oe, S ss, T th. A table, not iconv(3): that depends on the locale.
 */
static const char LATIN[] =
    "aaaaaaAceeeeiiiidnooooo-ouuuuyTSaaaaaaAceeeeiiiidnooooo-ouuuuyTy"
    "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiJJjjkkklllllll"
    "lllnnnnnnnnnooooooOOrrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";

/*
 * The ASCII letters a UTF-8 character at p is written with: "" for a
 * combining accent (decomposed input, as macOS writes it), NULL for no
 * letter, which separates words. *len is the character's length; a
 * single letter is written into one.
 */
static const char *
translit(const unsigned char *p, size_t *len, char one[2])
{
	static const char caps[] = "AJOST";
	static const char *const two[] = { "ae", "ij", "oe", "ss", "th" };
	unsigned int cp;
	size_t n = 1, i;
	char c;

	if (*p >= 0xc2 && *p <= 0xdf)
		n = 2;
	else if (*p >= 0xe0 && *p <= 0xef)
		n = 3;
	else if (*p >= 0xf0 && *p <= 0xf4)
		n = 4;
	for (i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			n = 1;
	*len = n;
	if (n != 2)
		return NULL;
	cp = (unsigned int)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
	if (cp >= 0x300 && cp <= 0x36f)
		return "";
	if (cp < 0xc0 || cp > 0x17f || (c = LATIN[cp - 0xc0]) == '-')
		return NULL;
	if (c >= 'A' && c <= 'Z')
		return two[strchr(caps, c) - caps];
	one[0] = c;
	one[1] = '\0';
	return one;
}

static char *
slugify(int argc, char **argv)
{
	struct buf b = { 0 };
	int gap = 0;

	buf_add(&b, "", 0);
	for (int i = 0; i < argc; i++) {
		const unsigned char *p = (const unsigned char *)argv[i];

		while (*p != '\0') {
			const char *letters = NULL;
			char ascii[2] = { 0 };
			size_t n = 1;

			if (*p >= 0x80)
				letters = translit(p, &n, ascii);
			else if (isalnum(*p)) {
				ascii[0] = (char)tolower(*p);
				letters = ascii;
			}
			p += n;
			if (letters == NULL) {
				gap = 1;
				continue;
			}
			if (*letters == '\0')
				continue;
			if (gap && b.len > 0)
				buf_add(&b, "_", 1);
			buf_addstr(&b, letters);
			gap = 0;
		}
		gap = 1;
	}
	if (b.len == 0)
		mig_errx(EXIT_USAGE, "the name has no letters or digits; give "
		    "a name such as add_users_table");
	return b.s;
}

/*
 * Says the real cause. Only a read-only file system (the migrations mount
 * of a container) gets the advice to use the host or exec workflow; for
 * permission denied that would send the user the wrong way.
 */
static void
cannot_create(const char *what, const char *path)
{
	if (errno == EROFS)
		mig_errx(EXIT_CANTCREAT, "cannot create %s %s: read-only file "
		    "system; the migrations directory is read-only here: create "
		    "migrations from the host or exec workflow (just db-make / "
		    "just db-make-docker), where it is writable", what, path);
	if (errno == EACCES || errno == EPERM) {
		struct passwd *pw = getpwuid(geteuid());

		mig_errx(EXIT_CANTCREAT, "cannot create %s %s: permission "
		    "denied for user %s", what, path, pw != NULL ? pw->pw_name :
		    "?");
	}
	mig_errx(EXIT_CANTCREAT, "cannot create %s %s: %s", what, path,
	    strerror(errno));
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

static void
new_migration(const char *dir, bool seq, bool pair, int argc, char **argv)
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
}

static void
usage(int code)
{
	usage_print(code,
	    "usage: mig-new [-D DIR] [--seq] [--pair] NAME...\n");
	if (code == 0)
		fputs("\nCreate a new migration file named after NAME and print "
		    "its path.\n\n"
		    "  -D, --dir=DIR               the directory ($MIG_DIR, else "
		    "migrations)\n"
		    "      --seq                   a sequence number, not a "
		    "timestamp\n"
		    "      --pair                  an .up.sql and a .down.sql "
		    "file\n" STD_HELP, stdout);
	mig_exit(code);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'D' },
		{ "seq", no_argument, NULL, 's' },
		{ "pair", no_argument, NULL, 'p' },
		STD_LONGOPTS
	};
	const char *dir = getenv("MIG_DIR");
	bool seq = false, pair = false;
	int ch;

	log_init();
	catch_signals();
	if (dir == NULL || *dir == '\0')
		dir = "migrations";
	while ((ch = getopt_long(argc, argv, "D:" STD_SHORTOPTS, longopts,
	    NULL)) != -1) {
		if (std_option(ch, argv, usage))
			continue;
		switch (ch) {
		case 'D': dir = optarg; break;
		case 's': seq = true; break;
		case 'p': pair = true; break;
		default: usage(EXIT_USAGE);
		}
	}
	if (optind == argc || *dir == '\0')
		usage(EXIT_USAGE);
	signal_check("starting; nothing was created");
	new_migration(dir, seq, pair, argc - optind, argv + optind);
	mig_exit(0);
}

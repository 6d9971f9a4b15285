# mig: six small tools over one library.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man
COMPDIR = $(PREFIX)/share/bash-completion/completions

CC ?= cc
CFLAGS ?= -O2
# Warnings are errors only when asked (`make WERROR=1`, as scripts/test and
# so CI build): a newer compiler's new warning must not stop a user's build.
WERROR ?= 0
WARN = -std=c11 -Wall -Wextra $(if $(filter 1,$(WERROR)),-Werror)
PQ_CFLAGS := $(shell pkg-config --cflags libpq 2>/dev/null || echo -I$$(pg_config --includedir))
PQ_LIBS := $(shell pkg-config --libs libpq 2>/dev/null || echo -lpq)
CPPFLAGS += -D_DEFAULT_SOURCE -D_GNU_SOURCE $(PQ_CFLAGS)
# --as-needed: mig-list and mig-new never load libpq and all it pulls in.
LDFLAGS += -Wl,--as-needed
LDLIBS += $(PQ_LIBS) -lcrypto

TOOLS = mig-list mig-current mig-apply mig-revert mig-new mig-wait
LIBSRC = $(wildcard src/lib/*.c)
LIBHDR = src/lib/mig.h
LIBOBJ = $(LIBSRC:src/lib/%.c=build/%.o)
SANOBJ = $(LIBSRC:src/lib/%.c=build/san/%.o)

# `make san` builds the same tools with ASan and UBSan into bin/san/.
SANFLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all

all: $(TOOLS:%=bin/%)

# The objects depend on the warning flags, so that `make WERROR=1` after a
# plain `make` compiles again instead of finding everything up to date.
build/warn.flags: FORCE
	@mkdir -p build
	@echo '$(WARN)' | cmp -s - $@ || echo '$(WARN)' >$@

bin/%: src/%.c build/libmig.a build/warn.flags
	@mkdir -p bin
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -o $@ $< build/libmig.a $(LDFLAGS) $(LDLIBS)

build/libmig.a: $(LIBOBJ)
	$(AR) rcs $@ $(LIBOBJ)

build/%.o: src/lib/%.c $(LIBHDR) build/warn.flags
	@mkdir -p build
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

san: $(TOOLS:%=bin/san/%)

bin/san/%: src/%.c build/san/libmig.a build/warn.flags
	@mkdir -p bin/san
	$(CC) $(WARN) $(CPPFLAGS) $(SANFLAGS) -o $@ $< build/san/libmig.a $(LDFLAGS) $(LDLIBS)

build/san/libmig.a: $(SANOBJ)
	$(AR) rcs $@ $(SANOBJ)

build/san/%.o: src/lib/%.c $(LIBHDR) build/warn.flags
	@mkdir -p build/san
	$(CC) $(WARN) $(CPPFLAGS) $(SANFLAGS) -c -o $@ $<

# `make fuzz` runs each libFuzzer target for FUZZ_SECONDS, growing a work
# corpus in build/fuzz/ from the seeds in fuzz/corpus/.
FUZZ_SECONDS ?= 60
FUZZERS = split file list
FUZZFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

fuzz: $(FUZZERS:%=build/fuzz/fuzz-%)
	for f in $(FUZZERS); do \
		mkdir -p build/fuzz/corpus-$$f && \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		build/fuzz/fuzz-$$f -max_total_time=$(FUZZ_SECONDS) \
		    -print_final_stats=1 build/fuzz/corpus-$$f fuzz/corpus/$$f \
		    || exit 1; \
	done

build/fuzz/fuzz-%: fuzz/fuzz-%.c $(LIBSRC) $(LIBHDR)
	@mkdir -p build/fuzz
	clang $(CPPFLAGS) $(FUZZFLAGS) -o $@ $< $(LIBSRC) $(LDFLAGS) $(LDLIBS)

# A helper for the splitter's property test (test/split-property.bats).
build/splitcount: fuzz/splitcount.c build/libmig.a build/warn.flags
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -o $@ $< build/libmig.a $(LDFLAGS) $(LDLIBS)

# The suite on what make builds here, without scripts/deps (which installs
# packages): scripts/test run by itself installs them first. MAKEFLAGS is
# cleared so that the makes the suite runs (make lint, build/splitcount) do
# not look for this make's job server; WERROR goes on to them instead.
check: all san
	MAKEFLAGS= WERROR=$(WERROR) MIG_TEST_BUILD=0 scripts/test

# `make lint` (scripts/test runs it): checks that need no server.
lint: lint-sh lint-man lint-synopsis

# Every shell script of the repository (tracked, or new and not ignored):
# the *.bash and *.sh files, and any other file whose first line is a sh or
# bash shebang. (The bats files are checked apart, below.) Evaluated only
# when lint runs.
TRACKED = $(wildcard $(shell git ls-files --cached --others --exclude-standard 2>/dev/null || \
	find . -path ./.git -prune -o -type f -print))
SH_FILES = $(sort $(filter %.bash %.sh,$(TRACKED)) $(shell \
	for f in $(filter-out %.bats %.bash %.sh,$(TRACKED)); do \
		head -n 1 "$$f" 2>/dev/null | grep -qE '^.!.*[/ ](ba)?sh( |$$)' && echo "$$f"; \
	done))
BATS_FILES = $(wildcard test/*.bats test/stress/*.bats)

# shellcheck at its default severity. For the bats files, three checks are
# left out as wrong there: SC2030 and SC2031 take a variable set in one
# @test for one lost in a subshell, when each test runs in a process of its
# own by design; SC2016 takes every $ in single quotes for a mistake, when
# the tests are full of SQL dollar quotes and `bash -c '... "$$1"' _ ARG`.
# And shellcheck 0.9 does not know that run --separate-stderr sets stderr
# and stderr_lines (0.10 does), so those two findings are dropped by name.
# Among what stays: in a bats test a negated command that is not the last
# line is skipped by set -e and so checks nothing (SC2314, SC2315).
lint-sh:
	shellcheck -x $(SH_FILES)
	@echo "shellcheck -x -s bash -e SC2016,SC2030,SC2031 $(BATS_FILES)"
	@out=$$(shellcheck -x -s bash -e SC2016,SC2030,SC2031 -f gcc $(BATS_FILES) 2>&1 | \
		grep -vE ': (stderr|stderr_lines) is referenced but not assigned\. \[SC2154\]$$'); \
	if [ -n "$$out" ]; then printf '%s\n' "$$out"; exit 1; fi

# The man pages, at mandoc's WARNING level and above (its STYLE messages,
# such as a page it cannot find for an Xr, are advice).
MAN_PAGES = $(TOOLS:%=src/%.1) src/mig.7

lint-man:
	mandoc -Tlint -Wwarning $(MAN_PAGES)

# Each tool's usage() message, as --help prints it, against its page's
# SYNOPSIS: the two must say the same.
lint-synopsis: all
	scripts/lint-synopsis bin $(TOOLS:%=src/%.1)

# Not part of check: it takes minutes and wants a quiet machine.
bench: all
	bench/run

# The stress tests at their long size (CI runs them small in check).
stress: all
	MIG_STRESS=long bats test/stress

# The bash completion goes in once, as mig-list, and under the other five
# names as links to it: bash-completion loads a command's completion from
# the file named after the command.
install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(COMPDIR)
	for t in $(TOOLS); do \
		install -m 755 bin/$$t $(DESTDIR)$(BINDIR)/$$t; \
		install -m 644 src/$$t.1 $(DESTDIR)$(MANDIR)/man1/$$t.1; \
	done
	install -m 644 src/mig.7 $(DESTDIR)$(MANDIR)/man7/mig.7
	install -m 644 src/mig-completion.bash $(DESTDIR)$(COMPDIR)/mig-list
	for t in $(filter-out mig-list,$(TOOLS)); do \
		ln -sf mig-list $(DESTDIR)$(COMPDIR)/$$t; \
	done

uninstall:
	for t in $(TOOLS); do \
		rm -f $(DESTDIR)$(BINDIR)/$$t $(DESTDIR)$(MANDIR)/man1/$$t.1 $(DESTDIR)$(COMPDIR)/$$t; \
	done
	rm -f $(DESTDIR)$(MANDIR)/man7/mig.7

# mig_VERSION_ARCH.deb here (scripts/mkdeb; it builds in a copy of the
# sources, leaving bin/ and build/ alone). Needs dpkg-dev.
deb:
	scripts/mkdeb

clean:
	rm -rf bin build

.PRECIOUS: build/%.o build/san/%.o
.PHONY: all san fuzz check lint lint-sh lint-man lint-synopsis bench stress install uninstall \
	deb clean FORCE

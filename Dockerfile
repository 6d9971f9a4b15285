# mig: the six migration tools in a small image.
#
#   docker build -t mig .
#   docker run --rm -e DATABASE_URL=postgres://... -v "$PWD/migrations:/migrations:ro" mig
#
# The default command waits for the database and applies /migrations. An
# application image takes the tools with one line:
#
#   COPY --from=mig /usr/local/bin/mig-* /usr/local/bin/
#
# (its runtime then needs libpq5, which brings the libcrypto they use, and
# libbsd0).

ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gcc libc6-dev make pkg-config libpq-dev libbsd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY src/ src/
RUN make -j"$(nproc)" \
 && make install DESTDIR=/out PREFIX=/usr/local

FROM ${BASE_IMAGE} AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libpq5 libbsd0 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 mig \
 && useradd --system --uid 10001 --gid mig --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin mig
COPY --from=build /out/usr/local/ /usr/local/
COPY migrations/ /migrations/
# Relative `migrations` from / is /migrations, and it is also what the host
# recipes use, so a list line (and a history row's path) reads the same
# whichever workflow applied it.
WORKDIR /
USER mig
LABEL org.opencontainers.image.title="mig" \
      org.opencontainers.image.description="PostgreSQL schema migrations as small Unix tools"
# Stopping: run with an init (`docker run --init`, compose `init: true`),
# which with this variable sends SIGTERM to the whole pipeline; mig-apply
# then cancels its statement and rolls back, and the trap keeps the shell
# (and so the container) alive until it has.
ENV TINI_KILL_PROCESS_GROUP=1
CMD ["bash", "-c", "trap 'exit 143' TERM; trap 'exit 130' INT; list=$(mig-list migrations) || exit; mig-wait && printf '%s\\n' \"$list\" | mig-apply"]

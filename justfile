# mig: PostgreSQL migrations as small Unix tools. `just --list` is the menu.
#
# Four ways to run the same migrations (docs/docker.md says when to use
# which): on the host (db-*), exec'd in the running app container
# (db-*-docker), a one-shot container (db-migrate-run), and the migration
# service (db-migrate-service).
#
# Settings come from the environment or a .env file beside this justfile:
#   DATABASE_URL         host recipes (default
#                        postgres://postgres:devpass@localhost:5432/app)
#   DOCKER_DATABASE_URL  the containers; unset, they reach postgres:5432
#                        through the PG* variables docker-compose.yml sets
#   POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, POSTGRES_PORT
#                        the compose postgres (postgres, devpass, app, 5432),
#                        which both defaults follow
#   MIG_DIR              the migrations directory (default migrations)
#   MIG_IMAGE, POSTGRES_IMAGE, COMPOSE_FILE, COMPOSE   images, compose files,
#                        and the compose command (found once, below)

set dotenv-load := true
set positional-arguments := true
set shell := ["bash", "-euo", "pipefail", "-c"]

# Tools built in this checkout come before any installed ones.
export PATH := justfile_directory() / "bin" + ":" + env("PATH")

pg_user := env("POSTGRES_USER", "postgres")
pg_password := env("POSTGRES_PASSWORD", "devpass")
pg_db := env("POSTGRES_DB", "app")
pg_port := env("POSTGRES_PORT", "5432")

# Exported: the tools read DATABASE_URL, and compose passes
# DOCKER_DATABASE_URL (a .env file's too) into the containers it creates.
export DATABASE_URL := env("DATABASE_URL", "postgres://" + pg_user + ":" + pg_password + "@localhost:" + pg_port + "/" + pg_db)
export DOCKER_DATABASE_URL := env("DOCKER_DATABASE_URL", "")

mig_dir := env("MIG_DIR", "migrations")
mig_image := env("MIG_IMAGE", "mig:latest")
docker_build_flags := env("MIG_DOCKER_BUILD_FLAGS", "")

# `docker compose` (v2) if the plugin answers, else `docker-compose` (v1).
compose := env("COMPOSE", `if docker compose version >/dev/null 2>&1; then echo "docker compose"; elif command -v docker-compose >/dev/null 2>&1; then echo docker-compose; else echo "docker compose"; fi`)
app := env("MIG_APP_SERVICE", "app")

# In the containers the working directory is /, so `migrations` is the
# mounted /migrations and list lines read the same as on the host.
in_app := compose + " exec -T " + app + " bash -o pipefail -c"

# Show this menu
[group('help')]
default:
    @{{ quote(just_executable()) }} --justfile {{ quote(justfile()) }} --list --unsorted

# ─── host: the tools on this machine, against localhost ───────────────────

# Apply every pending migration from the host
[group('host')]
db-migrate:
    mig-wait
    mig-list {{ quote(mig_dir) }} | mig-apply

# Create a new migration file from the host: just db-make add user table
[group('host')]
db-make +NAME:
    mig-new -D {{ quote(mig_dir) }} "$@"

# Show every migration with its state (applied, pending, changed, missing)
[group('host')]
db-history:
    mig-list {{ quote(mig_dir) }} | mig-current --status

# Show the most recently applied migration
[group('host')]
db-current:
    mig-current

# Revert the most recently applied migration(s): just db-downgrade 2
[group('host')]
db-downgrade STEPS="1":
    mig-list {{ quote(mig_dir) }} | mig-revert --steps "$1"

# Revert every applied migration, then apply them all again
[group('host')]
db-reset:
    mig-list {{ quote(mig_dir) }} | mig-revert --all
    mig-list {{ quote(mig_dir) }} | mig-apply

# ─── exec: the same, inside the running app container ─────────────────────

# Apply every pending migration inside the running app container
[group('exec')]
db-migrate-docker:
    {{ in_app }} 'mig-wait && mig-list migrations | mig-apply'

# Create a new migration file inside the app container (owned by you)
[group('exec')]
db-make-docker +NAME:
    {{ compose }} exec -T -u "$(id -u):$(id -g)" {{ app }} mig-new -D migrations "$@"

# Show every migration with its state, from the app container
[group('exec')]
db-history-docker:
    {{ in_app }} 'mig-list migrations | mig-current --status'

# Show the most recently applied migration, from the app container
[group('exec')]
db-current-docker:
    {{ compose }} exec -T {{ app }} mig-current

# Revert the most recently applied migration(s) from the app container
[group('exec')]
db-downgrade-docker STEPS="1":
    {{ in_app }} 'mig-list migrations | mig-revert --steps "$1"' _ "$1"

# Revert every applied migration, then apply them all again, from the app container
[group('exec')]
db-reset-docker:
    {{ in_app }} 'mig-list migrations | mig-revert --all && mig-list migrations | mig-apply'

# ─── one-shot and service: containers that migrate and exit ───────────────

# Apply pending migrations in a one-shot container, removed afterwards (CI)
[group('container')]
db-migrate-run:
    {{ compose }} run --rm -T migrate

# Run the migration service (profile `migration`) and exit with its status
[group('container')]
db-migrate-service:
    #!/usr/bin/env bash
    set -euo pipefail
    compose=({{ compose }})
    # A fresh container each time, so its log holds only this run; `up`
    # waits for the postgres health check before starting it.
    "${compose[@]}" --profile migration rm -fsv migrate >/dev/null 2>&1 || true
    "${compose[@]}" --profile migration up -d migrate
    id=$("${compose[@]}" --profile migration ps -q migrate)
    docker logs -f "$id"
    exit "$(docker wait "$id")"

# ─── the compose database ─────────────────────────────────────────────────

# Start the compose postgres and wait until it accepts queries
[group('database')]
db-up:
    {{ compose }} up -d postgres
    mig-wait -t 120

# Stop the compose postgres (its data stays in the named volume)
[group('database')]
db-down:
    {{ compose }} stop postgres

# Wait until the database accepts queries: just db-wait 30
[group('database')]
db-wait TIMEOUT="60":
    mig-wait -t "$1"

# Show the compose services and whether the database is current
[group('database')]
db-status:
    {{ compose }} --profile migration ps
    mig-list {{ quote(mig_dir) }} | mig-wait --applied -q -t 0 && echo "database is current" || { s=$?; [ "$s" = 75 ] && echo "migrations are pending"; exit "$s"; }

# ─── images and the stack ─────────────────────────────────────────────────

# Build the mig image (MIG_DOCKER_BUILD_FLAGS adds flags, e.g. --network host)
[group('docker')]
image:
    docker build {{ docker_build_flags }} -t {{ quote(mig_image) }} .

# Start postgres and the app container (the target of the -docker recipes)
[group('docker')]
up:
    {{ compose }} up -d postgres {{ app }}

# Stop and remove every container of the stack (volumes stay)
[group('docker')]
down:
    {{ compose }} --profile migration down --remove-orphans
